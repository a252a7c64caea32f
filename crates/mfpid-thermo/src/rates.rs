//! Ensemble entropy rates `Π`, `Φ`, `dS/dt` for a 1-D Langevin system `dx = F(x, t) dt + sqrt(2D) dW`.
//!
//! With the current velocity `ν = F - D ∂_x ln p`:
//! entropy production `Π = ⟨ν²⟩ / D`, entropy flow into the medium `Φ = ⟨F ν⟩ / D = (⟨F²⟩ + D⟨F'⟩) / D`,
//! and `dS/dt = Π - Φ` (Seifert conventions, k_B T = 1; the spec's `D = 1`).
//!
//! Three routes give these numbers: the closed forms of [`crate::TwoCluster`], a density on a
//! uniform grid ([`rates_on_grid`], e.g. a Fokker-Planck solution), and samples with a kernel density
//! estimate of the score ([`rates_from_samples`]).

use crate::error::{self, Result, ThermoError};
use serde::{Deserialize, Serialize};

/// Entropy rates at one time: mfpid-pde's [`mfpid_pde::EntropyRates`] (`Π`, `Φ`, `dS/dt`).
pub use mfpid_pde::EntropyRates;

/// Rates with error estimates (one standard error for statistical parts plus a discretisation / bias
/// estimate), as returned by the generic estimators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatesEstimate {
    /// Point estimate.
    pub rates: EntropyRates,
    /// Error estimate of `Π` (absolute).
    pub pi_err: f64,
    /// Error estimate of `Φ` (absolute).
    pub phi_err: f64,
    /// Error estimate of `dS/dt` (absolute).
    pub ds_dt_err: f64,
}

fn check_uniform(x: &[f64]) -> Result<f64> {
    if x.len() < 5 {
        return Err(ThermoError::TooFew {
            name: "x",
            got: x.len(),
            min: 5,
        });
    }
    error::all_finite("x", x)?;
    let h = (x[x.len() - 1] - x[0]) / (x.len() - 1) as f64;
    if h <= 0.0 {
        return Err(ThermoError::OutOfRange {
            what: "x",
            value: h,
            reason: "grid must be increasing",
        });
    }
    for w in x.windows(2) {
        if ((w[1] - w[0]) - h).abs() > 1e-6 * h {
            return Err(ThermoError::OutOfRange {
                what: "x",
                value: w[1] - w[0],
                reason: "grid must be uniform",
            });
        }
    }
    Ok(h)
}

/// Rates on a grid with spacing `stride * h`, using every `stride`-th point (second-order stencils).
fn grid_pass(
    p: &[f64],
    f: &[f64],
    f_dx: Option<&[f64]>,
    h: f64,
    diffusion: f64,
    stride: usize,
) -> (f64, f64, f64) {
    let idx: Vec<usize> = (0..p.len()).step_by(stride).collect();
    let n = idx.len();
    let hs = h * stride as f64;
    let pmax = p.iter().cloned().fold(0.0, f64::max);
    let floor = 1e-13 * pmax;
    let (mut mass, mut pi, mut phi) = (0.0, 0.0, 0.0);
    for k in 0..n {
        let i = idx[k];
        // trapezoid weight
        let w = if k == 0 || k == n - 1 { 0.5 * hs } else { hs };
        let pi_ = p[i];
        mass += w * pi_;
        // derivatives: centred inside, second-order one-sided at the ends
        let dp = if k == 0 {
            (-3.0 * p[idx[0]] + 4.0 * p[idx[1]] - p[idx[2]]) / (2.0 * hs)
        } else if k == n - 1 {
            (3.0 * p[idx[n - 1]] - 4.0 * p[idx[n - 2]] + p[idx[n - 3]]) / (2.0 * hs)
        } else {
            (p[idx[k + 1]] - p[idx[k - 1]]) / (2.0 * hs)
        };
        let df = match f_dx {
            Some(g) => g[i],
            None if k == 0 => (-3.0 * f[idx[0]] + 4.0 * f[idx[1]] - f[idx[2]]) / (2.0 * hs),
            None if k == n - 1 => {
                (3.0 * f[idx[n - 1]] - 4.0 * f[idx[n - 2]] + f[idx[n - 3]]) / (2.0 * hs)
            }
            None => (f[idx[k + 1]] - f[idx[k - 1]]) / (2.0 * hs),
        };
        // Φ density: (F² p + D F' p) / D
        phi += w * (f[i] * f[i] + diffusion * df) * pi_ / diffusion;
        // Π density: (F p - D p')² / (D p), where p is not negligible
        if pi_ > floor {
            let j = f[i] * pi_ - diffusion * dp;
            pi += w * j * j / (diffusion * pi_);
        }
    }
    (mass, pi / mass, phi / mass)
}

/// Generic rates from a density `p` tabulated on the uniform grid `x` with the drift `F` (and
/// optionally its derivative `F'`; otherwise by finite differences) on the same grid.
///
/// `p` need not be normalised (it is divided by its trapezoid mass); round-off negatives down to
/// `-1e-10 max p` are set to zero, larger negative values are an error. The grid must cover the
/// density's support (tails below 1e-13 of the peak are dropped from Π). Derivatives are centred
/// second-order differences, integrals trapezoidal; the error estimate is the Richardson estimate
/// `|I_h - I_{2h}| / 3` from a second pass on every other point. Needs at least 5 points.
pub fn rates_on_grid(
    x: &[f64],
    p: &[f64],
    f: &[f64],
    f_dx: Option<&[f64]>,
    diffusion: f64,
) -> Result<RatesEstimate> {
    let h = check_uniform(x)?;
    error::positive("diffusion", diffusion)?;
    for (name, arr) in [("p", p), ("f", f)] {
        if arr.len() != x.len() {
            return Err(ThermoError::DimensionMismatch {
                what: name,
                found: arr.len(),
                expected: x.len(),
            });
        }
        error::all_finite(name, arr)?;
    }
    if let Some(g) = f_dx {
        if g.len() != x.len() {
            return Err(ThermoError::DimensionMismatch {
                what: "f_dx",
                found: g.len(),
                expected: x.len(),
            });
        }
        error::all_finite("f_dx", g)?;
    }
    // solvers may leave round-off negatives in the far tails: tolerate |p| <= 1e-10 max p (set to 0)
    let pmax = p.iter().cloned().fold(0.0, f64::max);
    if let Some(i) = p.iter().position(|&v| v < -1e-10 * pmax) {
        return Err(ThermoError::OutOfRange {
            what: "p",
            value: p[i],
            reason: "density must be >= 0",
        });
    }
    let clamped: Vec<f64>;
    let p = if p.iter().any(|&v| v < 0.0) {
        clamped = p.iter().map(|&v| v.max(0.0)).collect();
        &clamped[..]
    } else {
        p
    };
    let (mass, pi1, phi1) = grid_pass(p, f, f_dx, h, diffusion, 1);
    if mass.is_nan() || mass <= 0.0 {
        return Err(ThermoError::OutOfRange {
            what: "p",
            value: mass,
            reason: "density has zero mass",
        });
    }
    let (_, pi2, phi2) = grid_pass(p, f, f_dx, h, diffusion, 2);
    let pi_err = (pi1 - pi2).abs() / 3.0;
    let phi_err = (phi1 - phi2).abs() / 3.0;
    let ds_err = ((pi1 - phi1) - (pi2 - phi2)).abs() / 3.0;
    Ok(RatesEstimate {
        rates: EntropyRates {
            pi: pi1,
            phi: phi1,
            ds_dt: pi1 - phi1,
        },
        pi_err,
        phi_err,
        ds_dt_err: ds_err,
    })
}

/// Leave-one-out Gaussian-KDE score at every sample with bandwidth `h`:
/// writes `out[i] = p̂'(x_i) / p̂(x_i)`. Samples must be sorted ascending.
fn kde_scores(xs: &[f64], h: f64, out: &mut [f64]) {
    // samples sorted: only neighbours within 9h matter (kernel < e^{-40})
    let n = xs.len();
    let cut = 9.0 * h;
    let inv2h2 = 1.0 / (2.0 * h * h);
    let mut lo = 0usize;
    for i in 0..n {
        let xi = xs[i];
        while xs[lo] < xi - cut {
            lo += 1;
        }
        let (mut s0, mut s1) = (0.0, 0.0);
        let mut j = lo;
        while j < n && xs[j] <= xi + cut {
            if j != i {
                let d = xs[j] - xi;
                let k = (-d * d * inv2h2).exp();
                s0 += k;
                s1 += k * d; // ∂_x of K(x - x_j) at x_i is K * (x_j - x_i) / h²
            }
            j += 1;
        }
        out[i] = if s0 > 0.0 { s1 / (s0 * h * h) } else { 0.0 };
    }
}

/// Π estimate from samples with KDE bandwidth `h`: `(1/n) Σ (F_i - D ŝ_i)² / D`.
fn pi_kde(sorted: &[(f64, f64)], h: f64, diffusion: f64, scratch: &mut Vec<f64>) -> f64 {
    let xs: Vec<f64> = sorted.iter().map(|p| p.0).collect();
    scratch.resize(xs.len(), 0.0);
    kde_scores(&xs, h, scratch);
    let n = xs.len() as f64;
    sorted
        .iter()
        .zip(scratch.iter())
        .map(|(&(_, f), &s)| (f - diffusion * s).powi(2) / diffusion)
        .sum::<f64>()
        / n
}

/// Generic rates from `n` samples `x_i ~ p_t` of a 1-D process with drift `drift(x) = (F(x), F'(x))`.
///
/// `Φ = mean(F² + D F') / D` needs no density. `Π` uses a leave-one-out Gaussian kernel density
/// estimate of the score with bandwidth `h = bandwidth` (or Silverman's rule `0.9 min(sd, IQR/1.34)
/// n^{-1/5}` when `None`), bias-corrected by Richardson extrapolation over `h` and `h/√2`
/// (`Π ≈ 2 Π(h/√2) - Π(h)`, the KDE bias being `O(h²)`).
/// Errors: `phi_err` is one standard error; `pi_err` is one standard error (from the spread over 8
/// disjoint sub-samples, scaled by 1/√8) plus the size of the Richardson correction as a bias bound.
/// Needs at least 64 samples.
pub fn rates_from_samples<F>(
    samples: &[f64],
    drift: F,
    diffusion: f64,
    bandwidth: Option<f64>,
) -> Result<RatesEstimate>
where
    F: Fn(f64) -> (f64, f64),
{
    let n = samples.len();
    error::at_least("samples", n, 64)?;
    error::all_finite("samples", samples)?;
    error::positive("diffusion", diffusion)?;
    let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(n);
    let (mut phi_s, mut phi_s2) = (0.0, 0.0);
    for &x in samples {
        let (f, df) = drift(x);
        if !(f.is_finite() && df.is_finite()) {
            return Err(ThermoError::NonFinite {
                name: "drift",
                index: pairs.len(),
            });
        }
        let c = (f * f + diffusion * df) / diffusion;
        phi_s += c;
        phi_s2 += c * c;
        pairs.push((x, f));
    }
    let nf = n as f64;
    let phi = phi_s / nf;
    let phi_err = ((phi_s2 / nf - phi * phi).max(0.0) / (nf - 1.0)).sqrt();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let h = match bandwidth {
        Some(h) => error::positive("bandwidth", h)?,
        None => {
            let mean = samples.iter().sum::<f64>() / nf;
            let sd = (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt();
            let iqr = pairs[(3 * n) / 4].0 - pairs[n / 4].0;
            let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
            error::positive("bandwidth (Silverman)", 0.9 * spread * nf.powf(-0.2))?
        }
    };
    let mut scratch = Vec::new();
    let h2 = h / std::f64::consts::SQRT_2;
    let pi_h = pi_kde(&pairs, h, diffusion, &mut scratch);
    let pi_h2 = pi_kde(&pairs, h2, diffusion, &mut scratch);
    let pi = 2.0 * pi_h2 - pi_h;
    // statistical error from 8 disjoint interleaved sub-samples (same bandwidths, same extrapolation)
    const GROUPS: usize = 8;
    let mut sub = Vec::with_capacity(GROUPS);
    for g in 0..GROUPS {
        let part: Vec<(f64, f64)> = pairs.iter().skip(g).step_by(GROUPS).cloned().collect();
        let a = pi_kde(&part, h, diffusion, &mut scratch);
        let b = pi_kde(&part, h2, diffusion, &mut scratch);
        sub.push(2.0 * b - a);
    }
    let gm = sub.iter().sum::<f64>() / GROUPS as f64;
    let gsd = (sub.iter().map(|v| (v - gm).powi(2)).sum::<f64>() / (GROUPS - 1) as f64).sqrt();
    // sub-sample estimators have GROUPS times fewer points; the full estimate's SE ~ gsd / sqrt(GROUPS)
    let pi_se = gsd / (GROUPS as f64).sqrt();
    let pi_err = pi_se + (pi_h2 - pi_h).abs();
    Ok(RatesEstimate {
        rates: EntropyRates {
            pi,
            phi,
            ds_dt: pi - phi,
        },
        pi_err,
        phi_err,
        ds_dt_err: pi_err + phi_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TwoCluster;
    use rand::SeedableRng;

    #[test]
    fn grid_rates_match_closed_form() {
        let model = TwoCluster::new(1.0, 0.1).unwrap();
        let n = 1601;
        let x: Vec<f64> = (0..n)
            .map(|i| -8.0 + 16.0 * i as f64 / (n - 1) as f64)
            .collect();
        for &t in &[0.02, 0.2, 0.8, 2.0] {
            let m = model.marginal(t).unwrap();
            let p: Vec<f64> = x.iter().map(|&y| m.density(y)).collect();
            for backward in [false, true] {
                let f: Vec<f64> = x
                    .iter()
                    .map(|&y| if backward { m.backward_drift(y) } else { -y })
                    .collect();
                let est = rates_on_grid(&x, &p, &f, None, 1.0).unwrap();
                let exact = if backward {
                    model.rates_backward(t)
                } else {
                    model.rates_forward(t)
                }
                .unwrap();
                let tol_pi = 3.0 * est.pi_err + 1e-9;
                let tol_phi = 3.0 * est.phi_err + 1e-9;
                assert!(
                    (est.rates.pi - exact.pi).abs() < tol_pi,
                    "t={t} bw={backward} Π {est:?} vs {exact:?}"
                );
                assert!(
                    (est.rates.phi - exact.phi).abs() < tol_phi,
                    "t={t} bw={backward} Φ {est:?} vs {exact:?}"
                );
                // the error estimate is informative (not huge)
                assert!(est.pi_err < 1e-2 * (1.0 + exact.pi.abs()));
            }
        }
    }

    #[test]
    fn grid_bad_input() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let p = [0.1, 0.2, 0.3, 0.2, 0.1];
        assert!(matches!(
            rates_on_grid(&x, &p[..4], &p, None, 1.0),
            Err(ThermoError::DimensionMismatch { what: "p", .. })
        ));
        assert!(matches!(
            rates_on_grid(&x, &p, &p, None, 0.0),
            Err(ThermoError::NonPositiveVariance {
                name: "diffusion",
                ..
            })
        ));
        let bad = [0.0, 1.0, 2.5, 3.0, 4.0];
        assert!(matches!(
            rates_on_grid(&bad, &p, &p, None, 1.0),
            Err(ThermoError::OutOfRange { what: "x", .. })
        ));
        let neg = [0.1, -0.2, 0.3, 0.2, 0.1];
        assert!(matches!(
            rates_on_grid(&x, &neg, &p, None, 1.0),
            Err(ThermoError::OutOfRange { what: "p", .. })
        ));
    }

    #[test]
    fn sample_rates_match_closed_form() {
        let model = TwoCluster::new(1.0, 1.0).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for &t in &[0.1, 0.5, 1.5] {
            let m = model.marginal(t).unwrap();
            let xs: Vec<f64> = (0..6000).map(|_| m.sample(&mut rng)).collect();
            for backward in [false, true] {
                let est = if backward {
                    rates_from_samples(
                        &xs,
                        |x| (m.backward_drift(x), 1.0 + 2.0 * m.score_dx(x)),
                        1.0,
                        None,
                    )
                } else {
                    rates_from_samples(&xs, |x| (-x, -1.0), 1.0, None)
                }
                .unwrap();
                let exact = if backward {
                    model.rates_backward(t)
                } else {
                    model.rates_forward(t)
                }
                .unwrap();
                assert!(
                    (est.rates.pi - exact.pi).abs() < 3.0 * est.pi_err,
                    "t={t} bw={backward} Π {:?} vs {exact:?}",
                    est
                );
                assert!(
                    (est.rates.phi - exact.phi).abs() < 3.0 * est.phi_err,
                    "t={t} Φ {est:?} vs {exact:?}"
                );
            }
        }
    }
}
