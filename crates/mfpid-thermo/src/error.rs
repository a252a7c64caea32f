//! The crate's error type.

/// Everything that can go wrong in `mfpid-thermo`; each variant names the offending field and value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThermoError {
    /// A variance (σ², a diffusion coefficient, a bandwidth) was not finite and strictly positive.
    #[error("`{name}` must be finite and > 0, got {value}")]
    NonPositiveVariance {
        /// Field name.
        name: &'static str,
        /// Offending value.
        value: f64,
    },
    /// A time lies outside the range where the quantity is defined.
    #[error("time `{name}` = {value} is outside its valid range {}", range_text(*.min, *.max))]
    TimeOutOfRange {
        /// Field name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// Smallest admissible value.
        min: f64,
        /// Largest admissible value.
        max: f64,
    },
    /// The Franz-Parisi overlap `q` (a squared distance) must be finite and strictly positive.
    #[error("overlap `q` must be finite and > 0, got {value}")]
    NonPositiveOverlap {
        /// Offending value.
        value: f64,
    },
    /// A scalar parameter is invalid for a stated reason.
    #[error("parameter `{what}` = {value} is invalid: {reason}")]
    OutOfRange {
        /// Field name.
        what: &'static str,
        /// Offending value.
        value: f64,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A slice has the wrong length.
    #[error("`{what}` has length {found}, expected {expected}")]
    DimensionMismatch {
        /// Field name.
        what: &'static str,
        /// Length received.
        found: usize,
        /// Length required.
        expected: usize,
    },
    /// Too few samples / points / trajectories for the estimator.
    #[error("`{name}` has {got} entries, need at least {min}")]
    TooFew {
        /// Field name.
        name: &'static str,
        /// Number received.
        got: usize,
        /// Minimum required.
        min: usize,
    },
    /// A non-finite value appeared in an input array or in a simulated state.
    #[error("non-finite value in `{name}` at index {index}")]
    NonFinite {
        /// Array name.
        name: &'static str,
        /// First offending index.
        index: usize,
    },
    /// Adaptive quadrature did not reach its tolerance within its subdivision budget.
    #[error(
        "quadrature on [{a}, {b}] did not converge: error estimate {error} > tolerance {tolerance}"
    )]
    Quadrature {
        /// Left end.
        a: f64,
        /// Right end.
        b: f64,
        /// Final error estimate.
        error: f64,
        /// Requested tolerance.
        tolerance: f64,
    },
    /// A root or crossing that should exist was not bracketed in the searched interval.
    #[error("no crossing of `{name}` found in [{lo}, {hi}]")]
    NoCrossing {
        /// What was searched.
        name: &'static str,
        /// Left end of the search.
        lo: f64,
        /// Right end of the search.
        hi: f64,
    },
    /// The SDE runner (`mfpid-sde`) reported an error.
    #[error("SDE run failed: {0}")]
    Sde(#[from] mfpid_sde::SdeError),
    /// The grid solver (`mfpid-pde`) reported an error.
    #[error("grid solver failed: {0}")]
    Pde(#[from] mfpid_pde::PdeError),
    /// The bridge layer (`mfpid-bridge`) reported an error.
    #[error("bridge failed: {0}")]
    Bridge(#[from] mfpid_bridge::BridgeError),
    /// A user drift failed in `prepare`.
    #[error("drift failed at t = {t}: {message}")]
    Drift {
        /// Time of the failing `prepare`.
        t: f64,
        /// The drift's own message.
        message: String,
    },
}

/// Shorthand result type.
pub type Result<T> = std::result::Result<T, ThermoError>;

/// `Ok(value)` when finite and > 0, else [`ThermoError::NonPositiveVariance`].
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ThermoError::NonPositiveVariance { name, value })
    }
}

/// `Ok(value)` when finite, else [`ThermoError::OutOfRange`].
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ThermoError::OutOfRange {
            what: name,
            value,
            reason: "must be finite",
        })
    }
}

/// `Ok(t)` when `min <= t <= max` (and finite), else [`ThermoError::TimeOutOfRange`].
pub(crate) fn time_in(name: &'static str, value: f64, min: f64, max: f64) -> Result<f64> {
    if value.is_finite() && value >= min && value <= max {
        Ok(value)
    } else {
        Err(ThermoError::TimeOutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

/// First non-finite entry of `xs`, as an error.
pub(crate) fn all_finite(name: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(ThermoError::NonFinite { name, index }),
        None => Ok(()),
    }
}

/// `[min, max]` for people: `(0, inf)` rather than the 300 digits of `f64::MIN_POSITIVE` and
/// `f64::MAX`, the bounds used for "positive" and "unbounded".
fn range_text(min: f64, max: f64) -> String {
    let lo = if min == f64::MIN_POSITIVE {
        "(0".to_string()
    } else {
        format!("[{min}")
    };
    let hi = if max >= f64::MAX {
        "inf)".to_string()
    } else {
        format!("{max}]")
    };
    format!("{lo}, {hi}")
}
