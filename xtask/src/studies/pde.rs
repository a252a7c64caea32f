//! Convergence study behind the `pde-convergence` reproduction entry: observed orders in space
//! and time of every solver of mfpid-pde on problems with exact or reference solutions.
//!
//! Each [`ConvergenceRow`] records one run; `order` is `ln(e_prev / e) / ln(N / N_prev)` against
//! the previous row of the same `(solver, problem)` series, where `N` is whichever of `nx`, `nt`
//! was refined (`None` for the first row of a series).

use serde::{Deserialize, Serialize};

use mfpid_pde::{
    dopri5, feedback_control, solve_riccati, solve_schrodinger, Boundary, ConstantRiccati,
    Dopri5Options, FeynmanKac1d, FokkerPlanck1d, FokkerPlanck2d, FpConfig, FpConfig2d, Grid1d,
    Grid2d, Hjb1d, HjbConfig, Result, SchrodingerConfig, Splitting, TimeScheme, ZeroDrift,
};

/// One row of the convergence table (`solver,problem,nx,nt,error,order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceRow {
    /// Solver and scheme, e.g. `fp1d-cn`.
    pub solver: String,
    /// Test problem, e.g. `ou-space`.
    pub problem: String,
    /// Cells per axis (1 for ODEs).
    pub nx: usize,
    /// Time steps (accepted steps for adaptive ODE runs).
    pub nt: usize,
    /// Error measure of the problem (L1 for densities, max-norm for potentials and ODEs).
    pub error: f64,
    /// Observed order against the previous row of the series.
    pub order: Option<f64>,
}

/// Problem sizes of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StudyLevel {
    /// Small grids: runs in well under a few seconds.
    Quick,
    /// The grids of the published table.
    Full,
}

fn gauss(x: f64, m: f64, v: f64) -> f64 {
    (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

/// Fill in `order` for consecutive rows of the same series.
fn with_orders(mut rows: Vec<ConvergenceRow>) -> Vec<ConvergenceRow> {
    for k in 1..rows.len() {
        let b = &rows[k];
        let Some(a) = rows[..k]
            .iter()
            .rfind(|a| a.solver == b.solver && a.problem == b.problem)
        else {
            continue;
        };
        let ratio = if a.nx != b.nx {
            b.nx as f64 / a.nx as f64
        } else {
            b.nt as f64 / a.nt as f64
        };
        if ratio > 1.0 && a.error > 0.0 && b.error > 0.0 {
            rows[k].order = Some((a.error / b.error).ln() / ratio.ln());
        }
    }
    rows
}

fn row(solver: &str, problem: &str, nx: usize, nt: usize, error: f64) -> ConvergenceRow {
    ConvergenceRow {
        solver: solver.into(),
        problem: problem.into(),
        nx,
        nt,
        error,
        order: None,
    }
}

/// OU `dx = -x dt + dW` from N(2, 0.09) on [-6, 6]; returns the density at t = 1.
fn ou_1d(nx: usize, nt: usize, scheme: TimeScheme) -> Result<(Grid1d, Vec<f64>)> {
    let grid = Grid1d::new(-6.0, 6.0, nx)?;
    let cfg = FpConfig {
        diffusion: 1.0,
        boundary: Boundary::ZeroFlux,
        scheme,
        max_peclet: None,
    };
    let mut fp = FokkerPlanck1d::new(grid, cfg)?;
    let mut p = grid.sample(|x| gauss(x, 2.0, 0.09));
    fp.solve(&mut p, 0.0, 1.0, nt, &|_t: f64, x: f64| -x)?;
    Ok((grid, p))
}

fn ou_exact(x: f64) -> f64 {
    let e = (-1.0f64).exp();
    gauss(x, 2.0 * e, 0.09 * e * e + 0.5 * (1.0 - e * e))
}

/// Run the study at the given level.
pub fn convergence_study(level: StudyLevel) -> Result<Vec<ConvergenceRow>> {
    let full = level == StudyLevel::Full;
    let mut rows = Vec::new();

    // 1-D Fokker-Planck, space: L1 against the exact OU Gaussian at t = 1
    let nt_space = if full { 1000 } else { 200 };
    let nxs: &[usize] = if full {
        &[50, 100, 200, 400, 800]
    } else {
        &[50, 100, 200]
    };
    for &nx in nxs {
        let (grid, p) = ou_1d(nx, nt_space, TimeScheme::CrankNicolson)?;
        let exact = grid.sample(ou_exact);
        rows.push(row(
            "fp1d-cn",
            "ou-space",
            nx,
            nt_space,
            grid.l1_distance(&p, &exact),
        ));
    }

    // 1-D Fokker-Planck, time: L1 against a same-grid 4000-step reference
    let nx_t = if full { 400 } else { 200 };
    let (grid, reference) = ou_1d(
        nx_t,
        if full { 8000 } else { 2000 },
        TimeScheme::CrankNicolson,
    )?;
    let nts: &[usize] = if full {
        &[10, 20, 40, 80, 160]
    } else {
        &[10, 20, 40]
    };
    for (name, scheme) in [
        ("fp1d-be", TimeScheme::BackwardEuler),
        ("fp1d-cn", TimeScheme::CrankNicolson),
        ("fp1d-trbdf2", TimeScheme::TrBdf2),
    ] {
        for &nt in nts {
            let (_, p) = ou_1d(nx_t, nt, scheme)?;
            rows.push(row(
                name,
                "ou-time",
                nx_t,
                nt,
                grid.l1_distance(&p, &reference),
            ));
        }
    }

    // 2-D Fokker-Planck, rotating OU b = -K x, space (Strang + CN sweeps)
    let k = [[1.0, 0.6], [-0.6, 0.8]];
    let moments = dopri5(
        |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = -(k[0][0] * y[0] + k[0][1] * y[1]);
            dy[1] = -(k[1][0] * y[0] + k[1][1] * y[1]);
            let ks00 = k[0][0] * y[2] + k[0][1] * y[3];
            let ks01 = k[0][0] * y[3] + k[0][1] * y[4];
            let ks10 = k[1][0] * y[2] + k[1][1] * y[3];
            let ks11 = k[1][0] * y[3] + k[1][1] * y[4];
            dy[2] = -2.0 * ks00 + 1.0;
            dy[3] = -(ks01 + ks10);
            dy[4] = -2.0 * ks11 + 1.0;
        },
        0.0,
        &[1.5, -0.5, 0.2, 0.05, 0.1],
        1.0,
        &Dopri5Options::default(),
    )?;
    let g2 = |x: f64, y: f64, m: &[f64]| {
        let det = m[2] * m[4] - m[3] * m[3];
        let (dx, dy) = (x - m[0], y - m[1]);
        let q = (m[4] * dx * dx - 2.0 * m[3] * dx * dy + m[2] * dy * dy) / det;
        (-0.5 * q).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
    };
    let m0 = [1.5, -0.5, 0.2, 0.05, 0.1];
    let m1 = moments.y_end().to_vec();
    let ns2: &[usize] = if full { &[32, 64, 128, 256] } else { &[24, 48] };
    let nt2 = if full { 200 } else { 40 };
    for &n in ns2 {
        let grid = Grid2d::square(-5.0, 5.0, n)?;
        let mut p = grid.sample(|x, y| g2(x, y, &m0));
        let mut fp = FokkerPlanck2d::new(
            grid,
            FpConfig2d {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
                scheme: TimeScheme::CrankNicolson,
                splitting: Splitting::Strang,
            },
        )?;
        let drift = move |_t: f64, x: f64, y: f64| {
            [-(k[0][0] * x + k[0][1] * y), -(k[1][0] * x + k[1][1] * y)]
        };
        fp.solve(&mut p, 0.0, 1.0, nt2, &drift)?;
        let exact = grid.sample(|x, y| g2(x, y, &m1));
        rows.push(row(
            "fp2d-strang-cn",
            "rotating-ou-space",
            n,
            nt2,
            grid.l1_distance(&p, &exact),
        ));
    }

    // Feynman-Kac with harmonic V against the Mehler kernel (max error at t = 0)
    let (w, tau) = (1.3f64, 0.8f64);
    let phi1 = |y: f64| (-(y - 0.4).powi(2) / 0.6).exp();
    let quad = Grid1d::new(-10.0, 10.0, if full { 16000 } else { 4000 })?;
    let mehler = |x: f64, y: f64| {
        let (s, c) = ((w * tau).sinh(), (w * tau).cosh());
        (w / (2.0 * std::f64::consts::PI * s)).sqrt()
            * (-w * ((x * x + y * y) * c - 2.0 * x * y) / (2.0 * s)).exp()
    };
    let v = |_t: f64, x: f64| 0.5 * w * w * x * x;
    let nxs_fk: &[usize] = if full {
        &[50, 100, 200, 400, 800]
    } else {
        &[50, 100, 200]
    };
    for &nx in nxs_fk {
        let grid = Grid1d::new(-6.0, 6.0, nx)?;
        let mut fk = FeynmanKac1d::new(
            grid,
            FpConfig {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
                scheme: TimeScheme::CrankNicolson,
                max_peclet: None,
            },
        )?;
        let mut phi = grid.sample(phi1);
        let nt = 4 * nx;
        fk.solve_back(&mut phi, tau, 0.0, nt, &ZeroDrift, Some(&v))?;
        let mut err = 0.0f64;
        for (i, ph) in phi.iter().enumerate() {
            let x = grid.center(i);
            let exact: f64 = quad.h()
                * (0..quad.n())
                    .map(|q| {
                        let y = quad.center(q);
                        mehler(x, y) * phi1(y)
                    })
                    .sum::<f64>();
            err = err.max((ph - exact).abs());
        }
        rows.push(row("feynman-kac-cn", "mehler", nx, nt, err));
    }

    // monotone HJB against the LQ Riccati solution (max error of J on |x| <= 1.5)
    let (q, c) = (4.0, 1.0);
    let ode = dopri5(
        |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = y[0] * y[0] - q;
            dy[1] = -0.5 * y[0];
        },
        1.0,
        &[c, 0.0],
        0.0,
        &Dopri5Options::default(),
    )?;
    let (s0, k0) = (ode.y_end()[0], ode.y_end()[1]);
    let nxs_h: &[usize] = if full {
        &[40, 80, 160, 320, 640]
    } else {
        &[40, 80, 160]
    };
    for &nx in nxs_h {
        let grid = Grid1d::new(-4.0, 4.0, nx)?;
        let mut hjb = Hjb1d::new(
            grid,
            HjbConfig {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
            },
        )?;
        let h = grid.h();
        let nt = (1.0 / (0.9 / (20.0 / h + 1.0 / (h * h)))).ceil() as usize;
        let mut j = grid.sample(|x| 0.5 * c * x * x);
        let vq = |_t: f64, x: f64| 0.5 * q * x * x;
        hjb.solve_back(&mut j, 1.0, 0.0, nt, &|_t: f64, _x: f64| 0.0, &vq)?;
        let mut u = vec![0.0; nx];
        feedback_control(&grid, &j, false, &mut u)?;
        let (mut ej, mut eu) = (0.0f64, 0.0f64);
        for i in 0..nx {
            let x = grid.center(i);
            if x.abs() <= 1.5 {
                ej = ej.max((j[i] - (0.5 * s0 * x * x + k0)).abs());
                eu = eu.max((u[i] + s0 * x).abs());
            }
        }
        rows.push(row("hjb-monotone", "lq-value", nx, nt, ej));
        rows.push(row("hjb-monotone", "lq-feedback", nx, nt, eu));
    }

    // Schrödinger system, V = 0, between N(-1, 0.16) and N(1, 0.36): max L1 over t = 1/4, 1/2, 3/4
    let nxs_s: &[usize] = if full { &[40, 80, 160, 320] } else { &[40, 80] };
    for (name, scheme) in [
        ("schrodinger-be", TimeScheme::BackwardEuler),
        ("schrodinger-cn", TimeScheme::CrankNicolson),
    ] {
        for &nx in nxs_s {
            let grid = Grid1d::new(-5.0, 5.0, nx)?;
            // dt = 0.64 h^2 per step: CN kernels stay positive (limit 2 h^2) and both schemes'
            // time errors scale like h^2
            let steps = (nx * nx / 256).max(2);
            let p0 = grid.sample(|x| gauss(x, -1.0, 0.16));
            let p1 = grid.sample(|x| gauss(x, 1.0, 0.36));
            let cfg = SchrodingerConfig {
                scheme,
                n_segments: 4,
                steps_per_segment: steps,
                ..SchrodingerConfig::default()
            };
            let sol = solve_schrodinger(&grid, &p0, &p1, &ZeroDrift, None, &cfg)?;
            let cc = (4.0f64 * 0.16 * 0.36 + 1.0).sqrt();
            let mut err = 0.0f64;
            for kk in 1..4 {
                let t = sol.times[kk];
                let m = -1.0 + 2.0 * t;
                let var = (1.0 - t).powi(2) * 0.16 + t * t * 0.36 + t * (1.0 - t) * cc;
                let exact = grid.sample(|x| gauss(x, m, var));
                err = err.max(grid.l1_distance(&sol.density[kk], &exact));
            }
            rows.push(row(name, "gaussian-bridge", nx, 4 * steps, err));
        }
    }

    // Riccati (DP5, packed) against the LQG closed form, by tolerance
    let (kappa, qq, sig) = (0.6f64, 12.0f64, 0.5f64);
    let delta = (kappa * kappa + qq).sqrt();
    let e2 = (-2.0 * delta).exp();
    let rho = (2.0 * delta * sig * sig + e2 - 1.0) / (2.0 * delta * sig * sig * e2 + e2 - 1.0);
    let s_closed = |t: f64| {
        let e = rho * (2.0 * delta * (t - 1.0)).exp();
        -kappa + delta * (1.0 + e) / (1.0 - e)
    };
    let coeffs = ConstantRiccati::scalar(kappa, -1.0, -qq)?;
    let s_init = nalgebra::DMatrix::from_element(1, 1, s_closed(0.0));
    let tols: &[f64] = if full {
        &[1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
    } else {
        &[1e-4, 1e-6, 1e-8]
    };
    for &tol in tols {
        let sol = solve_riccati(
            &coeffs,
            0.0,
            &s_init,
            1.0,
            &Dopri5Options {
                rtol: tol,
                atol: tol,
                ..Dopri5Options::default()
            },
        )?;
        let mut err = 0.0f64;
        for &t in sol.ode().times() {
            err = err.max((sol.eval(t)?[(0, 0)] - s_closed(t)).abs());
        }
        rows.push(row(
            "riccati-dp5",
            "lqg-closed-form",
            1,
            sol.ode().n_accepted,
            err,
        ));
    }
    Ok(with_orders(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_study_has_expected_orders() {
        let rows = convergence_study(StudyLevel::Quick).unwrap();
        let last = |s: &str, p: &str| {
            rows.iter()
                .rfind(|r| r.solver == s && r.problem == p)
                .and_then(|r| r.order)
                .unwrap()
        };
        assert!((1.8..2.2).contains(&last("fp1d-cn", "ou-space")));
        assert!((0.85..1.15).contains(&last("fp1d-be", "ou-time")));
        assert!((1.8..2.2).contains(&last("fp1d-cn", "ou-time")));
        assert!((1.8..2.3).contains(&last("fp1d-trbdf2", "ou-time")));
        assert!((1.7..2.3).contains(&last("fp2d-strang-cn", "rotating-ou-space")));
        assert!((1.8..2.2).contains(&last("feynman-kac-cn", "mehler")));
        assert!((0.8..1.2).contains(&last("hjb-monotone", "lq-value")));
        assert!(last("schrodinger-cn", "gaussian-bridge") > 1.8);
        assert!(last("schrodinger-be", "gaussian-bridge") > 1.6);
        assert!(last("riccati-dp5", "lqg-closed-form") > 3.5);
    }
}
