//! `dr-ar-coupling`: demand response with correlated zones (B-nd at d = 8 with AR(1) covariances
//! `Σ_ij = σ² ρ^|i-j|`, ρ = 0, 0.5, 0.8; full-covariance bridge path).

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::scenario::{self, RHO_SWEEP};
use mfpid_energy::{Comparison, Method, Recording, Settings};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-ar-coupling",
    about: "demand response, AR(1) zone coupling at d = 8 (ρ = 0, 0.5, 0.8): energy and savings of MF vs IA(0)/IA(m̄)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let methods = Method::standard();
    let mut table = Table::new(&[
        "rho",
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
    let (agents, steps) = if ctx.quick { (256, 250) } else { (4000, 2500) };
    let settings = Settings::paper(agents)
        .with_steps(steps)
        .with_seed(ctx.seed);
    let jobs = RHO_SWEEP
        .iter()
        .map(|&rho| Ok((scenario::ar_coupling(rho)?.fleet, settings.clone())))
        .collect::<Result<Vec<_>>>()?;
    let cmps = Comparison::run_batch(jobs, &methods, &Recording::default())?;
    for (rho, cmp) in RHO_SWEEP.into_iter().zip(cmps) {
        let vs0 = cmp.saving("MF", "IA0")?;
        let vsm = cmp.saving("MF", "IAm")?;
        let mut worst = (0.0f64, 0.0f64, 1.0f64);
        for (i, r) in cmp.runs.iter().enumerate() {
            let is_mf = r.method == "MF";
            table.push(vec![
                Cell::Num(rho),
                Cell::from(r.method.as_str()),
                Cell::Num(r.energy),
                Cell::Num(r.stderr),
                Cell::Num(if is_mf { vs0.pct } else { f64::NAN }),
                Cell::Num(if is_mf { vsm.pct } else { f64::NAN }),
            ]);
            energy_pts[i].push((rho, r.energy / 8.0));
            worst.0 = worst.0.max(r.terminal.max_weight_error());
            worst.1 = worst.1.max(r.terminal.max_mean_z());
            worst.2 = worst.2.min(r.terminal.max_mean_z_p_value());
        }
        save0.push((rho, vs0.pct));
        savem.push((rho, vsm.pct));
        let e: Vec<String> = cmp
            .runs
            .iter()
            .map(|r| format!("{} {:.3} ± {:.3}", r.method, r.energy / 8.0, r.stderr / 8.0))
            .collect();
        summary.push(format!(
            "ρ = {rho}: E/d {}; saving vs IA(0) {:.2} ± {:.2} %, vs IA(m̄) {:.2} ± {:.2} %; terminal law: max |Δw| {:.4}, max mean error {:.2} se (P = {:.2})",
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
    let mut c_e = Chart::new("energy per zone E(1)/d, d = 8", "zone correlation ρ", "E/d");
    for (i, pts) in energy_pts.into_iter().enumerate() {
        c_e = c_e.with(Series::new(names[i], pts, Mark::LinePoints).color(i));
    }
    let c_s = Chart::new("saving of MF (%)", "zone correlation ρ", "saving %")
        .with(Series::new("vs IA(0)", save0, Mark::LinePoints).color(1))
        .with(Series::new("vs IA(m̄)", savem, Mark::LinePoints).color(2));
    plot::save(ctx.dir, "ar_coupling", &[c_e, c_s], 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "scenario": "B-nd at d = 8 with full covariances Σ_ij = σ² ρ^|i-j| (σ = 0.2/0.3 target, 0.5/0.7 initial)",
            "rho": RHO_SWEEP,
            "settings": settings,
        }),
        summary,
    })
}
