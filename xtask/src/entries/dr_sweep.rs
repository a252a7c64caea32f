//! Shared part of the one-parameter demand-response sweeps (`dr-k-sweep`, `dr-ar-coupling`): run
//! the three standard methods on one fleet per sweep value (as one batch), tabulate energies and the
//! savings of MF, summarise the terminal law, and draw the energy and saving panels.

use super::Ctx;
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::{Comparison, Fleet, Method, Recording, Settings};
use std::path::Path;

/// Settings of a demand-response entry: the paper's (`agents` agents, 2500 steps) or, with
/// `--quick`, `quick_agents` agents and 250 steps; the seed is the run's.
pub(super) fn settings(ctx: &Ctx, agents: usize, quick_agents: usize) -> Settings {
    let (agents, steps) = if ctx.quick {
        (quick_agents, 250)
    } else {
        (agents, 2500)
    };
    Settings::paper(agents)
        .with_steps(steps)
        .with_seed(ctx.seed)
}

/// One value of the swept parameter.
pub(super) struct Point {
    /// The value as a number (x axis of the figure).
    pub x: f64,
    /// The value as written in the table.
    pub cell: Cell,
    /// The value as written in the summary (e.g. `K = 4`).
    pub label: String,
    /// Fleet and settings run at this value.
    pub fleet: Fleet,
    /// Settings of the runs at this value.
    pub settings: Settings,
}

/// How a sweep is labelled.
pub(super) struct Layout {
    /// Table column of the swept parameter (`k`, `rho`).
    pub column: &'static str,
    /// Energies are divided by this in the figure and the summary (`d` for energy per zone, else 1).
    pub energy_scale: f64,
    /// Written before the energies in each summary line (`"E/d "` or `""`).
    pub energy_prefix: &'static str,
    /// Title and y label of the energy panel.
    pub energy_title: &'static str,
    /// Y label of the energy panel.
    pub energy_label: &'static str,
    /// X label of both panels.
    pub x_label: &'static str,
    /// File stem of the figure.
    pub figure: &'static str,
}

/// Run `points` (MF, IA(0), IA(m̄) on each, one batch), write the figure into `dir`, and return the
/// table (`column,method,energy,stderr,saving_vs_ia0_pct,saving_vs_iam_pct`; savings on the MF rows)
/// and one summary line per point.
pub(super) fn run(dir: &Path, points: Vec<Point>, layout: &Layout) -> Result<(Table, Vec<String>)> {
    let methods = Method::standard();
    let mut table = Table::new(&[
        layout.column,
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
    let mut keys = Vec::with_capacity(points.len());
    let mut jobs = Vec::with_capacity(points.len());
    for p in points {
        keys.push((p.x, p.cell, p.label));
        jobs.push((p.fleet, p.settings));
    }
    let scale = layout.energy_scale;
    let cmps = Comparison::run_batch(jobs, &methods, Recording::default())?;
    for ((x, cell, label), cmp) in keys.into_iter().zip(cmps) {
        let vs0 = cmp.saving("MF", "IA0")?;
        let vsm = cmp.saving("MF", "IAm")?;
        let mut worst = (0.0f64, 0.0f64, 1.0f64);
        for (i, r) in cmp.runs.iter().enumerate() {
            let is_mf = r.method == "MF";
            table.push(vec![
                cell.clone(),
                Cell::from(r.method.as_str()),
                Cell::Num(r.energy),
                Cell::Num(r.stderr),
                Cell::Num(if is_mf { vs0.pct } else { f64::NAN }),
                Cell::Num(if is_mf { vsm.pct } else { f64::NAN }),
            ]);
            energy_pts[i].push((x, r.energy / scale));
            worst.0 = worst.0.max(r.terminal.max_weight_error());
            worst.1 = worst.1.max(r.terminal.max_mean_z());
            worst.2 = worst.2.min(r.terminal.max_mean_z_p_value());
        }
        save0.push((x, vs0.pct));
        savem.push((x, vsm.pct));
        let e: Vec<String> = cmp
            .runs
            .iter()
            .map(|r| {
                format!(
                    "{} {:.3} ± {:.3}",
                    r.method,
                    r.energy / scale,
                    r.stderr / scale
                )
            })
            .collect();
        summary.push(format!(
            "{label}: {}{}; saving vs IA(0) {:.2} ± {:.2} %, vs IA(m̄) {:.2} ± {:.2} %; terminal law: max |Δw| {:.4}, max mean error {:.2} se (P = {:.2})",
            layout.energy_prefix,
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
    let mut c_e = Chart::new(layout.energy_title, layout.x_label, layout.energy_label);
    for (i, pts) in energy_pts.into_iter().enumerate() {
        c_e = c_e.with(Series::new(names[i], pts, Mark::LinePoints).color(i));
    }
    let c_s = Chart::new("saving of MF (%)", layout.x_label, "saving %")
        .with(Series::new("vs IA(0)", save0, Mark::LinePoints).color(1))
        .with(Series::new("vs IA(m̄)", savem, Mark::LinePoints).color(2));
    plot::save(dir, layout.figure, &[c_e, c_s], 2)?;
    Ok((table, summary))
}
