//! `thermo-phase-diagram`: the Yu & Huang (μ, σ) phase diagram of the two-cluster model — speciation
//! time t_s and phase (symmetry breaking, none, unstable) — with the analytic phase boundaries.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_thermo::phase_diagram;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-phase-diagram",
    about: "Yu & Huang (μ, σ) phase diagram: speciation time t_s and phase with the boundaries t_s = 0 and σ = √2",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (nm, ns) = if ctx.quick { (9, 11) } else { (81, 101) };
    let mus: Vec<f64> = (0..nm).map(|i| 2.0 * i as f64 / (nm - 1) as f64).collect();
    let sigmas: Vec<f64> = (0..ns)
        .map(|j| 0.05 + 2.45 * j as f64 / (ns - 1) as f64)
        .collect();
    let pts = phase_diagram(&mus, &sigmas)?;
    let mut table = Table::new(&["mu", "sigma", "t_s", "phase"]);
    let names = [
        "symmetry breaking",
        "no symmetry breaking",
        "unstable symmetry breaking",
    ];
    let mut counts = [0usize; 3];
    let mut by_phase: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 3];
    for p in &pts {
        let c = p.phase.code() as usize;
        counts[c] += 1;
        by_phase[c].push((p.mu, p.sigma));
        table.push(vec![
            Cell::Num(p.mu),
            Cell::Num(p.sigma),
            Cell::Num(p.t_s),
            names[c].into(),
        ]);
    }
    // boundaries: t_s = 0 on (σ² - 1)² + 2μ² = 1, i.e. μ = sqrt((1 - (σ² - 1)²) / 2) for 0 < σ < √2;
    // U -> -inf at the data end for σ > √2
    let ts0: Vec<(f64, f64)> = (0..=200)
        .map(|k| {
            let s = 2f64.sqrt() * k as f64 / 200.0;
            let a = s * s - 1.0;
            (((1.0 - a * a).max(0.0) / 2.0).sqrt(), s)
        })
        .collect();
    let mut c = Chart::new("two-cluster phase diagram", "μ", "σ");
    for (i, name) in names.iter().enumerate() {
        c = c.with(Series::new(*name, by_phase[i].clone(), Mark::Points).color(i));
    }
    c = c
        .with(Series::new("t_s = 0", ts0, Mark::Dashed).color(3))
        .with(
            Series::new(
                "σ = √2",
                vec![(0.0, 2f64.sqrt()), (2.0, 2f64.sqrt())],
                Mark::Dashed,
            )
            .color(4),
        );
    // t_s along σ = 1 (t_s = ½ ln 2μ²) and σ² = 0.1
    let mut c2 = Chart::new("speciation time t_s(μ)", "μ", "t_s");
    for (i, &s) in [0.3162, 1.0, 1.5].iter().enumerate() {
        let line: Vec<(f64, f64)> = (1..=200)
            .map(|k| {
                let mu = 2.0 * k as f64 / 200.0;
                let a = s * s - 1.0;
                (mu, 0.5 * (mu * mu + (mu.powi(4) + a * a).sqrt()).ln())
            })
            .collect();
        c2 = c2.with(Series::new(format!("σ = {s}"), line, Mark::Line).color(i));
    }
    plot::save(ctx.dir, "phase_diagram", &[c, c2], 2)?;
    let summary = vec![
        format!(
            "{} grid points: {} symmetry breaking, {} no symmetry breaking, {} unstable symmetry breaking",
            pts.len(),
            counts[0],
            counts[1],
            counts[2]
        ),
        "phase rule: t_s = ½ ln(μ² + sqrt(μ⁴ + (σ² - 1)²)) <= 0 <=> (σ² - 1)² + 2μ² < 1 (no breaking); U -> -inf at the data end <=> σ² > 2 (unstable); otherwise breaking".to_string(),
        format!("check: μ = 1, σ = 1 -> {:?}", mfpid_thermo::TwoCluster::new(1.0, 1.0)?.phase()),
    ];
    Ok(Outcome {
        table,
        config: serde_json::json!({ "mu": { "min": 0.0, "max": 2.0, "points": nm }, "sigma": { "min": 0.05, "max": 2.5, "points": ns } }),
        summary,
    })
}
