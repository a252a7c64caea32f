//! Discrete entropy balance of the Scharfetter-Gummel Fokker-Planck scheme (1-D), for the
//! ensemble rates of non-equilibrium thermodynamics.
//!
//! With the face flux `J_f = (eps/h) [B(-z_f) p_L - B(z_f) p_R]`, `z_f = b_f h / eps`, `eps = D/2`,
//! the semi-discrete Gibbs entropy `S = -h sum p_i ln p_i` of a zero-flux (or periodic) grid obeys
//! exactly `dS/dt = Pi - Phi` with
//! - entropy production `Pi = sum_f J_f ln(B(-z_f) p_L / (B(z_f) p_R)) >= 0` (every term is
//!   non-negative; `Pi = 0` exactly on the discrete Gibbs state), the discrete form of
//!   `int J^2 / (eps p) dx`;
//! - entropy flow `Phi = sum_f J_f z_f`, the discrete form of `int J b / eps dx`
//!   (`= <F^2> + <F'>` for force `F = b` and `eps = 1`, i.e. `D = 2`).

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, check_positive, Result};
use crate::flux::bernoulli_pair;
use crate::grid::{check_density, Boundary, Grid1d};

/// Entropy rates at one time (units: 1/time, `k_B = 1`): the one representation of these rates
/// in mfpid (mfpid-thermo re-exports it for its closed forms and estimators).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EntropyRates {
    /// Total entropy production rate `Π >= 0`.
    pub pi: f64,
    /// Entropy flow into the medium `Φ` (heat rate / temperature).
    pub phi: f64,
    /// System entropy rate `dS/dt = Π - Φ`.
    pub ds_dt: f64,
}

impl EntropyRates {
    /// Rates from production `Π` and flow `Φ`, with `dS/dt = Π - Φ`.
    pub fn from_production_and_flow(pi: f64, phi: f64) -> Self {
        Self {
            pi,
            phi,
            ds_dt: pi - phi,
        }
    }
}

/// Gibbs entropy of a density on a grid and its rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EntropyBalance {
    /// Gibbs entropy `S = -h sum p ln p`.
    pub entropy: f64,
    /// Production `Π`, flow `Φ` and `dS/dt = Π - Φ`.
    pub rates: EntropyRates,
}

/// Entropy, production and flow of the cell averages `p` (length `n`) under face velocities
/// `b_faces` (length `n + 1`) and diffusion `D`, for zero-flux or periodic walls (Dirichlet walls
/// exchange entropy with reservoirs and are rejected).
pub fn entropy_rates(
    grid: &Grid1d,
    diffusion: f64,
    boundary: Boundary,
    p: &[f64],
    b_faces: &[f64],
) -> Result<EntropyBalance> {
    check_positive("diffusion", diffusion)?;
    let n = grid.n();
    check_len("p", p.len(), n)?;
    check_len("b_faces", b_faces.len(), n + 1)?;
    check_density("p", p)?;
    check_finite("b_faces", b_faces)?;
    let periodic = match boundary {
        Boundary::ZeroFlux => false,
        Boundary::Periodic => true,
        Boundary::Dirichlet { .. } => {
            return Err(crate::error::PdeError::OutOfRange {
                what: "boundary",
                value: f64::NAN,
                reason: "entropy balance needs zero-flux or periodic walls",
            })
        }
    };
    let h = grid.h();
    let eps = 0.5 * diffusion;
    let entropy = -h
        * p.iter()
            .map(|&v| if v > 0.0 { v * v.ln() } else { 0.0 })
            .sum::<f64>();
    let mut production = 0.0;
    let mut flow = 0.0;
    let mut face = |b: f64, pl: f64, pr: f64| {
        let z = b * h / eps;
        let (bp, bm) = bernoulli_pair(z);
        let (fwd, bwd) = (bm * pl, bp * pr);
        let j = eps / h * (fwd - bwd);
        if fwd > 0.0 && bwd > 0.0 {
            production += j * (fwd / bwd).ln();
        } else if fwd != bwd {
            // one side empty: the production of this face is infinite
            production = f64::INFINITY;
        }
        flow += j * z;
    };
    for f in 1..n {
        face(b_faces[f], p[f - 1], p[f]);
    }
    if periodic {
        face(b_faces[0], p[n - 1], p[0]);
    }
    Ok(EntropyBalance {
        entropy,
        rates: EntropyRates::from_production_and_flow(production, flow),
    })
}
