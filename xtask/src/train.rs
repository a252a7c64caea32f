//! `cargo xtask train <score|objective|eval|controls>`: the way the composition's networks are made.
//!
//! ```text
//! cargo xtask train objective|eval [--steps N] [--lr LR] [--batch B] [--out PATH] [--init PATH]
//! cargo xtask train score [--steps N] [--time-budget S] [--checkpoint-every N] [--latent K]
//!     [--hidden H] [--blocks NB] [--ema D] [--init PATH] [--out PATH]
//! cargo xtask train controls --digit D --agents N --variant joint|fictitious [--max-steps N]
//!     [--checkpoint-every N] [--fresh] [--iters N] [--batch B] [--lr LR] [--hidden H] [--latent K]
//!     [--out DIR]
//! ```
//! Networks are written to `crates/mfpid-compose/weights/` unless `--out` is given. Controls resume
//! from their file when it exists (`--fresh` starts over) and print progress after every step.

use anyhow::{bail, Result};
use clap::Args;
use mfpid_compose::cmad::CmadConfig;
use mfpid_compose::compose::{
    controls_dir, controls_file_name, controls_train_command, ControlConfig, TrainOptions,
};
use mfpid_compose::nn::{ModelKind, ScoreNetConfig, TrainConfig};
use mfpid_compose::repro::{
    compose_mnist, reference_cmad, reference_control, train_controls, train_network, ControlSource,
    MnistRunConfig,
};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `cargo xtask train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// What to train: score, objective, eval or controls.
    pub what: String,
    /// Optimiser steps (networks) or joint steps / fictitious rounds (controls).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Peak learning rate (networks) or Adam learning rate (controls).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Output file (networks) or directory (controls).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue a network from this file.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Score network: wall-clock budget in seconds (re-plans the step count).
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Write the file every this many steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Score network / control network: PCA dimension (0: pixel network).
    #[arg(long)]
    pub latent: Option<usize>,
    /// Hidden width.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Score network: residual blocks.
    #[arg(long)]
    pub blocks: Option<usize>,
    /// Score network: EMA decay.
    #[arg(long)]
    pub ema: Option<f64>,
    /// Controls: target digit.
    #[arg(long)]
    pub digit: Option<usize>,
    /// Controls: number of agents.
    #[arg(long)]
    pub agents: Option<usize>,
    /// Controls: joint or fictitious.
    #[arg(long)]
    pub variant: Option<String>,
    /// Controls: stop after this many optimiser steps in this call (resume later).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Controls: start over instead of resuming from the file.
    #[arg(long)]
    pub fresh: bool,
    /// Controls: afterwards sample this many composed images (100 reverse steps) with base, CDPS at
    /// the reference weight and the controls as they are, and print accuracies, losses and J.
    #[arg(long)]
    pub eval: Option<usize>,
}

/// Run `cargo xtask train`.
pub fn run(a: &TrainArgs) -> Result<()> {
    let kind = match a.what.as_str() {
        "score" => ModelKind::Score,
        "objective" => ModelKind::Objective,
        "eval" => ModelKind::Eval,
        "controls" => return controls(a),
        other => bail!("unknown network '{other}' (score, objective, eval or controls)"),
    };
    let mut cfg = TrainConfig::reference(kind);
    let mut net = ScoreNetConfig::default();
    if let Some(v) = a.steps {
        cfg.steps = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.batch {
        cfg.batch = v;
    }
    if let Some(v) = a.ema {
        cfg.ema = v;
    }
    if let Some(v) = a.time_budget {
        cfg.time_budget_s = v;
    }
    if let Some(v) = a.checkpoint_every {
        cfg.checkpoint_every = v;
    }
    if let Some(v) = a.latent {
        net.latent = v;
    }
    if let Some(v) = a.hidden {
        net.hidden = v;
    }
    if let Some(v) = a.blocks {
        net.blocks = v;
    }
    let out = a.out.clone().unwrap_or_else(|| kind.default_path());
    let t0 = Instant::now();
    eprintln!("training {} with {cfg:?}", kind.name());
    let r = train_network(kind, &cfg, net, a.init.as_deref(), &out, |s, l| {
        eprintln!(
            "step {s:>6}  loss {l:.4}  ({:.0} s)",
            t0.elapsed().as_secs_f64()
        )
    })?;
    println!(
        "{}: {} steps, final loss {:.4}, test accuracy {:.4}, {:.0} s -> {}",
        kind.name(),
        r.steps,
        r.final_loss,
        r.test_accuracy,
        r.wall_s,
        out.display()
    );
    Ok(())
}

fn controls(a: &TrainArgs) -> Result<()> {
    let (Some(digit), Some(n), Some(variant)) = (a.digit, a.agents, a.variant.as_deref()) else {
        bail!("train controls needs --digit D --agents N --variant joint|fictitious");
    };
    let mut cfg: CmadConfig = reference_cmad(n, variant)?;
    if let Some(v) = a.steps {
        cfg.iters = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.batch {
        cfg.batch = v;
    }
    let mut control: ControlConfig = reference_control();
    if let Some(v) = a.hidden {
        control.hidden = v;
        cfg.hidden = v;
    }
    if let Some(v) = a.latent {
        control.latent = v;
    }
    let method = cfg.method();
    let dir = a.out.clone().unwrap_or_else(controls_dir);
    let path = dir.join(controls_file_name(digit, n, method));
    if a.fresh && path.exists() {
        std::fs::remove_file(&path)?;
    }
    let opts = TrainOptions {
        checkpoint: Some(path.clone()),
        checkpoint_every: a.checkpoint_every.unwrap_or(25),
        resume: true,
        max_steps: a.max_steps,
        hint: controls_train_command(digit, n, method),
    };
    eprintln!(
        "training {method} controls for digit {digit}, N = {n}: {cfg:?}, {control:?} -> {}",
        path.display()
    );
    let mut started: Option<(usize, f64)> = None;
    let r = train_controls(digit, n, &cfg, control, None, &opts, |r| {
        let (d0, w0) = *started.get_or_insert((r.done - 1, r.wall_s));
        let per = (r.wall_s - w0) / (r.done - d0).max(1) as f64;
        let tail = &r.history[r.history.len().saturating_sub(10)..];
        eprintln!(
            "step {:>5}/{}  J {:.4} (mean of last {}: {:.4})  {:.1} s/step, about {:.0} s left",
            r.done,
            r.total,
            r.history.last().copied().unwrap_or(f64::NAN),
            tail.len(),
            tail.iter().sum::<f64>() / tail.len().max(1) as f64,
            per,
            per * (r.total - r.done) as f64
        );
    })?;
    if let Some(samples) = a.eval {
        let mut run = MnistRunConfig::quick(20251122);
        run.digits = vec![digit];
        run.n_agents = vec![n];
        run.n_samples = samples;
        run.sample_steps = 100;
        run.controls = ControlSource::Checkpoint(dir.clone());
        let (rows, _) = compose_mnist(&run, None)?;
        for r in rows
            .iter()
            .filter(|r| r.method == "base" || r.method == "cdps" || r.method == method)
        {
            println!(
                "  {:<16} acc objective {:.3} eval {:.3}, terminal {:.3}, seam {:.3}, FD {:.1}, energy {:.3}, J {:.3} ({samples} samples, 100 steps)",
                r.method, r.acc_objective, r.acc_eval, r.terminal_loss, r.seam, r.frechet, r.control_energy, r.j
            );
        }
    }
    println!(
        "{method} digit {digit} N {n}: {}/{} steps, {:.0} s of training{} -> {}",
        r.done,
        r.total,
        r.wall_s,
        if r.finished() {
            ""
        } else {
            " (unfinished: run the same command again to resume)"
        },
        path.display()
    );
    Ok(())
}
