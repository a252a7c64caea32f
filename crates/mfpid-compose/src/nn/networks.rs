//! The networks: the VP score network (pixel and PCA variants), the objective MLP and the
//! evaluation CNN, and their inference helpers (classification, accuracy).

use crate::error::Result;
use crate::idx::PIXELS;
use crate::vp::VpSchedule;
use candle_core::{Device, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Module, VarBuilder};

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

/// Images (`n x 784`, row-major) as CPU tensors of at most [`IMAGE_BATCH`] rows, in order.
pub fn image_batches(images: &[f32]) -> impl Iterator<Item = Result<Tensor>> + '_ {
    images.chunks(IMAGE_BATCH * PIXELS).map(|rows| {
        Ok(Tensor::from_slice(
            rows,
            (rows.len() / PIXELS, PIXELS),
            &Device::Cpu,
        )?)
    })
}

/// Images per forward pass in [`classify`] and the Fréchet features (bounds the activations' memory).
pub const IMAGE_BATCH: usize = 500;

/// Predicted classes and max softmax probabilities of `images` (`n x 784`), in batches of 500.
pub fn classify<M: Module>(model: &M, images: &[f32]) -> Result<(Vec<u8>, Vec<f64>)> {
    let n = images.len() / PIXELS;
    let (mut pred, mut conf) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for x in image_batches(images) {
        let p = candle_nn::ops::softmax(&model.forward(&x?)?, D::Minus1)?;
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
