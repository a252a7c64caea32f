//! Non-equilibrium thermodynamics of diffusion samplers (placeholder doc, see below).

pub mod collapse;
pub mod error;
pub mod fp_rates;
pub mod franz_parisi;
pub mod quad;
pub mod rates;
pub mod speciation;
pub mod two_cluster;

pub use error::{Result, ThermoError};
pub use rates::{rates_from_samples, rates_on_grid, EntropyRates, RatesEstimate};
pub use two_cluster::{Marginal, SpeciationPhase, TwoCluster};
