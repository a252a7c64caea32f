//! Backward Kolmogorov / Feynman-Kac equation `-dphi/dt = b . grad phi + (D/2) Laplacian phi -
//! V phi`, integrated backward from a terminal condition with the exact discrete adjoint of the
//! Fokker-Planck operator of [`crate::fokker_planck`] (transposed steps of [`crate::stepping`]).
//!
//! - `one_d`: [`FeynmanKac1d`] (zero-flux, periodic or absorbing walls);
//! - `two_d`: [`FeynmanKac2d`] (transposed split sweeps in reverse order).

mod one_d;
mod two_d;

pub use one_d::FeynmanKac1d;
pub use two_d::FeynmanKac2d;
