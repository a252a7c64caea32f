//! `thermo-fluctuation`: trajectory entropies of the two-cluster model (μ = 1, σ² = 1, dt = 0.01,
//! T = 3), forward and backward: histograms of ΔS, ΔS_m, ΔS_tot and e^{-ΔS_tot}, the integral
//! fluctuation theorem with its 99% confidence interval as a function of the number of paths, and a
//! detailed-FT check.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_thermo::trajectory::{simulate_two_cluster, Direction, PathEntropies};
use mfpid_thermo::TwoCluster;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-fluctuation",
    about: "IFT <exp(-ΔS_tot)> = 1 with 99% CI vs number of paths, ΔS histograms and detailed-FT check (two-cluster model)",
    snapshot_skip: &[],
    run,
};

const HORIZON: f64 = 3.0;
const STEPS: usize = 300; // dt = 0.01
const LEVEL: f64 = 0.99;

fn run(ctx: &Ctx) -> Result<Outcome> {
    let model = TwoCluster::new(1.0, 1.0)?;
    let n_traj = if ctx.quick { 3000 } else { 100_000 };
    let mut ns: Vec<usize> = vec![
        100, 200, 500, 1000, 2000, 3000, 5000, 10_000, 20_000, 50_000, 100_000,
    ];
    ns.retain(|&n| n <= n_traj);
    // exact ⟨ΔS_tot⟩ = ∫_0^T Π dt (both directions), Simpson on the closed form
    let m = 600;
    let hq = HORIZON / m as f64;
    let mut integral = 0.0;
    for k in 0..=m {
        let w = if k == 0 || k == m {
            1.0
        } else if k % 2 == 1 {
            4.0
        } else {
            2.0
        };
        integral += w * model.rates_forward(k as f64 * hq)?.pi;
    }
    integral *= hq / 3.0;

    let mut table = Table::new(&[
        "direction",
        "n_traj",
        "ift_mean",
        "ift_ci_low",
        "ift_ci_high",
        "mean_dS_tot",
    ]);
    let mut summary = vec![format!(
        "exact <ΔS_tot> = ∫_0^T Π dt = {integral:.5} (continuous time, both directions)"
    )];
    let mut charts = Vec::new();
    let mut conv_chart = Chart::new(
        "IFT convergence (99% CI)",
        "number of paths",
        "<exp(-ΔS_tot)>",
    )
    .log(true, false);
    let mut dft_chart = Chart::new("detailed FT check", "ΔS_tot", "ln P(ΔS_tot)/P(-ΔS_tot)");
    let mut dft_record = Vec::new();
    for (di, dir) in [Direction::Forward, Direction::Backward]
        .into_iter()
        .enumerate()
    {
        let paths =
            simulate_two_cluster(&model, dir, HORIZON, STEPS, n_traj, ctx.seed + di as u64)?;
        let conv = paths.ift_convergence(&ns, LEVEL)?;
        for e in &conv {
            table.push(vec![
                dir.name().into(),
                Cell::Int(e.n_traj as i64),
                Cell::Num(e.ift_mean),
                Cell::Num(e.ift_ci_low),
                Cell::Num(e.ift_ci_high),
                Cell::Num(e.mean_ds_tot),
            ]);
        }
        let spec_n = conv.iter().find(|e| e.n_traj == 3000);
        let all = paths.ift(LEVEL)?;
        let inside = all.ift_ci_low <= 1.0 && 1.0 <= all.ift_ci_high;
        summary.push(format!(
            "{}: n = {}: <exp(-ΔS_tot)> = {:.4} [{:.4}, {:.4}] ({}), <ΔS_tot> = {:.4} ± {:.4} (> 0: {}), <ΔS> = {:.4}, <ΔS_m> = {:.4}",
            dir.name(),
            all.n_traj,
            all.ift_mean,
            all.ift_ci_low,
            all.ift_ci_high,
            if inside { "1 inside the 99% CI" } else { "1 OUTSIDE the 99% CI" },
            all.mean_ds_tot,
            all.mean_ds_tot_se,
            all.mean_ds_tot > 0.0,
            all.mean_ds_sys,
            all.mean_ds_medium,
        ));
        if let Some(e) = spec_n {
            summary.push(format!(
                "{} at 3000 paths: <exp(-ΔS_tot)> = {:.4}, <ΔS_tot> = {:.4} (spec check: {} / {})",
                dir.name(),
                e.ift_mean,
                e.mean_ds_tot,
                if di == 0 { "1.001" } else { "1.008" },
                if di == 0 { "0.160" } else { "0.155" },
            ));
        }
        conv_chart = conv_chart
            .with(
                Series::new(
                    format!("{} mean", dir.name()),
                    conv.iter().map(|e| (e.n_traj as f64, e.ift_mean)).collect(),
                    Mark::LinePoints,
                )
                .color(2 * di),
            )
            .with(
                Series::new(
                    "",
                    conv.iter()
                        .map(|e| (e.n_traj as f64, e.ift_ci_low))
                        .collect(),
                    Mark::Dashed,
                )
                .color(2 * di),
            )
            .with(
                Series::new(
                    "",
                    conv.iter()
                        .map(|e| (e.n_traj as f64, e.ift_ci_high))
                        .collect(),
                    Mark::Dashed,
                )
                .color(2 * di),
            );

        let dft = paths.dft_check(16, 1.6)?;
        summary.push(format!(
            "{}: detailed-FT slope of ln P(ΔS)/P(-ΔS) vs ΔS = {:.3} ± {:.3} (1 only for an exact detailed FT; this transient process has none)",
            dir.name(),
            dft.slope,
            dft.slope_se
        ));
        dft_chart = dft_chart.with(
            Series::new(
                format!("{} (slope {:.2})", dir.name(), dft.slope),
                dft.bins
                    .iter()
                    .filter(|b| b.ln_ratio.is_finite())
                    .map(|b| (b.ds, b.ln_ratio))
                    .collect(),
                Mark::LinePoints,
            )
            .color(2 * di),
        );
        dft_record.push(serde_json::json!({ "direction": dir.name(), "slope": dft.slope, "slope_se": dft.slope_se, "bins": dft.bins }));
        charts.push(histograms(&paths, dir.name())?);
    }
    conv_chart = conv_chart.with(
        Series::new(
            "1",
            vec![(ns[0] as f64, 1.0), (*ns.last().unwrap_or(&1) as f64, 1.0)],
            Mark::Dashed,
        )
        .color(6),
    );
    dft_chart =
        dft_chart.with(Series::new("slope 1", vec![(0.0, 0.0), (1.6, 1.6)], Mark::Dashed).color(6));
    charts.push(conv_chart);
    charts.push(dft_chart);
    plot::save(ctx.dir, "fluctuation", &charts, 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "mu": 1.0, "sigma2": 1.0, "horizon": HORIZON, "em_steps": STEPS, "dt": HORIZON / STEPS as f64,
            "n_traj": n_traj, "level": LEVEL, "medium_entropy": "Stratonovich midpoint rule",
            "exact_mean_dS_tot": integral, "dft": dft_record,
        }),
        summary,
    })
}

/// Normalised histograms (as densities) of ΔS, ΔS_m, ΔS_tot and exp(-ΔS_tot).
fn histograms(p: &PathEntropies, name: &str) -> Result<Chart> {
    let tot = p.total();
    let expm: Vec<f64> = tot.iter().map(|s| (-s).exp()).collect();
    let mut c = Chart::new(
        format!("{name}: entropy changes per path"),
        "value",
        "density",
    );
    for (i, (label, v)) in [
        ("ΔS", &p.system),
        ("ΔS_m", &p.medium),
        ("ΔS_tot", &tot),
        ("exp(-ΔS_tot)", &expm),
    ]
    .into_iter()
    .enumerate()
    {
        c = c.with(Series::new(label, density(v, -3.0, 4.0, 70), Mark::Line).color(i));
    }
    Ok(c)
}

fn density(v: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64)> {
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &x in v {
        if x >= lo && x < hi {
            counts[((x - lo) / w) as usize] += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(k, &c)| (lo + (k as f64 + 0.5) * w, c as f64 / (v.len() as f64 * w)))
        .collect()
}
