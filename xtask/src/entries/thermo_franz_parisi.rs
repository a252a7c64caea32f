//! `thermo-franz-parisi`: Franz-Parisi potential V(q), dV/dq, d²V/dq² of the two-cluster model
//! (μ = 1, σ² = 0.1) at t = 1 and at a small t, by Monte Carlo over planted pairs with analytic
//! derivatives inside the expectation.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_thermo::franz_parisi::{reference_q_grid, FranzParisi};
use mfpid_thermo::TwoCluster;
use std::io::Write;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-franz-parisi",
    about: "Franz-Parisi potential V(q), dV/dq, d2V/dq2 (two-cluster, σ² = 0.1) at t = 1 and t = 0.1 with MC errors",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let model = TwoCluster::new(1.0, 0.1)?;
    let n_pairs = if ctx.quick { 4000 } else { 200_000 };
    let mut qs = reference_q_grid();
    if ctx.quick {
        qs = qs.into_iter().step_by(10).collect();
    }
    let times = [1.0, 0.1];
    let mut table = Table::new(&["t", "q", "V", "dV", "d2V"]);
    let mut errs = std::fs::File::create(ctx.dir.join("mc_errors.csv"))?;
    writeln!(errs, "t,q,V_se,dV_se,d2V_se")?;
    let mut charts = Vec::new();
    let mut summary = Vec::new();
    let mut max_se = [0.0f64; 3];
    for (i, &t) in times.iter().enumerate() {
        let fp = FranzParisi::new(&model, t, n_pairs, ctx.seed + i as u64)?;
        let curve = fp.curve(&qs)?;
        for p in &curve {
            table.push(vec![
                Cell::Num(t),
                Cell::Num(p.q),
                Cell::Num(p.v),
                Cell::Num(p.dv),
                Cell::Num(p.d2v),
            ]);
            writeln!(errs, "{t},{},{},{},{}", p.q, p.v_se, p.dv_se, p.d2v_se)?;
            max_se[0] = max_se[0].max(p.v_se);
            max_se[1] = max_se[1].max(p.dv_se);
            max_se[2] = max_se[2].max(p.d2v_se);
        }
        let minima = FranzParisi::minima(&curve);
        let maxima: Vec<f64> = curve
            .windows(2)
            .filter(|w| w[0].dv > 0.0 && w[1].dv <= 0.0)
            .map(|w| w[0].q + (w[1].q - w[0].q) * w[0].dv / (w[0].dv - w[1].dv))
            .collect();
        summary.push(format!(
            "t = {t}: interior minima of V at q = {minima:.3?} (metastable other-cluster state), maxima (barrier) at q = {maxima:.3?}; V -> -inf as q -> 0 (Jacobian ½ ln q)"
        ));
        let mut c = Chart::new(format!("Franz-Parisi potential, t = {t}"), "q", "value");
        c = c
            .with(
                Series::new(
                    "V(q)",
                    curve.iter().map(|p| (p.q, p.v)).collect(),
                    Mark::Line,
                )
                .color(0),
            )
            .with(
                Series::new(
                    "dV/dq",
                    curve.iter().map(|p| (p.q, p.dv)).collect(),
                    Mark::Line,
                )
                .color(1),
            )
            .with(
                Series::new(
                    "d²V/dq²",
                    curve.iter().map(|p| (p.q, p.d2v)).collect(),
                    Mark::Line,
                )
                .color(2),
            );
        charts.push(c);
    }
    summary.push(format!(
        "{n_pairs} planted pairs per t (common to all q): largest MC standard errors V {:.2e}, dV {:.2e}, d2V {:.2e} (per-point errors in mc_errors.csv)",
        max_se[0], max_se[1], max_se[2]
    ));
    plot::save(ctx.dir, "franz_parisi", &charts, 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "mu": 1.0, "sigma2": 0.1, "times": times, "n_pairs": n_pairs,
            "q_grid": { "first": qs[0], "last": qs[qs.len() - 1], "points": qs.len() },
            "constant": "V is defined up to a q-independent constant (likelihood normalisation dropped)",
        }),
        summary,
    })
}
