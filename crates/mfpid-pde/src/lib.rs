//! Grid solvers for diffusion control problems.
//!
//! placeholder docs
#![warn(missing_docs)]

pub mod error;
pub mod flux;
pub mod fp1d;
pub mod fp2d;
pub mod grid;
pub mod hjb;
pub mod kolmogorov;
pub mod ode;
pub mod riccati;
pub mod schrodinger;
mod tridiag;

pub use error::{PdeError, Result};
pub use fp1d::{
    gibbs_state, potential_faces, Drift1d, FaceTable, FokkerPlanck1d, FpConfig, TimeScheme,
    ZeroDrift,
};
pub use grid::{Boundary, Grid1d, Grid2d};
pub use kolmogorov::FeynmanKac1d;
