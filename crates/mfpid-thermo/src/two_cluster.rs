//! The Yu & Huang two-cluster model: OU forward diffusion of `p_0 = ½ N(+μ, σ²) + ½ N(-μ, σ²)`.
//!
//! Forward `dx = -x dt + sqrt(2) dW` (D = 1, k_B T = 1). Exact marginal
//! `p_t = ½ N(+m_t, v_t) + ½ N(-m_t, v_t)` with `m_t = μ e^{-t}`, `v_t = 1 - e^{-2t} + σ² e^{-2t}`.
//! The backward (generative) process in reverse time `τ = T - t` is
//! `dx = [x + 2 s(x, T - τ)] dτ + sqrt(2) dW` with the exact score `s = ∂_x ln p_t`.

use crate::error::{self, Result};
use crate::quad::{self, Quadrature};
use crate::rates::EntropyRates;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Absolute tolerance used for the model's quadratures (T2, entropies).
pub const QUAD_TOL: f64 = 1e-13;

/// `ln cosh(y)`, stable for large |y|.
#[inline]
pub fn ln_cosh(y: f64) -> f64 {
    let a = y.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

/// Two-cluster data model `p_0 = ½ N(+μ, σ²) + ½ N(-μ, σ²)` under the forward OU process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwoCluster {
    mu: f64,
    sigma2: f64,
}

impl TwoCluster {
    /// Model with cluster centres `±mu` (any finite value) and cluster variance `sigma2 > 0`.
    ///
    /// Errors: [`crate::ThermoError::NonPositiveVariance`] for `sigma2 <= 0` or non-finite,
    /// [`crate::ThermoError::OutOfRange`] for a non-finite `mu`.
    pub fn new(mu: f64, sigma2: f64) -> Result<Self> {
        Ok(Self {
            mu: error::finite("mu", mu)?,
            sigma2: error::positive("sigma2", sigma2)?,
        })
    }

    /// Cluster half-separation μ.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    /// Cluster variance σ².
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// Exact marginal `p_t` at forward time `t >= 0`; [`crate::ThermoError::TimeOutOfRange`] otherwise.
    pub fn marginal(&self, t: f64) -> Result<Marginal> {
        let t = error::time_in("t", t, 0.0, f64::MAX)?;
        let e2 = (-2.0 * t).exp();
        // m_t = μ e^{-t}; v_t = 1 - e^{-2t} + σ² e^{-2t}
        let m = self.mu * (-t).exp();
        let v = (1.0 - e2) + self.sigma2 * e2;
        Ok(Marginal { t, m, v })
    }

    /// `T2(t) = E_{p_t}[tanh²(m_t x / v_t)]` by adaptive Gauss-Kronrod quadrature (abs. error < 1e-12).
    pub fn t2(&self, t: f64) -> Result<f64> {
        let p = self.marginal(t)?;
        if p.m == 0.0 {
            return Ok(0.0);
        }
        // tanh² is even, so the + and - components give the same expectation.
        let a = p.m / p.v;
        Ok(quad::gaussian_expectation(|x| (a * x).tanh().powi(2), p.m, p.v, QUAD_TOL)?.value)
    }

    /// Closed-form forward rates at forward time `t` (D = 1):
    /// `Π = m² + v - 2 + 1/v - (m²/v²)(1 - T2)`, `Φ = m² + v - 1`, `dS/dt = Π - Φ`.
    pub fn rates_forward(&self, t: f64) -> Result<EntropyRates> {
        let p = self.marginal(t)?;
        let t2 = self.t2(t)?;
        let (m2, v) = (p.m * p.m, p.v);
        let pi = m2 + v - 2.0 + 1.0 / v - (m2 / (v * v)) * (1.0 - t2);
        let phi = m2 + v - 1.0;
        Ok(EntropyRates::from_production_and_flow(pi, phi))
    }

    /// Closed-form backward rates at the reverse time whose forward time is `t` (τ = T - t):
    /// `Π* = Π`, `Φ* = 2Π - Φ`, `dS*/dτ = Π* - Φ* = -dS/dt`.
    pub fn rates_backward(&self, t: f64) -> Result<EntropyRates> {
        let f = self.rates_forward(t)?;
        let phi = 2.0 * f.pi - f.phi;
        Ok(EntropyRates::from_production_and_flow(f.pi, phi))
    }

    /// `E_{p_t}[g(x)]` by quadrature (both mixture components).
    pub fn expect<F: FnMut(f64) -> f64>(&self, t: f64, mut g: F) -> Result<Quadrature> {
        let p = self.marginal(t)?;
        let a = quad::gaussian_expectation(&mut g, p.m, p.v, QUAD_TOL)?;
        let b = quad::gaussian_expectation(&mut g, -p.m, p.v, QUAD_TOL)?;
        Ok(Quadrature {
            value: 0.5 * (a.value + b.value),
            abs_err: 0.5 * (a.abs_err + b.abs_err),
        })
    }

    /// Shannon entropy `S(t) = -∫ p_t ln p_t dx` by quadrature.
    pub fn entropy(&self, t: f64) -> Result<f64> {
        let p = self.marginal(t)?;
        Ok(-self.expect(t, |x| p.ln_density(x))?.value)
    }

    /// Yu & Huang speciation time `t_s = ½ ln(μ² + sqrt(μ⁴ + (σ² - 1)²))`, the time where
    /// `∂²_x U(0, t) = 0`. Negative when the symmetric minimum never destabilises (no speciation);
    /// `-inf` only for the degenerate `μ = 0, σ² = 1`.
    pub fn speciation_time(&self) -> f64 {
        let mu2 = self.mu * self.mu;
        let a = self.sigma2 - 1.0;
        0.5 * (mu2 + (mu2 * mu2 + a * a).sqrt()).ln()
    }

    /// Phase of the model in the Yu & Huang (μ, σ) diagram, see [`SpeciationPhase`].
    pub fn phase(&self) -> SpeciationPhase {
        let ts = self.speciation_time();
        if ts.is_nan() || ts <= 0.0 {
            SpeciationPhase::NoSymmetryBreaking
        } else if self.sigma2 > 2.0 {
            SpeciationPhase::UnstableSymmetryBreaking
        } else {
            SpeciationPhase::SymmetryBreaking
        }
    }
}

/// Phases of the Yu & Huang diagram.
///
/// The potential `U(x, t) = -x²/2 - 2 ln p_t(x)` behaves as `x² (1/v_t - ½)` for large |x|, so it is
/// confining (`U -> +∞`) while `v_t < 2` and unbounded below (`U -> -∞`) while `v_t > 2`. Since
/// `v_t` moves monotonically from `σ²` (t = 0) to 1, `U -> -∞` happens near the data end of the
/// generative run exactly when `σ² > 2` (σ > √2). At `t_s` itself `v_{t_s} < 2` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpeciationPhase {
    /// `t_s > 0` and `U -> +∞` at all times (σ² <= 2): ordinary speciation.
    SymmetryBreaking,
    /// `t_s <= 0`: the symmetric minimum at x = 0 never destabilises, i.e. `(σ²-1)² + 2μ² < 1`.
    NoSymmetryBreaking,
    /// `t_s > 0` but `U -> -∞` at late generative times (σ² > 2).
    UnstableSymmetryBreaking,
}

impl SpeciationPhase {
    /// Integer code used in tables: 0 symmetry breaking, 1 none, 2 unstable.
    pub fn code(self) -> u8 {
        match self {
            SpeciationPhase::SymmetryBreaking => 0,
            SpeciationPhase::NoSymmetryBreaking => 1,
            SpeciationPhase::UnstableSymmetryBreaking => 2,
        }
    }
}

/// One cell of the Yu & Huang phase diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhasePoint {
    /// Cluster half-separation μ.
    pub mu: f64,
    /// Cluster standard deviation σ.
    pub sigma: f64,
    /// Speciation time `t_s` (may be negative).
    pub t_s: f64,
    /// Phase.
    pub phase: SpeciationPhase,
}

/// The (μ, σ) phase diagram on the product grid `mus x sigmas` (row-major: μ outer, σ inner).
/// Errors for `σ <= 0` or non-finite μ.
pub fn phase_diagram(mus: &[f64], sigmas: &[f64]) -> Result<Vec<PhasePoint>> {
    let mut out = Vec::with_capacity(mus.len() * sigmas.len());
    for &mu in mus {
        for &sigma in sigmas {
            let sigma = error::positive("sigma", sigma)?;
            let m = TwoCluster::new(mu, sigma * sigma)?;
            out.push(PhasePoint {
                mu,
                sigma,
                t_s: m.speciation_time(),
                phase: m.phase(),
            });
        }
    }
    Ok(out)
}

/// Exact marginal `p_t = ½ N(+m, v) + ½ N(-m, v)` of [`TwoCluster`] at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Marginal {
    /// Forward time t.
    pub t: f64,
    /// Cluster centre `m_t = μ e^{-t}`.
    pub m: f64,
    /// Cluster variance `v_t = 1 - e^{-2t} + σ² e^{-2t}`.
    pub v: f64,
}

impl Marginal {
    /// `ln p_t(x) = -½ ln(2π v) - (x² + m²)/(2v) + ln cosh(m x / v)`.
    #[inline]
    pub fn ln_density(&self, x: f64) -> f64 {
        -0.5 * (2.0 * std::f64::consts::PI * self.v).ln()
            - (x * x + self.m * self.m) / (2.0 * self.v)
            + ln_cosh(self.m * x / self.v)
    }

    /// `p_t(x)`.
    #[inline]
    pub fn density(&self, x: f64) -> f64 {
        self.ln_density(x).exp()
    }

    /// Score `s(x, t) = [m tanh(m x / v) - x] / v`.
    #[inline]
    pub fn score(&self, x: f64) -> f64 {
        (self.m * (self.m * x / self.v).tanh() - x) / self.v
    }

    /// `∂_x s = (m²/v²)(1 - tanh²(m x / v)) - 1/v`.
    #[inline]
    pub fn score_dx(&self, x: f64) -> f64 {
        let th = (self.m * x / self.v).tanh();
        (self.m * self.m / (self.v * self.v)) * (1.0 - th * th) - 1.0 / self.v
    }

    /// Backward potential `U(x, t) = -x²/2 - 2 ln p_t(x)`; the backward drift is `-∂_x U = x + 2 s`.
    #[inline]
    pub fn potential_u(&self, x: f64) -> f64 {
        -0.5 * x * x - 2.0 * self.ln_density(x)
    }

    /// `∂²_x U = -1 - 2 ∂_x s`.
    #[inline]
    pub fn potential_u_dxx(&self, x: f64) -> f64 {
        -1.0 - 2.0 * self.score_dx(x)
    }

    /// Forward drift `F = -x`.
    #[inline]
    pub fn forward_drift(&self, x: f64) -> f64 {
        -x
    }

    /// Backward drift `F* = x + 2 s(x, t)`.
    #[inline]
    pub fn backward_drift(&self, x: f64) -> f64 {
        x + 2.0 * self.score(x)
    }

    /// One exact draw from `p_t`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let z: f64 = rng.sample(StandardNormal);
        let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
        sign * self.m + self.v.sqrt() * z
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ThermoError;

    /// Fourth-order centred first derivative.
    fn d5<F: Fn(f64) -> f64>(f: F, x: f64, h: f64) -> f64 {
        (f(x - 2.0 * h) - 8.0 * f(x - h) + 8.0 * f(x + h) - f(x + 2.0 * h)) / (12.0 * h)
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            TwoCluster::new(1.0, 0.0),
            Err(ThermoError::NonPositiveVariance { name: "sigma2", .. })
        ));
        assert!(matches!(
            TwoCluster::new(1.0, -2.0),
            Err(ThermoError::NonPositiveVariance { name: "sigma2", .. })
        ));
        assert!(matches!(
            TwoCluster::new(f64::NAN, 1.0),
            Err(ThermoError::OutOfRange { .. })
        ));
        let m = TwoCluster::new(1.0, 1.0).unwrap();
        assert!(matches!(
            m.marginal(-0.1),
            Err(ThermoError::TimeOutOfRange { name: "t", .. })
        ));
        assert!(matches!(
            m.rates_forward(f64::NAN),
            Err(ThermoError::TimeOutOfRange { .. })
        ));
    }

    /// The marginal solves the forward Fokker-Planck equation ∂_t p = ∂_x(x p) + ∂²_x p
    /// (checked by centred finite differences in t and x).
    #[test]
    fn marginal_solves_fokker_planck() {
        let model = TwoCluster::new(1.3, 0.4).unwrap();
        let (ht, hx) = (1e-4, 1e-3);
        for &t in &[0.1, 0.5, 1.7] {
            let (pm, p0, pp) = (
                model.marginal(t - ht).unwrap(),
                model.marginal(t).unwrap(),
                model.marginal(t + ht).unwrap(),
            );
            for &x in &[-2.0, -0.3, 0.0, 0.8, 2.5] {
                let dpdt = (pp.density(x) - pm.density(x)) / (2.0 * ht);
                let flux = |y: f64| y * p0.density(y);
                let dflux = (flux(x + hx) - flux(x - hx)) / (2.0 * hx);
                let lap =
                    (p0.density(x + hx) - 2.0 * p0.density(x) + p0.density(x - hx)) / (hx * hx);
                assert!(
                    (dpdt - dflux - lap).abs() < 1e-5,
                    "t={t} x={x}: {dpdt} vs {}",
                    dflux + lap
                );
            }
            // density integrates to one; score is the derivative of ln p
            assert!((model.expect(t, |_| 1.0).unwrap().value - 1.0).abs() < 1e-12);
            for &x in &[-1.0, 0.2, 3.0] {
                let fd = d5(|y| p0.ln_density(y), x, hx);
                assert!((fd - p0.score(x)).abs() < 1e-8, "{fd} vs {}", p0.score(x));
                let fd2 = d5(|y| p0.score(y), x, hx);
                assert!(
                    (fd2 - p0.score_dx(x)).abs() < 1e-8,
                    "{fd2} vs {}",
                    p0.score_dx(x)
                );
            }
        }
        // σ = μ = 1: U = x²/2 - 2 ln cosh(x e^{-t}) + const
        let unit = TwoCluster::new(1.0, 1.0).unwrap().marginal(0.6).unwrap();
        let c = unit.potential_u(0.0);
        for &x in &[-1.5, 0.4, 2.2] {
            let closed = 0.5 * x * x - 2.0 * ln_cosh(x * (-0.6f64).exp());
            assert!((unit.potential_u(x) - c - closed).abs() < 1e-12);
        }
    }

    /// Closed-form Π and Φ against direct quadrature of their definitions
    /// Π = ⟨(F - s)²⟩, Φ = ⟨F²⟩ + ⟨F'⟩, and dS/dt against a finite difference of the entropy.
    #[test]
    fn closed_form_rates_match_definitions() {
        for &(mu, s2) in &[(1.0, 1.0), (1.0, 0.1), (2.0, 0.5), (0.5, 3.0)] {
            let model = TwoCluster::new(mu, s2).unwrap();
            for &t in &[0.05, 0.3, 1.0, 2.5] {
                let p = model.marginal(t).unwrap();
                let fw = model.rates_forward(t).unwrap();
                let pi = model
                    .expect(t, |x| (-x - p.score(x)).powi(2))
                    .unwrap()
                    .value;
                let phi = model.expect(t, |x| x * x - 1.0).unwrap().value;
                assert!(
                    (fw.pi - pi).abs() < 1e-10 * (1.0 + pi.abs()),
                    "Π {mu} {s2} {t}"
                );
                assert!((fw.phi - phi).abs() < 1e-10, "Φ");
                let dsdt = d5(|s| model.entropy(s).unwrap(), t, 1e-3);
                assert!(
                    (fw.ds_dt - dsdt).abs() < 1e-7,
                    "dS/dt {mu} {s2} {t}: {} vs {dsdt}",
                    fw.ds_dt
                );
                let bw = model.rates_backward(t).unwrap();
                let pi_b = model
                    .expect(t, |x| (p.backward_drift(x) - p.score(x)).powi(2))
                    .unwrap()
                    .value;
                let phi_b = model
                    .expect(t, |x| {
                        p.backward_drift(x).powi(2) + 1.0 + 2.0 * p.score_dx(x)
                    })
                    .unwrap()
                    .value;
                assert!((bw.pi - pi_b).abs() < 1e-9 * (1.0 + pi_b.abs()));
                assert!((bw.phi - phi_b).abs() < 1e-9 * (1.0 + phi_b.abs()));
                assert!((bw.ds_dt + fw.ds_dt).abs() < 1e-12);
                assert!(fw.pi >= 0.0);
            }
        }
    }

    #[test]
    fn speciation_time_zeroes_curvature_and_phases() {
        for &(mu, s2) in &[(1.0, 1.0), (1.0, 0.1), (2.0, 0.5), (0.8, 3.0)] {
            let model = TwoCluster::new(mu, s2).unwrap();
            let ts = model.speciation_time();
            assert!(ts > 0.0);
            let u2 = model.marginal(ts).unwrap().potential_u_dxx(0.0);
            assert!(u2.abs() < 1e-12, "U''(0,t_s) = {u2}");
            // symmetric point unstable before t_s (generative late times), stable after
            assert!(model.marginal(ts * 0.9).unwrap().potential_u_dxx(0.0) < 0.0);
            assert!(model.marginal(ts * 1.1).unwrap().potential_u_dxx(0.0) > 0.0);
        }
        assert!(
            (TwoCluster::new(1.0, 1.0).unwrap().speciation_time() - 0.5 * 2f64.ln()).abs() < 1e-15
        );
        assert_eq!(
            TwoCluster::new(1.0, 1.0).unwrap().phase(),
            SpeciationPhase::SymmetryBreaking
        );
        assert_eq!(
            TwoCluster::new(0.3, 1.0).unwrap().phase(),
            SpeciationPhase::NoSymmetryBreaking
        );
        assert!(TwoCluster::new(0.3, 1.0).unwrap().speciation_time() < 0.0);
        assert_eq!(
            TwoCluster::new(1.0, 2.5).unwrap().phase(),
            SpeciationPhase::UnstableSymmetryBreaking
        );
        // U -> -inf at t = 0 iff σ² > 2
        let p = TwoCluster::new(1.0, 2.5).unwrap().marginal(0.0).unwrap();
        assert!(p.potential_u(50.0) < p.potential_u(10.0));
        // boundaries of the diagram: t_s = 0 on (σ²-1)² + 2μ² = 1, unstable region σ > √2
        let d = phase_diagram(&[0.1, 0.5, 1.0], &[0.5, 1.0, 1.3, 1.5]).unwrap();
        for p in &d {
            let inside = (p.sigma.powi(2) - 1.0).powi(2) + 2.0 * p.mu * p.mu < 1.0;
            assert_eq!(
                inside,
                p.phase == SpeciationPhase::NoSymmetryBreaking,
                "{p:?}"
            );
            assert_eq!(
                p.sigma > 2f64.sqrt(),
                p.phase == SpeciationPhase::UnstableSymmetryBreaking,
                "{p:?}"
            );
        }
        assert!(matches!(
            phase_diagram(&[1.0], &[0.0]),
            Err(ThermoError::NonPositiveVariance { name: "sigma", .. })
        ));
    }
}
