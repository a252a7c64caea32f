//! Training of the score network (denoising score matching) and the classifiers (cross-entropy).

use super::*;
use crate::adam::{clip_factor, Adam};
use crate::error::{ComposeError, Result};
use crate::idx::PIXELS;
use crate::vp::VpSchedule;
use candle_core::{DType, Device, Tensor};
use candle_nn::Module;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Training settings shared by the three networks.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Peak AdamW learning rate (cosine decay to 5% of it).
    pub lr: f64,
    /// Seed of initialisation and batches.
    pub seed: u64,
    /// EMA decay of the saved weights (score network only; 0 disables).
    pub ema: f64,
    /// Wall-clock budget in seconds (0: none). When set, the step count is re-planned every 250 steps
    /// (from step 50) to what fits the budget at the measured mean speed, capped at `steps` (the
    /// learning-rate schedule follows the new count).
    pub time_budget_s: f64,
    /// Write a checkpoint (EMA weights when `ema > 0`) every this many steps (0: never).
    #[serde(default)]
    pub checkpoint_every: usize,
}

impl TrainConfig {
    /// Reference settings of `kind`.
    pub fn reference(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Score => Self {
                steps: 28_723,
                batch: 256,
                lr: 1e-3,
                seed: 11,
                ema: 0.9995,
                time_budget_s: 0.0,
                checkpoint_every: 0,
            },
            ModelKind::Objective => Self {
                steps: 1_500,
                batch: 128,
                lr: 1e-3,
                seed: 21,
                ema: 0.0,
                time_budget_s: 0.0,
                checkpoint_every: 0,
            },
            ModelKind::Eval => Self {
                steps: 1_500,
                batch: 128,
                lr: 1e-3,
                seed: 31,
                ema: 0.0,
                time_budget_s: 0.0,
                checkpoint_every: 0,
            },
        }
    }
}

fn lr_at(cfg: &TrainConfig, step: usize) -> f64 {
    let warm = 200.min(cfg.steps / 10 + 1);
    if step < warm {
        return cfg.lr * (step + 1) as f64 / warm as f64;
    }
    let p = (step - warm) as f64 / (cfg.steps - warm).max(1) as f64;
    cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

/// Adam(W) on candle variables with the arithmetic done on flat buffers by [`crate::adam::Adam`]
/// (candle's own AdamW runs a dozen single-threaded tensor ops per variable and dominated the step
/// time), with optional global gradient-norm clipping and an exponential moving average of the
/// parameters.
pub struct FlatAdam {
    vars: Vec<candle_core::Var>,
    params: Vec<Vec<f32>>,
    ema: Vec<Vec<f32>>,
    opt: Adam,
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl FlatAdam {
    /// Optimiser over `vars` (betas 0.9, 0.999, eps 1e-8).
    pub fn new(vars: Vec<candle_core::Var>, lr: f64) -> Result<Self> {
        let params = vars
            .iter()
            .map(|v| v.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let n = params.iter().map(Vec::len).sum();
        Ok(Self {
            vars,
            ema: params.clone(),
            params,
            opt: Adam::new(n, lr),
            lr,
            weight_decay: 0.0,
        })
    }

    /// The optimiser state (moments and step count), e.g. for a checkpoint.
    pub fn state(&self) -> &Adam {
        &self.opt
    }

    /// Continue from a saved state (which must hold as many parameters); the parameters are read
    /// again from the variables.
    pub fn restore(&mut self, state: Adam) -> Result<()> {
        if state.len() != self.opt.len() {
            return Err(crate::error::invalid(
                "optimiser state",
                state.len(),
                "must have one moment per parameter",
            ));
        }
        self.opt = state;
        self.params = self
            .vars
            .iter()
            .map(|v| v.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(())
    }

    /// Global Euclidean norm of the gradients of this optimiser's variables.
    pub fn grad_norm(&self, grads: &candle_core::backprop::GradStore) -> Result<f64> {
        let mut sq = 0.0f64;
        for v in &self.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                sq += g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        Ok(sq.sqrt())
    }

    /// One step from `grads`; gradients are first scaled so that their global norm is at most `clip`
    /// (when given). Returns the norm before clipping.
    pub fn step(
        &mut self,
        grads: &candle_core::backprop::GradStore,
        clip: Option<f64>,
    ) -> Result<f64> {
        let gs: Vec<Option<Vec<f32>>> = self
            .vars
            .iter()
            .map(|v| {
                grads
                    .get(v.as_tensor())
                    .map(|g| g.flatten_all()?.to_vec1::<f32>())
                    .transpose()
            })
            .collect::<candle_core::Result<_>>()?;
        let norm = gs
            .iter()
            .flatten()
            .flat_map(|g| g.iter())
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt();
        let scale = clip.map_or(1.0, |c| clip_factor(norm, c));
        self.opt.lr = self.lr;
        self.opt.weight_decay = self.weight_decay;
        self.opt.step_parts(
            self.params
                .iter_mut()
                .zip(&gs)
                .map(|(p, g)| (&mut p[..], g.as_deref())),
            scale,
        );
        for (k, g) in gs.iter().enumerate() {
            if g.is_some() {
                let shape = self.vars[k].as_tensor().shape().clone();
                self.vars[k].set(&Tensor::from_slice(&self.params[k], shape, &Device::Cpu)?)?;
            }
        }
        Ok(norm)
    }

    /// Update the moving average `e = d e + (1 - d) p` with `d = min(decay, (1 + t) / (10 + t))`.
    pub fn update_ema(&mut self, decay: f64) {
        let t = self.opt.steps() as f64;
        let d = decay.min((1.0 + t) / (10.0 + t)) as f32;
        for (e, p) in self.ema.iter_mut().zip(&self.params) {
            for (ei, pi) in e.iter_mut().zip(p) {
                *ei = d * *ei + (1.0 - d) * pi;
            }
        }
    }

    /// Write the current (non-averaged) parameters back into the variables.
    pub fn load_params(&self) -> Result<()> {
        for (v, p) in self.vars.iter().zip(&self.params) {
            v.set(&Tensor::from_slice(
                p,
                v.as_tensor().shape().clone(),
                &Device::Cpu,
            )?)?;
        }
        Ok(())
    }

    /// Write the moving average into the variables.
    pub fn load_ema(&self) -> Result<()> {
        for (v, e) in self.vars.iter().zip(&self.ema) {
            v.set(&Tensor::from_slice(
                e,
                v.as_tensor().shape().clone(),
                &Device::Cpu,
            )?)?;
        }
        Ok(())
    }
}

/// Stack rows `idx` of `images` (`n x 784`, `[-1, 1]`) into a `(B, 784)` tensor.
pub fn batch_tensor(images: &[f32], idx: &[usize]) -> Result<Tensor> {
    let mut v = Vec::with_capacity(idx.len() * PIXELS);
    for &i in idx {
        v.extend_from_slice(&images[i * PIXELS..(i + 1) * PIXELS]);
    }
    Ok(Tensor::from_vec(v, (idx.len(), PIXELS), &Device::Cpu)?)
}

/// Train a classifier with cross-entropy on `(images in [-1, 1], labels)`; `progress` gets
/// `(step, loss)` every 100 steps. Returns the final mean loss over the last 100 steps.
pub fn train_classifier<M: Module>(
    loaded: &Loaded<M>,
    images: &[f32],
    labels: &[u8],
    cfg: &TrainConfig,
    mut progress: impl FnMut(usize, f64),
) -> Result<f64> {
    let n = labels.len();
    let mut opt = FlatAdam::new(loaded.vars.all_vars(), cfg.lr)?;
    opt.weight_decay = 1e-4;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    let mut recent = Vec::new();
    for step in 0..cfg.steps {
        if pos + cfg.batch > n {
            order.shuffle(&mut rng);
            pos = 0;
        }
        let idx = &order[pos..pos + cfg.batch.min(n)];
        pos += cfg.batch;
        let x = batch_tensor(images, idx)?;
        let y = Tensor::from_vec(
            idx.iter().map(|&i| labels[i] as u32).collect::<Vec<_>>(),
            idx.len(),
            &Device::Cpu,
        )?;
        let loss = candle_nn::loss::cross_entropy(&loaded.model.forward(&x)?, &y)?;
        opt.lr = lr_at(cfg, step);
        opt.step(&loss.backward()?, None)?;
        let l = loss.to_scalar::<f32>()? as f64;
        if !l.is_finite() {
            return Err(ComposeError::NonFinite(format!(
                "classifier loss at step {step}"
            )));
        }
        recent.push(l);
        if recent.len() > 100 {
            recent.remove(0);
        }
        if step % 100 == 0 || step + 1 == cfg.steps {
            progress(step, recent.iter().sum::<f64>() / recent.len() as f64);
        }
    }
    Ok(recent.iter().sum::<f64>() / recent.len().max(1) as f64)
}

/// Train the score network by denoising score matching (noise prediction, gradient norm clipped at 1):
/// `t ~ U(t_min, 1)`, `x_t = alpha_t x_0 + sigma_t eps`, loss `mean |eps_theta(x_t, t) - eps|^2`.
/// For the PCA variant the loss is taken in the PCA coordinates (`z_0 = U^T (x_0 - m)`,
/// `z_t = alpha_t z_0 + sigma_t eps_k`, loss `mean |eps_z(z_t, t) - eps_k|^2`): the complement's
/// prediction is exact for data on the subspace and has no parameters.
/// With `cfg.ema > 0` the EMA of the parameters is written into the model at the end; with
/// `cfg.checkpoint_every > 0` and `checkpoint` given, the (EMA) weights are saved there periodically.
/// Returns the mean loss of the last 200 steps and the number of steps run.
pub fn train_score(
    loaded: &Loaded<ScoreNet>,
    images: &[f32],
    sched: &VpSchedule,
    cfg: &TrainConfig,
    checkpoint: Option<&Path>,
    mut progress: impl FnMut(usize, f64),
) -> Result<(f64, usize)> {
    let mut cfg = *cfg;
    let max_steps = cfg.steps;
    let start = std::time::Instant::now();
    let mut opt = FlatAdam::new(trainable_vars(&loaded.vars)?, cfg.lr)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let t_min = 1e-3f64;
    // training targets: PCA coordinates for the PCA variant, pixels otherwise
    let (data, dim) = match pca_of(&loaded.vars)? {
        Some(p) if loaded.model.cfg.latent > 0 => (p.project(images), p.k()),
        _ => (images.to_vec(), PIXELS),
    };
    let latent = dim != PIXELS;
    let n = data.len() / dim;
    let mut recent = Vec::new();
    let mut step = 0;
    let dev = Device::Cpu;
    while step < cfg.steps {
        if cfg.time_budget_s > 0.0 && step >= 50 && step % 250 == 0 {
            // re-plan the step count from the measured speed (the machine's load changes)
            let elapsed = start.elapsed().as_secs_f64();
            let left = ((cfg.time_budget_s - elapsed).max(0.0) * step as f64 / elapsed) as usize;
            cfg.steps = max_steps.min(step + left).max(step + 1);
        }
        let mut x0v = Vec::with_capacity(cfg.batch * dim);
        for _ in 0..cfg.batch {
            let i = rng.random_range(0..n);
            x0v.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        let x0 = Tensor::from_vec(x0v, (cfg.batch, dim), &dev)?;
        let ts: Vec<f64> = (0..cfg.batch)
            .map(|_| t_min + (1.0 - t_min) * rng.random::<f64>())
            .collect();
        let a: Vec<f32> = ts.iter().map(|&t| sched.alpha(t) as f32).collect();
        let s: Vec<f32> = ts.iter().map(|&t| sched.sigma2(t).sqrt() as f32).collect();
        let eps = randn(&mut rng, cfg.batch, dim)?;
        let at = Tensor::from_vec(a, (cfg.batch, 1), &dev)?;
        let st = Tensor::from_vec(s, (cfg.batch, 1), &dev)?;
        let xt = x0.broadcast_mul(&at)?.add(&eps.broadcast_mul(&st)?)?;
        let t = Tensor::from_vec(
            ts.iter().map(|&t| t as f32).collect::<Vec<_>>(),
            (cfg.batch, 1),
            &dev,
        )?;
        let pred = if latent {
            loaded.model.eps_latent(&xt, &t)?
        } else {
            loaded.model.eps(&xt, &t)?
        };
        let loss = pred.sub(&eps)?.sqr()?.mean_all()?;
        opt.lr = lr_at(&cfg, step);
        opt.step(&loss.backward()?, Some(1.0))?;
        if cfg.ema > 0.0 {
            opt.update_ema(cfg.ema);
        }
        let l = loss.to_scalar::<f32>()? as f64;
        if !l.is_finite() {
            return Err(ComposeError::NonFinite(format!(
                "score loss at step {step}"
            )));
        }
        recent.push(l);
        if recent.len() > 200 {
            recent.remove(0);
        }
        if step % 200 == 0 || step + 1 == cfg.steps {
            progress(step, recent.iter().sum::<f64>() / recent.len() as f64);
        }
        step += 1;
        if let Some(path) = checkpoint {
            if cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step < cfg.steps {
                if cfg.ema > 0.0 {
                    opt.load_ema()?;
                }
                save(loaded, path)?;
                opt.load_params()?;
            }
        }
    }
    if cfg.ema > 0.0 {
        opt.load_ema()?;
    }
    Ok((
        recent.iter().sum::<f64>() / recent.len().max(1) as f64,
        cfg.steps,
    ))
}
