//! General interactions on a grid: the coupled HJB / Fokker-Planck system of MF-PID solved as an
//! outer fixed point over a linear Schrödinger system.
//!
//! For a frozen density trajectory `p_t` the potential `V^MF_t[x; p_t]` is known and Cole-Hopf
//! turns the control problem into the Schrödinger system `p_0 = φ_0 φ̂_0`, `p_1 = φ_1 φ̂_1`
//! (Fortet / Sinkhorn iteration in time). Its marginals `φ_t φ̂_t` define `F(p)`; the fixed point
//! `p = F(p)` (damped Picard or Anderson, [`crate::fixed_point`]) is the mean-field solution.
//!
//! - 1-D: mfpid-pde's log-domain [`mfpid_pde::solve_schrodinger`] (kernel matrices per segment);
//! - 2-D: mfpid-pde's [`mfpid_pde::solve_schrodinger_2d`] (Fortet iteration with split-implicit
//!   Fokker-Planck (killing) and Feynman-Kac (transposed) propagation, the potential frozen on
//!   each fine step at its midpoint so that every backward step is the exact transpose of the
//!   forward one).
//!
//! `V^MF` is stored at the output times `t_k = k / S` and interpolated linearly in between; a
//! per-time constant is subtracted so that the killing rate is `>= 0` (a time-only constant in the
//! potential multiplies every path weight by the same factor and changes nothing).
//!
//! Control energy (no factor ½, as everywhere in the project): `E = 2 KL(P* | R)` with
//! `KL = ∫ p_tar log φ_1 - ∫ p_in log φ_0 - ∫∫ p_t V_t dx dt` (trapezoid over the output times),
//! the reference `R` being Brownian motion started from `p_in`.

use mfpid_pde::{
    solve_schrodinger, solve_schrodinger_2d, Boundary, FpConfig2d, Grid1d, Grid2d,
    Schrodinger2dConfig, Schrodinger2dSolution, SchrodingerConfig, SchrodingerSolution, Splitting,
    TimeScheme, ZeroDrift,
};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};
use crate::fixed_point::{
    Executor, FixedPointMap, FixedPointOutcome, FixedPointSolver, IterObserver,
};
use crate::interaction::{potential_on_grid_1d, potential_on_grid_2d, Interaction};

/// Time discretisation and inner (Sinkhorn) tolerances of the grid solvers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridMfConfig {
    /// Output times `t_k = k / n_segments`; `V^MF` is sampled there.
    pub n_segments: usize,
    /// Implicit steps per segment.
    pub steps_per_segment: usize,
    /// Time scheme of the propagators (1-D; 2-D always uses backward-Euler sweeps).
    pub scheme: TimeScheme,
    /// Sinkhorn tolerance (1-D: max log-ratio; 2-D: L1 error of the terminal marginal).
    pub sinkhorn_tol: f64,
    /// Sinkhorn iteration budget.
    pub sinkhorn_max_iter: usize,
}

impl Default for GridMfConfig {
    fn default() -> Self {
        Self {
            n_segments: 20,
            steps_per_segment: 10,
            scheme: TimeScheme::BackwardEuler,
            sinkhorn_tol: 1e-9,
            sinkhorn_max_iter: 20_000,
        }
    }
}

impl GridMfConfig {
    fn validate(&self) -> Result<()> {
        if self.n_segments == 0 || self.steps_per_segment == 0 {
            return Err(MeanFieldError::OutOfRange {
                what: "n_segments / steps_per_segment",
                value: 0.0,
                range: "[1, inf)",
            });
        }
        if !(self.sinkhorn_tol > 0.0 && self.sinkhorn_tol.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "sinkhorn_tol",
                value: self.sinkhorn_tol,
                range: "(0, inf)",
            });
        }
        Ok(())
    }
    /// Output times.
    pub fn times(&self) -> Vec<f64> {
        (0..=self.n_segments)
            .map(|k| k as f64 / self.n_segments as f64)
            .collect()
    }
}

/// Validate a density on a grid of `n` cells: length, finite, `>= 0`, positive mass; returns it
/// normalised to unit mass with cell volume `vol`.
fn normalised(what: &'static str, p: &[f64], n: usize, vol: f64) -> Result<Vec<f64>> {
    if p.len() != n {
        return Err(MeanFieldError::BadLength {
            what,
            len: p.len(),
            expected: format!("the number of grid cells {n}"),
        });
    }
    check_finite(what, p)?;
    if let Some(i) = p.iter().position(|v| *v < 0.0) {
        return Err(MeanFieldError::OutOfRange {
            what,
            value: p[i],
            range: "[0, inf) (densities are non-negative)",
        });
    }
    let mass: f64 = vol * p.iter().sum::<f64>();
    if mass.is_nan() || mass <= 0.0 {
        return Err(MeanFieldError::OutOfRange {
            what,
            value: mass,
            range: "(0, inf) (total mass)",
        });
    }
    Ok(p.iter().map(|v| v / mass).collect())
}

/// Subtract the minimum of each time slice (killing rates must be `>= 0`).
fn shift_nonnegative(v: &mut [Vec<f64>]) {
    for row in v.iter_mut() {
        let m = row.iter().copied().fold(f64::INFINITY, f64::min);
        if m.is_finite() {
            row.iter_mut().for_each(|x| *x -= m);
        }
    }
}

/// Linear interpolation in time of values stored at `t_k = k / s`, at cell `i`.
#[inline]
fn interp_time(v: &[Vec<f64>], t: f64, i: usize) -> f64 {
    let s = (v.len() - 1) as f64;
    let u = (t * s).clamp(0.0, s);
    let k = (u.floor() as usize).min(v.len() - 2);
    let th = u - k as f64;
    (1.0 - th) * v[k][i] + th * v[k + 1][i]
}

/// `2 KL` from the potentials, the marginals and the (shifted) potential.
fn energy_from_potentials(
    vol: f64,
    p_in: &[f64],
    p_tar: &[f64],
    log_phi0: &[f64],
    log_phi1: &[f64],
    density: &[Vec<f64>],
    v: &[Vec<f64>],
) -> f64 {
    let dot_log = |p: &[f64], l: &[f64]| -> f64 {
        vol * p
            .iter()
            .zip(l)
            .filter(|(pi, _)| **pi > 0.0)
            .map(|(pi, li)| pi * li)
            .sum::<f64>()
    };
    let s = density.len() - 1;
    let dt = 1.0 / s as f64;
    let mut pv = 0.0;
    for k in 0..=s {
        let w = if k == 0 || k == s { 0.5 } else { 1.0 };
        let e: f64 = density[k].iter().zip(&v[k]).map(|(p, x)| p * x).sum();
        pv += w * dt * vol * e;
    }
    2.0 * (dot_log(p_tar, log_phi1) - dot_log(p_in, log_phi0) - pv)
}

/// Result of a grid solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridMfSolution {
    /// Output times `t_k`.
    pub times: Vec<f64>,
    /// Densities at the output times (unit mass; 2-D row-major, `x` fastest).
    pub density: Vec<Vec<f64>>,
    /// `V^MF` at the output times (shifted per time to a zero minimum).
    pub potential: Vec<Vec<f64>>,
    /// Control energy `E = 2 KL(P* | R)` (no factor ½).
    pub energy: f64,
    /// Sinkhorn iterations of the last inner solve.
    pub sinkhorn_iterations: usize,
    /// The outer fixed point (iterate = the flattened densities).
    pub outer: Option<FixedPointOutcome>,
}

/// The coupled system on a 1-D grid (reference `dx = dW`, zero-flux walls).
pub struct GridMf1d {
    grid: Grid1d,
    p_in: Vec<f64>,
    p_tar: Vec<f64>,
    inter: Interaction,
    cfg: GridMfConfig,
    last: Option<(SchrodingerSolution, Vec<Vec<f64>>)>,
}

impl GridMf1d {
    /// Validate: densities of length `grid.n()` (normalised here), configuration.
    pub fn new(
        grid: Grid1d,
        p_in: &[f64],
        p_tar: &[f64],
        inter: Interaction,
        cfg: GridMfConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        let n = grid.n();
        let p_in = normalised("p_in", p_in, n, grid.h())?;
        let p_tar = normalised("p_tar", p_tar, n, grid.h())?;
        Ok(Self {
            grid,
            p_in,
            p_tar,
            inter,
            cfg,
            last: None,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid1d {
        &self.grid
    }

    fn sconfig(&self) -> SchrodingerConfig {
        SchrodingerConfig {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            t0: 0.0,
            t1: 1.0,
            n_segments: self.cfg.n_segments,
            steps_per_segment: self.cfg.steps_per_segment,
            scheme: self.cfg.scheme,
            tol: self.cfg.sinkhorn_tol,
            max_iter: self.cfg.sinkhorn_max_iter,
        }
    }

    /// `V^MF` of a density trajectory (shifted to zero minimum per time).
    pub fn potential_of(&self, density: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let times = self.cfg.times();
        let h = self.grid.h();
        let mut v: Vec<Vec<f64>> = density
            .iter()
            .zip(&times)
            .map(|(p, t)| {
                let mut out = vec![0.0; p.len()];
                potential_on_grid_1d(&self.inter, *t, h, p, &mut out);
                out
            })
            .collect();
        shift_nonnegative(&mut v);
        v
    }

    /// Solve the linear Schrödinger system with the given potential (`None`: `V = 0`).
    pub fn schrodinger(&self, v: Option<&[Vec<f64>]>) -> Result<SchrodingerSolution> {
        let (lo, h, n) = (self.grid.lo(), self.grid.h(), self.grid.n());
        let cfg = self.sconfig();
        match v {
            None => Ok(solve_schrodinger(
                &self.grid,
                &self.p_in,
                &self.p_tar,
                &ZeroDrift,
                None,
                &cfg,
            )?),
            Some(v) => {
                let pot = move |t: f64, x: f64| -> f64 {
                    let i = (((x - lo) / h).floor().max(0.0) as usize).min(n - 1);
                    interp_time(v, t, i)
                };
                let pot: &(dyn Fn(f64, f64) -> f64 + Sync) = &pot;
                Ok(solve_schrodinger(
                    &self.grid,
                    &self.p_in,
                    &self.p_tar,
                    &ZeroDrift,
                    Some(pot),
                    &cfg,
                )?)
            }
        }
    }

    /// Flattened densities of the interaction-free bridge (`V = 0`): the default starting point.
    pub fn free_start(&self) -> Result<Vec<f64>> {
        Ok(self.schrodinger(None)?.density.concat())
    }

    /// Solve the outer fixed point from `x0` (flattened densities; e.g. [`GridMf1d::free_start`]).
    pub fn solve(
        &mut self,
        solver: &mut dyn FixedPointSolver,
        executor: &Executor,
        x0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
    ) -> Result<GridMfSolution> {
        let outcome = executor.run(self, solver, x0, observers)?;
        let dens = self.unflatten(&outcome.x);
        let v = self.potential_of(&dens);
        let sol = self.schrodinger(Some(&v))?;
        let mut out = self.finish(sol, v);
        out.outer = Some(outcome);
        Ok(out)
    }

    /// The solution for a frozen potential (used for `V = 0` and by `solve`).
    pub fn finish(&self, sol: SchrodingerSolution, v: Vec<Vec<f64>>) -> GridMfSolution {
        let s = sol.density.len() - 1;
        let energy = energy_from_potentials(
            self.grid.h(),
            &self.p_in,
            &self.p_tar,
            &sol.log_phi[0],
            &sol.log_phi[s],
            &sol.density,
            &v,
        );
        GridMfSolution {
            times: sol.times.clone(),
            density: sol.density,
            potential: v,
            energy,
            sinkhorn_iterations: sol.iterations,
            outer: None,
        }
    }

    /// The interaction-free solution (`V = 0`).
    pub fn free_solution(&self) -> Result<GridMfSolution> {
        let sol = self.schrodinger(None)?;
        let v = vec![vec![0.0; self.grid.n()]; sol.density.len()];
        Ok(self.finish(sol, v))
    }

    fn unflatten(&self, x: &[f64]) -> Vec<Vec<f64>> {
        x.chunks_exact(self.grid.n()).map(|c| c.to_vec()).collect()
    }
}

impl FixedPointMap for GridMf1d {
    fn dim(&self) -> usize {
        (self.cfg.n_segments + 1) * self.grid.n()
    }
    fn apply(&mut self, x: &[f64], out: &mut [f64]) -> Result<()> {
        let dens = self.unflatten(x);
        let v = self.potential_of(&dens);
        let sol = self.schrodinger(Some(&v))?;
        for (o, row) in out.chunks_exact_mut(self.grid.n()).zip(&sol.density) {
            o.copy_from_slice(row);
        }
        self.last = Some((sol, v));
        Ok(())
    }
}

/// Mean and variance of a 1-D grid density (cell centres, unit mass assumed after normalising).
pub fn grid_moments_1d(grid: &Grid1d, p: &[f64]) -> (f64, f64) {
    let h = grid.h();
    let mass: f64 = h * p.iter().sum::<f64>();
    let m = h * (0..grid.n()).map(|i| grid.center(i) * p[i]).sum::<f64>() / mass;
    let v = h
        * (0..grid.n())
            .map(|i| (grid.center(i) - m).powi(2) * p[i])
            .sum::<f64>()
        / mass;
    (m, v)
}

/// mfpid-pde's 2-D Schrödinger solution with every marginal normalised to unit mass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bridge2d {
    /// The solution; `density[k]` is `phi_t phi_hat_t` divided by its mass.
    pub solution: Schrodinger2dSolution,
    /// Largest `|mass - 1|` of `φ_t φ̂_t` before normalisation (splitting/adjointness defect).
    pub mass_defect: f64,
}

/// The 2-D Schrödinger system with unit diffusion, zero reference drift, zero-flux walls and
/// killing potential `v` (values at the output times, `>= 0`, linear in between; `None`: `V = 0`),
/// solved by mfpid-pde's [`solve_schrodinger_2d`] with backward-Euler Strang sweeps.
fn schrodinger_2d(
    grid: &Grid2d,
    p0: &[f64],
    p1: &[f64],
    v: Option<&[Vec<f64>]>,
    cfg: &GridMfConfig,
) -> Result<Bridge2d> {
    cfg.validate()?;
    let n = grid.len();
    let area = grid.cell_area();
    let p0 = normalised("p0", p0, n, area)?;
    let p1 = normalised("p1", p1, n, area)?;
    if let Some(v) = v {
        if v.len() != cfg.n_segments + 1 || v.iter().any(|r| r.len() != n) {
            return Err(MeanFieldError::BadLength {
                what: "potential slices",
                len: v.len(),
                expected: format!("{} slices of {n} cells", cfg.n_segments + 1),
            });
        }
    }
    let (nx, ny) = (grid.x().n(), grid.y().n());
    let (xlo, ylo, hx, hy) = (grid.x().lo(), grid.y().lo(), grid.x().h(), grid.y().h());
    let cell = move |x: f64, y: f64| -> usize {
        let i = (((x - xlo) / hx).floor().max(0.0) as usize).min(nx - 1);
        let j = (((y - ylo) / hy).floor().max(0.0) as usize).min(ny - 1);
        j * nx + i
    };
    // V(t, x, y): the output-time slices interpolated in time at the cell containing (x, y)
    let potential = v.map(|v| move |t: f64, x: f64, y: f64| interp_time(v, t, cell(x, y)));
    let config = Schrodinger2dConfig {
        solver: FpConfig2d {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::BackwardEuler,
            splitting: Splitting::Strang,
        },
        t0: 0.0,
        t1: 1.0,
        n_segments: cfg.n_segments,
        steps_per_segment: cfg.steps_per_segment,
        tol: cfg.sinkhorn_tol,
        max_iter: cfg.sinkhorn_max_iter,
    };
    let mut solution = solve_schrodinger_2d(
        grid,
        &p0,
        &p1,
        &ZeroDrift,
        potential.as_ref().map(|v| v as mfpid_pde::Potential2d<'_>),
        &config,
    )?;
    let mut mass_defect = 0.0f64;
    for p in solution.density.iter_mut() {
        let mass = area * p.iter().sum::<f64>();
        mass_defect = mass_defect.max((mass - 1.0).abs());
        p.iter_mut().for_each(|x| *x /= mass);
    }
    Ok(Bridge2d {
        solution,
        mass_defect,
    })
}

/// The coupled system on a 2-D grid (reference `dx = dW`, zero-flux walls).
pub struct GridMf2d {
    grid: Grid2d,
    p_in: Vec<f64>,
    p_tar: Vec<f64>,
    inter: Interaction,
    cfg: GridMfConfig,
}

impl GridMf2d {
    /// Validate: densities of length `nx * ny` (row-major, `x` fastest), configuration.
    pub fn new(
        grid: Grid2d,
        p_in: &[f64],
        p_tar: &[f64],
        inter: Interaction,
        cfg: GridMfConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        let n = grid.len();
        let p_in = normalised("p_in", p_in, n, grid.cell_area())?;
        let p_tar = normalised("p_tar", p_tar, n, grid.cell_area())?;
        Ok(Self {
            grid,
            p_in,
            p_tar,
            inter,
            cfg,
        })
    }

    /// `V^MF` of a density trajectory (shifted per time).
    pub fn potential_of(&self, density: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let times = self.cfg.times();
        let g = &self.grid;
        let mut v: Vec<Vec<f64>> = density
            .iter()
            .zip(&times)
            .map(|(p, t)| {
                let mut out = vec![0.0; p.len()];
                potential_on_grid_2d(
                    &self.inter,
                    *t,
                    (g.x().n(), g.y().n()),
                    (g.x().h(), g.y().h()),
                    (g.x().lo(), g.y().lo()),
                    p,
                    &mut out,
                );
                out
            })
            .collect();
        shift_nonnegative(&mut v);
        v
    }

    /// Solve the Schrödinger system with potential `v` (`None`: `V = 0`).
    pub fn schrodinger(&self, v: Option<&[Vec<f64>]>) -> Result<Bridge2d> {
        schrodinger_2d(&self.grid, &self.p_in, &self.p_tar, v, &self.cfg)
    }

    fn finish(&self, sol: Bridge2d, v: Vec<Vec<f64>>) -> GridMfSolution {
        let sol = sol.solution;
        let m = self.cfg.n_segments;
        let energy = energy_from_potentials(
            self.grid.cell_area(),
            &self.p_in,
            &self.p_tar,
            &sol.log_phi[0],
            &sol.log_phi[m],
            &sol.density,
            &v,
        );
        GridMfSolution {
            times: self.cfg.times(),
            density: sol.density,
            potential: v,
            energy,
            sinkhorn_iterations: sol.iterations,
            outer: None,
        }
    }

    /// Interaction-free solution.
    pub fn free_solution(&self) -> Result<GridMfSolution> {
        let sol = self.schrodinger(None)?;
        let v = vec![vec![0.0; self.grid.len()]; sol.solution.density.len()];
        Ok(self.finish(sol, v))
    }

    /// Flattened densities of the interaction-free bridge.
    pub fn free_start(&self) -> Result<Vec<f64>> {
        Ok(self.schrodinger(None)?.solution.density.concat())
    }

    /// Solve the outer fixed point from `x0`.
    pub fn solve(
        &mut self,
        solver: &mut dyn FixedPointSolver,
        executor: &Executor,
        x0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
    ) -> Result<GridMfSolution> {
        let outcome = executor.run(self, solver, x0, observers)?;
        let dens: Vec<Vec<f64>> = outcome
            .x
            .chunks_exact(self.grid.len())
            .map(|c| c.to_vec())
            .collect();
        let v = self.potential_of(&dens);
        let sol = self.schrodinger(Some(&v))?;
        let mut out = self.finish(sol, v);
        out.outer = Some(outcome);
        Ok(out)
    }
}

impl FixedPointMap for GridMf2d {
    fn dim(&self) -> usize {
        (self.cfg.n_segments + 1) * self.grid.len()
    }
    fn apply(&mut self, x: &[f64], out: &mut [f64]) -> Result<()> {
        let dens: Vec<Vec<f64>> = x
            .chunks_exact(self.grid.len())
            .map(|c| c.to_vec())
            .collect();
        let v = self.potential_of(&dens);
        let sol = self.schrodinger(Some(&v))?;
        for (o, row) in out
            .chunks_exact_mut(self.grid.len())
            .zip(&sol.solution.density)
        {
            o.copy_from_slice(row);
        }
        Ok(())
    }
}

/// Closed-form Schrödinger bridge (unit diffusion, unit time, `V = 0`) between `N(m0, v0)` and
/// `N(m1, v1)` in 1-D: marginal mean and variance at `t`, and the control energy `2 KL(P* | R)`.
pub fn gaussian_bridge_1d(m0: f64, v0: f64, m1: f64, v1: f64, t: f64) -> (f64, f64, f64) {
    // cross-covariance of the static coupling: c^2 + c - v0 v1 = 0
    let c = ((1.0 + 4.0 * v0 * v1).sqrt() - 1.0) / 2.0;
    let mean = (1.0 - t) * m0 + t * m1;
    let var = (1.0 - t).powi(2) * v0 + t * t * v1 + t * (1.0 - t) * (2.0 * c + 1.0);
    // KL of the coupling against p_in(x0) N(x1; x0, 1): conditional variance w, slope c / v0
    let w = v1 - c * c / v0;
    let slope = c / v0;
    let energy = w + (m1 - m0).powi(2) + (slope - 1.0).powi(2) * v0 - 1.0 - w.ln();
    (mean, var, energy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_point::{Anderson, Criterion};
    use mfpid_bridge::{Bridge, GaussianMixture, Protocol};

    fn gauss(x: f64, m: f64, v: f64) -> f64 {
        (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
    }

    #[test]
    fn free_bridge_energy_matches_gaussian_closed_form() {
        let grid = Grid1d::new(-5.0, 5.0, 200).unwrap();
        let (m0, v0, m1, v1) = (-1.0, 0.16, 1.0, 0.36);
        let p0 = grid.sample(|x| gauss(x, m0, v0));
        let p1 = grid.sample(|x| gauss(x, m1, v1));
        let cfg = GridMfConfig {
            n_segments: 4,
            steps_per_segment: 100,
            ..Default::default()
        };
        let mf = GridMf1d::new(
            grid,
            &p0,
            &p1,
            Interaction::gaussian(0.0, 1.0).unwrap(),
            cfg,
        )
        .unwrap();
        let sol = mf.free_solution().unwrap();
        let (_, _, e) = gaussian_bridge_1d(m0, v0, m1, v1, 0.5);
        eprintln!("free energy grid {} closed {e}", sol.energy);
        assert!((sol.energy - e).abs() < 0.02 * e, "{} vs {e}", sol.energy);
        for (k, t) in sol.times.iter().enumerate() {
            let (m, v) = grid_moments_1d(&grid, &sol.density[k]);
            let (me, ve, _) = gaussian_bridge_1d(m0, v0, m1, v1, *t);
            assert!(
                (m - me).abs() < 5e-3 && (v - ve).abs() < 5e-3,
                "t={t}: {m},{v} vs {me},{ve}"
            );
        }
    }

    #[test]
    fn quadratic_kernel_reproduces_closed_form_mf_pid_marginals() {
        // Dirac start in one cell at z, mixture target, constant beta: the MF solution is the
        // GH-PID bridge with nu_t = (1 - t) z + t m_tar (the theorem), in closed form.
        let grid = Grid1d::new(-4.0, 5.0, 180).unwrap();
        let i0 = 60;
        let z = grid.center(i0);
        let mut p0 = vec![0.0; grid.n()];
        p0[i0] = 1.0;
        let target =
            GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
                .unwrap();
        let p1 = grid.sample(|x| target.log_pdf(&[x]).unwrap().exp());
        let beta = 6.0;
        let cfg = GridMfConfig {
            n_segments: 20,
            steps_per_segment: 10,
            ..Default::default()
        };
        let mut mf =
            GridMf1d::new(grid, &p0, &p1, Interaction::quadratic(beta).unwrap(), cfg).unwrap();
        let ex = Executor::new(1e-7, 100, Criterion::Step).unwrap();
        let x0 = mf.free_start().unwrap();
        let sol = mf
            .solve(&mut Anderson::new(5, 0.5, 1e-12).unwrap(), &ex, x0, &mut [])
            .unwrap();
        let it = sol.outer.as_ref().unwrap().iterations;
        // closed form with a fine piecewise-constant centre (error O(1/M^2) far below the grid's)
        let m = 400;
        let breaks = mfpid_bridge::equal_breaks(m);
        let nu = crate::interpolant_centres(&breaks, &[z], &[target.mean()[0]]).unwrap();
        let p = Protocol::piecewise(1, breaks, vec![beta; m])
            .unwrap()
            .with_centres(nu)
            .unwrap();
        let bridge = Bridge::new(&p, target.clone())
            .unwrap()
            .with_start(&[z])
            .unwrap();
        for (k, t) in sol.times.iter().enumerate() {
            if !(k == 5 || k == 10 || k == 15) {
                continue;
            }
            let marg = bridge.marginal(*t).unwrap();
            let exact = grid.sample(|x| marg.log_pdf(&[x]).unwrap().exp());
            let l1 = grid.l1_distance(&sol.density[k], &exact);
            let (mg, vg) = grid_moments_1d(&grid, &sol.density[k]);
            let (me, ve) = grid_moments_1d(&grid, &exact);
            let lin = (1.0 - t) * z + t * 0.66;
            eprintln!("t={t}: outer it {it}, L1 {l1:.2e}, mean {mg:.5} (closed {me:.5}, interpolant {lin:.5}), var {vg:.5} vs {ve:.5}");
            assert!(l1 < 2e-2, "t={t}: L1 {l1}");
            assert!((mg - lin).abs() < 5e-3, "t={t}: mean {mg} vs {lin}");
            assert!((vg - ve).abs() < 5e-3, "t={t}: var {vg} vs {ve}");
        }
    }

    #[test]
    fn two_d_separable_problem_factorises() {
        // separable endpoints and quadratic interaction: the 2-D solution is the product of two
        // 1-D solutions (the 2-D solver is independent code: mfpid-pde's Fortet loop, split sweeps)
        let ax = Grid1d::new(-4.0, 4.0, 24).unwrap();
        let g2 = Grid2d::new(ax, ax);
        let (mx0, vx0, mx1, vx1) = (-1.0, 0.3, 1.0, 0.2);
        let (my0, vy0, my1, vy1) = (0.5, 0.25, -0.5, 0.4);
        let cfg = GridMfConfig {
            n_segments: 4,
            steps_per_segment: 10,
            sinkhorn_tol: 1e-9,
            ..Default::default()
        };
        let inter = Interaction::quadratic(3.0).unwrap();
        let p0 = g2.sample(|x, y| gauss(x, mx0, vx0) * gauss(y, my0, vy0));
        let p1 = g2.sample(|x, y| gauss(x, mx1, vx1) * gauss(y, my1, vy1));
        let mut mf2 = GridMf2d::new(g2, &p0, &p1, inter.clone(), cfg).unwrap();
        let ex = Executor::new(1e-6, 60, Criterion::Step).unwrap();
        let x0 = mf2.free_start().unwrap();
        let s2 = mf2
            .solve(&mut Anderson::default(), &ex, x0, &mut [])
            .unwrap();
        let v = mf2.potential_of(&s2.density);
        let inner = mf2.schrodinger(Some(&v)).unwrap();
        assert!(
            inner.mass_defect < 1e-10,
            "mass defect {}",
            inner.mass_defect
        );
        let solve1 = |m0: f64, v0: f64, m1: f64, v1: f64| {
            let q0 = ax.sample(|x| gauss(x, m0, v0));
            let q1 = ax.sample(|x| gauss(x, m1, v1));
            let c1 = GridMfConfig {
                scheme: TimeScheme::BackwardEuler,
                ..cfg
            };
            let mut mf = GridMf1d::new(ax, &q0, &q1, inter.clone(), c1).unwrap();
            let x0 = mf.free_start().unwrap();
            mf.solve(&mut Anderson::default(), &ex, x0, &mut [])
                .unwrap()
        };
        let sx = solve1(mx0, vx0, mx1, vx1);
        let sy = solve1(my0, vy0, my1, vy1);
        let n = ax.n();
        for k in [1, 2, 3] {
            let prod: Vec<f64> = (0..n * n)
                .map(|c| sx.density[k][c % n] * sy.density[k][c / n])
                .collect();
            let l1 = g2.l1_distance(&s2.density[k], &prod);
            eprintln!("2-D vs 1-D x 1-D at t={}: L1 {l1:.3e}", s2.times[k]);
            assert!(l1 < 3e-2, "L1 {l1}");
        }
        // energies add
        eprintln!("energy 2-D {} vs {} + {}", s2.energy, sx.energy, sy.energy);
        assert!((s2.energy - sx.energy - sy.energy).abs() < 0.03 * s2.energy);
    }

    #[test]
    fn bad_input_rejected() {
        let grid = Grid1d::new(-1.0, 1.0, 10).unwrap();
        let ok = vec![1.0; 10];
        let inter = Interaction::gaussian(1.0, 0.5).unwrap();
        let cfg = GridMfConfig::default();
        assert!(GridMf1d::new(grid, &ok[..9], &ok, inter.clone(), cfg).is_err());
        let mut neg = ok.clone();
        neg[3] = -0.1;
        assert!(GridMf1d::new(grid, &neg, &ok, inter.clone(), cfg).is_err());
        assert!(GridMf1d::new(grid, &[0.0; 10], &ok, inter.clone(), cfg).is_err());
        let bad = GridMfConfig {
            n_segments: 0,
            ..cfg
        };
        assert!(GridMf1d::new(grid, &ok, &ok, inter, bad).is_err());
    }
}
