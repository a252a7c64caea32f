//! The Schrödinger system of a diffusion bridge with killing.
//!
//! Given densities `p0`, `p1` at times `t0 < t1`, a reference drift `b`, diffusion `D` and a
//! potential `V >= 0`, find `phi` (backward Feynman-Kac: `-d phi/dt = b . grad phi + (D/2)
//! Laplacian phi - V phi`) and `phi_hat` (forward Fokker-Planck with killing: `d phi_hat/dt =
//! -div(b phi_hat) + (D/2) Laplacian phi_hat - V phi_hat`) with `p0 = phi(t0) phi_hat(t0)` and
//! `p1 = phi(t1) phi_hat(t1)`. The marginal is `p_t = phi_t phi_hat_t` and the optimal drift
//! `u*(t, x) = b + D grad log phi_t`.
//!
//! - `one_d`: [`solve_schrodinger`], log-domain Fortet/Sinkhorn with dense segment kernels;
//! - `two_d`: [`solve_schrodinger_2d`], Fortet iteration propagating one vector per half
//!   iteration through the split steps.
//!
//! Shared here: the output-time grid, the marginal `exp(log phi + log phi_hat)` and the optimal
//! drift at the faces of one line.

use crate::error::{PdeError, Result};
use crate::stepping::uniform_dt;

mod one_d;
mod two_d;

pub use one_d::{solve_schrodinger, SchrodingerConfig, SchrodingerSolution};
pub use two_d::{solve_schrodinger_2d, Schrodinger2dConfig, Schrodinger2dSolution};

/// Both time counts of a Schrödinger configuration must be at least 1.
fn check_segments(n_segments: usize, steps_per_segment: usize) -> Result<()> {
    if n_segments == 0 || steps_per_segment == 0 {
        return Err(PdeError::OutOfRange {
            what: "n_segments / steps_per_segment",
            value: 0.0,
            reason: "must be >= 1",
        });
    }
    Ok(())
}

/// Output times `s_k = t0 + k (t1 - t0) / n_segments`, `k = 0..=n_segments`, and the step
/// `dt = (t1 - t0) / (n_segments steps_per_segment)` of the propagators.
fn segment_times(
    t0: f64,
    t1: f64,
    n_segments: usize,
    steps_per_segment: usize,
) -> Result<(Vec<f64>, f64)> {
    let seg = uniform_dt(t0, t1, n_segments)?;
    let dt = seg / steps_per_segment as f64;
    let times = (0..=n_segments).map(|k| t0 + k as f64 * seg).collect();
    Ok((times, dt))
}

/// Marginal `p = exp(log phi + log phi_hat)` cell by cell (`0` where the sum is undefined,
/// `-inf + inf`).
fn product_density(log_phi: &[f64], log_phi_hat: &[f64]) -> Vec<f64> {
    log_phi
        .iter()
        .zip(log_phi_hat)
        .map(|(a, b)| {
            let l = a + b;
            if l.is_nan() {
                0.0
            } else {
                l.exp()
            }
        })
        .collect()
}

/// Add `D d/dx log phi` to the `n + 1` face velocities `u` of one line of `n` cells (`lphi(i)`:
/// `log phi` in cell `i`): central differences inside; across the wrap face when `periodic`,
/// else the wall faces copy their interior neighbour.
fn add_log_gradient(u: &mut [f64], lphi: impl Fn(usize) -> f64, d: f64, h: f64, periodic: bool) {
    let n = u.len() - 1;
    for (f, uf) in u.iter_mut().enumerate().take(n).skip(1) {
        *uf += d * (lphi(f) - lphi(f - 1)) / h;
    }
    if periodic {
        u[0] += d * (lphi(0) - lphi(n - 1)) / h;
        u[n] = u[0];
    } else {
        u[0] = u[1];
        u[n] = u[n - 1];
    }
}
