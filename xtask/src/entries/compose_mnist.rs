//! `compose-mnist`: N score-model agents paint the bands of one MNIST image, steered toward a digit
//! by CDPS or CMAD (joint / fictitious), with accuracies under the objective and the independent
//! evaluation classifier, terminal loss, seam, Fréchet distance, control energy and wall time.

use super::{Ctx, Entry, Outcome};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_compose::image::save_grid;
use mfpid_compose::repro::{compose_mnist, MnistRunConfig};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "compose-mnist",
    about: "MNIST composition (split-mask bands): base, optimal_is, CDPS (reference w and sweep), CMAD-joint, CMAD-fictitious for digits 0/3/9, N = 2/3",
    // float results of f32 networks with multi-threaded kernels are machine-dependent
    snapshot_skip: &["acc_objective", "acc_eval", "terminal_loss", "seam", "frechet", "control_energy", "wall_s"],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let weights = super::compose_unconditional::weights_dir(ctx)?;
    let cfg = if ctx.quick {
        MnistRunConfig::quick(ctx.seed)
    } else {
        MnistRunConfig::full(ctx.seed)
    };
    let (rows, grids) = compose_mnist(&cfg, weights.as_deref())?;
    let mut table = Table::new(&[
        "digit",
        "n_agents",
        "method",
        "acc_objective",
        "acc_eval",
        "terminal_loss",
        "seam",
        "frechet",
        "control_energy",
        "wall_s",
    ]);
    let mut summary = vec![format!("weights: {}", cfg.weights.describe())];
    for r in &rows {
        table.push(vec![
            r.digit.into(),
            r.n_agents.into(),
            r.method.as_str().into(),
            Cell::Num(r.acc_objective),
            Cell::Num(r.acc_eval),
            Cell::Num(r.terminal_loss),
            Cell::Num(r.seam),
            Cell::Num(r.frechet),
            Cell::Num(r.control_energy),
            Cell::Num(r.wall_s),
        ]);
        summary.push(format!(
            "digit {} N {} {:<16} acc obj {:.3} eval {:.3}, terminal {:.3}, seam {:.3}, FD {:.1}, energy {:.3}, J {:.3}{}, {:.1} s",
            r.digit, r.n_agents, r.method, r.acc_objective, r.acc_eval, r.terminal_loss, r.seam, r.frechet, r.control_energy, r.j,
            if r.method == "optimal_is" { format!(" (ESS {:.0} of {})", r.ess, cfg.n_samples) } else { String::new() },
            r.wall_s
        ));
    }
    for g in &grids {
        save_grid(&ctx.dir.join(format!("{}.png", g.name)), &g.images, 8)?;
    }
    Ok(Outcome {
        table,
        config: serde_json::json!({ "weights": cfg.weights.describe(), "run": cfg }),
        summary,
    })
}
