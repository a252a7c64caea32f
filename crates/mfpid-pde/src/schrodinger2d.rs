//! Schrödinger system on a 2-D grid by Fortet iteration with PDE propagation.
//!
//! Same problem as [`crate::schrodinger`] in two dimensions: find `phi` (backward Feynman-Kac,
//! [`FeynmanKac2d`]) and `phi_hat` (forward Fokker-Planck with killing, [`FokkerPlanck2d`]) with
//! `p0 = phi(t0) phi_hat(t0)`, `p1 = phi(t1) phi_hat(t1)`. A dense kernel would have `(nx ny)^2`
//! entries, so each half-iteration propagates one vector through the implicit split steps
//! instead. Vectors are kept as `(normalised array with max 1, log scale)` pairs, so their
//! magnitudes never overflow; backward-Euler sweeps keep every propagated value positive with full
//! relative accuracy (positive arithmetic only). The stopping rule is the terminal marginal error
//! `hx hy sum |phi_1 phi_hat_1 - p1| < tol`.

use serde::{Deserialize, Serialize};

use crate::error::{check_len, check_positive, PdeError, Result};
use crate::fp2d::{Drift2d, FeynmanKac2d, FokkerPlanck2d, FpConfig2d, Potential2d};
use crate::grid::{check_density, Boundary, Grid2d};

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
                scheme: crate::fp1d::TimeScheme::BackwardEuler,
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

/// Scale `v` so that its maximum is 1; return the log of the factor removed. Fails on negative
/// or non-finite entries and on an all-zero vector.
fn renormalise(what: &'static str, v: &mut [f64]) -> Result<f64> {
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
    v.iter_mut().for_each(|x| *x /= m);
    Ok(m.ln())
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
    if config.n_segments == 0 || config.steps_per_segment == 0 {
        return Err(PdeError::InvalidParameter {
            name: "n_segments / steps_per_segment",
            value: 0.0,
            reason: "must be >= 1",
        });
    }
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
    let seg = crate::fp1d::uniform_dt(config.t0, config.t1, m)?;
    let ns = config.steps_per_segment;
    let dt = seg / ns as f64;
    let times: Vec<f64> = (0..=m).map(|k| config.t0 + k as f64 * seg).collect();
    let step_time = |k: usize| config.t0 + k as f64 * dt;
    let n_total = m * ns;
    let mut fwd = FokkerPlanck2d::new(*grid, config.solver)?;
    let mut bwd = FeynmanKac2d::new(*grid, config.solver)?;

    // backward pass from (phi1, ls) storing normalised snapshots at segment ends when asked
    let mut phi = vec![0.0; n];
    let mut phi_hat = vec![0.0; n];
    let mut phi1 = vec![1.0; n];
    let mut ls_phi1 = 0.0;
    let mut residual = f64::INFINITY;
    let mut iterations = 0;
    while iterations < config.max_iter {
        iterations += 1;
        phi.copy_from_slice(&phi1);
        let mut ls = ls_phi1;
        for k in (0..n_total).rev() {
            bwd.step_back(&mut phi, step_time(k + 1), dt, drift, potential)?;
            if k % ns == 0 {
                ls += renormalise("phi", &mut phi)?;
            }
        }
        // phi_hat_0 = p0 / phi_0 with phi_0 = e^ls phi (so phi_hat_0 = e^-ls p0 / phi)
        for i in 0..n {
            phi_hat[i] = if p0[i] > 0.0 { p0[i] / phi[i] } else { 0.0 };
        }
        let mut lsh = -ls + renormalise("phi_hat", &mut phi_hat)?;
        for k in 0..n_total {
            match potential {
                Some(v) => fwd.step_with_potential(&mut phi_hat, step_time(k), dt, drift, v)?,
                None => fwd.step(&mut phi_hat, step_time(k), dt, drift)?,
            }
            if (k + 1) % ns == 0 {
                lsh += renormalise("phi_hat", &mut phi_hat)?;
            }
        }
        // terminal marginal error of the current phi_1, then the Fortet update phi_1 = p1 / phi_hat_1
        let c = (ls_phi1 + lsh).exp();
        residual = grid.cell_area()
            * (0..n)
                .map(|i| (c * phi1[i] * phi_hat[i] - p1[i]).abs())
                .sum::<f64>();
        for i in 0..n {
            phi1[i] = if p1[i] > 0.0 { p1[i] / phi_hat[i] } else { 0.0 };
        }
        ls_phi1 = -lsh + renormalise("phi", &mut phi1)?;
        if residual < config.tol {
            break;
        }
    }
    if residual >= config.tol {
        return Err(PdeError::NotConverged {
            method: "Fortet (2-D)",
            iterations,
            residual,
            tolerance: config.tol,
        });
    }

    // snapshots with the converged pair
    let mut log_phi = vec![Vec::new(); m + 1];
    phi.copy_from_slice(&phi1);
    let mut ls = ls_phi1;
    log_phi[m] = phi.iter().map(|v| v.ln() + ls).collect();
    for k in (0..n_total).rev() {
        bwd.step_back(&mut phi, step_time(k + 1), dt, drift, potential)?;
        if k % ns == 0 {
            ls += renormalise("phi", &mut phi)?;
            log_phi[k / ns] = phi.iter().map(|v| v.ln() + ls).collect();
        }
    }
    let mut log_phi_hat = vec![Vec::new(); m + 1];
    for i in 0..n {
        phi_hat[i] = if p0[i] > 0.0 { p0[i] / phi[i] } else { 0.0 };
    }
    let mut lsh = -ls + renormalise("phi_hat", &mut phi_hat)?;
    log_phi_hat[0] = phi_hat.iter().map(|v| v.ln() + lsh).collect();
    for k in 0..n_total {
        match potential {
            Some(v) => fwd.step_with_potential(&mut phi_hat, step_time(k), dt, drift, v)?,
            None => fwd.step(&mut phi_hat, step_time(k), dt, drift)?,
        }
        if (k + 1) % ns == 0 {
            lsh += renormalise("phi_hat", &mut phi_hat)?;
            log_phi_hat[(k + 1) / ns] = phi_hat.iter().map(|v| v.ln() + lsh).collect();
        }
    }
    let density: Vec<Vec<f64>> = (0..=m)
        .map(|k| {
            log_phi[k]
                .iter()
                .zip(&log_phi_hat[k])
                .map(|(a, b)| {
                    let l = a + b;
                    if l.is_nan() {
                        0.0
                    } else {
                        l.exp()
                    }
                })
                .collect()
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
        for j in 0..ny {
            let row = &mut ux[j * (nx + 1)..(j + 1) * (nx + 1)];
            let l = |i: usize| lphi[j * nx + i];
            for (f, u) in row.iter_mut().enumerate().take(nx).skip(1) {
                *u += d * (l(f) - l(f - 1)) / hx;
            }
            if periodic {
                row[0] += d * (l(0) - l(nx - 1)) / hx;
                row[nx] = row[0];
            } else {
                row[0] = row[1];
                row[nx] = row[nx - 1];
            }
        }
        for i in 0..nx {
            let col = &mut uy[i * (ny + 1)..(i + 1) * (ny + 1)];
            let l = |j: usize| lphi[j * nx + i];
            for (f, u) in col.iter_mut().enumerate().take(ny).skip(1) {
                *u += d * (l(f) - l(f - 1)) / hy;
            }
            if periodic {
                col[0] += d * (l(0) - l(ny - 1)) / hy;
                col[ny] = col[0];
            } else {
                col[0] = col[1];
                col[ny] = col[ny - 1];
            }
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
