//! Train one of the shipped networks and write its safetensors file.
//!
//! ```text
//! cargo run --release -p mfpid-compose --example train -- <score|objective|eval> [--steps N] [--out PATH]
//!     [--time-budget SECONDS] [--lr PEAK] [--init CHECKPOINT-to-continue-from]
//!     [--eval PATH-of-eval-weights-for-the-sample-check] [--batch B] [--ema DECAY]
//!     [--checkpoint-every STEPS] [--latent K (0: pixel network)] [--hidden H] [--blocks NB]
//! ```
//! Uses the fixed train split of `data/mnist-10k` (first 9,000 digits), reports test accuracy on the
//! last 1,000 (classifiers) and writes `crates/mfpid-compose/weights/<file>` unless `--out` is given.
//! The score run also samples 100 digits and writes `score_samples.png` next to the weights.

use mfpid_compose::idx::{Mnist, N_TEST};
use mfpid_compose::nn::{self, ModelKind, TrainConfig};
use mfpid_compose::vp::VpSchedule;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = match args.first().map(String::as_str) {
        Some("score") => ModelKind::Score,
        Some("objective") => ModelKind::Objective,
        Some("eval") => ModelKind::Eval,
        _ => return Err("usage: train <score|objective|eval> [--steps N] [--out PATH]".into()),
    };
    let mut cfg = TrainConfig::reference(kind);
    let mut out = kind.default_path();
    let mut eval_path = ModelKind::Eval.default_path();
    let mut init: Option<PathBuf> = None;
    let mut net_cfg = nn::ScoreNetConfig::default();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--steps" => cfg.steps = it.next().ok_or("--steps needs a value")?.parse()?,
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a value")?),
            "--lr" => cfg.lr = it.next().ok_or("--lr needs a value")?.parse()?,
            "--init" => init = Some(PathBuf::from(it.next().ok_or("--init needs a path")?)),
            "--batch" => cfg.batch = it.next().ok_or("--batch needs a value")?.parse()?,
            "--ema" => cfg.ema = it.next().ok_or("--ema needs a value")?.parse()?,
            "--checkpoint-every" => {
                cfg.checkpoint_every = it
                    .next()
                    .ok_or("--checkpoint-every needs a value")?
                    .parse()?
            }
            "--latent" => net_cfg.latent = it.next().ok_or("--latent needs a value")?.parse()?,
            "--hidden" => net_cfg.hidden = it.next().ok_or("--hidden needs a value")?.parse()?,
            "--blocks" => net_cfg.blocks = it.next().ok_or("--blocks needs a value")?.parse()?,
            "--eval" => eval_path = PathBuf::from(it.next().ok_or("--eval needs a value")?),
            "--time-budget" => {
                cfg.time_budget_s = it.next().ok_or("--time-budget needs seconds")?.parse()?
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let data = Mnist::load(&Mnist::default_dir())?;
    let (train, test) = data.split(N_TEST)?;
    let (xtr, xte) = (train.images_pm1(), test.images_pm1());
    let t0 = Instant::now();
    eprintln!("training {} with {cfg:?}", kind.name());
    let log = |s: usize, l: f64| {
        eprintln!(
            "step {s:>6}  loss {l:.4}  ({:.0} s)",
            t0.elapsed().as_secs_f64()
        )
    };
    match kind {
        ModelKind::Score => {
            eprintln!("network {net_cfg:?}");
            let pca = if net_cfg.latent > 0 {
                Some(nn::Pca::fit(&xtr, net_cfg.latent)?)
            } else {
                None
            };
            let mut m = nn::fresh_score(cfg.seed, net_cfg, pca.as_ref())?;
            if let Some(p) = &init {
                nn::load_into(&mut m, ModelKind::Score, p)?; // continue training from a checkpoint
            }
            let (loss, steps) =
                nn::train_score(&m, &xtr, &VpSchedule::default(), &cfg, Some(&out), log)?;
            println!("score network: {steps} steps, final mean loss {loss:.4}");
            nn::save(&m, &out)?;
            let samples = nn::sample_unconditional(&m.model, &VpSchedule::default(), 100, 500, 5)?;
            mfpid_compose::image::save_grid(
                &out.with_file_name("score_samples.png"),
                &samples,
                10,
            )?;
            if let Ok(ev) = nn::load_eval(Some(&eval_path)) {
                let (pred, conf) = nn::classify(&ev.model, &samples)?;
                let confident = conf.iter().filter(|&&c| c > 0.9).count();
                let mut hist = [0usize; 10];
                pred.iter().for_each(|&p| hist[p as usize] += 1);
                println!(
                    "samples: {confident}/100 with eval confidence > 0.9; class histogram {hist:?}"
                );
            }
        }
        ModelKind::Objective => {
            let m = nn::fresh_objective(cfg.seed)?;
            nn::train_classifier(&m, &xtr, &train.labels, &cfg, log)?;
            println!(
                "objective MLP test accuracy {:.4}",
                nn::accuracy(&m.model, &xte, &test.labels)?
            );
            nn::save(&m, &out)?;
        }
        ModelKind::Eval => {
            let m = nn::fresh_eval(cfg.seed)?;
            nn::train_classifier(&m, &xtr, &train.labels, &cfg, log)?;
            println!(
                "evaluation CNN test accuracy {:.4}",
                nn::accuracy(&m.model, &xte, &test.labels)?
            );
            nn::save(&m, &out)?;
        }
    }
    println!(
        "wrote {} in {:.1} s",
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
