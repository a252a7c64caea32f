//! The crate's error type.

use mfpid_bridge::BridgeError;
use mfpid_sde::SdeError;
use thiserror::Error;

/// Everything that can go wrong when building a fleet, a method or a run.
///
/// Each variant renders as one line naming the offending field (and value where there is one), so
/// a command-line front end can print it as is.
#[derive(Debug, Error)]
pub enum EnergyError {
    /// `p_in` and `p_tar` live in different dimensions.
    #[error("zone count mismatch: p_in has d = {d_in} zones but p_tar has d = {d_tar}")]
    DimensionMismatch {
        /// Dimension of `p_in`.
        d_in: usize,
        /// Dimension of `p_tar`.
        d_tar: usize,
    },
    /// A sub-population with weight zero (it would never be sampled and its statistics are undefined).
    #[error(
        "{law}: component {component} has weight 0 (every sub-population needs a positive weight)"
    )]
    ZeroWeight {
        /// `"p_in"` or `"p_tar"`.
        law: &'static str,
        /// Component index `k`.
        component: usize,
    },
    /// A covariance that is not symmetric positive definite.
    #[error(
        "{law}: covariance of component {component} is not symmetric positive definite: {reason}"
    )]
    NotPositiveDefinite {
        /// `"p_in"` or `"p_tar"`.
        law: &'static str,
        /// Component index `k`.
        component: usize,
        /// What failed.
        reason: String,
    },
    /// Any other defect of a law (lengths, non-finite means, negative weights...).
    #[error("{law}: {source}")]
    InvalidLaw {
        /// `"p_in"` or `"p_tar"`.
        law: &'static str,
        /// The bridge crate's description.
        #[source]
        source: BridgeError,
    },
    /// A fleet needs at least one agent.
    #[error("fleet size B = 0: at least one agent is needed")]
    NoAgents,
    /// A setting is outside its admissible range.
    #[error("invalid {field} = {value}: {reason}")]
    Invalid {
        /// Name of the setting.
        field: &'static str,
        /// The value, formatted.
        value: String,
        /// What is required.
        reason: &'static str,
    },
    /// A temperature outside the plausible range of a building's air (°C).
    #[error("{field} = {value} °C is outside the plausible range {min} .. {max} °C{hint}", min = .range.0, max = .range.1, hint = kelvin_hint(.value))]
    Implausible {
        /// The field, e.g. `outdoor_c` or `means_c[1][3]` (component, zone).
        field: String,
        /// The value given.
        value: f64,
        /// The plausible range `(min, max)` in °C (`thermal::PLAUSIBLE_C`).
        range: (f64, f64),
    },
    /// A centre schedule returned the wrong number of values.
    #[error("method {method}: centre schedule has {len} values, expected pieces x d = {expected}")]
    CentreLength {
        /// Method name.
        method: String,
        /// Values returned.
        len: usize,
        /// `M * d`.
        expected: usize,
    },
    /// Building the bridge (protocol, coefficients, targets) failed.
    #[error("bridge: {0}")]
    Bridge(#[from] BridgeError),
    /// The ensemble simulation failed.
    #[error("simulation: {0}")]
    Sde(#[from] SdeError),
    /// The run was stopped through its cancellation flag (see
    /// [`crate::RunOptions::cancel`]); no result was produced.
    #[error("cancelled before the run finished")]
    Cancelled,
}

/// The hint after an implausible temperature: a value near 300 is most likely in kelvin.
fn kelvin_hint(v: &f64) -> String {
    let v = *v;
    if (200.0..=400.0).contains(&v) {
        format!(
            " (a value near 300 looks like kelvin: temperatures are in °C, {v} K = {:.2} °C)",
            v - 273.15
        )
    } else {
        String::new()
    }
}

/// Convenience alias.
pub type Result<T> = std::result::Result<T, EnergyError>;

/// Attach the law name to a bridge error raised while building that law.
pub(crate) fn law_error(law: &'static str, e: BridgeError) -> EnergyError {
    match e {
        BridgeError::NotPositiveDefinite { component, reason } => {
            EnergyError::NotPositiveDefinite {
                law,
                component,
                reason,
            }
        }
        other => EnergyError::InvalidLaw { law, source: other },
    }
}
