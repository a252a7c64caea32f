//! # mfpid-sde
//!
//! Particle-ensemble integrators for Itô SDEs `dx = b(t, x) dt + g(t, x) dW` and ODEs
//! `dx/dt = b(t, x)`, built for large ensembles (`B x d` states, contiguous, row-major) and exact
//! reproducibility: each block of [`rng::RNG_BLOCK`] particles owns a counter-based sequence of
//! standard normals ([`rng::BlockNormals`]: AES-128 counter-mode words through a 1024-layer
//! ziggurat with a vectorised fast path) keyed by `(seed, block index)`, so the output is
//! bit-identical for any thread count, chunk size, particle offset and instruction set (the order
//! of the draws: [`rng`]).
//!
//! - [`Drift`]: the drift seam, evaluated on batches into caller-owned buffers, with a serial
//!   [`Drift::prepare`] hook for time-only work;
//! - [`Noise`]: additive (constant or time-dependent, scalar or diagonal), diagonal state-dependent,
//!   general matrix;
//! - [`Scheme`]: Euler-Maruyama, stochastic Heun, Milstein, SRA1 (strong order 1.5), exact OU;
//!   [`OdeScheme`]: Heun and RK4;
//! - [`TimeGrid`]: uniform, user-given, aligned to break points;
//! - [`run_lockstep`]: several drifts on copies of one ensemble sharing every increment (one
//!   draw, many drifts; each member bit-identical to its own [`run`]);
//! - [`CancelToken`]: stop a run from outside (read once per step, [`SdeError::Cancelled`]);
//! - [`observe`]: moments, control energy, histograms, trajectory subsamples, reduced
//!   deterministically through a [`Communicator`].
//!
//! ```
//! use mfpid_sde::{observe::{ControlEnergy, Moments}, run, Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid};
//! // dx = -x dt + dW from x0 = 1, d = 2, 4096 particles
//! let mut drift = LinearDrift::isotropic(2, 1.0, 0.0);
//! let grid = TimeGrid::uniform(0.0, 1.0, 200)?;
//! let mut ens = Ensemble::filled(4096, &[1.0, 1.0])?;
//! let (mut moments, mut energy) = (Moments::new(50, true), ControlEnergy::new());
//! run(&mut drift, &Noise::Scalar(1.0), &grid, &mut ens, &RunConfig::new(Scheme::EulerMaruyama, 42),
//!     &mut [&mut moments, &mut energy])?;
//! let var = moments.last().unwrap().cov.as_ref().unwrap()[0];
//! assert!((var - (1.0 - (-2.0f64).exp()) / 2.0).abs() < 0.05);
//! assert!(energy.total() > 0.0);
//! # Ok::<(), mfpid_sde::SdeError>(())
//! ```
#![warn(missing_docs)]

pub mod cancel;
pub mod comm;
pub mod drift;
pub mod ensemble;
pub mod error;
pub mod grid;
pub mod lockstep;
pub mod noise;
pub mod observe;
mod power;
pub mod reduce;
pub mod rng;
pub mod runner;
pub mod scheme;
pub mod shard;

pub use cancel::CancelToken;
pub use comm::{Communicator, SingleProcess};
pub use drift::{Drift, DriftError, FnDrift, LinearDrift};
pub use ensemble::Ensemble;
pub use error::SdeError;
pub use grid::TimeGrid;
pub use lockstep::{run_lockstep, run_lockstep_with_comm, Member};
pub use noise::{DiagonalNoise, MatrixNoise, Noise};
pub use runner::{run, run_ode, run_with_comm, RunConfig, RunSummary};
pub use scheme::{OdeScheme, Scheme};
