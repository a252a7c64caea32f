//! Backward Kolmogorov / Feynman-Kac equation on a 2-D grid,
//! `-dphi/dt = b . grad phi + (D/2) Laplacian phi - V phi`, with the transposed split sweeps of
//! [`crate::stepping`] (the exact discrete adjoint of [`crate::FokkerPlanck2d`]; constants are
//! preserved when `V = 0`).

use crate::drift::{Drift2d, Potential2d};
use crate::error::{check_positive, Result};
use crate::grid::Grid2d;
use crate::stepping::split::SplitStepper;
use crate::stepping::{march_backward, FpConfig2d};

/// Backward Kolmogorov / Feynman-Kac solver on a 2-D grid (see the module docs).
#[derive(Debug, Clone)]
pub struct FeynmanKac2d {
    stepper: SplitStepper,
}

impl FeynmanKac2d {
    /// Validate and allocate (same configuration as the forward solver).
    pub fn new(grid: Grid2d, config: FpConfig2d) -> Result<Self> {
        Ok(Self {
            stepper: SplitStepper::new(grid, config)?,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid2d {
        &self.stepper.grid
    }

    /// Pull `phi` back from `t` to `t - dt` (`dt > 0`).
    pub fn step_back(
        &mut self,
        phi: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift2d + ?Sized),
        potential: Option<Potential2d<'_>>,
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.stepper.advance(phi, t, t - dt, drift, potential, true)
    }

    /// Pull `phi` back from `t1` to `t0 < t1` in `n_steps` equal steps.
    pub fn solve_back(
        &mut self,
        phi: &mut [f64],
        t1: f64,
        t0: f64,
        n_steps: usize,
        drift: &(impl Drift2d + ?Sized),
        potential: Option<Potential2d<'_>>,
    ) -> Result<()> {
        march_backward(t1, t0, n_steps, |t_from, t_to, _dt| {
            self.stepper
                .advance(phi, t_from, t_to, drift, potential, true)
        })
    }
}
