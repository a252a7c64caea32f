//! The HJB equation on a 2-D grid (see [`crate::hjb`] for the scheme).

use crate::error::{check_len, check_positive, PdeError, Result};
use crate::grid::Grid2d;

use super::{accept_step, march_back, minimise, periodic_walls, HjbConfig};

/// Explicit monotone HJB solver on a 2-D grid,
/// `-dJ/dt = b . grad J - |grad J|^2 / 2 + (D/2) Laplacian J + V`. The Hamiltonian splits over the
/// axes (`|u|^2/2 = u_x^2/2 + u_y^2/2`), so each axis uses the 1-D upwind minimisation; the step
/// is monotone for `dt <= 1 / sum_axes (|v_a| / h_a + D / h_a^2)` and refused beyond it with
/// [`PdeError::CflViolated`]. Arrays are row-major (`x` fastest).
#[derive(Debug, Clone)]
pub struct Hjb2d {
    grid: Grid2d,
    diffusion: f64,
    periodic: bool,
    next: Vec<f64>,
    control: Vec<[f64; 2]>,
}

impl Hjb2d {
    /// Validate and allocate (walls: zero-flux/Neumann or periodic on all sides).
    pub fn new(grid: Grid2d, config: HjbConfig) -> Result<Self> {
        check_positive("diffusion", config.diffusion)?;
        let periodic = periodic_walls(config.boundary)?;
        Ok(Self {
            grid,
            diffusion: config.diffusion,
            periodic,
            next: vec![0.0; grid.len()],
            control: vec![[0.0; 2]; grid.len()],
        })
    }

    /// The minimising control `(u_x, u_y)` of the last step at every cell.
    pub fn last_control(&self) -> &[[f64; 2]] {
        &self.control
    }

    /// One explicit step back from `t` to `t - dt` (`j`: `J(t)` in, `J(t - dt)` out).
    pub fn step_back(
        &mut self,
        j: &mut [f64],
        t: f64,
        dt: f64,
        drift: &impl Fn(f64, f64, f64) -> [f64; 2],
        potential: &impl Fn(f64, f64, f64) -> f64,
    ) -> Result<()> {
        check_len("J", j.len(), self.grid.len())?;
        check_positive("dt", dt)?;
        let (gx, gy) = (*self.grid.x(), *self.grid.y());
        let (nx, ny) = (gx.n(), gy.n());
        let (hx, hy) = (gx.h(), gy.h());
        let d = self.diffusion;
        let periodic = self.periodic;
        // neighbour index along an axis with Neumann (mirror) or periodic closure
        let nb = |i: usize, n: usize, up: bool| -> usize {
            match (up, i) {
                (true, i) if i + 1 < n => i + 1,
                (true, _) => {
                    if periodic {
                        0
                    } else {
                        i
                    }
                }
                (false, 0) => {
                    if periodic {
                        n - 1
                    } else {
                        0
                    }
                }
                (false, i) => i - 1,
            }
        };
        let mut limit = f64::INFINITY;
        for jy in 0..ny {
            let y = gy.center(jy);
            let (jm, jp) = (nb(jy, ny, false), nb(jy, ny, true));
            for ix in 0..nx {
                let x = gx.center(ix);
                let (im, ip) = (nb(ix, nx, false), nb(ix, nx, true));
                let c = j[jy * nx + ix];
                let (pxm, pxp) = ((c - j[jy * nx + im]) / hx, (j[jy * nx + ip] - c) / hx);
                let (pym, pyp) = ((c - j[jm * nx + ix]) / hy, (j[jp * nx + ix] - c) / hy);
                let [bx, by] = drift(t, x, y);
                let vpot = potential(t, x, y);
                if !(bx.is_finite() && by.is_finite() && vpot.is_finite()) {
                    return Err(PdeError::NonFinite {
                        what: "HJB drift or potential",
                        index: jy * nx + ix,
                        value: if !bx.is_finite() {
                            bx
                        } else if !by.is_finite() {
                            by
                        } else {
                            vpot
                        },
                    });
                }
                let (vx, hamx) = minimise(bx, pxm, pxp);
                let (vy, hamy) = minimise(by, pym, pyp);
                limit = limit
                    .min(1.0 / (vx.abs() / hx + d / (hx * hx) + vy.abs() / hy + d / (hy * hy)));
                let lap = (pxp - pxm) / hx + (pyp - pym) / hy;
                self.next[jy * nx + ix] = c + dt * (hamx + hamy + 0.5 * d * lap + vpot);
                self.control[jy * nx + ix] = [vx - bx, vy - by];
            }
        }
        accept_step("explicit monotone HJB (2-D)", dt, limit, &self.next, j)
    }

    /// Integrate back from `t1` to `t0 < t1` in `n_steps` equal steps.
    pub fn solve_back(
        &mut self,
        j: &mut [f64],
        t1: f64,
        t0: f64,
        n_steps: usize,
        drift: &impl Fn(f64, f64, f64) -> [f64; 2],
        potential: &impl Fn(f64, f64, f64) -> f64,
    ) -> Result<()> {
        march_back(t1, t0, n_steps, |t, dt| {
            self.step_back(j, t, dt, drift, potential)
        })
    }
}
