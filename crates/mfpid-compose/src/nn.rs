//! Neural networks of the MNIST pipeline (candle, `f32` on the CPU): the VP score network, the
//! objective classifier (MLP 784-256-256-10), the independent evaluation classifier (small CNN), their
//! training loops, and safetensors checkpoints with errors that name the file and the command that
//! regenerates it.
//!
//! Networks work in `f32` (the speed of the CPU matrix kernels doubles); every number this crate
//! reports is accumulated in `f64`.

use crate::error::{ComposeError, Result};
use crate::idx::PIXELS;
use crate::vp::VpSchedule;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Module, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Sinusoidal features `[sin(t w_k), cos(t w_k)]`, `w_k` geometric from 1 to 1000; `t` is `(B, 1)`.
pub fn time_features(t: &Tensor, n_freq: usize) -> candle_core::Result<Tensor> {
    let freqs: Vec<f32> = (0..n_freq)
        .map(|k| (1000f32.ln() * k as f32 / (n_freq.max(2) - 1) as f32).exp())
        .collect();
    let w = Tensor::from_vec(freqs, (1, n_freq), t.device())?;
    let arg = t.broadcast_mul(&w)?;
    Tensor::cat(&[arg.sin()?, arg.cos()?], 1)
}

/// Shape of the score network.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreNetConfig {
    /// Hidden width.
    pub hidden: usize,
    /// Residual blocks.
    pub blocks: usize,
    /// Frequencies of the time features (`2 n_freq` features).
    pub n_freq: usize,
}

impl Default for ScoreNetConfig {
    fn default() -> Self {
        Self {
            hidden: 512,
            blocks: 3,
            n_freq: 32,
        }
    }
}

/// Width of the time embedding.
const T_EMB: usize = 128;

struct ResBlock {
    l1: Linear,
    l2: Linear,
    tb: Linear,
}

/// Noise-prediction network `eps_theta(x_t, t)` on flattened 28 x 28 images in `[-1, 1]`: time
/// embedding MLP (width 128), input projection, residual SiLU blocks with a time bias, output projection,
/// plus the parameter-free skip `sigma_t x_t` (the posterior-mean noise for standard-normal data).
/// The score is `s_theta(x, t) = -eps_theta(x, t) / sigma_t`.
pub struct ScoreNet {
    /// Shape.
    pub cfg: ScoreNetConfig,
    t1: Linear,
    t2: Linear,
    tin: Linear,
    inp: Linear,
    blocks: Vec<ResBlock>,
    out: Linear,
}

impl ScoreNet {
    /// Build (parameters registered in `vb`).
    pub fn new(vb: VarBuilder, cfg: ScoreNetConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden;
        let blocks = (0..cfg.blocks)
            .map(|b| {
                let v = vb.pp(format!("block{b}"));
                Ok(ResBlock {
                    l1: candle_nn::linear(h, h, v.pp("l1"))?,
                    l2: candle_nn::linear(h, h, v.pp("l2"))?,
                    tb: candle_nn::linear(T_EMB, h, v.pp("tb"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            cfg,
            t1: candle_nn::linear(2 * cfg.n_freq, T_EMB, vb.pp("t1"))?,
            t2: candle_nn::linear(T_EMB, T_EMB, vb.pp("t2"))?,
            tin: candle_nn::linear(T_EMB, h, vb.pp("tin"))?,
            inp: candle_nn::linear(PIXELS, h, vb.pp("inp"))?,
            blocks,
            out: candle_nn::linear(h, PIXELS, vb.pp("out"))?,
        })
    }

    /// `eps_theta(x, t)` for `x` `(B, 784)` and `t` `(B, 1)`.
    pub fn eps(&self, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        let temb = self
            .t2
            .forward(
                &self
                    .t1
                    .forward(&time_features(t, self.cfg.n_freq)?)?
                    .silu()?,
            )?
            .silu()?;
        let mut h = self.inp.forward(x)?.add(&self.tin.forward(&temb)?)?;
        for b in &self.blocks {
            let z = b.l1.forward(&h.silu()?)?.add(&b.tb.forward(&temb)?)?;
            h = h.add(&b.l2.forward(&z.silu()?)?)?;
        }
        // skip term sigma_t x_t = E[eps | x_t] for standard-normal data: the network learns the rest
        // (without it, the 784 -> hidden -> 784 bottleneck cannot pass x_t through at high noise)
        let s = self.sigma(t)?;
        self.out.forward(&h.silu()?)?.add(&x.broadcast_mul(&s)?)
    }

    /// Noise prediction with the denoised estimate clipped to the data range (DDPM's
    /// `clip_denoised`): `xhat0 = clamp((x - sigma eps) / alpha, -1, 1)`, returned as the equivalent
    /// `eps = (x - alpha xhat0) / sigma`. Every sampler of this crate uses it: it keeps the reverse
    /// dynamics contracting toward the data range where the network extrapolates badly.
    pub fn eps_clipped(&self, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        let eps = self.eps(x, t)?;
        let sigma = self.sigma(t)?;
        let alpha = sigma.sqr()?.affine(-1.0, 1.0)?.sqrt()?;
        let x0 = x
            .sub(&eps.broadcast_mul(&sigma)?)?
            .broadcast_div(&alpha)?
            .clamp(-1f32, 1f32)?;
        x.sub(&x0.broadcast_mul(&alpha)?)?.broadcast_div(&sigma)
    }

    /// `sigma_t = sqrt(1 - exp(-(19.9/2) t^2 - 0.1 t))` of the reference schedule, `t` `(B, 1)`.
    fn sigma(&self, t: &Tensor) -> candle_core::Result<Tensor> {
        let s = VpSchedule::default();
        let e = t
            .sqr()?
            .affine(-(s.beta_max - s.beta_min) / 2.0, 0.0)?
            .sub(&t.affine(s.beta_min, 0.0)?)?
            .exp()?;
        e.affine(-1.0, 1.0)?.sqrt()
    }
}

/// The objective classifier: MLP 784-256-256-10 with ReLU, on images in `[-1, 1]`.
pub struct MlpClassifier {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl MlpClassifier {
    /// Build (parameters registered in `vb`).
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            l1: candle_nn::linear(PIXELS, 256, vb.pp("l1"))?,
            l2: candle_nn::linear(256, 256, vb.pp("l2"))?,
            l3: candle_nn::linear(256, 10, vb.pp("l3"))?,
        })
    }
}

impl Module for MlpClassifier {
    /// Logits `(B, 10)` of `x` `(B, 784)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l3
            .forward(&self.l2.forward(&self.l1.forward(x)?.relu()?)?.relu()?)
    }
}

/// The evaluation classifier: conv(1->16, 3x3) - ReLU - maxpool 2 - conv(16->32, 3x3) - ReLU -
/// maxpool 2 - linear(1568->128) - ReLU (the 128 features used for the Fréchet distance) - linear(128->10).
pub struct CnnClassifier {
    c1: Conv2d,
    c2: Conv2d,
    f1: Linear,
    f2: Linear,
}

impl CnnClassifier {
    /// Build (parameters registered in `vb`).
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Self {
            c1: candle_nn::conv2d(1, 16, 3, cfg, vb.pp("c1"))?,
            c2: candle_nn::conv2d(16, 32, 3, cfg, vb.pp("c2"))?,
            f1: candle_nn::linear(32 * 7 * 7, 128, vb.pp("f1"))?,
            f2: candle_nn::linear(128, 10, vb.pp("f2"))?,
        })
    }

    /// Penultimate features `(B, 128)` of `x` `(B, 784)`.
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        let h = x.reshape((b, 1, 28, 28))?;
        let h = self.c1.forward(&h)?.relu()?.max_pool2d(2)?;
        let h = self.c2.forward(&h)?.relu()?.max_pool2d(2)?;
        self.f1.forward(&h.flatten_from(1)?)?.relu()
    }
}

impl Module for CnnClassifier {
    /// Logits `(B, 10)` of `x` `(B, 784)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.f2.forward(&self.features(x)?)
    }
}

/// Which shipped network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// [`ScoreNet`] with the default shape.
    Score,
    /// [`MlpClassifier`] (the objective classifier).
    Objective,
    /// [`CnnClassifier`] (the evaluation classifier).
    Eval,
}

impl ModelKind {
    /// Name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Score => "score",
            ModelKind::Objective => "objective",
            ModelKind::Eval => "eval",
        }
    }

    /// Shipped file name.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::Score => "score_mlp.safetensors",
            ModelKind::Objective => "objective_mlp.safetensors",
            ModelKind::Eval => "eval_cnn.safetensors",
        }
    }

    /// Command that regenerates the shipped file.
    pub fn train_command(self) -> String {
        format!(
            "cargo run --release -p mfpid-compose --example train -- {}",
            self.name()
        )
    }

    /// Default path in the repository (`crates/mfpid-compose/weights/`).
    pub fn default_path(self) -> PathBuf {
        weights_dir().join(self.file_name())
    }
}

/// Directory of the shipped weights.
pub fn weights_dir() -> PathBuf {
    crate::workspace_root()
        .join("crates")
        .join("mfpid-compose")
        .join("weights")
}

/// A network together with the variables that hold its parameters.
pub struct Loaded<M> {
    /// The network.
    pub model: M,
    /// Its parameters.
    pub vars: VarMap,
}

impl<M> std::fmt::Debug for Loaded<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loaded {{ {} variables }}", self.vars.all_vars().len())
    }
}

fn build<M>(
    kind: ModelKind,
    seed: u64,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<Loaded<M>> {
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    let _ = kind;
    let model = f(vb)?;
    reseed(&vars, seed)?;
    Ok(Loaded { model, vars })
}

/// Re-initialise every parameter from a seeded stream (candle's CPU generator cannot be seeded):
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for `<layer>.weight` and `<layer>.bias`, with `fan_in` the
/// weight's input size (the PyTorch default for linear and convolution layers).
pub fn reseed(vars: &VarMap, seed: u64) -> Result<()> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for name in names {
        let layer = name.rsplit_once('.').map(|(l, _)| l).unwrap_or(name);
        let fan_in = data
            .get(&format!("{layer}.weight"))
            .map(|w| w.as_tensor().dims().iter().skip(1).product::<usize>())
            .unwrap_or(1)
            .max(1);
        let bound = 1.0 / (fan_in as f32).sqrt();
        let var = &data[name];
        let shape = var.as_tensor().shape().clone();
        let vals: Vec<f32> = (0..shape.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(vals, shape, &Device::Cpu)?)?;
    }
    Ok(())
}

/// A `(rows, cols)` tensor of independent standard normals from `rng`.
pub fn randn<R: Rng>(rng: &mut R, rows: usize, cols: usize) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

/// Freshly initialised network of `kind` (seeded).
pub fn fresh_score(seed: u64) -> Result<Loaded<ScoreNet>> {
    build(ModelKind::Score, seed, |vb| {
        ScoreNet::new(vb, ScoreNetConfig::default())
    })
}

/// Freshly initialised objective classifier (seeded).
pub fn fresh_objective(seed: u64) -> Result<Loaded<MlpClassifier>> {
    build(ModelKind::Objective, seed, MlpClassifier::new)
}

/// Freshly initialised evaluation classifier (seeded).
pub fn fresh_eval(seed: u64) -> Result<Loaded<CnnClassifier>> {
    build(ModelKind::Eval, seed, CnnClassifier::new)
}

/// Load `path` into `loaded`'s variables; a missing file is an [`ComposeError::Io`], an unreadable,
/// truncated or incompatible one a [`ComposeError::Weights`], both naming the file and
/// `kind`'s training command.
pub fn load_into<M>(loaded: &mut Loaded<M>, kind: ModelKind, path: &Path) -> Result<()> {
    let hint = kind.train_command();
    if let Err(source) = std::fs::metadata(path) {
        return Err(ComposeError::Io {
            path: path.to_path_buf(),
            source,
            hint,
        });
    }
    loaded.vars.load(path).map_err(|e| ComposeError::Weights {
        path: path.to_path_buf(),
        detail: e.to_string(),
        hint: hint.clone(),
    })?;
    // reject files with non-finite parameters (e.g. a diverged training run)
    for v in loaded.vars.all_vars() {
        let s = v
            .as_tensor()
            .abs()
            .map_err(ComposeError::from)?
            .sum_all()?
            .to_scalar::<f32>()?;
        if !s.is_finite() {
            return Err(ComposeError::Weights {
                path: path.to_path_buf(),
                detail: "non-finite parameters".into(),
                hint,
            });
        }
    }
    Ok(())
}

/// The shipped score network (or the one at `path`).
pub fn load_score(path: Option<&Path>) -> Result<Loaded<ScoreNet>> {
    let mut l = fresh_score(0)?;
    load_into(
        &mut l,
        ModelKind::Score,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Score.default_path()),
    )?;
    Ok(l)
}

/// The shipped objective classifier (or the one at `path`).
pub fn load_objective(path: Option<&Path>) -> Result<Loaded<MlpClassifier>> {
    let mut l = fresh_objective(0)?;
    load_into(
        &mut l,
        ModelKind::Objective,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Objective.default_path()),
    )?;
    Ok(l)
}

/// The shipped evaluation classifier (or the one at `path`).
pub fn load_eval(path: Option<&Path>) -> Result<Loaded<CnnClassifier>> {
    let mut l = fresh_eval(0)?;
    load_into(
        &mut l,
        ModelKind::Eval,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Eval.default_path()),
    )?;
    Ok(l)
}

/// Save to `path` atomically (temporary file, then rename).
pub fn save<M>(loaded: &Loaded<M>, path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ComposeError::Io {
            path: dir.to_path_buf(),
            source,
            hint: String::new(),
        })?;
    }
    loaded.vars.save(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
        hint: String::new(),
    })
}

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
    /// Wall-clock budget in seconds (0: none). When set, the step count is cut after 50 steps to
    /// what fits the budget at the measured speed (the learning-rate schedule follows the new count).
    pub time_budget_s: f64,
}

impl TrainConfig {
    /// Reference settings of `kind`.
    pub fn reference(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Score => Self {
                steps: 30_000,
                batch: 128,
                lr: 1e-3,
                seed: 11,
                ema: 0.999,
                time_budget_s: 0.0,
            },
            ModelKind::Objective => Self {
                steps: 1_500,
                batch: 128,
                lr: 1e-3,
                seed: 21,
                ema: 0.0,
                time_budget_s: 0.0,
            },
            ModelKind::Eval => Self {
                steps: 1_500,
                batch: 128,
                lr: 1e-3,
                seed: 31,
                ema: 0.0,
                time_budget_s: 0.0,
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

/// Adam(W) on candle variables with the arithmetic done on flat `f32` buffers (candle's own AdamW
/// runs a dozen single-threaded tensor ops per variable and dominated the step time), with optional
/// global gradient-norm clipping and an exponential moving average of the parameters.
pub struct FlatAdam {
    vars: Vec<candle_core::Var>,
    params: Vec<Vec<f32>>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    ema: Vec<Vec<f32>>,
    t: i32,
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
        let zeros: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        Ok(Self {
            vars,
            ema: params.clone(),
            params,
            m: zeros.clone(),
            v: zeros,
            t: 0,
            lr,
            weight_decay: 0.0,
        })
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
        let scale = match clip {
            Some(c) if norm > c => (c / norm) as f32,
            _ => 1.0,
        };
        self.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        let (lr, wd) = (self.lr as f32, self.weight_decay as f32);
        for (k, g) in gs.iter().enumerate() {
            let Some(g) = g else { continue };
            let (p, m, v) = (&mut self.params[k], &mut self.m[k], &mut self.v[k]);
            for i in 0..p.len() {
                let gi = g[i] * scale;
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                p[i] -= lr * ((m[i] / c1) / ((v[i] / c2).sqrt() + eps) + wd * p[i]);
            }
            let shape = self.vars[k].as_tensor().shape().clone();
            self.vars[k].set(&Tensor::from_slice(p, shape, &Device::Cpu)?)?;
        }
        Ok(norm)
    }

    /// Update the moving average `e = d e + (1 - d) p` with `d = min(decay, (1 + t) / (10 + t))`.
    pub fn update_ema(&mut self, decay: f64) {
        let d = decay.min((1.0 + self.t as f64) / (10.0 + self.t as f64)) as f32;
        for (e, p) in self.ema.iter_mut().zip(&self.params) {
            for (ei, pi) in e.iter_mut().zip(p) {
                *ei = d * *ei + (1.0 - d) * pi;
            }
        }
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

/// Predicted classes and max softmax probabilities of `images` (`n x 784`), in batches of 500.
pub fn classify<M: Module>(model: &M, images: &[f32]) -> Result<(Vec<u8>, Vec<f64>)> {
    let n = images.len() / PIXELS;
    let (mut pred, mut conf) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        let x = Tensor::from_slice(
            &images[start * PIXELS..end * PIXELS],
            (end - start, PIXELS),
            &Device::Cpu,
        )?;
        let p = candle_nn::ops::softmax(&model.forward(&x)?, D::Minus1)?;
        for row in p.to_vec2::<f32>()? {
            let (k, v) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |a, (k, &v)| if v > a.1 { (k, v) } else { a });
            pred.push(k as u8);
            conf.push(v as f64);
        }
    }
    Ok((pred, conf))
}

/// Fraction of `images` whose predicted class equals `labels`.
pub fn accuracy<M: Module>(model: &M, images: &[f32], labels: &[u8]) -> Result<f64> {
    let (pred, _) = classify(model, images)?;
    Ok(pred.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64)
}

/// Train the score network by denoising score matching (noise prediction):
/// `t ~ U(t_min, 1)`, `x_t = alpha_t x_0 + sigma_t eps`, loss `mean |eps_theta(x_t, t) - eps|^2`.
/// With `cfg.ema > 0` the EMA of the parameters is written into the model at the end.
/// Returns the mean loss of the last 200 steps and the number of steps run.
pub fn train_score(
    loaded: &Loaded<ScoreNet>,
    images: &[f32],
    sched: &VpSchedule,
    cfg: &TrainConfig,
    mut progress: impl FnMut(usize, f64),
) -> Result<(f64, usize)> {
    let n = images.len() / PIXELS;
    let mut cfg = *cfg;
    let start = std::time::Instant::now();
    let mut opt = FlatAdam::new(loaded.vars.all_vars(), cfg.lr)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let t_min = 1e-3f64;
    let mut recent = Vec::new();
    let mut step = 0;
    while step < cfg.steps {
        if step == 50 && cfg.time_budget_s > 0.0 {
            let per_step = start.elapsed().as_secs_f64() / 50.0;
            cfg.steps = cfg
                .steps
                .min((cfg.time_budget_s / per_step) as usize)
                .max(51);
        }
        let idx: Vec<usize> = (0..cfg.batch).map(|_| rng.random_range(0..n)).collect();
        let x0 = batch_tensor(images, &idx)?;
        let ts: Vec<f64> = (0..cfg.batch)
            .map(|_| t_min + (1.0 - t_min) * rng.random::<f64>())
            .collect();
        let a: Vec<f32> = ts.iter().map(|&t| sched.alpha(t) as f32).collect();
        let s: Vec<f32> = ts.iter().map(|&t| sched.sigma2(t).sqrt() as f32).collect();
        let dev = Device::Cpu;
        let eps = randn(&mut rng, cfg.batch, PIXELS)?;
        let at = Tensor::from_vec(a, (cfg.batch, 1), &dev)?;
        let st = Tensor::from_vec(s, (cfg.batch, 1), &dev)?;
        let xt = x0.broadcast_mul(&at)?.add(&eps.broadcast_mul(&st)?)?;
        let t = Tensor::from_vec(
            ts.iter().map(|&t| t as f32).collect::<Vec<_>>(),
            (cfg.batch, 1),
            &dev,
        )?;
        let loss = loaded.model.eps(&xt, &t)?.sub(&eps)?.sqr()?.mean_all()?;
        opt.lr = lr_at(&cfg, step);
        opt.step(&loss.backward()?, None)?;
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
    }
    if cfg.ema > 0.0 {
        opt.load_ema()?;
    }
    Ok((
        recent.iter().sum::<f64>() / recent.len().max(1) as f64,
        cfg.steps,
    ))
}

/// Unconditional samples of the score network: reverse-time Euler-Maruyama from `t = 1` to
/// `t_end = 1e-3` in `steps` uniform steps, `n` images `(n x 784)` in the data space.
pub fn sample_unconditional(
    net: &ScoreNet,
    sched: &VpSchedule,
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let grid = crate::vp::reverse_grid(steps, 1e-3)?;
    let mut x = randn(&mut rng, n, PIXELS)?;
    for w in grid.windows(2) {
        let (t, dt) = (w[0], w[0] - w[1]);
        let (beta, sigma) = (sched.beta(t), sched.sigma2(t).sqrt());
        let tt = Tensor::full(t as f32, (n, 1), &dev)?;
        let score = net.eps_clipped(&x, &tt)?.affine(-1.0 / sigma, 0.0)?;
        // x += dt (beta x / 2 + beta s) + sqrt(beta dt) z
        let z = randn(&mut rng, n, PIXELS)?;
        x = x
            .affine(1.0 + 0.5 * beta * dt, 0.0)?
            .add(&score.affine(beta * dt, 0.0)?)?
            .add(&z.affine((beta * dt).sqrt(), 0.0)?)?;
    }
    Ok(x.flatten_all()?.to_vec1::<f32>()?)
}
