//! # mfpid-thermo
//!
//! Non-equilibrium thermodynamics of diffusion samplers: read any sampler of the project as a
//! Langevin system `dx = F(x, t) dt + sqrt(2D) dW` (Seifert conventions, `k_B T = 1`) and measure
//!
//! - **trajectory entropy** ([`trajectory`]): system, medium (Stratonovich midpoint) and total entropy
//!   per path along any `mfpid-sde` run, the integral fluctuation theorem `⟨e^{-ΔS_tot}⟩ = 1` with a
//!   confidence interval and its convergence in the number of paths, and a detailed-FT check;
//! - **ensemble rates** ([`rates`], [`fp_rates`]): entropy production `Π`, entropy flow `Φ` and
//!   `dS/dt = Π - Φ` in closed form for the Yu & Huang two-cluster model ([`TwoCluster`]), and
//!   generically from a grid density (an `mfpid-pde` Fokker-Planck solution) or from samples;
//! - **Franz-Parisi potential** ([`franz_parisi`]) `V(q)`, `dV/dq`, `d²V/dq²` of reverse diffusion
//!   read as inference, by Monte Carlo with analytic derivatives;
//! - **speciation and collapse**: the Yu & Huang speciation time and `(μ, σ)` phase diagram
//!   ([`TwoCluster::speciation_time`], [`phase_diagram`]); Biroli et al.'s `t_S = ½ ln Λ`, the cloning
//!   curve `φ(t)` measured and in theory ([`speciation`]); the collapse time `t_C` and the
//!   excess-entropy estimator `f^e(t)` ([`collapse`]);
//! - **the project's own samplers** ([`bridges`]): entropy production of mean-field vs
//!   independent-agent PID bridges and the time at which a bridge commits to a target component.
//!
//! Conventions: time `t` is the forward (noising) time unless a function says reverse time `τ`;
//! rates are per unit time; `f64` throughout; every constructor validates its input and returns a
//! [`ThermoError`] naming the bad field.
//!
//! ```
//! use mfpid_thermo::{trajectory::{simulate_two_cluster, Direction}, TwoCluster};
//! // μ = 1, σ² = 1: closed-form rates and the speciation time t_s = ½ ln 2
//! let model = TwoCluster::new(1.0, 1.0)?;
//! let r = model.rates_forward(0.5)?;
//! assert!(r.pi > 0.0 && (r.ds_dt - (r.pi - r.phi)).abs() < 1e-15);
//! assert!((model.speciation_time() - 0.5 * 2f64.ln()).abs() < 1e-12);
//! // 512 forward paths over [0, 1]: the IFT average is compatible with 1
//! let paths = simulate_two_cluster(&model, Direction::Forward, 1.0, 100, 512, 7)?;
//! let ift = paths.ift(0.99)?;
//! assert!(ift.ift_ci_low < 1.0 && 1.0 < ift.ift_ci_high);
//! // σ² <= 0 is a typed error
//! assert!(TwoCluster::new(1.0, 0.0).is_err());
//! # Ok::<(), mfpid_thermo::ThermoError>(())
//! ```
#![warn(missing_docs)]

pub mod bridges;
pub mod collapse;
pub mod error;
pub mod fp_rates;
pub mod franz_parisi;
pub mod quad;
pub mod rates;
pub mod speciation;
pub mod trajectory;
pub mod two_cluster;

pub use error::{Result, ThermoError};
pub use rates::{rates_from_samples, rates_on_grid, EntropyRates, RatesEstimate};
pub use two_cluster::{phase_diagram, Marginal, PhasePoint, SpeciationPhase, TwoCluster};
