//! `dr-d-sweep`: the paper's demand-response zone sweep (B-nd, d = 1..32, MF vs IA(0) vs IA(m̄)),
//! under both start conventions (`start = zero`: grid from t = 0, ours; `start = eps`: grid from
//! t = eps with x = z, the reference code's), with the terminal component weights of every run and
//! the published energies, savings and reference wall times alongside.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::scenario::{self, D_SWEEP, PUBLISHED_D_SWEEP};
use mfpid_energy::{Comparison, Method, Recording, Settings, Start};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-d-sweep",
    about: "demand response, B-nd zone sweep d = 1..32 under both start conventions (t = 0, t = eps): energy per zone, savings of MF vs IA(0)/IA(m̄), terminal weights, wall time, against the published table",
    snapshot_skip: &["wall_s"],
    run,
};

/// The start conventions of the table, ours (the default) first.
pub const STARTS: [Start; 2] = [Start::Zero, Start::Eps];

/// Settings of the sweep: the paper's (4000 agents, 2500 steps) or a quick variant.
pub fn settings(quick: bool, seed: u64) -> Settings {
    let (agents, steps) = if quick { (256, 250) } else { (4000, 2500) };
    Settings::paper(agents).with_steps(steps).with_seed(seed)
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let settings = settings(ctx.quick, ctx.seed);
    let methods = Method::standard();
    let k_tar = scenario::b_nd(1)?.fleet.weights_tar().len();
    let mut columns: Vec<String> = [
        "d",
        "start",
        "method",
        "energy",
        "energy_per_zone",
        "stderr",
        "saving_vs_ia0_pct",
        "saving_vs_iam_pct",
    ]
    .map(String::from)
    .to_vec();
    columns.extend((0..k_tar).map(|k| format!("terminal_weight_{k}")));
    columns.push("wall_s".into());
    let mut table = Table::with_columns(columns);
    let mut summary = vec![format!(
        "B = {}, {} steps, eps = {}, beta_i = {}·{}^i on {} pieces, seed {}; MF, IA(0), IA(m̄) in lockstep (one draw of each increment for the three); energies per zone ± standard error over agents; published values in brackets",
        settings.agents, settings.n_steps, settings.eps, settings.beta_0, settings.gamma, settings.pieces, settings.seed
    )];
    let n_m = methods.len();
    let mut energy_pts = vec![Vec::new(); n_m];
    let mut wall_pts = vec![Vec::new(); n_m];
    let mut save0 = vec![Vec::new(); STARTS.len()];
    let mut savem = vec![Vec::new(); STARTS.len()];
    let (mut worst_w, mut worst_z) = (0.0f64, 0.0f64);
    let mut sweep_wall = Vec::new();
    // (start, d) -> (saving vs IA(0), IA(0) terminal weight of component 0)
    let mut by_start: Vec<Vec<(f64, f64)>> = vec![Vec::new(); STARTS.len()];
    for (si, start) in STARTS.into_iter().enumerate() {
        summary.push(format!("start = {}:", start.name()));
        // every d a single-threaded lockstep run, the runs spread over the threads (same numbers
        // as running them one by one; see Comparison::run_batch)
        let jobs = D_SWEEP
            .iter()
            .map(|&d| Ok((scenario::b_nd(d)?.fleet, settings.clone().with_start(start))))
            .collect::<Result<Vec<_>>>()?;
        let t0 = std::time::Instant::now();
        let cmps = Comparison::run_batch(jobs, &methods, Recording::default())?;
        sweep_wall.push(t0.elapsed().as_secs_f64());
        for (d, cmp) in D_SWEEP.into_iter().zip(cmps) {
            let vs0 = cmp.saving("MF", "IA0")?;
            let vsm = cmp.saving("MF", "IAm")?;
            let df = d as f64;
            for (i, r) in cmp.runs.iter().enumerate() {
                let is_mf = r.method == "MF";
                let mut row = vec![
                    Cell::from(d),
                    Cell::from(start.name()),
                    Cell::from(r.method.as_str()),
                    Cell::Num(r.energy),
                    Cell::Num(r.energy / df),
                    Cell::Num(r.stderr),
                    Cell::Num(if is_mf { vs0.pct } else { f64::NAN }),
                    Cell::Num(if is_mf { vsm.pct } else { f64::NAN }),
                ];
                row.extend(
                    (0..k_tar)
                        .map(|k| Cell::Num(r.terminal.weights.get(k).copied().unwrap_or(f64::NAN))),
                );
                row.push(Cell::Num(r.wall_s));
                table.push(row);
                if start == Start::Zero {
                    energy_pts[i].push((df, r.energy / df));
                    wall_pts[i].push((df, r.wall_s));
                    worst_w = worst_w.max(r.terminal.max_weight_error());
                    worst_z = worst_z.max(r.terminal.max_mean_z());
                }
            }
            let w0_ia0 = cmp
                .get("IA0")
                .and_then(|r| r.terminal.weights.first().copied())
                .unwrap_or(f64::NAN);
            by_start[si].push((vs0.pct, w0_ia0));
            save0[si].push((df, vs0.pct));
            savem[si].push((df, vsm.pct));
            let e = |n: &str| {
                cmp.get(n)
                    .map(|r| (r.energy / df, r.stderr / df))
                    .unwrap_or((f64::NAN, f64::NAN))
            };
            let ((mf, mf_se), (i0, i0_se), (im, im_se)) = (e("MF"), e("IA0"), e("IAm"));
            let p = scenario::published(d);
            let pub_txt = |v: Option<f64>, ours: f64| match v {
                Some(v) => format!("[{v:.3}, {:+.1}%]", 100.0 * (ours / v - 1.0)),
                None => String::new(),
            };
            summary.push(format!(
                "d = {d:>2}: MF {mf:.3} ± {mf_se:.3} {}  IA(0) {i0:.3} ± {i0_se:.3} {}  IA(m̄) {im:.3} ± {im_se:.3} {}",
                pub_txt(p.map(|p| p.mf), mf),
                pub_txt(p.map(|p| p.ia0), i0),
                pub_txt(p.map(|p| p.iam), im),
            ));
            summary.push(format!(
                "        saving vs IA(0) {:.2} ± {:.2} % [{:.1}, diff {:+.2}], vs IA(m̄) {:.2} ± {:.2} % [{:.2}, diff {:+.2}]",
                vs0.pct,
                vs0.stderr_pct,
                p.map_or(f64::NAN, |p| p.saving_ia0_pct),
                vs0.pct - p.map_or(f64::NAN, |p| p.saving_ia0_pct),
                vsm.pct,
                vsm.stderr_pct,
                p.map_or(f64::NAN, |p| p.saving_iam_pct()),
                vsm.pct - p.map_or(f64::NAN, |p| p.saving_iam_pct()),
            ));
        }
    }
    // the bias of the reference convention, paired over the same agents and noise
    summary.push("start = eps minus start = zero (the increment over [0, eps] left out):".into());
    for (i, d) in D_SWEEP.into_iter().enumerate() {
        let (z, e) = (by_start[0][i], by_start[1][i]);
        summary.push(format!(
            "d = {d:>2}: saving vs IA(0) {:+.2} pp ({:.2} -> {:.2} %); IA(0) terminal weight of component 0 {:.3} -> {:.3} (target {:.2})",
            e.0 - z.0,
            z.0,
            e.0,
            z.1,
            e.1,
            scenario::b_nd(d)?.fleet.weights_tar().first().copied().unwrap_or(f64::NAN)
        ));
    }
    let ref_total: f64 = PUBLISHED_D_SWEEP.iter().map(|p| p.mf_wall_s).sum();
    // each method compares sum_d 2 d component means; the methods share their noise (common random numbers)
    let n_means: usize = D_SWEEP.iter().map(|d| 2 * d).sum();
    summary.push(format!(
        "terminal law vs p_tar over all d and methods (start = zero): max |weight error| {worst_w:.4}, max mean error {worst_z:.2} standard errors over {n_means} means per method (P(max >= this) = {:.3} for exact draws from p_tar)",
        mfpid_energy::metrics::max_z_p_value(worst_z, n_means)
    ));
    summary.push(format!(
        "whole sweep (18 method runs, 6 lockstep runs) per convention: {} s elapsed on {} threads (wall_s column: each d's single-threaded lockstep run of the three methods); the reference code needed {ref_total:.0} s for the MF column alone",
        sweep_wall
            .iter()
            .map(|w| format!("{w:.1}"))
            .collect::<Vec<_>>()
            .join(" / "),
        rayon::current_num_threads()
    ));

    let names = ["MF", "IA(0)", "IA(m̄)"];
    let mut c_e = Chart::new("energy per zone E(1)/d", "zones d", "E/d").log(true, false);
    for (i, pts) in energy_pts.into_iter().enumerate() {
        c_e = c_e.with(Series::new(names[i], pts, Mark::LinePoints).color(i));
    }
    let published: [Vec<(f64, f64)>; 3] = [
        PUBLISHED_D_SWEEP
            .iter()
            .map(|p| (p.d as f64, p.mf))
            .collect(),
        PUBLISHED_D_SWEEP
            .iter()
            .map(|p| (p.d as f64, p.ia0))
            .collect(),
        PUBLISHED_D_SWEEP
            .iter()
            .map(|p| (p.d as f64, p.iam))
            .collect(),
    ];
    for (i, pts) in published.into_iter().enumerate() {
        c_e = c_e.with(Series::new(format!("{} published", names[i]), pts, Mark::Dashed).color(i));
    }
    let [save0_zero, save0_eps] = <[_; 2]>::try_from(save0).unwrap_or_default();
    let [savem_zero, savem_eps] = <[_; 2]>::try_from(savem).unwrap_or_default();
    let c_s = Chart::new("saving of MF (%)", "zones d", "saving %")
        .log(true, false)
        .with(Series::new("vs IA(0), start 0", save0_zero, Mark::LinePoints).color(1))
        .with(Series::new("vs IA(m̄), start 0", savem_zero, Mark::LinePoints).color(2))
        .with(Series::new("vs IA(0), start eps", save0_eps, Mark::Points).color(4))
        .with(Series::new("vs IA(m̄), start eps", savem_eps, Mark::Points).color(5))
        .with(
            Series::new(
                "vs IA(0) published",
                PUBLISHED_D_SWEEP
                    .iter()
                    .map(|p| (p.d as f64, p.saving_ia0_pct))
                    .collect(),
                Mark::Dashed,
            )
            .color(1),
        )
        .with(
            Series::new(
                "vs IA(m̄) published (from E/d)",
                PUBLISHED_D_SWEEP
                    .iter()
                    .map(|p| (p.d as f64, p.saving_iam_pct()))
                    .collect(),
                Mark::Dashed,
            )
            .color(2),
        );
    let mut c_w = Chart::new("wall time per run", "zones d", "seconds").log(true, true);
    if let Some(pts) = wall_pts.into_iter().next() {
        c_w = c_w.with(
            Series::new(
                "MF + IA(0) + IA(m̄) in lockstep (this code)",
                pts,
                Mark::LinePoints,
            )
            .color(0),
        );
    }
    c_w = c_w.with(
        Series::new(
            "MF, reference code (published)",
            PUBLISHED_D_SWEEP
                .iter()
                .map(|p| (p.d as f64, p.mf_wall_s))
                .collect(),
            Mark::Dashed,
        )
        .color(3),
    );
    plot::save(ctx.dir, "d_sweep", &[c_e, c_s, c_w], 3)?;

    Ok(Outcome {
        table,
        config: serde_json::json!({
            "scenario": "B-nd: target 0.6 N(0.10 + 0.15 z, 0.2² I) + 0.4 N(1.50 - 0.15 z, 0.3² I), z_j = sin(2πj/d); initial means +1.5 / +4.0, std 0.5 / 0.7",
            "d": D_SWEEP,
            "settings": settings,
            "start": STARTS.map(Start::name),
            "methods": methods.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
            "published": PUBLISHED_D_SWEEP,
        }),
        summary,
    })
}
