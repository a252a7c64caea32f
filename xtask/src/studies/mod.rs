//! Convergence studies behind the `sde-convergence` and `pde-convergence` reproduction entries:
//! observed orders of the integrators and grid solvers of mfpid-sde and mfpid-pde on problems
//! with exact or reference solutions. They use only the public APIs of those crates.

pub mod pde;
pub mod sde;
