//! Feynman-Kac with harmonic V against the Mehler kernel; monotone HJB against the Riccati
//! solution of the LQ problem and against Cole-Hopf.

use mfpid_pde::hjb::{feedback_control, Hjb1d, HjbConfig};
use mfpid_pde::ode::{dopri5, Dopri5Options};
use mfpid_pde::{Boundary, FeynmanKac1d, FpConfig, Grid1d, PdeError, TimeScheme, ZeroDrift};

/// Mehler kernel of -d/dt phi = (1/2) phi'' - (w^2 x^2 / 2) phi over a time span tau.
fn mehler(tau: f64, w: f64, x: f64, y: f64) -> f64 {
    let (s, c) = ((w * tau).sinh(), (w * tau).cosh());
    (w / (2.0 * std::f64::consts::PI * s)).sqrt()
        * (-w * ((x * x + y * y) * c - 2.0 * x * y) / (2.0 * s)).exp()
}

#[test]
fn feynman_kac_harmonic_reproduces_mehler_kernel() {
    let w = 1.3;
    let phi1 = |y: f64| (-(y - 0.4).powi(2) / (2.0 * 0.3)).exp();
    let tau = 0.8;
    // reference phi_0(x) = int K_tau(x, y) phi_1(y) dy by fine midpoint quadrature
    let quad = Grid1d::new(-10.0, 10.0, 8000).unwrap();
    let reference = |x: f64| -> f64 {
        quad.h()
            * (0..quad.n())
                .map(|k| {
                    let y = quad.center(k);
                    mehler(tau, w, x, y) * phi1(y)
                })
                .sum::<f64>()
    };
    let v = |_t: f64, x: f64| 0.5 * w * w * x * x;
    let mut errs = Vec::new();
    for n in [100, 200] {
        let grid = Grid1d::new(-6.0, 6.0, n).unwrap();
        let mut fk = FeynmanKac1d::new(
            grid,
            FpConfig {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
                scheme: TimeScheme::CrankNicolson,
                max_peclet: None,
            },
        )
        .unwrap();
        let mut phi = grid.sample(phi1);
        fk.solve_back(&mut phi, tau, 0.0, 4 * n, &ZeroDrift, Some(&v))
            .unwrap();
        let exact = grid.sample(reference);
        let err = phi
            .iter()
            .zip(&exact)
            .fold(0.0f64, |m, (a, e)| m.max((a - e).abs()));
        errs.push(err);
    }
    let order = (errs[0] / errs[1]).log2();
    eprintln!("Mehler: max errors {errs:?}, order {order}");
    assert!(errs[1] < 2e-4, "{errs:?}");
    assert!((1.7..2.3).contains(&order), "{errs:?}");
}

/// LQ problem: b = 0, D = 1, V = q x^2 / 2, J_1 = c x^2 / 2. Exact J_t = S_t x^2/2 + k_t with
/// S' = S^2 - q, k' = -S/2 (the ODE is integrated backward by Dormand-Prince).
#[test]
fn hjb_matches_lq_riccati_and_cole_hopf() {
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
    )
    .unwrap();
    let (s0, k0) = (ode.y_end()[0], ode.y_end()[1]);
    let v = |_t: f64, x: f64| 0.5 * q * x * x;
    let zero = |_t: f64, _x: f64| 0.0;
    let mut errs = Vec::new();
    for n in [80, 160, 320] {
        let grid = Grid1d::new(-4.0, 4.0, n).unwrap();
        let mut hjb = Hjb1d::new(
            grid,
            HjbConfig {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
            },
        )
        .unwrap();
        let mut j = grid.sample(|x| 0.5 * c * x * x);
        // too few steps: typed CFL error naming the limit
        let mut j_bad = j.clone();
        let err = hjb.solve_back(&mut j_bad, 1.0, 0.0, 10, &zero, &v);
        assert!(
            matches!(err, Err(PdeError::CflViolated { min_steps, .. }) if min_steps > 10),
            "{err:?}"
        );
        let h = grid.h();
        let nt = (1.0 / (0.9 / (20.0 / h + 1.0 / (h * h)))).ceil() as usize;
        hjb.solve_back(&mut j, 1.0, 0.0, nt, &zero, &v).unwrap();
        let mut err = 0.0f64;
        let mut u = vec![0.0; n];
        feedback_control(&grid, &j, false, &mut u).unwrap();
        let mut uerr = 0.0f64;
        for i in 0..n {
            let x = grid.center(i);
            if x.abs() <= 1.5 {
                err = err.max((j[i] - (0.5 * s0 * x * x + k0)).abs());
                uerr = uerr.max((u[i] + s0 * x).abs());
            }
        }
        errs.push((err, uerr));
        // Cole-Hopf: J = -log phi with phi from the linear Feynman-Kac equation
        if n == 320 {
            let mut fk = FeynmanKac1d::new(
                grid,
                FpConfig {
                    diffusion: 1.0,
                    boundary: Boundary::ZeroFlux,
                    scheme: TimeScheme::CrankNicolson,
                    max_peclet: None,
                },
            )
            .unwrap();
            let mut phi = grid.sample(|x| (-0.5 * c * x * x).exp());
            fk.solve_back(&mut phi, 1.0, 0.0, 400, &ZeroDrift, Some(&v))
                .unwrap();
            let mut ch = 0.0f64;
            let mut che = 0.0f64;
            for i in 0..n {
                let x = grid.center(i);
                if x.abs() <= 1.5 {
                    ch = ch.max((-phi[i].ln() - j[i]).abs());
                    che = che.max((-phi[i].ln() - (0.5 * s0 * x * x + k0)).abs());
                }
            }
            eprintln!("HJB vs Cole-Hopf max diff {ch}, Cole-Hopf vs exact {che}");
            assert!(che < 1e-3, "Cole-Hopf vs exact {che}");
            assert!(ch < 0.04, "HJB vs Cole-Hopf {ch}");
        }
    }
    eprintln!("HJB vs Riccati (J error, u error): {errs:?}");
    // the monotone (upwind) scheme is first order in h
    for w in errs.windows(2) {
        let (oj, ou) = ((w[0].0 / w[1].0).log2(), (w[0].1 / w[1].1).log2());
        assert!(oj > 0.8 && ou > 0.8, "orders {oj}, {ou}: {errs:?}");
    }
    assert!(errs[2].0 < 0.04 && errs[2].1 < 0.04, "{errs:?}");
}

/// 2-D LQ: V = q |x|^2 / 2, J_1 = c |x|^2 / 2 gives J_t = S_t |x|^2 / 2 + 2 k_t (same S, k as 1-D).
#[test]
fn hjb_2d_matches_lq_riccati_first_order() {
    use mfpid_pde::{Grid2d, Hjb2d};
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
    )
    .unwrap();
    let (s0, k0) = (ode.y_end()[0], ode.y_end()[1]);
    let mut errs = Vec::new();
    for n in [40, 80] {
        let grid = Grid2d::square(-4.0, 4.0, n).unwrap();
        let mut hjb = Hjb2d::new(
            grid,
            HjbConfig {
                diffusion: 1.0,
                boundary: Boundary::ZeroFlux,
            },
        )
        .unwrap();
        let mut j = grid.sample(|x, y| 0.5 * c * (x * x + y * y));
        let zero = |_t: f64, _x: f64, _y: f64| [0.0, 0.0];
        let v = |_t: f64, x: f64, y: f64| 0.5 * q * (x * x + y * y);
        let bad = hjb.solve_back(&mut j.clone(), 1.0, 0.0, 5, &zero, &v);
        assert!(matches!(bad, Err(PdeError::CflViolated { .. })));
        let h = grid.x().h();
        let nt = (1.0 / (0.9 / (2.0 * (20.0 / h + 1.0 / (h * h))))).ceil() as usize;
        hjb.solve_back(&mut j, 1.0, 0.0, nt, &zero, &v).unwrap();
        let (mut ej, mut eu) = (0.0f64, 0.0f64);
        for jy in 0..n {
            for ix in 0..n {
                let (x, y) = (grid.x().center(ix), grid.y().center(jy));
                if x.abs() <= 1.5 && y.abs() <= 1.5 {
                    let k = jy * n + ix;
                    ej = ej.max((j[k] - (0.5 * s0 * (x * x + y * y) + 2.0 * k0)).abs());
                    let u = hjb.last_control()[k];
                    eu = eu.max((u[0] + s0 * x).abs()).max((u[1] + s0 * y).abs());
                }
            }
        }
        errs.push((ej, eu));
    }
    eprintln!("2-D HJB vs Riccati (J error, u error): {errs:?}");
    let oj = (errs[0].0 / errs[1].0).log2();
    let ou = (errs[0].1 / errs[1].1).log2();
    assert!(oj > 0.8 && ou > 0.8, "{errs:?}");
    assert!(errs[1].0 < 0.25 && errs[1].1 < 0.15, "{errs:?}");
}
