//! The analytic controlled marginal `p*_t` of a bridge to a Gaussian mixture.
//!
//! `p*_t(x) = G^+_t(x|0) ∫ G^-_t(x|y) p_tar(y) / G^+_1(y|0) dy`. For a mixture target the `x`-only
//! factor `exp(-(a⁺ + a⁻ - b⁻²/K)|x|²/2 + (θ⁺ + θx + b⁻ Θ/K)·x)` is identically 1 (both brackets
//! vanish: the bridge's conditional law given `x_1 = y` is a normalised Gaussian), and what is left is
//!
//! ```text
//! p*_t = sum_k pi_k N(x; x_k, C_k),   x_k = (K m_k - Θ)/b⁻,   C_k = (K/b⁻)² Σ_k + (K/b⁻²) I
//! ```
//!
//! (from the origin; a start `z` shifts `m_k -> m_k - z`, `nu -> nu - z` and the result by `z`).
//! The mean is `x̄*_t = (K m̄ - Θ)/b⁻`.

use crate::bridge::Bridge;
use crate::error::{BridgeError, Result};
use crate::target::{Covariance, GaussianMixture};

impl Bridge<GaussianMixture> {
    /// The analytic marginal `p*_t` at `t` in `(0, 1]` as a Gaussian mixture in `x` (one group of `K`
    /// components per start row, equally weighted over the rows; `t = 1` returns the target).
    /// Uses the exact coefficients at `t` (no `eps` clamping).
    pub fn marginal(&self, t: f64) -> Result<GaussianMixture> {
        if !(t > 0.0 && t <= 1.0) {
            return Err(BridgeError::TimeOutOfDomain {
                t,
                domain: "(0, 1] (p*_0 is a point mass)",
            });
        }
        let tar = self.target();
        let d = self.dim();
        let kc = tar.components();
        let origin = vec![0.0; d];
        let rows: Vec<&[f64]> = if self.n_starts() == 0 {
            vec![&origin[..]]
        } else {
            self.starts().chunks_exact(d).collect()
        };
        let ns = rows.len();
        let w = tar.weights();
        let mut weights = Vec::with_capacity(ns * kc);
        for _ in 0..ns {
            weights.extend_from_slice(&w);
        }
        if t == 1.0 {
            let mut means = Vec::with_capacity(ns * kc * d);
            for _ in 0..ns {
                means.extend_from_slice(tar.means());
            }
            let cov = repeat_cov(tar.covariance_spec(), ns, 1.0, 0.0, d);
            return GaussianMixture::new(d, weights, means, cov);
        }
        let bw = self.coefficients().backward(t)?;
        let (k, b) = (bw.k, bw.b_minus);
        let lam = bw.lambda_y - self.coefficients().lambda_plus_1();
        let mut means = Vec::with_capacity(ns * kc * d);
        for z in &rows {
            for c in 0..kc {
                let mc = &tar.means()[c * d..(c + 1) * d];
                for j in 0..d {
                    // Θ̃ = Θ - (λy - λ⁺_1) z;  x_k = z + (K (m_k - z) - Θ̃)/b
                    let theta = bw.theta_probe[j] - lam * z[j];
                    means.push(z[j] + (k * (mc[j] - z[j]) - theta) / b);
                }
            }
        }
        let r = k / b;
        let cov = repeat_cov(tar.covariance_spec(), ns, r * r, r / b, d);
        GaussianMixture::new(d, weights, means, cov)
    }

    /// The analytic mean `x̄*_t` (length `d`) for `t` in `(0, 1]`.
    pub fn marginal_mean(&self, t: f64) -> Result<Vec<f64>> {
        Ok(self.marginal(t)?.mean())
    }
}

/// `scale Σ_k + shift I`, repeated `ns` times.
fn repeat_cov(c: &Covariance, ns: usize, scale: f64, shift: f64, d: usize) -> Covariance {
    match c {
        Covariance::Isotropic(s) => Covariance::Isotropic(
            (0..ns)
                .flat_map(|_| s.iter().map(|v| scale * v + shift))
                .collect(),
        ),
        Covariance::Diagonal(s) => Covariance::Diagonal(
            (0..ns)
                .flat_map(|_| s.iter().map(|v| scale * v + shift))
                .collect(),
        ),
        Covariance::Full(s) => {
            let mut out = Vec::with_capacity(ns * s.len());
            for _ in 0..ns {
                for (i, v) in s.iter().enumerate() {
                    let diag = (i % (d * d)).is_multiple_of(d + 1);
                    out.push(scale * v + if diag { shift } else { 0.0 });
                }
            }
            Covariance::Full(out)
        }
    }
}
