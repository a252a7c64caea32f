//! Two-dimensional Fokker-Planck solver
//! `dp/dt = -d/dx (b_x p) - d/dy (b_y p) + (D/2) (p_xx + p_yy)` on a [`Grid2d`].
//!
//! Locally one-dimensional (LOD/ADI-type) operator splitting ([`crate::stepping`]): each time
//! step is a sequence of implicit sweeps along `x` lines and `y` lines, each sweep being the 1-D
//! scheme of [`crate::fokker_planck`] (Scharfetter-Gummel fluxes, tridiagonal or cyclic solves).
//! Therefore
//! - mass is conserved to rounding (every sweep conserves it),
//! - with backward-Euler sweeps `p >= 0` for any step,
//! - a Gibbs state of a gradient drift built by [`FaceField2d::from_potential`] is an exact fixed
//!   point (each directional flux vanishes on it),
//! - [`Splitting::Lie`] is first order in time, [`Splitting::Strang`] (x half-step, y step,
//!   x half-step) second order with Crank-Nicolson or TR-BDF2 sweeps.
//!
//! [`FaceField2d::from_potential`]: crate::FaceField2d::from_potential
//! [`Splitting::Lie`]: crate::Splitting::Lie
//! [`Splitting::Strang`]: crate::Splitting::Strang

use crate::drift::{Drift2d, Potential2d};
use crate::error::{check_positive, Result};
use crate::grid::Grid2d;
use crate::stepping::split::SplitStepper;
use crate::stepping::{march_forward, FpConfig2d};

/// Split-implicit Fokker-Planck solver on a 2-D grid (see the module docs).
#[derive(Debug, Clone)]
pub struct FokkerPlanck2d {
    stepper: SplitStepper,
}

impl FokkerPlanck2d {
    /// Validate and allocate all scratch (a few grid-sized buffers; none is allocated per step).
    pub fn new(grid: Grid2d, config: FpConfig2d) -> Result<Self> {
        Ok(Self {
            stepper: SplitStepper::new(grid, config)?,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid2d {
        &self.stepper.grid
    }

    /// Advance `p` (row-major `nx * ny`, `x` fastest) from `t` to `t + dt`.
    pub fn step(
        &mut self,
        p: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift2d + ?Sized),
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.stepper.advance(p, t, t + dt, drift, None, false)
    }

    /// As [`step`](Self::step) with killing at rate `V(t, x, y)` (`dp/dt = ... - V p`).
    pub fn step_with_potential(
        &mut self,
        p: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift2d + ?Sized),
        potential: Potential2d<'_>,
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.stepper
            .advance(p, t, t + dt, drift, Some(potential), false)
    }

    /// Advance `p` from `t0` to `t1` in `n_steps` equal steps.
    pub fn solve(
        &mut self,
        p: &mut [f64],
        t0: f64,
        t1: f64,
        n_steps: usize,
        drift: &(impl Drift2d + ?Sized),
    ) -> Result<()> {
        march_forward(t0, t1, n_steps, |t_from, t_to, _dt| {
            self.stepper.advance(p, t_from, t_to, drift, None, false)
        })
    }
}
