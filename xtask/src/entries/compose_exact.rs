//! `compose-exact`: CDPS and CMAD (joint, fictitious) against the exact optimum of a cooperative
//! composition problem with analytic Gaussian-mixture agents (d = 2 per agent, N = 2), at the
//! reference weights converted at d = 2 (`lambda = 2 lambda_ref / d = 10`, CDPS `w = 100/64`); the
//! convention is named in the run record and the summary.

use super::{Ctx, Entry, Outcome};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_compose::exact::{compare, ExactProblem, ExactRunConfig};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "compose-exact",
    about: "cooperative composition with analytic GMM agents: J of CDPS, CMAD-joint, CMAD-fictitious vs the importance-weighted optimum",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let problem = ExactProblem::reference()?;
    let mut cfg = if ctx.quick {
        ExactRunConfig::quick()
    } else {
        ExactRunConfig::full()
    };
    cfg.seed = ctx.seed;
    let rows = compare(&problem, &cfg)?;
    let mut table = Table::new(&["method", "J", "J_stderr", "terminal_cost", "control_energy"]);
    for r in &rows {
        table.push(vec![
            r.method.as_str().into(),
            Cell::Num(r.est.j),
            Cell::Num(r.est.j_stderr),
            Cell::Num(r.est.terminal),
            Cell::Num(r.est.energy),
        ]);
    }
    let weights = problem.cost.weights;
    let opt = rows
        .iter()
        .find(|r| r.method == "optimal")
        .map(|r| r.est.j)
        .unwrap_or(f64::NAN);
    let mut summary = vec![format!("weights: {}", weights.describe())];
    summary.extend(rows.iter().map(|r| {
            format!(
                "{:<18} J {:.4} ± {:.4} ({:+.2}% vs optimum), terminal {:.4}, running {:.4}, energy {:.4}",
                r.method,
                r.est.j,
                r.est.j_stderr,
                100.0 * (r.est.j - opt) / opt.abs(),
                r.est.terminal,
                r.est.running,
                r.est.energy
            )
        }));
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "weights": weights.describe(),
            "problem": problem,
            "run": cfg,
        }),
        summary,
    })
}
