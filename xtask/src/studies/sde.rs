//! Strong and weak convergence studies on problems with exact solutions.
//!
//! Every path draws one fine Brownian path (`2^fine_level` steps, pairs `(dW, dZ)` with
//! `dZ = ∫∫ dW ds`); coarse runs aggregate it exactly, so all step sizes see the same path. The
//! schemes use the same update formulas as the ensemble runner ([`mfpid_sde::scheme`]).
//!
//! Problems (T = 1):
//! - `gbm`: `dX = lambda X dt + mu X dW`, `X_0 = 1`, `lambda = 2`, `mu = 1`; exact
//!   `X_T = exp((lambda - mu²/2) T + mu W_T)`.
//! - `ou`: `dX = -theta X dt + sigma dW`, `X_0 = 1`, `theta = 2`, `sigma = 0.8`; exact
//!   `X_T = e^{-theta T} + sigma ∫ e^{-theta (T - s)} dW_s`, the integral evaluated on the fine
//!   path to `O(h_fine²)` with `∫_k e^{theta (s - s_k)} dW = dW_k + theta (h dW_k - dZ_k) + O(h^{5/2})`.
//! - `sine`: `dX = sin(X) dt + dW`, `X_0 = 1`: nonlinear drift with additive noise, where SRA1's
//!   strong order 1.5 shows (on linear drift its `h^{3/2}` error terms vanish, `f'' = 0`, and it
//!   converges with order 2). No closed form exists; the reference is SRA1 on the fine path itself
//!   (`h_fine = 2^-fine_level`, at least 16x finer than the finest coarse step).
//! - `ode`: `dx/dt = x cos t`, `x_0 = 1`, `T = 2`; exact `exp(sin 2)`.
//!
//! Strong error: `E|X^h_T - X_T|` over paths. Weak error `|E[f(X^h_T)] - E[f(X_T)]|`:
//! - GBM, `f(x) = x`: estimated pathwise as `|mean(X^h_T - X_T)|` (same paths: a control variate);
//! - OU, `f(x) = x²`: without Monte Carlo. Every scheme here is linear in `(x_0, dW_n, dZ_n)` on OU,
//!   so `X^h_T = m + Σ_n (a_n dW_n + b_n dZ_n)`; the code measures `m` (zero noise) and the
//!   impulse responses `a_n, b_n` by running the scheme itself, then
//!   `E X² = m² + Σ_n (a_n² h + a_n b_n h² + b_n² h³/3)` exactly, against
//!   `e^{-2 theta} + sigma² (1 - e^{-2 theta}) / (2 theta)`.

use mfpid_sde::rng;
use mfpid_sde::scheme::{self, OdeScheme, Scheme};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

/// Domain tag of the convergence study's random streams.
pub const DOMAIN_CONVERGENCE: u64 = 0x434f_4e56; // "CONV"

const GBM_LAMBDA: f64 = 2.0;
const GBM_MU: f64 = 1.0;
const OU_THETA: f64 = 2.0;
const OU_SIGMA: f64 = 0.8;

/// One measured error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorPoint {
    /// Scheme name ([`mfpid_sde::Scheme::name`] / [`mfpid_sde::OdeScheme::name`]).
    pub scheme: &'static str,
    /// Problem name (`gbm`, `ou`, `ode`).
    pub problem: &'static str,
    /// `strong`, `weak` or `ode`.
    pub kind: &'static str,
    /// Step size.
    pub h: f64,
    /// Measured error.
    pub error: f64,
    /// Monte Carlo standard error of `error` (0 for deterministic problems).
    pub stderr: f64,
}

/// A fitted order for one `(scheme, problem, kind)` group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FittedOrder {
    /// Scheme name.
    pub scheme: &'static str,
    /// Problem name.
    pub problem: &'static str,
    /// `strong`, `weak` or `ode`.
    pub kind: &'static str,
    /// Least-squares slope of `ln error` against `ln h`.
    pub order: f64,
    /// The order theory predicts.
    pub expected: f64,
}

/// Settings of a study.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StudyConfig {
    /// Paths for strong errors.
    pub strong_paths: usize,
    /// Paths for weak errors.
    pub weak_paths: usize,
    /// Coarse levels: `2^l` steps for `l` in `levels.0 ..= levels.1`.
    pub levels: (u32, u32),
    /// Fine path level (`2^fine_level` steps), at least `levels.1 + 4`.
    pub fine_level: u32,
    /// Seed.
    pub seed: u64,
}

impl StudyConfig {
    /// Full settings (a few seconds on 2 cores).
    pub fn full(seed: u64) -> Self {
        Self {
            strong_paths: 4000,
            weak_paths: 20000,
            levels: (4, 9),
            fine_level: 14,
            seed,
        }
    }
    /// Quick settings for tests.
    pub fn quick(seed: u64) -> Self {
        Self {
            strong_paths: 1000,
            weak_paths: 4000,
            levels: (4, 8),
            fine_level: 12,
            seed,
        }
    }
}

/// Fine Brownian path: `(dW_k, dZ_k)` for `k < 2^level` over `[0, 1]`.
fn fine_path(seed: u64, path: u64, n_fine: usize, out: &mut Vec<(f64, f64)>) {
    let mut r = rng::stream(seed, DOMAIN_CONVERGENCE, path);
    let hf = 1.0 / n_fine as f64;
    out.clear();
    for _ in 0..n_fine {
        let (xi1, xi2): (f64, f64) = (r.sample(StandardNormal), r.sample(StandardNormal));
        out.push(scheme::brownian_pair(hf, xi1, xi2));
    }
}

/// Aggregate the fine path into `n` coarse steps: `dW = Σ dW_k`, `dZ = Σ [dZ_k + (W_{s_k} - W_{t_n}) h_f]`.
fn coarsen(fine: &[(f64, f64)], n: usize, out: &mut Vec<(f64, f64)>) {
    let r = fine.len() / n;
    let hf = 1.0 / fine.len() as f64;
    out.clear();
    for c in fine.chunks_exact(r) {
        let (mut w, mut z) = (0.0, 0.0);
        for &(dw, dz) in c {
            z += dz + w * hf;
            w += dw;
        }
        out.push((w, z));
    }
}

/// Exact OU endpoint on the fine path (see module doc).
fn ou_exact(fine: &[(f64, f64)]) -> f64 {
    let n = fine.len();
    let hf = 1.0 / n as f64;
    let mut integral = 0.0;
    for (k, &(dw, dz)) in fine.iter().enumerate() {
        let s_k = k as f64 * hf;
        integral += (-OU_THETA * (1.0 - s_k)).exp() * (dw + OU_THETA * (hf * dw - dz));
    }
    (-OU_THETA).exp() + OU_SIGMA * integral
}

/// One coarse run of `scheme` on `problem` from `x0` with increments `inc` (step `h = 1 / inc.len()`).
fn simulate(scheme: &str, problem: &str, x0: f64, inc: &[(f64, f64)]) -> f64 {
    let h = 1.0 / inc.len() as f64;
    let mut x = x0;
    for &(dw, dz) in inc {
        x = match (problem, scheme) {
            ("gbm", "euler-maruyama") => scheme::em(x, GBM_LAMBDA * x, GBM_MU * x, dw, h),
            ("gbm", "milstein") => scheme::milstein(x, GBM_LAMBDA * x, GBM_MU * x, GBM_MU, dw, h),
            ("ou", "euler-maruyama") => scheme::em(x, -OU_THETA * x, OU_SIGMA, dw, h),
            ("ou", "heun") => {
                let b0 = -OU_THETA * x;
                let xp = scheme::heun_predict(x, b0, OU_SIGMA, dw, h);
                scheme::heun_correct(x, b0, -OU_THETA * xp, OU_SIGMA, OU_SIGMA, dw, h)
            }
            ("ou", "sra1") => {
                let b0 = -OU_THETA * x;
                let h2 = scheme::sra1_stage(x, b0, OU_SIGMA, dz, h);
                scheme::sra1_update(x, b0, -OU_THETA * h2, OU_SIGMA, OU_SIGMA, dw, dz, h)
            }
            ("sine", "sra1") => {
                let b0 = x.sin();
                let h2 = scheme::sra1_stage(x, b0, 1.0, dz, h);
                scheme::sra1_update(x, b0, h2.sin(), 1.0, 1.0, dw, dz, h)
            }
            _ => f64::NAN,
        };
    }
    x
}

const EM: Scheme = Scheme::EulerMaruyama;

/// The `(scheme, problem, kind, expected order)` groups of the study. The orders are the schemes'
/// own ([`Scheme::strong_order`], [`Scheme::weak_order`]) except two problem-specific ones: on the
/// additive-noise OU problem Euler-Maruyama is strong order 1, and SRA1 on a linear drift with
/// constant noise is strong order 2.
pub const GROUPS: &[(&str, &str, &str, f64)] = &[
    (EM.name(), "gbm", "strong", EM.strong_order()),
    (
        Scheme::Milstein.name(),
        "gbm",
        "strong",
        Scheme::Milstein.strong_order(),
    ),
    (EM.name(), "ou", "strong", 1.0),
    (
        Scheme::Heun.name(),
        "ou",
        "strong",
        Scheme::Heun.strong_order(),
    ),
    (Scheme::Sra1.name(), "ou", "strong", 2.0),
    (
        Scheme::Sra1.name(),
        "sine",
        "strong",
        Scheme::Sra1.strong_order(),
    ),
    (EM.name(), "gbm", "weak", EM.weak_order()),
    (Scheme::Heun.name(), "ou", "weak", Scheme::Heun.weak_order()),
    (Scheme::Sra1.name(), "ou", "weak", Scheme::Sra1.weak_order()),
];

fn exact_endpoint(problem: &str, fine: &[(f64, f64)]) -> f64 {
    match problem {
        "sine" => simulate("sra1", "sine", 1.0, fine),
        "gbm" => {
            let w: f64 = fine.iter().map(|p| p.0).sum();
            ((GBM_LAMBDA - 0.5 * GBM_MU * GBM_MU) + GBM_MU * w).exp()
        }
        _ => ou_exact(fine),
    }
}

/// Exact weak error of `E X²` on OU for a linear scheme with `n` steps (see module doc).
fn ou_weak_second_moment(scheme: &str, n: usize) -> f64 {
    let h = 1.0 / n as f64;
    let mut inc = vec![(0.0, 0.0); n];
    let m = simulate(scheme, "ou", 1.0, &inc);
    let mut var = 0.0;
    for k in 0..n {
        inc[k] = (1.0, 0.0);
        let a = simulate(scheme, "ou", 0.0, &inc);
        inc[k] = (0.0, 1.0);
        let b = simulate(scheme, "ou", 0.0, &inc);
        inc[k] = (0.0, 0.0);
        var += a * a * h + a * b * h * h + b * b * h * h * h / 3.0;
    }
    let exact = (-2.0 * OU_THETA).exp()
        + OU_SIGMA * OU_SIGMA * (1.0 - (-2.0 * OU_THETA).exp()) / (2.0 * OU_THETA);
    (m * m + var - exact).abs()
}

/// Run the stochastic part of the study.
pub fn sde_errors(cfg: &StudyConfig) -> Vec<ErrorPoint> {
    let n_fine = 1usize << cfg.fine_level;
    let levels: Vec<u32> = (cfg.levels.0..=cfg.levels.1).collect();
    let n_groups = GROUPS.len();
    let paths = cfg.strong_paths.max(cfg.weak_paths);
    // per path: for each group and level, the sample (|err| for strong, f(X^h) - f(X) for weak)
    let width = n_groups * levels.len();
    let samples: Vec<Vec<f64>> = (0..paths)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(fine, coarse), p| {
                fine_path(cfg.seed, p as u64, n_fine, fine);
                let mut row = vec![f64::NAN; width];
                for (li, &l) in levels.iter().enumerate() {
                    coarsen(fine, 1 << l, coarse);
                    for (g, &(sch, prob, kind, _)) in GROUPS.iter().enumerate() {
                        let use_path = match (kind, prob) {
                            ("strong", _) => p < cfg.strong_paths,
                            ("weak", "gbm") => p < cfg.weak_paths,
                            _ => false, // OU weak errors need no paths
                        };
                        if !use_path {
                            continue;
                        }
                        let xh = simulate(sch, prob, 1.0, coarse);
                        let x = exact_endpoint(prob, fine);
                        row[g * levels.len() + li] = if kind == "strong" {
                            (xh - x).abs()
                        } else {
                            xh - x
                        };
                    }
                }
                row
            },
        )
        .collect();
    let mut out = Vec::new();
    for (g, &(sch, prob, kind, _)) in GROUPS.iter().enumerate() {
        for (li, &l) in levels.iter().enumerate() {
            if (kind, prob) == ("weak", "ou") {
                let n = 1usize << l;
                out.push(ErrorPoint {
                    scheme: sch,
                    problem: prob,
                    kind,
                    h: 1.0 / n as f64,
                    error: ou_weak_second_moment(sch, n),
                    stderr: 0.0,
                });
                continue;
            }
            let vals: Vec<f64> = samples
                .iter()
                .map(|r| r[g * levels.len() + li])
                .filter(|v| !v.is_nan())
                .collect();
            let n = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            out.push(ErrorPoint {
                scheme: sch,
                problem: prob,
                kind,
                h: 1.0 / (1u64 << l) as f64,
                error: mean.abs(),
                stderr: (var / n).sqrt(),
            });
        }
    }
    out
}

/// Least-squares slope of `ln error` on `ln h` for each group present in `points`.
pub fn fit_orders(
    points: &[ErrorPoint],
    expected: &[(&'static str, &'static str, &'static str, f64)],
) -> Vec<FittedOrder> {
    expected
        .iter()
        .filter_map(|&(scheme, problem, kind, exp)| {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.scheme == scheme && p.problem == problem && p.kind == kind)
                .map(|p| (p.h.ln(), p.error.ln()))
                .collect();
            if pts.len() < 2 {
                return None;
            }
            let n = pts.len() as f64;
            let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            Some(FittedOrder {
                scheme,
                problem,
                kind,
                order: sxy / sxx,
                expected: exp,
            })
        })
        .collect()
}

/// Expected orders of the ODE group.
pub const ODE_GROUPS: &[(&str, &str, &str, f64)] = &[
    (
        OdeScheme::Heun.name(),
        "ode",
        "ode",
        OdeScheme::Heun.order(),
    ),
    (OdeScheme::Rk4.name(), "ode", "ode", OdeScheme::Rk4.order()),
];

/// Deterministic ODE errors through the ensemble runner: `dx/dt = x cos t` on `[0, 2]`, `n` steps
/// for `n = 2^l`, `l` in `levels`.
pub fn ode_errors(levels: (u32, u32)) -> Result<Vec<ErrorPoint>, mfpid_sde::SdeError> {
    use mfpid_sde::{run_ode, Ensemble, FnDrift, RunConfig, TimeGrid};
    let exact = 2.0f64.sin().exp();
    let mut out = Vec::new();
    for scheme in [OdeScheme::Heun, OdeScheme::Rk4] {
        let name = scheme.name();
        for l in levels.0..=levels.1 {
            let n = 1usize << l;
            let mut drift =
                FnDrift::new(1, |t: f64, x: &[f64], o: &mut [f64]| o[0] = x[0] * t.cos());
            let grid = TimeGrid::uniform(0.0, 2.0, n)?;
            let mut ens = Ensemble::filled(1, &[1.0])?;
            run_ode(
                &mut drift,
                &grid,
                &mut ens,
                scheme,
                &RunConfig::default(),
                &mut [],
            )?;
            out.push(ErrorPoint {
                scheme: name,
                problem: "ode",
                kind: "ode",
                h: 2.0 / n as f64,
                error: (ens.as_slice()[0] - exact).abs(),
                stderr: 0.0,
            });
        }
    }
    Ok(out)
}
