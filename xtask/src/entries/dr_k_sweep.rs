//! `dr-k-sweep`: demand response with K sub-populations (d = 4, K = 2, 3, 4, 8): does cooperation
//! keep paying as the fleet gets more heterogeneous?

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::scenario::{self, K_SWEEP};
use mfpid_energy::{Comparison, Method, Recording, Settings};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-k-sweep",
    about: "demand response, K-fleet heterogeneity sweep (d = 4, K = 2..8): energy and savings of MF vs IA(0)/IA(m̄)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let methods = Method::standard();
    let mut table = Table::new(&[
        "k",
        "method",
        "energy",
        "stderr",
        "saving_vs_ia0_pct",
        "saving_vs_iam_pct",
    ]);
    let mut summary = Vec::new();
    let names = ["MF", "IA(0)", "IA(m̄)"];
    let mut energy_pts = vec![Vec::new(); methods.len()];
    let (mut save0, mut savem) = (Vec::new(), Vec::new());
    let mut config = Vec::new();
    let mut jobs = Vec::new();
    for k in K_SWEEP {
        let s = scenario::k_fleet(k)?;
        let (agents, steps) = if ctx.quick {
            (256, 250)
        } else {
            (s.agents, 2500)
        };
        let settings = Settings::paper(agents)
            .with_steps(steps)
            .with_seed(ctx.seed);
        config.push(serde_json::json!({ "k": k, "settings": settings }));
        jobs.push((s.fleet, settings));
    }
    let cmps = Comparison::run_batch(jobs, &methods, &Recording::default())?;
    for (k, cmp) in K_SWEEP.into_iter().zip(cmps) {
        let vs0 = cmp.saving("MF", "IA0")?;
        let vsm = cmp.saving("MF", "IAm")?;
        let mut worst = (0.0f64, 0.0f64, 1.0f64);
        for (i, r) in cmp.runs.iter().enumerate() {
            let is_mf = r.method == "MF";
            table.push(vec![
                Cell::from(k),
                Cell::from(r.method.as_str()),
                Cell::Num(r.energy),
                Cell::Num(r.stderr),
                Cell::Num(if is_mf { vs0.pct } else { f64::NAN }),
                Cell::Num(if is_mf { vsm.pct } else { f64::NAN }),
            ]);
            energy_pts[i].push((k as f64, r.energy));
            worst.0 = worst.0.max(r.terminal.max_weight_error());
            worst.1 = worst.1.max(r.terminal.max_mean_z());
            worst.2 = worst.2.min(r.terminal.max_mean_z_p_value());
        }
        save0.push((k as f64, vs0.pct));
        savem.push((k as f64, vsm.pct));
        let e: Vec<String> = cmp
            .runs
            .iter()
            .map(|r| format!("{} {:.3} ± {:.3}", r.method, r.energy, r.stderr))
            .collect();
        summary.push(format!(
            "K = {k}: {}; saving vs IA(0) {:.2} ± {:.2} %, vs IA(m̄) {:.2} ± {:.2} %; terminal law: max |Δw| {:.4}, max mean error {:.2} se (P = {:.2})",
            e.join(", "),
            vs0.pct,
            vs0.stderr_pct,
            vsm.pct,
            vsm.stderr_pct,
            worst.0,
            worst.1,
            worst.2
        ));
    }
    summary.push(
        "the K-fleet target mean is 0 for every K (weights ∝ (K, ..., 1) on linspace(-1, 2, K)), so IA(m̄) and IA(0) coincide here".into(),
    );
    let mut c_e = Chart::new("energy E(1), d = 4", "sub-populations K", "E(1)");
    for (i, pts) in energy_pts.into_iter().enumerate() {
        c_e = c_e.with(Series::new(names[i], pts, Mark::LinePoints).color(i));
    }
    let c_s = Chart::new("saving of MF (%)", "sub-populations K", "saving %")
        .with(Series::new("vs IA(0)", save0, Mark::LinePoints).color(1))
        .with(Series::new("vs IA(m̄)", savem, Mark::LinePoints).color(2));
    plot::save(ctx.dir, "k_sweep", &[c_e, c_s], 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "scenario": "K-fleet: d = 4, target means linspace(-1, 2, K)·1_d, weights ∝ (K, ..., 1), std 0.30; initial means +4·1_d, std 0.65, same weights",
            "runs": config,
        }),
        summary,
    })
}
