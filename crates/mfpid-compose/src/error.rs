//! The crate's error type.

use std::path::PathBuf;

/// What is wrong with an IDX file (the MNIST container format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdxError {
    /// Fewer bytes than the 4-byte magic plus the dimension sizes announce.
    #[error("truncated header: need {needed} bytes, file has {len}")]
    TruncatedHeader {
        /// bytes needed for the header
        needed: usize,
        /// bytes present
        len: usize,
    },
    /// The first two magic bytes must be zero.
    #[error("bad magic {magic:#010x}: the first two bytes must be 0")]
    BadMagic {
        /// the 4 magic bytes as a big-endian integer
        magic: u32,
    },
    /// Only unsigned-byte data (type code 0x08) is supported.
    #[error("unsupported data type code {code:#04x} (only 0x08 = unsigned byte)")]
    UnsupportedType {
        /// the type byte of the magic
        code: u8,
    },
    /// The payload is shorter or longer than the product of the dimensions.
    #[error("payload has {len} bytes, dimensions {dims:?} need {expected}")]
    PayloadSize {
        /// dimensions from the header
        dims: Vec<usize>,
        /// product of the dimensions
        expected: usize,
        /// payload bytes present
        len: usize,
    },
    /// The dimensions do not match what the caller expects (e.g. 28 x 28 images).
    #[error("unexpected shape {dims:?}: expected {expected}")]
    Shape {
        /// dimensions from the header
        dims: Vec<usize>,
        /// human-readable expectation
        expected: String,
    },
    /// A label outside 0..=9.
    #[error("label {label} at index {index} is not a digit 0..=9")]
    BadLabel {
        /// offending value
        label: u8,
        /// position in the file
        index: usize,
    },
    /// Images and labels files disagree on the number of items.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// items in the image file
        images: usize,
        /// items in the label file
        labels: usize,
    },
}

/// Errors of `mfpid-compose`.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read or written.
    #[error("{path}: {source}{}", hint_suffix(.hint))]
    Io {
        /// the file
        path: PathBuf,
        /// the I/O error
        source: std::io::Error,
        /// how to regenerate the file, when it is a generated artefact (empty otherwise)
        hint: String,
    },
    /// An IDX data file is malformed.
    #[error("{path}: malformed IDX file: {source}{}", hint_suffix(.hint))]
    Idx {
        /// the file
        path: PathBuf,
        /// what is wrong
        source: IdxError,
        /// how to restore the file
        hint: String,
    },
    /// A weights (safetensors) file is missing a tensor, has a wrong shape, or cannot be parsed.
    #[error("{path}: corrupt or incompatible weights: {detail}{}", hint_suffix(.hint))]
    Weights {
        /// the file
        path: PathBuf,
        /// what is wrong
        detail: String,
        /// the command that regenerates the file
        hint: String,
    },
    /// A configuration value is out of range.
    #[error("invalid {field} = {value}: {reason}")]
    Invalid {
        /// the field name
        field: &'static str,
        /// the offending value, printed
        value: String,
        /// what is required
        reason: &'static str,
    },
    /// Shapes of inputs disagree.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// which input
        what: &'static str,
        /// expected length/shape
        expected: String,
        /// actual length/shape
        got: String,
    },
    /// A tensor operation of the neural-network backend failed.
    #[error("tensor backend: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The SDE ensemble runner failed.
    #[error("sde runner: {0}")]
    Sde(#[from] mfpid_sde::SdeError),
    /// A numerical breakdown (non-finite loss or state).
    #[error("numerical failure: {0}")]
    NonFinite(String),
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" (regenerate with: {hint})")
    }
}

/// Result alias of this crate.
pub type Result<T, E = ComposeError> = std::result::Result<T, E>;

pub(crate) fn invalid(
    field: &'static str,
    value: impl std::fmt::Display,
    reason: &'static str,
) -> ComposeError {
    ComposeError::Invalid {
        field,
        value: value.to_string(),
        reason,
    }
}
