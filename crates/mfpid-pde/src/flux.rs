//! Scharfetter-Gummel (exponentially fitted, Chang-Cooper type) flux for the 1-D drift-diffusion
//! flux `J = b p - eps dp/dx`, `eps = D/2`, and assembly of the three-point generator of a line.
//!
//! Across a face of width `h` with constant velocity `b`, the exact steady flux between cell
//! values `p_L` and `p_R` is `J = (eps/h) [B(-z) p_L - B(z) p_R]` with cell Péclet number
//! `z = b h / eps` and Bernoulli function `B(z) = z / (e^z - 1)`. It reduces to central
//! differences as `z -> 0` and to upwinding as `|z| -> inf`; zero flux means
//! `p_R / p_L = e^z`, so Gibbs states `exp(-U/eps)` are exact when `b = -(U_R - U_L)/h`.

use crate::error::{PdeError, Result};
use crate::grid::Boundary;

/// Bernoulli function `B(z) = z / (e^z - 1)` (with `B(0) = 1`), accurate for all real `z`.
/// `B(z) > 0`, `B(-z) = B(z) + z`.
pub fn bernoulli(z: f64) -> f64 {
    if z.abs() < 1e-4 {
        // series 1 - z/2 + z^2/12 - z^4/720
        let z2 = z * z;
        1.0 - 0.5 * z + z2 / 12.0 - z2 * z2 / 720.0
    } else {
        z / z.exp_m1()
    }
}

/// `(B(z), B(-z))` with a single exponential: the small member of the pair is evaluated directly
/// and the other from `B(-z) = B(z) + z`, so both keep full relative accuracy.
#[inline]
pub fn bernoulli_pair(z: f64) -> (f64, f64) {
    if z >= 0.0 {
        let b = bernoulli(z);
        (b, b + z)
    } else {
        let bm = bernoulli(-z);
        (bm - z, bm)
    }
}

/// Scharfetter-Gummel flux through a face of width `h` between `p_left` and `p_right` for
/// velocity `b` and `eps = D/2`.
pub fn sg_flux(b: f64, eps: f64, h: f64, p_left: f64, p_right: f64) -> f64 {
    let (bp, bm) = bernoulli_pair(b * h / eps);
    eps / h * (bm * p_left - bp * p_right)
}

/// Assemble the generator `L` of `dp/dt = -(J_{i+1/2} - J_{i-1/2}) / h` on one line of `n`
/// cells: `b_faces` has `n + 1` face velocities (face `k` is the left face of cell `k`).
/// Writes `lower`, `diag`, `upper` (see [`crate::tridiag`] conventions) and the Dirichlet source
/// `src` (zero otherwise). Off-diagonals are non-negative and, without Dirichlet walls, every
/// column of `L` sums to zero (exact discrete mass conservation).
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble_line(
    b_faces: &[f64],
    eps: f64,
    h: f64,
    bc: Boundary,
    max_peclet: Option<f64>,
    lower: &mut [f64],
    diag: &mut [f64],
    upper: &mut [f64],
    src: &mut [f64],
) -> Result<()> {
    let n = diag.len();
    let k = eps / (h * h);
    lower.iter_mut().for_each(|v| *v = 0.0);
    diag.iter_mut().for_each(|v| *v = 0.0);
    upper.iter_mut().for_each(|v| *v = 0.0);
    src.iter_mut().for_each(|v| *v = 0.0);
    if let Some(limit) = max_peclet {
        for (face, b) in b_faces.iter().enumerate() {
            let peclet = (b * h / eps).abs();
            if peclet > limit {
                return Err(PdeError::GridTooCoarse {
                    face,
                    peclet,
                    limit,
                    h_max: limit * eps / b.abs(),
                });
            }
        }
    }
    for f in 1..n {
        let (bp, bm) = bernoulli_pair(b_faces[f] * h / eps);
        let alpha = k * bm; // rate from cell f-1 to cell f
        let beta = k * bp; // rate from cell f to cell f-1
        diag[f - 1] -= alpha;
        upper[f - 1] = beta;
        lower[f] = alpha;
        diag[f] -= beta;
    }
    match bc {
        Boundary::ZeroFlux => {}
        Boundary::Periodic => {
            let z = b_faces[0] * h / eps;
            let alpha = k * bernoulli(-z); // from cell n-1 to cell 0
            let beta = k * bernoulli(z); // from cell 0 to cell n-1
            diag[n - 1] -= alpha;
            upper[n - 1] = beta;
            lower[0] = alpha;
            diag[0] -= beta;
        }
        Boundary::Dirichlet { left, right } => {
            // wall value sits at distance h/2 from the first/last centre
            let zl = b_faces[0] * 0.5 * h / eps;
            diag[0] -= 2.0 * k * bernoulli(zl);
            src[0] += 2.0 * k * bernoulli(-zl) * left;
            let zr = b_faces[n] * 0.5 * h / eps;
            diag[n - 1] -= 2.0 * k * bernoulli(-zr);
            src[n - 1] += 2.0 * k * bernoulli(zr) * right;
        }
    }
    Ok(())
}

/// `out += c * (L x + src)` for a line generator (periodic corners included when nonzero).
pub(crate) fn add_apply(
    c: f64,
    lower: &[f64],
    diag: &[f64],
    upper: &[f64],
    src: &[f64],
    x: &[f64],
    out: &mut [f64],
) {
    let n = x.len();
    out[0] += c * (lower[0] * x[n - 1] + diag[0] * x[0] + upper[0] * x[1] + src[0]);
    for i in 1..n - 1 {
        out[i] += c * (lower[i] * x[i - 1] + diag[i] * x[i] + upper[i] * x[i + 1] + src[i]);
    }
    out[n - 1] +=
        c * (lower[n - 1] * x[n - 2] + diag[n - 1] * x[n - 1] + upper[n - 1] * x[0] + src[n - 1]);
}

/// Scharfetter-Gummel probability fluxes `J_f` at the `n + 1` faces of one line for density `p`
/// and face velocities `b_faces` (`eps = D/2`); wall faces: 0 for zero flux, the wrap flux for
/// periodic, the flux across the half cell to the wall value for Dirichlet.
pub(crate) fn face_fluxes(
    b_faces: &[f64],
    eps: f64,
    h: f64,
    bc: Boundary,
    p: &[f64],
    out: &mut [f64],
) {
    let n = p.len();
    for f in 1..n {
        out[f] = sg_flux(b_faces[f], eps, h, p[f - 1], p[f]);
    }
    match bc {
        Boundary::ZeroFlux => {
            out[0] = 0.0;
            out[n] = 0.0;
        }
        Boundary::Periodic => {
            out[0] = sg_flux(b_faces[0], eps, h, p[n - 1], p[0]);
            out[n] = out[0];
        }
        Boundary::Dirichlet { left, right } => {
            out[0] = sg_flux(b_faces[0], eps, 0.5 * h, left, p[0]);
            out[n] = sg_flux(b_faces[n], eps, 0.5 * h, p[n - 1], right);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bernoulli_pair_is_accurate() {
        for z in [-700.0, -30.0, -2.0, -1e-6, 0.0, 1e-7, 0.5, 3.0, 60.0, 700.0] {
            let (bp, bm) = bernoulli_pair(z);
            let (ep, em) = (bernoulli(z), bernoulli(-z));
            assert!(
                (bp - ep).abs() <= 1e-14 * ep.max(1e-300),
                "z={z}: {bp} vs {ep}"
            );
            assert!(
                (bm - em).abs() <= 1e-14 * em.max(1e-300),
                "z={z}: {bm} vs {em}"
            );
        }
    }

    #[test]
    fn bernoulli_identities() {
        for z in [-800.0, -30.0, -1.0, -1e-5, 0.0, 1e-6, 0.3, 5.0, 40.0, 800.0] {
            let (bp, bm) = (bernoulli(z), bernoulli(-z));
            assert!(bp >= 0.0 && bm >= 0.0);
            assert!((bm - bp - z).abs() <= 1e-12 * (1.0 + z.abs()), "z={z}");
        }
        // continuity across the series switch
        let a = bernoulli(0.99999e-4);
        let b = bernoulli(1.00001e-4);
        assert!((a - b).abs() < 1e-8);
        assert!((bernoulli(1.0) - 1.0 / (1f64.exp() - 1.0)).abs() < 1e-15);
    }

    #[test]
    fn flux_limits() {
        // pure diffusion: central difference
        assert!((sg_flux(0.0, 0.5, 0.1, 2.0, 1.0) - 0.5 / 0.1).abs() < 1e-12);
        // strong drift: upwind
        let j = sg_flux(100.0, 1e-3, 0.1, 2.0, 1.0);
        assert!((j - 200.0).abs() < 1e-9);
    }
}
