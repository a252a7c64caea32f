//! Backward Kolmogorov / Feynman-Kac equation on a 1-D grid,
//! `-dphi/dt = b(t,x) phi' + (D/2) phi'' - V(t,x) phi`, integrated backward from a terminal
//! condition `phi(t1, .)`.
//!
//! The spatial operator is the exact transpose of the Fokker-Planck generator of
//! [`crate::fokker_planck`], so discrete duality holds: `h sum(p phi)` is the same whether `p` is pushed
//! forward or `phi` pulled back by a step matrix and its transpose, constants are preserved when
//! `V = 0`, and the scheme is monotone (maximum principle). With `D = 1` this is the Cole-Hopf
//! linearisation `J = -log phi` of the HJB equation in [`crate::hjb`].

use crate::drift::{Drift1d, Potential};
use crate::error::{check_positive, PdeError, Result};
use crate::grid::{Boundary, Grid1d};
use crate::stepping::line::LineStepper;
use crate::stepping::{march_backward, FpConfig};

/// Implicit solver for the backward equation; walls: zero-flux (which is a Neumann condition for
/// `phi`), periodic, or absorbing (`Dirichlet { left: 0, right: 0 }`, i.e. `phi = 0` at the walls).
#[derive(Debug, Clone)]
pub struct FeynmanKac1d {
    engine: LineStepper,
}

impl FeynmanKac1d {
    /// Validate and allocate. Dirichlet walls must have zero values (the adjoint of absorption).
    pub fn new(grid: Grid1d, config: FpConfig) -> Result<Self> {
        if let Boundary::Dirichlet { left, right } = config.boundary {
            if left != 0.0 || right != 0.0 {
                return Err(PdeError::OutOfRange {
                    what: "boundary",
                    value: if left != 0.0 { left } else { right },
                    reason: "the backward equation supports only absorbing (zero) Dirichlet walls",
                });
            }
        }
        Ok(Self {
            engine: LineStepper::new(grid, &config)?,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid1d {
        &self.engine.grid
    }

    /// Pull `phi` (cell values, length `n`) back from time `t` to `t - dt` (`dt > 0`).
    pub fn step_back(
        &mut self,
        phi: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift1d + ?Sized),
        potential: Option<Potential<'_>>,
    ) -> Result<()> {
        check_positive("dt", dt)?;
        self.engine.step(phi, t, t - dt, drift, potential, true)
    }

    /// Pull `phi` back from `t1` to `t0 < t1` in `n_steps` equal steps.
    pub fn solve_back(
        &mut self,
        phi: &mut [f64],
        t1: f64,
        t0: f64,
        n_steps: usize,
        drift: &(impl Drift1d + ?Sized),
        potential: Option<Potential<'_>>,
    ) -> Result<()> {
        march_backward(t1, t0, n_steps, |t_from, t_to, _dt| {
            self.engine.step(phi, t_from, t_to, drift, potential, true)
        })
    }
}
