//! Fixed-point iterations `x = F(x)` in the argmin style: a [`FixedPointSolver`] steps an
//! [`IterState`], an [`Executor`] owns the loop (tolerance, iteration cap, observers), and
//! [`IterObserver`]s log or record the residual history without touching the solvers.
//!
//! Two solvers:
//! - [`Picard`]: damped Picard `x_{k+1} = (1 - ζ) x_k + ζ F(x_k)` (default `ζ = 0.5`);
//! - [`Anderson`]: Anderson acceleration (type II, Walker-Ni form) with depth `m`, mixing `β` and
//!   Tikhonov regularisation of the least-squares problem.
//!
//! The map is anything implementing [`FixedPointMap`]; in this crate the centre trajectory `nu` of
//! MF-PID (particles with common random numbers), the density trajectory of the grid solver and the
//! path potentials of the particle solver. Non-convergence is an error carrying the whole residual
//! history ([`MeanFieldError::NotConverged`]), never a silent last iterate.

use mfpid_sde::reduce::reproducible_sum;
use mfpid_sde::rng::RNG_BLOCK;
use mfpid_sde::Communicator;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};

/// A map `F: R^n -> R^n` whose fixed point is sought.
pub trait FixedPointMap {
    /// Length `n` of the iterate.
    fn dim(&self) -> usize;
    /// Write `F(x)` into `out` (both of length [`FixedPointMap::dim`]).
    fn apply(&mut self, x: &[f64], out: &mut [f64]) -> Result<()>;
}

impl<M: FixedPointMap + ?Sized> FixedPointMap for &mut M {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&mut self, x: &[f64], out: &mut [f64]) -> Result<()> {
        (**self).apply(x, out)
    }
}

/// A map given by a closure `f(x, out)`.
pub struct FnMap<F> {
    n: usize,
    f: F,
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> FnMap<F> {
    /// Wrap `f` as a map on `R^n`.
    pub fn new(n: usize, f: F) -> Self {
        Self { n, f }
    }
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> FixedPointMap for FnMap<F> {
    fn dim(&self) -> usize {
        self.n
    }
    fn apply(&mut self, x: &[f64], out: &mut [f64]) -> Result<()> {
        (self.f)(x, out)
    }
}

/// State of a fixed-point iteration after `iter` completed iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterState {
    /// Completed iterations (each costs one evaluation of `F`).
    pub iter: usize,
    /// The current iterate `x_k` (the next one after a step).
    pub x: Vec<f64>,
    /// `F(x_{k-1})`, the map at the previous iterate (empty before the first step).
    pub fx: Vec<f64>,
    /// `max_i |x_k - x_{k-1}|` (infinite before the first step).
    pub step: f64,
    /// Fixed-point residual `max_i |F(x_{k-1}) - x_{k-1}|` (infinite before the first step).
    pub residual: f64,
}

impl IterState {
    /// A state at the starting point `x0`.
    pub fn new(x0: Vec<f64>) -> Self {
        Self {
            iter: 0,
            x: x0,
            fx: Vec::new(),
            step: f64::INFINITY,
            residual: f64::INFINITY,
        }
    }
}

/// One method for stepping an [`IterState`].
pub trait FixedPointSolver {
    /// Short name for logs and tables ("picard", "anderson").
    fn name(&self) -> &'static str;
    /// Reset internal memory for a problem of dimension `n`.
    fn init(&mut self, n: usize) -> Result<()>;
    /// Evaluate `F` at `state.x` through `map` and advance `state` by one iteration: set `fx`,
    /// `residual`, the new `x`, `step`, and increment `iter`.
    fn next_iter(&mut self, map: &mut dyn FixedPointMap, state: &mut IterState) -> Result<()>;
    /// [`FixedPointSolver::next_iter`] for an iterate distributed over the ranks of `comm`: each
    /// rank holds the rows of `x` of its particles (whole blocks of [`RNG_BLOCK`] at global
    /// offsets, as in `mfpid_sde::shard`), `map` is collective, and every global quantity (the
    /// residual and step maxima, inner products) is an exact or reproducible reduction, so the
    /// iterates are bit-identical for any number of ranks (and the same with one rank).
    fn next_iter_on(
        &mut self,
        map: &mut dyn FixedPointMap,
        state: &mut IterState,
        comm: &dyn Communicator,
    ) -> Result<()>;
}

/// `max` over ranks of `[residual or step, non-finite flag]`; a non-finite value on any rank is
/// an error on every rank (no rank may leave the collective loop alone).
fn global_max_checked(
    comm: &dyn Communicator,
    what: &'static str,
    q: f64,
    v: &[f64],
) -> Result<f64> {
    let bad = v.iter().position(|x| !x.is_finite());
    let mut buf = [q, if bad.is_some() { 1.0 } else { 0.0 }];
    comm.all_reduce_max(&mut buf);
    if buf[1] > 0.0 {
        // the local index of the first bad row on the ranks that hold one (NaN elsewhere)
        return Err(MeanFieldError::NonFinite {
            what,
            index: bad.unwrap_or(0),
            value: bad.map_or(f64::NAN, |i| v[i]),
        });
    }
    Ok(buf[0])
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check_mixing(what: &'static str, v: f64) -> Result<()> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(MeanFieldError::OutOfRange {
            what,
            value: v,
            range: "(0, 1]",
        })
    }
}

/// Damped Picard iteration `x_{k+1} = (1 - ζ) x_k + ζ F(x_k)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picard {
    zeta: f64,
}

impl Picard {
    /// Damping `ζ` in `(0, 1]` (`1` = plain Picard).
    pub fn new(zeta: f64) -> Result<Self> {
        check_mixing("zeta", zeta)?;
        Ok(Self { zeta })
    }
    /// The damping `ζ`.
    pub fn zeta(&self) -> f64 {
        self.zeta
    }
}

impl Default for Picard {
    /// `ζ = 0.5`, the damping of the mean-field spec.
    fn default() -> Self {
        Self { zeta: 0.5 }
    }
}

impl FixedPointSolver for Picard {
    fn name(&self) -> &'static str {
        "picard"
    }
    fn init(&mut self, _n: usize) -> Result<()> {
        Ok(())
    }
    fn next_iter(&mut self, map: &mut dyn FixedPointMap, state: &mut IterState) -> Result<()> {
        let n = state.x.len();
        state.fx.resize(n, 0.0);
        map.apply(&state.x, &mut state.fx)?;
        check_finite("F(x)", &state.fx)?;
        state.residual = max_abs_diff(&state.fx, &state.x);
        let z = self.zeta;
        let mut step = 0.0f64;
        for (x, f) in state.x.iter_mut().zip(&state.fx) {
            let new = (1.0 - z) * *x + z * f;
            step = step.max((new - *x).abs());
            *x = new;
        }
        state.step = step;
        state.iter += 1;
        Ok(())
    }
    fn next_iter_on(
        &mut self,
        map: &mut dyn FixedPointMap,
        state: &mut IterState,
        comm: &dyn Communicator,
    ) -> Result<()> {
        let n = state.x.len();
        state.fx.resize(n, 0.0);
        map.apply(&state.x, &mut state.fx)?;
        let residual =
            global_max_checked(comm, "F(x)", max_abs_diff(&state.fx, &state.x), &state.fx)?;
        state.residual = residual;
        let z = self.zeta;
        let mut step = 0.0f64;
        for (x, f) in state.x.iter_mut().zip(&state.fx) {
            // x_{k+1} = (1 - ζ) x_k + ζ F(x_k), row by row
            let new = (1.0 - z) * *x + z * f;
            step = step.max((new - *x).abs());
            *x = new;
        }
        state.step = global_max_checked(comm, "picard iterate", step, &state.x)?;
        state.iter += 1;
        Ok(())
    }
}

/// Anderson acceleration (type II): with residuals `g_k = F(x_k) - x_k` and the last `m`
/// differences `ΔG`, `ΔX`,
///
/// ```text
/// γ = argmin |g_k - ΔG γ|² + λ |ΔG|_F² |γ|²,   x_{k+1} = x_k + β g_k - (ΔX + β ΔG) γ
/// ```
///
/// With `m = 0` it is damped Picard with `ζ = β`.
#[derive(Debug, Clone)]
pub struct Anderson {
    depth: usize,
    beta: f64,
    lambda: f64,
    // history (columns): differences of iterates and of residuals
    dx: Vec<Vec<f64>>,
    dg: Vec<Vec<f64>>,
    prev_x: Vec<f64>,
    prev_g: Vec<f64>,
    g: Vec<f64>,
    have_prev: bool,
}

impl Anderson {
    /// Depth `m >= 1` (number of stored differences), mixing `β` in `(0, 1]`, relative Tikhonov
    /// regularisation `λ >= 0` (e.g. `1e-10`).
    pub fn new(depth: usize, beta: f64, lambda: f64) -> Result<Self> {
        if depth == 0 {
            return Err(MeanFieldError::OutOfRange {
                what: "anderson depth",
                value: 0.0,
                range: "[1, inf)",
            });
        }
        check_mixing("anderson beta", beta)?;
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "anderson lambda",
                value: lambda,
                range: "[0, inf)",
            });
        }
        Ok(Self {
            depth,
            beta,
            lambda,
            dx: Vec::new(),
            dg: Vec::new(),
            prev_x: Vec::new(),
            prev_g: Vec::new(),
            g: Vec::new(),
            have_prev: false,
        })
    }

    /// Depth `m`.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

impl Default for Anderson {
    /// Depth 5, `β = 0.5`, `λ = 1e-10`.
    fn default() -> Self {
        Self {
            depth: 5,
            beta: 0.5,
            lambda: 1e-10,
            dx: Vec::new(),
            dg: Vec::new(),
            prev_x: Vec::new(),
            prev_g: Vec::new(),
            g: Vec::new(),
            have_prev: false,
        }
    }
}

impl FixedPointSolver for Anderson {
    fn name(&self) -> &'static str {
        "anderson"
    }
    fn init(&mut self, n: usize) -> Result<()> {
        self.dx.clear();
        self.dg.clear();
        self.prev_x = vec![0.0; n];
        self.prev_g = vec![0.0; n];
        self.g = vec![0.0; n];
        self.have_prev = false;
        Ok(())
    }
    fn next_iter(&mut self, map: &mut dyn FixedPointMap, state: &mut IterState) -> Result<()> {
        let n = state.x.len();
        state.fx.resize(n, 0.0);
        map.apply(&state.x, &mut state.fx)?;
        check_finite("F(x)", &state.fx)?;
        for i in 0..n {
            self.g[i] = state.fx[i] - state.x[i];
        }
        state.residual = self.g.iter().map(|v| v.abs()).fold(0.0, f64::max);
        self.push_history(&state.x);

        let m = self.dg.len();
        let mut gamma = DVector::<f64>::zeros(m);
        if m > 0 {
            let dgm = DMatrix::from_fn(n, m, |i, j| self.dg[j][i]);
            let gv = DVector::from_column_slice(&self.g);
            gamma = self.solve_gamma(dgm.transpose() * &dgm, dgm.transpose() * gv);
        }
        let step = self.update(&mut state.x, &gamma);
        check_finite("anderson iterate", &state.x)?;
        state.step = step;
        state.iter += 1;
        Ok(())
    }
    fn next_iter_on(
        &mut self,
        map: &mut dyn FixedPointMap,
        state: &mut IterState,
        comm: &dyn Communicator,
    ) -> Result<()> {
        let n = state.x.len();
        state.fx.resize(n, 0.0);
        map.apply(&state.x, &mut state.fx)?;
        for i in 0..n {
            self.g[i] = state.fx[i] - state.x[i];
        }
        let local = self.g.iter().map(|v| v.abs()).fold(0.0, f64::max);
        state.residual = global_max_checked(comm, "F(x)", local, &state.fx)?;
        self.push_history(&state.x);
        let m = self.dg.len();
        let mut gamma = DVector::<f64>::zeros(m);
        if m > 0 {
            // ΔGᵀΔG and ΔGᵀg over all ranks: per-block partials of the rows, reproducible sum
            let width = m * m + m;
            let (dg, g) = (&self.dg, &self.g);
            let mut partials = vec![0.0; n.div_ceil(RNG_BLOCK) * width];
            for (b, acc) in partials.chunks_exact_mut(width).enumerate() {
                for i in b * RNG_BLOCK..((b + 1) * RNG_BLOCK).min(n) {
                    for j in 0..m {
                        for l in 0..m {
                            acc[j * m + l] += dg[j][i] * dg[l][i];
                        }
                        acc[m * m + j] += dg[j][i] * g[i];
                    }
                }
            }
            let mut sums = vec![0.0; width];
            reproducible_sum(comm, &partials, width, &mut sums);
            let ata = DMatrix::from_row_slice(m, m, &sums[..m * m]);
            let atb = DVector::from_column_slice(&sums[m * m..]);
            gamma = self.solve_gamma(ata, atb);
        }
        let step = self.update(&mut state.x, &gamma);
        state.step = global_max_checked(comm, "anderson iterate", step, &state.x)?;
        state.iter += 1;
        Ok(())
    }
}

impl Anderson {
    /// Store `Δx`, `Δg` of the last two iterates (dropping the oldest beyond the depth).
    fn push_history(&mut self, x: &[f64]) {
        let n = x.len();
        if self.have_prev {
            let dxk: Vec<f64> = (0..n).map(|i| x[i] - self.prev_x[i]).collect();
            let dgk: Vec<f64> = (0..n).map(|i| self.g[i] - self.prev_g[i]).collect();
            if self.dx.len() == self.depth {
                self.dx.remove(0);
                self.dg.remove(0);
            }
            self.dx.push(dxk);
            self.dg.push(dgk);
        }
        self.prev_x.copy_from_slice(x);
        self.prev_g.copy_from_slice(&self.g);
        self.have_prev = true;
    }

    /// `γ` of the least squares `min |g - ΔG γ|² + λ |ΔG|² |γ|²` from the normal equations
    /// `(ΔGᵀΔG + λ tr(ΔGᵀΔG) I) γ = ΔGᵀ g` (`m <= depth`, small).
    fn solve_gamma(&self, mut ata: DMatrix<f64>, atb: DVector<f64>) -> DVector<f64> {
        let m = ata.nrows();
        let scale = ata.trace().max(f64::MIN_POSITIVE);
        for j in 0..m {
            ata[(j, j)] += self.lambda * scale;
        }
        match ata.clone().cholesky() {
            Some(ch) => ch.solve(&atb),
            None => ata
                .svd(true, true)
                .solve(&atb, 1e-14 * scale)
                .unwrap_or_else(|_| DVector::zeros(m)),
        }
    }

    /// `x_{k+1} = x_k + β g_k - (ΔX + β ΔG) γ` in place; returns the local `max |x_{k+1} - x_k|`.
    fn update(&self, x: &mut [f64], gamma: &DVector<f64>) -> f64 {
        let beta = self.beta;
        let m = gamma.len();
        let mut step = 0.0f64;
        for (i, xi) in x.iter_mut().enumerate() {
            let mut corr = 0.0;
            for j in 0..m {
                corr += (self.dx[j][i] + beta * self.dg[j][i]) * gamma[j];
            }
            let new = *xi + beta * self.g[i] - corr;
            step = step.max((new - *xi).abs());
            *xi = new;
        }
        step
    }
}

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criterion {
    /// `max |x_{k+1} - x_k| < tol` (the spec's `max |Δnu|`).
    Step,
    /// `max |F(x_k) - x_k| < tol`.
    Residual,
}

/// Sees every iteration; logging and history recording live here, not in the solvers.
pub trait IterObserver {
    /// Called after each completed iteration.
    fn observe(&mut self, solver: &str, state: &IterState);
}

/// Records `(step, residual)` per iteration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResidualHistory {
    /// `max |x_{k+1} - x_k|` per iteration.
    pub steps: Vec<f64>,
    /// `max |F(x_k) - x_k|` per iteration.
    pub residuals: Vec<f64>,
}

impl IterObserver for ResidualHistory {
    fn observe(&mut self, _solver: &str, state: &IterState) {
        self.steps.push(state.step);
        self.residuals.push(state.residual);
    }
}

/// Calls a closure on every iteration (e.g. to print a log line).
pub struct FnObserver<F>(pub F);

impl<F: FnMut(&str, &IterState)> IterObserver for FnObserver<F> {
    fn observe(&mut self, solver: &str, state: &IterState) {
        (self.0)(solver, state)
    }
}

/// Stores every iterate (for plots of the iteration; memory `iterations x n`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IterateTrace {
    /// The iterate after each iteration.
    pub iterates: Vec<Vec<f64>>,
}

impl IterObserver for IterateTrace {
    fn observe(&mut self, _solver: &str, state: &IterState) {
        self.iterates.push(state.x.clone());
    }
}

/// Result of a converged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedPointOutcome {
    /// Solver name.
    pub solver: String,
    /// The converged iterate.
    pub x: Vec<f64>,
    /// `F` at the last evaluated iterate.
    pub fx: Vec<f64>,
    /// Iterations (= evaluations of `F`).
    pub iterations: usize,
    /// The stopping quantity per iteration (step or residual, per the criterion).
    pub history: Vec<f64>,
    /// Fixed-point residual `max |F(x) - x|` per iteration.
    pub residuals: Vec<f64>,
}

/// Owns the loop: tolerance, iteration cap, stopping criterion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Executor {
    /// Tolerance of the stopping criterion (`> 0`).
    pub tol: f64,
    /// Iteration cap (`>= 1`).
    pub max_iter: usize,
    /// What is compared with `tol`.
    pub criterion: Criterion,
}

impl Executor {
    /// Validated executor.
    pub fn new(tol: f64, max_iter: usize, criterion: Criterion) -> Result<Self> {
        if !(tol > 0.0 && tol.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "tol",
                value: tol,
                range: "(0, inf)",
            });
        }
        if max_iter == 0 {
            return Err(MeanFieldError::OutOfRange {
                what: "max_iter",
                value: 0.0,
                range: "[1, inf)",
            });
        }
        Ok(Self {
            tol,
            max_iter,
            criterion,
        })
    }

    /// Iterate from `x0` until the criterion falls below `tol`.
    ///
    /// Errors: [`MeanFieldError::NotConverged`] with the history if the cap is reached (or an
    /// iterate becomes non-finite); errors of the map are passed through.
    pub fn run(
        &self,
        map: &mut dyn FixedPointMap,
        solver: &mut dyn FixedPointSolver,
        x0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
    ) -> Result<FixedPointOutcome> {
        self.run_impl(map, solver, x0, observers, None)
    }

    /// [`Executor::run`] for an iterate distributed over the ranks of `comm` (collective): `x0`
    /// and the outcome's `x`, `fx` are this rank's rows (whole RNG blocks at global offsets), `map`
    /// is collective, and the solver steps with [`FixedPointSolver::next_iter_on`], so the
    /// iterates, the history and the stopping decision are bit-identical for any number of ranks.
    /// A non-finite `F(x)` on any rank stops every rank.
    pub fn run_on(
        &self,
        map: &mut dyn FixedPointMap,
        solver: &mut dyn FixedPointSolver,
        x0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
        comm: &dyn Communicator,
    ) -> Result<FixedPointOutcome> {
        self.run_impl(map, solver, x0, observers, Some(comm))
    }

    fn run_impl(
        &self,
        map: &mut dyn FixedPointMap,
        solver: &mut dyn FixedPointSolver,
        x0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
        comm: Option<&dyn Communicator>,
    ) -> Result<FixedPointOutcome> {
        let n = map.dim();
        if x0.len() != n {
            return Err(MeanFieldError::BadLength {
                what: "x0",
                len: x0.len(),
                expected: format!("the map's dimension {n}"),
            });
        }
        match comm {
            Some(c) => {
                global_max_checked(c, "x0", 0.0, &x0)?;
            }
            None => check_finite("x0", &x0)?,
        }
        solver.init(n)?;
        let mut state = IterState::new(x0);
        let mut history = Vec::new();
        let mut residuals = Vec::new();
        while state.iter < self.max_iter {
            let stepped = match comm {
                Some(c) => solver.next_iter_on(map, &mut state, c),
                None => solver.next_iter(map, &mut state),
            };
            if let Err(e) = stepped {
                return Err(match e {
                    MeanFieldError::NonFinite { .. } => MeanFieldError::NotConverged {
                        solver: solver.name(),
                        iterations: state.iter + 1,
                        tolerance: self.tol,
                        history,
                        reason: format!("non-finite iterate: {e}"),
                    },
                    other => other,
                });
            }
            let q = match self.criterion {
                Criterion::Step => state.step,
                Criterion::Residual => state.residual,
            };
            history.push(q);
            residuals.push(state.residual);
            for o in observers.iter_mut() {
                o.observe(solver.name(), &state);
            }
            if q < self.tol {
                return Ok(FixedPointOutcome {
                    solver: solver.name().to_string(),
                    x: state.x,
                    fx: state.fx,
                    iterations: state.iter,
                    history,
                    residuals,
                });
            }
        }
        Err(MeanFieldError::NotConverged {
            solver: solver.name(),
            iterations: state.iter,
            tolerance: self.tol,
            history,
            reason: "iteration cap reached".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F(x) = A x + c with spectral radius < 1 (contraction), fixed point (I - A)^{-1} c.
    #[allow(clippy::type_complexity)]
    fn affine() -> (
        FnMap<impl FnMut(&[f64], &mut [f64]) -> Result<()>>,
        Vec<f64>,
    ) {
        let a = [[0.6, 0.3], [-0.2, 0.7]];
        let c = [1.0, -2.0];
        let f = FnMap::new(2, move |x: &[f64], out: &mut [f64]| {
            for i in 0..2 {
                out[i] = a[i][0] * x[0] + a[i][1] * x[1] + c[i];
            }
            Ok(())
        });
        // (I - A) x = c
        let m = DMatrix::from_row_slice(2, 2, &[0.4, -0.3, 0.2, 0.3]);
        let x = m.lu().solve(&DVector::from_column_slice(&c)).unwrap();
        (f, x.as_slice().to_vec())
    }

    #[test]
    fn picard_and_anderson_converge_anderson_faster() {
        let ex = Executor::new(1e-10, 500, Criterion::Residual).unwrap();
        let (mut f, xs) = affine();
        let mut hist = ResidualHistory::default();
        let p = ex
            .run(
                &mut f,
                &mut Picard::default(),
                vec![0.0; 2],
                &mut [&mut hist],
            )
            .unwrap();
        assert!(max_abs_diff(&p.x, &xs) < 1e-9, "{:?} vs {xs:?}", p.x);
        assert_eq!(hist.residuals.len(), p.iterations);
        let (mut f, _) = affine();
        let a = ex
            .run(&mut f, &mut Anderson::default(), vec![0.0; 2], &mut [])
            .unwrap();
        assert!(max_abs_diff(&a.x, &xs) < 1e-9);
        // an affine map in R^2 is solved exactly once 2 differences are stored
        assert!(a.iterations <= 6, "anderson {} iterations", a.iterations);
        assert!(
            a.iterations < p.iterations / 3,
            "{} vs {}",
            a.iterations,
            p.iterations
        );
    }

    #[test]
    fn non_convergence_is_an_error_with_history() {
        // F(x) = 2x + 1 diverges under Picard
        let mut f = FnMap::new(1, |x: &[f64], o: &mut [f64]| {
            o[0] = 2.0 * x[0] + 1.0;
            Ok(())
        });
        let ex = Executor::new(1e-8, 7, Criterion::Step).unwrap();
        match ex.run(&mut f, &mut Picard::new(1.0).unwrap(), vec![0.0], &mut []) {
            Err(MeanFieldError::NotConverged {
                iterations,
                history,
                solver,
                ..
            }) => {
                assert_eq!(iterations, 7);
                assert_eq!(history.len(), 7);
                assert_eq!(solver, "picard");
                assert!(history.windows(2).all(|w| w[1] > w[0]));
            }
            other => panic!("expected NotConverged, got {other:?}"),
        }
        // F(x) = x^2 + 2 overflows: non-finite iterates are reported, not returned
        let mut g = FnMap::new(1, |x: &[f64], o: &mut [f64]| {
            o[0] = x[0] * x[0] + 2.0;
            Ok(())
        });
        let ex = Executor::new(1e-8, 100, Criterion::Step).unwrap();
        assert!(matches!(
            ex.run(&mut g, &mut Picard::new(1.0).unwrap(), vec![0.0], &mut []),
            Err(MeanFieldError::NotConverged { .. })
        ));
    }

    #[test]
    fn bad_configuration_rejected() {
        assert!(Picard::new(0.0).is_err());
        assert!(Picard::new(1.5).is_err());
        assert!(Anderson::new(0, 0.5, 0.0).is_err());
        assert!(Anderson::new(3, 0.5, -1.0).is_err());
        assert!(Executor::new(0.0, 10, Criterion::Step).is_err());
        assert!(Executor::new(1e-3, 0, Criterion::Step).is_err());
        let mut f = FnMap::new(2, |_x: &[f64], _o: &mut [f64]| Ok(()));
        let ex = Executor::new(1e-3, 3, Criterion::Step).unwrap();
        assert!(matches!(
            ex.run(&mut f, &mut Picard::default(), vec![0.0], &mut []),
            Err(MeanFieldError::BadLength { what: "x0", .. })
        ));
    }
}
