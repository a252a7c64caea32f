//! `mfpid fleet CONFIG` (in progress).
use std::path::{Path, PathBuf};

use crate::config::Source;
use crate::error::{AppError, Result};
use crate::Common;

/// Run `fleet`.
pub fn cmd(_config: &Path, _out: Option<PathBuf>, _common: &Common) -> Result<()> {
    Err(AppError::Other("fleet: not yet".into()))
}

/// `validate` for a fleet config.
pub fn validate(_src: &Source, _common: &Common) -> Result<Vec<String>> {
    Err(AppError::Other("fleet: not yet".into()))
}
