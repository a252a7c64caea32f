//! Nonlinear Hamilton-Jacobi-Bellman equation on a 1-D grid,
//! `-dJ/dt = b(t,x) J' - (1/2) |J'|^2 + (D/2) J'' + V(t,x)`, integrated backward from `J(t1, .)`,
//! with the optimal feedback `u = -J'`.
//!
//! Monotone explicit scheme (a Markov-chain approximation): the Hamiltonian is written as a
//! minimum over controls, `b p - p^2/2 = min_v [v p + (v - b)^2 / 2]` (`v = b + u` the controlled
//! velocity), and each candidate velocity is upwinded,
//! `H(p-, p+) = min_v [max(v,0) p+ + min(v,0) p- + (v - b)^2 / 2]`, minimised in closed form
//! (candidates `v = b - p+ > 0`, `v = b - p- < 0`, `v = 0`). With
//! `dt <= 1 / (|v_i| / h + D / h^2)` at every cell the update is a convex combination of
//! neighbouring values (monotone, hence convergent to the viscosity solution); a longer step is
//! refused with [`PdeError::CflViolated`] stating the limit. Walls: zero-flux (Neumann `J' = 0`)
//! or periodic. With `D = 1`, `J = -log phi` links it to [`crate::kolmogorov`] (Cole-Hopf).

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, check_positive, PdeError, Result};
use crate::grid::{Boundary, Grid1d};

/// Configuration of [`Hjb1d`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HjbConfig {
    /// Diffusion coefficient `D > 0` (the PDE has `(D/2) J''`).
    pub diffusion: f64,
    /// [`Boundary::ZeroFlux`] (Neumann) or [`Boundary::Periodic`].
    pub boundary: Boundary,
}

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
        let periodic = match config.boundary {
            Boundary::ZeroFlux => false,
            Boundary::Periodic => true,
            Boundary::Dirichlet { .. } => {
                return Err(PdeError::InvalidParameter {
                    name: "boundary",
                    value: f64::NAN,
                    reason: "HJB supports ZeroFlux (Neumann) and Periodic walls",
                })
            }
        };
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

/// Accept an explicit step: fail with the CFL bound if `dt > limit`, check `next` for finiteness,
/// and copy it into `j`.
fn accept_step(
    scheme: &'static str,
    dt: f64,
    limit: f64,
    next: &[f64],
    j: &mut [f64],
) -> Result<()> {
    if dt > limit {
        return Err(PdeError::CflViolated {
            scheme,
            dt,
            limit,
            min_steps: (dt / limit).ceil() as usize,
        });
    }
    check_finite("J", next)?;
    j.copy_from_slice(next);
    Ok(())
}

/// `n_steps` equal steps `step(t, dt)` from `t1` back to `t0`; a CFL violation is reported with
/// `min_steps` for the whole interval.
fn march_back(
    t1: f64,
    t0: f64,
    n_steps: usize,
    mut step: impl FnMut(f64, f64) -> Result<()>,
) -> Result<()> {
    let dt = crate::fp1d::uniform_dt(t0, t1, n_steps)?;
    for k in 0..n_steps {
        let t = t1 - k as f64 * dt;
        step(t, dt).map_err(|e| match e {
            PdeError::CflViolated { scheme, limit, .. } => PdeError::CflViolated {
                scheme,
                dt,
                limit,
                min_steps: ((t1 - t0) / limit).ceil() as usize,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// `argmin_v` and `min_v` of `max(v,0) p+ + min(v,0) p- + (v - b)^2 / 2`.
fn minimise(b: f64, pm: f64, pp: f64) -> (f64, f64) {
    let mut best = (0.0, 0.5 * b * b);
    let v1 = b - pp;
    if v1 > 0.0 {
        let val = v1 * pp + 0.5 * pp * pp;
        if val < best.1 {
            best = (v1, val);
        }
    }
    let v2 = b - pm;
    if v2 < 0.0 {
        let val = v2 * pm + 0.5 * pm * pm;
        if val < best.1 {
            best = (v2, val);
        }
    }
    best
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

/// Explicit monotone HJB solver on a 2-D grid,
/// `-dJ/dt = b . grad J - |grad J|^2 / 2 + (D/2) Laplacian J + V`. The Hamiltonian splits over the
/// axes (`|u|^2/2 = u_x^2/2 + u_y^2/2`), so each axis uses the 1-D upwind minimisation; the step
/// is monotone for `dt <= 1 / sum_axes (|v_a| / h_a + D / h_a^2)` and refused beyond it with
/// [`PdeError::CflViolated`]. Arrays are row-major (`x` fastest).
#[derive(Debug, Clone)]
pub struct Hjb2d {
    grid: crate::grid::Grid2d,
    diffusion: f64,
    periodic: bool,
    next: Vec<f64>,
    control: Vec<[f64; 2]>,
}

impl Hjb2d {
    /// Validate and allocate (walls: zero-flux/Neumann or periodic on all sides).
    pub fn new(grid: crate::grid::Grid2d, config: HjbConfig) -> Result<Self> {
        check_positive("diffusion", config.diffusion)?;
        let periodic = match config.boundary {
            Boundary::ZeroFlux => false,
            Boundary::Periodic => true,
            Boundary::Dirichlet { .. } => {
                return Err(PdeError::InvalidParameter {
                    name: "boundary",
                    value: f64::NAN,
                    reason: "HJB supports ZeroFlux (Neumann) and Periodic walls",
                })
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimiser_matches_hamiltonian_on_smooth_data() {
        for (b, p) in [(0.3, 1.2), (-0.5, 0.2), (0.0, -2.0), (1.0, 1.0)] {
            let (v, h) = minimise(b, p, p);
            assert!((h - (b * p - 0.5 * p * p)).abs() < 1e-14);
            assert!((v - (b - p)).abs() < 1e-14 || (b - p == 0.0 && v == 0.0));
        }
    }
}
