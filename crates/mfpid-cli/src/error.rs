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
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run; nothing was written.
    #[error("{}", interrupted_message())]
    Interrupted,
    /// The command line is wrong (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The run finished but its own checks against the analytic law failed and `--strict` was
    /// given (exit status 3); the outputs were written.
    #[error("{0}")]
    ChecksFailed(String),
    /// Anything else (a figure that could not be drawn, a bad flag combination).
    #[error("{0}")]
    Other(String),
}

/// The signal received, for [`AppError::Interrupted`] (SIGINT when none was recorded).
static SIGNAL_SEEN: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Record the signal that interrupted the run (called by the signal thread).
pub fn record_signal(sig: i32) {
    let _ = SIGNAL_SEEN.compare_exchange(
        0,
        sig,
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
    );
}

fn signal_seen() -> i32 {
    match SIGNAL_SEEN.load(std::sync::atomic::Ordering::SeqCst) {
        0 => 2,
        s => s,
    }
}

fn interrupted_message() -> String {
    match signal_seen() {
        1 => "hung up (SIGHUP); no output was written".into(),
        15 => "terminated (SIGTERM); no output was written".into(),
        2 => "interrupted by Ctrl-C; no output was written".into(),
        s => format!("stopped by signal {s}; no output was written"),
    }
}

impl AppError {
    /// Process exit status: 1 bad input or failure, 2 usage error, 3 checks failed under
    /// `--strict`, 128 + the signal after SIGINT (130), SIGTERM (143) or SIGHUP (129).
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Interrupted => 128 + signal_seen(),
            AppError::Usage(_) => 2,
            AppError::ChecksFailed(_) => 3,
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
