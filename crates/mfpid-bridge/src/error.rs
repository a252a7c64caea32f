//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong when building or evaluating a bridge.
///
/// Every variant names the offending field and, where there is one, the bad value, so a user can
/// find the mistake without a debugger. Constructors return these instead of panicking.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BridgeError {
    /// A dimension `d` (state, target, centre or start point) was zero.
    #[error("{what}: dimension must be at least 1, got 0")]
    ZeroDimension {
        /// Which object had dimension zero.
        what: &'static str,
    },
    /// Two objects that must live in the same `R^d` do not.
    #[error("dimension mismatch: {what} has dimension {found}, expected {expected}")]
    DimensionMismatch {
        /// Which object had the wrong dimension.
        what: &'static str,
        /// The dimension required by the rest of the bridge.
        expected: usize,
        /// The dimension that was supplied.
        found: usize,
    },
    /// A flat buffer's length is not a multiple of the dimension, or does not match a count.
    #[error("{what}: length {len} does not fit {expected}")]
    BadLength {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        len: usize,
        /// A description of the expected length.
        expected: String,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFinite {
        /// Which field.
        what: &'static str,
        /// Flat index of the bad entry.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Breaks must be `0 = t_0 < t_1 < ... < t_M = 1`.
    #[error("breaks: {reason} (breaks[{index}] = {value})")]
    BadBreaks {
        /// What is wrong.
        reason: &'static str,
        /// Index of the offending break.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A schedule had no pieces, or the numbers of pieces disagree.
    #[error("{what}: expected {expected} pieces, got {found}")]
    PieceCount {
        /// Which schedule.
        what: &'static str,
        /// The number of pieces implied by the breaks.
        expected: usize,
        /// The number supplied.
        found: usize,
    },
    /// `beta_i` must be finite and `>= 0`.
    #[error("beta[{index}] = {value} must be finite and >= 0")]
    BadBeta {
        /// Piece index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A scalar parameter is outside its allowed range.
    #[error("{what} = {value} is outside {range}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// The value.
        value: f64,
        /// The allowed range, in words (e.g. "(0, 0.5)").
        range: &'static str,
    },
    /// Mixture or point-cloud weights must be finite, `>= 0`, and sum to a positive number.
    #[error("weights: {reason} (sum = {sum})")]
    BadWeights {
        /// What is wrong.
        reason: &'static str,
        /// The sum of the weights as given.
        sum: f64,
    },
    /// A covariance matrix is not symmetric positive definite.
    #[error("covariance of component {component} is not symmetric positive definite: {reason}")]
    NotPositiveDefinite {
        /// Mixture component index `k`.
        component: usize,
        /// What failed (asymmetry, a non-positive pivot, a non-positive variance).
        reason: String,
    },
    /// A target or marginal needs at least one component / point / sample.
    #[error("{what}: needs at least one, got 0")]
    Empty {
        /// Which collection was empty.
        what: &'static str,
    },
    /// A time outside the domain where the requested quantity is finite.
    #[error("time t = {t} is outside {domain}")]
    TimeOutOfDomain {
        /// The requested time.
        t: f64,
        /// The admissible domain, in words.
        domain: &'static str,
    },
}

/// Convenience alias.
pub type Result<T> = std::result::Result<T, BridgeError>;

/// Check that every entry of `v` is finite.
pub(crate) fn check_finite(what: &'static str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(BridgeError::NonFinite {
            what,
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}
