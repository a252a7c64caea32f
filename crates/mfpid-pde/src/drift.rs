//! Drifts and potentials as the grid solvers see them: velocities `b(t, .)` at cell faces (where
//! the Scharfetter-Gummel flux of [`crate::flux`] needs them) and killing rates `V(t, .)` at cell
//! centres.
//!
//! - 1-D: [`Drift1d`] (closures `|t, x| b`, [`ZeroDrift`], tabulated [`FaceTable`]),
//!   [`potential_faces`] for gradient drifts `b = -U'`, [`Potential`] `V(t, x)`.
//! - 2-D: [`Drift2d`] (closures `|t, x, y| [b_x, b_y]`, [`FaceField2d`]), [`Potential2d`].

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, PdeError, Result};
use crate::grid::{Grid1d, Grid2d};

/// A drift evaluated at the faces of a 1-D grid.
pub trait Drift1d {
    /// Write the velocity `b(t, x_f)` for every face position in `faces` (length `n + 1`) into
    /// `out` (same length).
    fn face_velocities(&self, t: f64, faces: &[f64], out: &mut [f64]) -> Result<()>;

    /// Whether the velocities do not depend on `t`; lets a step assemble its operator once
    /// instead of once per stage. Defaults to `false`.
    fn time_independent(&self) -> bool {
        false
    }
}

impl<F: Fn(f64, f64) -> f64> Drift1d for F {
    fn face_velocities(&self, t: f64, faces: &[f64], out: &mut [f64]) -> Result<()> {
        for (o, x) in out.iter_mut().zip(faces) {
            *o = self(t, *x);
        }
        Ok(())
    }
}

/// Zero drift (pure diffusion), in 1-D and 2-D.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroDrift;

impl Drift1d for ZeroDrift {
    fn face_velocities(&self, _t: f64, _faces: &[f64], out: &mut [f64]) -> Result<()> {
        out.iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }
    fn time_independent(&self) -> bool {
        true
    }
}

/// Face velocities tabulated at increasing times `t_k` (row `k` holds the `n + 1` face
/// velocities at `t_k`), linearly interpolated in time and held constant outside the table.
/// Tabulating at the solver's step times makes each step use its row exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTable {
    times: Vec<f64>,
    n_faces: usize,
    values: Vec<f64>,
}

impl FaceTable {
    /// Table from strictly increasing `times` and row-major `values` (`times.len() * n_faces`).
    pub fn new(times: Vec<f64>, n_faces: usize, values: Vec<f64>) -> Result<Self> {
        if times.is_empty() {
            return Err(PdeError::DimensionMismatch {
                what: "FaceTable times",
                expected: 1,
                found: 0,
            });
        }
        check_finite("FaceTable times", &times)?;
        if let Some(k) = times.windows(2).position(|w| w[1] <= w[0]) {
            return Err(PdeError::OutOfRange {
                what: "FaceTable times",
                value: times[k + 1],
                reason: "times must be strictly increasing",
            });
        }
        check_len("FaceTable values", values.len(), times.len() * n_faces)?;
        check_finite("FaceTable values", &values)?;
        Ok(Self {
            times,
            n_faces,
            values,
        })
    }

    /// Tabulate a drift that needs mutable access or can fail (e.g. a bridge with internal
    /// caches): `f(t, x)` is called at every face position of `grid` for every time in `times`
    /// (strictly increasing). Tabulating at the solver's step times makes backward-Euler and
    /// Crank-Nicolson steps use the drift exactly at those times.
    pub fn tabulate<E>(
        grid: &Grid1d,
        times: Vec<f64>,
        mut f: impl FnMut(f64, f64) -> std::result::Result<f64, E>,
    ) -> std::result::Result<Self, TabulateError<E>> {
        let faces = grid.faces();
        let mut values = Vec::with_capacity(times.len() * faces.len());
        for &t in &times {
            for &x in &faces {
                values.push(f(t, x).map_err(TabulateError::Drift)?);
            }
        }
        Self::new(times, faces.len(), values).map_err(TabulateError::Table)
    }

    /// A time-independent table (one row of `n + 1` face velocities).
    pub fn constant(values: Vec<f64>) -> Result<Self> {
        let n = values.len();
        Self::new(vec![0.0], n, values)
    }

    /// Number of faces per row.
    pub fn n_faces(&self) -> usize {
        self.n_faces
    }

    /// Row `k` of the table (`None` past the last row).
    pub fn row(&self, k: usize) -> Option<&[f64]> {
        self.values.get(k * self.n_faces..(k + 1) * self.n_faces)
    }

    /// Tabulated times.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    fn row_at(&self, k: usize) -> &[f64] {
        &self.values[k * self.n_faces..(k + 1) * self.n_faces]
    }
}

impl Drift1d for FaceTable {
    fn face_velocities(&self, t: f64, faces: &[f64], out: &mut [f64]) -> Result<()> {
        check_len("FaceTable faces", faces.len(), self.n_faces)?;
        let m = self.times.len();
        let k = self.times.partition_point(|&s| s <= t);
        if k == 0 {
            out.copy_from_slice(self.row_at(0));
        } else if k == m {
            out.copy_from_slice(self.row_at(m - 1));
        } else {
            let (t0, t1) = (self.times[k - 1], self.times[k]);
            let w = (t - t0) / (t1 - t0);
            let (r0, r1) = (self.row_at(k - 1), self.row_at(k));
            for ((o, a), b) in out.iter_mut().zip(r0).zip(r1) {
                *o = (1.0 - w) * a + w * b;
            }
        }
        Ok(())
    }
    fn time_independent(&self) -> bool {
        self.times.len() == 1
    }
}

/// Failure of [`FaceTable::tabulate`]: either the user's drift failed or the table is invalid
/// (non-increasing times, non-finite values).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TabulateError<E> {
    /// The drift closure returned an error.
    #[error("drift evaluation failed: {0}")]
    Drift(E),
    /// The tabulated values were rejected.
    #[error(transparent)]
    Table(#[from] PdeError),
}

/// Face velocities of the gradient drift `b = -U'` discretised as
/// `b_f = -(U(x_f + h/2) - U(x_f - h/2)) / h` at every face `x_f` (`n + 1` values). With these,
/// the Fokker-Planck stationary state is exactly `exp(-2U/D)` sampled at the cell centres.
pub fn potential_faces(grid: &Grid1d, u: impl Fn(f64) -> f64) -> Vec<f64> {
    let h = grid.h();
    (0..=grid.n())
        .map(|f| {
            let x = grid.face(f);
            -(u(x + 0.5 * h) - u(x - 0.5 * h)) / h
        })
        .collect()
}

/// A killing rate / potential `V(t, x)` evaluated at cell centres.
pub type Potential<'a> = &'a dyn Fn(f64, f64) -> f64;

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

impl Drift2d for ZeroDrift {
    fn x_face_velocities(&self, _t: f64, _grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        out.iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }
    fn y_face_velocities(&self, _t: f64, _grid: &Grid2d, out: &mut [f64]) -> Result<()> {
        out.iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }
    fn time_independent(&self) -> bool {
        true
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

/// A 2-D potential `V(t, x, y)` at cell centres (killing rate / Feynman-Kac potential).
pub type Potential2d<'a> = &'a (dyn Fn(f64, f64, f64) -> f64 + Sync);
