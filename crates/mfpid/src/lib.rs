//! # mfpid
//!
//! Mean-field path-integral diffusion: generative diffusion where samples are agents that
//! coordinate through population statistics. This facade re-exports the member crates behind
//! features and wraps their errors in one [`Error`]:
//!
//! | module | crate | feature |
//! | --- | --- | --- |
//! | [`sde`] | `mfpid-sde`: ensemble SDE/ODE integrators | always |
//! | `pde` | `mfpid-pde`: Fokker-Planck, HJB, Schrödinger system, Riccati | `pde` |
//! | `bridge` | `mfpid-bridge`: PID / H-PID / AdaPID / GH-PID bridges | `bridge` |
//! | `thermo` | `mfpid-thermo`: entropy production, fluctuation theorems, speciation | `thermo` |
//! | `meanfield` | `mfpid-meanfield`: interpolant theorem, fixed points, LQG benchmark | `meanfield` |
//! | `energy` | `mfpid-energy`: demand-response fleets, methods MF / IA(0) / IA(m̄), RC layer | `energy` |
//! | `compose` | `mfpid-compose`: cooperative composition of diffusion models (candle) | `compose` |
//!
//! Feature `mpi` (off by default) adds `sde::comm::mpi`, one population over MPI ranks.
//! All features but `compose` and `mpi` are on by default. The `mfpid` program (TOML configs in, CSV / JSON /
//! NPY / SVG / PNG out) is the separate crate `mfpid-cli` (`cargo run --release -p mfpid-cli --
//! sample CONFIG`). The guide is `docs/guide.md` in the repository; runnable programs for the
//! library API are in `crates/mfpid/examples` (`cargo run -p mfpid --example bridge_mixture_2d`).
//!
//! ```
//! # #[cfg(feature = "bridge")] {
//! use mfpid::bridge::{Bridge, GaussianMixture, Protocol};
//! use mfpid::sde::{observe::Moments, run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
//! let protocol = Protocol::geometric(1, 12.0, 0.65, 8)?;
//! let target = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
//! let mut bridge = Bridge::new(&protocol, target)?;
//! let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), 500)?;
//! let mut ens = Ensemble::filled(1024, &[0.0])?;
//! let mut moments = Moments::new(500, true);
//! run(&mut bridge, &Noise::Scalar(1.0), &grid, &mut ens, &RunConfig::new(Scheme::EulerMaruyama, 1), &mut [&mut moments])?;
//! assert!((moments.last().unwrap().mean[0] - 0.66).abs() < 0.1);
//! # }
//! # Ok::<(), mfpid::Error>(())
//! ```
#![warn(missing_docs)]

pub use mfpid_sde as sde;

#[cfg(feature = "bridge")]
pub use mfpid_bridge as bridge;
#[cfg(feature = "compose")]
pub use mfpid_compose as compose;
#[cfg(feature = "energy")]
pub use mfpid_energy as energy;
#[cfg(feature = "meanfield")]
pub use mfpid_meanfield as meanfield;
#[cfg(feature = "pde")]
pub use mfpid_pde as pde;
#[cfg(feature = "thermo")]
pub use mfpid_thermo as thermo;

/// Any error of the member crates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the SDE layer.
    #[error(transparent)]
    Sde(#[from] mfpid_sde::SdeError),
    /// From the grid solvers.
    #[cfg(feature = "pde")]
    #[error(transparent)]
    Pde(#[from] mfpid_pde::PdeError),
    /// From the bridges.
    #[cfg(feature = "bridge")]
    #[error(transparent)]
    Bridge(#[from] mfpid_bridge::BridgeError),
    /// From the thermodynamics diagnostics.
    #[cfg(feature = "thermo")]
    #[error(transparent)]
    Thermo(#[from] mfpid_thermo::ThermoError),
    /// From the mean-field layer.
    #[cfg(feature = "meanfield")]
    #[error(transparent)]
    MeanField(#[from] mfpid_meanfield::MeanFieldError),
    /// From the demand-response layer.
    #[cfg(feature = "energy")]
    #[error(transparent)]
    Energy(#[from] mfpid_energy::EnergyError),
    /// From the composition layer.
    #[cfg(feature = "compose")]
    #[error(transparent)]
    Compose(#[from] mfpid_compose::ComposeError),
}
