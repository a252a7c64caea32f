//! Typed errors of the SDE layer.

use crate::drift::DriftError;

/// Everything that can go wrong when building or running an ensemble simulation.
#[derive(Debug, thiserror::Error)]
pub enum SdeError {
    /// Two sizes that must agree do not.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Which quantity was checked (e.g. "initial state length").
        what: &'static str,
        /// Size required by the other operands.
        expected: usize,
        /// Size that was supplied.
        got: usize,
    },
    /// A parameter that must be finite is NaN or infinite.
    #[error("{field} must be finite, got {value}")]
    NonFinite {
        /// Name of the offending field.
        field: &'static str,
        /// Value supplied.
        value: f64,
    },
    /// A step size or interval length that must be positive is not.
    #[error("{field} must be a positive finite step, got {value}")]
    BadStep {
        /// Name of the offending field.
        field: &'static str,
        /// Value supplied.
        value: f64,
    },
    /// Grid points are not strictly increasing.
    #[error("time grid is not strictly increasing at index {index}: t[{index}] = {next} <= t[{prev_index}] = {prev}", prev_index = .index - 1)]
    UnsortedGrid {
        /// Index of the first offending point.
        index: usize,
        /// Value at `index - 1`.
        prev: f64,
        /// Value at `index`.
        next: f64,
    },
    /// A time grid needs at least one step.
    #[error("time grid needs at least 2 points, got {points}")]
    GridTooShort {
        /// Number of points supplied.
        points: usize,
    },
    /// Zero particles or zero dimensions.
    #[error("empty ensemble: {field} = 0")]
    Empty {
        /// Which size is zero ("particles" or "dimension").
        field: &'static str,
    },
    /// A parameter is outside its admissible set.
    #[error("invalid {field} = {value}: {reason}")]
    Invalid {
        /// Name of the offending field.
        field: &'static str,
        /// The value, formatted.
        value: String,
        /// What is required.
        reason: &'static str,
    },
    /// The chosen scheme cannot integrate the given noise kind.
    #[error("scheme {scheme} does not support {noise} noise ({why})")]
    Unsupported {
        /// Scheme name.
        scheme: &'static str,
        /// Noise kind name.
        noise: &'static str,
        /// What to use instead.
        why: &'static str,
    },
    /// The user drift produced NaN or infinity.
    #[error("drift returned non-finite value {value} at step {step} (t = {t}), particle {particle}, coordinate {coord}")]
    NonFiniteDrift {
        /// Step index `n` (the step from `t_n`).
        step: usize,
        /// Evaluation time.
        t: f64,
        /// Global particle index.
        particle: usize,
        /// Coordinate index.
        coord: usize,
        /// The value produced.
        value: f64,
    },
    /// The state became non-finite (e.g. an explicit scheme blew up).
    #[error("state became non-finite ({value}) after step {step} (t = {t}), particle {particle}, coordinate {coord}")]
    NonFiniteState {
        /// Step index.
        step: usize,
        /// Time reached.
        t: f64,
        /// Global particle index.
        particle: usize,
        /// Coordinate index.
        coord: usize,
        /// The value produced.
        value: f64,
    },
    /// [`crate::Drift::prepare`] failed.
    #[error("drift preparation failed at t = {t}: {source}")]
    Prepare {
        /// Time at which preparation was requested.
        t: f64,
        /// The drift's own error.
        #[source]
        source: DriftError,
    },
    /// The run was stopped through its [`crate::CancelToken`] before step `step`.
    #[error("cancelled at step {step} (t = {t}) before the run finished")]
    Cancelled {
        /// The step that was not taken.
        step: usize,
        /// Its start time `t_step`.
        t: f64,
    },
    /// The thread pool could not be built.
    #[error("could not build a thread pool with {threads} threads: {message}")]
    ThreadPool {
        /// Requested thread count.
        threads: usize,
        /// Rayon's message.
        message: String,
    },
}

/// Check that `value` is finite, naming `field` otherwise.
pub(crate) fn finite(field: &'static str, value: f64) -> Result<f64, SdeError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SdeError::NonFinite { field, value })
    }
}
