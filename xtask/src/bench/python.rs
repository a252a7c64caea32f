//! A project-local Python virtual environment with NumPy, for reference implementations.

use anyhow::{bail, Context, Result};
use mfpid_compose::workspace_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Path of `.venv/bin/python`, creating the virtualenv and installing NumPy on first use.
pub fn numpy_python() -> Result<PathBuf> {
    let root = workspace_root();
    let venv = root.join(".venv");
    let py = venv.join("bin").join("python");
    let has_numpy = |py: &Path| {
        Command::new(py)
            .args(["-c", "import numpy"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if py.exists() && has_numpy(&py) {
        return Ok(py);
    }
    eprintln!("creating {} with numpy (first run only)", venv.display());
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("running python3 -m venv")?;
    if !st.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let st = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "numpy"])
        .status()
        .context("running pip install numpy")?;
    if !st.success() || !has_numpy(&py) {
        bail!("could not install numpy into {}", venv.display());
    }
    Ok(py)
}

/// Run a Python script from `xtask/bench/` with arguments and parse its last stdout line as JSON.
pub fn run_script(py: &Path, script: &str, args: &[String]) -> Result<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(script);
    let out = Command::new(py)
        .arg(&path)
        .args(args)
        .env_remove("OPENBLAS_CORETYPE")
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("parsing output of {script}: {last}"))
}
