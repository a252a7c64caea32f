//! Two-dimensional Fokker-Planck solver
//! `dp/dt = -d/dx (b_x p) - d/dy (b_y p) + (D/2) (p_xx + p_yy)` on a [`Grid2d`].
//!
//! Locally one-dimensional (LOD/ADI-type) operator splitting: each time step is a sequence of
//! implicit sweeps along `x` lines and `y` lines, each sweep being the 1-D scheme of
//! [`crate::fp1d`] (Scharfetter-Gummel fluxes, tridiagonal or cyclic solves). Therefore
//! - mass is conserved to rounding (every sweep conserves it),
//! - with backward-Euler sweeps `p >= 0` for any step,
//! - a Gibbs state of a gradient drift built by [`FaceField2d::from_potential`] is an exact fixed
//!   point (each directional flux vanishes on it),
//! - [`Splitting::Lie`] is first order in time, [`Splitting::Strang`] (x half-step, y step,
//!   x half-step) second order with Crank-Nicolson or TR-BDF2 sweeps.
//!
//! The `y` sweeps run on a transposed copy so that every line is contiguous; lines are processed
//! in parallel blocks (rayon), each block owning preallocated scratch: no allocation per step.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, PdeError, Result};
use crate::fp1d::{Drift1d, Engine1d, TimeScheme};
use crate::grid::{Boundary, Grid2d};

/// A 2-D drift evaluated at cell faces.
///
/// Layouts: `x` faces are stored per row `j` as `out[j * (nx + 1) + f]`, `f = 0..=nx` (face `f` is
/// the left face of cell `(f, j)`, at `(x_lo + f hx, y_j)`); `y` faces per column `i` as
/// `out[i * (ny + 1) + f]`, `f = 0..=ny` (at `(x_i, y_lo + f hy)`).
pub trait Drift2d: Sync {
    /// Write `b_x(t, .)` at every `x` face.
    fn x_face_velocities(&self, t: f64, grid: &Grid2d, out: &mut [f64]) -> Result<()>;
    /// Write `b_y(t, .)` at every `y` face.
    fn y_face_velocities(&self, t: f64, grid: &Grid2d, out: &mut [f64]) -> Result<()>;
    /// Whether the drift does not depend on `t` (lets the solver evaluate it once).
    fn time_independent(&self) -> bool {
        false
    }
}

impl<F: Fn(f64, f64, f64) -> [f64; 2] + Sync> Drift2d for F {
    fn x_face_velocities(&self, t: f64, grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        let (gx, gy) = (grid.x(), grid.y());
        let nf = gx.n() + 1;
        for j in 0..gy.n() {
            let y = gy.center(j);
            for f in 0..nf {
                out[j * nf + f] = self(t, gx.face(f), y)[0];
            }
        }
        Ok(())
    }
    fn y_face_velocities(&self, t: f64, grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        let (gx, gy) = (grid.x(), grid.y());
        let nf = gy.n() + 1;
        for i in 0..gx.n() {
            let x = gx.center(i);
            for f in 0..nf {
                out[i * nf + f] = self(t, x, gy.face(f))[1];
            }
        }
        Ok(())
    }
}

/// A time-independent drift given by its face velocities (layouts as in [`Drift2d`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceField2d {
    bx: Vec<f64>,
    by: Vec<f64>,
}

impl FaceField2d {
    /// Validate the lengths `(nx + 1) ny` and `nx (ny + 1)` and finiteness.
    pub fn new(grid: &Grid2d, bx: Vec<f64>, by: Vec<f64>) -> Result<Self> {
        let (nx, ny) = (grid.x().n(), grid.y().n());
        check_len("bx", bx.len(), (nx + 1) * ny)?;
        check_len("by", by.len(), nx * (ny + 1))?;
        check_finite("bx", &bx)?;
        check_finite("by", &by)?;
        Ok(Self { bx, by })
    }

    /// Gradient drift `b = -grad U` with face values `-(U(right) - U(left)) / h` across each face;
    /// its discrete Gibbs state `exp(-2U/D)` at the cell centres is an exact stationary state.
    pub fn from_potential(grid: &Grid2d, u: impl Fn(f64, f64) -> f64) -> Result<Self> {
        let (gx, gy) = (grid.x(), grid.y());
        let (hx, hy) = (gx.h(), gy.h());
        let mut bx = Vec::with_capacity((gx.n() + 1) * gy.n());
        for j in 0..gy.n() {
            let y = gy.center(j);
            for f in 0..=gx.n() {
                let x = gx.face(f);
                bx.push(-(u(x + 0.5 * hx, y) - u(x - 0.5 * hx, y)) / hx);
            }
        }
        let mut by = Vec::with_capacity(gx.n() * (gy.n() + 1));
        for i in 0..gx.n() {
            let x = gx.center(i);
            for f in 0..=gy.n() {
                let y = gy.face(f);
                by.push(-(u(x, y + 0.5 * hy) - u(x, y - 0.5 * hy)) / hy);
            }
        }
        Self::new(grid, bx, by)
    }
}

impl Drift2d for FaceField2d {
    fn x_face_velocities(&self, _t: f64, _grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        check_len("x faces", out.len(), self.bx.len())?;
        out.copy_from_slice(&self.bx);
        Ok(())
    }
    fn y_face_velocities(&self, _t: f64, _grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        check_len("y faces", out.len(), self.by.len())?;
        out.copy_from_slice(&self.by);
        Ok(())
    }
    fn time_independent(&self) -> bool {
        true
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

/// Configuration of [`FokkerPlanck2d`].
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

/// Face rows of one line at up to three times; answers the engine's drift queries by the
/// nearest tabulated time.
struct LineRows<'a> {
    times: [f64; 3],
    rows: [&'a [f64]; 3],
    count: usize,
}

impl Drift1d for LineRows<'_> {
    fn time_independent(&self) -> bool {
        self.count == 1
    }
    fn face_velocities(&self, t: f64, _faces: &[f64], out: &mut [f64]) -> Result<()> {
        let mut best = 0;
        for k in 1..self.count {
            if (self.times[k] - t).abs() < (self.times[best] - t).abs() {
                best = k;
            }
        }
        out.copy_from_slice(self.rows[best]);
        Ok(())
    }
}

/// Sweeps along one direction: scratch engines (one per block of lines) and face buffers.
#[derive(Debug, Clone)]
struct Sweeper {
    len: usize,
    n_lines: usize,
    lines_per_block: usize,
    engines: Vec<Engine1d>,
    faces: [Vec<f64>; 3],
    /// Coordinate of each line along the other axis.
    other: Vec<f64>,
}

/// A 2-D potential `V(t, x, y)` at cell centres (killing rate / Feynman-Kac potential).
pub type Potential2d<'a> = &'a (dyn Fn(f64, f64, f64) -> f64 + Sync);

impl Sweeper {
    fn new(
        axis: &crate::grid::Grid1d,
        other_axis: &crate::grid::Grid1d,
        n_lines: usize,
        diffusion: f64,
        bc: Boundary,
        scheme: TimeScheme,
    ) -> Result<Self> {
        let len = axis.n();
        let lines_per_block = n_lines.div_ceil(64).max(1);
        let n_blocks = n_lines.div_ceil(lines_per_block);
        let engines = (0..n_blocks)
            .map(|_| Engine1d::new(*axis, diffusion, bc, scheme, None))
            .collect::<Result<Vec<_>>>()?;
        let nf = n_lines * (len + 1);
        Ok(Self {
            len,
            n_lines,
            lines_per_block,
            engines,
            faces: [vec![0.0; nf], vec![0.0; nf], vec![0.0; nf]],
            other: other_axis.centers(),
        })
    }

    /// Times at which a sweep from `t0` to `t1` queries the drift.
    fn query_times(scheme: TimeScheme, t0: f64, t1: f64) -> ([f64; 3], usize) {
        match scheme {
            TimeScheme::BackwardEuler => ([t1, t1, t1], 1),
            TimeScheme::CrankNicolson => ([t0, t1, t1], 2),
            TimeScheme::TrBdf2 => {
                let g = 2.0 - std::f64::consts::SQRT_2;
                ([t0, t0 + g * (t1 - t0), t1], 3)
            }
        }
    }

    /// Advance every line of `data` (`n_lines x len`, contiguous lines) from `t0` to `t1`, with
    /// face velocities for time `s` produced by `fill(s, buffer)`; half of the potential acts in
    /// each direction; `transpose` selects the backward (adjoint) operator.
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &mut self,
        data: &mut [f64],
        t0: f64,
        t1: f64,
        const_faces: bool,
        kill: Option<Potential2d<'_>>,
        along_x: bool,
        transpose: bool,
        mut fill: impl FnMut(f64, &mut [f64]) -> Result<()>,
    ) -> Result<()> {
        let scheme = self.engines[0].scheme;
        let (times, count) = Self::query_times(scheme, t0, t1);
        // a time-independent drift is evaluated once and shared by all query times
        let n_fill = if const_faces { 1 } else { count };
        for (t, buf) in times.iter().zip(self.faces.iter_mut()).take(n_fill) {
            fill(*t, buf)?;
            check_finite("face velocity", buf)?;
        }
        let (len, lpb) = (self.len, self.lines_per_block);
        let nf = len + 1;
        let [f0, f1, f2] = &self.faces;
        let (f1, f2) = if const_faces { (f0, f0) } else { (f1, f2) };
        let count = if const_faces { 1 } else { count };
        debug_assert_eq!(data.len(), self.n_lines * len);
        let other = &self.other;
        data.par_chunks_mut(lpb * len)
            .zip(self.engines.par_iter_mut())
            .enumerate()
            .try_for_each(|(blk, (chunk, engine))| -> Result<()> {
                for (l, line) in chunk.chunks_mut(len).enumerate() {
                    let g = (blk * lpb + l) * nf;
                    let rows = LineRows {
                        times,
                        rows: [&f0[g..g + nf], &f1[g..g + nf], &f2[g..g + nf]],
                        count,
                    };
                    match kill {
                        Some(v) => {
                            let c = other[blk * lpb + l];
                            let half = move |t: f64, s: f64| {
                                0.5 * if along_x { v(t, s, c) } else { v(t, c, s) }
                            };
                            engine.step(line, t0, t1, &rows, Some(&half), transpose)?;
                        }
                        None => engine.step(line, t0, t1, &rows, None, transpose)?,
                    }
                }
                Ok(())
            })
    }
}

/// Split-implicit Fokker-Planck solver on a 2-D grid (see the module docs).
#[derive(Debug, Clone)]
pub struct FokkerPlanck2d {
    grid: Grid2d,
    splitting: Splitting,
    sx: Sweeper,
    sy: Sweeper,
    transposed: Vec<f64>,
}

impl FokkerPlanck2d {
    /// Validate and allocate all scratch (a few grid-sized buffers; none is allocated per step).
    pub fn new(grid: Grid2d, config: FpConfig2d) -> Result<Self> {
        if matches!(config.boundary, Boundary::Dirichlet { .. }) {
            return Err(PdeError::InvalidParameter {
                name: "boundary",
                value: f64::NAN,
                reason: "2-D solvers support ZeroFlux and Periodic walls",
            });
        }
        let (nx, ny) = (grid.x().n(), grid.y().n());
        let (d, bc, sch) = (config.diffusion, config.boundary, config.scheme);
        Ok(Self {
            grid,
            splitting: config.splitting,
            sx: Sweeper::new(grid.x(), grid.y(), ny, d, bc, sch)?,
            sy: Sweeper::new(grid.y(), grid.x(), nx, d, bc, sch)?,
            transposed: vec![0.0; nx * ny],
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid2d {
        &self.grid
    }

    fn sweep_x(
        &mut self,
        p: &mut [f64],
        t0: f64,
        t1: f64,
        drift: &(impl Drift2d + ?Sized),
        kill: Option<Potential2d<'_>>,
        transpose: bool,
    ) -> Result<()> {
        let grid = self.grid;
        let frozen = drift.time_independent();
        self.sx
            .sweep(p, t0, t1, frozen, kill, true, transpose, |t, out| {
                drift.x_face_velocities(t, &grid, out)
            })
    }

    fn sweep_y(
        &mut self,
        p: &mut [f64],
        t0: f64,
        t1: f64,
        drift: &(impl Drift2d + ?Sized),
        kill: Option<Potential2d<'_>>,
        transpose: bool,
    ) -> Result<()> {
        let grid = self.grid;
        let (nx, ny) = (grid.x().n(), grid.y().n());
        let frozen = drift.time_independent();
        transpose_into(p, &mut self.transposed, ny, nx);
        self.sy.sweep(
            &mut self.transposed,
            t0,
            t1,
            frozen,
            kill,
            false,
            transpose,
            |t, out| drift.y_face_velocities(t, &grid, out),
        )?;
        transpose_into(&self.transposed, p, nx, ny);
        Ok(())
    }

    /// One split step from `t_from` to `t_to` (either direction). The backward (adjoint) step
    /// applies the transposed sweeps in reverse order, so it is the exact transpose of the
    /// forward step for time-independent coefficients.
    fn advance(
        &mut self,
        p: &mut [f64],
        t_from: f64,
        t_to: f64,
        drift: &(impl Drift2d + ?Sized),
        kill: Option<Potential2d<'_>>,
        transpose: bool,
    ) -> Result<()> {
        check_len("state", p.len(), self.grid.len())?;
        crate::error::check_positive("dt", (t_to - t_from).abs())?;
        match (self.splitting, transpose) {
            (Splitting::Lie, false) => {
                self.sweep_x(p, t_from, t_to, drift, kill, false)?;
                self.sweep_y(p, t_from, t_to, drift, kill, false)
            }
            (Splitting::Lie, true) => {
                self.sweep_y(p, t_from, t_to, drift, kill, true)?;
                self.sweep_x(p, t_from, t_to, drift, kill, true)
            }
            (Splitting::Strang, tr) => {
                let tm = 0.5 * (t_from + t_to);
                self.sweep_x(p, t_from, tm, drift, kill, tr)?;
                self.sweep_y(p, t_from, t_to, drift, kill, tr)?;
                self.sweep_x(p, tm, t_to, drift, kill, tr)
            }
        }
    }

    /// Advance `p` (row-major `nx * ny`, `x` fastest) from `t` to `t + dt`.
    pub fn step(
        &mut self,
        p: &mut [f64],
        t: f64,
        dt: f64,
        drift: &(impl Drift2d + ?Sized),
    ) -> Result<()> {
        crate::error::check_positive("dt", dt)?;
        self.advance(p, t, t + dt, drift, None, false)
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
        crate::error::check_positive("dt", dt)?;
        self.advance(p, t, t + dt, drift, Some(potential), false)
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
        let dt = crate::fp1d::uniform_dt(t0, t1, n_steps)?;
        for k in 0..n_steps {
            self.advance(
                p,
                t0 + k as f64 * dt,
                t0 + (k + 1) as f64 * dt,
                drift,
                None,
                false,
            )?;
        }
        Ok(())
    }
}

/// Backward Kolmogorov / Feynman-Kac solver on a 2-D grid,
/// `-dphi/dt = b . grad phi + (D/2) Laplacian phi - V phi`, with the transposed sweeps of
/// [`FokkerPlanck2d`] (discrete adjoint; constants preserved when `V = 0`).
#[derive(Debug, Clone)]
pub struct FeynmanKac2d {
    inner: FokkerPlanck2d,
}

impl FeynmanKac2d {
    /// Validate and allocate (same configuration as the forward solver).
    pub fn new(grid: Grid2d, config: FpConfig2d) -> Result<Self> {
        Ok(Self {
            inner: FokkerPlanck2d::new(grid, config)?,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid2d {
        &self.inner.grid
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
        crate::error::check_positive("dt", dt)?;
        self.inner.advance(phi, t, t - dt, drift, potential, true)
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
        let dt = crate::fp1d::uniform_dt(t0, t1, n_steps)?;
        for k in 0..n_steps {
            let t = t1 - k as f64 * dt;
            self.inner
                .advance(phi, t, t1 - (k + 1) as f64 * dt, drift, potential, true)?;
        }
        Ok(())
    }
}

/// Blocked transpose of a `rows x cols` row-major matrix `src` into `dst` (`cols x rows`).
fn transpose_into(src: &[f64], dst: &mut [f64], rows: usize, cols: usize) {
    const B: usize = 32;
    dst.par_chunks_mut(B * rows)
        .enumerate()
        .for_each(|(cb, dchunk)| {
            let c0 = cb * B;
            let c1 = (c0 + B).min(cols);
            for r0 in (0..rows).step_by(B) {
                let r1 = (r0 + B).min(rows);
                for c in c0..c1 {
                    let drow = &mut dchunk[(c - c0) * rows..(c - c0 + 1) * rows];
                    for r in r0..r1 {
                        drow[r] = src[r * cols + c];
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_roundtrip() {
        let (r, c) = (37, 70);
        let a: Vec<f64> = (0..r * c).map(|k| k as f64).collect();
        let mut t = vec![0.0; r * c];
        let mut b = vec![0.0; r * c];
        transpose_into(&a, &mut t, r, c);
        assert_eq!(t[5 * r + 3], a[3 * c + 5]);
        transpose_into(&t, &mut b, c, r);
        assert_eq!(a, b);
    }
}
