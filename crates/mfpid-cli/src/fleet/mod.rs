//! `mfpid fleet CONFIG`: a demand-response run of `mfpid-energy`. A fleet of buildings (agents)
//! goes from the post-curtailment law `p_in` to the recovery law `p_tar`; the methods (mean-field
//! MF, independent IA(0) and IA(m̄), or user centres) share the agents and the Brownian noise, so
//! their energies and savings are paired comparisons. With `[physical]` the laws are stated in °C
//! and the results are also reported in kW and kWh through the RC thermal layer.
//!
//! The subcommand flows one way: [`plan`] (config to checked library inputs) → [`run`] (the
//! methods) → [`tables`] (CSV / JSON and the typed summary) and [`figures`] (SVG / PNG).

mod figures;
mod plan;
mod run;
mod tables;

pub use plan::validate;
pub use run::cmd;

/// Parse, check and plan a fleet config (nothing is simulated).
pub fn check(
    src: &crate::config::Source,
    common: &crate::common::Common,
) -> crate::error::Result<()> {
    plan::plan(src, common).map(|_| ())
}
