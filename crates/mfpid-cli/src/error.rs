//! The program's error types: one line per error, naming the file, place and field at fault.
//! [`ConfigError`] locates a defect in a config file (built by `config::Source`); [`AppError`] is
//! everything that can stop a subcommand. This module imports no other module of the program.

use std::fmt;
use std::path::PathBuf;

/// An error located in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file, as given on the command line.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column in characters (0 when unknown).
    pub column: usize,
    /// Dotted field path, e.g. `target.variance[1]` (empty for syntax errors).
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Everything that can stop a subcommand.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A config file is malformed or fails a check.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A data file (CSV / NPY) is malformed; the message names the file and place.
    #[error("{0}")]
    Data(String),
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A library crate rejected an input or failed.
    #[error("{context}: {source}")]
    Lib {
        /// What was being built or run.
        context: String,
        /// The library's error.
        source: mfpid::Error,
    },
    /// A table or figure could not be written.
    #[error("{0}")]
    Report(#[from] mfpid_report::ReportError),
    /// Ctrl-C was pressed; nothing was written.
    #[error("interrupted by Ctrl-C; no output was written")]
    Interrupted,
    /// Anything else (a figure that could not be drawn, a bad flag combination).
    #[error("{0}")]
    Other(String),
}

impl AppError {
    /// Process exit code: 130 for an interrupt (the shell convention), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Interrupted => 130,
            _ => 1,
        }
    }
}

/// Attach a context to a library error.
pub trait LibContext<T> {
    /// Map the error into [`AppError::Lib`] with `context`.
    fn ctx(self, context: impl Into<String>) -> std::result::Result<T, AppError>;
}

impl<T, E: Into<mfpid::Error>> LibContext<T> for std::result::Result<T, E> {
    fn ctx(self, context: impl Into<String>) -> std::result::Result<T, AppError> {
        self.map_err(|e| AppError::Lib {
            context: context.into(),
            source: e.into(),
        })
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, AppError>;
