//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in a mean-field computation.
///
/// Variants name the offending field and value; errors of the lower crates are wrapped.
#[derive(Debug, Error)]
pub enum MeanFieldError {
    /// A buffer has the wrong length.
    #[error("{what}: length {len} does not fit {expected}")]
    BadLength {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        len: usize,
        /// What was expected, in words.
        expected: String,
    },
    /// A dimension was zero.
    #[error("{what}: dimension must be at least 1, got 0")]
    ZeroDimension {
        /// Which object.
        what: &'static str,
    },
    /// A value that must be finite is not.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFinite {
        /// Which field.
        what: &'static str,
        /// Flat index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A scalar parameter is out of its range.
    #[error("{what} = {value} is outside {range}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// The value.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// Weights must be finite, `>= 0` with a positive sum.
    #[error("weights: {reason} (sum = {sum})")]
    BadWeights {
        /// What is wrong.
        reason: &'static str,
        /// Sum of the weights as given.
        sum: f64,
    },
    /// A collection that needs at least one element is empty.
    #[error("{what}: needs at least one, got 0")]
    Empty {
        /// Which collection.
        what: &'static str,
    },
    /// A fixed-point iteration did not reach its tolerance.
    #[error("{solver} did not converge in {iterations} iterations (tolerance {tolerance}): {reason}; history {history:?}")]
    NotConverged {
        /// Solver name.
        solver: &'static str,
        /// Iterations done.
        iterations: usize,
        /// The tolerance asked for.
        tolerance: f64,
        /// The stopping quantity per iteration.
        history: Vec<f64>,
        /// Why it stopped.
        reason: String,
    },
    /// A linear system that has to be solved is singular.
    #[error("{what} is singular")]
    Singular {
        /// Which matrix.
        what: &'static str,
    },
    /// An error from mfpid-bridge.
    #[error("bridge: {0}")]
    Bridge(#[from] mfpid_bridge::BridgeError),
    /// An error from mfpid-sde.
    #[error("sde: {0}")]
    Sde(#[from] mfpid_sde::SdeError),
    /// An error from mfpid-pde.
    #[error("pde: {0}")]
    Pde(#[from] mfpid_pde::PdeError),
}

/// Convenience alias.
pub type Result<T> = std::result::Result<T, MeanFieldError>;

/// Check that every entry of `v` is finite.
pub(crate) fn check_finite(what: &'static str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(MeanFieldError::NonFinite {
            what,
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}
