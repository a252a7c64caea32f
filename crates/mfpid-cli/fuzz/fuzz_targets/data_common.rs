//! Shared by the data-reader targets: the input is written to a file of the reader's extension in
//! a per-process scratch directory (tmpfs when there is one) and read back with `read_points`.

use std::path::PathBuf;

/// Write `data` to `fuzz-input.<ext>` in the scratch directory and return the path.
pub fn scratch_file(ext: &str, data: &[u8]) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = base.join(format!("mfpid-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("write the scratch file");
    path
}

/// Read `data` as a file of extension `ext`: points whose shape and values are consistent, or an
/// error message naming the file; never a panic.
pub fn check(ext: &str, data: &[u8]) {
    let path = scratch_file(ext, data);
    match mfpid_cli::read_points(&path) {
        Ok(p) => {
            assert!(
                p.n >= 1 && p.d >= 1,
                "empty points accepted: {} x {}",
                p.n,
                p.d
            );
            assert_eq!(p.values.len(), p.n * p.d, "values do not fill n x d");
            assert!(
                p.values.iter().all(|v| v.is_finite()),
                "non-finite value accepted"
            );
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&*path.to_string_lossy()),
                "error without the file: {msg}"
            );
        }
    }
}
