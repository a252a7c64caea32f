//! Boundary laws `p_in`, `p_tar`: Gaussian mixtures or weighted point clouds, with their global
//! means, reproducible sampling, and the bridge target they define.

use mfpid_bridge::{Covariance, DriftForm, Empirical, GaussianMixture, Target};
use rand::Rng;
use serde::{Deserialize, Serialize};
use statrs::function::erf::erfc;

use crate::error::{MeanFieldError, Result};
use crate::interpolant::global_mean_points;

/// A probability law on `R^d` used as `p_in` or `p_tar`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Law {
    /// A Gaussian mixture `sum_k pi_k N(m_k, Σ_k)`.
    Mixture(GaussianMixture),
    /// A weighted point cloud `sum_j omega_j delta(x - y_j)` (row-major `N x d`).
    Points {
        /// Dimension `d`.
        d: usize,
        /// Points, row-major `N x d`.
        points: Vec<f64>,
        /// Normalised weights (length `N`, sum 1).
        weights: Vec<f64>,
    },
}

impl Law {
    /// An equally weighted point cloud (validated).
    pub fn points(d: usize, points: Vec<f64>) -> Result<Self> {
        let n = points.len().checked_div(d).unwrap_or(0);
        Self::weighted_points(d, points, vec![1.0; n])
    }

    /// A weighted point cloud (weights finite, `>= 0`, positive sum; normalised here).
    pub fn weighted_points(d: usize, points: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        // validates d, shape, finiteness and weights
        global_mean_points(d, &points, Some(&weights))?;
        let sum: f64 = weights.iter().sum();
        let weights = weights.into_iter().map(|w| w / sum).collect();
        Ok(Law::Points { d, points, weights })
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        match self {
            Law::Mixture(g) => g.dim(),
            Law::Points { d, .. } => *d,
        }
    }

    /// Global mean (length `d`).
    pub fn mean(&self) -> Vec<f64> {
        match self {
            Law::Mixture(g) => g.mean(),
            Law::Points { d, points, weights } => {
                let mut m = vec![0.0; *d];
                for (row, w) in points.chunks_exact(*d).zip(weights) {
                    m.iter_mut().zip(row).for_each(|(a, b)| *a += w * b);
                }
                m
            }
        }
    }

    /// Covariance, row-major `d x d`.
    pub fn covariance(&self) -> Vec<f64> {
        match self {
            Law::Mixture(g) => g.covariance(),
            Law::Points { d, points, weights } => {
                let d = *d;
                let m = self.mean();
                let mut c = vec![0.0; d * d];
                for (row, w) in points.chunks_exact(d).zip(weights) {
                    for a in 0..d {
                        for b in 0..d {
                            c[a * d + b] += w * (row[a] - m[a]) * (row[b] - m[b]);
                        }
                    }
                }
                c
            }
        }
    }

    /// `b` reproducible samples, row-major `b x d`, from the streams of `seed` (particle `i` draws
    /// from the block stream of the sde crate, so the draw does not depend on the thread count).
    ///
    /// Mixtures: [`GaussianMixture::sample`] (component by inverse CDF, then `L_k ξ + m_k` with the
    /// Cholesky factor `L_k` of `Σ_k` computed once when the mixture was built). Point clouds:
    /// systematic resampling (one uniform offset; with equal weights and `b` a multiple of `N`
    /// every point appears exactly `b / N` times, in order).
    pub fn sample(&self, b: usize, seed: u64) -> Result<Vec<f64>> {
        self.sample_range(0, b, b, seed)
    }

    /// The samples `offset .. offset + count` of [`Law::sample`]`(total, seed)` (one rank's
    /// [`mfpid_sde::shard::Shard`] of a population split across processes; `offset` a multiple of
    /// [`mfpid_sde::rng::RNG_BLOCK`]): bit-identical to those rows of the whole draw, in
    /// `O(count d)` memory. A point cloud's systematic resampling walks the cumulative weights
    /// from the first point in the same order as the whole draw, so the rows agree exactly.
    pub fn sample_range(
        &self,
        offset: usize,
        count: usize,
        total: usize,
        seed: u64,
    ) -> Result<Vec<f64>> {
        if count == 0 {
            return Err(MeanFieldError::Empty { what: "samples" });
        }
        if offset + count > total {
            return Err(MeanFieldError::OutOfRange {
                what: "sample range end (offset + count)",
                value: (offset + count) as f64,
                range: "[1, total]",
            });
        }
        let (b, d) = (total, self.dim());
        match self {
            Law::Mixture(g) => Ok(g.sample_range(offset, count, seed)?),
            Law::Points {
                points, weights, ..
            } => {
                let ens = mfpid_sde::Ensemble::sample(1, 1, seed, |rng, x| {
                    x[0] = rng.random::<f64>();
                })?;
                let u0 = ens.as_slice()[0];
                let n = weights.len();
                let mut out = Vec::with_capacity(count * d);
                let mut j = 0usize;
                let mut cum = weights[0];
                for i in offset..offset + count {
                    let u = (i as f64 + u0) / b as f64;
                    while u > cum && j + 1 < n {
                        j += 1;
                        cum += weights[j];
                    }
                    out.extend_from_slice(&points[j * d..(j + 1) * d]);
                }
                Ok(out)
            }
        }
    }

    /// The bridge target defined by this law.
    pub fn target(&self) -> Result<LawTarget> {
        Ok(match self {
            Law::Mixture(g) => LawTarget::Mixture(g.clone()),
            Law::Points { d, points, weights } => {
                LawTarget::Empirical(Empirical::weighted(*d, points.clone(), weights.clone())?)
            }
        })
    }

    /// Mass of the axis-aligned box `[lo, hi)` (length-`d` corners). Mixtures: exact product of
    /// normal CDFs for isotropic/diagonal covariances; a full covariance is an error.
    pub fn box_mass(&self, lo: &[f64], hi: &[f64]) -> Result<f64> {
        let d = self.dim();
        match self {
            Law::Points {
                points, weights, ..
            } => Ok(points
                .chunks_exact(d)
                .zip(weights)
                .filter(|(p, _)| (0..d).all(|j| p[j] >= lo[j] && p[j] < hi[j]))
                .map(|(_, w)| w)
                .sum()),
            Law::Mixture(g) => {
                let w = g.weights();
                let mut total = 0.0;
                for (k, wk) in w.iter().enumerate() {
                    let mut mass = *wk;
                    for j in 0..d {
                        let var = match g.covariance_spec() {
                            Covariance::Isotropic(s) => s[k],
                            Covariance::Diagonal(s) => s[k * d + j],
                            Covariance::Full(_) => {
                                return Err(MeanFieldError::OutOfRange {
                                    what: "box mass of a full-covariance mixture",
                                    value: f64::NAN,
                                    range: "isotropic or diagonal covariances only",
                                })
                            }
                        };
                        let m = g.means()[k * d + j];
                        let s = var.sqrt();
                        mass *= normal_cdf((hi[j] - m) / s) - normal_cdf((lo[j] - m) / s);
                    }
                    total += mass;
                }
                Ok(total)
            }
        }
    }

    /// Density at `x` (mixtures only; a point cloud has none).
    pub fn pdf(&self, x: &[f64]) -> Result<f64> {
        match self {
            Law::Mixture(g) => Ok(g.log_pdf(x)?.exp()),
            Law::Points { .. } => Err(MeanFieldError::OutOfRange {
                what: "density of a point cloud",
                value: f64::NAN,
                range: "mixtures only",
            }),
        }
    }
}

/// Standard normal CDF `Φ(z) = erfc(-z/√2)/2` (statrs' `erfc`; measured error about 1e-11 relative).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// A bridge target built from a [`Law`]: one type for mixtures and point clouds, so MF-PID
/// problems need not be generic.
#[derive(Debug, Clone)]
pub enum LawTarget {
    /// Gaussian-mixture target.
    Mixture(GaussianMixture),
    /// Empirical target.
    Empirical(Empirical),
}

impl Target for LawTarget {
    fn dim(&self) -> usize {
        match self {
            LawTarget::Mixture(g) => g.dim(),
            LawTarget::Empirical(e) => e.dim(),
        }
    }
    fn prepare(&mut self, k: f64, t: f64) -> mfpid_bridge::Result<()> {
        match self {
            LawTarget::Mixture(g) => g.prepare(k, t),
            LawTarget::Empirical(e) => e.prepare(k, t),
        }
    }
    fn work_len(&self) -> usize {
        match self {
            LawTarget::Mixture(g) => g.work_len(),
            LawTarget::Empirical(e) => e.work_len(),
        }
    }
    fn probe_mean(&self, mu: &[f64], particle: usize, out: &mut [f64], work: &mut [f64]) {
        match self {
            LawTarget::Mixture(g) => g.probe_mean(mu, particle, out, work),
            LawTarget::Empirical(e) => e.probe_mean(mu, particle, out, work),
        }
    }
    /// The mixture's fused batch drift (isotropic and diagonal covariances); none for point clouds.
    fn drift_rows(
        &self,
        form: &DriftForm<'_>,
        x: &[f64],
        z: Option<&[f64]>,
        out: &mut [f64],
        work: &mut Vec<f64>,
    ) -> bool {
        match self {
            LawTarget::Mixture(g) => g.drift_rows(form, x, z, out, work),
            LawTarget::Empirical(e) => e.drift_rows(form, x, z, out, work),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixture_sampling_moments() {
        let g = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
            .unwrap();
        let law = Law::Mixture(g);
        let b = 40_000;
        let s = law.sample(b, 3).unwrap();
        let m = s.iter().sum::<f64>() / b as f64;
        let v = s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (b - 1) as f64;
        let var = law.covariance()[0];
        assert!((m - 0.66).abs() < 4.0 * (var / b as f64).sqrt(), "mean {m}");
        assert!((v - var).abs() < 0.02 * var, "var {v} vs {var}");
        // reproducible
        assert_eq!(s, law.sample(b, 3).unwrap());
        // box mass of everything is 1, of the upper half-line above 0.8 is ~0.40
        assert!((law.box_mass(&[-50.0], &[50.0]).unwrap() - 1.0).abs() < 1e-9);
        let above = law.box_mass(&[0.8], &[50.0]).unwrap();
        let frac = s.iter().filter(|&&x| x >= 0.8).count() as f64 / b as f64;
        assert!((above - frac).abs() < 0.01, "{above} vs {frac}");
    }

    #[test]
    fn full_covariance_sampling() {
        let g =
            GaussianMixture::full(2, vec![1.0], vec![1.0, -1.0], vec![1.0, 0.6, 0.6, 0.5]).unwrap();
        let law = Law::Mixture(g);
        let b = 40_000;
        let s = law.sample(b, 9).unwrap();
        let pl = Law::points(2, s).unwrap();
        let c = pl.covariance();
        assert!(
            (c[1] - 0.6).abs() < 0.03 && (c[3] - 0.5).abs() < 0.03,
            "{c:?}"
        );
    }

    #[test]
    fn systematic_resampling() {
        let law = Law::points(1, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let s = law.sample(8, 1).unwrap();
        assert_eq!(s, vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        let law = Law::weighted_points(1, vec![0.0, 1.0], vec![3.0, 1.0]).unwrap();
        let s = law.sample(400, 2).unwrap();
        assert_eq!(s.iter().filter(|&&x| x == 0.0).count(), 300);
        assert!((law.mean()[0] - 0.25).abs() < 1e-15);
        assert!(Law::weighted_points(1, vec![0.0], vec![-1.0]).is_err());
        assert!(Law::points(2, vec![0.0; 3]).is_err());
    }

    #[test]
    fn normal_cdf_values() {
        // Φ(0) = 1/2, Φ(1) = 0.8413447460685429, Φ(-2) = 0.022750131948179195 (mpmath); the
        // Numerical Recipes fit this replaced was off by up to 1.2e-7, statrs by about 1e-11
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-10);
        assert!((normal_cdf(-2.0) / 0.022_750_131_948_179_195 - 1.0).abs() < 1e-10);
    }
}
