//! The harness: run entries, write `results/NAME/{table.csv, record.json, figures}` atomically.

use crate::entries::{Ctx, Entry, Outcome};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a finished entry left behind.
pub struct Done {
    /// Final directory `out/NAME`.
    pub dir: PathBuf,
    /// The outcome (table, config, summary).
    pub outcome: Outcome,
    /// Wall time of the entry in seconds.
    pub wall_s: f64,
}

/// Command-line options handed to every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Small settings that run in seconds.
    pub quick: bool,
    /// Base seed.
    pub seed: u64,
    /// Retrain shipped networks before running (`--retrain`).
    pub retrain: bool,
}

/// Run one entry into `out/NAME` (no retraining): everything is written to a staging directory
/// first and renamed into place only when the entry succeeded, so a failed run leaves no partial result.
pub fn run_entry(entry: &Entry, out: &Path, quick: bool, seed: u64) -> Result<Done> {
    run_entry_with(
        entry,
        out,
        &RunOptions {
            quick,
            seed,
            retrain: false,
        },
    )
}

/// [`run_entry`] with every command-line option.
pub fn run_entry_with(entry: &Entry, out: &Path, opts: &RunOptions) -> Result<Done> {
    let RunOptions {
        quick,
        seed,
        retrain,
    } = *opts;
    fs::create_dir_all(out)
        .with_context(|| format!("creating output directory {}", out.display()))?;
    let pid = std::process::id();
    // staging left by a killed run (SIGKILL, out of memory) in this folder is removed first
    mfpid_report::staging::remove_stale(out, "partial");
    let staging = out.join(format!(".{}.partial-{pid}", entry.name));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let result = (|| -> Result<(Outcome, f64)> {
        let t0 = Instant::now();
        let outcome = (entry.run)(&Ctx {
            quick,
            seed,
            dir: &staging,
            retrain,
        })?;
        let wall_s = t0.elapsed().as_secs_f64();
        outcome.table.write_csv(&staging.join("table.csv"))?;
        let record = serde_json::json!({
            "entry": entry.name,
            "about": entry.about,
            "quick": quick,
            "seed": seed,
            "config": outcome.config,
            "summary": outcome.summary,
            "wall_s": wall_s,
            "threads": rayon::current_num_threads(),
            "versions": { "mfpid": env!("CARGO_PKG_VERSION") },
            "git_commit": git_commit(),
            "created_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        });
        fs::write(
            staging.join("record.json"),
            serde_json::to_string_pretty(&record)?,
        )?;
        Ok((outcome, wall_s))
    })();
    match result {
        Ok((outcome, wall_s)) => {
            let dir = out.join(entry.name);
            let old = out.join(format!(".{}.old-{pid}", entry.name));
            if dir.exists() {
                fs::rename(&dir, &old)?;
            }
            fs::rename(&staging, &dir)?;
            if old.exists() {
                fs::remove_dir_all(&old)?;
            }
            Ok(Done {
                dir,
                outcome,
                wall_s,
            })
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e.context(format!("entry {} failed; nothing was written", entry.name)))
        }
    }
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let head = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Some(if dirty { format!("{head}-dirty") } else { head })
}
