//! Output directories written atomically, signals and progress bars.
//!
//! A run writes into a hidden staging directory next to the requested one
//! (`.NAME.mfpid-partial-PID`) and renames it into place only when everything succeeded. A failed
//! run removes the staging directory. SIGINT (Ctrl-C), SIGTERM and SIGHUP are handled alike: the
//! first raises a [`CancelToken`] that the runner reads before every step (the run then fails with
//! [`AppError::Interrupted`], removes its staging and exits with 128 + the signal number: 130, 143,
//! 129); when nothing is being written yet, or at a second signal, the staging paths are removed at
//! once and the program exits with that status.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mfpid::sde::observe::{Observer, StepView};
use mfpid::sde::{CancelToken, SdeError};

use crate::error::{AppError, Result};

static CANCEL: LazyLock<CancelToken> = LazyLock::new(CancelToken::new);
/// Paths being written (staging directories, temporary files), removed on a failure or a signal.
static STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Install the handler of SIGINT, SIGTERM and SIGHUP (once, at start-up): a thread that waits for
/// them (the `signal-hook` crate; nothing runs inside the signal handler itself).
pub fn install_signal_handlers() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            crate::error::record_signal(sig);
            let again = CANCEL.is_cancelled();
            CANCEL.cancel();
            // the lock is held until the exit, so no new staging path can appear meanwhile
            let staging = STAGING.lock().unwrap_or_else(|e| e.into_inner());
            if again || staging.is_empty() {
                for p in staging.iter() {
                    remove_path(p);
                }
                eprintln!("\nmfpid: error: {}", AppError::Interrupted);
                std::process::exit(AppError::Interrupted.exit_code());
            }
            // the notice is for a person at a terminal; pipes and logs get only the final error
            if sig == SIGINT && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!(
                    "\nmfpid: stopping after the current step (Ctrl-C again to quit at once)"
                );
            }
        }
    });
}

fn remove_path(p: &Path) {
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// Register a path being written (a temporary file), removed if a signal ends the program.
pub fn register(p: &Path) {
    if let Ok(mut s) = STAGING.lock() {
        s.push(p.to_path_buf());
    }
}

/// Forget a registered path (it was renamed into place or removed).
pub fn unregister(p: &Path) {
    if let Ok(mut s) = STAGING.lock() {
        s.retain(|x| x != p);
    }
}

/// The token a signal raises: put a clone in `RunConfig::cancel` / `RunOptions::cancel`, and the
/// runner stops at its next time step.
pub fn cancel_token() -> CancelToken {
    CANCEL.clone()
}

/// Whether a signal (Ctrl-C, SIGTERM, SIGHUP) was received.
pub fn cancelled() -> bool {
    CANCEL.is_cancelled()
}

/// Fail with [`AppError::Interrupted`] if a signal was received.
pub fn check_cancel() -> Result<()> {
    if cancelled() {
        Err(AppError::Interrupted)
    } else {
        Ok(())
    }
}

/// Write `run.json` into `dir`: the subcommand's own `fields` (a JSON object: command, config,
/// seed, `memory_estimate_bytes`, ...) plus what every run records — `quick`, the crate
/// `versions`, the `timings` so far, `created_unix_s` and `peak_rss_bytes` (`VmHWM`).
pub fn write_run_json(
    dir: &OutDir,
    fields: serde_json::Value,
    quick: bool,
    timings: &Timings,
) -> Result<()> {
    let mut record = fields;
    if let Some(m) = record.as_object_mut() {
        m.insert("quick".into(), quick.into());
        m.insert("versions".into(), versions());
        m.insert("timings".into(), timings.to_json());
        m.insert("created_unix_s".into(), unix_now().into());
        // the measured peak resident memory so far, beside the estimate the subcommand recorded
        m.insert(
            "peak_rss_bytes".into(),
            crate::cost::peak_rss_bytes().map_or(serde_json::Value::Null, Into::into),
        );
    }
    crate::data::write_json(&dir.file("run.json"), &record)
}

/// An output directory being written.
pub struct OutDir {
    target: PathBuf,
    staging: PathBuf,
    force: bool,
    committed: bool,
    /// Folders created above the output, deepest first.
    created: Vec<PathBuf>,
}

impl OutDir {
    /// Prepare to write `target`: refuse an existing non-empty directory unless `force`, and create
    /// the staging directory now, so an unwritable location fails before any computation.
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        if target.exists() {
            if !target.is_dir() {
                return Err(AppError::Other(format!(
                    "output path {} exists and is not a directory",
                    target.display()
                )));
            }
            let empty = std::fs::read_dir(target)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false);
            if !empty && !force {
                return Err(AppError::Other(format!(
                    "output directory {} already exists; remove it, choose another --out, or pass --force to replace it",
                    target.display()
                )));
            }
            if !empty {
                check_replaceable(target)?;
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .ok_or_else(|| {
                AppError::Other(format!(
                    "output path {} has no directory name",
                    target.display()
                ))
            })?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(blocker) = parent.ancestors().find(|a| a.exists() && !a.is_dir()) {
            return Err(AppError::Other(format!(
                "cannot create output directory {}: {} is a file, not a directory",
                target.display(),
                blocker.display()
            )));
        }
        // folders this run creates above the output, removed again if the run fails
        let created: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(&parent).map_err(|e| AppError::Io {
            what: "cannot create output directory",
            path: target.to_path_buf(),
            source: e,
        })?;
        // staging left by a killed run (SIGKILL, out of memory) in this folder is removed first
        mfpid_report::staging::remove_stale(&parent, "mfpid-partial");
        let staging = parent.join(format!(".{name}.mfpid-partial-{}", std::process::id()));
        {
            // registered before it exists, under the lock the signal thread takes
            let mut s = STAGING.lock().unwrap_or_else(|e| e.into_inner());
            check_cancel()?;
            s.push(staging.clone());
            if staging.exists() {
                let _ = std::fs::remove_dir_all(&staging);
            }
            if let Err(e) = std::fs::create_dir(&staging) {
                s.retain(|p| p != &staging);
                return Err(AppError::Io {
                    what: "cannot create output directory",
                    path: target.to_path_buf(),
                    source: e,
                });
            }
        }
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            force,
            committed: false,
            created,
        })
    }

    /// Where files go while the run is in progress.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// A file inside the staging directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Move the staging directory into place (replacing an existing one when `force`). The
    /// directory's `run.json` gets the list of every file the program wrote (`files`), the marker
    /// that lets a later `--force` replace this directory and nothing else.
    pub fn commit(mut self) -> Result<PathBuf> {
        check_cancel()?;
        write_manifest(&self.staging)?;
        let io = |e| AppError::Io {
            what: "cannot move the finished output into",
            path: self.target.clone(),
            source: e,
        };
        if self.target.exists() {
            let is_empty = std::fs::read_dir(&self.target)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false);
            if is_empty {
                std::fs::remove_dir(&self.target).map_err(io)?;
            } else if self.force {
                // checked again here: files may have been added to it during the run
                check_replaceable(&self.target)?;
                let old = self.staging.with_extension("old");
                std::fs::rename(&self.target, &old).map_err(io)?;
                std::fs::rename(&self.staging, &self.target).map_err(io)?;
                let _ = std::fs::remove_dir_all(&old);
                self.committed = true;
                self.unregister();
                return Ok(self.target.clone());
            } else {
                return Err(AppError::Other(format!(
                    "output directory {} appeared during the run; pass --force to replace it",
                    self.target.display()
                )));
            }
        }
        std::fs::rename(&self.staging, &self.target).map_err(io)?;
        self.committed = true;
        self.unregister();
        Ok(self.target.clone())
    }

    fn unregister(&self) {
        unregister(&self.staging);
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            self.unregister();
            // only if still empty: another process may have put something there meanwhile
            for d in &self.created {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

/// Name of the program's marker in every output directory it writes.
const MARKER: &str = "run.json";

/// Every file below `dir`, as `/`-separated paths relative to `dir`, sorted.
fn files_below(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Add `"files": [...]` (every file in `staging`, the marker included) to `staging/run.json`.
fn write_manifest(staging: &Path) -> Result<()> {
    let path = staging.join(MARKER);
    let io = |e| AppError::Io {
        what: "cannot write",
        path: path.clone(),
        source: e,
    };
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AppError::Other(format!("{} is not valid JSON: {e}", path.display())))?;
    let mut files = files_below(staging).map_err(io)?;
    if !files.iter().any(|f| f == MARKER) {
        files.push(MARKER.to_string());
        files.sort();
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("files".into(), serde_json::json!(files));
    }
    let text = serde_json::to_string_pretty(&v)
        .map_err(|e| AppError::Other(format!("cannot encode {}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(io)
}

/// `--force` replaces `dir` only when it is the program's own output: its `run.json` lists every
/// file in it. Anything else (no marker, an unreadable marker, or files it does not list) is
/// refused with what is there, so `--force` never deletes what the program did not write.
fn check_replaceable(dir: &Path) -> Result<()> {
    let present = files_below(dir).map_err(|e| AppError::Io {
        what: "cannot read output directory",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let show = |names: &[String]| {
        let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if names.len() > 5 {
            s.push_str(&format!(" and {} more", names.len() - 5));
        }
        s
    };
    let listed: Option<Vec<String>> = std::fs::read_to_string(dir.join(MARKER))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("files")?
                .as_array()?
                .iter()
                .map(|f| f.as_str().map(str::to_string))
                .collect()
        });
    let Some(listed) = listed else {
        return Err(AppError::Other(format!(
            "refusing to replace {}: it was not written by mfpid (no {MARKER} listing its files) and holds {}; --force replaces only mfpid's own output directories",
            dir.display(),
            show(&present)
        )));
    };
    let foreign: Vec<String> = present
        .into_iter()
        .filter(|f| !listed.contains(f))
        .collect();
    if !foreign.is_empty() {
        return Err(AppError::Other(format!(
            "refusing to replace {}: it holds files mfpid did not write: {}; move them away or choose another --out",
            dir.display(),
            show(&foreign)
        )));
    }
    Ok(())
}

/// A progress bar on stderr when it is a terminal and the run is not quiet; hidden otherwise.
pub fn progress(quiet: bool, label: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {percent:>3}% {elapsed}<{eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(label.to_string());
    pb
}

/// An observer that advances a progress bar (positions 0..1000) by the fraction of `[t0, t1]`
/// covered, once per step; stopping is the runner's job (`RunConfig::cancel`).
pub struct Progress<'a> {
    bar: &'a ProgressBar,
    t0: f64,
    t1: f64,
}

impl<'a> Progress<'a> {
    /// Progress of a run over `[t0, t1]` on `bar`.
    pub fn new(bar: &'a ProgressBar, t0: f64, t1: f64) -> Self {
        Self { bar, t0, t1 }
    }
}

impl Observer for Progress<'_> {
    fn needs_drift(&self) -> bool {
        false
    }
    fn observe(&mut self, v: &StepView<'_>) {
        let frac = ((v.t - self.t0) / (self.t1 - self.t0)).clamp(0.0, 1.0);
        self.bar.set_position((frac * 1000.0) as u64);
    }
}

/// Wall-clock timings of the phases of a run, for `run.json`.
#[derive(Debug, Default)]
pub struct Timings {
    start: Option<Instant>,
    phases: Vec<(String, f64)>,
    last: Option<Instant>,
}

impl Timings {
    /// Start the clock.
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            start: Some(now),
            phases: Vec::new(),
            last: Some(now),
        }
    }
    /// Close the current phase under `name`.
    pub fn lap(&mut self, name: &str) {
        let now = Instant::now();
        if let Some(l) = self.last {
            self.phases
                .push((name.to_string(), now.duration_since(l).as_secs_f64()));
        }
        self.last = Some(now);
    }
    /// Seconds per phase plus the total.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.phases {
            m.insert(format!("{k}_s"), serde_json::json!(v));
        }
        let total = self.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        m.insert("total_s".into(), serde_json::json!(total));
        serde_json::Value::Object(m)
    }
}

/// Map a runner error to [`AppError::Interrupted`] when it came from a signal.
pub fn map_run_error(e: SdeError, context: &str) -> AppError {
    if matches!(e, SdeError::Cancelled { .. }) || cancelled() {
        return AppError::Interrupted;
    }
    AppError::Lib {
        context: context.to_string(),
        source: e.into(),
    }
}

/// Versions recorded in `run.json`.
pub fn versions() -> serde_json::Value {
    serde_json::json!({
        "mfpid": env!("CARGO_PKG_VERSION"),
        "workspace_crates": env!("CARGO_PKG_VERSION"),
        "run_json_format": 1,
    })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
