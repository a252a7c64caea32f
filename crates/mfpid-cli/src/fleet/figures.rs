//! The `fleet` figures: power.svg/png (power, cumulative energy, fleet mean), energy.svg/png
//! (energy, saving and per-zone bars) and hvac.svg/png with `[physical]`.

use mfpid::energy::{HvacObserver, MethodRun, Saving};
use mfpid_report::plot::{self, xy, Bars, Chart, Mark, Series};

use super::plan::Plan;
use crate::error::Result;
use crate::outdir::OutDir;

/// Draw every figure; `savings[i]` is `runs[i]` against the baseline.
pub fn write(
    plan: &Plan,
    runs: &[MethodRun],
    savings: &[Saving],
    hvac: &[HvacObserver],
    dir: &OutDir,
) -> Result<()> {
    let d = plan.fleet.dim();
    if plan.layer.is_some() {
        let mut kw = Chart::new(
            "cooling power per building",
            "minutes after the event",
            "kW",
        );
        let mut tc = Chart::new("fleet mean temperature", "minutes after the event", "°C");
        for (i, (r, h)) in runs.iter().zip(hvac).enumerate() {
            kw = kw.with(
                Series::new(r.method.clone(), xy(&h.minutes, &h.cooling_kw), Mark::Line).color(i),
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
    plot::save_bars(
        dir.path(),
        "energy",
        &[energy_bars, saving_bars, zone_bars],
        3,
    )?;
    Ok(())
}
