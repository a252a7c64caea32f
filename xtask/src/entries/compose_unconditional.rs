//! `compose-unconditional`: unconditional samples of the shipped score network, with the evaluation
//! classifier's class histogram and confidence, and both classifiers' test accuracies.

use super::{Ctx, Entry, Outcome};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_compose::image::save_grid;
use mfpid_compose::repro::compose_unconditional;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "compose-unconditional",
    about: "unconditional samples of the MNIST score network: evaluation-classifier class histogram and confidence",
    snapshot_skip: &["count", "mean_confidence"],
    run,
};

/// Where the MNIST entries load their networks from: `None` for the shipped weights, or, with
/// `--retrain` (or `MFPID_COMPOSE_RETRAIN=1`), the directory of freshly trained ones (full mode
/// overwrites the shipped weights; quick mode trains throw-away ones under the output directory).
pub(super) fn weights_dir(ctx: &Ctx) -> Result<Option<std::path::PathBuf>> {
    if !(ctx.retrain || mfpid_compose::repro::retrain_requested()) {
        return Ok(None);
    }
    let dir = mfpid_compose::repro::retrain_for_entry(
        ctx.quick,
        &ctx.dir.join("weights"),
        |net, step, loss| {
            if step % 1000 == 0 {
                eprintln!("retrain {net}: step {step} loss {loss:.4}");
            }
        },
    )?;
    Ok(Some(dir))
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let weights = weights_dir(ctx)?;
    let (n, steps) = if ctx.quick { (16, 100) } else { (1024, 500) };
    let (res, images) = compose_unconditional(n, steps, ctx.seed, weights.as_deref())?;
    let mut table = Table::new(&["class", "count", "mean_confidence"]);
    for k in 0..10 {
        table.push(vec![
            k.into(),
            res.counts[k].into(),
            Cell::Num(res.mean_confidence[k]),
        ]);
    }
    save_grid(
        &ctx.dir.join("samples.png"),
        &images[..images.len().min(100 * 784)],
        10,
    )?;
    let missing: Vec<usize> = (0..10).filter(|&k| res.counts[k] == 0).collect();
    let summary = vec![
        format!("{n} samples, {steps} reverse Euler-Maruyama steps"),
        format!(
            "fraction with evaluation confidence > 0.9: {:.3} (target >= 0.9)",
            res.frac_confident
        ),
        format!("digits never sampled: {missing:?}"),
        format!(
            "objective MLP test accuracy {:.4}, evaluation CNN test accuracy {:.4}",
            res.objective_test_acc, res.eval_test_acc
        ),
    ];
    Ok(Outcome {
        table,
        config: serde_json::json!({ "result": res }),
        summary,
    })
}
