//! Acceptance tests of the 1-D Fokker-Planck and backward Kolmogorov solvers.

use mfpid_pde::{
    gibbs_state, potential_faces, Boundary, FaceTable, FeynmanKac1d, FokkerPlanck1d, FpConfig,
    Grid1d, PdeError, TimeScheme, ZeroDrift,
};

fn gauss(x: f64, m: f64, v: f64) -> f64 {
    (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

/// OU dx = -kappa x dt + sqrt(D) dW from N(m0, v0): exact N(m0 e^{-kt}, v0 e^{-2kt} + D/(2k)(1-e^{-2kt})).
struct Ou {
    kappa: f64,
    d: f64,
    m0: f64,
    v0: f64,
}

impl Ou {
    fn exact(&self, t: f64, x: f64) -> f64 {
        let e = (-self.kappa * t).exp();
        let v = self.v0 * e * e + self.d / (2.0 * self.kappa) * (1.0 - e * e);
        gauss(x, self.m0 * e, v)
    }
    fn run(&self, nx: usize, nt: usize, scheme: TimeScheme) -> (Grid1d, Vec<f64>, Vec<f64>, f64) {
        let grid = Grid1d::new(-6.0, 6.0, nx).unwrap();
        let mut fp = FokkerPlanck1d::new(
            grid,
            FpConfig {
                diffusion: self.d,
                boundary: Boundary::ZeroFlux,
                scheme,
                max_peclet: None,
            },
        )
        .unwrap();
        let mut p = grid.sample(|x| self.exact(0.0, x));
        let mass0 = grid.integrate(&p);
        let kappa = self.kappa;
        let mut min_seen = f64::INFINITY;
        let dt = 1.0 / nt as f64;
        for k in 0..nt {
            fp.step(&mut p, k as f64 * dt, dt, &|_t: f64, x: f64| -kappa * x)
                .unwrap();
            min_seen = p.iter().copied().fold(min_seen, f64::min);
        }
        let mass_err = (grid.integrate(&p) - mass0).abs() / mass0;
        let exact = grid.sample(|x| self.exact(1.0, x));
        (
            grid,
            p,
            exact,
            mass_err.max(if min_seen < 0.0 { 1.0 } else { 0.0 }),
        )
    }
}

const OU: Ou = Ou {
    kappa: 1.0,
    d: 1.0,
    m0: 2.0,
    v0: 0.09,
};

#[test]
fn ou_space_order_mass_and_positivity() {
    let mut errs = Vec::new();
    for nx in [60, 120, 240] {
        let (grid, p, exact, mass_or_neg) = OU.run(nx, 400, TimeScheme::CrankNicolson);
        assert!(
            mass_or_neg < 1e-12,
            "nx={nx}: mass drift or negativity {mass_or_neg}"
        );
        errs.push(grid.l1_distance(&p, &exact));
    }
    let orders: Vec<f64> = errs.windows(2).map(|w| (w[0] / w[1]).log2()).collect();
    eprintln!("OU space: L1 errors {errs:?}, orders {orders:?}");
    for o in &orders {
        assert!(
            (1.8..2.3).contains(o),
            "space orders {orders:?}, errors {errs:?}"
        );
    }
    assert!(errs[2] < 2e-3, "{errs:?}");
}

#[test]
fn ou_time_orders_against_same_grid_reference() {
    // temporal error isolated against a 4000-step reference on the same grid
    let nx = 200;
    let (grid, reference, _, _) = OU.run(nx, 4000, TimeScheme::CrankNicolson);
    for (scheme, lo, hi) in [
        (TimeScheme::BackwardEuler, 0.85, 1.15),
        (TimeScheme::CrankNicolson, 1.8, 2.2),
        (TimeScheme::TrBdf2, 1.8, 2.3),
    ] {
        let errs: Vec<f64> = [10, 20, 40]
            .iter()
            .map(|&nt| {
                let (_, p, _, mass_or_neg) = OU.run(nx, nt, scheme);
                assert!(mass_or_neg < 1e-12, "{scheme:?} nt={nt}");
                grid.l1_distance(&p, &reference)
            })
            .collect();
        eprintln!("OU time {scheme:?}: L1 errors {errs:?}");
        for w in errs.windows(2) {
            let order = (w[0] / w[1]).log2();
            assert!(
                (lo..hi).contains(&order),
                "{scheme:?}: order {order}, errors {errs:?}"
            );
        }
    }
}

#[test]
fn gibbs_state_is_exact_fixed_point() {
    let grid = Grid1d::new(-2.5, 2.5, 101).unwrap();
    let u = |x: f64| 0.25 * x.powi(4) - x * x; // double well
    let d = 0.8;
    let b = potential_faces(&grid, u);
    let gibbs = gibbs_state(&grid, d, &b).unwrap();
    // the discrete Gibbs state is exp(-2U/D) sampled at the centres
    let mut sampled = grid.sample(|x| (-2.0 * u(x) / d).exp());
    grid.normalize("sampled", &mut sampled).unwrap();
    assert!(grid.l1_distance(&gibbs, &sampled) < 1e-13);
    let table = FaceTable::constant(b.clone()).unwrap();
    for scheme in [
        TimeScheme::BackwardEuler,
        TimeScheme::CrankNicolson,
        TimeScheme::TrBdf2,
    ] {
        let mut fp = FokkerPlanck1d::new(
            grid,
            FpConfig {
                diffusion: d,
                scheme,
                ..FpConfig::default()
            },
        )
        .unwrap();
        let mut p = gibbs.clone();
        fp.solve(&mut p, 0.0, 5.0, 10, &table).unwrap();
        let dev = grid.l1_distance(&p, &gibbs);
        assert!(dev < 1e-12, "{scheme:?}: {dev}");
    }
    // relaxation from a uniform start with large backward-Euler steps reaches it
    let mut fp = FokkerPlanck1d::new(
        grid,
        FpConfig {
            diffusion: d,
            scheme: TimeScheme::BackwardEuler,
            ..FpConfig::default()
        },
    )
    .unwrap();
    let mut p = vec![1.0 / 5.0; grid.n()];
    fp.solve(&mut p, 0.0, 200.0, 400, &table).unwrap();
    assert!(grid.l1_distance(&p, &gibbs) < 1e-10);
    assert!(p.iter().all(|v| *v > 0.0));
}

#[test]
fn face_table_matches_closure_and_dirichlet_profile_is_exact() {
    let grid = Grid1d::new(-3.0, 3.0, 60).unwrap();
    let drift = |t: f64, x: f64| -(1.0 + t) * x + 0.3;
    let nt = 20;
    let dt = 0.05;
    let times: Vec<f64> = (0..=nt).map(|k| k as f64 * dt).collect();
    let faces = grid.faces();
    let values: Vec<f64> = times
        .iter()
        .flat_map(|&t| faces.iter().map(move |&x| drift(t, x)))
        .collect();
    let table = FaceTable::new(times, faces.len(), values).unwrap();
    let cfg = FpConfig {
        scheme: TimeScheme::TrBdf2,
        ..FpConfig::default()
    };
    let mut p1 = grid.sample(|x| gauss(x, 0.5, 0.2));
    let mut p2 = p1.clone();
    let mut fp = FokkerPlanck1d::new(grid, cfg).unwrap();
    fp.solve(&mut p1, 0.0, 1.0, nt, &drift).unwrap();
    // TR-BDF2 evaluates the drift at an interior stage time: the table interpolates linearly,
    // the closure is exact, so they differ by O(dt^2) there; with BE they agree to rounding.
    fp.solve(&mut p2, 0.0, 1.0, nt, &table).unwrap();
    assert!(grid.l1_distance(&p1, &p2) < 1e-3);
    let be = FpConfig {
        scheme: TimeScheme::BackwardEuler,
        ..cfg
    };
    let mut fp = FokkerPlanck1d::new(grid, be).unwrap();
    let mut p1 = grid.sample(|x| gauss(x, 0.5, 0.2));
    let mut p2 = p1.clone();
    fp.solve(&mut p1, 0.0, 1.0, nt, &drift).unwrap();
    fp.solve(&mut p2, 0.0, 1.0, nt, &table).unwrap();
    assert!(grid.l1_distance(&p1, &p2) < 1e-14);

    // constant drift b, Dirichlet walls: steady solution A + B exp(b x / eps) is exact on the grid
    let (b, d, left, right) = (0.7, 1.0, 2.0, 0.5);
    let eps = d / 2.0;
    let (lo, hi) = (grid.lo(), grid.hi());
    let coef_b = (right - left) / ((b * hi / eps).exp() - (b * lo / eps).exp());
    let coef_a = left - coef_b * (b * lo / eps).exp();
    let exact = grid.sample(|x| coef_a + coef_b * (b * x / eps).exp());
    let mut fp = FokkerPlanck1d::new(
        grid,
        FpConfig {
            diffusion: d,
            boundary: Boundary::Dirichlet { left, right },
            scheme: TimeScheme::BackwardEuler,
            max_peclet: None,
        },
    )
    .unwrap();
    let mut p = vec![1.0; grid.n()];
    fp.solve(&mut p, 0.0, 400.0, 200, &|_t: f64, _x: f64| b)
        .unwrap();
    let err = p
        .iter()
        .zip(&exact)
        .fold(0.0f64, |m, (a, e)| m.max((a - e).abs()));
    assert!(err < 1e-11, "Dirichlet steady profile error {err}");
}

#[test]
fn periodic_mass_and_duality_with_backward_solver() {
    let grid = Grid1d::new(0.0, 1.0, 64).unwrap();
    let cfg = FpConfig {
        diffusion: 0.3,
        boundary: Boundary::Periodic,
        scheme: TimeScheme::BackwardEuler,
        max_peclet: None,
    };
    let drift = |_t: f64, x: f64| (2.0 * std::f64::consts::PI * x).sin() + 0.5;
    let mut fp = FokkerPlanck1d::new(grid, cfg).unwrap();
    let mut fk = FeynmanKac1d::new(grid, cfg).unwrap();
    let mut p = grid.sample(|x| 1.0 + 0.5 * (6.0 * x).cos());
    let mut phi = grid.sample(|x| (3.0 * x).sin().exp());
    let before: f64 = p.iter().zip(&phi).map(|(a, b)| a * b).sum();
    let mass0 = grid.integrate(&p);
    // time-independent drift: one BE step forward is the transpose of one BE step backward
    let mut p1 = p.clone();
    fp.step(&mut p1, 0.0, 0.1, &drift).unwrap();
    let mut phi0 = phi.clone();
    fk.step_back(&mut phi0, 0.1, 0.1, &drift, None).unwrap();
    let lhs: f64 = p1.iter().zip(&phi).map(|(a, b)| a * b).sum();
    let rhs: f64 = p.iter().zip(&phi0).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-12 * before.abs(), "{lhs} vs {rhs}");
    fp.solve(&mut p, 0.0, 3.0, 300, &drift).unwrap();
    assert!((grid.integrate(&p) - mass0).abs() < 1e-12);
    // constants are preserved by the backward operator (no potential)
    let mut one = vec![1.0; grid.n()];
    fk.solve_back(&mut one, 1.0, 0.0, 50, &drift, None).unwrap();
    assert!(one.iter().all(|v| (v - 1.0).abs() < 1e-12));
    phi.iter_mut().for_each(|v| *v = v.abs());
}

#[test]
fn typed_errors() {
    let grid = Grid1d::new(-1.0, 1.0, 20).unwrap();
    assert!(matches!(
        FokkerPlanck1d::new(
            grid,
            FpConfig {
                diffusion: -1.0,
                ..FpConfig::default()
            }
        ),
        Err(PdeError::OutOfRange {
            what: "diffusion",
            ..
        })
    ));
    let mut fp = FokkerPlanck1d::new(
        grid,
        FpConfig {
            max_peclet: Some(2.0),
            ..FpConfig::default()
        },
    )
    .unwrap();
    let mut p = vec![1.0; 20];
    let err = fp.step(&mut p, 0.0, 0.1, &|_t: f64, _x: f64| 100.0);
    assert!(
        matches!(err, Err(PdeError::GridTooCoarse { .. })),
        "{err:?}"
    );
    let err = fp.step(&mut p, 0.0, 0.1, &|_t: f64, x: f64| {
        if x > 0.5 {
            f64::NAN
        } else {
            0.0
        }
    });
    assert!(matches!(err, Err(PdeError::NonFinite { .. })));
    let mut short = vec![1.0; 10];
    assert!(matches!(
        fp.step(&mut short, 0.0, 0.1, &ZeroDrift),
        Err(PdeError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        fp.step(&mut p, 0.0, 0.0, &ZeroDrift),
        Err(PdeError::OutOfRange { what: "dt", .. })
    ));
    let table = FaceTable::constant(vec![0.0; 5]).unwrap();
    assert!(matches!(
        fp.step(&mut p, 0.0, 0.1, &table),
        Err(PdeError::DimensionMismatch { .. })
    ));
}

/// The shape of the workspace-level bridge test: a guided drift that blows up like 1/(1-t),
/// supplied as a tabulated FnMut, started from the analytic marginal at t = 0.05.
/// Brownian bridge from x_0 = 0 to N(m, s2): x_t | y ~ N(t y, t(1-t)), p*_t = N(t m, t^2 s2 + t(1-t)),
/// u(t, x) = (E[y | x_t = x] - x) / (1 - t), E[y | x] = m + t s2 (x - t m) / (t^2 s2 + t(1-t)).
#[test]
fn guided_bridge_drift_reproduces_analytic_marginals() {
    let (m, s2) = (1.2, 0.09);
    let var = |t: f64| t * t * s2 + t * (1.0 - t);
    let mut calls = 0usize; // FnMut: the drift may keep state
    let mut drift = |t: f64, x: f64| -> Result<f64, std::convert::Infallible> {
        calls += 1;
        let ey = m + t * s2 * (x - t * m) / var(t);
        Ok((ey - x) / (1.0 - t))
    };
    let grid = Grid1d::new(-3.0, 4.0, 1400).unwrap();
    let (t0, t_end, nt) = (0.05, 0.95, 900);
    let dt = (t_end - t0) / nt as f64;
    let times: Vec<f64> = (0..=nt).map(|k| t0 + k as f64 * dt).collect();
    let table = FaceTable::tabulate(&grid, times, &mut drift).unwrap();
    assert_eq!(calls, (nt + 1) * (grid.n() + 1));
    let mut fp = FokkerPlanck1d::new(
        grid,
        FpConfig {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::CrankNicolson,
            max_peclet: None,
        },
    )
    .unwrap();
    let mut p = grid.sample(|x| gauss(x, t0 * m, var(t0)));
    let mut errs = Vec::new();
    for k in 0..nt {
        let t = t0 + k as f64 * dt;
        fp.step(&mut p, t, dt, &table).unwrap();
        let t_new = t0 + (k + 1) as f64 * dt;
        for check in [0.25, 0.5, 0.75] {
            if (t_new - check).abs() < 0.5 * dt {
                let exact = grid.sample(|x| gauss(x, check * m, var(check)));
                errs.push(grid.l1_distance(&p, &exact));
            }
        }
    }
    eprintln!("guided bridge drift: L1 at t = 0.25, 0.5, 0.75: {errs:?}");
    assert_eq!(errs.len(), 3);
    assert!(errs.iter().all(|e| *e < 1e-3), "{errs:?}");
}

/// Periodic advection-diffusion with constant drift: a Fourier mode translates and decays,
/// p = 1 + a cos(2 pi (x - b t)) exp(-(D/2)(2 pi)^2 t). All three schemes, mass exact.
#[test]
fn periodic_fourier_mode_all_schemes() {
    let (b, d, a) = (0.7, 0.2, 0.5);
    let two_pi = 2.0 * std::f64::consts::PI;
    let grid = Grid1d::new(0.0, 1.0, 200).unwrap();
    for scheme in [
        TimeScheme::BackwardEuler,
        TimeScheme::CrankNicolson,
        TimeScheme::TrBdf2,
    ] {
        let mut fp = FokkerPlanck1d::new(
            grid,
            FpConfig {
                diffusion: d,
                boundary: Boundary::Periodic,
                scheme,
                max_peclet: None,
            },
        )
        .unwrap();
        // cell averages of the mode (exact integral over each cell)
        let h = grid.h();
        let avg = |t: f64| {
            (0..grid.n())
                .map(|i| {
                    let (x0, x1) = (grid.face(i), grid.face(i + 1));
                    let damp = (-0.5 * d * two_pi * two_pi * t).exp();
                    1.0 + a * damp * ((two_pi * (x1 - b * t)).sin() - (two_pi * (x0 - b * t)).sin())
                        / (two_pi * h)
                })
                .collect::<Vec<f64>>()
        };
        let mut p = avg(0.0);
        let mass0 = grid.integrate(&p);
        fp.solve(&mut p, 0.0, 0.5, 400, &|_t: f64, _x: f64| b)
            .unwrap();
        let err = grid.l1_distance(&p, &avg(0.5));
        let tol = if scheme == TimeScheme::BackwardEuler {
            2e-3
        } else {
            2e-4
        };
        eprintln!("periodic mode {scheme:?}: L1 error {err:e}");
        assert!(err < tol, "{scheme:?}: {err}");
        assert!((grid.integrate(&p) - mass0).abs() < 1e-12);
    }
}

#[test]
fn dirichlet_steady_profile_all_schemes() {
    let grid = Grid1d::new(-1.0, 2.0, 40).unwrap();
    let (b, d, left, right) = (-1.3, 0.6, 0.2, 1.5);
    let eps = d / 2.0;
    let (lo, hi) = (grid.lo(), grid.hi());
    let coef_b = (right - left) / ((b * hi / eps).exp() - (b * lo / eps).exp());
    let coef_a = left - coef_b * (b * lo / eps).exp();
    let exact = grid.sample(|x| coef_a + coef_b * (b * x / eps).exp());
    for scheme in [TimeScheme::CrankNicolson, TimeScheme::TrBdf2] {
        let mut fp = FokkerPlanck1d::new(
            grid,
            FpConfig {
                diffusion: d,
                boundary: Boundary::Dirichlet { left, right },
                scheme,
                max_peclet: None,
            },
        )
        .unwrap();
        let mut p = vec![0.5; grid.n()];
        fp.solve(&mut p, 0.0, 60.0, 3000, &|_t: f64, _x: f64| b)
            .unwrap();
        let err = p
            .iter()
            .zip(&exact)
            .fold(0.0f64, |m, (x, e)| m.max((x - e).abs()));
        assert!(err < 1e-11, "{scheme:?}: {err}");
    }
}
