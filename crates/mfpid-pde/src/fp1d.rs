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
//! precomputed face velocities per time (e.g. a drift known only on the grid).

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, check_positive, PdeError, Result};
use crate::flux::{add_apply, assemble_line};
use crate::grid::{Boundary, Grid1d};
use crate::tridiag::{solve_shifted, solve_shifted_cyclic};

/// Implicit time-stepping scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeScheme {
    /// First order, L-stable, unconditionally positivity preserving.
    BackwardEuler,
    /// Second order (theta = 1/2), A-stable; positive for `dt <= positivity_dt_limit`.
    CrankNicolson,
    /// Second order, L-stable one-step TR-BDF2 (gamma = 2 - sqrt 2).
    TrBdf2,
}

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

/// Zero drift (pure diffusion).
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
            return Err(PdeError::SizeMismatch {
                what: "FaceTable times",
                expected: 1,
                got: 0,
            });
        }
        check_finite("FaceTable times", &times)?;
        if let Some(k) = times.windows(2).position(|w| w[1] <= w[0]) {
            return Err(PdeError::InvalidParameter {
                name: "FaceTable times",
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

/// A killing rate / potential `V(t, x)` evaluated at cell centres.
pub type Potential<'a> = &'a dyn Fn(f64, f64) -> f64;

/// Shared engine for forward (Fokker-Planck, `A = L - V`) and backward (Kolmogorov, `A = L^T - V`)
/// three-point evolutions with implicit steps. All scratch is allocated once.
#[derive(Debug, Clone)]
pub(crate) struct Engine1d {
    pub(crate) grid: Grid1d,
    pub(crate) eps: f64,
    pub(crate) bc: Boundary,
    pub(crate) scheme: TimeScheme,
    pub(crate) max_peclet: Option<f64>,
    faces: Vec<f64>,
    centers: Vec<f64>,
    pub(crate) b: Vec<f64>,
    ops: [[Vec<f64>; 4]; 2],
    rhs: Vec<f64>,
    cp: Vec<f64>,
    z: Vec<f64>,
    stage: Vec<f64>,
}

const GAMMA: f64 = 2.0 - std::f64::consts::SQRT_2;

impl Engine1d {
    pub(crate) fn new(
        grid: Grid1d,
        diffusion: f64,
        bc: Boundary,
        scheme: TimeScheme,
        max_peclet: Option<f64>,
    ) -> Result<Self> {
        check_positive("diffusion", diffusion)?;
        if let Some(l) = max_peclet {
            check_positive("max_peclet", l)?;
        }
        if let Boundary::Dirichlet { left, right } = bc {
            check_finite("Dirichlet values", &[left, right])?;
        }
        let n = grid.n();
        let v = || vec![0.0; n];
        Ok(Self {
            grid,
            eps: 0.5 * diffusion,
            bc,
            scheme,
            max_peclet,
            faces: grid.faces(),
            centers: grid.centers(),
            b: vec![0.0; n + 1],
            ops: [[v(), v(), v(), v()], [v(), v(), v(), v()]],
            rhs: v(),
            cp: v(),
            z: v(),
            stage: v(),
        })
    }

    /// Assemble operator set `which` at time `t`.
    fn assemble(
        &mut self,
        which: usize,
        t: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        drift.face_velocities(t, &self.faces, &mut self.b)?;
        check_finite("face velocity", &self.b)?;
        let h = self.grid.h();
        let [lo, di, up, src] = &mut self.ops[which];
        assemble_line(
            &self.b,
            self.eps,
            h,
            self.bc,
            self.max_peclet,
            lo,
            di,
            up,
            src,
        )?;
        let n = di.len();
        if transpose {
            self.cp.copy_from_slice(up);
            // (L^T)_{i,i+1} = L_{i+1,i}, (L^T)_{i,i-1} = L_{i-1,i} (indices mod n)
            for (i, u) in up.iter_mut().enumerate() {
                *u = lo[(i + 1) % n];
            }
            for (i, l) in lo.iter_mut().enumerate() {
                *l = self.cp[(i + n - 1) % n];
            }
        }
        if let Some(v) = kill {
            for (i, d) in di.iter_mut().enumerate() {
                let vi = v(t, self.centers[i]);
                if !vi.is_finite() {
                    return Err(PdeError::NonFinite {
                        what: "potential V(t, x)",
                        index: i,
                        value: vi,
                    });
                }
                *d -= vi;
            }
        }
        Ok(())
    }

    fn solve_implicit(&mut self, c: f64, x: &mut [f64]) {
        let [lo, di, up, _] = &self.ops[1];
        if self.bc == Boundary::Periodic {
            solve_shifted_cyclic(c, lo, di, up, x, &mut self.cp, &mut self.z);
        } else {
            solve_shifted(c, lo, di, up, x, &mut self.cp);
        }
    }

    /// One theta step `(I - theta dt A(t_imp)) x_new = x + (1 - theta) dt A(t_exp) x` (+ sources).
    #[allow(clippy::too_many_arguments)]
    fn theta_step(
        &mut self,
        x: &mut [f64],
        theta: f64,
        dt: f64,
        t_exp: f64,
        t_imp: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        self.rhs.copy_from_slice(x);
        // a time-independent operator is assembled once and used for both halves
        let frozen = kill.is_none() && drift.time_independent();
        if frozen {
            self.assemble(1, t_imp, drift, kill, transpose)?;
        }
        if theta < 1.0 {
            let which = if frozen {
                1
            } else {
                self.assemble(0, t_exp, drift, kill, transpose)?;
                0
            };
            let [lo, di, up, src] = &self.ops[which];
            add_apply((1.0 - theta) * dt, lo, di, up, src, x, &mut self.rhs);
        }
        if !frozen {
            self.assemble(1, t_imp, drift, kill, transpose)?;
        }
        for (r, s) in self.rhs.iter_mut().zip(&self.ops[1][3]) {
            *r += theta * dt * s;
        }
        x.copy_from_slice(&self.rhs);
        self.solve_implicit(theta * dt, x);
        Ok(())
    }

    /// Advance `x` from `t_from` by `dt > 0` towards `t_to = t_from ± dt` with the configured scheme.
    pub(crate) fn step(
        &mut self,
        x: &mut [f64],
        t_from: f64,
        t_to: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        check_len("state", x.len(), self.grid.n())?;
        let dt = (t_to - t_from).abs();
        check_positive("dt", dt)?;
        match self.scheme {
            TimeScheme::BackwardEuler => {
                self.theta_step(x, 1.0, dt, t_from, t_to, drift, kill, transpose)
            }
            TimeScheme::CrankNicolson => {
                self.theta_step(x, 0.5, dt, t_from, t_to, drift, kill, transpose)
            }
            TimeScheme::TrBdf2 => {
                let t_mid = t_from + GAMMA * (t_to - t_from);
                self.stage.copy_from_slice(x);
                self.theta_step(x, 0.5, GAMMA * dt, t_from, t_mid, drift, kill, transpose)?;
                let w = 1.0 / (GAMMA * (2.0 - GAMMA));
                let w0 = (1.0 - GAMMA) * (1.0 - GAMMA) * w;
                let c = (1.0 - GAMMA) / (2.0 - GAMMA) * dt;
                if !(kill.is_none() && drift.time_independent()) {
                    self.assemble(1, t_to, drift, kill, transpose)?;
                }
                for ((xi, si), src) in x.iter_mut().zip(&self.stage).zip(&self.ops[1][3]) {
                    *xi = w * *xi - w0 * si + c * src;
                }
                self.solve_implicit(c, x);
                Ok(())
            }
        }
    }

    /// Largest `dt` for which the explicit half of CN / TR-BDF2 has non-negative coefficients
    /// with the operator at time `t`: `dt <= 1 / ((1 - theta) max_i |A_ii|)`.
    pub(crate) fn positivity_dt_limit(
        &mut self,
        t: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<f64> {
        self.assemble(0, t, drift, kill, transpose)?;
        let dmax = self.ops[0][1].iter().fold(0.0f64, |m, d| m.max(d.abs()));
        Ok(match self.scheme {
            TimeScheme::BackwardEuler => f64::INFINITY,
            TimeScheme::CrankNicolson => 2.0 / dmax,
            TimeScheme::TrBdf2 => 2.0 / (GAMMA * dmax),
        })
    }
}

/// Configuration of [`FokkerPlanck1d`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FpConfig {
    /// Diffusion coefficient `D > 0` of `dx = b dt + sqrt(D) dW` (the PDE has `(D/2) p''`).
    pub diffusion: f64,
    /// Wall condition.
    pub boundary: Boundary,
    /// Time integrator.
    pub scheme: TimeScheme,
    /// Optional bound on the cell Péclet number `|b| h / (D/2)`; a step whose drift exceeds it
    /// fails with [`PdeError::GridTooCoarse`]. `None`: no bound (the SG flux is stable for any
    /// Péclet number but degrades to first-order upwinding when it is large).
    pub max_peclet: Option<f64>,
}

impl Default for FpConfig {
    fn default() -> Self {
        Self {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::CrankNicolson,
            max_peclet: None,
        }
    }
}

/// Implicit finite-volume Fokker-Planck solver on a 1-D grid (see the module docs).
#[derive(Debug, Clone)]
pub struct FokkerPlanck1d {
    engine: Engine1d,
}

impl FokkerPlanck1d {
    /// Validate the configuration and allocate all scratch.
    pub fn new(grid: Grid1d, config: FpConfig) -> Result<Self> {
        Ok(Self {
            engine: Engine1d::new(
                grid,
                config.diffusion,
                config.boundary,
                config.scheme,
                config.max_peclet,
            )?,
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
        let dt = uniform_dt(t0, t1, n_steps)?;
        for k in 0..n_steps {
            let t = t0 + k as f64 * dt;
            self.engine
                .step(p, t, t0 + (k + 1) as f64 * dt, drift, None, false)?;
        }
        Ok(())
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
        for f in 1..n {
            out[f] = crate::flux::sg_flux(b_faces[f], eps, h, p[f - 1], p[f]);
        }
        match self.engine.bc {
            Boundary::ZeroFlux => {
                out[0] = 0.0;
                out[n] = 0.0;
            }
            Boundary::Periodic => {
                out[0] = crate::flux::sg_flux(b_faces[0], eps, h, p[n - 1], p[0]);
                out[n] = out[0];
            }
            Boundary::Dirichlet { left, right } => {
                out[0] = crate::flux::sg_flux(b_faces[0], eps, 0.5 * h, left, p[0]);
                out[n] = crate::flux::sg_flux(b_faces[n], eps, 0.5 * h, p[n - 1], right);
            }
        }
        Ok(())
    }

    /// Largest step for which the configured scheme provably keeps `p >= 0` with the drift at
    /// time `t` (infinite for backward Euler).
    pub fn positivity_dt_limit(&mut self, t: f64, drift: &(impl Drift1d + ?Sized)) -> Result<f64> {
        self.engine.positivity_dt_limit(t, drift, None, false)
    }
}

/// `dt = (t1 - t0) / n_steps` after validation (`t1 > t0`, `n_steps >= 1`).
pub(crate) fn uniform_dt(t0: f64, t1: f64, n_steps: usize) -> Result<f64> {
    check_finite("time interval", &[t0, t1])?;
    if n_steps == 0 {
        return Err(PdeError::InvalidParameter {
            name: "n_steps",
            value: 0.0,
            reason: "must be >= 1",
        });
    }
    let dt = (t1 - t0) / n_steps as f64;
    check_positive("t1 - t0", t1 - t0)?;
    Ok(dt)
}

/// Cell Péclet number `|b| h / (D/2)` at each face, for diagnosing accuracy of the fitted flux.
pub fn cell_peclet(grid: &Grid1d, diffusion: f64, b_faces: &[f64]) -> Vec<f64> {
    let k = grid.h() / (0.5 * diffusion);
    b_faces.iter().map(|b| (b * k).abs()).collect()
}
