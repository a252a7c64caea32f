//! Analytic agents for the exact reference: Gaussian-mixture data whose VP-noised marginals, scores,
//! score Jacobians and Tweedie denoisers are known in closed form; linear aggregators and a linear
//! (softmax) classifier objective.

use crate::error::{invalid, ComposeError, Result};
use serde::{Deserialize, Serialize};

/// Isotropic Gaussian mixture `p_0 = sum_m w_m N(mu_m, s_m^2 I)` in `d` dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianMixture {
    /// Dimension `d`.
    pub d: usize,
    /// Component means `mu_m`, `m x d` row-major.
    pub means: Vec<f64>,
    /// Component standard deviations `s_m > 0`.
    pub stds: Vec<f64>,
    /// Component weights `w_m` (normalised to sum 1 by the constructor).
    pub weights: Vec<f64>,
}

impl GaussianMixture {
    /// Validated mixture; `means.len() == stds.len() * d`, weights positive (normalised here).
    pub fn new(d: usize, means: Vec<f64>, stds: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        if d == 0 {
            return Err(invalid("d", d, "must be >= 1"));
        }
        let m = stds.len();
        if m == 0 || means.len() != m * d || weights.len() != m {
            return Err(ComposeError::Shape {
                what: "GaussianMixture means/stds/weights",
                expected: format!("means {} = m*d, weights {m}", m * d),
                got: format!("means {}, stds {m}, weights {}", means.len(), weights.len()),
            });
        }
        if let Some(s) = stds.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(invalid("stds", s, "must be finite and > 0"));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(invalid("weights", w, "must be finite and > 0"));
        }
        if let Some(v) = means.iter().find(|v| !v.is_finite()) {
            return Err(invalid("means", v, "must be finite"));
        }
        let total: f64 = weights.iter().sum();
        let weights = weights.iter().map(|w| w / total).collect();
        Ok(Self {
            d,
            means,
            stds,
            weights,
        })
    }

    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.stds.len()
    }

    /// `log p_t(x)` of the VP marginal `alpha X_0 + sigma eps` (`sigma2 = sigma^2`).
    pub fn log_density(&self, alpha: f64, sigma2: f64, x: &[f64]) -> f64 {
        let d = self.d;
        let logs: Vec<f64> = (0..self.n_components())
            .map(|m| {
                let v = alpha * alpha * self.stds[m] * self.stds[m] + sigma2;
                let r2: f64 = (0..d)
                    .map(|j| (x[j] - alpha * self.means[m * d + j]).powi(2))
                    .sum();
                self.weights[m].ln()
                    - r2 / (2.0 * v)
                    - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * v).ln()
            })
            .collect();
        let mx = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        mx + logs.iter().map(|l| (l - mx).exp()).sum::<f64>().ln()
    }

    /// Score `s = grad log p_t(x)` and, when `hess` is given, its Jacobian `H = grad^2 log p_t(x)`
    /// (`d x d`, row-major), at one point `x` (length `d`).
    ///
    /// With `v_m = alpha^2 s_m^2 + sigma^2`, responsibilities `r_m` and `e_m = -(x - alpha mu_m)/v_m`:
    /// `s = sum r_m e_m`, `H = sum r_m (e_m e_m^T - I / v_m) - s s^T`. `work` holds `m` numbers.
    pub fn score_hessian(
        &self,
        alpha: f64,
        sigma2: f64,
        x: &[f64],
        score: &mut [f64],
        hess: Option<&mut [f64]>,
        work: &mut Vec<f64>,
    ) {
        let (d, nm) = (self.d, self.n_components());
        work.resize(nm, 0.0);
        let mut mx = f64::NEG_INFINITY;
        for m in 0..nm {
            let v = alpha * alpha * self.stds[m] * self.stds[m] + sigma2;
            let r2: f64 = (0..d)
                .map(|j| (x[j] - alpha * self.means[m * d + j]).powi(2))
                .sum();
            let l = self.weights[m].ln() - r2 / (2.0 * v) - 0.5 * d as f64 * v.ln();
            work[m] = l;
            mx = mx.max(l);
        }
        let mut z = 0.0;
        for w in work.iter_mut() {
            *w = (*w - mx).exp();
            z += *w;
        }
        score[..d].iter_mut().for_each(|s| *s = 0.0);
        for m in 0..nm {
            let r = work[m] / z;
            let v = alpha * alpha * self.stds[m] * self.stds[m] + sigma2;
            for j in 0..d {
                score[j] -= r * (x[j] - alpha * self.means[m * d + j]) / v;
            }
        }
        if let Some(h) = hess {
            h[..d * d].iter_mut().for_each(|v| *v = 0.0);
            for m in 0..nm {
                let r = work[m] / z;
                let v = alpha * alpha * self.stds[m] * self.stds[m] + sigma2;
                for a in 0..d {
                    let ea = -(x[a] - alpha * self.means[m * d + a]) / v;
                    for b in 0..d {
                        let eb = -(x[b] - alpha * self.means[m * d + b]) / v;
                        h[a * d + b] += r * (ea * eb - if a == b { 1.0 / v } else { 0.0 });
                    }
                }
            }
            for a in 0..d {
                for b in 0..d {
                    h[a * d + b] -= score[a] * score[b];
                }
            }
        }
    }

    /// Mean and per-coordinate second moment of the data distribution `p_0`.
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let mut mean = vec![0.0; d];
        let mut m2 = vec![0.0; d];
        for m in 0..self.n_components() {
            for j in 0..d {
                let mu = self.means[m * d + j];
                mean[j] += self.weights[m] * mu;
                m2[j] += self.weights[m] * (mu * mu + self.stds[m] * self.stds[m]);
            }
        }
        (mean, m2)
    }
}

/// Linear aggregator `Y = sum_i M_i ⊙ x_i` of `n` agents' states (each length `d`).
///
/// Covers the split mask (`M_i` indicator of agent `i`'s band), the sum (`M_i = 1`) and the average
/// (`M_i = 1/n`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearAggregator {
    /// Number of agents `N`.
    pub n: usize,
    /// Per-agent state dimension `d` (also the dimension of `Y`).
    pub d: usize,
    /// Masks `M_i`, `N x d` row-major.
    pub masks: Vec<f64>,
}

impl LinearAggregator {
    fn check(n: usize, d: usize) -> Result<()> {
        if n == 0 {
            return Err(invalid("n_agents", n, "must be >= 1"));
        }
        if d == 0 {
            return Err(invalid("d", d, "must be >= 1"));
        }
        Ok(())
    }

    /// `Y = (1/N) sum_i x_i`.
    pub fn average(n: usize, d: usize) -> Result<Self> {
        Self::check(n, d)?;
        Ok(Self {
            n,
            d,
            masks: vec![1.0 / n as f64; n * d],
        })
    }

    /// `Y = sum_i x_i`.
    pub fn sum(n: usize, d: usize) -> Result<Self> {
        Self::check(n, d)?;
        Ok(Self {
            n,
            d,
            masks: vec![1.0; n * d],
        })
    }

    /// Split mask over `rows` contiguous bands of `row_len` coordinates each (`d = rows * row_len`):
    /// agent `i` owns the rows of band `i`; band sizes differ by at most one, larger bands first
    /// (28 rows: 14/14 for N = 2, 10/9/9 for N = 3).
    pub fn split_rows(n: usize, rows: usize, row_len: usize) -> Result<Self> {
        Self::check(n, rows * row_len)?;
        if n > rows {
            return Err(invalid("n_agents", n, "must not exceed the number of rows"));
        }
        let d = rows * row_len;
        let mut masks = vec![0.0; n * d];
        for (i, (start, end)) in band_bounds(n, rows).into_iter().enumerate() {
            for r in start..end {
                masks[i * d + r * row_len..i * d + (r + 1) * row_len]
                    .iter_mut()
                    .for_each(|m| *m = 1.0);
            }
        }
        Ok(Self { n, d, masks })
    }

    /// Agent `i`'s mask (length `d`).
    pub fn mask(&self, i: usize) -> &[f64] {
        &self.masks[i * self.d..(i + 1) * self.d]
    }

    /// `Y` from the stacked agent states `xs` (`N x d`), written into `y` (`d`).
    pub fn apply(&self, xs: &[f64], y: &mut [f64]) {
        y[..self.d].iter_mut().for_each(|v| *v = 0.0);
        for i in 0..self.n {
            for j in 0..self.d {
                y[j] += self.masks[i * self.d + j] * xs[i * self.d + j];
            }
        }
    }
}

/// Row ranges `[start, end)` of the `n` horizontal bands of an image with `rows` rows (larger first).
pub fn band_bounds(n: usize, rows: usize) -> Vec<(usize, usize)> {
    let (q, r) = (rows / n.max(1), rows % n.max(1));
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = q + usize::from(i < r);
            let b = (start, start + len);
            start += len;
            b
        })
        .collect()
}

/// Linear softmax classifier `logits = W y + b` (`C` classes, input dimension `d`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearClassifier {
    /// Input dimension `d`.
    pub d: usize,
    /// Weights `W`, `C x d` row-major.
    pub w: Vec<f64>,
    /// Biases `b`, length `C`.
    pub b: Vec<f64>,
}

impl LinearClassifier {
    /// Validated classifier.
    pub fn new(d: usize, w: Vec<f64>, b: Vec<f64>) -> Result<Self> {
        if d == 0 || b.is_empty() || w.len() != b.len() * d {
            return Err(ComposeError::Shape {
                what: "LinearClassifier w/b",
                expected: format!("w = C*d with d = {d} >= 1"),
                got: format!("w {}, b {}", w.len(), b.len()),
            });
        }
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(invalid("w/b", "non-finite", "must be finite"));
        }
        Ok(Self { d, w, b })
    }

    /// Number of classes `C`.
    pub fn n_classes(&self) -> usize {
        self.b.len()
    }

    /// Cross-entropy `Phi(y) = -log softmax(W y + b)[target]`; writes `grad_y Phi` into `grad` (length `d`).
    pub fn cross_entropy(&self, y: &[f64], target: usize, grad: &mut [f64]) -> f64 {
        let (d, c) = (self.d, self.n_classes());
        let mut logits = [0.0f64; 64];
        let mut heap;
        let logits: &mut [f64] = if c <= 64 {
            &mut logits[..c]
        } else {
            heap = vec![0.0; c];
            &mut heap
        };
        for k in 0..c {
            logits[k] = self.b[k] + (0..d).map(|j| self.w[k * d + j] * y[j]).sum::<f64>();
        }
        let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - mx).exp()).sum();
        let lse = mx + z.ln();
        grad[..d].iter_mut().for_each(|g| *g = 0.0);
        for k in 0..c {
            let p = (logits[k] - lse).exp() - if k == target { 1.0 } else { 0.0 };
            for j in 0..d {
                grad[j] += p * self.w[k * d + j];
            }
        }
        lse - logits[target]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> GaussianMixture {
        GaussianMixture::new(
            2,
            vec![1.0, 1.0, -1.0, 0.5, 0.2, -1.3],
            vec![0.4, 0.6, 0.3],
            vec![1.0, 2.0, 1.0],
        )
        .unwrap()
    }

    #[test]
    fn score_and_hessian_match_finite_differences() {
        let g = mix();
        let (alpha, sigma2) = (0.7, 0.51);
        let x = [0.3, -0.4];
        let (mut s, mut h, mut w) = ([0.0; 2], [0.0; 4], Vec::new());
        g.score_hessian(alpha, sigma2, &x, &mut s, Some(&mut h), &mut w);
        let eps = 1e-5;
        for j in 0..2 {
            let (mut a, mut b) = (x, x);
            a[j] += eps;
            b[j] -= eps;
            let fd =
                (g.log_density(alpha, sigma2, &a) - g.log_density(alpha, sigma2, &b)) / (2.0 * eps);
            assert!((fd - s[j]).abs() < 1e-8, "score {j}: {fd} vs {}", s[j]);
            let (mut sa, mut sb) = ([0.0; 2], [0.0; 2]);
            g.score_hessian(alpha, sigma2, &a, &mut sa, None, &mut w);
            g.score_hessian(alpha, sigma2, &b, &mut sb, None, &mut w);
            for i in 0..2 {
                let fd = (sa[i] - sb[i]) / (2.0 * eps);
                assert!((fd - h[i * 2 + j]).abs() < 1e-7, "hessian {i}{j}");
            }
        }
    }

    #[test]
    fn classifier_gradient_matches_finite_differences() {
        let c = LinearClassifier::new(
            2,
            vec![1.0, 2.0, -1.0, 0.5, 0.3, -2.0],
            vec![0.1, 0.0, -0.2],
        )
        .unwrap();
        let y = [0.4, -0.8];
        let mut g = [0.0; 2];
        let phi = c.cross_entropy(&y, 1, &mut g);
        assert!(phi > 0.0);
        let mut tmp = [0.0; 2];
        for j in 0..2 {
            let (mut a, mut b) = (y, y);
            a[j] += 1e-6;
            b[j] -= 1e-6;
            let fd = (c.cross_entropy(&a, 1, &mut tmp) - c.cross_entropy(&b, 1, &mut tmp)) / 2e-6;
            assert!((fd - g[j]).abs() < 1e-8);
        }
        assert!(LinearClassifier::new(2, vec![1.0; 5], vec![0.0; 3]).is_err());
    }

    #[test]
    fn aggregators_and_bands() {
        assert_eq!(band_bounds(2, 28), vec![(0, 14), (14, 28)]);
        assert_eq!(band_bounds(3, 28), vec![(0, 10), (10, 19), (19, 28)]);
        let a = LinearAggregator::split_rows(3, 28, 28).unwrap();
        let count: Vec<f64> = (0..3).map(|i| a.mask(i).iter().sum()).collect();
        assert_eq!(count, vec![280.0, 252.0, 252.0]);
        for j in 0..784 {
            assert_eq!((0..3).map(|i| a.mask(i)[j]).sum::<f64>(), 1.0);
        }
        let avg = LinearAggregator::average(2, 2).unwrap();
        let mut y = [0.0; 2];
        avg.apply(&[1.0, 2.0, 3.0, 6.0], &mut y);
        assert_eq!(y, [2.0, 4.0]);
        assert!(
            LinearAggregator::split_rows(4, 3, 1).is_err() && LinearAggregator::sum(0, 2).is_err()
        );
        assert!(GaussianMixture::new(2, vec![0.0; 4], vec![1.0, -1.0], vec![1.0, 1.0]).is_err());
    }
}
