//! Typed errors of the crate.

use thiserror::Error;

/// Every failure the solvers of this crate can report. Each variant names the offending
/// field and value so that a caller can say what was wrong without reading the source.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PdeError {
    /// A scalar parameter is out of its admissible range (e.g. a non-positive diffusion
    /// coefficient or an empty interval).
    #[error("invalid parameter `{what}` = {value}: {reason}")]
    OutOfRange {
        /// Name of the parameter as it appears in the API.
        what: &'static str,
        /// The rejected value.
        value: f64,
        /// What the admissible range is.
        reason: &'static str,
    },
    /// A grid has too few cells or an empty/inverted interval.
    #[error("invalid grid along `{axis}`: {reason} (n = {n}, lo = {lo}, hi = {hi})")]
    InvalidGrid {
        /// Axis name (`x` or `y`).
        axis: &'static str,
        /// Number of cells requested.
        n: usize,
        /// Lower end of the interval.
        lo: f64,
        /// Upper end of the interval.
        hi: f64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two arrays that must agree in length do not.
    #[error("incompatible sizes for `{what}`: expected {expected}, got {found}")]
    DimensionMismatch {
        /// Name of the array.
        what: &'static str,
        /// Length the solver needs.
        expected: usize,
        /// Length it was given.
        found: usize,
    },
    /// A coefficient, density or state value is NaN or infinite.
    #[error("non-finite value in `{what}` at index {index}: {value}")]
    NonFinite {
        /// Name of the array or quantity.
        what: &'static str,
        /// Flat index of the first bad entry.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A density has a negative entry or does not integrate to a positive number.
    #[error("invalid density `{what}`: {reason} (value {value})")]
    InvalidDensity {
        /// Name of the density.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
        /// Offending value (the integral, or the negative entry).
        value: f64,
    },
    /// An explicit scheme was asked to take a step longer than its stability (CFL) limit.
    #[error("time step {dt} exceeds the {scheme} stability limit {limit}; use at least {min_steps} steps or a finer time grid")]
    CflViolated {
        /// Name of the scheme.
        scheme: &'static str,
        /// Requested step.
        dt: f64,
        /// Largest admissible step for the current state.
        limit: f64,
        /// Number of equal steps over the requested interval that would satisfy the limit.
        min_steps: usize,
    },
    /// The drift is too strong for the grid: the cell Péclet number |b| h / (D/2) exceeds
    /// what the requested accuracy or the floating-point range allows.
    #[error("grid too coarse for the drift: cell Peclet number {peclet} at face {face} exceeds the limit {limit} (refine h below {h_max})")]
    GridTooCoarse {
        /// Face index where the limit is exceeded.
        face: usize,
        /// The cell Péclet number found there.
        peclet: f64,
        /// The admissible limit.
        limit: f64,
        /// Largest cell width that would satisfy the limit at that face.
        h_max: f64,
    },
    /// An iteration (Sinkhorn, shooting, ...) did not reach its tolerance.
    #[error("{method} did not converge in {iterations} iterations (residual {residual}, tolerance {tolerance})")]
    NotConverged {
        /// Name of the iteration.
        method: &'static str,
        /// Iterations performed.
        iterations: usize,
        /// Last residual.
        residual: f64,
        /// Requested tolerance.
        tolerance: f64,
    },
    /// The adaptive ODE integrator could not continue.
    #[error("ODE integration failed at t = {t}: {reason} (step {h})")]
    OdeFailure {
        /// Time reached.
        t: f64,
        /// Last attempted step size.
        h: f64,
        /// Why it stopped.
        reason: &'static str,
    },
    /// A matrix that has to be inverted is singular (e.g. a Riccati solution escaping to infinity).
    #[error("singular matrix in {what} at t = {t}")]
    Singular {
        /// Where it happened.
        what: &'static str,
        /// Time at which it happened.
        t: f64,
    },
    /// A discrete transition kernel has a non-positive entry, so its logarithm is undefined
    /// (use backward Euler, which keeps every kernel entry positive).
    #[error("non-positive transition kernel entry {value} at ({row}, {col}); use the backward Euler scheme or a smaller time step")]
    NonPositiveKernel {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The entry.
        value: f64,
    },
}

/// Convenience alias used throughout the crate.
pub type Result<T> = std::result::Result<T, PdeError>;

/// Return the first non-finite entry of `v` as an error named `what`.
pub(crate) fn check_finite(what: &'static str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(PdeError::NonFinite {
            what,
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

/// Check that `v.len() == expected`.
pub(crate) fn check_len(what: &'static str, v: usize, expected: usize) -> Result<()> {
    if v == expected {
        Ok(())
    } else {
        Err(PdeError::DimensionMismatch {
            what,
            expected,
            found: v,
        })
    }
}

/// Check that a scalar is finite and strictly positive.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PdeError::OutOfRange {
            what: name,
            value,
            reason: "must be finite and > 0",
        })
    }
}
