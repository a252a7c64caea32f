//! # mfpid-meanfield
//!
//! Mean-field path-integral diffusion (MF-PID): samples become interacting agents whose potential
//! depends on the population, `V^MF_t[x; p_t] = ∫ V_t(x - y) p_t(y) dy`. Agents follow
//! `dx = [f(x) + u] dt + dW` from `p_in` to `p_tar`; optimality couples a backward HJB equation and a
//! forward Fokker-Planck equation (a mean-field Schrödinger bridge).
//!
//! - [`interpolant`]: the linear-interpolant theorem (quadratic interaction, `f = 0`: the
//!   self-consistent centre is `nu_t = (1 - t) m̄_in + t m̄_tar`) and [`interpolant_centres`];
//! - [`fixed_point`]: argmin-style fixed-point layer ([`Picard`], [`Anderson`], [`Executor`],
//!   observers); non-convergence is [`MeanFieldError::NotConverged`] with the residual history;
//! - [`quadratic`]: MF-PID with a quadratic interaction by particle fixed point with common random
//!   numbers ([`QuadraticMf`]) or exactly ([`AnalyticQuadraticMf`]);
//! - [`lqg`]: the LQG benchmark (scalar closed form, matrix Riccati for `d > 1`, MF / IA0 /
//!   IA-target, `P(t)`, `E(t)`, particle checks);
//! - [`interaction`], [`grid_mf`], [`particle_mf`]: general kernels (Gaussian repulsion/attraction,
//!   congestion) on 1-D/2-D grids (outer fixed point over a Schrödinger system) and by particles
//!   (exact `O(N²)` or binned `O(N)` `V^MF`).
//!
//! Conventions: time in `[0, 1]`, unit diffusion, `f64`, states and centres row-major; control
//! energies are `E ∫ |u|² dt` (no factor ½) as in the rest of the project.
//!
//! ```
//! use mfpid_bridge::{equal_breaks, GaussianMixture, Protocol};
//! use mfpid_meanfield::{interpolant_centres, Lqg, LqgMethod, ScalarLqg};
//!
//! // the theorem's centres for a GH-PID protocol
//! let protocol = Protocol::geometric(1, 12.0, 0.65, 8)?;
//! let nu = interpolant_centres(protocol.breaks(), &[-1.0], &[0.66])?;
//! let protocol = protocol.with_centres(nu)?;
//! assert!((protocol.nu(0)[0] - (-1.0 + 1.66 / 16.0)).abs() < 1e-12);
//!
//! // the LQG benchmark: mean-field control energy E(1)
//! let lqg = Lqg::new(ScalarLqg::reference().config()?)?;
//! let mf = lqg.solve(LqgMethod::MeanField)?;
//! assert!((mf.energy1() - 7.60372).abs() < 1e-5);
//! assert!((mf.sigma1()[0] - 0.25).abs() < 1e-9);
//! # let _ = (equal_breaks(2), GaussianMixture::isotropic(1, vec![1.0], vec![0.0], vec![1.0])?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod error;
mod exact_sum;
pub mod fixed_point;
pub mod grid_mf;
pub mod interaction;
pub mod interpolant;
pub mod law;
pub mod lqg;
pub mod particle_mf;
pub mod quadratic;

pub use error::{MeanFieldError, Result};
pub use fixed_point::{
    Anderson, Criterion, Executor, FixedPointMap, FixedPointOutcome, FixedPointSolver, FnMap,
    FnObserver, IterObserver, IterState, IterateTrace, Picard, ResidualHistory,
};
pub use grid_mf::{grid_moments_1d, Bridge2d, GridMf1d, GridMf2d, GridMfConfig, GridMfSolution};
pub use interaction::Interaction;
pub use interpolant::{
    global_mean_mixture, global_mean_points, interpolant_at, interpolant_centres, piece_midpoints,
};
pub use law::{Law, LawTarget};
pub use lqg::{Lqg, LqgConfig, LqgMethod, LqgPoint, LqgSimulation, LqgSolution, ScalarLqg};
pub use particle_mf::{ParticleMf, ParticleMfConfig, VmfEstimator};
pub use quadratic::{
    max_abs_z_exceedance, AnalyticQuadraticMf, MfSolution, QuadraticMf, QuadraticMfConfig,
    Simulation, TimeCovariance,
};
