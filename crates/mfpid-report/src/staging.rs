//! Staging directories of atomic outputs. The program writes into `.NAME.mfpid-partial-PID` and
//! `cargo xtask` into `.NAME.partial-PID` next to the final directory, then renames it into place.
//! A process killed outright (SIGKILL, out of memory) cannot remove its staging directory;
//! [`remove_stale`] lets the next run in the same folder find and remove it.

use std::path::{Path, PathBuf};

/// Process id of a staging directory named `.NAME.{tag}-PID`, if the name has that form.
fn staging_pid(name: &str, tag: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once(&format!(".{tag}-"))?;
    pid.parse().ok()
}

/// Whether process `pid` is running. Only Linux's `/proc` can tell; elsewhere every process counts
/// as running, so nothing is removed.
fn running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Remove the staging directories `.NAME.{tag}-PID` in `dir` whose process `PID` is no longer
/// running (never this process's own); returns what was removed. Errors are ignored: this is a
/// clean-up, and a directory that cannot be removed stays as it was.
pub fn remove_stale(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = staging_pid(&name, tag) else {
            continue;
        };
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if pid != me && is_dir && !running(pid) && std::fs::remove_dir_all(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            staging_pid(".out.mfpid-partial-42", "mfpid-partial"),
            Some(42)
        );
        assert_eq!(staging_pid(".a.b.partial-7", "partial"), Some(7));
        assert_eq!(staging_pid("out.mfpid-partial-42", "mfpid-partial"), None);
        assert_eq!(staging_pid(".out.mfpid-partial-x", "mfpid-partial"), None);
        assert_eq!(staging_pid(".out.partial-42", "mfpid-partial"), None);
    }

    #[test]
    fn removes_only_dead_processes_staging() {
        if !Path::new("/proc/self").exists() {
            return; // no way to tell a dead process from a live one here
        }
        let dir = std::env::temp_dir().join(format!("mfpid-staging-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // pid_max on Linux is at most 2^22: this process cannot exist
        let dead = dir.join(".out.mfpid-partial-999999999");
        let mine = dir.join(format!(".out.mfpid-partial-{}", std::process::id()));
        let init = dir.join(".out.mfpid-partial-1");
        let user = dir.join("out");
        let file = dir.join(".x.mfpid-partial-999999998");
        for d in [&dead, &mine, &init, &user] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        std::fs::write(&file, "not a directory").unwrap();
        assert_eq!(remove_stale(&dir, "mfpid-partial"), vec![dead.clone()]);
        assert!(!dead.exists() && mine.exists() && init.exists() && user.exists() && file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
