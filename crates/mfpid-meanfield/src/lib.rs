//! # mfpid-meanfield
//!
//! Mean-field path-integral diffusion (MF-PID): samples become interacting agents whose potential
//! depends on the population, `V^MF_t[x; p_t] = ∫ V_t(x - y) p_t(y) dy`.
//!
//! - [`interpolant`]: the linear-interpolant theorem (`nu_t = (1 - t) m̄_in + t m̄_tar` for a
//!   quadratic interaction and zero base drift) and global means of mixtures / point clouds.
//!
//! ```
//! use mfpid_bridge::Protocol;
//! use mfpid_meanfield::interpolant_centres;
//! let protocol = Protocol::geometric(1, 12.0, 0.65, 8)?;
//! let nu = interpolant_centres(protocol.breaks(), &[-1.0], &[0.66])?;
//! let protocol = protocol.with_centres(nu)?;
//! assert!((protocol.nu(0)[0] - (-1.0 + 1.66 / 16.0)).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod error;
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
pub use grid_mf::{
    grid_moments_1d, solve_schrodinger_2d, GridMf1d, GridMf2d, GridMfConfig, GridMfSolution,
    Schrodinger2dSolution,
};
pub use interaction::Interaction;
pub use interpolant::{
    global_mean_mixture, global_mean_points, interpolant_at, interpolant_centres, piece_midpoints,
};
pub use law::{Law, LawTarget};
pub use lqg::{Lqg, LqgConfig, LqgMethod, LqgPoint, LqgSimulation, LqgSolution, ScalarLqg};
pub use particle_mf::{ParticleMf, ParticleMfConfig, VmfEstimator};
pub use quadratic::{AnalyticQuadraticMf, MfSolution, QuadraticMf, QuadraticMfConfig, Simulation};
