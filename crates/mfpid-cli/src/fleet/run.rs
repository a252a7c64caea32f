//! `mfpid fleet CONFIG`: run every method of the plan on one fleet (shared agents and noise), then
//! write the tables and figures and print the summary.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use mfpid::energy::{Experiment, HvacObserver, Recording, RunOptions, Saving};
use mfpid::sde::observe::{Observer, StepView};

use super::figures;
use super::plan::{describe, plan};
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
    let exp =
        ranks.agree(Experiment::new(plan.fleet.clone(), plan.settings.clone()).ctx("fleet"))?;
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
                let r = run_one(&mut [&mut prog, &mut h])?;
                hvac.push(h);
                r
            }
            None => run_one(&mut [&mut prog])?,
        };
        runs.extend(run);
    }
    ranks.agree(outdir::check_cancel())?;
    bar.finish_and_clear();
    timings.lap("simulate");
    // the other ranks are done; rank 0 writes (its outcome is agreed in `cmd`)
    let Some(dir) = dir else { return Ok(()) };
    // savings against the baseline (paired over the shared agents), from the library
    let base = runs
        .iter()
        .find(|r| r.method == plan.baseline)
        .ok_or_else(|| AppError::Other(format!("baseline {} did not run", plan.baseline)))?;
    let savings = runs
        .iter()
        .map(|r| Saving::of(r, base).ctx("saving"))
        .collect::<Result<Vec<Saving>>>()?;
    let summary = tables::write(&plan, &runs, &savings, &hvac, &dir)?;
    figures::write(&plan, &runs, &savings, &hvac, &dir)?;
    timings.lap("write");
    outdir::write_run_json(
        &dir,
        serde_json::json!({
            "command": "fleet",
            "config_file": config.display().to_string(),
            "config": plan.config,
            "settings": plan.settings,
            "seed": plan.settings.seed,
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
    Ok(())
}

/// One line per method: `E(1) ± stderr` and the saving against the baseline.
fn print_summary(s: &Summary) {
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
