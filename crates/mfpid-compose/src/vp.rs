//! The variance-preserving (VP) base SDE of the score models.
//!
//! Forward: `dX = -beta(t) X / 2 dt + sqrt(beta(t)) dW`, `beta(t) = beta_min + (beta_max - beta_min) t`;
//! marginal `X_t = alpha_t X_0 + sigma_t eps`. Sampling runs the reverse-time SDE from `t = 1` to
//! `t_end = 1e-3`.

use crate::error::{invalid, Result};
use serde::{Deserialize, Serialize};

/// Linear-beta VP schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VpSchedule {
    /// `beta(0)` (1/time).
    pub beta_min: f64,
    /// `beta(1)` (1/time).
    pub beta_max: f64,
}

impl Default for VpSchedule {
    /// The reference schedule `beta(t) = 0.1 + 19.9 t`.
    fn default() -> Self {
        Self {
            beta_min: 0.1,
            beta_max: 20.0,
        }
    }
}

impl VpSchedule {
    /// Validated schedule: `0 <= beta_min <= beta_max`, both finite.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        if !(beta_min.is_finite() && beta_min >= 0.0) {
            return Err(invalid("beta_min", beta_min, "must be finite and >= 0"));
        }
        if !(beta_max.is_finite() && beta_max >= beta_min) {
            return Err(invalid(
                "beta_max",
                beta_max,
                "must be finite and >= beta_min",
            ));
        }
        Ok(Self { beta_min, beta_max })
    }

    /// `beta(t)`; also `g(t)^2` of the SDE.
    pub fn beta(&self, t: f64) -> f64 {
        self.beta_min + (self.beta_max - self.beta_min) * t
    }

    /// `alpha_t = exp(-(beta_max - beta_min) t^2 / 4 - beta_min t / 2)`.
    pub fn alpha(&self, t: f64) -> f64 {
        (-(self.beta_max - self.beta_min) * t * t / 4.0 - self.beta_min * t / 2.0).exp()
    }

    /// `sigma_t^2 = 1 - alpha_t^2`.
    pub fn sigma2(&self, t: f64) -> f64 {
        -(-(self.beta_max - self.beta_min) * t * t / 2.0 - self.beta_min * t).exp_m1()
    }
}

/// Uniform reverse-time grid `t_k = 1 - k (1 - t_end) / K`, `k = 0..=K` (decreasing).
pub fn reverse_grid(k_steps: usize, t_end: f64) -> Result<Vec<f64>> {
    if k_steps == 0 {
        return Err(invalid("k_steps", k_steps, "must be >= 1"));
    }
    if !(t_end > 0.0 && t_end < 1.0) {
        return Err(invalid("t_end", t_end, "must be in (0, 1)"));
    }
    let dt = (1.0 - t_end) / k_steps as f64;
    Ok((0..=k_steps)
        .map(|k| {
            if k == k_steps {
                t_end
            } else {
                1.0 - k as f64 * dt
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// alpha_t must solve d alpha / dt = -beta alpha / 2 (the mean ODE of the forward SDE), and
    /// sigma^2 must solve d s / dt = beta (1 - s); checked against RK4 with a fine step.
    #[test]
    fn closed_forms_match_the_moment_odes() {
        let s = VpSchedule::default();
        let (mut a, mut v, mut t) = (1.0f64, 0.0f64, 0.0f64);
        let h = 1e-4;
        let f = |t: f64, a: f64, v: f64| (-s.beta(t) * a / 2.0, s.beta(t) * (1.0 - v));
        for _ in 0..10_000 {
            let (k1a, k1v) = f(t, a, v);
            let (k2a, k2v) = f(t + h / 2.0, a + h / 2.0 * k1a, v + h / 2.0 * k1v);
            let (k3a, k3v) = f(t + h / 2.0, a + h / 2.0 * k2a, v + h / 2.0 * k2v);
            let (k4a, k4v) = f(t + h, a + h * k3a, v + h * k3v);
            a += h / 6.0 * (k1a + 2.0 * k2a + 2.0 * k3a + k4a);
            v += h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v);
            t += h;
            if (t * 10.0 - (t * 10.0).round()).abs() < 1e-9 {
                assert!((a - s.alpha(t)).abs() < 1e-10, "alpha at {t}");
                assert!((v - s.sigma2(t)).abs() < 1e-10, "sigma2 at {t}");
            }
        }
        assert!(VpSchedule::new(1.0, 0.5).is_err() && VpSchedule::new(f64::NAN, 1.0).is_err());
    }

    #[test]
    fn grid_is_decreasing_and_ends_at_t_end() {
        let g = reverse_grid(25, 1e-3).unwrap();
        assert_eq!(g.len(), 26);
        assert_eq!(g[0], 1.0);
        assert_eq!(g[25], 1e-3);
        assert!(g.windows(2).all(|w| w[1] < w[0]));
        assert!(reverse_grid(0, 1e-3).is_err() && reverse_grid(5, 0.0).is_err());
    }
}
