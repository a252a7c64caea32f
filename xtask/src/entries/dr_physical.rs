//! `dr-physical`: the documented example fleet of mfpid-energy's thermal layer (four-zone offices,
//! °C / kW / minutes) recovering after a curtailment event. Results lead with HVAC energy
//! `∫ Σ_j |P_j| dτ` (kWh) and peak power (kW) per building with standard errors (`mfpid_energy::hvac`,
//! the same estimator as `mfpid fleet`); power `P > 0` heats, `P < 0` cools.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, xy, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::{
    Experiment, HvacObserver, HvacRecorder, HvacSaving, HvacSummary, Method, Recording,
    ThermalLayer,
};
use mfpid_sde::observe::Observer;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-physical",
    about: "demand response in physical units: the example office fleet (RC zones, °C, kW, minutes), effort in kW²h and HVAC energy in kWh per method",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let layer = ThermalLayer::example_office();
    let (p_in, p_tar) = ThermalLayer::example_fleet();
    let fleet = layer.fleet(&p_in, &p_tar)?;
    let d = layer.zones();
    let target_c = fleet
        .mean_tar()
        .iter()
        .map(|x| layer.to_celsius(*x))
        .sum::<f64>()
        / d as f64;
    let settings = super::dr_sweep::settings(ctx, 4000, 256);
    let exp = Experiment::new(fleet, settings.clone())?;
    let mut table = Table::new(&[
        "method",
        "hvac_kwh",
        "hvac_kwh_se",
        "peak_kw",
        "peak_kw_se",
        "effort_kw2h",
        "control_kwh",
        "cooling_kwh",
        "heating_kwh",
        "net_kwh",
        "peak_cooling_kw",
        "temp_start_c",
        "temp_end_c",
        "temp_target_c",
    ]);
    let names = ["MF", "IA(0)", "IA(m̄)"];
    let mut summary = vec![format!(
        "{} buildings x {d} zones: C = {} kWh/°C, R = {} °C/kW, G = {} kW/°C, T_out = {} °C, T_ref = {} °C, horizon {} min, disturbance {} °C/√h (σ_T = {:.2} °C, {:.2} kW per unit of u); {} steps",
        settings.agents,
        layer.building.capacitance_kwh_per_c[0],
        layer.building.resistance_c_per_kw[0],
        layer.building.coupling_kw_per_c,
        layer.outdoor_c,
        layer.reference_c,
        layer.horizon_min,
        layer.noise_c_per_sqrt_h,
        layer.scale_c(),
        layer.kw_per_unit(0),
        settings.n_steps
    )];
    let mut c_t = Chart::new("mean zone temperature", "minutes after the event", "°C");
    let mut c_p = Chart::new(
        "HVAC cooling power per building",
        "minutes after the event",
        "kW",
    );
    let mut efforts = Vec::new();
    let mut physical: Vec<HvacSummary> = Vec::new();
    // the three methods in lockstep (one draw of each increment), HVAC observers per method
    let methods = Method::standard();
    let mut hvacs: Vec<HvacObserver> = methods.iter().map(|_| HvacObserver::new(&layer)).collect();
    let mut recs: Vec<HvacRecorder> = methods
        .iter()
        .map(|_| HvacRecorder::new(&layer, settings.agents))
        .collect();
    let watch = hvacs
        .iter_mut()
        .zip(recs.iter_mut())
        .map(|(h, r)| vec![h as &mut dyn Observer, r as &mut dyn Observer])
        .collect();
    let runs = exp.run_all_observed(&methods, Recording::default(), watch)?;
    for (i, (((m, r), hvac), rec)) in methods.iter().zip(runs).zip(&hvacs).zip(&recs).enumerate() {
        let h = rec.summary()?;
        let effort = layer.effort_kw2h(&r.energy_per_zone);
        let effort_se = effort * r.stderr / r.energy;
        efforts.push(effort);
        let t0 = hvac.mean_temp_c.first().copied().unwrap_or(f64::NAN);
        let t1 = hvac.mean_temp_c.last().copied().unwrap_or(f64::NAN);
        table.push(vec![
            Cell::from(m.name.as_str()),
            Cell::Num(h.energy_kwh),
            Cell::Num(h.energy_se_kwh),
            Cell::Num(h.peak_kw),
            Cell::Num(h.peak_se_kw),
            Cell::Num(effort),
            Cell::Num(hvac.control_kwh),
            Cell::Num(hvac.cooling_kwh),
            Cell::Num(hvac.heating_kwh),
            Cell::Num(hvac.net_kwh),
            Cell::Num(hvac.peak_cooling_kw()),
            Cell::Num(t0),
            Cell::Num(t1),
            Cell::Num(target_c),
        ]);
        summary.push(format!(
            "{:<6} HVAC energy {:.3} ± {:.3} kWh, peak {:.2} ± {:.2} kW per building; effort {:.1} ± {:.1} kW²h, cooling {:.2} kWh (control part {:.2} kWh), heating {:.3} kWh, peak cooling {:.1} kW per building; {:.2} °C -> {:.2} °C (target {:.2} °C); terminal law max |Δw| {:.4}, max mean error {:.2} se",
            names[i],
            h.energy_kwh,
            h.energy_se_kwh,
            h.peak_kw,
            h.peak_se_kw,
            effort,
            effort_se,
            hvac.cooling_kwh,
            -hvac.control_kwh,
            hvac.heating_kwh,
            hvac.peak_cooling_kw(),
            t0,
            t1,
            target_c,
            r.terminal.max_weight_error(),
            r.terminal.max_mean_z()
        ));
        c_t = c_t
            .with(Series::new(names[i], xy(&hvac.minutes, &hvac.mean_temp_c), Mark::Line).color(i));
        c_p = c_p
            .with(Series::new(names[i], xy(&hvac.minutes, &hvac.cooling_kw), Mark::Line).color(i));
        physical.push(h);
    }
    c_t = c_t.with(
        Series::new(
            "target mean",
            vec![(0.0, target_c), (layer.horizon_min, target_c)],
            Mark::Dashed,
        )
        .color(3),
    );
    for (j, base) in [(1, "IA(0)"), (2, "IA(m̄)")] {
        let sv = HvacSaving::of(&physical[0], &physical[j])?;
        summary.push(format!(
            "MF vs {base}: HVAC energy saving {:.1} ± {:.1} %, peak power saving {:.1} ± {:.1} %, effort saving {:.1} ± {:.1} % (paired standard errors)",
            sv.energy_pct, sv.energy_se_pct, sv.peak_pct, sv.peak_se_pct, sv.effort_pct, sv.effort_se_pct
        ));
    }
    summary.push(format!(
        "MF effort saving: {:.1} % vs IA(0), {:.1} % vs IA(m̄)",
        100.0 * (1.0 - efforts[0] / efforts[1]),
        100.0 * (1.0 - efforts[0] / efforts[2])
    ));
    plot::save(ctx.dir, "physical", &[c_t, c_p], 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "layer": layer,
            "p_in_celsius": p_in,
            "p_tar_celsius": p_tar,
            "settings": settings,
        }),
        summary,
    })
}
