//! Collapse (memorisation) of the exact empirical score, after Biroli et al. (2024).
//!
//! With `P` training points `a_μ ∈ R^N`, the empirical marginal at forward time `t` is
//! `P^e_t(x) = (1/P) Σ_μ N(x; a_μ e^{-t}, Δ_t I)`, `Δ_t = 1 - e^{-2t}`. The excess entropy density
//! `f^e(t) = α + (1/N) E[ln P^e_t(x)] + ½ (1 + ln 2π Δ_t)`, `α = ln P / N`, with `x ~ P^e_t`
//! (so `-(1/N) E ln P^e_t` is the entropy density of `P^e_t`), is the entropy of `P` well-separated
//! Gaussians minus the actual entropy: `f^e >= 0` up to O(N^{-1/2}) fluctuations, `f^e ≈ 0` once
//! the backward dynamics has collapsed onto training points. For Gaussian data `N(0, σ² I)`, in the
//! large-N limit `f^e(t) = max(0, α - ½ ln(1 + σ² e^{-2t} / Δ_t))`, which vanishes at
//! `t_C = ½ ln(1 + σ² / (P^{2/N} - 1))`.

use crate::error::{self, Result, ThermoError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Collapse time `t_C = ½ ln(1 + σ² / (P^{2/N} - 1))` for `P >= 2` points in dimension `N >= 1`
/// with data variance `σ² > 0` per coordinate.
pub fn collapse_time(n_points: f64, dim: f64, sigma2: f64) -> Result<f64> {
    if !(n_points.is_finite() && n_points >= 2.0) {
        return Err(ThermoError::OutOfRange {
            what: "n_points",
            value: n_points,
            reason: "need P >= 2",
        });
    }
    if !(dim.is_finite() && dim >= 1.0) {
        return Err(ThermoError::OutOfRange {
            what: "dim",
            value: dim,
            reason: "need N >= 1",
        });
    }
    error::positive("sigma2", sigma2)?;
    // P^{2/N} - 1 = expm1(2 ln P / N)
    let p2n = (2.0 * n_points.ln() / dim).exp_m1();
    Ok(0.5 * (sigma2 / p2n).ln_1p())
}

/// Large-N excess entropy of Gaussian data `N(0, σ² I)`: `max(0, α - ½ ln(1 + σ² e^{-2t}/Δ_t))`.
pub fn excess_entropy_theory(alpha: f64, sigma2: f64, t: f64) -> Result<f64> {
    error::positive("alpha", alpha)?;
    error::positive("sigma2", sigma2)?;
    let t = error::time_in("t", t, f64::MIN_POSITIVE, f64::MAX)?;
    let delta = -(-2.0 * t).exp_m1();
    Ok((alpha - 0.5 * (sigma2 * (-2.0 * t).exp() / delta).ln_1p()).max(0.0))
}

/// A set of `P` training points in dimension `N` (row-major `P x N`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSet {
    points: Vec<f64>,
    n_points: usize,
    dim: usize,
}

/// Monte Carlo estimate of `f^e(t)` with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExcessEntropy {
    /// Forward time t.
    pub t: f64,
    /// Estimated `f^e(t)`.
    pub f_e: f64,
    /// One standard error.
    pub f_e_se: f64,
}

impl TrainingSet {
    /// Wrap `points` (`n_points x dim`, finite, `n_points >= 2`, `dim >= 1`).
    pub fn new(points: Vec<f64>, n_points: usize, dim: usize) -> Result<Self> {
        error::point_cloud("points", &points, ("n_points", n_points), ("dim", dim))?;
        Ok(Self {
            points,
            n_points,
            dim,
        })
    }

    /// `P` i.i.d. points from `N(0, σ² I_N)` (ChaCha8 stream seeded by `seed`).
    pub fn gaussian(n_points: usize, dim: usize, sigma2: f64, seed: u64) -> Result<Self> {
        let sd = error::positive("sigma2", sigma2)?.sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pts = (0..n_points * dim)
            .map(|_| sd * rng.sample::<f64, _>(StandardNormal))
            .collect();
        Self::new(pts, n_points, dim)
    }

    /// `α = ln P / N`.
    pub fn alpha(&self) -> f64 {
        (self.n_points as f64).ln() / self.dim as f64
    }

    /// Number of points `P`.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// Dimension `N`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Estimate `f^e(t)` from `n_mc` draws `x ~ P^e_t` (ChaCha8 stream `k` of `seed` for draw `k`).
    ///
    /// Uses the exact simplification `f^e = ½ + (1/N) E[ln Σ_μ exp(-|x - a_μ e^{-t}|² / (2Δ_t))]`
    /// (the `α` and `ln 2πΔ_t` terms cancel), with a log-sum-exp over all `P` points.
    /// Errors: `t <= 0`, `n_mc < 2`.
    pub fn excess_entropy(&self, t: f64, n_mc: usize, seed: u64) -> Result<ExcessEntropy> {
        let t = error::time_in("t", t, f64::MIN_POSITIVE, f64::MAX)?;
        error::at_least("n_mc", n_mc, 2)?;
        let (pn, nd) = (self.n_points, self.dim);
        let e_t = (-t).exp();
        let delta = -(-2.0 * t).exp_m1();
        let sd = delta.sqrt();
        let vals: Vec<f64> = (0..n_mc)
            .into_par_iter()
            .map_init(
                || (vec![0.0; nd], vec![0.0; pn]),
                |(x, e), k| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(k as u64);
                    let mu = rng.random_range(0..pn);
                    let a = &self.points[mu * nd..(mu + 1) * nd];
                    for (xj, aj) in x.iter_mut().zip(a) {
                        *xj = aj * e_t + sd * rng.sample::<f64, _>(StandardNormal);
                    }
                    let mut top = f64::NEG_INFINITY;
                    for (nu, ev) in e.iter_mut().enumerate() {
                        let b = &self.points[nu * nd..(nu + 1) * nd];
                        let d2: f64 = x
                            .iter()
                            .zip(b)
                            .map(|(xj, bj)| (xj - bj * e_t).powi(2))
                            .sum();
                        *ev = -d2 / (2.0 * delta);
                        top = top.max(*ev);
                    }
                    let lse = top + e.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
                    0.5 + lse / nd as f64
                },
            )
            .collect();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Ok(ExcessEntropy {
            t,
            f_e: mean,
            f_e_se: (var / n).sqrt(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_time_formula_and_errors() {
        // P^{2/N} = e^{2α}; α = 0.2, σ² = 1: t_C = ½ ln(1 + 1/(e^{0.4} - 1))
        let n = 30.0;
        let p = (0.2f64 * n).exp();
        let tc = collapse_time(p, n, 1.0).unwrap();
        assert!((tc - 0.5 * (1.0 + 1.0 / (0.4f64.exp() - 1.0)).ln()).abs() < 1e-12);
        // theory curve vanishes exactly at t_C
        assert!(excess_entropy_theory(0.2, 1.0, tc).unwrap().abs() < 1e-12);
        assert!(excess_entropy_theory(0.2, 1.0, 0.9 * tc).unwrap() == 0.0);
        assert!(excess_entropy_theory(0.2, 1.0, 1.5 * tc).unwrap() > 0.0);
        assert!(matches!(
            collapse_time(1.0, 10.0, 1.0),
            Err(ThermoError::OutOfRange { .. })
        ));
        assert!(matches!(
            collapse_time(10.0, 10.0, 0.0),
            Err(ThermoError::NonPositiveVariance { .. })
        ));
        assert!(matches!(
            excess_entropy_theory(0.2, 1.0, 0.0),
            Err(ThermoError::TimeOutOfRange { .. })
        ));
        let ts = TrainingSet::gaussian(4, 3, 1.0, 1).unwrap();
        assert!(matches!(
            ts.excess_entropy(-1.0, 10, 0),
            Err(ThermoError::TimeOutOfRange { .. })
        ));
    }

    /// Finite N: f^e tracks the large-N theory well above t_C and is ≈ 0 well below.
    #[test]
    fn excess_entropy_estimator_vs_theory() {
        let (n_dim, alpha) = (40usize, 0.2f64);
        let p = (alpha * n_dim as f64).exp().round() as usize; // 2981
        let ts = TrainingSet::gaussian(p, n_dim, 1.0, 3).unwrap();
        let tc = collapse_time(p as f64, n_dim as f64, 1.0).unwrap();
        let lo = ts.excess_entropy(0.4 * tc, 200, 1).unwrap();
        assert!(lo.f_e.abs() < 0.01, "{lo:?}");
        let hi = ts.excess_entropy(3.0 * tc, 200, 1).unwrap();
        let th = excess_entropy_theory(ts.alpha(), 1.0, 3.0 * tc).unwrap();
        assert!((hi.f_e - th).abs() < 0.1 * th, "{hi:?} vs {th}");
    }
}
