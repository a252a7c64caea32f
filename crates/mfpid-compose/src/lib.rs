//! Cooperative composition of pre-trained diffusion models by stochastic optimal control.
//!
//! Several score models act as agents; their reverse-time sampling trajectories are steered jointly
//! toward one objective on their aggregated output (CMAD), compared with DPS-style per-step gradient
//! guidance (CDPS) and, where the scores are analytic, with the exact optimum.
//!
//! ```
//! use mfpid_compose::exact::{optimal, ExactProblem, Policy};
//! let problem = ExactProblem::reference().unwrap();
//! let base = problem.evaluate(Policy::Base, 2000, 1).unwrap();
//! let best = optimal(&problem, 2000, 1).unwrap();
//! assert!(best.j < base.j); // the optimally tilted path measure beats no control
//! ```

// Index loops mirror the equations (particle p, agent i, coordinate j) and stay as written.
#![allow(clippy::needless_range_loop)]

pub mod adam;
pub mod cmad;
pub mod compose;
pub mod error;
pub mod exact;
pub mod frechet;
pub mod gmm;
pub mod idx;
pub mod image;
pub mod linalg;
pub mod mlp;
pub mod nn;
pub mod repro;
pub mod vp;
pub mod weights;

pub use error::{ComposeError, IdxError, Result};

/// Root of the workspace (for the shipped data and weights): `$MFPID_ROOT` when set, else the
/// workspace this crate was built in.
pub fn workspace_root() -> std::path::PathBuf {
    match std::env::var_os("MFPID_ROOT") {
        Some(r) => std::path::PathBuf::from(r),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".."),
    }
}
