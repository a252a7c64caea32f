//! `mfpid thermo ...`: thermodynamic diagnostics of the 1-D two-cluster model
//! `p_0 = ½ N(μ, σ²) + ½ N(-μ, σ²)` under OU noising `dx = -x dt + sqrt 2 dW` (Yu & Huang).

use std::path::PathBuf;

use mfpid::thermo::franz_parisi::{reference_q_grid, FranzParisi};
use mfpid::thermo::trajectory::{simulate_two_cluster, Direction};
use mfpid::thermo::TwoCluster;

use crate::common::Common;
use crate::cost::Cost;
use crate::data::{self, Cell, Table};
use crate::error::{AppError, LibContext, Result};
use crate::outdir::{self, OutDir, Timings};
use mfpid_report::plot::{self, Chart, Mark, Series};

/// The two-cluster model's parameters.
#[derive(clap::Args, Debug, Clone, serde::Serialize)]
pub struct Model {
    /// Cluster half-distance μ.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub mu: f64,
    /// Cluster variance σ² (> 0).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    pub sigma2: f64,
}

/// Thermodynamic diagnostics.
#[derive(clap::Subcommand, Debug)]
pub enum ThermoCmd {
    /// Entropy production Π, flow Φ and dS/dt = Π - Φ along the forward process (closed form
    /// with adaptive quadrature), the entropy S(t) and the speciation time t_s.
    #[command(after_help = "Example:\n  mfpid thermo rates --mu 1 --sigma2 1 --t-max 3")]
    Rates {
        #[command(flatten)]
        model: Model,
        /// End of the time range [0, t_max] (> 0).
        #[arg(long, allow_negative_numbers = true, default_value_t = 3.0)]
        t_max: f64,
        /// Time points (>= 2).
        #[arg(long, default_value_t = 121, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
        points: usize,
    },
    /// Integral and detailed fluctuation theorems from simulated paths: ⟨e^{-ΔS_tot}⟩ = 1 with a
    /// 99% confidence interval, its convergence in the number of paths, and the detailed-FT slope.
    #[command(
        after_help = "Example:\n  mfpid thermo ift --mu 1 --sigma2 0.5 --paths 20000 --direction backward"
    )]
    Ift {
        #[command(flatten)]
        model: Model,
        /// Time horizon T (> 0).
        #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
        horizon: f64,
        /// Euler-Maruyama steps.
        #[arg(long, default_value_t = 200, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
        steps: usize,
        /// Paths (>= 2).
        #[arg(long, default_value_t = 10_000, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
        paths: usize,
        /// forward (noising) or backward (generative).
        #[arg(long, value_enum, default_value_t = Dir::Forward)]
        direction: Dir,
    },
    /// The Franz-Parisi potential V(q), dV/dq, d²V/dq² of reverse diffusion read as inference, by
    /// Monte Carlo with analytic derivatives, on the spec's q-grid (0.075 .. 8.065).
    #[command(
        name = "franz-parisi",
        after_help = "Example:\n  mfpid thermo franz-parisi --mu 2 --sigma2 0.5 --t 0.8 --pairs 4000"
    )]
    FranzParisi {
        #[command(flatten)]
        model: Model,
        /// Forward time t (> 0).
        #[arg(long, allow_negative_numbers = true, default_value_t = 0.5)]
        t: f64,
        /// Planted pairs for the Monte Carlo average (>= 2).
        #[arg(long, default_value_t = 4000, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
        pairs: usize,
    },
}

/// Direction flag.
#[derive(clap::ValueEnum, Clone, Copy, Debug, serde::Serialize)]
pub enum Dir {
    /// Forward noising.
    Forward,
    /// Reverse (generative) process.
    Backward,
}

fn model(m: &Model) -> Result<TwoCluster> {
    TwoCluster::new(m.mu, m.sigma2).ctx("two-cluster model (--mu, --sigma2)")
}

/// Run a thermo diagnostic.
pub fn cmd(c: &ThermoCmd, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let mut timings = Timings::start();
    let (name, args) = match c {
        ThermoCmd::Rates {
            model,
            t_max,
            points,
        } => (
            "rates",
            serde_json::json!({"model": model, "t_max": t_max, "points": points}),
        ),
        ThermoCmd::Ift {
            model,
            horizon,
            steps,
            paths,
            direction,
        } => (
            "ift",
            serde_json::json!({"model": model, "horizon": horizon, "steps": steps, "paths": paths, "direction": direction}),
        ),
        ThermoCmd::FranzParisi { model, t, pairs } => (
            "franz-parisi",
            serde_json::json!({"model": model, "t": t, "pairs": pairs}),
        ),
    };
    // check the model before creating any directory
    let m = match c {
        ThermoCmd::Rates { model: mm, .. }
        | ThermoCmd::Ift { model: mm, .. }
        | ThermoCmd::FranzParisi { model: mm, .. } => model(mm)?,
    };
    let cost = estimate(c, common);
    cost.check(common)?;
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(format!("thermo-{name}")));
    let dir = OutDir::create(&out, common.force)?;
    let seed = common.seed.unwrap_or(0);
    timings.lap("setup");
    let summary = match c {
        ThermoCmd::Rates { t_max, points, .. } => {
            let points = if common.quick {
                (*points).min(41)
            } else {
                *points
            };
            rates(&m, *t_max, points, &dir)?
        }
        ThermoCmd::Ift {
            horizon,
            steps,
            paths,
            direction,
            ..
        } => {
            let paths = if common.quick {
                (*paths).min(2000)
            } else {
                *paths
            };
            let steps = if common.quick {
                (*steps).min(100)
            } else {
                *steps
            };
            ift(&m, *horizon, steps, paths, *direction, seed, &dir)?
        }
        ThermoCmd::FranzParisi { t, pairs, .. } => {
            let pairs = if common.quick {
                (*pairs).min(1000)
            } else {
                *pairs
            };
            franz_parisi(&m, *t, pairs, seed, &dir)?
        }
    };
    timings.lap("compute");
    data::write_json(&dir.file("summary.json"), &summary)?;
    outdir::write_run_json(
        &dir,
        serde_json::json!({
            "command": format!("thermo {name}"),
            "arguments": args,
            "seed": seed,
            "memory_estimate_bytes": cost.bytes_u64(),
        }),
        common.quick,
        &timings,
    )?;
    let final_dir = dir.commit()?;
    if !common.quiet {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
        println!("wrote {}", final_dir.display());
    }
    Ok(())
}

/// Memory of a `thermo` run from its flags (see `crate::cost`; after `--quick`'s caps).
fn estimate(c: &ThermoCmd, common: &Common) -> Cost {
    let cap = |v: usize, q: usize| if common.quick { v.min(q) } else { v } as f64;
    let mut cost = Cost::new();
    match c {
        ThermoCmd::Rates { points, .. } => {
            let p = cap(*points, 41);
            cost.add(
                "--points",
                p,
                "rate table and figure (points x 12)",
                p * 12.0,
                8.0 + 24.0,
            );
        }
        ThermoCmd::Ift { steps, paths, .. } => {
            let (n, b) = (cap(*steps, 100), cap(*paths, 2000));
            cost.add(
                "--paths",
                b,
                "paths and their entropies (paths x 12)",
                b * 12.0,
                8.0,
            );
            cost.add(
                "--steps",
                n,
                "time grid and traces (steps x 4)",
                n * 4.0,
                8.0,
            );
        }
        ThermoCmd::FranzParisi { pairs, .. } => {
            let b = cap(*pairs, 1000);
            cost.add(
                "--pairs",
                b,
                "planted pairs and their weights (pairs x 8)",
                b * 8.0,
                8.0,
            );
        }
    }
    cost
}

fn rates(m: &TwoCluster, t_max: f64, points: usize, dir: &OutDir) -> Result<serde_json::Value> {
    if !(t_max > 0.0 && t_max.is_finite()) {
        return Err(AppError::Other(format!(
            "--t-max must be > 0, got {}",
            crate::common::human_num(t_max)
        )));
    }
    if points < 2 {
        return Err(AppError::Other(format!(
            "--points must be >= 2, got {points}"
        )));
    }
    let mut t = Table::with_columns(["t", "pi", "phi", "ds_dt", "entropy"]);
    let (mut pi, mut phi, mut ds, mut s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // t = 0 is singular for the rates of a mixture only when σ² = 0; start just after it
    for i in 0..points {
        outdir::check_cancel()?;
        let ti = (t_max * i as f64 / (points - 1) as f64).max(1e-6 * t_max);
        let r = m.rates_forward(ti).ctx(format!("rates at t = {ti}"))?;
        let e = m.entropy(ti).ctx(format!("entropy at t = {ti}"))?;
        t.push(vec![
            ti.into(),
            r.pi.into(),
            r.phi.into(),
            r.ds_dt.into(),
            e.into(),
        ]);
        pi.push((ti, r.pi));
        phi.push((ti, r.phi));
        ds.push((ti, r.ds_dt));
        s.push((ti, e));
    }
    t.write_csv(&dir.file("table.csv"))?;
    let ts = m.speciation_time();
    plot::save(
        dir.path(),
        "rates",
        &[
            Chart::new("entropy rates (forward)", "t", "rate")
                .with(Series::new("production Π", pi, Mark::Line))
                .with(Series::new("flow Φ", phi, Mark::Line))
                .with(Series::new("dS/dt", ds, Mark::Dashed)),
            Chart::new("entropy S(t)", "t", "S").with(Series::new("S", s, Mark::Line)),
        ],
        2,
    )?;
    Ok(serde_json::json!({
        "mu": m.mu(),
        "sigma2": m.sigma2(),
        "speciation_time": if ts.is_finite() { Some(ts) } else { None },
        "phase": format!("{:?}", m.phase()),
    }))
}

fn ift(
    m: &TwoCluster,
    horizon: f64,
    steps: usize,
    paths: usize,
    dir_flag: Dir,
    seed: u64,
    dir: &OutDir,
) -> Result<serde_json::Value> {
    let direction = match dir_flag {
        Dir::Forward => Direction::Forward,
        Dir::Backward => Direction::Backward,
    };
    outdir::check_cancel()?;
    let ent = simulate_two_cluster(m, direction, horizon, steps, paths, seed)
        .ctx("simulating the two-cluster paths")?;
    outdir::check_cancel()?;
    let est = ent.ift(0.99).ctx("IFT estimate")?;
    let mut ns = Vec::new();
    let mut n = 16usize;
    while n < paths {
        ns.push(n);
        n *= 2;
    }
    ns.push(paths);
    let conv = ent.ift_convergence(&ns, 0.99).ctx("IFT convergence")?;
    let mut t = Table::with_columns([
        "n_paths",
        "ift_mean",
        "ift_se",
        "ci_low",
        "ci_high",
        "mean_ds_tot",
    ]);
    let (mut mean, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
    for c in &conv {
        t.push(vec![
            c.n_traj.into(),
            c.ift_mean.into(),
            c.ift_se.into(),
            c.ift_ci_low.into(),
            c.ift_ci_high.into(),
            c.mean_ds_tot.into(),
        ]);
        mean.push((c.n_traj as f64, c.ift_mean));
        lo.push((c.n_traj as f64, c.ift_ci_low));
        hi.push((c.n_traj as f64, c.ift_ci_high));
    }
    t.write_csv(&dir.file("table.csv"))?;
    // bins up to the 95th percentile of |ΔS_tot|, where both signs are still populated
    let mut abs: Vec<f64> = ent.total().iter().map(|v| v.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let max_abs = abs[((abs.len() - 1) as f64 * 0.95) as usize].max(1e-9);
    let dft = ent.dft_check(16, max_abs).ok();
    let mut dt = Table::with_columns(["ds_tot", "n_pos", "n_neg", "ln_ratio", "ln_ratio_se"]);
    if let Some(c) = &dft {
        for b in &c.bins {
            dt.push(vec![
                b.ds.into(),
                b.n_pos.into(),
                b.n_neg.into(),
                b.ln_ratio.into(),
                b.ln_ratio_se.into(),
            ]);
        }
    }
    dt.write_csv(&dir.file("dft.csv"))?;
    let ones: Vec<(f64, f64)> = vec![(mean[0].0, 1.0), (paths as f64, 1.0)];
    plot::save(
        dir.path(),
        "ift",
        &[
            Chart::new("integral fluctuation theorem", "paths", "<exp(-ΔS_tot)>")
                .log(true, false)
                .with(Series::new("estimate", mean, Mark::LinePoints))
                .with(Series::new("99% CI", lo, Mark::Dashed).color(1))
                .with(Series::new("", hi, Mark::Dashed).color(1))
                .with(Series::new("1", ones, Mark::Line).color(2)),
        ],
        1,
    )?;
    Ok(serde_json::json!({
        "direction": direction.name(),
        "paths": paths,
        "steps": steps,
        "ift": est,
        "ift_consistent_with_1": est.ift_ci_low <= 1.0 && 1.0 <= est.ift_ci_high,
        "dft_slope": dft.as_ref().map(|c| c.slope),
        "dft_slope_se": dft.as_ref().map(|c| c.slope_se),
        "dft_note": "slope of ln P(ΔS_tot)/P(-ΔS_tot) against ΔS_tot: 1 only where a detailed FT holds (steady states); a transient relaxation need not have one",
    }))
}

fn franz_parisi(
    m: &TwoCluster,
    t: f64,
    pairs: usize,
    seed: u64,
    dir: &OutDir,
) -> Result<serde_json::Value> {
    let fp = FranzParisi::new(m, t, pairs, seed).ctx("Franz-Parisi potential (--t, --pairs)")?;
    let qs = reference_q_grid();
    let mut curve = Vec::with_capacity(qs.len());
    for chunk in qs.chunks(50) {
        outdir::check_cancel()?;
        curve.extend(fp.curve(chunk).ctx("Franz-Parisi curve")?);
    }
    let mut tab = Table::with_columns(["q", "v", "dv", "d2v", "v_se", "dv_se", "d2v_se"]);
    for p in &curve {
        tab.push(
            [p.q, p.v, p.dv, p.d2v, p.v_se, p.dv_se, p.d2v_se]
                .iter()
                .map(|&x| Cell::Num(x))
                .collect(),
        );
    }
    tab.write_csv(&dir.file("table.csv"))?;
    let minima = FranzParisi::minima(&curve);
    plot::save(
        dir.path(),
        "franz_parisi",
        &[
            Chart::new(format!("Franz-Parisi potential, t = {t}"), "q", "V(q)").with(Series::new(
                "V",
                curve.iter().map(|p| (p.q, p.v)).collect(),
                Mark::Line,
            )),
            Chart::new("derivative", "q", "dV/dq").with(Series::new(
                "dV/dq",
                curve.iter().map(|p| (p.q, p.dv)).collect(),
                Mark::Line,
            )),
        ],
        2,
    )?;
    Ok(serde_json::json!({"t": t, "pairs": pairs, "minima_q": minima}))
}
