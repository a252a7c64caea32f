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
    /// Dimension `k` of the PCA subspace the network works in (0: the network sees all 784 pixels).
    /// With `k > 0` the data are modelled on the affine subspace `m + span(U)` of their top-`k`
    /// principal directions; the orthogonal complement's noise prediction is exact (see [`ScoreNet`]).
    #[serde(default)]
    pub latent: usize,
}

impl Default for ScoreNetConfig {
    /// The shipped network: PCA subspace of dimension 96, width 512, 3 residual blocks.
    fn default() -> Self {
        Self {
            hidden: 512,
            blocks: 3,
            n_freq: 32,
            latent: 96,
        }
    }
}

impl ScoreNetConfig {
    /// The pixel-space network of the first shipped model (784 inputs, no PCA subspace).
    pub fn pixel() -> Self {
        Self {
            hidden: 512,
            blocks: 3,
            n_freq: 32,
            latent: 0,
        }
    }
}

/// Principal subspace of the training images: mean `m` (784), orthonormal basis `U` (784 x k,
/// row-major, columns sorted by decreasing variance) and the variances `v` (k) of the coordinates
/// `z = U^T (x - m)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Mean image `m`, length 784.
    pub mean: Vec<f32>,
    /// Basis `U`, `784 x k` row-major.
    pub basis: Vec<f32>,
    /// Variance of each coordinate, length `k`.
    pub var: Vec<f32>,
}

impl Pca {
    /// Top-`k` principal subspace of `images` (`n x 784`), by subspace iteration on the `f64`
    /// covariance (block of `min(2k, 784)` vectors, 60 iterations, Rayleigh-Ritz at the end).
    pub fn fit(images: &[f32], k: usize) -> Result<Self> {
        let n = images.len() / PIXELS;
        if k == 0 || k > PIXELS || n < 2 || !images.len().is_multiple_of(PIXELS) {
            return Err(crate::error::invalid(
                "pca",
                format!("k = {k}, {} values", images.len()),
                "need 1 <= k <= 784 and >= 2 whole images",
            ));
        }
        let mut mean = vec![0.0f64; PIXELS];
        for r in images.chunks(PIXELS) {
            mean.iter_mut()
                .zip(r)
                .for_each(|(m, &v)| *m += v as f64 / n as f64);
        }
        // covariance C = X_c^T X_c / n, accumulated in f64
        let mut cov = vec![0.0f64; PIXELS * PIXELS];
        let mut xc = vec![0.0f64; PIXELS];
        for r in images.chunks(PIXELS) {
            xc.iter_mut()
                .zip(r.iter().zip(&mean))
                .for_each(|(c, (&v, m))| *c = v as f64 - m);
            for i in 0..PIXELS {
                let xi = xc[i];
                if xi == 0.0 {
                    continue;
                }
                let row = &mut cov[i * PIXELS..(i + 1) * PIXELS];
                row.iter_mut().zip(&xc).for_each(|(c, &xj)| *c += xi * xj);
            }
        }
        cov.iter_mut().for_each(|c| *c /= n as f64);
        let q = (2 * k).min(PIXELS);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // v: q columns of length 784, stored column-major (column j at v[j * 784..])
        let mut v: Vec<f64> = (0..q * PIXELS)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        let mut w = vec![0.0f64; q * PIXELS];
        orthonormalise(&mut v, q);
        for _ in 0..60 {
            for j in 0..q {
                let col = &v[j * PIXELS..(j + 1) * PIXELS];
                for i in 0..PIXELS {
                    let row = &cov[i * PIXELS..(i + 1) * PIXELS];
                    w[j * PIXELS + i] = row.iter().zip(col).map(|(a, b)| a * b).sum();
                }
            }
            std::mem::swap(&mut v, &mut w);
            orthonormalise(&mut v, q);
        }
        // Rayleigh-Ritz: H = V^T C V, eigenvectors rotate V
        let mut cv = vec![0.0f64; q * PIXELS];
        for j in 0..q {
            for i in 0..PIXELS {
                let row = &cov[i * PIXELS..(i + 1) * PIXELS];
                cv[j * PIXELS + i] = row
                    .iter()
                    .zip(&v[j * PIXELS..(j + 1) * PIXELS])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let mut h = vec![0.0f64; q * q];
        for a in 0..q {
            for b in 0..q {
                h[a * q + b] = v[a * PIXELS..(a + 1) * PIXELS]
                    .iter()
                    .zip(&cv[b * PIXELS..(b + 1) * PIXELS])
                    .map(|(x, y)| x * y)
                    .sum();
            }
        }
        let (eig, vecs) = crate::compose::sym_eigen(&h, q);
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by(|&a, &b| eig[b].total_cmp(&eig[a]));
        let mut basis = vec![0.0f32; PIXELS * k];
        for (c, &e) in order.iter().take(k).enumerate() {
            for i in 0..PIXELS {
                let val: f64 = (0..q).map(|a| v[a * PIXELS + i] * vecs[a * q + e]).sum();
                basis[i * k + c] = val as f32;
            }
        }
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            basis,
            var: order
                .iter()
                .take(k)
                .map(|&e| eig[e].max(0.0) as f32)
                .collect(),
        })
    }

    /// Dimension `k`.
    pub fn k(&self) -> usize {
        self.var.len()
    }

    /// Coordinates `z = U^T (x - m)` of `images` (`n x 784`), `n x k` row-major.
    pub fn project(&self, images: &[f32]) -> Vec<f32> {
        let k = self.k();
        let mut out = vec![0.0f32; images.len() / PIXELS * k];
        for (r, z) in images.chunks(PIXELS).zip(out.chunks_mut(k)) {
            for i in 0..PIXELS {
                let d = r[i] - self.mean[i];
                if d == 0.0 {
                    continue;
                }
                let row = &self.basis[i * k..(i + 1) * k];
                z.iter_mut().zip(row).for_each(|(zc, u)| *zc += d * u);
            }
        }
        out
    }

    /// Images `m + U z` of coordinates `z` (`n x k`), `n x 784`.
    pub fn reconstruct(&self, z: &[f32]) -> Vec<f32> {
        let k = self.k();
        let mut out = Vec::with_capacity(z.len() / k * PIXELS);
        for zr in z.chunks(k) {
            for i in 0..PIXELS {
                let row = &self.basis[i * k..(i + 1) * k];
                out.push(self.mean[i] + row.iter().zip(zr).map(|(u, v)| u * v).sum::<f32>());
            }
        }
        out
    }
}

/// Modified Gram-Schmidt (twice) on `q` column-major columns of length 784.
fn orthonormalise(v: &mut [f64], q: usize) {
    for _ in 0..2 {
        for j in 0..q {
            for p in 0..j {
                let (head, tail) = v.split_at_mut(j * PIXELS);
                let (vp, vj) = (&head[p * PIXELS..(p + 1) * PIXELS], &mut tail[..PIXELS]);
                let d: f64 = vp.iter().zip(vj.iter()).map(|(a, b)| a * b).sum();
                vj.iter_mut().zip(vp).for_each(|(b, a)| *b -= d * a);
            }
            let col = &mut v[j * PIXELS..(j + 1) * PIXELS];
            let norm = col.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            col.iter_mut().for_each(|a| *a /= norm);
        }
    }
}

/// `h / sqrt(mean_j h_j^2 + 1e-5)` per row (no gain): the pre-activation normalisation of the PCA
/// variant's residual stream (without it the stream drifted negative and every SiLU died).
fn rms_norm(h: &Tensor) -> candle_core::Result<Tensor> {
    h.broadcast_div(
        &h.sqr()?
            .mean_keepdim(D::Minus1)?
            .affine(1.0, 1e-5)?
            .sqrt()?,
    )
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
/// plus a parameter-free skip. The score is `s_theta(x, t) = -eps_theta(x, t) / sigma_t`.
///
/// Pixel variant (`cfg.latent == 0`): the network sees `x_t` and the skip is `sigma_t x_t` (the
/// posterior-mean noise for standard-normal data).
///
/// PCA variant (`cfg.latent = k > 0`): the data are modelled on the affine subspace `m + span(U)` of
/// their top-`k` principal directions (buffers `pca.mean`, `pca.basis`, `pca.var`, not trained). With
/// `r = x_t - alpha_t m` and `z = U^T r`, the exact noise prediction splits into
/// `eps = (r - U z) / sigma_t + U eps_z(z, t)`: the complement part is exact for data on the subspace,
/// and the network predicts `eps_z` from the preconditioned `z / sqrt(alpha_t^2 v + sigma_t^2)` with the
/// Gaussian posterior-mean skip `sigma_t z / (alpha_t^2 v + sigma_t^2)` (`v` the PCA variances).
pub struct ScoreNet {
    /// Shape.
    pub cfg: ScoreNetConfig,
    t1: Linear,
    t2: Linear,
    tin: Linear,
    inp: Linear,
    blocks: Vec<ResBlock>,
    out: Linear,
    /// `(basis (784, k), mean (1, 784), var (1, k))` of the PCA variant.
    pca: Option<(Tensor, Tensor, Tensor)>,
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
        let k = cfg.latent;
        let io = if k > 0 { k } else { PIXELS };
        let pca = if k > 0 {
            let v = vb.pp("pca");
            Some((
                v.get_with_hints((PIXELS, k), "basis", candle_nn::Init::Const(0.0))?,
                v.get_with_hints((1, PIXELS), "mean", candle_nn::Init::Const(0.0))?,
                v.get_with_hints((1, k), "var", candle_nn::Init::Const(1.0))?,
            ))
        } else {
            None
        };
        Ok(Self {
            cfg,
            t1: candle_nn::linear(2 * cfg.n_freq, T_EMB, vb.pp("t1"))?,
            t2: candle_nn::linear(T_EMB, T_EMB, vb.pp("t2"))?,
            tin: candle_nn::linear(T_EMB, h, vb.pp("tin"))?,
            inp: candle_nn::linear(io, h, vb.pp("inp"))?,
            blocks,
            out: candle_nn::linear(h, io, vb.pp("out"))?,
            pca,
        })
    }

    /// `eps_theta(x, t)` for `x` `(B, 784)` and `t` `(B, 1)`.
    pub fn eps(&self, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        let Some((basis, mean, _)) = &self.pca else {
            return self.eps_pixel(x, t);
        };
        let sigma = self.sigma(t)?;
        let alpha = sigma.sqr()?.affine(-1.0, 1.0)?.sqrt()?;
        let r = x.sub(&alpha.broadcast_mul(mean)?)?; // r = x - alpha m
        let z = r.matmul(basis)?; // z = U^T r
        let ez = self.eps_latent(&z, t)?;
        // eps = (r - U z) / sigma + U eps_z = (r + U (sigma eps_z - z)) / sigma
        let corr = ez.broadcast_mul(&sigma)?.sub(&z)?;
        r.add(&corr.matmul(&basis.t()?)?)?.broadcast_div(&sigma)
    }

    /// Noise prediction `eps_z(z, t)` `(B, k)` in the PCA coordinates `z = U^T (x_t - alpha_t m)`
    /// (`(B, k)`) of the PCA variant; an error for the pixel variant.
    pub fn eps_latent(&self, z: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        let Some((_, _, var)) = &self.pca else {
            return Err(candle_core::Error::Msg(
                "eps_latent needs the PCA variant".into(),
            ));
        };
        let temb = self.time_embedding(t)?;
        let s2 = self.sigma(t)?.sqr()?;
        let a2 = s2.affine(-1.0, 1.0)?;
        // denom = alpha^2 v + sigma^2: the variance of z_t for Gaussian data of variance v
        let denom = var.broadcast_mul(&a2)?.broadcast_add(&s2)?;
        let zin = z.div(&denom.sqrt()?)?;
        let skip = z.broadcast_mul(&s2.sqrt()?)?.div(&denom)?;
        let mut h = self.inp.forward(&zin)?.add(&self.tin.forward(&temb)?)?;
        for b in &self.blocks {
            let y =
                b.l1.forward(&rms_norm(&h)?.silu()?)?
                    .add(&b.tb.forward(&temb)?)?;
            h = h.add(&b.l2.forward(&y.silu()?)?)?;
        }
        self.out.forward(&rms_norm(&h)?.silu()?)?.add(&skip)
    }

    fn time_embedding(&self, t: &Tensor) -> candle_core::Result<Tensor> {
        self.t2
            .forward(
                &self
                    .t1
                    .forward(&time_features(t, self.cfg.n_freq)?)?
                    .silu()?,
            )?
            .silu()
    }

    fn eps_pixel(&self, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
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

/// Freshly initialised score network of shape `cfg` (seeded); for the PCA variant the buffers are
/// set from `pca` (which must have `k = cfg.latent`); `None` sets a placeholder (the first `k` pixel
/// axes, zero mean, unit variances) for a checkpoint to overwrite.
pub fn fresh_score(seed: u64, cfg: ScoreNetConfig, pca: Option<&Pca>) -> Result<Loaded<ScoreNet>> {
    let l = build(ModelKind::Score, seed, |vb| ScoreNet::new(vb, cfg))?;
    let k = cfg.latent;
    let placeholder;
    let pca = match pca {
        Some(p) => Some(p),
        None if k > 0 => {
            let mut basis = vec![0.0f32; PIXELS * k];
            (0..k.min(PIXELS)).for_each(|c| basis[c * k + c] = 1.0);
            placeholder = Pca {
                mean: vec![0.0; PIXELS],
                basis,
                var: vec![1.0; k],
            };
            Some(&placeholder)
        }
        None => None,
    };
    if let Some(p) = pca {
        if p.k() != cfg.latent {
            return Err(crate::error::invalid(
                "pca.k",
                p.k(),
                "must equal the network's latent dimension",
            ));
        }
        let data = l
            .vars
            .data()
            .lock()
            .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
        let set = |name: &str, v: &[f32], shape: (usize, usize)| -> Result<()> {
            let var = data
                .get(name)
                .ok_or_else(|| crate::error::invalid("pca buffer", name, "missing"))?;
            var.set(&Tensor::from_slice(v, shape, &Device::Cpu)?)?;
            Ok(())
        };
        set("pca.basis", &p.basis, (PIXELS, p.k()))?;
        set("pca.mean", &p.mean, (1, PIXELS))?;
        set("pca.var", &p.var, (1, p.k()))?;
    }
    Ok(l)
}

/// The PCA buffers of a score network's variables (`None` for the pixel variant).
pub fn pca_of(vars: &VarMap) -> Result<Option<Pca>> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let get = |n: &str| -> Result<Option<Vec<f32>>> {
        data.get(n)
            .map(|v| Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .transpose()
    };
    Ok(
        match (get("pca.basis")?, get("pca.mean")?, get("pca.var")?) {
            (Some(basis), Some(mean), Some(var)) => Some(Pca { mean, basis, var }),
            _ => None,
        },
    )
}

/// The variables an optimiser updates (everything but the `pca.*` buffers).
pub fn trainable_vars(vars: &VarMap) -> Result<Vec<candle_core::Var>> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let mut names: Vec<&String> = data.keys().filter(|n| !n.starts_with("pca.")).collect();
    names.sort();
    Ok(names.into_iter().map(|n| data[n].clone()).collect())
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
    let bytes = std::fs::read(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
        hint: kind.train_command(),
    })?;
    load_bytes_into(loaded, kind, path, &bytes)
}

/// Load the safetensors `bytes` (the contents of `path`, which only names the file in errors) into
/// `loaded`'s variables: every variable must be present with its shape and dtype, and every
/// parameter finite; anything else is a [`ComposeError::Weights`] naming `kind`'s training command.
pub fn load_bytes_into<M>(
    loaded: &mut Loaded<M>,
    kind: ModelKind,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    let bad = |detail: String| ComposeError::Weights {
        path: path.to_path_buf(),
        detail,
        hint: kind.train_command(),
    };
    let file =
        candle_core::safetensors::SliceSafetensors::new(bytes).map_err(|e| bad(e.to_string()))?;
    let data = loaded
        .vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    for (name, var) in data.iter() {
        let t = file
            .load(name, &Device::Cpu)
            .map_err(|e| bad(format!("tensor {name}: {e}")))?;
        var.set(&t)
            .map_err(|e| bad(format!("tensor {name}: {e}")))?;
        // reject files with non-finite parameters (e.g. a diverged training run)
        let s = var.as_tensor().abs()?.sum_all()?.to_scalar::<f32>()?;
        if !s.is_finite() {
            return Err(bad(format!("tensor {name}: non-finite parameters")));
        }
    }
    Ok(())
}

/// The shipped score network (or the one at `path`).
pub fn load_score(path: Option<&Path>) -> Result<Loaded<ScoreNet>> {
    let mut l = fresh_score(0, ScoreNetConfig::default(), None)?;
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

/// The reverse-time VP dynamics of one score network as an [`mfpid_sde::Drift`] in the runner's
/// forward time `s = 1 - t`: `b(s, x) = beta x / 2 + beta s_theta(x, t)` on images (`784` values per
/// particle, f64), with `s_theta = -eps_clipped / sigma_t` evaluated in f32 on each chunk.
pub struct ScoreDrift<'a> {
    net: &'a ScoreNet,
    sched: VpSchedule,
    /// First failure inside `eval` (which cannot return errors).
    error: std::sync::Mutex<Option<String>>,
}

impl<'a> ScoreDrift<'a> {
    /// Drift of `net` under `sched`.
    pub fn new(net: &'a ScoreNet, sched: VpSchedule) -> Self {
        Self {
            net,
            sched,
            error: std::sync::Mutex::new(None),
        }
    }

    /// The first error met while evaluating, if any.
    pub fn finish(self) -> Result<()> {
        match self.error.into_inner().ok().flatten() {
            Some(e) => Err(ComposeError::NonFinite(format!("score drift: {e}"))),
            None => Ok(()),
        }
    }

    fn eval_chunk(&self, s: f64, x: &[f64], out: &mut [f64]) -> Result<()> {
        let t = 1.0 - s;
        let b = x.len() / PIXELS;
        let (beta, sigma) = (self.sched.beta(t), self.sched.sigma2(t).sqrt());
        let xt = Tensor::from_vec(
            x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            (b, PIXELS),
            &Device::Cpu,
        )?;
        let tt = Tensor::full(t as f32, (b, 1), &Device::Cpu)?;
        let eps = self
            .net
            .eps_clipped(&xt, &tt)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for ((o, &xv), &e) in out.iter_mut().zip(x).zip(&eps) {
            *o = 0.5 * beta * xv - beta * e as f64 / sigma; // beta x / 2 + beta s_theta
        }
        Ok(())
    }
}

impl mfpid_sde::Drift for ScoreDrift<'_> {
    fn dim(&self) -> usize {
        PIXELS
    }

    fn eval(&self, s: f64, _first: usize, x: &[f64], out: &mut [f64], _scratch: &mut Vec<f64>) {
        if let Err(e) = self.eval_chunk(s, x, out) {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Unconditional samples of the score network: reverse-time Euler-Maruyama from `t = 1` to
/// `t_end = 1e-3` in `steps` uniform steps, integrated by the sde crate's ensemble runner with
/// [`ScoreDrift`] (`Noise::ScalarTime(sqrt(beta(1 - s)))`); `n` images `(n x 784)` in the data space.
pub fn sample_unconditional(
    net: &ScoreNet,
    sched: &VpSchedule,
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut ens = mfpid_sde::Ensemble::sample(n, PIXELS, seed, |rng, x| {
        for v in x.iter_mut() {
            *v = rng.sample(rand_distr::StandardNormal);
        }
    })?;
    let grid = mfpid_sde::TimeGrid::uniform(0.0, 1.0 - 1e-3, steps)?;
    let sch = *sched;
    let noise =
        mfpid_sde::Noise::ScalarTime(std::sync::Arc::new(move |s: f64| sch.beta(1.0 - s).sqrt()));
    let mut drift = ScoreDrift::new(net, sch);
    let cfg = mfpid_sde::RunConfig::new(mfpid_sde::Scheme::EulerMaruyama, seed ^ 0x5eed);
    let ran = mfpid_sde::run(&mut drift, &noise, &grid, &mut ens, &cfg, &mut []);
    drift.finish()?; // a network failure inside the drift first, then the runner's
    ran?;
    Ok(ens.into_vec().iter().map(|&v| v as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images `m + U_true z` on a 3-dimensional subspace (coordinates of variance 9, 4, 1).
    fn subspace_data(n: usize) -> (Vec<f32>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sd = [3.0f64, 2.0, 1.0];
        // orthonormal directions: disjoint pixel supports, unit norm
        let dirs: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                (0..PIXELS)
                    .map(|p| {
                        if p % 3 == c {
                            (3.0 / PIXELS as f64).sqrt()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let mean: Vec<f64> = (0..PIXELS).map(|p| ((p % 7) as f64 - 3.0) / 10.0).collect();
        let mut x = Vec::with_capacity(n * PIXELS);
        for _ in 0..n {
            let z: Vec<f64> = sd
                .iter()
                .map(|s| s * rng.sample::<f64, _>(rand_distr::StandardNormal))
                .collect();
            for p in 0..PIXELS {
                x.push((mean[p] + (0..3).map(|c| dirs[c][p] * z[c]).sum::<f64>()) as f32);
            }
        }
        (x, mean)
    }

    /// A 2 -> 3 linear layer (`fc.weight` 3 x 2, `fc.bias` 3) and safetensors bytes of `tensors`.
    fn tiny_layer() -> Loaded<Linear> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let model = candle_nn::linear(2, 3, vb.pp("fc")).unwrap();
        Loaded { model, vars }
    }

    fn safetensors_bytes(tensors: &[(&str, Tensor)]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("mfpid-compose-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("t{}.safetensors", tensors.len()));
        let map: std::collections::HashMap<String, Tensor> = tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        bytes
    }

    #[test]
    fn weights_from_bytes_load_or_name_what_is_wrong() {
        let dev = Device::Cpu;
        let w = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &dev).unwrap();
        let b = Tensor::new(&[0.5f32, -0.5, 0.0], &dev).unwrap();
        let path = Path::new("tiny.safetensors");
        let load = |bytes: &[u8]| {
            let mut l = tiny_layer();
            load_bytes_into(&mut l, ModelKind::Objective, path, bytes).map(|()| l)
        };
        let detail = |bytes: &[u8]| match load(bytes) {
            Err(ComposeError::Weights {
                path: p,
                detail,
                hint,
            }) => {
                assert_eq!(p, path);
                assert_eq!(hint, ModelKind::Objective.train_command());
                detail
            }
            other => panic!("expected a Weights error, got {other:?}"),
        };
        // a valid file sets every variable
        let ok = safetensors_bytes(&[("fc.weight", w.clone()), ("fc.bias", b.clone())]);
        let l = load(&ok).unwrap();
        let out = l
            .model
            .forward(&Tensor::new(&[[1f32, 1.]], &dev).unwrap())
            .unwrap();
        assert_eq!(out.to_vec2::<f32>().unwrap(), vec![vec![3.5f32, 6.5, 11.0]]);
        // missing tensor, wrong shape, wrong dtype, non-finite value, truncated file
        assert!(detail(&safetensors_bytes(&[("fc.weight", w.clone())])).contains("fc.bias"));
        let wt = w.t().unwrap().contiguous().unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", wt),
            ("fc.bias", b.clone()),
        ]));
        assert!(e.contains("fc.weight"), "{e}");
        let w64 = w.to_dtype(DType::F64).unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", w64),
            ("fc.bias", b.clone()),
        ]));
        assert!(e.contains("fc.weight"), "{e}");
        let nan = Tensor::new(&[f32::NAN, 0., 0.], &dev).unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", w.clone()),
            ("fc.bias", nan),
        ]));
        assert!(e.contains("fc.bias") && e.contains("non-finite"), "{e}");
        assert!(!detail(&ok[..ok.len() - 1]).is_empty());
        assert!(!detail(&ok[..4]).is_empty());
    }

    #[test]
    fn pca_finds_the_subspace_and_its_variances() {
        let (x, _) = subspace_data(400);
        let pca = Pca::fit(&x, 3).unwrap();
        let k = 3;
        for a in 0..k {
            for b in 0..k {
                let d: f64 = (0..PIXELS)
                    .map(|i| pca.basis[i * k + a] as f64 * pca.basis[i * k + b] as f64)
                    .sum();
                assert!(
                    (d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5,
                    "{a} {b} {d}"
                );
            }
        }
        // the sample variances of the projected coordinates are the reported ones
        let z = pca.project(&x);
        for c in 0..k {
            let v: f64 = z.chunks(k).map(|r| (r[c] as f64).powi(2)).sum::<f64>() / 400.0;
            assert!(
                (v - pca.var[c] as f64).abs() < 1e-3 * v,
                "{v} {}",
                pca.var[c]
            );
        }
        assert!(pca.var[0] > pca.var[1] && pca.var[1] > pca.var[2]);
        assert!((pca.var[0] / pca.var[2] - 9.0).abs() < 3.0);
        // data on the subspace reconstruct exactly
        let rec = pca.reconstruct(&z);
        let err = rec
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{err}");
        assert!(Pca::fit(&x, 0).is_err() && Pca::fit(&x[..10], 2).is_err());
    }

    #[test]
    fn pca_network_with_zero_output_is_the_exact_gaussian_posterior() {
        // data m + U z, z ~ N(0, diag v): E[eps | x_t] = (r - U z)/sigma + U sigma z / (alpha^2 v + sigma^2)
        let (x, _) = subspace_data(400);
        let pca = Pca::fit(&x, 3).unwrap();
        let cfg = ScoreNetConfig {
            hidden: 16,
            blocks: 1,
            n_freq: 4,
            latent: 3,
        };
        let l = fresh_score(1, cfg, Some(&pca)).unwrap();
        for (name, v) in l.vars.data().lock().unwrap().iter() {
            if name.starts_with("out.") {
                v.set(&v.as_tensor().zeros_like().unwrap()).unwrap();
            }
        }
        let sched = VpSchedule::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let xt: Vec<f32> = (0..2 * PIXELS)
            .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect();
        for t in [0.05f64, 0.3, 0.9] {
            let (alpha, sigma) = (sched.alpha(t), sched.sigma2(t).sqrt());
            let eps = l
                .model
                .eps(
                    &Tensor::from_slice(&xt, (2, PIXELS), &Device::Cpu).unwrap(),
                    &Tensor::full(t as f32, (2, 1), &Device::Cpu).unwrap(),
                )
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (row, er) in xt.chunks(PIXELS).zip(eps.chunks(PIXELS)) {
                let r: Vec<f64> = (0..PIXELS)
                    .map(|i| row[i] as f64 - alpha * pca.mean[i] as f64)
                    .collect();
                let z: Vec<f64> = (0..3)
                    .map(|c| {
                        (0..PIXELS)
                            .map(|i| pca.basis[i * 3 + c] as f64 * r[i])
                            .sum()
                    })
                    .collect();
                for i in 0..PIXELS {
                    let uz: f64 = (0..3).map(|c| pca.basis[i * 3 + c] as f64 * z[c]).sum();
                    let post: f64 = (0..3)
                        .map(|c| {
                            let v = pca.var[c] as f64;
                            pca.basis[i * 3 + c] as f64 * sigma * z[c]
                                / (alpha * alpha * v + sigma * sigma)
                        })
                        .sum();
                    let want = (r[i] - uz) / sigma + post;
                    assert!(
                        (er[i] as f64 - want).abs() < 2e-3 * (1.0 + want.abs()),
                        "t {t} pixel {i}: {} vs {want}",
                        er[i]
                    );
                }
            }
        }
    }
}
