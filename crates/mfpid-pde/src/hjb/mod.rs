//! Nonlinear Hamilton-Jacobi-Bellman equation on 1-D and 2-D grids,
//! `-dJ/dt = b(t,x) J' - (1/2) |J'|^2 + (D/2) J'' + V(t,x)`, integrated backward from `J(t1, .)`,
//! with the optimal feedback `u = -J'`.
//!
//! Monotone explicit scheme (a Markov-chain approximation): the Hamiltonian is written as a
//! minimum over controls, `b p - p^2/2 = min_v [v p + (v - b)^2 / 2]` (`v = b + u` the controlled
//! velocity), and each candidate velocity is upwinded,
//! `H(p-, p+) = min_v [max(v,0) p+ + min(v,0) p- + (v - b)^2 / 2]`, minimised in closed form
//! (candidates `v = b - p+ > 0`, `v = b - p- < 0`, `v = 0`). With
//! `dt <= 1 / (|v_i| / h + D / h^2)` at every cell the update is a convex combination of
//! neighbouring values (monotone, hence convergent to the viscosity solution); a longer step is
//! refused with [`PdeError::CflViolated`] stating the limit. Walls: zero-flux (Neumann `J' = 0`)
//! or periodic. With `D = 1`, `J = -log phi` links it to [`crate::feynman_kac`] (Cole-Hopf).
//!
//! [`Hjb1d`] and [`feedback_control`] live in `one_d`, [`Hjb2d`] (the Hamiltonian split over the
//! axes) in `two_d`; the upwind minimisation and the explicit-step bookkeeping are shared here.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, PdeError, Result};
use crate::grid::Boundary;
use crate::stepping::march_backward;

mod one_d;
mod two_d;

pub use one_d::{feedback_control, Hjb1d};
pub use two_d::Hjb2d;

/// Configuration of [`Hjb1d`] and [`Hjb2d`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HjbConfig {
    /// Diffusion coefficient `D > 0` (the PDE has `(D/2) J''`).
    pub diffusion: f64,
    /// [`Boundary::ZeroFlux`] (Neumann) or [`Boundary::Periodic`].
    pub boundary: Boundary,
}

/// `true` for periodic walls, `false` for zero-flux (Neumann) walls; Dirichlet walls are refused.
fn periodic_walls(boundary: Boundary) -> Result<bool> {
    match boundary {
        Boundary::ZeroFlux => Ok(false),
        Boundary::Periodic => Ok(true),
        Boundary::Dirichlet { .. } => Err(PdeError::OutOfRange {
            what: "boundary",
            value: f64::NAN,
            reason: "HJB supports ZeroFlux (Neumann) and Periodic walls",
        }),
    }
}

/// Accept an explicit step: fail with the CFL bound if `dt > limit`, check `next` for finiteness,
/// and copy it into `j`.
fn accept_step(
    scheme: &'static str,
    dt: f64,
    limit: f64,
    next: &[f64],
    j: &mut [f64],
) -> Result<()> {
    if dt > limit {
        return Err(PdeError::CflViolated {
            scheme,
            dt,
            limit,
            min_steps: (dt / limit).ceil() as usize,
        });
    }
    check_finite("J", next)?;
    j.copy_from_slice(next);
    Ok(())
}

/// `n_steps` equal steps `step(t, dt)` from `t1` back to `t0`; a CFL violation is reported with
/// `min_steps` for the whole interval.
fn march_back(
    t1: f64,
    t0: f64,
    n_steps: usize,
    mut step: impl FnMut(f64, f64) -> Result<()>,
) -> Result<()> {
    march_backward(t1, t0, n_steps, |t, _t_to, dt| {
        step(t, dt).map_err(|e| match e {
            PdeError::CflViolated { scheme, limit, .. } => PdeError::CflViolated {
                scheme,
                dt,
                limit,
                min_steps: ((t1 - t0) / limit).ceil() as usize,
            },
            other => other,
        })
    })
}

/// `argmin_v` and `min_v` of `max(v,0) p+ + min(v,0) p- + (v - b)^2 / 2`.
fn minimise(b: f64, pm: f64, pp: f64) -> (f64, f64) {
    let mut best = (0.0, 0.5 * b * b);
    let v1 = b - pp;
    if v1 > 0.0 {
        let val = v1 * pp + 0.5 * pp * pp;
        if val < best.1 {
            best = (v1, val);
        }
    }
    let v2 = b - pm;
    if v2 < 0.0 {
        let val = v2 * pm + 0.5 * pm * pm;
        if val < best.1 {
            best = (v2, val);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimiser_matches_hamiltonian_on_smooth_data() {
        for (b, p) in [(0.3, 1.2), (-0.5, 0.2), (0.0, -2.0), (1.0, 1.0)] {
            let (v, h) = minimise(b, p, p);
            assert!((h - (b * p - 0.5 * p * p)).abs() < 1e-14);
            assert!((v - (b - p)).abs() < 1e-14 || (b - p == 0.0 && v == 0.0));
        }
    }
}
