//! Unconditional samples of the score network, classified by the evaluation classifier.
//!
//! ```text
//! cargo run --release -p mfpid-compose --example unconditional -- [N] [STEPS] [WEIGHTS-DIR] [PNG]
//! ```

use mfpid_compose::repro::compose_unconditional;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = a.first().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let steps = a.get(1).map(|s| s.parse()).transpose()?.unwrap_or(250);
    let dir = a.get(2).map(PathBuf::from);
    let (r, images) = compose_unconditional(n, steps, 1, dir.as_deref())?;
    println!(
        "{n} samples, {steps} steps: confident (>0.9) {:.3}, counts {:?}",
        r.frac_confident, r.counts
    );
    println!(
        "objective test acc {:.4}, eval test acc {:.4}",
        r.objective_test_acc, r.eval_test_acc
    );
    if let Some(png) = a.get(3) {
        mfpid_compose::image::save_grid(
            std::path::Path::new(png),
            &images[..images.len().min(100 * 784)],
            10,
        )?;
    }
    Ok(())
}
