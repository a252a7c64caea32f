//! One-dimensional Kolmogorov-Fokker-Planck solver
//! `dp/dt = -d/dx (b(t,x) p) + (D/2) d²p/dx²` (optionally with a killing term `- V(t,x) p`).
//!
//! Finite volumes on a [`Grid1d`] with the Scharfetter-Gummel flux of [`crate::flux`], so that
//! - mass `h * sum(p)` is conserved to rounding for zero-flux and periodic walls,
//! - the discrete stationary state of a gradient drift is the exact Gibbs state (see [`gibbs_state`]),
//! - backward Euler keeps `p >= 0` for every time step (the implicit matrix is an M-matrix);
//!   Crank-Nicolson and TR-BDF2 are second order in time and keep `p >= 0` for
//!   `dt <=` [`FokkerPlanck1d::positivity_dt_limit`] (smooth data usually stay positive beyond it).
//!
//! The drift is anything implementing [`Drift1d`]: a closure `|t, x| b` or a [`FaceTable`] of
//! precomputed face velocities per time (e.g. a drift known only on the grid). Time stepping is
//! the line stepper of [`crate::stepping`].
//!
//! [`FaceTable`]: crate::FaceTable

use crate::drift::{Drift1d, Potential};
use crate::error::{check_finite, check_len, check_positive, Result};
use crate::flux::face_fluxes;
use crate::grid::Grid1d;
use crate::stepping::line::LineStepper;
use crate::stepping::{march_forward, FpConfig};

/// The exact discrete stationary state of the zero-flux scheme for face velocities `b_faces`
/// (`n + 1` values; the two wall faces are ignored): `p_i / p_{i-1} = exp(b_{i-1/2} h / eps)`,
/// `eps = D/2`, normalised to unit mass. Computed in log space.
pub fn gibbs_state(grid: &Grid1d, diffusion: f64, b_faces: &[f64]) -> Result<Vec<f64>> {
    check_positive("diffusion", diffusion)?;
    check_len("b_faces", b_faces.len(), grid.n() + 1)?;
    check_finite("b_faces", b_faces)?;
    let eps = 0.5 * diffusion;
    let h = grid.h();
    let mut logp = vec![0.0; grid.n()];
    for i in 1..grid.n() {
        logp[i] = logp[i - 1] + b_faces[i] * h / eps;
    }
    let m = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut p: Vec<f64> = logp.iter().map(|l| (l - m).exp()).collect();
    grid.normalize("gibbs state", &mut p)?;
    Ok(p)
}

/// Implicit finite-volume Fokker-Planck solver on a 1-D grid (see the module docs).
#[derive(Debug, Clone)]
pub struct FokkerPlanck1d {
    engine: LineStepper,
}

impl FokkerPlanck1d {
    /// Validate the configuration and allocate all scratch.
    pub fn new(grid: Grid1d, config: FpConfig) -> Result<Self> {
        Ok(Self {
            engine: LineStepper::new(grid, &config)?,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid1d {
        &self.engine.grid
    }

    /// Advance the cell averages `p` (length `n`) from `t` to `t + dt` (`dt > 0`).
    pub fn step(
        &mut self,
        p: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift1d + ?Sized),
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.engine.step(p, t, t + dt, drift, None, false)
    }

    /// As [`step`](Self::step) for `dp/dt = -(b p)' + (D/2) p'' - V(t, x) p` (killing at rate
    /// `V`, the forward half `phi_hat` of a Schrödinger system).
    pub fn step_with_potential(
        &mut self,
        p: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift1d + ?Sized),
        potential: Potential<'_>,
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.engine
            .step(p, t, t + dt, drift, Some(potential), false)
    }

    /// Advance `p` from `t0` to `t1 > t0` in `n_steps` equal steps.
    pub fn solve(
        &mut self,
        p: &mut [f64],
        t0: f64,
        t1: f64,
        n_steps: usize,
        drift: &(impl Drift1d + ?Sized),
    ) -> Result<()> {
        march_forward(t0, t1, n_steps, |t_from, t_to, _dt| {
            self.engine.step(p, t_from, t_to, drift, None, false)
        })
    }

    /// Scharfetter-Gummel probability fluxes `J` at the `n + 1` faces for density `p` and face
    /// velocities `b_faces` (wall faces: 0 for zero flux, the wrap flux for periodic, the wall flux
    /// for Dirichlet). Units: probability per unit time.
    pub fn face_fluxes(&self, p: &[f64], b_faces: &[f64], out: &mut [f64]) -> Result<()> {
        let n = self.engine.grid.n();
        check_len("p", p.len(), n)?;
        check_len("b_faces", b_faces.len(), n + 1)?;
        check_len("out", out.len(), n + 1)?;
        let (eps, h) = (self.engine.eps, self.engine.grid.h());
        face_fluxes(b_faces, eps, h, self.engine.bc, p, out);
        Ok(())
    }

    /// Largest step for which the configured scheme provably keeps `p >= 0` with the drift at
    /// time `t` (infinite for backward Euler).
    pub fn positivity_dt_limit(&mut self, t: f64, drift: &(impl Drift1d + ?Sized)) -> Result<f64> {
        self.engine.positivity_dt_limit(t, drift, None, false)
    }
}

/// Cell Péclet number `|b| h / (D/2)` at each face, for diagnosing accuracy of the fitted flux.
pub fn cell_peclet(grid: &Grid1d, diffusion: f64, b_faces: &[f64]) -> Vec<f64> {
    let k = grid.h() / (0.5 * diffusion);
    b_faces.iter().map(|b| (b * k).abs()).collect()
}
