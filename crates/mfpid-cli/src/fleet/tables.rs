//! The `fleet` tables: table.csv / table.json (one row per method), per_zone.csv,
//! subpopulations.csv, power.csv, mean_path.csv, terminal.csv, hvac.csv (with `[physical]`) and
//! summary.json, written from the typed [`Summary`].

use mfpid::energy::{
    HvacObserver, HvacSaving, HvacSummary, MethodRun, Saving, SubpopEnergy, TerminalLaw,
};
use serde::Serialize;

use super::plan::Plan;
use crate::data::{self, Cell, Table};
use crate::error::{AppError, Result};
use crate::outdir::OutDir;

/// `summary.json`: the fleet and one entry per method.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Zones `d`.
    pub d: usize,
    /// Agents `B`.
    pub agents: usize,
    /// Time steps.
    pub steps: usize,
    /// The method savings are measured against.
    pub baseline: String,
    /// One entry per method, in run order.
    pub methods: Vec<MethodSummary>,
    /// Mean of `p_in`.
    pub mean_in: Vec<f64>,
    /// Mean of `p_tar`.
    pub mean_tar: Vec<f64>,
    /// Covariance form of `p_tar`.
    pub covariance_kind: &'static str,
}

/// One method's results in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MethodSummary {
    /// Method name.
    pub method: String,
    /// Control energy `E(1)`.
    pub energy: f64,
    /// Its standard error over agents.
    pub stderr: f64,
    /// `E_j(1)` per zone.
    pub energy_per_zone: Vec<f64>,
    /// `max_t E|u_t|²`.
    pub peak_power: f64,
    /// Saving against the baseline, percent (none for the baseline itself).
    pub saving_pct: Option<f64>,
    /// Its paired standard error, percentage points.
    pub saving_stderr_pct: Option<f64>,
    /// Centres used, row-major `M x d`.
    pub centres: Vec<f64>,
    /// Energy by starting sub-population.
    pub subpopulations: Vec<SubpopEnergy>,
    /// Terminal law against `p_tar`.
    pub terminal: TerminalLaw,
    /// kW / kWh results with `[physical]`.
    pub physical: Option<PhysicalSummary>,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// The physical results of every method (with `[physical]`), in run order.
pub struct Physical {
    /// HVAC energy, peak power and effort per method, with standard errors.
    pub summaries: Vec<HvacSummary>,
    /// Their savings against the baseline (the baseline's own entry is zero).
    pub savings: Vec<HvacSaving>,
    /// Power and temperature traces per method (hvac.csv, hvac.png).
    pub observers: Vec<HvacObserver>,
}

/// A method's results in physical units (RC thermal layer); power `P > 0` heats, `P < 0` cools.
#[derive(Debug, Clone, Serialize)]
pub struct PhysicalSummary {
    /// HVAC energy `∫ Σ_j |P_j| dτ` (kWh), peak power (kW) and effort (kW²·h) per building, each
    /// with its standard error.
    pub hvac: HvacSummary,
    /// Savings against the baseline with paired standard errors (none for the baseline).
    pub saving: Option<HvacSaving>,
    /// Cooling energy `∫ Σ_j max(-P_j, 0) dτ`, kWh per building.
    pub cooling_kwh: f64,
    /// Heating energy `∫ Σ_j max(P_j, 0) dτ`, kWh per building.
    pub heating_kwh: f64,
    /// Net HVAC energy `∫ Σ_j P_j dτ` (negative: net cooling), kWh per building.
    pub net_kwh: f64,
    /// Energy of the control part of the power, kWh per building.
    pub control_kwh: f64,
    /// Peak cooling power per building, kW.
    pub peak_cooling_kw: f64,
}

/// Write every table and `summary.json`; `savings[i]` is `runs[i]` against the baseline.
pub fn write(
    plan: &Plan,
    runs: &[MethodRun],
    savings: &[Saving],
    phys: Option<&Physical>,
    dir: &OutDir,
) -> Result<Summary> {
    let d = plan.fleet.dim();
    // with [physical] the physical columns lead: kWh, kW and their savings, then the effort
    let phys_cols: &[&str] = if phys.is_some() {
        &[
            "hvac_kwh",
            "hvac_kwh_se",
            "hvac_saving_pct",
            "hvac_saving_se_pct",
            "peak_kw",
            "peak_kw_se",
            "peak_saving_pct",
            "peak_saving_se_pct",
            "peak_minute",
            "effort_kw2h",
            "effort_kw2h_se",
            "effort_saving_pct",
            "effort_saving_se_pct",
            "cooling_kwh",
            "heating_kwh",
            "net_kwh",
            "control_kwh",
            "peak_cooling_kw",
        ]
    } else {
        &[]
    };
    let mut cols: Vec<String> = std::iter::once(&"method")
        .chain(phys_cols)
        .map(|s| s.to_string())
        .collect();
    cols.extend(
        [
            "energy",
            "stderr",
            "energy_per_zone_mean",
            "peak_power",
            "saving_pct",
            "saving_stderr_pct",
            "terminal_max_weight_error",
            "terminal_max_mean_error",
            "wall_s",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut table = Table::with_columns(cols);
    let mut methods = Vec::new();
    for (i, (r, s)) in runs.iter().zip(savings).enumerate() {
        // the baseline has no saving against itself
        let saving = (r.method != plan.baseline).then_some(*s);
        let physical = phys.and_then(|p| {
            let (h, o) = (p.summaries.get(i)?, p.observers.get(i)?);
            Some(PhysicalSummary {
                hvac: h.clone(),
                saving: (r.method != plan.baseline)
                    .then(|| p.savings.get(i).copied())
                    .flatten(),
                cooling_kwh: o.cooling_kwh,
                heating_kwh: o.heating_kwh,
                net_kwh: o.net_kwh,
                control_kwh: o.control_kwh,
                peak_cooling_kw: o.peak_cooling_kw(),
            })
        });
        let mut row: Vec<Cell> = vec![r.method.clone().into()];
        if let Some(p) = &physical {
            let (h, sv) = (&p.hvac, p.saving);
            let or0 = |f: fn(&HvacSaving) -> f64| Cell::Num(sv.as_ref().map_or(0.0, f));
            row.extend([
                Cell::Num(h.energy_kwh),
                Cell::Num(h.energy_se_kwh),
                or0(|s| s.energy_pct),
                or0(|s| s.energy_se_pct),
                Cell::Num(h.peak_kw),
                Cell::Num(h.peak_se_kw),
                or0(|s| s.peak_pct),
                or0(|s| s.peak_se_pct),
                Cell::Num(h.peak_minute),
                Cell::Num(h.effort_kw2h),
                Cell::Num(h.effort_se_kw2h),
                or0(|s| s.effort_pct),
                or0(|s| s.effort_se_pct),
                Cell::Num(p.cooling_kwh),
                Cell::Num(p.heating_kwh),
                Cell::Num(p.net_kwh),
                Cell::Num(p.control_kwh),
                Cell::Num(p.peak_cooling_kw),
            ]);
        }
        row.extend([
            r.energy.into(),
            r.stderr.into(),
            (r.energy / d as f64).into(),
            r.peak_power.into(),
            saving.map(|s| s.pct).unwrap_or(0.0).into(),
            saving.map(|s| s.stderr_pct).unwrap_or(0.0).into(),
            r.terminal.max_weight_error().into(),
            r.terminal.max_mean_error().into(),
            r.wall_s.into(),
        ]);
        table.push(row);
        methods.push(MethodSummary {
            method: r.method.clone(),
            energy: r.energy,
            stderr: r.stderr,
            energy_per_zone: r.energy_per_zone.clone(),
            peak_power: r.peak_power,
            saving_pct: saving.map(|s| s.pct),
            saving_stderr_pct: saving.map(|s| s.stderr_pct),
            centres: r.centres.clone(),
            subpopulations: r.subpopulations.clone(),
            terminal: r.terminal.clone(),
            physical,
            wall_s: r.wall_s,
        });
    }
    table.write_csv(&dir.file("table.csv"))?;
    data::write_json(&dir.file("table.json"), &table.to_json())?;
    // per zone
    let mut pz = Table::with_columns(["method", "zone", "energy"]);
    for r in runs {
        for (j, e) in r.energy_per_zone.iter().enumerate() {
            pz.push(vec![r.method.clone().into(), j.into(), (*e).into()]);
        }
    }
    pz.write_csv(&dir.file("per_zone.csv"))?;
    // sub-populations
    let mut sp = Table::with_columns([
        "method",
        "component",
        "agents",
        "energy",
        "stderr",
        "share_pct",
    ]);
    for r in runs {
        for s in &r.subpopulations {
            sp.push(vec![
                r.method.clone().into(),
                s.component.into(),
                s.agents.into(),
                s.energy.into(),
                s.stderr.into(),
                s.share_pct.into(),
            ]);
        }
    }
    sp.write_csv(&dir.file("subpopulations.csv"))?;
    // power traces
    let mut pw = Table::with_columns(
        std::iter::once("t".to_string()).chain(runs.iter().map(|r| format!("power_{}", r.method))),
    );
    if let Some(first) = runs.first() {
        for (n, t) in first.times.iter().enumerate() {
            let mut row: Vec<Cell> = vec![(*t).into()];
            row.extend(
                runs.iter()
                    .map(|r| Cell::Num(r.power.get(n).copied().unwrap_or(f64::NAN))),
            );
            pw.push(row);
        }
    }
    pw.write_csv(&dir.file("power.csv"))?;
    // fleet mean paths
    let mut mp = Table::with_columns(
        ["method", "t"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..d).map(|j| format!("mean_x{j}"))),
    );
    for r in runs {
        for (t, m) in &r.mean_path {
            let mut row: Vec<Cell> = vec![r.method.clone().into(), (*t).into()];
            row.extend(m.iter().map(|&v| Cell::Num(v)));
            mp.push(row);
        }
    }
    mp.write_csv(&dir.file("mean_path.csv"))?;
    // terminal law per component
    let mut tl = Table::with_columns(
        [
            "method",
            "component",
            "weight",
            "weight_stderr",
            "target_weight",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..d).map(|j| format!("mean_x{j}")))
        .chain((0..d).map(|j| format!("target_mean_x{j}"))),
    );
    for r in runs {
        let t = &r.terminal;
        for k in 0..t.weights.len() {
            let mut row: Vec<Cell> = vec![
                r.method.clone().into(),
                k.into(),
                t.weights[k].into(),
                t.weight_stderr[k].into(),
                t.target_weights[k].into(),
            ];
            row.extend(t.means[k * d..(k + 1) * d].iter().map(|&v| Cell::Num(v)));
            row.extend(
                t.target_means[k * d..(k + 1) * d]
                    .iter()
                    .map(|&v| Cell::Num(v)),
            );
            tl.push(row);
        }
    }
    tl.write_csv(&dir.file("terminal.csv"))?;
    if let Some(p) = phys {
        let hvac = &p.observers;
        let mut ht = Table::with_columns(std::iter::once("minutes".to_string()).chain(
            runs.iter().flat_map(|r| {
                [
                    format!("hvac_kw_{}", r.method),
                    format!("net_kw_{}", r.method),
                    format!("cooling_kw_{}", r.method),
                    format!("mean_temp_c_{}", r.method),
                ]
            }),
        ));
        if let Some(h0) = hvac.first() {
            for (n, mins) in h0.minutes.iter().enumerate() {
                let mut row: Vec<Cell> = vec![(*mins).into()];
                for (h, sm) in hvac.iter().zip(&p.summaries) {
                    row.push(sm.power_kw.get(n).copied().unwrap_or(f64::NAN).into());
                    row.push(h.net_kw.get(n).copied().unwrap_or(f64::NAN).into());
                    row.push(h.cooling_kw.get(n).copied().unwrap_or(f64::NAN).into());
                    row.push(h.mean_temp_c.get(n).copied().unwrap_or(f64::NAN).into());
                }
                ht.push(row);
            }
        }
        ht.write_csv(&dir.file("hvac.csv"))?;
    }
    let summary = Summary {
        d,
        agents: plan.settings.agents,
        steps: plan.settings.n_steps,
        baseline: plan.baseline.clone(),
        methods,
        mean_in: plan.fleet.mean_in(),
        mean_tar: plan.fleet.mean_tar(),
        covariance_kind: plan.covariance_kind(),
    };
    // through a JSON value, so keys are written in the same (sorted) order as before
    let value = serde_json::to_value(&summary).map_err(|e| AppError::Other(e.to_string()))?;
    data::write_json(&dir.file("summary.json"), &value)?;
    Ok(summary)
}
