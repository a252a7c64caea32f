//! `dr-heatmap`: the d = 10 fleet zone by zone: heat maps of the fleet mean over zones and time
//! (MF vs IA(0)), per-zone energies, the terminal law projected on the axis between the target
//! components, and the zone-averaged fleet mean against the straight line of the MF theorem.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Bars, Chart, HeatMap, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::{Context, Result};
use mfpid_energy::scenario;
use mfpid_energy::{Comparison, Method, MethodRun, Recording};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-heatmap",
    about: "demand response, d = 10 zones: fleet-mean heat maps (MF vs IA(0)), per-zone energies, projected terminal law, zone-averaged mean vs the MF straight line",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = scenario::heat_map()?;
    let d = s.fleet.dim();
    let settings = super::dr_sweep::settings(ctx, s.agents, 256);
    let steps = settings.n_steps;
    let rec = Recording {
        mean_every: (steps / 100).max(1),
        subpop_power: false,
        keep_final: true,
    };
    let fleet = s.fleet.clone();
    let methods = Method::standard();
    let cmp = Comparison::run_batch(vec![(s.fleet, settings.clone())], &methods, rec)?
        .pop()
        .context("heat-map comparison")?;
    let names = ["MF", "IA(0)", "IA(m̄)"];

    let mut table = Table::new(&["method", "zone", "energy"]);
    for r in &cmp.runs {
        for (j, e) in r.energy_per_zone.iter().enumerate() {
            table.push(vec![
                Cell::from(r.method.as_str()),
                Cell::from(j),
                Cell::Num(*e),
            ]);
        }
    }

    // heat maps of the fleet mean x̄_j(t): rows = zones, columns = recorded times
    let mf = cmp.get("MF").context("MF run")?;
    let ia0 = cmp.get("IA0").context("IA0 run")?;
    let grid = |r: &MethodRun| -> Vec<f64> {
        let nt = r.mean_path.len();
        let mut v = vec![0.0; d * nt];
        for (i, (_, m)) in r.mean_path.iter().enumerate() {
            for j in 0..d {
                v[j * nt + i] = m[j];
            }
        }
        v
    };
    let (g_mf, g_ia) = (grid(mf), grid(ia0));
    let lo = g_mf
        .iter()
        .chain(&g_ia)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = g_mf
        .iter()
        .chain(&g_ia)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let nt = mf.mean_path.len();
    let map = |title: &str, values: Vec<f64>, range: Option<(f64, f64)>| HeatMap {
        title: title.into(),
        x_label: "t".into(),
        y_label: "zone j".into(),
        x: (0.0, 1.0),
        y: (0.0, d as f64),
        nx: nt,
        ny: d,
        values,
        range,
    };
    let diff: Vec<f64> = g_mf.iter().zip(&g_ia).map(|(a, b)| a - b).collect();
    plot::save_heatmaps(
        ctx.dir,
        "fleet_mean_heatmap",
        &[
            map("fleet mean x̄_j(t), MF", g_mf, Some((lo, hi))),
            map("fleet mean x̄_j(t), IA(0)", g_ia, Some((lo, hi))),
            map("MF - IA(0)", diff, None),
        ],
        3,
    )?;

    // per-zone energy bars
    let bars = Bars {
        title: format!("per-zone energy E_j(1), d = {d}"),
        x_label: "zone j".into(),
        y_label: "E_j".into(),
        categories: (0..d).map(|j| j.to_string()).collect(),
        groups: cmp
            .runs
            .iter()
            .zip(names)
            .map(|(r, n)| (n.to_string(), r.energy_per_zone.clone()))
            .collect(),
    };
    plot::save_bars(ctx.dir, "per_zone_energy", &[bars], 1)?;

    // terminal law projected on v ∝ m1_tar - m0_tar
    let means = fleet.p_tar().means();
    let mut v: Vec<f64> = (0..d).map(|j| means[d + j] - means[j]).collect();
    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    let proj = |x: &[f64]| x.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
    let w_tar = fleet.weights_tar();
    let comps: Vec<(f64, f64, f64)> = (0..w_tar.len())
        .map(|k| {
            let var: f64 = fleet
                .target_variances(k)
                .iter()
                .zip(&v)
                .map(|(s, a)| s * a * a)
                .sum();
            (w_tar[k], proj(&means[k * d..(k + 1) * d]), var)
        })
        .collect();
    let lo_p = comps
        .iter()
        .map(|c| c.1 - 5.0 * c.2.sqrt())
        .fold(f64::INFINITY, f64::min);
    let hi_p = comps
        .iter()
        .map(|c| c.1 + 5.0 * c.2.sqrt())
        .fold(f64::NEG_INFINITY, f64::max);
    let bins = if ctx.quick { 30 } else { 80 };
    let width = (hi_p - lo_p) / bins as f64;
    let mut c_h = Chart::new("terminal law projected on v ∝ m1 - m0", "v·x(1)", "density");
    for (i, r) in cmp.runs.iter().enumerate() {
        let x1 = r.final_states.as_ref().context("final states")?;
        let mut counts = vec![0.0; bins];
        for x in x1.chunks_exact(d) {
            let p = proj(x);
            if p >= lo_p && p < hi_p {
                counts[(((p - lo_p) / width) as usize).min(bins - 1)] += 1.0;
            }
        }
        let n = r.agents as f64;
        let pts = counts
            .iter()
            .enumerate()
            .map(|(b, c)| (lo_p + (b as f64 + 0.5) * width, c / (n * width)))
            .collect();
        c_h = c_h.with(Series::new(names[i], pts, Mark::Line).color(i));
    }
    let dens: Vec<(f64, f64)> = (0..=400)
        .map(|k| {
            let p = lo_p + (hi_p - lo_p) * k as f64 / 400.0;
            let f: f64 = comps
                .iter()
                .map(|(w, m, s)| {
                    w * (-(p - m) * (p - m) / (2.0 * s)).exp()
                        / (2.0 * std::f64::consts::PI * s).sqrt()
                })
                .sum();
            (p, f)
        })
        .collect();
    c_h = c_h.with(Series::new("projected p_tar", dens, Mark::Dashed).color(3));

    // zone-averaged fleet mean against the straight line (1-t) m̄_in + t m̄_tar
    let avg = |m: &[f64]| m.iter().sum::<f64>() / d as f64;
    let (a_in, a_tar) = (avg(&fleet.mean_in()), avg(&fleet.mean_tar()));
    let mut c_m = Chart::new("zone-averaged fleet mean", "t", "mean over zones of x̄_j(t)");
    let mut max_dev = vec![0.0f64; cmp.runs.len()];
    for (i, r) in cmp.runs.iter().enumerate() {
        let pts: Vec<(f64, f64)> = r.mean_path.iter().map(|(t, m)| (*t, avg(m))).collect();
        for (t, m) in &pts {
            max_dev[i] = max_dev[i].max((m - ((1.0 - t) * a_in + t * a_tar)).abs());
        }
        c_m = c_m.with(Series::new(names[i], pts, Mark::Line).color(i));
    }
    c_m = c_m.with(
        Series::new(
            "(1-t) m̄_in + t m̄_tar",
            vec![(0.0, a_in), (1.0, a_tar)],
            Mark::Dashed,
        )
        .color(3),
    );
    plot::save(ctx.dir, "terminal_and_mean", &[c_h, c_m], 2)?;

    let mut summary = vec![format!(
        "B-nd, d = {d}, B = {}, {} steps; fleet mean recorded every {} steps",
        settings.agents, settings.n_steps, rec.mean_every
    )];
    for (i, r) in cmp.runs.iter().enumerate() {
        let (emin, emax) = r
            .energy_per_zone
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| {
                (a.min(*e), b.max(*e))
            });
        summary.push(format!(
            "{:<6} E = {:.2} ± {:.2}, per zone {:.3}..{:.3}, peak power {:.1}; max |zone-averaged mean - straight line| {:.4}; terminal: max |Δw| {:.4}, max mean error {:.2} se (P = {:.2}), max |var/Σ - 1| {:.3}",
            names[i],
            r.energy,
            r.stderr,
            emin,
            emax,
            r.peak_power,
            max_dev[i],
            r.terminal.max_weight_error(),
            r.terminal.max_mean_z(),
            r.terminal.max_mean_z_p_value(),
            r.terminal.max_variance_rel_error()
        ));
    }
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "scenario": "B-nd at d = 10",
            "settings": settings,
            "recording": rec,
            "projection_axis": v,
        }),
        summary,
    })
}
