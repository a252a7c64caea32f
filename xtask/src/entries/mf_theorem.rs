//! `mf-theorem`: the linear-interpolant theorem of MF-PID with a quadratic interaction. For flat and
//! geometric beta schedules and several non-Gaussian p_in / p_tar pairs, the centre trajectory
//! nu is found by fixed-point iteration of particle simulations with common random numbers, from
//! the interpolant + 0.35 sin(2 pi t) dm, by damped Picard (zeta = 0.5) and Anderson (depth 4),
//! stopping at max |d nu| < 2e-4. `max_dev_over_dm` = max_i |nu_i - interpolant(s_i)| / |dm|,
//! `mc_error_over_dm` = max_i stderr of the sample mean at s_i / |dm|. Rows with solver
//! `analytic` iterate the exact (closed-form marginal mean) map, no Monte Carlo: they measure how
//! far the exact piecewise-constant fixed point lies from the interpolant at the midpoints. The
//! summary also gives the Monte Carlo error of the fixed point itself, from independent replicas
//! (fresh starts and increments): the fixed point of a noisy map is wider than one sample mean.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::{equal_breaks, GaussianMixture};
use mfpid_meanfield::{
    interpolant_centres, AnalyticQuadraticMf, Anderson, Criterion, Executor, FixedPointSolver,
    IterateTrace, Law, Picard, QuadraticMf, QuadraticMfConfig, ResidualHistory,
};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "mf-theorem",
    about: "MF-PID fixed point (Picard, Anderson, common random numbers) vs the linear-interpolant theorem for non-Gaussian p_in/p_tar, flat and geometric beta",
    snapshot_skip: &[],
    run,
};

fn exp_cloud(n: usize, shift: f64) -> Result<Law> {
    // exponential quantiles: right-skewed, mean shift + 1
    let pts = (0..n)
        .map(|j| shift - (1.0 - (j as f64 + 0.5) / n as f64).ln())
        .collect();
    Ok(Law::points(1, pts)?)
}

fn uniform_cloud(n: usize, a: f64, b: f64) -> Result<Law> {
    let pts = (0..n)
        .map(|j| a + (b - a) * (j as f64 + 0.5) / n as f64)
        .collect();
    Ok(Law::points(1, pts)?)
}

fn ring_cloud(n: usize, cx: f64, cy: f64, r: f64) -> Result<Law> {
    let mut pts = Vec::with_capacity(2 * n);
    for j in 0..n {
        let a = 2.0 * std::f64::consts::PI * j as f64 / n as f64;
        // lopsided ring: denser on one side (non-symmetric about its centre)
        let rr = r * (1.0 + 0.3 * a.cos());
        pts.push(cx + rr * a.cos());
        pts.push(cy + rr * a.sin());
    }
    Ok(Law::points(2, pts)?)
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (b, steps, cloud) = if ctx.quick {
        (512, 80, 48)
    } else {
        (8000, 400, 100)
    };
    let m = 8;
    let breaks = equal_breaks(m);
    let shapes: [(&str, Vec<f64>); 2] = [
        ("flat", vec![4.0; m]),
        (
            "geometric",
            (0..m).map(|i| 12.0 * 0.65f64.powi(i as i32)).collect(),
        ),
    ];
    let mix1 = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
    let cases: Vec<(&str, Law, Law)> = vec![
        (
            "gauss->mixture",
            Law::Mixture(GaussianMixture::isotropic(
                1,
                vec![1.0],
                vec![-1.0],
                vec![0.09],
            )?),
            Law::Mixture(mix1.clone()),
        ),
        (
            "bimodal->skewed-cloud",
            Law::Mixture(GaussianMixture::isotropic(
                1,
                vec![0.3, 0.7],
                vec![-2.0, 1.0],
                vec![0.09, 0.09],
            )?),
            exp_cloud(cloud, 2.0)?,
        ),
        (
            "uniform-cloud->mixture",
            uniform_cloud(cloud, -3.0, -1.0)?,
            Law::Mixture(GaussianMixture::isotropic(
                1,
                vec![0.5, 0.5],
                vec![1.0, 3.0],
                vec![0.1, 0.2],
            )?),
        ),
        (
            "2d-mixture->ring-cloud",
            Law::Mixture(GaussianMixture::full(
                2,
                vec![0.4, 0.6],
                vec![-1.5, 0.0, 0.5, -1.0],
                vec![0.2, 0.1, 0.1, 0.3, 0.1, 0.0, 0.0, 0.05],
            )?),
            ring_cloud(cloud, 2.0, 1.0, 1.0)?,
        ),
    ];
    let ex = Executor::new(2e-4, 200, Criterion::Step)?;
    let mut table = Table::new(&[
        "case",
        "beta_shape",
        "solver",
        "iterations",
        "max_dev_over_dm",
        "mc_error_over_dm",
    ]);
    let mut summary = vec![format!(
        "{m} equal pieces; B = {b} particles with common random numbers, {steps} Euler-Maruyama steps; start interpolant + 0.35 sin(2 pi t) dm; stop at max |d nu| < 2e-4"
    )];
    let mut c_hist =
        Chart::new("fixed-point steps max |d nu|", "iteration", "step").log(false, true);
    let mut c_iter = Chart::new(
        "Picard iterates nu^k (gauss->mixture, flat) and the interpolant",
        "t",
        "nu",
    );
    let mut all_within = true;
    let mut all_within_fp = true;
    let replicas: u64 = if ctx.quick { 3 } else { 4 };
    let mut color = 0;
    for (case, p_in, p_tar) in &cases {
        for (shape, beta) in &shapes {
            let mut cfg = QuadraticMfConfig::new(breaks.clone(), beta.clone());
            cfg.n_particles = b;
            cfg.n_steps = steps;
            cfg.seed = ctx.seed;
            cfg.start_seed = ctx.seed.wrapping_add(1);
            let mut mf = QuadraticMf::new(cfg, p_in.clone(), p_tar.clone())?;
            let nu0 = mf.perturbed_start(0.35)?;
            let solvers: [Box<dyn FixedPointSolver>; 2] = [
                Box::new(Picard::new(0.5)?),
                Box::new(Anderson::new(4, 0.5, 1e-10)?),
            ];
            for mut solver in solvers {
                let mut hist = ResidualHistory::default();
                let mut trace = IterateTrace::default();
                let sol = mf.solve(
                    solver.as_mut(),
                    &ex,
                    nu0.clone(),
                    &mut [&mut hist, &mut trace],
                )?;
                all_within &= sol.within_3_stderr;
                table.push(vec![
                    (*case).into(),
                    (*shape).into(),
                    solver.name().into(),
                    Cell::Int(sol.outcome.iterations as i64),
                    Cell::Num(sol.max_dev_over_dm),
                    Cell::Num(sol.mc_error_over_dm),
                ]);
                summary.push(format!(
                    "{case:<24} {shape:<9} {:<8}: {:>3} iterations, max dev / dm = {:.2e}, MC error / dm = {:.2e}, within 3 stderr at every midpoint: {}",
                    solver.name(),
                    sol.outcome.iterations,
                    sol.max_dev_over_dm,
                    sol.mc_error_over_dm,
                    sol.within_3_stderr
                ));
                let pts: Vec<(f64, f64)> = hist
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(k, s)| ((k + 1) as f64, *s))
                    .collect();
                let mark = if solver.name() == "picard" {
                    Mark::Line
                } else {
                    Mark::Dashed
                };
                c_hist = c_hist.with(
                    Series::new(format!("{case} {shape} {}", solver.name()), pts, mark)
                        .color(color),
                );
                if *case == "gauss->mixture" && *shape == "flat" && solver.name() == "picard" {
                    let d = mf.dim_state();
                    let mids = mf.midpoints().to_vec();
                    let mut first = vec![(0.0, 0.0); 0];
                    for (i, s) in mids.iter().enumerate() {
                        first.push((*s, nu0[i * d]));
                    }
                    c_iter = c_iter.with(Series::new("start", first, Mark::LinePoints).color(1));
                    for (k, it) in trace.iterates.iter().enumerate() {
                        let pts = mids
                            .iter()
                            .enumerate()
                            .map(|(i, s)| (*s, it[i * d]))
                            .collect();
                        let label = if k + 1 == trace.iterates.len() {
                            "converged"
                        } else {
                            ""
                        };
                        c_iter = c_iter.with(Series::new(label, pts, Mark::Line).color(2));
                    }
                    let interp = mf.interpolant()?;
                    let pts = mids
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (*s, interp[i * d]))
                        .collect();
                    c_iter = c_iter.with(Series::new("interpolant", pts, Mark::Points).color(0));
                }
            }
            color += 1;
            // the Monte Carlo error of the fixed point itself: independent replicas (fresh starts
            // and increments). The fixed point of a noisy map carries the sampling noise
            // amplified by (I - J)^-1 (J = dF/dnu), so it is wider than one sample mean's stderr.
            let main_x = {
                let mut cfg = QuadraticMfConfig::new(breaks.clone(), beta.clone());
                cfg.n_particles = b;
                cfg.n_steps = steps;
                cfg.seed = ctx.seed;
                cfg.start_seed = ctx.seed.wrapping_add(1);
                let mut mf0 = QuadraticMf::new(cfg, p_in.clone(), p_tar.clone())?;
                mf0.solve(
                    &mut Anderson::new(4, 0.5, 1e-10)?,
                    &ex,
                    nu0.clone(),
                    &mut [],
                )?
            };
            let mut reps: Vec<Vec<f64>> = Vec::new();
            for r in 1..=replicas {
                let mut cfg = QuadraticMfConfig::new(breaks.clone(), beta.clone());
                cfg.n_particles = b;
                cfg.n_steps = steps;
                cfg.seed = ctx.seed.wrapping_add(1000 * r);
                cfg.start_seed = ctx.seed.wrapping_add(1000 * r + 1);
                let mut mfr = QuadraticMf::new(cfg, p_in.clone(), p_tar.clone())?;
                let sol = mfr.solve(
                    &mut Anderson::new(4, 0.5, 1e-10)?,
                    &ex,
                    nu0.clone(),
                    &mut [],
                )?;
                reps.push(sol.outcome.x);
            }
            // Fixed-point MC error per midpoint: kappa * se_i, with se_i the stderr of one sample
            // mean (its time profile, well estimated from B particles) and kappa the amplification
            // of the fixed point over one sample mean, pooled over midpoints from the replicas.
            let dim = main_x.interpolant.len();
            let interp = &main_x.interpolant;
            let se = &main_x.simulation.mid_stderr;
            let runs: Vec<&Vec<f64>> = std::iter::once(&main_x.outcome.x)
                .chain(reps.iter())
                .collect();
            let nr = runs.len() as f64;
            let mut kappa2 = 0.0;
            let mut mean_dev = vec![0.0; dim];
            for i in 0..dim {
                let vals: Vec<f64> = runs.iter().map(|x| x[i] - interp[i]).collect();
                let mean = vals.iter().sum::<f64>() / nr;
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nr - 1.0);
                kappa2 += var / (se[i] * se[i]);
                mean_dev[i] = mean;
            }
            let kappa = (kappa2 / dim as f64).sqrt();
            let worst_z = (0..dim)
                .map(|i| (main_x.outcome.x[i] - interp[i]).abs() / (kappa * se[i]))
                .fold(0.0, f64::max);
            let worst_bias = (0..dim)
                .map(|i| mean_dev[i].abs() / (kappa * se[i] / nr.sqrt()))
                .fold(0.0, f64::max);
            all_within_fp &= worst_z <= 3.0 && worst_bias <= 3.0;
            summary.push(format!(
                "{case:<24} {shape:<9} fixed-point MC error = kappa x one-sample stderr, kappa = {kappa:.2} from {} runs; main run max |nu - interpolant| / error = {worst_z:.2}; mean over runs max |nu - interpolant| / (error / sqrt(runs)) = {worst_bias:.2}",
                runs.len()
            ));
            // exact map for mixture targets (no Monte Carlo)
            if let Law::Mixture(g) = p_tar {
                let z_bar = p_in.mean();
                let mut map = AnalyticQuadraticMf::new(
                    breaks.clone(),
                    beta.clone(),
                    z_bar.clone(),
                    g.clone(),
                )?;
                let exact_ex = Executor::new(1e-12, 500, Criterion::Residual)?;
                let out = exact_ex.run(&mut map, &mut Anderson::default(), nu0.clone(), &mut [])?;
                let interp = interpolant_centres(&breaks, &z_bar, &g.mean())?;
                let dm = mf.delta_m();
                let dev = out
                    .x
                    .iter()
                    .zip(&interp)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
                    / dm;
                table.push(vec![
                    (*case).into(),
                    (*shape).into(),
                    "analytic".into(),
                    Cell::Int(out.iterations as i64),
                    Cell::Num(dev),
                    Cell::Num(0.0),
                ]);
                summary.push(format!(
                    "{case:<24} {shape:<9} analytic: exact piecewise-constant fixed point deviates from the interpolant by {dev:.2e} dm"
                ));
            }
        }
    }
    summary.push(format!(
        "every particle fixed point within 3 standard errors of one sample mean of the interpolant at every midpoint: {all_within}"
    ));
    summary.push(format!(
        "every particle fixed point within 3 fixed-point Monte Carlo errors of the interpolant, and the mean over runs within 3 of its standard errors, at every midpoint: {all_within_fp}"
    ));
    plot::save(ctx.dir, "mf_theorem", &[c_iter, c_hist], 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "pieces": m, "particles": b, "steps": steps, "cloud_points": cloud,
            "beta": { "flat": shapes[0].1, "geometric": shapes[1].1 },
            "tolerance": 2e-4, "criterion": "max |nu_{k+1} - nu_k|",
            "picard_zeta": 0.5, "anderson": { "depth": 4, "beta": 0.5, "lambda": 1e-10 },
            "perturbation": "0.35 sin(2 pi s_i) dm",
            "replicas": replicas,
        }),
        summary,
    })
}
