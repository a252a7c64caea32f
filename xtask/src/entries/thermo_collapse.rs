//! `thermo-collapse`: collapse (memorisation) of the exact empirical score for Gaussian data:
//! the excess-entropy estimator f^e(t) against its large-N theory and the collapse time
//! t_C = ½ ln(1 + σ²/(P^{2/N} - 1)).

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_thermo::collapse::{collapse_time, excess_entropy_theory, TrainingSet};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-collapse",
    about: "excess entropy f^e(t) of P Gaussian training points vs its large-N theory; collapse time t_C",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    // (N, alpha) pairs; P = round(e^{alpha N})
    let cases: Vec<(usize, f64)> = if ctx.quick {
        vec![(20, 0.25), (30, 0.2)]
    } else {
        vec![(20, 0.25), (40, 0.2), (60, 0.15)]
    };
    let n_mc = if ctx.quick { 200 } else { 2000 };
    let ratios: Vec<f64> = (1..=16).map(|k| 0.2 * k as f64).collect(); // t / t_C from 0.2 to 3.2
    let sigma2 = 1.0;
    let mut table = Table::new(&[
        "n_dim",
        "n_points",
        "alpha",
        "t_C",
        "t",
        "f_e",
        "f_e_se",
        "f_e_theory",
    ]);
    let mut summary = Vec::new();
    let mut c = Chart::new(
        "excess entropy (Gaussian data, σ² = 1)",
        "t / t_C",
        "f^e(t)",
    );
    for (i, &(n_dim, alpha)) in cases.iter().enumerate() {
        let p = (alpha * n_dim as f64).exp().round() as usize;
        let ts = TrainingSet::gaussian(p, n_dim, sigma2, ctx.seed + i as u64)?;
        let tc = collapse_time(p as f64, n_dim as f64, sigma2)?;
        let a = ts.alpha();
        let mut est = Vec::new();
        let mut worst_hi: f64 = 0.0;
        let mut worst_lo: f64 = 0.0;
        for (k, &r) in ratios.iter().enumerate() {
            let t = r * tc;
            let e = ts.excess_entropy(t, n_mc, ctx.seed + 1000 * i as u64 + k as u64)?;
            let th = excess_entropy_theory(a, sigma2, t)?;
            table.push(vec![
                Cell::Int(n_dim as i64),
                Cell::Int(p as i64),
                Cell::Num(a),
                Cell::Num(tc),
                Cell::Num(t),
                Cell::Num(e.f_e),
                Cell::Num(e.f_e_se),
                Cell::Num(th),
            ]);
            if r >= 1.5 {
                worst_hi = worst_hi.max((e.f_e - th).abs());
            }
            if r <= 0.6 {
                worst_lo = worst_lo.max(e.f_e.abs());
            }
            est.push((r, e.f_e, th));
        }
        summary.push(format!(
            "N = {n_dim}, P = {p} (α = {a:.4}): t_C = {tc:.4}; max |f^e - theory| for t >= 1.5 t_C: {worst_hi:.4} (α = {a:.3}); max |f^e| for t <= 0.6 t_C: {worst_lo:.4}"
        ));
        c = c
            .with(
                Series::new(
                    format!("N = {n_dim}, P = {p}"),
                    est.iter().map(|e| (e.0, e.1)).collect(),
                    Mark::LinePoints,
                )
                .color(i),
            )
            .with(Series::new("", est.iter().map(|e| (e.0, e.2)).collect(), Mark::Dashed).color(i));
    }
    summary.push("dashed: large-N theory max(0, α - ½ ln(1 + σ² e^{-2t}/Δ_t)), zero below t_C; finite N rounds the kink".into());
    plot::save(ctx.dir, "collapse", &[c], 1)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "data": "N(0, σ² I), σ² = 1", "cases_n_dim_alpha": cases, "n_mc": n_mc, "t_over_tC": ratios,
            "estimator": "f^e = ½ + (1/N) E[ln Σ_μ exp(-|x - a_μ e^{-t}|²/(2Δ_t))], x ~ P^e_t",
        }),
        summary,
    })
}
