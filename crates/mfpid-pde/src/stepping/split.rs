//! Split-implicit steps on a 2-D grid: each step is a sequence of implicit sweeps along `x` lines
//! and `y` lines, each sweep being the line step of [`super::line`] with half of the potential
//! (Lie: `x` then `y`; Strang: `x` half step, `y` step, `x` half step). The backward (adjoint)
//! step applies the transposed sweeps in reverse order, so for time-independent coefficients it
//! is the exact transpose of the forward step.
//!
//! The `y` sweeps run on a transposed copy so that every line is contiguous; lines are processed
//! in parallel blocks (rayon), each block owning preallocated scratch: no allocation per step.

use rayon::prelude::*;

use crate::drift::{Drift1d, Drift2d, Potential2d};
use crate::error::{check_finite, check_len, check_positive, PdeError, Result};
use crate::grid::{Boundary, Grid1d, Grid2d};

use super::line::LineStepper;
use super::{FpConfig, FpConfig2d, Splitting, TimeScheme, TRBDF2_GAMMA};

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
    engines: Vec<LineStepper>,
    faces: [Vec<f64>; 3],
    /// Coordinate of each line along the other axis.
    other: Vec<f64>,
}

impl Sweeper {
    fn new(axis: &Grid1d, other_axis: &Grid1d, n_lines: usize, line: &FpConfig) -> Result<Self> {
        let len = axis.n();
        let lines_per_block = n_lines.div_ceil(64).max(1);
        let n_blocks = n_lines.div_ceil(lines_per_block);
        let engines = (0..n_blocks)
            .map(|_| LineStepper::new(*axis, line))
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
                let g = TRBDF2_GAMMA;
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

/// Split-implicit stepper on a 2-D grid (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct SplitStepper {
    pub(crate) grid: Grid2d,
    splitting: Splitting,
    sx: Sweeper,
    sy: Sweeper,
    transposed: Vec<f64>,
}

impl SplitStepper {
    /// Validate and allocate all scratch (a few grid-sized buffers; none is allocated per step).
    pub(crate) fn new(grid: Grid2d, config: FpConfig2d) -> Result<Self> {
        if matches!(config.boundary, Boundary::Dirichlet { .. }) {
            return Err(PdeError::OutOfRange {
                what: "boundary",
                value: f64::NAN,
                reason: "2-D solvers support ZeroFlux and Periodic walls",
            });
        }
        let (nx, ny) = (grid.x().n(), grid.y().n());
        let line = FpConfig {
            diffusion: config.diffusion,
            boundary: config.boundary,
            scheme: config.scheme,
            max_peclet: None,
        };
        Ok(Self {
            grid,
            splitting: config.splitting,
            sx: Sweeper::new(grid.x(), grid.y(), ny, &line)?,
            sy: Sweeper::new(grid.y(), grid.x(), nx, &line)?,
            transposed: vec![0.0; nx * ny],
        })
    }

    /// Sweep every `x` line (`along_x`) or every `y` line of `p` from `t0` to `t1`.
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &mut self,
        along_x: bool,
        p: &mut [f64],
        t0: f64,
        t1: f64,
        drift: &(impl Drift2d + ?Sized),
        kill: Option<Potential2d<'_>>,
        transpose: bool,
    ) -> Result<()> {
        let grid = self.grid;
        let frozen = drift.time_independent();
        if along_x {
            return self
                .sx
                .sweep(p, t0, t1, frozen, kill, true, transpose, |t, out| {
                    drift.x_face_velocities(t, &grid, out)
                });
        }
        let (nx, ny) = (grid.x().n(), grid.y().n());
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

    /// One split step from `t_from` to `t_to` (either direction); `transpose` selects the
    /// backward (adjoint) step, whose sweeps run in reverse order.
    pub(crate) fn advance(
        &mut self,
        p: &mut [f64],
        t_from: f64,
        t_to: f64,
        drift: &(impl Drift2d + ?Sized),
        kill: Option<Potential2d<'_>>,
        transpose: bool,
    ) -> Result<()> {
        const X: bool = true;
        const Y: bool = false;
        check_len("state", p.len(), self.grid.len())?;
        check_positive("dt", (t_to - t_from).abs())?;
        match (self.splitting, transpose) {
            (Splitting::Lie, false) => {
                self.sweep(X, p, t_from, t_to, drift, kill, false)?;
                self.sweep(Y, p, t_from, t_to, drift, kill, false)
            }
            (Splitting::Lie, true) => {
                self.sweep(Y, p, t_from, t_to, drift, kill, true)?;
                self.sweep(X, p, t_from, t_to, drift, kill, true)
            }
            (Splitting::Strang, tr) => {
                let tm = 0.5 * (t_from + t_to);
                self.sweep(X, p, t_from, tm, drift, kill, tr)?;
                self.sweep(Y, p, t_from, t_to, drift, kill, tr)?;
                self.sweep(X, p, tm, t_to, drift, kill, tr)
            }
        }
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
