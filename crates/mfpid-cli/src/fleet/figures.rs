//! The `fleet` figures: power.svg/png (power, cumulative energy, fleet mean), energy.svg/png
//! (energy, saving and per-zone bars; with `[physical]` HVAC energy in kWh, peak power in kW and
//! their savings, each ± its standard error, then the effort in kW²·h) and hvac.svg/png with
//! `[physical]` (HVAC power and mean temperature over the recovery).

use mfpid::energy::{MethodRun, Saving};
use mfpid_report::plot::{self, xy, Bars, Chart, Mark, Series};

use super::plan::Plan;
use super::tables::Physical;
use crate::error::Result;
use crate::outdir::OutDir;

/// Draw every figure; `savings[i]` is `runs[i]` against the baseline.
pub fn write(
    plan: &Plan,
    runs: &[MethodRun],
    savings: &[Saving],
    phys: Option<&Physical>,
    dir: &OutDir,
) -> Result<()> {
    let d = plan.fleet.dim();
    if let Some(p) = phys {
        let mut kw = Chart::new(
            "HVAC power Σ|P| per building",
            "minutes after the event",
            "kW",
        );
        let mut tc = Chart::new("fleet mean temperature", "minutes after the event", "°C");
        for (i, ((r, h), sm)) in runs.iter().zip(&p.observers).zip(&p.summaries).enumerate() {
            kw = kw.with(
                Series::new(r.method.clone(), xy(&sm.minutes, &sm.power_kw), Mark::Line).color(i),
            );
            tc = tc.with(
                Series::new(r.method.clone(), xy(&h.minutes, &h.mean_temp_c), Mark::Line).color(i),
            );
        }
        plot::save(dir.path(), "hvac", &[kw, tc], 2)?;
    }
    let mut power_c = Chart::new("fleet power E|u|²", "t", "power");
    let mut cum_c = Chart::new("cumulative energy", "t", "E(t)");
    let mut mean_c = Chart::new("zone-averaged fleet mean", "t", "mean x");
    for (i, r) in runs.iter().enumerate() {
        power_c = power_c.with(
            Series::new(
                r.method.clone(),
                r.times
                    .iter()
                    .copied()
                    .zip(r.power.iter().copied())
                    .collect(),
                Mark::Line,
            )
            .color(i),
        );
        cum_c =
            cum_c.with(Series::new(r.method.clone(), r.cumulative_energy(), Mark::Line).color(i));
        mean_c = mean_c.with(
            Series::new(
                r.method.clone(),
                r.mean_path
                    .iter()
                    .map(|(t, m)| (*t, m.iter().sum::<f64>() / d as f64))
                    .collect(),
                Mark::Line,
            )
            .color(i),
        );
    }
    let (mi, mt) = (plan.fleet.mean_in(), plan.fleet.mean_tar());
    let (a, b) = (
        mi.iter().sum::<f64>() / d as f64,
        mt.iter().sum::<f64>() / d as f64,
    );
    mean_c = mean_c.with(Series::new(
        "straight line",
        vec![(0.0, a), (1.0, b)],
        Mark::Dashed,
    ));
    plot::save(dir.path(), "power", &[power_c, cum_c, mean_c], 3)?;
    let energy_bars = Bars {
        title: "control energy E(1)".into(),
        x_label: "method".into(),
        y_label: "E(1)".into(),
        categories: runs.iter().map(|r| r.method.clone()).collect(),
        groups: vec![("E(1)".into(), runs.iter().map(|r| r.energy).collect())],
    };
    let zone_bars = Bars {
        title: "energy per zone".into(),
        x_label: "zone".into(),
        y_label: "E_j(1)".into(),
        categories: (0..d).map(|j| j.to_string()).collect(),
        groups: runs
            .iter()
            .map(|r| (r.method.clone(), r.energy_per_zone.clone()))
            .collect(),
    };
    let saving_bars = Bars {
        title: format!("saving against {} (%)", plan.baseline),
        x_label: "method".into(),
        y_label: "saving (%)".into(),
        categories: runs.iter().map(|r| r.method.clone()).collect(),
        groups: vec![(String::new(), savings.iter().map(|s| s.pct).collect())],
    };
    match phys {
        Some(p) => plot::save_bars(dir.path(), "energy", &physical_bars(plan, runs, p), 2)?,
        None => plot::save_bars(
            dir.path(),
            "energy",
            &[energy_bars, saving_bars, zone_bars],
            3,
        )?,
    }
    Ok(())
}

/// The physical `energy` panels: HVAC energy (kWh), peak power (kW), their savings (%) and the
/// effort (kW²·h); every category label carries the value ± its standard error.
fn physical_bars(plan: &Plan, runs: &[MethodRun], p: &Physical) -> Vec<Bars> {
    let names: Vec<&str> = runs.iter().map(|r| r.method.as_str()).collect();
    let label =
        |i: usize, v: f64, e: f64, digits: usize| format!("{} {v:.digits$}±{e:.digits$}", names[i]);
    let s = &p.summaries;
    let bars = |title: &str, unit: &str, v: Vec<(f64, f64)>, digits: usize| Bars {
        title: title.into(),
        x_label: "method (value ± standard error)".into(),
        y_label: unit.into(),
        categories: v
            .iter()
            .enumerate()
            .map(|(i, (x, e))| label(i, *x, *e, digits))
            .collect(),
        groups: vec![(String::new(), v.iter().map(|(x, _)| *x).collect())],
    };
    // the baseline's own saving is not shown (it is zero by definition)
    let others: Vec<usize> = (0..runs.len())
        .filter(|&i| runs[i].method != plan.baseline)
        .collect();
    let saving_bars = Bars {
        title: format!("savings against {} (%), ± standard error", plan.baseline),
        x_label: "method".into(),
        y_label: "saving (%)".into(),
        categories: others
            .iter()
            .map(|&i| {
                let v = &p.savings[i];
                format!(
                    "{}: kWh {:.1}±{:.1}, peak {:.1}±{:.1}",
                    names[i], v.energy_pct, v.energy_se_pct, v.peak_pct, v.peak_se_pct
                )
            })
            .collect(),
        groups: vec![
            (
                "HVAC energy".into(),
                others.iter().map(|&i| p.savings[i].energy_pct).collect(),
            ),
            (
                "peak power".into(),
                others.iter().map(|&i| p.savings[i].peak_pct).collect(),
            ),
        ],
    };
    vec![
        bars(
            "HVAC energy per building (kWh)",
            "kWh",
            s.iter().map(|h| (h.energy_kwh, h.energy_se_kwh)).collect(),
            3,
        ),
        bars(
            "peak HVAC power per building (kW)",
            "kW",
            s.iter().map(|h| (h.peak_kw, h.peak_se_kw)).collect(),
            2,
        ),
        saving_bars,
        bars(
            "control effort (kW²·h, not an energy)",
            "kW²·h",
            s.iter()
                .map(|h| (h.effort_kw2h, h.effort_se_kw2h))
                .collect(),
            2,
        ),
    ]
}
