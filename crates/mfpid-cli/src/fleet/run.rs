//! `mfpid fleet CONFIG`: run every method of the plan on one fleet (shared agents and noise), then
//! write the tables and figures and print the summary.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use mfpid::energy::{
    Experiment, HvacObserver, HvacRecorder, HvacSaving, Recording, RunOptions, Saving,
};
use mfpid::sde::observe::{Observer, StepView};

use super::figures;
use super::plan::{describe, estimate_seconds, plan};
use super::tables::{self, Summary};
use crate::common::{default_out, Common};
use crate::config::Source;
use crate::error::{AppError, LibContext, Result};
use crate::outdir::{self, OutDir, Timings};
use crate::ranks::Ranks;

/// Progress of one method's run (the energy crate owns the loop, so Ctrl-C is honoured between
/// methods; a second Ctrl-C quits at once).
struct ProgressObs<'a> {
    bar: &'a ProgressBar,
    offset: f64,
    share: f64,
}

impl Observer for ProgressObs<'_> {
    fn needs_drift(&self) -> bool {
        false
    }
    fn observe(&mut self, v: &StepView<'_>) {
        self.bar
            .set_position(((self.offset + self.share * v.t) * 1000.0) as u64);
    }
}

/// Run `fleet` (one population over the MPI ranks under `mpirun`; see [`crate::ranks`]).
pub fn cmd(config: &Path, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let ranks = Ranks::init()?;
    let outcome = body(config, out, &ranks.common(common), &ranks);
    ranks.finish(outcome)
}

/// Every fallible step before the last collective is agreed over the ranks; rank 0 then writes.
fn body(config: &Path, out: Option<PathBuf>, common: &Common, ranks: &Ranks) -> Result<()> {
    let mut timings = Timings::start();
    let src = ranks.agree(Source::load(config))?;
    let plan = ranks.agree(plan(&src, common))?;
    let out = out.unwrap_or_else(|| default_out(config));
    let dir = ranks.on_root(|| OutDir::create(&out, common.force))?;
    if !common.quiet {
        for l in describe(&plan) {
            eprintln!("{l}");
        }
    }
    // the shared estimator's time (a probe run), recorded beside the measured time
    let time_estimate = ranks.agree(estimate_seconds(&plan))?;
    // every rank draws only its agents
    let exp = ranks.agree(
        Experiment::new_on(plan.fleet.clone(), plan.settings.clone(), ranks.comm()).ctx("fleet"),
    )?;
    timings.lap("setup");
    let rec = Recording {
        mean_every: (plan.settings.n_steps / 100).max(1),
        subpop_power: true,
        keep_final: false,
    };
    let bar = outdir::progress(common.quiet, "fleet");
    let nm = plan.methods.len() as f64;
    let mut runs = Vec::new();
    let mut hvac = Vec::new();
    let mut physical = Vec::new();
    for (i, m) in plan.methods.iter().enumerate() {
        ranks.agree(outdir::check_cancel())?;
        bar.set_message(m.name.clone());
        let mut prog = ProgressObs {
            bar: &bar,
            offset: i as f64 / nm,
            share: 1.0 / nm,
        };
        // Ctrl-C stops the run at its next time step (the runner reads the token once per step)
        let opts = RunOptions::from(rec).with_cancel(outdir::cancel_token());
        let run_one = |extra: &mut [&mut dyn Observer]| ranks.run(&exp, m, &opts, extra);
        let run = match &plan.layer {
            Some(l) => {
                let mut h = HvacObserver::new(l);
                let mut rec = HvacRecorder::new(l, plan.settings.agents);
                let r = run_one(&mut [&mut prog, &mut h, &mut rec])?;
                hvac.push(h);
                physical.push(rec.summary().ctx(format!("method {}", m.name))?);
                r
            }
            None => run_one(&mut [&mut prog])?,
        };
        runs.extend(run);
    }
    ranks.agree(outdir::check_cancel())?;
    bar.finish_and_clear();
    // savings against the baseline (paired over the shared agents, each rank holding its agents'
    // energies), from the library: collective reproducible sums, the same on every rank
    let base = ranks.agree(
        runs.iter()
            .find(|r| r.method == plan.baseline)
            .ok_or_else(|| AppError::Other(format!("baseline {} did not run", plan.baseline))),
    )?;
    let savings = ranks.agree(
        runs.iter()
            .map(|r| Saving::of_on(r, base, ranks.comm()).ctx("saving"))
            .collect::<Result<Vec<Saving>>>(),
    )?;
    timings.lap("simulate");
    // the other ranks are done; rank 0 writes (its outcome is agreed in `cmd`)
    let Some(dir) = dir else { return Ok(()) };
    // with [physical]: HVAC energy, peak power and effort against the baseline, paired
    let phys = match runs.iter().position(|r| r.method == plan.baseline) {
        Some(b) if !physical.is_empty() => Some(tables::Physical {
            savings: physical
                .iter()
                .map(|p| HvacSaving::of(p, &physical[b]).ctx("HVAC saving"))
                .collect::<Result<Vec<_>>>()?,
            summaries: physical,
            observers: hvac,
        }),
        _ => None,
    };
    let summary = tables::write(&plan, &runs, &savings, phys.as_ref(), &dir)?;
    figures::write(&plan, &runs, &savings, phys.as_ref(), &dir)?;
    timings.lap("write");
    outdir::write_run_json(
        &dir,
        serde_json::json!({
            "command": "fleet",
            "config_file": config.display().to_string(),
            "config": plan.config,
            "settings": plan.settings,
            "seed": plan.settings.seed,
            "memory_estimate_bytes": plan.cost.bytes_u64(),
            "time_estimate_s": time_estimate,
            "ranks": ranks.record(exp.agents().len()),
        }),
        common.quick,
        &timings,
    )?;
    let final_dir = dir.commit()?;
    if !common.quiet {
        print_summary(&summary);
        println!("wrote {}", final_dir.display());
    }
    // each method's terminal law against p_tar (the bridge reaches it exactly in law)
    let failed: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let p = r.terminal.max_mean_z_p_value();
            (p < crate::sample::CHECK_P_VALUE).then(|| {
                format!(
                    "{} (max |mean z| = {:.2}, probability {})",
                    r.method,
                    r.terminal.max_mean_z(),
                    crate::common::human_num(p)
                )
            })
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "the terminal law of {} fails its check against p_tar (probability under exact sampling below {})",
        failed.join(", "),
        crate::sample::CHECK_P_VALUE
    );
    if common.strict {
        return Err(AppError::ChecksFailed(msg));
    }
    eprintln!("mfpid: warning: {msg} (--strict makes this exit with status 3)");
    Ok(())
}

/// One line per method. With `[physical]`: HVAC energy (kWh) and peak power (kW) per building and
/// their savings against the baseline, each ± its standard error, then the effort (kW²·h); without:
/// `E(1) ± stderr` and the saving against the baseline.
fn print_summary(s: &Summary) {
    let pm = |v: f64, e: f64, p: usize| {
        if v.is_finite() && e.is_finite() {
            format!("{v:.p$} ± {e:.p$}")
        } else {
            "-".into()
        }
    };
    if s.methods.iter().all(|m| m.physical.is_some()) && !s.methods.is_empty() {
        println!(
            "per building; savings against {} (positive: uses less), each ± its standard error",
            s.baseline
        );
        println!(
            "{:<8} {:>17} {:>16} {:>15} {:>16} {:>20} {:>16}",
            "method",
            "HVAC energy kWh",
            "energy saving %",
            "peak power kW",
            "peak saving %",
            "effort kW²·h",
            "effort saving %"
        );
        for r in &s.methods {
            let Some(p) = &r.physical else { continue };
            let h = &p.hvac;
            let sv = |f: fn(&HvacSaving) -> (f64, f64)| match &p.saving {
                Some(x) => {
                    let (v, e) = f(x);
                    pm(v, e, 2)
                }
                None => "(baseline)".into(),
            };
            println!(
                "{:<8} {:>17} {:>16} {:>15} {:>16} {:>20} {:>16}",
                r.method,
                pm(h.energy_kwh, h.energy_se_kwh, 3),
                sv(|x| (x.energy_pct, x.energy_se_pct)),
                pm(h.peak_kw, h.peak_se_kw, 2),
                sv(|x| (x.peak_pct, x.peak_se_pct)),
                pm(h.effort_kw2h, h.effort_se_kw2h, 2),
                sv(|x| (x.effort_pct, x.effort_se_pct)),
            );
        }
        println!(
            "(effort = ∫ Σ_j (control power_j)² dτ, the bridge's cost functional; not an energy)"
        );
        return;
    }
    println!("method   E(1)          saving vs {}", s.baseline);
    for r in &s.methods {
        println!(
            "{:<8} {:>9.4} ± {:<7.4} {}",
            r.method,
            r.energy,
            r.stderr,
            match (r.saving_pct, r.saving_stderr_pct) {
                // JSON writes a non-finite number as null, which printed as "-"
                (Some(s), Some(e)) if s.is_finite() && e.is_finite() => {
                    format!("{s:.2}% ± {e:.2}")
                }
                _ => "-".into(),
            }
        );
    }
}
