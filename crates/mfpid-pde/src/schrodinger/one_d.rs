//! Schrödinger system on a 1-D grid (Fortet / Sinkhorn iteration in the log domain); the
//! problem is stated in [`crate::schrodinger`].
//!
//! Discretisation: the forward propagator of each output segment is the product of implicit
//! Fokker-Planck steps with killing ([`crate::stepping`]); it is formed column by column
//! (`O(n^2 steps)` per segment, columns in parallel) and stored as `log K`. The backward
//! propagator is its exact transpose, so `h sum(phi_t phi_hat_t)` is the same at every output
//! time. Sinkhorn updates run on `log phi`, `log phi_hat` with log-sum-exp products, so densities
//! spanning hundreds of orders of magnitude cause no underflow. Backward Euler (the default)
//! keeps every kernel entry positive; other schemes are accepted only if they do too.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::drift::{Drift1d, Potential};
use crate::error::{check_len, check_positive, PdeError, Result};
use crate::grid::{check_density, Boundary, Grid1d};
use crate::stepping::line::LineStepper;
use crate::stepping::{FpConfig, TimeScheme};

use super::{add_log_gradient, check_segments, product_density, segment_times};

/// Configuration of [`solve_schrodinger`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SchrodingerConfig {
    /// Diffusion coefficient `D > 0`.
    pub diffusion: f64,
    /// [`Boundary::ZeroFlux`] or [`Boundary::Periodic`].
    pub boundary: Boundary,
    /// Initial time.
    pub t0: f64,
    /// Final time (`> t0`).
    pub t1: f64,
    /// Number of equal output segments; outputs at `t0 + k (t1 - t0) / n_segments`, `k = 0..=n_segments`.
    pub n_segments: usize,
    /// Implicit steps per segment.
    pub steps_per_segment: usize,
    /// Time scheme of the propagators (backward Euler keeps kernels positive).
    pub scheme: TimeScheme,
    /// Stop when `max |log(phi_1 phi_hat_1 / p1)|` over the support of `p1` is below this.
    pub tol: f64,
    /// Iteration budget.
    pub max_iter: usize,
}

impl Default for SchrodingerConfig {
    fn default() -> Self {
        Self {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            t0: 0.0,
            t1: 1.0,
            n_segments: 4,
            steps_per_segment: 50,
            scheme: TimeScheme::BackwardEuler,
            tol: 1e-10,
            max_iter: 5000,
        }
    }
}

/// Output of [`solve_schrodinger`]; all per-time arrays are indexed like `times`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchrodingerSolution {
    /// Output times `t0 = s_0 < ... < s_M = t1`.
    pub times: Vec<f64>,
    /// `log phi` at the cell centres (`-inf` where `phi = 0`).
    pub log_phi: Vec<Vec<f64>>,
    /// `log phi_hat` at the cell centres.
    pub log_phi_hat: Vec<Vec<f64>>,
    /// Marginal densities `p_t = phi_t phi_hat_t` (cell averages, unit mass up to the tolerance).
    pub density: Vec<Vec<f64>>,
    /// Optimal drift `b + D (log phi_{i} - log phi_{i-1}) / h` at the `n + 1` faces; the wall
    /// faces of a zero-flux grid copy their neighbouring interior face.
    pub drift_faces: Vec<Vec<f64>>,
    /// Sinkhorn iterations used.
    pub iterations: usize,
    /// Final marginal residual `max |log(phi_1 phi_hat_1 / p1)|`.
    pub residual: f64,
}

/// Solve the Schrödinger system (see the module docs). `p0`, `p1` are cell averages on `grid`
/// (non-negative, positive mass; they are normalised internally). `potential` is `V(t, x)` at cell
/// centres, `None` for `V = 0`.
pub fn solve_schrodinger(
    grid: &Grid1d,
    p0: &[f64],
    p1: &[f64],
    drift: &(impl Drift1d + Sync + ?Sized),
    potential: Option<&(dyn Fn(f64, f64) -> f64 + Sync)>,
    config: &SchrodingerConfig,
) -> Result<SchrodingerSolution> {
    let n = grid.n();
    check_len("p0", p0.len(), n)?;
    check_len("p1", p1.len(), n)?;
    check_density("p0", p0)?;
    check_density("p1", p1)?;
    let mut p0 = p0.to_vec();
    let mut p1 = p1.to_vec();
    grid.normalize("p0", &mut p0)?;
    grid.normalize("p1", &mut p1)?;
    check_positive("tol", config.tol)?;
    if matches!(config.boundary, Boundary::Dirichlet { .. }) {
        return Err(PdeError::OutOfRange {
            what: "boundary",
            value: f64::NAN,
            reason: "Schrödinger solver supports ZeroFlux and Periodic walls",
        });
    }
    check_segments(config.n_segments, config.steps_per_segment)?;
    let m = config.n_segments;
    let (times, dt) = segment_times(config.t0, config.t1, m, config.steps_per_segment)?;
    let engine = LineStepper::new(
        *grid,
        &FpConfig {
            diffusion: config.diffusion,
            boundary: config.boundary,
            scheme: config.scheme,
            max_peclet: None,
        },
    )?;

    // log K_k, row-major (i, j) = log of the weight of source cell j in target cell i, and its transpose
    let mut log_k = vec![vec![0.0; n * n]; m];
    let mut log_kt = vec![vec![0.0; n * n]; m];
    for k in 0..m {
        let t_start = times[k];
        // columns of K_k in parallel; each worker owns one engine and one state vector
        let cols: Vec<Result<Vec<f64>>> = (0..n)
            .into_par_iter()
            .map_init(
                || (engine.clone(), vec![0.0; n]),
                |(eng, x), j| {
                    x.iter_mut().for_each(|v| *v = 0.0);
                    x[j] = 1.0;
                    for s in 0..config.steps_per_segment {
                        let ta = t_start + s as f64 * dt;
                        let tb = t_start + (s + 1) as f64 * dt;
                        let kill: Option<Potential<'_>> = potential.map(|v| v as Potential<'_>);
                        eng.step(x, ta, tb, drift, kill, false)?;
                    }
                    Ok(x.clone())
                },
            )
            .collect();
        for (j, col) in cols.into_iter().enumerate() {
            let col = col?;
            for (i, v) in col.iter().enumerate() {
                if *v < 0.0 || v.is_nan() {
                    return Err(PdeError::NonPositiveKernel {
                        row: i,
                        col: j,
                        value: *v,
                    });
                }
                let l = v.ln();
                log_k[k][i * n + j] = l;
                log_kt[k][j * n + i] = l;
            }
        }
    }

    let log_p0: Vec<f64> = p0.iter().map(|v| v.ln()).collect();
    let log_p1: Vec<f64> = p1.iter().map(|v| v.ln()).collect();
    let mut lphi1 = vec![0.0; n];
    let mut a = vec![0.0; n];
    let mut b = vec![0.0; n];
    let mut residual = f64::INFINITY;
    let mut iterations = 0;
    while iterations < config.max_iter {
        iterations += 1;
        // phi_0 = K^T phi_1 (backward through the segments)
        a.copy_from_slice(&lphi1);
        for k in (0..m).rev() {
            lse_matvec(&log_kt[k], &a, &mut b, n);
            std::mem::swap(&mut a, &mut b);
        }
        // phi_hat_0 = p0 / phi_0, then forward
        for i in 0..n {
            a[i] = log_p0[i] - a[i];
            if a[i].is_nan() {
                a[i] = f64::NEG_INFINITY;
            }
        }
        for lk in log_k.iter() {
            lse_matvec(lk, &a, &mut b, n);
            std::mem::swap(&mut a, &mut b);
        }
        residual = 0.0;
        for i in 0..n {
            if p1[i] > 0.0 {
                residual = f64::max(residual, (lphi1[i] + a[i] - log_p1[i]).abs());
            }
            lphi1[i] = log_p1[i] - a[i];
            if lphi1[i].is_nan() {
                lphi1[i] = f64::NEG_INFINITY;
            }
        }
        if residual < config.tol {
            break;
        }
    }
    // residual is NaN-free (max of finite values or +inf), so this also catches no progress
    if residual >= config.tol {
        return Err(PdeError::NotConverged {
            method: "Fortet-Sinkhorn",
            iterations,
            residual,
            tolerance: config.tol,
        });
    }

    // final potentials at every output time
    let mut log_phi = vec![vec![0.0; n]; m + 1];
    log_phi[m].copy_from_slice(&lphi1);
    for k in (0..m).rev() {
        let (lo, hi) = log_phi.split_at_mut(k + 1);
        lse_matvec(&log_kt[k], &hi[0], &mut lo[k], n);
    }
    let mut log_phi_hat = vec![vec![0.0; n]; m + 1];
    for i in 0..n {
        let v = log_p0[i] - log_phi[0][i];
        log_phi_hat[0][i] = if v.is_nan() { f64::NEG_INFINITY } else { v };
    }
    for k in 0..m {
        let (lo, hi) = log_phi_hat.split_at_mut(k + 1);
        lse_matvec(&log_k[k], &lo[k], &mut hi[0], n);
    }
    let density: Vec<Vec<f64>> = (0..=m)
        .map(|k| product_density(&log_phi[k], &log_phi_hat[k]))
        .collect();
    let faces = grid.faces();
    let h = grid.h();
    let d = config.diffusion;
    let mut drift_faces = Vec::with_capacity(m + 1);
    for (k, lphi) in log_phi.iter().enumerate() {
        let mut u = vec![0.0; n + 1];
        drift.face_velocities(times[k], &faces, &mut u)?;
        add_log_gradient(
            &mut u,
            |i| lphi[i],
            d,
            h,
            config.boundary == Boundary::Periodic,
        );
        drift_faces.push(u);
    }
    Ok(SchrodingerSolution {
        times,
        log_phi,
        log_phi_hat,
        density,
        drift_faces,
        iterations,
        residual,
    })
}

/// `out[i] = log sum_j exp(mat[i n + j] + x[j])` (row-major `n x n`), `-inf` for empty rows.
fn lse_matvec(mat: &[f64], x: &[f64], out: &mut [f64], n: usize) {
    out.par_iter_mut().enumerate().for_each(|(i, o)| {
        let row = &mat[i * n..(i + 1) * n];
        let mut mx = f64::NEG_INFINITY;
        for (r, v) in row.iter().zip(x) {
            mx = mx.max(r + v);
        }
        if mx == f64::NEG_INFINITY {
            *o = f64::NEG_INFINITY;
            return;
        }
        let s: f64 = row.iter().zip(x).map(|(r, v)| (r + v - mx).exp()).sum();
        *o = mx + s.ln();
    });
}
