//! CMAD training on MNIST: back-propagation through time over the training grid (reference: 24
//! Euler-Maruyama steps from `t = 1` to `1e-3`), Adam per agent with the gradient norm clipped per
//! agent, joint or fictitious; resumable from a controls file, with progress reported per step.
//!
//! Step `s` (0-based, over the whole run) draws its initial states and noise from a stream seeded by
//! `(seed, s)`, so a run resumed from a checkpoint continues exactly as an uninterrupted one.

use super::controls::{load_controls, save_controls, ControlConfig, ControlRecord, Controls};
use super::{MnistProblem, Steer};
use crate::adam::Adam;
use crate::cmad::{CmadConfig, CmadVariant};
use crate::error::{invalid, ComposeError, Result};
use crate::nn::{trainable_vars, FlatAdam, Pca};
use crate::vp::reverse_grid;
use crate::weights::{Convention, ObjectiveWeights};
use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;

/// Where and how often training writes its controls file, and whether it resumes from it.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// The controls file (written every `checkpoint_every` steps and at the end); `None`: in memory.
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: usize,
    /// Continue from `checkpoint` when it exists (its settings must match).
    pub resume: bool,
    /// Stop after this many steps in this call (the file then records an unfinished run).
    pub max_steps: Option<usize>,
    /// The command that rebuilds the file (named in errors).
    pub hint: String,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn same_cmad(a: &CmadConfig, b: &CmadConfig) -> bool {
    let exact = |c: &CmadConfig| (c.batch, c.iters, c.hidden, c.variant, c.seed);
    exact(a) == exact(b) && close(a.lr, b.lr) && close(a.clip, b.clip)
}

fn same_weights(a: &ObjectiveWeights, b: &ObjectiveWeights) -> bool {
    let conv = match (a.convention, b.convention) {
        (Convention::Ours, Convention::Ours) => true,
        (
            Convention::Reference {
                lambda_ref: la,
                w_ref: wa,
                dim: da,
                batch: ba,
            },
            Convention::Reference {
                lambda_ref: lb,
                w_ref: wb,
                dim: db,
                batch: bb,
            },
        ) => close(la, lb) && close(wa, wb) && (da, ba) == (db, bb),
        _ => false,
    };
    conv && close(a.lambda, b.lambda) && close(a.gamma, b.gamma) && close(a.w_cdps, b.w_cdps)
}

/// Which agent (`None`: all) takes optimiser step `s`.
fn active_agent(cfg: &CmadConfig, n: usize, s: usize) -> Option<usize> {
    match cfg.variant {
        CmadVariant::Joint => None,
        CmadVariant::Fictitious { inner } => Some((s / inner.max(1)) % n),
    }
}

impl MnistProblem<'_> {
    /// Train CMAD controls in memory (no file, no progress output); returns the controls and the
    /// batch-mean `J` of every optimiser step.
    pub fn train(
        &self,
        cfg: &CmadConfig,
        control: ControlConfig,
        pca: Option<&Pca>,
    ) -> Result<(Controls, Vec<f64>)> {
        let (c, r) = self.train_with(cfg, control, pca, &TrainOptions::default(), |_| {})?;
        Ok((c, r.history))
    }

    /// Train CMAD controls with checkpoints (see [`TrainOptions`]); `progress` gets the record after
    /// every optimiser step. Returns the controls and the record (finished or, with `max_steps`, not).
    pub fn train_with(
        &self,
        cfg: &CmadConfig,
        control: ControlConfig,
        pca: Option<&Pca>,
        opts: &TrainOptions,
        mut progress: impl FnMut(&ControlRecord),
    ) -> Result<(Controls, ControlRecord)> {
        cfg.validate()?;
        if self.train_steps == 0 {
            return Err(invalid("train_steps", 0, "must be >= 1"));
        }
        if control.hidden != cfg.hidden {
            return Err(invalid(
                "control hidden",
                control.hidden,
                "must equal the CMAD config's hidden width",
            ));
        }
        let n = self.n_agents();
        let total = cfg.total_steps(n);
        let resumed = match (&opts.checkpoint, opts.resume) {
            (Some(p), true) if p.exists() => Some(load_controls(p, &opts.hint)?),
            _ => None,
        };
        let (controls, states, mut record) = match resumed {
            Some((c, st, r)) => {
                // floats compared to 1e-12: the JSON record may round them by an ulp
                let same = same_cmad(&r.cmad, cfg)
                    && r.control == control
                    && r.digit == self.objective.digit
                    && r.n_agents == n
                    && same_weights(&r.weights, &self.weights)
                    && r.train_steps == self.train_steps;
                if !same {
                    return Err(ComposeError::Weights {
                        path: opts.checkpoint.clone().unwrap_or_default(),
                        detail: format!(
                            "checkpoint settings differ from the requested run: {}",
                            serde_json::to_string(&r).unwrap_or_default()
                        ),
                        hint: "delete the file to start afresh".into(),
                    });
                }
                let r = ControlRecord {
                    cmad: *cfg,
                    weights: self.weights,
                    ..r
                };
                (c, Some(st), r)
            }
            None => {
                let c = Controls::new(n, control, cfg.seed, pca)?;
                let r = ControlRecord {
                    digit: self.objective.digit,
                    n_agents: n,
                    weights: self.weights,
                    cmad: *cfg,
                    control,
                    train_steps: self.train_steps,
                    done: 0,
                    total,
                    history: Vec::with_capacity(total),
                    wall_s: 0.0,
                    adam_steps: vec![0; n],
                };
                (c, None, r)
            }
        };
        let mut opt: Vec<FlatAdam> = controls
            .vars
            .iter()
            .map(|v| FlatAdam::new(trainable_vars(v)?, cfg.lr))
            .collect::<Result<_>>()?;
        if let Some(st) = states {
            for (o, s) in opt.iter_mut().zip(st) {
                o.restore(s)?;
            }
        }
        let grid = reverse_grid(self.train_steps, super::T_END)?;
        let save = |record: &mut ControlRecord, opt: &[FlatAdam]| -> Result<()> {
            if let Some(p) = &opts.checkpoint {
                record.adam_steps = opt.iter().map(|o| o.state().steps()).collect();
                let states: Vec<Adam> = opt.iter().map(|o| o.state().clone()).collect();
                save_controls(p, &controls, &states, record)?;
            }
            Ok(())
        };
        let stop = opts
            .max_steps
            .map_or(total, |m| (record.done + m).min(total));
        let t0 = Instant::now();
        let wall0 = record.wall_s;
        while record.done < stop {
            let s = record.done;
            let active = active_agent(cfg, n, s);
            let mut rng = ChaCha8Rng::seed_from_u64(
                cfg.seed ^ 0x00c0_ffee ^ (s as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let mut xs = self.draw(&mut rng, cfg.batch)?;
            let mut path_cost = Tensor::zeros(cfg.batch, DType::F32, &Device::Cpu)?;
            for w in grid.windows(2) {
                let noise = self.draw(&mut rng, cfg.batch)?;
                let (next, r, e) = self.step(
                    &Steer::Cmad(&controls),
                    &xs,
                    w[0],
                    w[0] - w[1],
                    &noise,
                    true,
                    active,
                )?;
                xs = next;
                path_cost = path_cost.add(&r)?.add(&e)?;
            }
            let (phi, _, _) = self.objective.eval(&self.aggregate(&xs)?)?;
            let loss = path_cost.add(&phi)?.mean_all()?;
            let l = loss.to_scalar::<f32>()? as f64;
            if !l.is_finite() {
                return Err(ComposeError::NonFinite(format!("CMAD loss at step {s}")));
            }
            let grads = loss.backward()?;
            for (i, o) in opt.iter_mut().enumerate() {
                if active.is_none_or(|a| a == i) {
                    o.step(&grads, Some(cfg.clip))?; // clip per agent
                }
            }
            record.history.push(l);
            record.done += 1;
            record.wall_s = wall0 + t0.elapsed().as_secs_f64();
            progress(&record);
            if opts.checkpoint_every > 0
                && record.done % opts.checkpoint_every == 0
                && record.done < stop
            {
                save(&mut record, &opt)?;
            }
        }
        save(&mut record, &opt)?;
        Ok((controls, record))
    }
}
