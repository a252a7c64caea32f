//! What every subcommand shares: the global flags, the default output directory, and durations
//! and sizes written for people. This module imports no other module of the program.

use std::path::{Path, PathBuf};

/// Flags shared by all subcommands.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--quick`.
    pub quick: bool,
    /// `--force`.
    pub force: bool,
}

/// `out/<config stem>`.
pub fn default_out(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    PathBuf::from("out").join(stem)
}

/// `1.2 s`, `3 min 20 s`.
pub fn human_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// `12.3 MiB`.
pub fn human_bytes(b: usize) -> String {
    let b = b as f64;
    if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}
