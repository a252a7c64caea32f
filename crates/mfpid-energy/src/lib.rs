//! # mfpid-energy
//!
//! Demand response with mean-field path-integral diffusion. After a curtailment event a fleet of
//! buildings must bring its zone temperatures from a warm post-event law `p_in` to a cooler
//! recovery law `p_tar` at `t = 1` with the least control effort. Each agent is one building with
//! state `x ∈ R^d` (temperature deviations of its `d` zones); mixture components are
//! sub-populations.
//!
//! Every agent is bridged from its own start `z ~ p_in` to the full `p_tar` by the GH-PID drift of
//! `mfpid-bridge` with the protocol `beta_i = 12·0.65^i` on 8 equal pieces; the methods differ only
//! in the centre `nu_t` of the potential `beta_t/2 |x - nu_t|²`:
//!
//! - [`Method::mean_field`] (MF): `nu_t = (1-t) m̄_in + t m̄_tar` (the self-consistent population
//!   mean, by the linear-interpolant theorem);
//! - [`Method::independent_zero`] (IA(0)): `nu = 0`;
//! - [`Method::independent_target`] (IA(m̄)): `nu = m̄_tar`;
//! - your own: [`Method::custom`] / [`Centres::Fixed`].
//!
//! Modules: [`fleet`] (laws, validation, sampling with sub-population labels), [`scenario`] (the
//! study's fleets and the published d-sweep), [`method`], [`experiment`] (methods run in lockstep on
//! common random numbers, one draw of each increment for all methods; [`RunOptions`]: recording and a stop flag), [`metrics`] (the outcome
//! [`MethodRun`]; energy, per zone, per sub-population, savings with paired
//! standard errors, terminal law vs `p_tar`), [`thermal`] (RC model: °C, kW, minutes, kWh), [`hvac`]
//! (HVAC energy in kWh and peak power in kW per method with standard errors, and their savings).
//!
//! Sign convention of physical power (everywhere: library, `mfpid fleet`, `cargo xtask`): HVAC
//! power `P > 0` heats, `P < 0` cools; HVAC energy is `∫ Σ_j |P_j| dτ`.
//!
//! Units: dimensionless time `t ∈ [0, 1]` and coordinates; energy `E(1) = ∫ E|u_t|² dt` summed over
//! zones (no factor ½, left Riemann sum on the break-aligned grid), the paper's convention.
//!
//! ```
//! use mfpid_energy::{scenario, Experiment, Method, Recording, Saving, Settings};
//!
//! // B-nd with d = 2 zones, a small fleet and a coarse grid
//! let s = scenario::b_nd(2)?;
//! let exp = Experiment::new(s.fleet, Settings::paper(256).with_steps(200))?;
//! let runs = exp.run_all(&Method::standard(), &Recording::default())?;
//! let (mf, ia0) = (&runs[0], &runs[1]);
//! let saving = Saving::of(mf, ia0)?;
//! assert!(saving.pct > 10.0, "MF saves energy: {saving:?}");
//! assert!(mf.terminal.max_weight_error() < 0.1);
//! # Ok::<(), mfpid_energy::EnergyError>(())
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod experiment;
pub mod fleet;
pub mod hvac;
pub mod method;
pub mod metrics;
pub mod scenario;
mod schedule;
pub mod thermal;

pub use error::{EnergyError, Result};
pub use experiment::{Comparison, Experiment, Recording, RunOptions, Settings, Start};
pub use fleet::{Agents, Fleet, FleetSpec, Law};
pub use hvac::{HvacRecorder, HvacSaving, HvacSummary};
pub use method::{CentreRule, Centres, Method};
pub use metrics::{MethodRun, Saving, SubpopEnergy, TerminalLaw};
pub use scenario::Scenario;
pub use thermal::{CelsiusLaw, HvacObserver, RcBuilding, ThermalLayer};
