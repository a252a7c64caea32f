//! `mf-general`: MF-PID with a non-quadratic interaction, grid vs particles.
//!
//! Repulsive Gaussian kernel `V(z) = eps exp(-z²/(2 ell²))`, `ell = 0.5`, between
//! `p_in = N(-1, 0.4²)` and `p_tar = N(1, 0.6²)` (Gaussian end points, so `eps = 0` is the
//! closed-form Gaussian Schrödinger bridge). Solvers: the 1-D grid (outer fixed point over
//! mfpid-pde's Schrödinger system), particles with exact O(N²) and binned O(N) `V^MF`; plus a
//! congestion cost `eps p_t(x)` and a 2-D repulsive case (2-D grid Fortet solver vs particles).
//!
//! Columns: `mean` and `var` of the marginal at `t` (2-D: mean of x and the trace of the
//! covariance); `l1_to_grid`: L1 distance between the particle kernel density estimate and the
//! grid density smoothed with the same Gaussian kernel (1-D); `l1_to_eps0`: for grid rows the L1
//! distance to the grid's own `eps = 0` solution (the limit eps -> 0 at fixed discretisation), for
//! the `closed-form` rows the L1 distance between that `eps = 0` grid solution and the closed form
//! (the discretisation error); `energy`: control energy `E ∫|u|² dt`
//! (grid: `2 KL` from the Schrödinger potentials; particles: `2 KL` of the weights). The cost
//! scaling (seconds per outer iteration against N and grid size) is written to `scaling.csv`.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::GaussianMixture;
use mfpid_meanfield::grid_mf::gaussian_bridge_1d;
use mfpid_meanfield::{
    grid_moments_1d, Anderson, Criterion, Executor, FixedPointMap, GridMf1d, GridMf2d,
    GridMfConfig, Interaction, Law, ParticleMf, ParticleMfConfig, VmfEstimator,
};
use mfpid_pde::{Grid1d, Grid2d};
use std::time::Instant;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "mf-general",
    about: "MF-PID with Gaussian repulsion / congestion: grid (Schrödinger outer fixed point) vs particles (exact and binned V^MF), densities, energy, eps -> 0, cost scaling",
    snapshot_skip: &["wall_s"],
    run,
};

const M0: f64 = -1.0;
const V0: f64 = 0.16;
const M1: f64 = 1.0;
const V1: f64 = 0.36;
const ELL: f64 = 0.5;

fn gauss(x: f64, m: f64, v: f64) -> f64 {
    (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

/// Gaussian smoothing of a grid density (bandwidth `h`), direct sum.
fn smooth(grid: &Grid1d, p: &[f64], h: f64) -> Vec<f64> {
    let n = grid.n();
    (0..n)
        .map(|i| {
            let xi = grid.center(i);
            grid.h()
                * (0..n)
                    .map(|j| gauss(xi, grid.center(j), h * h) * p[j])
                    .sum::<f64>()
        })
        .collect()
}

struct Sizes {
    n_grid: usize,
    segments: usize,
    steps_per_segment: usize,
    particles: usize,
    particle_steps: usize,
    start_bins: usize,
    end_bins: usize,
    estimator_bins: usize,
    bandwidth: f64,
    eps: Vec<f64>,
    n_grid_2d: usize,
    particles_2d: usize,
    scaling_n: Vec<usize>,
    scaling_grid: Vec<usize>,
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = if ctx.quick {
        Sizes {
            n_grid: 100,
            segments: 8,
            steps_per_segment: 5,
            particles: 600,
            particle_steps: 8,
            start_bins: 6,
            end_bins: 12,
            estimator_bins: 30,
            bandwidth: 0.25,
            eps: vec![1.0, 0.25, 0.0],
            n_grid_2d: 16,
            particles_2d: 300,
            scaling_n: vec![200, 400, 800],
            scaling_grid: vec![50, 100],
        }
    } else {
        Sizes {
            n_grid: 240,
            segments: 40,
            steps_per_segment: 10,
            particles: 4000,
            particle_steps: 20,
            start_bins: 20,
            end_bins: 40,
            estimator_bins: 80,
            bandwidth: 0.12,
            eps: vec![2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.0],
            // 40 x 40 cells (h = 0.2) put tr Cov at t = 0.5 2.5% high at eps = 0 (0.8503 vs the
            // closed form 0.8299; 80 x 80: 0.8378)
            n_grid_2d: 80,
            particles_2d: 8000,
            scaling_n: vec![1000, 2000, 4000, 8000],
            scaling_grid: vec![60, 120, 240, 480],
        }
    };
    let grid = Grid1d::new(-5.0, 5.0, s.n_grid)?;
    let p0 = grid.sample(|x| gauss(x, M0, V0));
    let p1 = grid.sample(|x| gauss(x, M1, V1));
    let law_in = Law::Mixture(GaussianMixture::isotropic(
        1,
        vec![1.0],
        vec![M0],
        vec![V0],
    )?);
    let law_tar = Law::Mixture(GaussianMixture::isotropic(
        1,
        vec![1.0],
        vec![M1],
        vec![V1],
    )?);
    let gcfg = GridMfConfig {
        n_segments: s.segments,
        steps_per_segment: s.steps_per_segment,
        ..Default::default()
    };
    let ex = Executor::new(1e-7, 200, Criterion::Step)?;
    let pex = Executor::new(1e-6, 200, Criterion::Step)?;
    let pcfg = |n: usize, est: VmfEstimator, seed: u64| {
        let mut c = ParticleMfConfig::new(n);
        c.n_steps = s.particle_steps;
        c.start_bins = s.start_bins;
        c.end_bins = s.end_bins;
        c.estimator = est;
        c.kde_bandwidth = s.bandwidth;
        c.seed = seed;
        c.start_seed = seed.wrapping_add(1);
        c
    };
    let mut table = Table::new(&[
        "dim",
        "kernel",
        "eps",
        "t",
        "solver",
        "mean",
        "var",
        "l1_to_grid",
        "l1_to_eps0",
        "energy",
        "wall_s",
    ]);
    let (_, _, e_free) = gaussian_bridge_1d(M0, V0, M1, V1, 0.5);
    let mut summary = vec![format!(
        "p_in = N({M0}, {V0}), p_tar = N({M1}, {V1}), Gaussian kernel ell = {ELL}; grid {} cells x {} segments x {} steps; particles N = {}, {} steps, bins {} start / {} end, estimator bins {}, KDE bandwidth {}",
        s.n_grid, s.segments, s.steps_per_segment, s.particles, s.particle_steps, s.start_bins, s.end_bins, s.estimator_bins, s.bandwidth
    )];
    let t_idx_grid = |t: f64| (t * s.segments as f64).round() as usize;
    let t_idx_part = |t: f64| (t * s.particle_steps as f64).round() as usize;
    let times = [0.25, 0.5, 0.75];
    let xs: Vec<f64> = grid.centers();
    let mut c_dens: Vec<Chart> = times
        .iter()
        .map(|t| Chart::new(format!("density at t = {t} (eps = {})", s.eps[0]), "x", "p"))
        .collect();
    let mut c_energy = Chart::new("control energy vs eps", "eps", "E");
    let mut c_limit = Chart::new(
        "eps -> 0: L1(grid eps, grid eps = 0) at t = 0.5",
        "eps",
        "L1",
    )
    .log(true, true);
    let (mut e_grid, mut e_exact, mut e_binned, mut lim) = (vec![], vec![], vec![], vec![]);

    let free_grid =
        GridMf1d::new(grid, &p0, &p1, Interaction::gaussian(0.0, ELL)?, gcfg)?.free_solution()?;
    let mut jobs: Vec<(&str, Interaction, f64)> = s
        .eps
        .iter()
        .map(|&e| Ok(("gaussian", Interaction::gaussian(e, ELL)?, e)))
        .collect::<Result<Vec<_>>>()?;
    jobs.push(("congestion", Interaction::congestion(0.5)?, 0.5));
    for (ji, (kernel, inter, eps)) in jobs.iter().enumerate() {
        let t0 = Instant::now();
        let mut g = GridMf1d::new(grid, &p0, &p1, inter.clone(), gcfg)?;
        let x0 = g.free_start()?;
        let gs = g.solve(&mut Anderson::default(), &ex, x0, &mut [])?;
        let wall_grid = t0.elapsed().as_secs_f64();
        let mut parts = Vec::new();
        for (name, est) in [
            ("particles-exact", VmfEstimator::Exact),
            (
                "particles-binned",
                VmfEstimator::Binned {
                    bins: s.estimator_bins,
                },
            ),
        ] {
            let t0 = Instant::now();
            let mut pm = ParticleMf::new(
                pcfg(s.particles, est, ctx.seed),
                &law_in,
                &law_tar,
                inter.clone(),
            )?;
            let out = pm.solve(&mut Anderson::default(), &pex, &mut [])?;
            parts.push((name, pm, out.iterations, t0.elapsed().as_secs_f64()));
        }
        let outer = gs.outer.as_ref().map(|o| o.iterations).unwrap_or(0);
        summary.push(format!(
            "{kernel} eps = {eps}: grid energy {:.4} ({outer} outer iterations, {wall_grid:.2} s); particles exact {:.4} ({} it, ESS {:.0}, {:.2} s), binned {:.4} ({} it, {:.2} s)",
            gs.energy, parts[0].1.energy(), parts[0].2, parts[0].1.ess(), parts[0].3, parts[1].1.energy(), parts[1].2, parts[1].3
        ));
        for &t in &times {
            let kg = t_idx_grid(t);
            let kp = t_idx_part(t);
            let (mg, vg) = grid_moments_1d(&grid, &gs.density[kg]);
            let (me, ve, _) = gaussian_bridge_1d(M0, V0, M1, V1, t);
            let free = grid.sample(|x| gauss(x, me, ve));
            let l1_0 = grid.l1_distance(&gs.density[kg], &free_grid.density[kg]);
            let l1_disc = grid.l1_distance(&free_grid.density[kg], &free);
            table.push(vec![
                Cell::Int(1),
                (*kernel).into(),
                Cell::Num(*eps),
                Cell::Num(t),
                "grid".into(),
                Cell::Num(mg),
                Cell::Num(vg),
                Cell::Num(0.0),
                Cell::Num(l1_0),
                Cell::Num(gs.energy),
                Cell::Num(wall_grid),
            ]);
            let sm = smooth(&grid, &gs.density[kg], s.bandwidth);
            for (name, pm, _, wall) in &parts {
                let (m, v) = pm.moments(kp);
                let kde = pm.density_at(kp, &xs, s.bandwidth);
                let l1 = grid.l1_distance(&kde, &sm);
                table.push(vec![
                    Cell::Int(1),
                    (*kernel).into(),
                    Cell::Num(*eps),
                    Cell::Num(t),
                    (*name).into(),
                    Cell::Num(m[0]),
                    Cell::Num(v[0]),
                    Cell::Num(l1),
                    Cell::Num(f64::NAN),
                    Cell::Num(pm.energy()),
                    Cell::Num(*wall),
                ]);
                if ji == 0 && *name == "particles-exact" {
                    let ci = times.iter().position(|x| *x == t).unwrap_or(0);
                    let c = std::mem::replace(&mut c_dens[ci], Chart::new("", "", ""));
                    c_dens[ci] = c
                        .with(
                            Series::new(
                                "grid",
                                xs.iter()
                                    .copied()
                                    .zip(gs.density[kg].iter().copied())
                                    .collect(),
                                Mark::Line,
                            )
                            .color(0),
                        )
                        .with(
                            Series::new(
                                "grid smoothed",
                                xs.iter().copied().zip(sm.iter().copied()).collect(),
                                Mark::Line,
                            )
                            .color(2),
                        )
                        .with(
                            Series::new(
                                "particles (KDE)",
                                xs.iter()
                                    .copied()
                                    .zip(kde.iter().copied())
                                    .step_by(3)
                                    .collect(),
                                Mark::Points,
                            )
                            .color(1),
                        )
                        .with(
                            Series::new(
                                "eps = 0 closed form",
                                xs.iter().copied().zip(free.iter().copied()).collect(),
                                Mark::Dashed,
                            )
                            .color(3),
                        );
                }
            }
            if *kernel == "gaussian" && *eps == 0.0 {
                table.push(vec![
                    Cell::Int(1),
                    (*kernel).into(),
                    Cell::Num(0.0),
                    Cell::Num(t),
                    "closed-form".into(),
                    Cell::Num(me),
                    Cell::Num(ve),
                    Cell::Num(f64::NAN),
                    Cell::Num(l1_disc),
                    Cell::Num(e_free),
                    Cell::Num(0.0),
                ]);
            }
            if *kernel == "gaussian" && t == 0.5 && *eps > 0.0 {
                lim.push((*eps, l1_0));
            }
        }
        if *kernel == "gaussian" {
            e_grid.push((*eps, gs.energy));
            e_exact.push((*eps, parts[0].1.energy()));
            e_binned.push((*eps, parts[1].1.energy()));
        }
    }
    c_energy = c_energy
        .with(Series::new("grid", e_grid.clone(), Mark::LinePoints).color(0))
        .with(Series::new("particles exact", e_exact, Mark::Points).color(1))
        .with(Series::new("particles binned", e_binned, Mark::Points).color(2))
        .with(
            Series::new(
                "eps = 0 closed form",
                vec![(0.0, e_free), (s.eps[0], e_free)],
                Mark::Dashed,
            )
            .color(3),
        );
    if lim.len() >= 2 {
        let (a, b) = (lim[lim.len() - 2], lim[lim.len() - 1]);
        let slope = (a.1 / b.1).ln() / (a.0 / b.0).ln();
        summary.push(format!(
            "eps -> 0: L1(grid eps, grid eps = 0) at t = 0.5 falls like eps^{slope:.2} (last two eps); grid eps = 0 vs closed form: L1 {:.2e} (discretisation)",
            table_l1_eps0_at_zero(&table)
        ));
    }
    c_limit = c_limit.with(Series::new("grid", lim, Mark::LinePoints).color(0));

    // 2-D: repulsive Gaussian kernel, grid (mfpid-pde's 2-D Fortet solver) vs particles, at t = 0.5
    {
        let inter = Interaction::gaussian(1.0, ELL)?;
        let ax = Grid1d::new(-4.0, 4.0, s.n_grid_2d)?;
        let g2 = Grid2d::new(ax, ax);
        let (my0, vy0, my1, vy1) = (0.5, 0.25, -0.5, 0.3);
        let q0 = g2.sample(|x, y| gauss(x, M0, V0) * gauss(y, my0, vy0));
        let q1 = g2.sample(|x, y| gauss(x, M1, V1) * gauss(y, my1, vy1));
        // V^MF is sampled at the segment ends and ∫∫ p V dt of the energy is a trapezoid over
        // them: 4 segments put the 2-D energy 0.3% low at eps = 1 (6.1456 vs 6.1615 with 8 and
        // 6.1656 with 16 segments on a 40 x 40 grid), so full mode uses 16 (same total steps)
        let segs_2d = if ctx.quick { 4 } else { 16 };
        let cfg2 = GridMfConfig {
            n_segments: segs_2d,
            steps_per_segment: s.steps_per_segment * s.segments / (2 * segs_2d),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut gm = GridMf2d::new(g2, &q0, &q1, inter.clone(), cfg2)?;
        let x0 = gm.free_start()?;
        let sol = gm.solve(
            &mut Anderson::default(),
            &Executor::new(1e-6, 200, Criterion::Step)?,
            x0,
            &mut [],
        )?;
        let wall = t0.elapsed().as_secs_f64();
        let p = &sol.density[segs_2d / 2]; // t = 0.5
        let (nx, area) = (ax.n(), g2.cell_area());
        let (mut mx, mut my) = (0.0, 0.0);
        for (c, v) in p.iter().enumerate() {
            mx += area * v * ax.center(c % nx);
            my += area * v * ax.center(c / nx);
        }
        let mut tr = 0.0;
        for (c, v) in p.iter().enumerate() {
            tr += area * v * ((ax.center(c % nx) - mx).powi(2) + (ax.center(c / nx) - my).powi(2));
        }
        table.push(vec![
            Cell::Int(2),
            "gaussian".into(),
            Cell::Num(1.0),
            Cell::Num(0.5),
            "grid".into(),
            Cell::Num(mx),
            Cell::Num(tr),
            Cell::Num(0.0),
            Cell::Num(f64::NAN),
            Cell::Num(sol.energy),
            Cell::Num(wall),
        ]);
        let l_in = Law::Mixture(GaussianMixture::diagonal(
            2,
            vec![1.0],
            vec![M0, my0],
            vec![V0, vy0],
        )?);
        let l_tar = Law::Mixture(GaussianMixture::diagonal(
            2,
            vec![1.0],
            vec![M1, my1],
            vec![V1, vy1],
        )?);
        let t0 = Instant::now();
        let mut c = pcfg(
            s.particles_2d,
            VmfEstimator::Binned { bins: 32 },
            ctx.seed.wrapping_add(7),
        );
        // 2-D bins: start_bins² and end_bins² cells. Coarse marginal constraints relax the
        // problem and lower the energy: at eps = 0 (closed form 6.1671) 4000 paths give 6.081
        // with 4²/8² cells and 6.145 with 6²/12²; 8000 paths with 8²/16² give 6.173
        c.start_bins = if ctx.quick { 2 } else { 8 };
        c.end_bins = if ctx.quick { 4 } else { 16 };
        let mut pm = ParticleMf::new(c, &l_in, &l_tar, inter)?;
        pm.solve(&mut Anderson::default(), &pex, &mut [])?;
        let wall = t0.elapsed().as_secs_f64();
        let (m, v) = pm.moments(t_idx_part(0.5));
        table.push(vec![
            Cell::Int(2),
            "gaussian".into(),
            Cell::Num(1.0),
            Cell::Num(0.5),
            "particles-binned".into(),
            Cell::Num(m[0]),
            Cell::Num(v[0] + v[1]),
            Cell::Num(f64::NAN),
            Cell::Num(f64::NAN),
            Cell::Num(pm.energy()),
            Cell::Num(wall),
        ]);
        let e0_2d = gaussian_bridge_1d(M0, V0, M1, V1, 0.5).2
            + gaussian_bridge_1d(my0, vy0, my1, vy1, 0.5).2;
        summary.push(format!(
            "2-D repulsion eps = 1 at t = 0.5: grid ({g}x{g}, {segs_2d} segments) mean_x {mx:.4}, tr Cov {tr:.4}, energy {eg:.4}; particles (N = {np}, {sb}²/{eb}² bins) mean_x {pmx:.4}, tr Cov {ptr:.4}, energy {pe:.4}; closed-form eps = 0 energy {e0_2d:.4}",
            g = s.n_grid_2d, eg = sol.energy, np = s.particles_2d, pmx = m[0], ptr = v[0] + v[1], pe = pm.energy(),
            sb = if ctx.quick { 2 } else { 8 }, eb = if ctx.quick { 4 } else { 16 }
        ));
    }

    // cost scaling: one outer iteration (weights + V^MF along all paths) vs N; one grid iteration
    // vs n (best of 3 wall-clock runs)
    let mut scaling = Table::new(&["solver", "size", "seconds_per_iteration"]);
    let inter = Interaction::gaussian(1.0, ELL)?;
    let mut c_cost = Chart::new(
        "cost of one outer iteration",
        "N (particles) or n (grid cells)",
        "seconds",
    )
    .log(true, true);
    for (name, est) in [
        ("particles-exact", VmfEstimator::Exact),
        (
            "particles-binned",
            VmfEstimator::Binned {
                bins: s.estimator_bins,
            },
        ),
    ] {
        let mut pts = Vec::new();
        for &n in &s.scaling_n {
            let mut pm = ParticleMf::new(pcfg(n, est, ctx.seed), &law_in, &law_tar, inter.clone())?;
            let l = vec![0.0; n];
            let mut out = vec![0.0; n];
            // best of 3: the machine may be shared, the minimum is the least disturbed run
            let mut sec = f64::INFINITY;
            for _ in 0..3 {
                let t0 = Instant::now();
                pm.apply(&l, &mut out)?;
                sec = sec.min(t0.elapsed().as_secs_f64());
            }
            scaling.push(vec![name.into(), Cell::Int(n as i64), Cell::Num(sec)]);
            pts.push((n as f64, sec));
        }
        summary.push(format!(
            "{name}: seconds per iteration vs N fit exponent {:.2}",
            fit_exponent(&pts)
        ));
        c_cost = c_cost.with(Series::new(name, pts, Mark::LinePoints));
    }
    let mut pts = Vec::new();
    for &n in &s.scaling_grid {
        let gr = Grid1d::new(-5.0, 5.0, n)?;
        let q0 = gr.sample(|x| gauss(x, M0, V0));
        let q1 = gr.sample(|x| gauss(x, M1, V1));
        let mut g = GridMf1d::new(gr, &q0, &q1, inter.clone(), gcfg)?;
        let x0 = g.free_start()?;
        let mut out = vec![0.0; x0.len()];
        let mut sec = f64::INFINITY;
        for _ in 0..3 {
            let t0 = Instant::now();
            g.apply(&x0, &mut out)?;
            sec = sec.min(t0.elapsed().as_secs_f64());
        }
        scaling.push(vec!["grid-1d".into(), Cell::Int(n as i64), Cell::Num(sec)]);
        pts.push((n as f64, sec));
    }
    summary.push(format!(
        "grid-1d: seconds per iteration vs cells fit exponent {:.2}",
        fit_exponent(&pts)
    ));
    c_cost = c_cost.with(Series::new("grid-1d", pts, Mark::LinePoints));
    scaling.write_csv(&ctx.dir.join("scaling.csv"))?;

    let mut charts = c_dens;
    charts.push(c_energy);
    charts.push(c_limit);
    charts.push(c_cost);
    plot::save(ctx.dir, "mf_general", &charts, 3)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "p_in": [M0, V0], "p_tar": [M1, V1], "ell": ELL, "eps": s.eps, "congestion_eps": 0.5,
            "grid": { "cells": s.n_grid, "lo": -5.0, "hi": 5.0, "segments": s.segments, "steps_per_segment": s.steps_per_segment },
            "particles": { "n": s.particles, "steps": s.particle_steps, "start_bins": s.start_bins, "end_bins": s.end_bins,
                           "estimator_bins": s.estimator_bins, "kde_bandwidth": s.bandwidth },
            "two_d": {
                "grid": s.n_grid_2d, "particles": s.particles_2d,
                "segments": if ctx.quick { 4 } else { 16 },
                "start_bins": if ctx.quick { 2 } else { 8 },
                "end_bins": if ctx.quick { 4 } else { 16 },
            },
            "outer": { "solver": "anderson(5, 0.5)", "grid_tol": 1e-7, "particle_tol": 1e-6 },
            "scaling": { "particles": s.scaling_n, "grid": s.scaling_grid },
        }),
        summary,
    })
}

fn table_l1_eps0_at_zero(t: &Table) -> f64 {
    // the closed-form row at eps = 0, t = 0.5 (grid eps = 0 vs closed form)
    let (ce, ct, cs, cl) = (
        t.col("eps"),
        t.col("t"),
        t.col("solver"),
        t.col("l1_to_eps0"),
    );
    if let (Some(ce), Some(ct), Some(cs), Some(cl)) = (ce, ct, cs, cl) {
        for r in &t.rows {
            if r[ce].as_f64() == Some(0.0)
                && r[ct].as_f64() == Some(0.5)
                && r[cs].render() == "closed-form"
            {
                return r[cl].as_f64().unwrap_or(f64::NAN);
            }
        }
    }
    f64::NAN
}

/// Least-squares slope of log(y) against log(x).
fn fit_exponent(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for (x, y) in pts {
        let (lx, ly) = (x.ln(), y.max(1e-12).ln());
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
    }
    (n * sxy - sx * sy) / (n * sxx - sx * sx)
}
