//! Speciation in the sense of Biroli, Bonnaire, de Bortoli & Mézard (2024).
//!
//! - Speciation time `t_S = ½ ln Λ`, `Λ` the largest eigenvalue of the data covariance
//!   (for `½ N(+m, σ² I) + ½ N(-m, σ² I)` in `d` dimensions, `Λ = |m|² + σ²`, so `t_S ≈ ½ ln d` when
//!   `|m|² = d`).
//! - Cloning test: run the exact backward dynamics from noise, clone the trajectory at forward time
//!   `t` (independent noise afterwards) and record the fraction `φ(t)` of clone pairs ending in the
//!   same class. Theory: `φ(t) = ½ ∫ (G₊² + G₋²)/(G₊ + G₋) dx`, `G± = N(±|m| e^{-t}, Γ_t)`,
//!   `Γ_t = 1 - e^{-2t} + σ² e^{-2t}`; `φ(t_S) ≈ 0.7753` for large `d` (`σ² = 1`).

use crate::error::{self, Result, ThermoError};
use crate::quad;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// `t_S = ½ ln Λ` for the largest data-covariance eigenvalue `Λ > 0`.
pub fn biroli_speciation_time(lambda_max: f64) -> Result<f64> {
    Ok(0.5 * error::positive("lambda_max", lambda_max)?.ln())
}

/// Largest eigenvalue of the sample covariance of `n` points in `d` dimensions (`data` row-major
/// `n x d`), by power iteration on `C v = X_cᵀ (X_c v) / (n - 1)` (the `d x d` matrix is never formed).
/// Iterates until the Rayleigh quotient changes by less than `1e-12` relative (at most 10 000 steps).
pub fn top_covariance_eigenvalue(data: &[f64], n: usize, d: usize) -> Result<f64> {
    error::point_cloud("data", data, ("n", n), ("d", d))?;
    let mut mean = vec![0.0; d];
    for row in data.chunks_exact(d) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x / n as f64;
        }
    }
    // deterministic, generic start vector
    let mut v: Vec<f64> = (0..d)
        .map(|j| 1.0 + 0.5 * ((j as f64) * 0.618_033_988_75).fract())
        .collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nv = norm(&v);
    v.iter_mut().for_each(|x| *x /= nv);
    let mut w = vec![0.0; d];
    let mut lambda = 0.0;
    for _ in 0..10_000 {
        w.iter_mut().for_each(|x| *x = 0.0);
        for row in data.chunks_exact(d) {
            let proj: f64 = row
                .iter()
                .zip(&mean)
                .zip(&v)
                .map(|((x, m), vj)| (x - m) * vj)
                .sum();
            for ((wj, x), m) in w.iter_mut().zip(row).zip(&mean) {
                *wj += proj * (x - m);
            }
        }
        w.iter_mut().for_each(|x| *x /= (n - 1) as f64);
        let new_lambda: f64 = w.iter().zip(&v).map(|(a, b)| a * b).sum();
        let nw = norm(&w);
        if nw == 0.0 {
            return Ok(0.0);
        }
        for (vj, wj) in v.iter_mut().zip(&w) {
            *vj = wj / nw;
        }
        if (new_lambda - lambda).abs() <= 1e-12 * new_lambda.abs() {
            return Ok(new_lambda);
        }
        lambda = new_lambda;
    }
    Ok(lambda)
}

/// Theoretical cloning curve `φ(t) = ½ ∫ (G₊² + G₋²)/(G₊ + G₋) dx` with `G± = N(±m_norm e^{-t}, Γ_t)`.
///
/// Computed as `E_{x ~ N(a, Γ)}[1 / (1 + e^{-2 a x / Γ})]`, `a = m_norm e^{-t}` (equal by symmetry),
/// by adaptive quadrature (absolute error < 1e-12). Errors: `sigma2 <= 0`, `t < 0`.
pub fn cloning_phi_theory(m_norm: f64, sigma2: f64, t: f64) -> Result<f64> {
    error::finite("m_norm", m_norm)?;
    error::positive("sigma2", sigma2)?;
    let t = error::time_in("t", t, 0.0, f64::MAX)?;
    let a = m_norm.abs() * (-t).exp();
    let e2 = (-2.0 * t).exp();
    let gamma = (1.0 - e2) + sigma2 * e2;
    if a == 0.0 {
        return Ok(0.5);
    }
    let k = 2.0 * a / gamma;
    Ok(quad::gaussian_expectation(|x| 1.0 / (1.0 + (-k * x).exp()), a, gamma, 1e-13)?.value)
}

/// Configuration of a cloning experiment on `½ N(+m, σ² I) + ½ N(-m, σ² I)` in `d` dimensions with
/// `m = (1, ..., 1)` (`|m|² = d`), run with the exact score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloningConfig {
    /// Dimension `d >= 1`.
    pub d: usize,
    /// Cluster variance σ² > 0.
    pub sigma2: f64,
    /// Forward times at which trajectories are cloned (any order, each > 0).
    pub clone_times: Vec<f64>,
    /// Number of independent generative trajectories (each is cloned once at every clone time).
    pub n_samples: usize,
    /// Euler-Maruyama step of the backward dynamics (forward-time units).
    pub dt: f64,
    /// Seed: sample `i` uses ChaCha8 stream `i` of this seed, its clone at time index `k` stream
    /// `n_samples * (k + 1) + i`; results do not depend on the thread count.
    pub seed: u64,
}

/// One point of a measured cloning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CloningPoint {
    /// Forward time of the split.
    pub t: f64,
    /// Fraction of clone pairs ending in the same class.
    pub phi: f64,
    /// Binomial standard error `sqrt(φ(1-φ)/n)`.
    pub phi_se: f64,
    /// Theory `φ(t)`.
    pub phi_theory: f64,
}

/// Exact backward drift of the d-dimensional two-cluster model at forward time `t`, written into `out`:
/// `x + 2 s`, `s = (m_t tanh(m_t·x / v_t) - x) / v_t`, `m_t = e^{-t} (1,...,1)`.
#[inline]
fn backward_drift_hd(x: &[f64], e_t: f64, v: f64, out: &mut [f64]) {
    // m_t·x = e^{-t} Σ x_j
    let proj: f64 = e_t * x.iter().sum::<f64>();
    let th = (proj / v).tanh();
    let c = 2.0 * e_t * th / v; // 2 m_t tanh / v, per coordinate
    let lin = 1.0 - 2.0 / v; // x + 2(-x/v)
    for (o, xi) in out.iter_mut().zip(x) {
        *o = lin * xi + c;
    }
}

/// Integrate the backward SDE (EM, step ≈ `dt`) from forward time `t_from` down to `t_to`.
fn backward_path(
    x: &mut [f64],
    t_from: f64,
    t_to: f64,
    dt: f64,
    sigma2: f64,
    rng: &mut ChaCha8Rng,
    f: &mut [f64],
) {
    if t_from <= t_to {
        return;
    }
    let steps = ((t_from - t_to) / dt).ceil().max(1.0) as usize;
    let h = (t_from - t_to) / steps as f64;
    let sq = (2.0 * h).sqrt();
    for k in 0..steps {
        let t = t_from - k as f64 * h;
        // time-only work hoisted out of the coordinate loop
        let e_t = (-t).exp();
        let e2 = e_t * e_t;
        let v = (1.0 - e2) + sigma2 * e2;
        backward_drift_hd(x, e_t, v, f);
        for (xi, fi) in x.iter_mut().zip(f.iter()) {
            let z: f64 = rng.sample(StandardNormal);
            *xi += fi * h + sq * z;
        }
    }
}

/// Run the cloning experiment. Returns one point per clone time (sorted by t, descending in
/// generative order = ascending here).
pub fn cloning_curve(cfg: &CloningConfig) -> Result<Vec<CloningPoint>> {
    if cfg.d == 0 {
        return Err(ThermoError::TooFew {
            name: "d",
            got: 0,
            min: 1,
        });
    }
    error::at_least("n_samples", cfg.n_samples, 2)?;
    if cfg.clone_times.is_empty() {
        return Err(ThermoError::TooFew {
            name: "clone_times",
            got: 0,
            min: 1,
        });
    }
    error::positive("sigma2", cfg.sigma2)?;
    error::positive("dt", cfg.dt)?;
    let mut times = cfg.clone_times.clone();
    for &t in &times {
        error::time_in("clone_times", t, f64::MIN_POSITIVE, f64::MAX)?;
    }
    times.sort_by(|a, b| b.total_cmp(a)); // generative order: largest forward time first
    let (d, s2, n) = (cfg.d, cfg.sigma2, cfg.n_samples);
    let t_start = times[0];
    // same-class indicator per (sample, clone time)
    let same: Vec<Vec<bool>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
            rng.set_stream(i as u64);
            // exact start x_T ~ p_T: ±m e^{-T} + sqrt(v_T) z
            let e_t = (-t_start).exp();
            let v_t = (1.0 - e_t * e_t) + s2 * e_t * e_t;
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let mut x: Vec<f64> = (0..d)
                .map(|_| sign * e_t + v_t.sqrt() * rng.sample::<f64, _>(StandardNormal))
                .collect();
            let mut f = vec![0.0; d];
            let mut clone = vec![0.0; d];
            let mut out = Vec::with_capacity(times.len());
            let mut clone_classes = Vec::with_capacity(times.len());
            for (k, &tk) in times.iter().enumerate() {
                let t_prev = if k == 0 { t_start } else { times[k - 1] };
                backward_path(&mut x, t_prev, tk, cfg.dt, s2, &mut rng, &mut f);
                clone.copy_from_slice(&x);
                let mut crng = ChaCha8Rng::seed_from_u64(cfg.seed);
                crng.set_stream((n * (k + 1) + i) as u64);
                backward_path(&mut clone, tk, 0.0, cfg.dt, s2, &mut crng, &mut f);
                clone_classes.push(clone.iter().sum::<f64>() > 0.0);
            }
            backward_path(
                &mut x,
                *times.last().unwrap_or(&0.0),
                0.0,
                cfg.dt,
                s2,
                &mut rng,
                &mut f,
            );
            let class = x.iter().sum::<f64>() > 0.0;
            for c in clone_classes {
                out.push(c == class);
            }
            out
        })
        .collect();
    let m_norm = (d as f64).sqrt();
    let mut pts = Vec::with_capacity(times.len());
    for (k, &t) in times.iter().enumerate() {
        let hits = same.iter().filter(|s| s[k]).count();
        let phi = hits as f64 / n as f64;
        pts.push(CloningPoint {
            t,
            phi,
            phi_se: (phi * (1.0 - phi) / n as f64).sqrt(),
            phi_theory: cloning_phi_theory(m_norm, s2, t)?,
        });
    }
    pts.reverse();
    Ok(pts)
}

/// Time at which a curve `(t_k, φ_k)` (ascending `t`, φ decreasing) first crosses `level`, by linear
/// interpolation; [`ThermoError::NoCrossing`] when it does not cross.
pub fn crossing_time(ts: &[f64], phis: &[f64], level: f64) -> Result<f64> {
    if ts.len() != phis.len() {
        return Err(ThermoError::DimensionMismatch {
            what: "phis",
            found: phis.len(),
            expected: ts.len(),
        });
    }
    for k in 1..ts.len() {
        let (a, b) = (phis[k - 1] - level, phis[k] - level);
        if a >= 0.0 && b < 0.0 || a <= 0.0 && b > 0.0 {
            return Ok(ts[k - 1] + (ts[k] - ts[k - 1]) * a / (a - b));
        }
    }
    Err(ThermoError::NoCrossing {
        name: "phi",
        lo: ts.first().copied().unwrap_or(f64::NAN),
        hi: ts.last().copied().unwrap_or(f64::NAN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_theory_at_speciation_time() {
        // large-d limit: a = 1, Γ = 1 (σ² = 1 at t_S)
        let phi_inf =
            quad::gaussian_expectation(|x| 1.0 / (1.0 + (-2.0 * x).exp()), 1.0, 1.0, 1e-13)
                .unwrap()
                .value;
        // independent composite-Simpson evaluation of ½∫(G₊²+G₋²)/(G₊+G₋) at a = Γ = 1 gives
        // 0.77520024539665; the spec's "≈ 0.7753" is 1e-4 above it.
        assert!((phi_inf - 0.775_200_245_396_65).abs() < 1e-10, "{phi_inf}");
        assert!((phi_inf - 0.7753).abs() < 2e-4, "{phi_inf}");
        for &d in &[256usize, 1024, 4096, 1 << 20] {
            let ts = biroli_speciation_time(d as f64 + 1.0).unwrap();
            let phi = cloning_phi_theory((d as f64).sqrt(), 1.0, ts).unwrap();
            assert!((phi - 0.7753).abs() < 2e-3, "d={d}: {phi}");
        }
        // the direct formula ½∫(G₊²+G₋²)/(G₊+G₋) agrees with the logistic form
        let (a, g) = (0.8f64, 1.3f64);
        let gauss = |x: f64, m: f64| {
            (-(x - m).powi(2) / (2.0 * g)).exp() / (2.0 * std::f64::consts::PI * g).sqrt()
        };
        let direct = quad::integrate(
            |x| {
                let (p, q) = (gauss(x, a), gauss(x, -a));
                if p + q > 0.0 {
                    0.5 * (p * p + q * q) / (p + q)
                } else {
                    0.0
                }
            },
            -20.0,
            20.0,
            1e-13,
            0.0,
        )
        .unwrap()
        .value;
        // a = m e^{-t}, Γ = 1 - e^{-2t} + σ² e^{-2t}: pick t = 0.5 and solve for m, σ²
        let t = 0.5f64;
        let m = a / (-t).exp();
        let s2 = (g - 1.0 + (-2.0 * t).exp()) / (-2.0 * t).exp();
        assert!((cloning_phi_theory(m, s2, t).unwrap() - direct).abs() < 1e-11);
        assert!(matches!(
            cloning_phi_theory(1.0, 0.0, 1.0),
            Err(ThermoError::NonPositiveVariance { .. })
        ));
        assert!(matches!(
            cloning_phi_theory(1.0, 1.0, -1.0),
            Err(ThermoError::TimeOutOfRange { .. })
        ));
        assert!(matches!(
            biroli_speciation_time(-1.0),
            Err(ThermoError::NonPositiveVariance { .. })
        ));
    }

    #[test]
    fn top_eigenvalue_of_mixture_covariance() {
        // d = 64, |m|² = d, σ² = 1: Λ = d + 1 (population); sample estimate within a few %
        let (n, d) = (4000usize, 64usize);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
            for _ in 0..d {
                data.push(s + rng.sample::<f64, _>(StandardNormal));
            }
        }
        let lam = top_covariance_eigenvalue(&data, n, d).unwrap();
        assert!((lam - 65.0).abs() < 0.05 * 65.0, "{lam}");
        assert!(matches!(
            top_covariance_eigenvalue(&data, n, d + 1),
            Err(ThermoError::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn small_cloning_curve_tracks_theory() {
        let d = 64;
        let ts = biroli_speciation_time(d as f64 + 1.0).unwrap();
        let cfg = CloningConfig {
            d,
            sigma2: 1.0,
            clone_times: vec![0.5 * ts, ts, 1.5 * ts],
            n_samples: 400,
            dt: 0.02,
            seed: 9,
        };
        let pts = cloning_curve(&cfg).unwrap();
        for p in &pts {
            assert!(
                (p.phi - p.phi_theory).abs() < 4.0 * p.phi_se + 0.02,
                "{p:?}"
            );
        }
        assert!(pts[0].phi > pts[2].phi);
    }
}
