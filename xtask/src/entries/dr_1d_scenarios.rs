//! `dr-1d-scenarios`: how cooperation redistributes actuation effort between sub-populations
//! (1-D scenarios A: broad overlapping, B: narrow separated), per method and over time.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::{Context, Result};
use mfpid_energy::scenario::{self, OneD};
use mfpid_energy::{Comparison, Method, Recording};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-1d-scenarios",
    about: "demand response in 1-D, scenarios A (broad) and B (narrow): energy per initial sub-population and its share, per method and over time",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let methods = Method::standard();
    let names = ["MF", "IA(0)", "IA(m̄)"];
    let mut table = Table::new(&["scenario", "method", "subpop", "energy", "share_pct"]);
    let mut summary = Vec::new();
    let mut charts = Vec::new();
    let mut config = Vec::new();
    let rec = Recording {
        mean_every: 0,
        subpop_power: true,
        keep_final: false,
    };
    let mut jobs = Vec::new();
    let mut names_1d = Vec::new();
    for which in [OneD::A, OneD::B] {
        let s = scenario::one_d(which)?;
        let settings = super::dr_sweep::settings(ctx, s.agents, 512);
        config.push(serde_json::json!({ "scenario": s.name, "p_in": s.fleet.spec().p_in, "p_tar": s.fleet.spec().p_tar, "settings": settings }));
        names_1d.push(s.name.clone());
        jobs.push((s.fleet, settings));
    }
    let cmps = Comparison::run_batch(jobs, &methods, rec)?;
    for (name, cmp) in names_1d.into_iter().zip(cmps) {
        let mut chart = Chart::new(
            format!("scenario {name}: cumulative energy per agent"),
            "t",
            "E_k(t) (solid: subpop 0, dashed: subpop 1)",
        );
        for (i, r) in cmp.runs.iter().enumerate() {
            let mut parts = Vec::new();
            for g in &r.subpopulations {
                table.push(vec![
                    Cell::from(name.as_str()),
                    Cell::from(r.method.as_str()),
                    Cell::from(g.component),
                    Cell::Num(g.energy),
                    Cell::Num(g.share_pct),
                ]);
                parts.push(format!(
                    "subpop {} ({} agents) {:.3} ± {:.3} ({:.1} %)",
                    g.component, g.agents, g.energy, g.stderr, g.share_pct
                ));
            }
            summary.push(format!(
                "{} {:<6} E = {:.3} ± {:.3}: {}; terminal max |Δw| {:.4}, max mean error {:.2} se (P = {:.2})",
                name,
                names[i],
                r.energy,
                r.stderr,
                parts.join(", "),
                r.terminal.max_weight_error(),
                r.terminal.max_mean_z(),
                r.terminal.max_mean_z_p_value()
            ));
            let power = r.subpop_power.as_ref().context("sub-population power")?;
            for (k, p) in power.iter().enumerate() {
                let mut cum = 0.0;
                let mut pts = vec![(0.0, 0.0)];
                for (n, pn) in p.iter().enumerate() {
                    let t1 = r.times.get(n + 1).copied().unwrap_or(1.0);
                    cum += (t1 - r.times[n]) * pn;
                    pts.push((t1, cum));
                }
                let label = format!("{} subpop {k}", names[i]);
                let mark = if k == 0 { Mark::Line } else { Mark::Dashed };
                chart = chart.with(Series::new(label, pts, mark).color(i));
            }
        }
        let mf = cmp.get("MF").context("MF run")?;
        let ia0 = cmp.get("IA0").context("IA0 run")?;
        let vs0 = cmp.saving("MF", "IA0")?;
        let shift: Vec<String> = mf
            .subpopulations
            .iter()
            .zip(&ia0.subpopulations)
            .map(|(a, b)| {
                format!(
                    "subpop {}: {:+.1} %",
                    a.component,
                    100.0 * (a.energy / b.energy - 1.0)
                )
            })
            .collect();
        summary.push(format!(
            "{}: MF saves {:.2} ± {:.2} % vs IA(0); per-agent energy change MF vs IA(0) by sub-population: {}",
            name,
            vs0.pct,
            vs0.stderr_pct,
            shift.join(", ")
        ));
        charts.push(chart);
    }
    plot::save(ctx.dir, "subpop_energy", &charts, 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({ "scenarios": config }),
        summary,
    })
}
