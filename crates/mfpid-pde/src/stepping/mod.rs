//! Time stepping shared by every linear grid solver: the implicit schemes ([`TimeScheme`]), the
//! solver configurations they read ([`FpConfig`], [`FpConfig2d`]), uniform step sequences
//! forward and backward in time, and the two steppers built on the Scharfetter-Gummel operator
//! of [`crate::flux`]:
//! - [`line`]: one line of cells, `x' = A x` with `A = L - V` (forward, Fokker-Planck) or
//!   `A = L^T - V` (backward, Feynman-Kac), theta steps and TR-BDF2;
//! - [`split`]: 2-D grids by directional line sweeps (Lie or Strang splitting), the backward step
//!   being the exact transpose of the forward one.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_positive, PdeError, Result};
use crate::grid::Boundary;

pub(crate) mod line;
pub(crate) mod split;

/// Implicit time-stepping scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeScheme {
    /// First order, L-stable, unconditionally positivity preserving.
    BackwardEuler,
    /// Second order (theta = 1/2), A-stable; positive for `dt <= positivity_dt_limit`.
    CrankNicolson,
    /// Second order, L-stable one-step TR-BDF2 (gamma = 2 - sqrt 2).
    TrBdf2,
}

/// `gamma = 2 - sqrt 2` of TR-BDF2: the trapezoidal stage ends at `t + gamma dt`.
pub(crate) const TRBDF2_GAMMA: f64 = 2.0 - std::f64::consts::SQRT_2;

/// Configuration of the 1-D linear solvers ([`crate::FokkerPlanck1d`], [`crate::FeynmanKac1d`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FpConfig {
    /// Diffusion coefficient `D > 0` of `dx = b dt + sqrt(D) dW` (the PDE has `(D/2) p''`).
    pub diffusion: f64,
    /// Wall condition.
    pub boundary: Boundary,
    /// Time integrator.
    pub scheme: TimeScheme,
    /// Optional bound on the cell Péclet number `|b| h / (D/2)`; a step whose drift exceeds it
    /// fails with [`PdeError::GridTooCoarse`]. `None`: no bound (the SG flux is stable for any
    /// Péclet number but degrades to first-order upwinding when it is large).
    pub max_peclet: Option<f64>,
}

impl Default for FpConfig {
    fn default() -> Self {
        Self {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::CrankNicolson,
            max_peclet: None,
        }
    }
}

/// Order of the directional sweeps within a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Splitting {
    /// `x` sweep then `y` sweep over the full step (first order).
    Lie,
    /// `x` half step, `y` full step, `x` half step (second order).
    Strang,
}

/// Configuration of the 2-D linear solvers ([`crate::FokkerPlanck2d`], [`crate::FeynmanKac2d`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FpConfig2d {
    /// Diffusion coefficient `D > 0` (the PDE has `(D/2) Laplacian p`).
    pub diffusion: f64,
    /// Wall condition on all four sides: [`Boundary::ZeroFlux`] or [`Boundary::Periodic`].
    pub boundary: Boundary,
    /// Scheme of each directional sweep.
    pub scheme: TimeScheme,
    /// Sweep order.
    pub splitting: Splitting,
}

impl Default for FpConfig2d {
    fn default() -> Self {
        Self {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::CrankNicolson,
            splitting: Splitting::Strang,
        }
    }
}

/// `dt = (t1 - t0) / n_steps` after validation (`t1 > t0`, `n_steps >= 1`).
pub(crate) fn uniform_dt(t0: f64, t1: f64, n_steps: usize) -> Result<f64> {
    check_finite("time interval", &[t0, t1])?;
    if n_steps == 0 {
        return Err(PdeError::OutOfRange {
            what: "n_steps",
            value: 0.0,
            reason: "must be >= 1",
        });
    }
    let dt = (t1 - t0) / n_steps as f64;
    check_positive("t1 - t0", t1 - t0)?;
    Ok(dt)
}

/// `n_steps` equal steps forward from `t0` to `t1 > t0`: `step(t_k, t_{k+1}, dt)` with
/// `t_k = t0 + k dt`.
pub(crate) fn march_forward(
    t0: f64,
    t1: f64,
    n_steps: usize,
    mut step: impl FnMut(f64, f64, f64) -> Result<()>,
) -> Result<()> {
    let dt = uniform_dt(t0, t1, n_steps)?;
    for k in 0..n_steps {
        step(t0 + k as f64 * dt, t0 + (k + 1) as f64 * dt, dt)?;
    }
    Ok(())
}

/// `n_steps` equal steps backward from `t1` to `t0 < t1`: `step(s_k, s_{k+1}, dt)` with
/// `s_k = t1 - k dt`.
pub(crate) fn march_backward(
    t1: f64,
    t0: f64,
    n_steps: usize,
    mut step: impl FnMut(f64, f64, f64) -> Result<()>,
) -> Result<()> {
    let dt = uniform_dt(t0, t1, n_steps)?;
    for k in 0..n_steps {
        step(t1 - k as f64 * dt, t1 - (k + 1) as f64 * dt, dt)?;
    }
    Ok(())
}
