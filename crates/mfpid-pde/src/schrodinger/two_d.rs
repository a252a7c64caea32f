//! Schrödinger system on a 2-D grid by Fortet iteration with PDE propagation.
//!
//! The problem of [`crate::schrodinger`] in two dimensions: find `phi` (backward Feynman-Kac,
//! [`FeynmanKac2d`]) and `phi_hat` (forward Fokker-Planck with killing, [`FokkerPlanck2d`]) with
//! `p0 = phi(t0) phi_hat(t0)`, `p1 = phi(t1) phi_hat(t1)`. A dense kernel would have `(nx ny)^2`
//! entries, so each half-iteration propagates one vector through the implicit split steps
//! instead: `phi_1 -> phi_0` backward, `phi_hat_0 = p0 / phi_0`, `phi_hat_0 -> phi_hat_1`
//! forward, then the Fortet update `phi_1 = p1 / phi_hat_1` (scaled to maximum 1).
//!
//! - The potential is frozen on each fine step `[t_k, t_k + dt]` at its midpoint value
//!   `V(t_k + dt/2, .)`, so every backward step is the exact transpose of the forward step (also
//!   for a time-dependent `V`) and `hx hy sum phi_t phi_hat_t` is the same at every output time
//!   up to the splitting of a time-dependent drift.
//! - Vectors are `(array, binary exponent)` pairs: an array whose maximum leaves
//!   `[2^-256, 2^256]` at a segment end is scaled by a power of two (exact in floating point), so
//!   magnitudes never overflow or underflow and, when no scaling is needed, the arithmetic is that
//!   of the plain linear iteration. Backward-Euler sweeps keep every propagated value positive
//!   with full relative accuracy (positive arithmetic only).
//! - The stopping rule is the terminal marginal error after normalisation,
//!   `hx hy sum |phi_1 phi_hat_1 / Z - p1| < tol` with `Z = hx hy sum phi_1 phi_hat_1`.

use serde::{Deserialize, Serialize};

use crate::drift::{Drift2d, Potential2d};
use crate::error::{check_len, check_positive, PdeError, Result};
use crate::feynman_kac::FeynmanKac2d;
use crate::fokker_planck::FokkerPlanck2d;
use crate::grid::{check_density, Boundary, Grid2d};
use crate::stepping::{FpConfig2d, TimeScheme};

use super::{add_log_gradient, check_segments, segment_times};

/// Configuration of [`solve_schrodinger_2d`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schrodinger2dConfig {
    /// Diffusion, walls, sweep scheme and splitting of the propagators (backward-Euler sweeps
    /// keep `phi`, `phi_hat` positive; other schemes are accepted if they stay positive).
    pub solver: FpConfig2d,
    /// Initial time.
    pub t0: f64,
    /// Final time (`> t0`).
    pub t1: f64,
    /// Number of equal output segments.
    pub n_segments: usize,
    /// Implicit steps per segment.
    pub steps_per_segment: usize,
    /// Stop when the terminal marginal L1 error is below this.
    pub tol: f64,
    /// Iteration budget.
    pub max_iter: usize,
}

impl Default for Schrodinger2dConfig {
    fn default() -> Self {
        Self {
            solver: FpConfig2d {
                scheme: TimeScheme::BackwardEuler,
                ..FpConfig2d::default()
            },
            t0: 0.0,
            t1: 1.0,
            n_segments: 4,
            steps_per_segment: 25,
            tol: 1e-9,
            max_iter: 2000,
        }
    }
}

/// Output of [`solve_schrodinger_2d`]; per-time arrays are row-major (`x` fastest) and indexed
/// like `times`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schrodinger2dSolution {
    /// Output times.
    pub times: Vec<f64>,
    /// `log phi` at the cell centres.
    pub log_phi: Vec<Vec<f64>>,
    /// `log phi_hat` at the cell centres.
    pub log_phi_hat: Vec<Vec<f64>>,
    /// Marginals `p_t = phi_t phi_hat_t` (cell averages).
    pub density: Vec<Vec<f64>>,
    /// Optimal drift `b_x + D d/dx log phi` at the `x` faces (layout of [`Drift2d`]).
    pub drift_x_faces: Vec<Vec<f64>>,
    /// Optimal drift `b_y + D d/dy log phi` at the `y` faces (layout of [`Drift2d`]).
    pub drift_y_faces: Vec<Vec<f64>>,
    /// Fortet iterations used.
    pub iterations: usize,
    /// Final terminal marginal L1 error.
    pub residual: f64,
}

/// Keep the array of an `(array, binary exponent)` pair in range: fail on negative or
/// non-finite entries and on an all-zero array; if the maximum `m` lies outside
/// `[2^-256, 2^256]`, scale the array by `2^-e` with `e = floor(log2 m)` (exact) and return `e`,
/// else return 0 and leave the array untouched.
fn rescale(what: &'static str, v: &mut [f64]) -> Result<i32> {
    check_density(what, v).map_err(|_| PdeError::InvalidDensity {
        what,
        reason: "propagated potential lost positivity or finiteness (use backward-Euler sweeps or a smaller step)",
        value: v.iter().copied().fold(f64::INFINITY, f64::min),
    })?;
    let m = v.iter().copied().fold(0.0, f64::max);
    if m <= 0.0 {
        return Err(PdeError::InvalidDensity {
            what,
            reason: "propagated potential vanished everywhere",
            value: m,
        });
    }
    const RANGE: f64 = 256.0;
    let e = m.log2().floor();
    if e.abs() <= RANGE {
        return Ok(0);
    }
    let scale = 2f64.powi(-(e as i32));
    v.iter_mut().for_each(|x| *x *= scale);
    Ok(e as i32)
}

/// `ratio_i = num_i / den_i` on the support of `num` (0 elsewhere); fails where `den_i <= 0` on
/// that support (`what` names the quotient).
fn ratio_on_support(what: &'static str, num: &[f64], den: &[f64], out: &mut [f64]) -> Result<()> {
    for ((o, &a), &b) in out.iter_mut().zip(num).zip(den) {
        *o = if a > 0.0 {
            if !(b > 0.0) {
                return Err(PdeError::InvalidDensity {
                    what,
                    reason: "denominator vanished on the support of the marginal (underflow: enlarge the grid or weaken V)",
                    value: b,
                });
            }
            a / b
        } else {
            0.0
        };
    }
    Ok(())
}

/// Solve the 2-D Schrödinger system (see the module docs). `p0`, `p1`: cell averages on `grid`
/// (normalised internally); `potential`: `V(t, x, y) >= 0` or `None`.
pub fn solve_schrodinger_2d(
    grid: &Grid2d,
    p0: &[f64],
    p1: &[f64],
    drift: &impl Drift2d,
    potential: Option<Potential2d<'_>>,
    config: &Schrodinger2dConfig,
) -> Result<Schrodinger2dSolution> {
    let n = grid.len();
    check_len("p0", p0.len(), n)?;
    check_len("p1", p1.len(), n)?;
    check_density("p0", p0)?;
    check_density("p1", p1)?;
    check_positive("tol", config.tol)?;
    check_segments(config.n_segments, config.steps_per_segment)?;
    let normalise = |what, p: &[f64]| -> Result<Vec<f64>> {
        let mass = grid.integrate(p);
        if !(mass > 0.0 && mass.is_finite()) {
            return Err(PdeError::InvalidDensity {
                what,
                reason: "does not integrate to a positive finite number",
                value: mass,
            });
        }
        Ok(p.iter().map(|v| v / mass).collect())
    };
    let p0 = normalise("p0", p0)?;
    let p1 = normalise("p1", p1)?;
    let m = config.n_segments;
    let ns = config.steps_per_segment;
    let (times, _) = segment_times(config.t0, config.t1, m, ns)?;
    let n_total = m * ns;
    let (t0, t1) = (config.t0, config.t1);
    let dt = (t1 - t0) / n_total as f64;
    // forward step k starts at t0 + k dt; backward step s (fine step n_total - 1 - s) at t1 - s dt
    let forward_time = |k: usize| t0 + k as f64 * dt;
    let backward_time = |s: usize| t1 - s as f64 * dt;
    // V on fine step k, frozen at the step's midpoint
    let frozen = |k: usize| {
        let tm = t0 + (k as f64 + 0.5) * dt;
        potential.map(|v| move |_t: f64, x: f64, y: f64| v(tm, x, y))
    };
    let mut fwd = FokkerPlanck2d::new(*grid, config.solver)?;
    let mut bwd = FeynmanKac2d::new(*grid, config.solver)?;
    let area = grid.cell_area();

    // one backward pass from (phi_1, e) and one forward pass from (phi_hat_0, e); `store` receives
    // every segment end
    let mut backward =
        |phi: &mut [f64], mut e: i32, store: &mut dyn FnMut(usize, &[f64], i32)| -> Result<i32> {
            store(m, phi, e);
            for s in 0..n_total {
                let k = n_total - 1 - s;
                let vk = frozen(k);
                let vk = vk.as_ref().map(|v| v as Potential2d<'_>);
                bwd.step_back(phi, backward_time(s), dt, drift, vk)?;
                if k % ns == 0 {
                    e += rescale("phi", phi)?;
                    store(k / ns, phi, e);
                }
            }
            Ok(e)
        };
    let mut forward =
        |hat: &mut [f64], mut e: i32, store: &mut dyn FnMut(usize, &[f64], i32)| -> Result<i32> {
            store(0, hat, e);
            for k in 0..n_total {
                match frozen(k) {
                    Some(v) => fwd.step_with_potential(hat, forward_time(k), dt, drift, &v)?,
                    None => fwd.step(hat, forward_time(k), dt, drift)?,
                }
                if (k + 1) % ns == 0 {
                    e += rescale("phi_hat", hat)?;
                    store((k + 1) / ns, hat, e);
                }
            }
            Ok(e)
        };

    let mut phi1: Vec<f64> = p1
        .iter()
        .map(|&p| if p > 0.0 { 1.0 } else { 0.0 })
        .collect();
    let mut phi = vec![0.0; n];
    let mut hat = vec![0.0; n];
    let mut residual = f64::INFINITY;
    let mut iterations = 0;
    let mut ignore = |_: usize, _: &[f64], _: i32| {};
    while iterations < config.max_iter {
        iterations += 1;
        phi.copy_from_slice(&phi1);
        let e_phi0 = backward(&mut phi, 0, &mut ignore)?;
        ratio_on_support("phi_hat_0 = p0 / phi_0", &p0, &phi, &mut hat)?;
        forward(&mut hat, -e_phi0, &mut ignore)?;
        // L1 error of the (normalised) terminal marginal: insensitive to the overall scale
        let z: f64 = area * phi1.iter().zip(&hat).map(|(a, b)| a * b).sum::<f64>();
        residual = area
            * phi1
                .iter()
                .zip(&hat)
                .zip(&p1)
                .map(|((a, b), p)| (a * b / z - p).abs())
                .sum::<f64>();
        // Fortet update phi_1 = p1 / phi_hat_1, scaled to maximum 1 (the pair's scale is free)
        let mut mx = 0.0f64;
        for i in 0..n {
            phi1[i] = if p1[i] > 0.0 { p1[i] / hat[i] } else { 0.0 };
            mx = mx.max(phi1[i]);
        }
        if !mx.is_finite() || mx <= 0.0 {
            return Err(PdeError::InvalidDensity {
                what: "phi_1",
                reason: "not finite and positive (underflow of phi_hat_1 on the support of p1)",
                value: mx,
            });
        }
        phi1.iter_mut().for_each(|x| *x /= mx);
        if residual < config.tol {
            break;
        }
    }
    if !(residual < config.tol) {
        return Err(PdeError::NotConverged {
            method: "Fortet (2-D)",
            iterations,
            residual,
            tolerance: config.tol,
        });
    }

    // final sweeps with the converged pair, storing both factors at the output times
    let mut phis = vec![(Vec::new(), 0); m + 1];
    phi.copy_from_slice(&phi1);
    backward(&mut phi, 0, &mut |k, v, e| phis[k] = (v.to_vec(), e))?;
    let mut hats = vec![(Vec::new(), 0); m + 1];
    for i in 0..n {
        hat[i] = if p0[i] > 0.0 {
            p0[i] / phis[0].0[i]
        } else {
            0.0
        };
    }
    forward(&mut hat, -phis[0].1, &mut |k, v, e| {
        hats[k] = (v.to_vec(), e)
    })?;
    let log = |(v, e): &(Vec<f64>, i32)| -> Vec<f64> {
        let shift = *e as f64 * std::f64::consts::LN_2;
        v.iter().map(|x| x.ln() + shift).collect()
    };
    let log_phi: Vec<Vec<f64>> = phis.iter().map(log).collect();
    let log_phi_hat: Vec<Vec<f64>> = hats.iter().map(log).collect();
    let density: Vec<Vec<f64>> = phis
        .iter()
        .zip(&hats)
        .map(|((a, ea), (b, eb))| {
            let scale = 2f64.powi(ea + eb);
            a.iter().zip(b).map(|(x, y)| x * y * scale).collect()
        })
        .collect();
    let (gx, gy) = (grid.x(), grid.y());
    let (nx, ny) = (gx.n(), gy.n());
    let (hx, hy) = (gx.h(), gy.h());
    let d = config.solver.diffusion;
    let periodic = config.solver.boundary == Boundary::Periodic;
    let mut drift_x_faces = Vec::with_capacity(m + 1);
    let mut drift_y_faces = Vec::with_capacity(m + 1);
    for (k, lphi) in log_phi.iter().enumerate() {
        let mut ux = vec![0.0; (nx + 1) * ny];
        let mut uy = vec![0.0; nx * (ny + 1)];
        drift.x_face_velocities(times[k], grid, &mut ux)?;
        drift.y_face_velocities(times[k], grid, &mut uy)?;
        for (j, row) in ux.chunks_exact_mut(nx + 1).enumerate() {
            add_log_gradient(row, |i| lphi[j * nx + i], d, hx, periodic);
        }
        for (i, col) in uy.chunks_exact_mut(ny + 1).enumerate() {
            add_log_gradient(col, |j| lphi[j * nx + i], d, hy, periodic);
        }
        drift_x_faces.push(ux);
        drift_y_faces.push(uy);
    }
    Ok(Schrodinger2dSolution {
        times,
        log_phi,
        log_phi_hat,
        density,
        drift_x_faces,
        drift_y_faces,
        iterations,
        residual,
    })
}
