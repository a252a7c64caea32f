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
    /// An entry of a Gaussian mixture's weights, means or variances is not admissible (not
    /// finite, a negative weight, a variance `<= 0`, weights without a positive sum). The error
    /// names the field, the component and coordinate (see [`MixtureIndex`]) and the value, so a
    /// front end can point at the exact entry it was written in.
    #[error("{field}{index} = {value} {defect}")]
    InvalidMixture {
        /// Which field of the mixture.
        field: MixtureField,
        /// Which entry of it.
        index: MixtureIndex,
        /// The value (for [`MixtureIndex::Sum`], the sum of the weights).
        value: f64,
        /// What is wrong with it.
        defect: MixtureDefect,
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

/// A field of a Gaussian mixture (see [`BridgeError::InvalidMixture`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixtureField {
    /// The weights `pi_k`.
    Weights,
    /// The means `m_k`.
    Means,
    /// The variances of isotropic (`Σ_k = s_k I`) or diagonal components.
    Variances,
    /// The full covariance matrices `Σ_k`.
    Covariances,
}

impl std::fmt::Display for MixtureField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MixtureField::Weights => "weights",
            MixtureField::Means => "means",
            MixtureField::Variances => "variances",
            MixtureField::Covariances => "covariances",
        })
    }
}

/// Which entry of a mixture field an error is about; displayed as the index path after the
/// field's name (`weights[1]`, `means[0][2]`, `covariances[1][0][2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixtureIndex {
    /// The field as a whole: the sum of the weights.
    Sum,
    /// Component `k`: a weight or an isotropic variance.
    Component(usize),
    /// Component `k`, coordinate `j`: a mean or a diagonal variance.
    Coordinate(usize, usize),
    /// Component `k`, entry `[i][j]` of its covariance matrix.
    Entry(usize, usize, usize),
}

impl std::fmt::Display for MixtureIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            MixtureIndex::Sum => f.write_str(" sum"),
            MixtureIndex::Component(k) => write!(f, "[{k}]"),
            MixtureIndex::Coordinate(k, j) => write!(f, "[{k}][{j}]"),
            MixtureIndex::Entry(k, i, j) => write!(f, "[{k}][{i}][{j}]"),
        }
    }
}

/// What is wrong with a mixture entry (see [`BridgeError::InvalidMixture`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixtureDefect {
    /// NaN or infinite.
    NotFinite,
    /// A negative weight.
    Negative,
    /// A variance `<= 0`.
    NotPositive,
    /// Weights whose sum is not positive and finite.
    NoPositiveSum,
}

impl std::fmt::Display for MixtureDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MixtureDefect::NotFinite => "is not finite",
            MixtureDefect::Negative => "is negative (weights must be >= 0 with a positive sum)",
            MixtureDefect::NotPositive => "must be > 0",
            MixtureDefect::NoPositiveSum => {
                "must be positive and finite (at least one weight must be > 0)"
            }
        })
    }
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
