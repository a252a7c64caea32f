//! # mfpid-bridge
//!
//! Path-integral diffusion bridges: the sampler that carries a point (or a whole population) to a
//! target law `p_tar` in unit time, `dx = u*(t, x) dt + dW`, `x_0 = z`, `x_1 ~ p_tar`, with the
//! closed-form optimal drift for the harmonic potential `V_t(x) = beta_t/2 |x - nu_t|^2`:
//! PID (`beta = 0`), H-PID (constant beta), AdaPID (piecewise beta) and GH-PID (piecewise beta and
//! centre `nu`).
//!
//! - [`Protocol`]: piecewise-constant `(beta_i, nu_i)` on shared breaks, validated
//!   ([`validate_breaks`]);
//! - [`interpolant`]: the linear-interpolant theorem's centres `nu_i = (1 - s_i) m̄_in + s_i m̄_tar`
//!   at the piece midpoints ([`interpolant_centres`]);
//! - [`Coefficients`]: the Green-function coefficients `a⁻, b⁻, c⁻, a⁺, θx, θy, θ⁺` in closed form
//!   per piece, precomputed at the breaks, plus the scalar shift propagators `λ` for starts `z ≠ 0`;
//! - [`target`]: targets behind one trait — [`GaussianMixture`] (isotropic / diagonal / full),
//!   [`Empirical`] point clouds, [`EnergyTarget`] by self-normalised importance sampling;
//! - [`Bridge`]: the guided drift `u*(t, x; z)`, an [`mfpid_sde::Drift`], and for mixture targets the
//!   analytic marginal `p*_t` ([`Bridge::marginal`]) and mean `x̄*_t`.
//!
//! Conventions: time in `[0, 1]`, unit diffusion, `f64`, states row-major `B x d`. The drift is
//! evaluated on `[eps, 1 - eps]` (default `eps = 1e-3`): times outside are clamped.
//!
//! ```
//! use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
//! use mfpid_sde::{observe::{ControlEnergy, Moments}, run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
//!
//! // AdaPID to 0.6 N(0.1, 0.2²) + 0.4 N(1.5, 0.3²) in d = 1 from z = 0
//! let protocol = Protocol::geometric(1, 12.0, 0.65, 8)?;
//! let target = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
//! let mut bridge = Bridge::new(&protocol, target)?;
//! let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), 400)?;
//! let mut ens = Ensemble::filled(2048, &[0.0])?;
//! let (mut moments, mut energy) = (Moments::new(100, true), ControlEnergy::new());
//! run(&mut bridge, &Noise::Scalar(1.0), &grid, &mut ens, &RunConfig::new(Scheme::EulerMaruyama, 7),
//!     &mut [&mut moments, &mut energy])?;
//! let m = moments.last().unwrap().mean[0];
//! assert!((m - 0.66).abs() < 0.06, "terminal mean {m}");
//! // analytic mean of the marginal at t = 1/2
//! let xbar = bridge.marginal_mean(0.5)?;
//! assert!(xbar[0].is_finite() && energy.total() > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
// index loops mirror the formulas (several arrays indexed by the same component / coordinate)
#![allow(clippy::needless_range_loop)]

pub mod bridge;
pub mod coefficients;
pub mod error;
pub mod interpolant;
mod linalg;
pub mod marginal;
pub mod protocol;
pub mod target;

pub use bridge::{Bridge, DEFAULT_EPS};
pub use coefficients::{Backward, Coefficients, Forward};
pub use error::{BridgeError, MixtureDefect, MixtureField, MixtureIndex, Result};
pub use interpolant::{interpolant_at, interpolant_centres, piece_midpoints};
pub use protocol::{equal_breaks, validate_breaks, Protocol, ProtocolSpec};
pub use target::{
    Covariance, DriftForm, Empirical, EnergyTarget, GaussianMixture, MixtureSpec, Target,
};
