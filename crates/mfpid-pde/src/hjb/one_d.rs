//! The HJB equation on a 1-D grid (see [`crate::hjb`] for the scheme) and the feedback
//! `u = -J'` of a value function.

use crate::error::{check_len, check_positive, PdeError, Result};
use crate::grid::Grid1d;

use super::{accept_step, march_back, minimise, periodic_walls, HjbConfig};

/// Explicit monotone HJB solver (see the module docs).
#[derive(Debug, Clone)]
pub struct Hjb1d {
    grid: Grid1d,
    diffusion: f64,
    periodic: bool,
    centers: Vec<f64>,
    next: Vec<f64>,
    control: Vec<f64>,
}

impl Hjb1d {
    /// Validate and allocate.
    pub fn new(grid: Grid1d, config: HjbConfig) -> Result<Self> {
        check_positive("diffusion", config.diffusion)?;
        let periodic = periodic_walls(config.boundary)?;
        let n = grid.n();
        Ok(Self {
            grid,
            diffusion: config.diffusion,
            periodic,
            centers: grid.centers(),
            next: vec![0.0; n],
            control: vec![0.0; n],
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid1d {
        &self.grid
    }

    /// The minimising control `u_i = v_i - b_i` of the last step, at the cell centres (this is
    /// the upwind approximation of `-J'` at the step's later time).
    pub fn last_control(&self) -> &[f64] {
        &self.control
    }

    /// Largest stable step for `j` at time `t`: `min_i 1 / (|v_i| / h + D / h^2)`.
    pub fn cfl_limit(
        &mut self,
        j: &[f64],
        t: f64,
        drift: &impl Fn(f64, f64) -> f64,
    ) -> Result<f64> {
        check_len("J", j.len(), self.grid.n())?;
        let (h, d) = (self.grid.h(), self.diffusion);
        let mut limit = f64::INFINITY;
        for i in 0..j.len() {
            let (pm, pp) = self.one_sided(j, i);
            let b = drift(t, self.centers[i]);
            let (v, _) = minimise(b, pm, pp);
            limit = limit.min(1.0 / (v.abs() / h + d / (h * h)));
        }
        Ok(limit)
    }

    fn one_sided(&self, j: &[f64], i: usize) -> (f64, f64) {
        let n = j.len();
        let h = self.grid.h();
        let left = if i > 0 {
            j[i - 1]
        } else if self.periodic {
            j[n - 1]
        } else {
            j[i]
        };
        let right = if i + 1 < n {
            j[i + 1]
        } else if self.periodic {
            j[0]
        } else {
            j[i]
        };
        ((j[i] - left) / h, (right - j[i]) / h)
    }

    /// One explicit step back from `t` to `t - dt`: `j` holds `J(t)` on entry, `J(t - dt)` on exit.
    /// `drift(t, x)` is `b`, `potential(t, x)` is `V`, both at cell centres.
    pub fn step_back(
        &mut self,
        j: &mut [f64],
        t: f64,
        dt: f64,
        drift: &impl Fn(f64, f64) -> f64,
        potential: &impl Fn(f64, f64) -> f64,
    ) -> Result<()> {
        check_len("J", j.len(), self.grid.n())?;
        check_positive("dt", dt)?;
        let (h, d) = (self.grid.h(), self.diffusion);
        let n = j.len();
        let mut limit = f64::INFINITY;
        for i in 0..n {
            let (pm, pp) = self.one_sided(j, i);
            let x = self.centers[i];
            let b = drift(t, x);
            let vpot = potential(t, x);
            if !(b.is_finite() && vpot.is_finite()) {
                return Err(PdeError::NonFinite {
                    what: "HJB drift or potential",
                    index: i,
                    value: if b.is_finite() { vpot } else { b },
                });
            }
            let (v, ham) = minimise(b, pm, pp);
            limit = limit.min(1.0 / (v.abs() / h + d / (h * h)));
            let lap = (pp - pm) / h;
            self.next[i] = j[i] + dt * (ham + 0.5 * d * lap + vpot);
            self.control[i] = v - b;
        }
        accept_step("explicit monotone HJB", dt, limit, &self.next, j)
    }

    /// Integrate back from `t1` to `t0 < t1` in `n_steps` equal steps (`j`: `J(t1)` in,
    /// `J(t0)` out). On a CFL violation the error's `min_steps` refers to the whole interval.
    pub fn solve_back(
        &mut self,
        j: &mut [f64],
        t1: f64,
        t0: f64,
        n_steps: usize,
        drift: &impl Fn(f64, f64) -> f64,
        potential: &impl Fn(f64, f64) -> f64,
    ) -> Result<()> {
        march_back(t1, t0, n_steps, |t, dt| {
            self.step_back(j, t, dt, drift, potential)
        })
    }
}

/// Feedback `u = -J'` at the cell centres by central differences (one-sided at zero-flux walls,
/// wrapped when `periodic`).
pub fn feedback_control(grid: &Grid1d, j: &[f64], periodic: bool, out: &mut [f64]) -> Result<()> {
    let n = grid.n();
    check_len("J", j.len(), n)?;
    check_len("out", out.len(), n)?;
    let h = grid.h();
    for i in 0..n {
        out[i] = if i == 0 && !periodic {
            -(j[1] - j[0]) / h
        } else if i == n - 1 && !periodic {
            -(j[n - 1] - j[n - 2]) / h
        } else {
            let l = j[(i + n - 1) % n];
            let r = j[(i + 1) % n];
            -(r - l) / (2.0 * h)
        };
    }
    Ok(())
}
