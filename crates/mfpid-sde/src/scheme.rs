//! Integration schemes and their per-coordinate update formulas.
//!
//! The formulas are exposed as small pure functions so that a convergence study (or a user with
//! their own Brownian paths) runs exactly the arithmetic the ensemble runner runs.

use serde::{Deserialize, Serialize};

/// SDE schemes for `dx = b(t, x) dt + g(t, x) dW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    /// Euler-Maruyama: strong order 0.5 (1 for additive noise), weak order 1. Any noise kind.
    EulerMaruyama,
    /// Stochastic Heun (trapezoidal predictor-corrector) for additive noise: strong order 1.
    Heun,
    /// Milstein for diagonal noise `g_j(t, x_j)`: strong order 1.
    Milstein,
    /// Rößler's SRA1 for additive noise: strong order 1.5, derivative-free.
    Sra1,
    /// Exact transition of a linear (Ornstein-Uhlenbeck) drift with constant additive noise.
    ExactOu,
}

impl Scheme {
    /// Name used in tables.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::EulerMaruyama => "euler-maruyama",
            Scheme::Heun => "heun",
            Scheme::Milstein => "milstein",
            Scheme::Sra1 => "sra1",
            Scheme::ExactOu => "exact-ou",
        }
    }

    /// Strong (pathwise) order `p` of the error `E|X_N - X(1)| = O(h^p)` on the noise kinds the
    /// scheme accepts (Euler-Maruyama: general noise; Heun, SRA1: additive; Milstein: diagonal).
    /// Euler-Maruyama reaches 1 on additive noise. `ExactOu` has no discretisation error (infinite).
    pub const fn strong_order(self) -> f64 {
        match self {
            Scheme::EulerMaruyama => 0.5,
            Scheme::Heun => 1.0,
            Scheme::Milstein => 1.0,
            Scheme::Sra1 => 1.5,
            Scheme::ExactOu => f64::INFINITY,
        }
    }

    /// Weak order `q` of the error `|E f(X_N) - E f(X(1))| = O(h^q)` for smooth `f` (Heun: the
    /// explicit order-2 weak scheme for additive noise, Kloeden-Platen 15.1). `ExactOu`: infinite.
    pub const fn weak_order(self) -> f64 {
        match self {
            Scheme::EulerMaruyama => 1.0,
            Scheme::Heun => 2.0,
            Scheme::Milstein => 1.0,
            Scheme::Sra1 => 2.0,
            Scheme::ExactOu => f64::INFINITY,
        }
    }

    /// Drift evaluations per time step (the cost unit of a run): one for Euler-Maruyama,
    /// Milstein and the exact OU step, two for the predictor-corrector schemes Heun and SRA1.
    pub const fn stages(self) -> usize {
        match self {
            Scheme::EulerMaruyama | Scheme::Milstein | Scheme::ExactOu => 1,
            Scheme::Heun | Scheme::Sra1 => 2,
        }
    }
}

/// Deterministic schemes for `dx/dt = b(t, x)` (probability-flow ODEs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OdeScheme {
    /// Explicit Heun (trapezoidal RK2): order 2.
    Heun,
    /// Classical Runge-Kutta: order 4.
    Rk4,
}

impl OdeScheme {
    /// Name used in tables.
    pub const fn name(self) -> &'static str {
        match self {
            OdeScheme::Heun => "ode-heun",
            OdeScheme::Rk4 => "ode-rk4",
        }
    }

    /// Order `p` of the global error `O(h^p)`.
    pub const fn order(self) -> f64 {
        match self {
            OdeScheme::Heun => 2.0,
            OdeScheme::Rk4 => 4.0,
        }
    }

    /// Drift evaluations per time step.
    pub const fn stages(self) -> usize {
        match self {
            OdeScheme::Heun => 2,
            OdeScheme::Rk4 => 4,
        }
    }
}

/// Euler-Maruyama: `x + b h + g dW`.
#[inline(always)]
pub fn em(x: f64, b: f64, g: f64, dw: f64, h: f64) -> f64 {
    x + b * h + g * dw
}

/// Milstein for diagonal noise: `x + b h + g dW + ½ g g' (dW² - h)`.
#[inline(always)]
pub fn milstein(x: f64, b: f64, g: f64, dg: f64, dw: f64, h: f64) -> f64 {
    x + b * h + g * dw + 0.5 * g * dg * (dw * dw - h)
}

/// Stochastic Heun predictor `x + b(t, x) h + g(t) dW`.
#[inline(always)]
pub fn heun_predict(x: f64, b0: f64, g0: f64, dw: f64, h: f64) -> f64 {
    x + b0 * h + g0 * dw
}

/// Stochastic Heun corrector `x + ½(b0 + b1) h + ½(g0 + g1) dW`, `b1 = b(t + h, predictor)`.
#[inline(always)]
pub fn heun_correct(x: f64, b0: f64, b1: f64, g0: f64, g1: f64, dw: f64, h: f64) -> f64 {
    x + 0.5 * (b0 + b1) * h + 0.5 * (g0 + g1) * dw
}

/// SRA1 tableau (Rößler 2010): `c0 = (0, 3/4)`, `A0_21 = 3/4`, `B0_21 = 3/2`, `alpha = (1/3, 2/3)`,
/// `c1 = (1, 0)`, `beta1 = (1, 0)`, `beta2 = (-1, 1)`.
pub const SRA1_C0_2: f64 = 0.75;

/// SRA1 stage `H2 = x + ¾ h b(t, x) + (3/2) g(t + h) dZ / h`, with `dZ = ∫∫ dW ds` over the step.
#[inline(always)]
pub fn sra1_stage(x: f64, b0: f64, g_tph: f64, dz: f64, h: f64) -> f64 {
    x + 0.75 * h * b0 + 1.5 * g_tph * dz / h
}

/// SRA1 update `x + h (b0/3 + 2 b1/3) + (dW - dZ/h) g(t + h) + (dZ/h) g(t)`, `b1 = b(t + ¾h, H2)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn sra1_update(
    x: f64,
    b0: f64,
    b1: f64,
    g_t: f64,
    g_tph: f64,
    dw: f64,
    dz: f64,
    h: f64,
) -> f64 {
    x + h * (b0 / 3.0 + 2.0 * b1 / 3.0) + (dw - dz / h) * g_tph + (dz / h) * g_t
}

/// Exact Ornstein-Uhlenbeck transition for `dx = -theta (x - mu) dt + sigma dW` over `h`:
/// `mu + e^{-theta h}(x - mu) + sigma sqrt((1 - e^{-2 theta h}) / (2 theta)) xi`, `xi ~ N(0, 1)`.
/// Returns `(decay, noise_std)`; `theta = 0` gives `(1, sigma sqrt(h))`.
#[inline]
pub fn ou_transition(theta: f64, sigma: f64, h: f64) -> (f64, f64) {
    let decay = (-theta * h).exp();
    let var = if (theta * h).abs() < 1e-8 {
        // series of (1 - e^{-2 theta h}) / (2 theta) = h (1 - theta h + ...)
        h * (1.0 - theta * h)
    } else {
        -(-2.0 * theta * h).exp_m1() / (2.0 * theta)
    };
    (decay, sigma * var.sqrt())
}

/// Pair `(dW, dZ)` over a step `h` from two independent standard normals:
/// `dW = sqrt(h) xi1`, `dZ = ½ h^{3/2} (xi1 + xi2 / sqrt 3)` (Kloeden-Platen 10.4), so that
/// `Var dZ = h³/3` and `Cov(dW, dZ) = h²/2`.
#[inline(always)]
pub fn brownian_pair(h: f64, xi1: f64, xi2: f64) -> (f64, f64) {
    let sh = h.sqrt();
    let dw = sh * xi1;
    (dw, 0.5 * h * sh * (xi1 + xi2 * FRAC_1_SQRT_3))
}

const FRAC_1_SQRT_3: f64 = 0.577_350_269_189_625_8;
