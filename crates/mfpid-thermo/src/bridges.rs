//! Thermodynamics of the project's own samplers: path-integral diffusion bridges (`mfpid-bridge`).
//!
//! A bridge `dx = u*(t, x) dt + dW` on `[0, 1]` is a Langevin system with `D = ½`. For a
//! Gaussian-mixture target its marginal `p*_t` is known in closed form, so the rates
//! `Π(t) = ⟨|u - ½∇ln p*|²⟩ / ½`, `Φ(t) = (⟨|u|²⟩ + ½⟨∇·u⟩) / ½` follow from [`crate::rates_on_grid`]
//! (one dimension). Mean-field (MF-PID, quadratic interaction) and independent-agent bridges differ
//! only by the protocol centres: by the linear-interpolant theorem the self-consistent MF centre is
//! `ν_t = (1 - t) m̄_in + t m̄_tar` ([`mean_field_centres`]); independent agents use `ν = 0`.
//!
//! Commitment ("speciation") of a bridge to one target component: `φ(t)` = probability that two
//! copies split at `t` end in the same component, in theory `∫ Σ_k (π_k N_k(x))² / p*_t(x) dx` over
//! the marginal's components ([`commitment_theory_1d`]) and measured by cloning runs on the
//! `mfpid-sde` runner ([`commitment_cloning_1d`]).

use crate::error::{self, Result, ThermoError};
use crate::rates::{rates_on_grid, RatesEstimate};
use crate::speciation::CloningPoint;
use mfpid_bridge::{Bridge, Covariance, GaussianMixture, Protocol};
use mfpid_sde::{Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use rayon::prelude::*;

/// Diffusion coefficient of a unit-noise bridge `dx = u dt + dW`: `D = ½`.
pub const BRIDGE_DIFFUSION: f64 = 0.5;

/// Mean-field centres `ν_i = (1 - t_i) m̄_in + t_i m̄_tar` at the piece midpoints `t_i` of `protocol`
/// (row-major `pieces x d`), the self-consistent MF-PID centre for a quadratic interaction
/// ([`mfpid_bridge::interpolant_centres`] after checking the means against the protocol's `d`).
pub fn mean_field_centres(protocol: &Protocol, m_in: &[f64], m_tar: &[f64]) -> Result<Vec<f64>> {
    let d = protocol.dim();
    for (name, v) in [("m_in", m_in), ("m_tar", m_tar)] {
        if v.len() != d {
            return Err(ThermoError::DimensionMismatch {
                what: name,
                found: v.len(),
                expected: d,
            });
        }
        error::all_finite(name, v)?;
    }
    Ok(mfpid_bridge::interpolant_centres(
        protocol.breaks(),
        m_in,
        m_tar,
    )?)
}

fn check_1d(bridge: &Bridge<GaussianMixture>) -> Result<()> {
    if bridge.dim() != 1 {
        return Err(ThermoError::DimensionMismatch {
            what: "bridge dimension",
            found: bridge.dim(),
            expected: 1,
        });
    }
    Ok(())
}

fn uniform_grid(lo: f64, hi: f64, n: usize) -> Result<Vec<f64>> {
    error::finite("lo", lo)?;
    error::finite("hi", hi)?;
    if hi <= lo {
        return Err(ThermoError::OutOfRange {
            what: "hi",
            value: hi,
            reason: "must exceed lo",
        });
    }
    if n < 5 {
        return Err(ThermoError::TooFew {
            name: "grid points",
            got: n,
            min: 5,
        });
    }
    Ok((0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect())
}

/// Entropy rates of a 1-D bridge with a Gaussian-mixture target at each of `times`, from the
/// analytic marginal and the bridge drift on the uniform grid `lo..hi` with `n` points (`D = ½`).
///
/// Times must lie in `[eps, 1 - eps]` of the bridge (where its drift is not clamped).
pub fn bridge_rates_1d(
    bridge: &mut Bridge<GaussianMixture>,
    times: &[f64],
    lo: f64,
    hi: f64,
    n: usize,
) -> Result<Vec<RatesEstimate>> {
    check_1d(bridge)?;
    let x = uniform_grid(lo, hi, n)?;
    let (tmin, tmax) = (bridge.eps(), 1.0 - bridge.eps());
    let mut work = vec![0.0; bridge.work_len()];
    let mut out = Vec::with_capacity(times.len());
    let (mut p, mut f) = (vec![0.0; n], vec![0.0; n]);
    for &t in times {
        error::time_in("t", t, tmin, tmax)?;
        let marg = bridge.marginal(t)?;
        bridge.prepare_time(t)?;
        for (i, &xi) in x.iter().enumerate() {
            p[i] = marg.log_pdf(&[xi])?.exp();
            let mut u = [0.0];
            bridge.drift_one(&[xi], 0, &mut u, &mut work);
            f[i] = u[0];
        }
        out.push(rates_on_grid(&x, &p, &f, None, BRIDGE_DIFFUSION)?);
    }
    Ok(out)
}

/// Theoretical commitment curve of a 1-D bridge: `φ(t) = ∫ Σ_k (π_k N_k(x))² / p*_t(x) dx`, the
/// probability that two independent continuations from `x_t ~ p*_t` end in the same target
/// component (trapezoid rule on `lo..hi` with `n` points; `t` in `(0, 1]`).
pub fn commitment_theory_1d(
    bridge: &Bridge<GaussianMixture>,
    times: &[f64],
    lo: f64,
    hi: f64,
    n: usize,
) -> Result<Vec<f64>> {
    check_1d(bridge)?;
    let x = uniform_grid(lo, hi, n)?;
    let h = x[1] - x[0];
    times
        .iter()
        .map(|&t| {
            error::time_in("t", t, f64::MIN_POSITIVE, 1.0)?;
            let marg = bridge.marginal(t)?;
            let w = marg.weights();
            let vars = match marg.covariance_spec() {
                Covariance::Isotropic(s) | Covariance::Diagonal(s) => s.clone(),
                Covariance::Full(s) => s.clone(),
            };
            let means = marg.means();
            let mut acc = 0.0;
            for (i, &xi) in x.iter().enumerate() {
                let (mut s1, mut s2) = (0.0, 0.0);
                for k in 0..w.len() {
                    let g = w[k] * (-(xi - means[k]).powi(2) / (2.0 * vars[k])).exp()
                        / (2.0 * std::f64::consts::PI * vars[k]).sqrt();
                    s1 += g;
                    s2 += g * g;
                }
                let wt = if i == 0 || i == n - 1 { 0.5 } else { 1.0 };
                if s1 > 0.0 {
                    acc += wt * s2 / s1;
                }
            }
            Ok(acc * h)
        })
        .collect()
}

/// Measured commitment curve of a 1-D bridge by cloning: for each split time `t_k`, `n_particles`
/// paths run from the bridge start to `t_k`, are copied, and both copies continue to `t = 1` with
/// independent noise (Euler-Maruyama on a break-aligned grid with about `n_steps` steps on [0, 1]);
/// `φ(t_k)` is the fraction of pairs ending on the same side of `threshold` (choose it between
/// well-separated target components). Seeds: `(seed, k, 0)` for the shared part, `(seed, k, 1|2)`
/// for the continuations, so runs are reproducible and thread-count independent.
pub fn commitment_cloning_1d(
    bridge: &mut Bridge<GaussianMixture>,
    times: &[f64],
    n_particles: usize,
    n_steps: usize,
    threshold: f64,
    seed: u64,
) -> Result<Vec<CloningPoint>> {
    check_1d(bridge)?;
    error::at_least("n_particles", n_particles, 2)?;
    error::at_least("n_steps", n_steps, 2)?;
    error::finite("threshold", threshold)?;
    let breaks = bridge.protocol().breaks().to_vec();
    let noise = Noise::Scalar(1.0);
    let theory = commitment_theory_1d(bridge, times, -12.0 + threshold, 12.0 + threshold, 4001)?;
    let mut pts = Vec::with_capacity(times.len());
    for (k, &tk) in times.iter().enumerate() {
        error::time_in("t", tk, f64::MIN_POSITIVE, 1.0 - 1e-9)?;
        let sub = |s: u64| {
            seed.wrapping_mul(0x9e37_79b9)
                .wrapping_add(1000 * k as u64 + s)
        };
        let n1 = ((tk * n_steps as f64).round() as usize).max(1);
        let n2 = (((1.0 - tk) * n_steps as f64).round() as usize).max(1);
        let mut ens = Ensemble::filled(n_particles, &[0.0])?;
        let g1 = TimeGrid::aligned(0.0, tk, &breaks, n1)?;
        mfpid_sde::run(
            bridge,
            &noise,
            &g1,
            &mut ens,
            &RunConfig::new(Scheme::EulerMaruyama, sub(0)),
            &mut [],
        )?;
        let g2 = TimeGrid::aligned(tk, 1.0, &breaks, n2)?;
        let mut a = ens.clone();
        let mut b = ens;
        mfpid_sde::run(
            bridge,
            &noise,
            &g2,
            &mut a,
            &RunConfig::new(Scheme::EulerMaruyama, sub(1)),
            &mut [],
        )?;
        mfpid_sde::run(
            bridge,
            &noise,
            &g2,
            &mut b,
            &RunConfig::new(Scheme::EulerMaruyama, sub(2)),
            &mut [],
        )?;
        let same = a
            .as_slice()
            .par_iter()
            .zip(b.as_slice().par_iter())
            .filter(|(x, y)| (**x > threshold) == (**y > threshold))
            .count();
        let phi = same as f64 / n_particles as f64;
        pts.push(CloningPoint {
            t: tk,
            phi,
            phi_se: (phi * (1.0 - phi) / n_particles as f64).sqrt(),
            phi_theory: theory[k],
        });
    }
    Ok(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> GaussianMixture {
        GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![-1.5, 1.5], vec![0.0625, 0.0625])
            .unwrap()
    }

    #[test]
    fn mean_field_centres_are_the_interpolant() {
        let p = Protocol::geometric(1, 12.0, 0.65, 4).unwrap();
        let nu = mean_field_centres(&p, &[0.0], &[2.0]).unwrap();
        assert_eq!(nu.len(), 4);
        for (i, v) in nu.iter().enumerate() {
            assert!((v - 2.0 * (i as f64 + 0.5) / 4.0).abs() < 1e-15);
        }
        assert!(matches!(
            mean_field_centres(&p, &[0.0, 1.0], &[2.0]),
            Err(ThermoError::DimensionMismatch { .. })
        ));
    }

    /// Grid rates of a bridge are consistent: dS/dt from the rates equals the time derivative of the
    /// marginal's entropy (computed on the same grid), and Π >= 0.
    #[test]
    fn bridge_rates_match_entropy_derivative() {
        let protocol = Protocol::geometric(1, 12.0, 0.65, 8).unwrap();
        let mut bridge = Bridge::new(&protocol, target()).unwrap();
        let entropy = |b: &Bridge<GaussianMixture>, t: f64| {
            let m = b.marginal(t).unwrap();
            let n = 8001;
            let h = 16.0 / (n - 1) as f64;
            (0..n)
                .map(|i| {
                    let lp = m.log_pdf(&[-8.0 + h * i as f64]).unwrap();
                    let w = if i == 0 || i == n - 1 { 0.5 } else { 1.0 };
                    -w * lp.exp() * lp * h
                })
                .sum::<f64>()
        };
        // times inside pieces (the drift's time derivative jumps at breaks, the entropy's does not)
        for &t in &[0.2, 0.44, 0.7, 0.93] {
            let r = bridge_rates_1d(&mut bridge, &[t], -8.0, 8.0, 4001).unwrap()[0];
            let h = 1e-3;
            let e = |s: f64| entropy(&bridge, s);
            let ds =
                (e(t - 2.0 * h) - 8.0 * e(t - h) + 8.0 * e(t + h) - e(t + 2.0 * h)) / (12.0 * h);
            assert!(r.rates.pi > 0.0);
            // measured: |difference| <= 7.1e-9, stated errors 6.6e-9 .. 6.8e-8
            assert!(
                (r.rates.ds_dt - ds).abs() < 3.0 * r.ds_dt_err + 1e-8,
                "t={t}: {r:?} vs {ds}"
            );
        }
    }

    #[test]
    fn commitment_curve_cloning_tracks_theory() {
        let protocol = Protocol::geometric(1, 12.0, 0.65, 8).unwrap();
        let mut bridge = Bridge::new(&protocol, target()).unwrap();
        let pts = commitment_cloning_1d(&mut bridge, &[0.2, 0.5, 0.8], 2000, 400, 0.0, 5).unwrap();
        for p in &pts {
            assert!((p.phi - p.phi_theory).abs() < 4.0 * p.phi_se, "{p:?}");
        }
        assert!(pts[0].phi < pts[2].phi);
        // before any commitment φ = Σ π_k² = 0.52; at t -> 1 it tends to 1
        let th = commitment_theory_1d(&bridge, &[1e-4, 1.0], -10.0, 10.0, 4001).unwrap();
        assert!(
            (th[0] - 0.52).abs() < 1e-3 && (th[1] - 1.0).abs() < 1e-6,
            "{th:?}"
        );
    }
}
