//! 2-D Fokker-Planck: rotating (non-gradient) OU against the exact Gaussian whose moments solve
//! the moment ODEs (integrated with Dormand-Prince), mass, positivity, exact Gibbs states.

use mfpid_pde::ode::{dopri5, Dopri5Options};
use mfpid_pde::{Boundary, Grid2d, TimeScheme};
use mfpid_pde::{FaceField2d, FokkerPlanck2d, FpConfig2d, Splitting};

/// b(x) = -K x with K = [[1, 0.6], [-0.6, 0.8]], D = 1.
const K: [[f64; 2]; 2] = [[1.0, 0.6], [-0.6, 0.8]];

fn drift(_t: f64, x: f64, y: f64) -> [f64; 2] {
    [-(K[0][0] * x + K[0][1] * y), -(K[1][0] * x + K[1][1] * y)]
}

/// Exact N(m, S) at t = 1 from m' = -K m, S' = -K S - S K^T + D I.
fn exact_moments(m0: [f64; 2], s0: [f64; 3]) -> Vec<f64> {
    let rhs = |_t: f64, y: &[f64], dy: &mut [f64]| {
        let (m1, m2, sxx, sxy, syy) = (y[0], y[1], y[2], y[3], y[4]);
        dy[0] = -(K[0][0] * m1 + K[0][1] * m2);
        dy[1] = -(K[1][0] * m1 + K[1][1] * m2);
        // (K S)_ij
        let ks = [
            [K[0][0] * sxx + K[0][1] * sxy, K[0][0] * sxy + K[0][1] * syy],
            [K[1][0] * sxx + K[1][1] * sxy, K[1][0] * sxy + K[1][1] * syy],
        ];
        dy[2] = -2.0 * ks[0][0] + 1.0;
        dy[3] = -(ks[0][1] + ks[1][0]);
        dy[4] = -2.0 * ks[1][1] + 1.0;
    };
    let y0 = [m0[0], m0[1], s0[0], s0[1], s0[2]];
    dopri5(rhs, 0.0, &y0, 1.0, &Dopri5Options::default())
        .unwrap()
        .y_end()
        .to_vec()
}

fn gauss2(x: f64, y: f64, m: &[f64]) -> f64 {
    let (sxx, sxy, syy) = (m[2], m[3], m[4]);
    let det = sxx * syy - sxy * sxy;
    let (dx, dy) = (x - m[0], y - m[1]);
    let q = (syy * dx * dx - 2.0 * sxy * dx * dy + sxx * dy * dy) / det;
    (-0.5 * q).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
}

fn run(n: usize, nt: usize, scheme: TimeScheme, splitting: Splitting) -> (f64, f64, f64) {
    let grid = Grid2d::square(-5.0, 5.0, n).unwrap();
    let m0 = [1.5, -0.5, 0.2, 0.05, 0.1];
    let mut p = grid.sample(|x, y| gauss2(x, y, &m0));
    let mass0 = grid.integrate(&p);
    let mut fp = FokkerPlanck2d::new(
        grid,
        FpConfig2d {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme,
            splitting,
        },
    )
    .unwrap();
    let mut min_seen = f64::INFINITY;
    let dt = 1.0 / nt as f64;
    for k in 0..nt {
        fp.step(&mut p, k as f64 * dt, dt, &drift).unwrap();
        min_seen = p.iter().copied().fold(min_seen, f64::min);
    }
    let m1 = exact_moments([m0[0], m0[1]], [m0[2], m0[3], m0[4]]);
    let exact = grid.sample(|x, y| gauss2(x, y, &m1));
    (
        grid.l1_distance(&p, &exact),
        (grid.integrate(&p) - mass0).abs() / mass0,
        min_seen,
    )
}

#[test]
fn rotating_ou_converges_conserves_mass_stays_positive() {
    let mut errs = Vec::new();
    for n in [40, 80] {
        let (e, mass, min) = run(n, 80, TimeScheme::CrankNicolson, Splitting::Strang);
        assert!(mass < 1e-12, "n={n}: mass drift {mass}");
        assert!(min >= 0.0, "n={n}: negative value {min}");
        errs.push(e);
    }
    let order = (errs[0] / errs[1]).log2();
    eprintln!("2-D OU Strang-CN L1 errors {errs:?}, space order {order}");
    assert!((1.7..2.3).contains(&order), "{errs:?}");
    // Lie splitting with BE sweeps: first order in time, unconditionally positive
    let (e_lie, mass, min) = run(80, 20, TimeScheme::BackwardEuler, Splitting::Lie);
    let (e_lie2, _, _) = run(80, 40, TimeScheme::BackwardEuler, Splitting::Lie);
    eprintln!("2-D OU Lie-BE L1 errors nt=20: {e_lie}, nt=40: {e_lie2}");
    assert!(mass < 1e-12 && min >= 0.0);
    assert!(e_lie2 < e_lie && e_lie / e_lie2 > 1.6);
}

#[test]
fn gibbs_state_is_fixed_point_and_periodic_mass() {
    let grid = Grid2d::square(-2.0, 2.0, 50).unwrap();
    let u = |x: f64, y: f64| 0.25 * (x * x - 1.0).powi(2) + 0.5 * y * y + 0.3 * x * y;
    let d = 0.7;
    let field = FaceField2d::from_potential(&grid, u).unwrap();
    let mut gibbs = grid.sample(|x, y| (-2.0 * u(x, y) / d).exp());
    let z = grid.integrate(&gibbs);
    gibbs.iter_mut().for_each(|v| *v /= z);
    for (scheme, splitting) in [
        (TimeScheme::BackwardEuler, Splitting::Lie),
        (TimeScheme::CrankNicolson, Splitting::Strang),
        (TimeScheme::TrBdf2, Splitting::Strang),
    ] {
        let mut fp = FokkerPlanck2d::new(
            grid,
            FpConfig2d {
                diffusion: d,
                boundary: Boundary::ZeroFlux,
                scheme,
                splitting,
            },
        )
        .unwrap();
        let mut p = gibbs.clone();
        fp.solve(&mut p, 0.0, 2.0, 10, &field).unwrap();
        let dev = grid.l1_distance(&p, &gibbs);
        assert!(dev < 1e-12, "{scheme:?}/{splitting:?}: {dev}");
    }
    // periodic torus with a shear drift: mass exact, positivity with BE
    let torus = Grid2d::square(0.0, 1.0, 32).unwrap();
    let shear = |_t: f64, x: f64, y: f64| {
        [
            (2.0 * std::f64::consts::PI * y).sin(),
            0.5 + (2.0 * std::f64::consts::PI * x).cos(),
        ]
    };
    let mut fp = FokkerPlanck2d::new(
        torus,
        FpConfig2d {
            diffusion: 0.05,
            boundary: Boundary::Periodic,
            scheme: TimeScheme::BackwardEuler,
            splitting: Splitting::Lie,
        },
    )
    .unwrap();
    let mut p = torus.sample(|x, y| (-40.0 * ((x - 0.5).powi(2) + (y - 0.5).powi(2))).exp());
    let m0 = torus.integrate(&p);
    fp.solve(&mut p, 0.0, 2.0, 100, &shear).unwrap();
    assert!((torus.integrate(&p) - m0).abs() < 1e-12 * m0);
    assert!(p.iter().all(|v| *v >= 0.0));
}

/// Mehler kernel of -d/dt phi = (1/2) phi'' - (w^2 x^2 / 2) phi over a time span tau.
fn mehler(tau: f64, w: f64, x: f64, y: f64) -> f64 {
    let (s, c) = ((w * tau).sinh(), (w * tau).cosh());
    (w / (2.0 * std::f64::consts::PI * s)).sqrt()
        * (-w * ((x * x + y * y) * c - 2.0 * x * y) / (2.0 * s)).exp()
}

#[test]
fn feynman_kac_2d_harmonic_is_product_of_mehler_kernels_and_adjoint() {
    use mfpid_pde::FeynmanKac2d;
    use mfpid_pde::Grid1d;
    let w = 1.1;
    let tau = 0.6;
    let fa = |x: f64| (-(x - 0.3).powi(2) / 0.5).exp();
    let fb = |y: f64| (-(y + 0.2).powi(2) / 0.8).exp();
    let quad = Grid1d::new(-10.0, 10.0, 4000).unwrap();
    let conv = |f: &dyn Fn(f64) -> f64, x: f64| -> f64 {
        quad.h()
            * (0..quad.n())
                .map(|k| {
                    let y = quad.center(k);
                    mehler(tau, w, x, y) * f(y)
                })
                .sum::<f64>()
    };
    let grid = Grid2d::square(-5.0, 5.0, 80).unwrap();
    let cfg = FpConfig2d {
        diffusion: 1.0,
        boundary: Boundary::ZeroFlux,
        scheme: TimeScheme::CrankNicolson,
        splitting: Splitting::Strang,
    };
    let mut fk = FeynmanKac2d::new(grid, cfg).unwrap();
    let v = |_t: f64, x: f64, y: f64| 0.5 * w * w * (x * x + y * y);
    let mut phi = grid.sample(|x, y| fa(x) * fb(y));
    fk.solve_back(
        &mut phi,
        tau,
        0.0,
        60,
        &|_t: f64, _x: f64, _y: f64| [0.0, 0.0],
        Some(&v),
    )
    .unwrap();
    let ga: Vec<f64> = grid.x().centers().iter().map(|&x| conv(&fa, x)).collect();
    let gb: Vec<f64> = grid.y().centers().iter().map(|&y| conv(&fb, y)).collect();
    let mut err = 0.0f64;
    for j in 0..grid.y().n() {
        for i in 0..grid.x().n() {
            err = err.max((phi[j * grid.x().n() + i] - ga[i] * gb[j]).abs());
        }
    }
    eprintln!("2-D Mehler max error {err}");
    assert!(err < 2e-3, "{err}");

    // adjointness of one forward and one backward step (time-independent drift, with potential)
    let drift = |_t: f64, x: f64, y: f64| [-(x + 0.4 * y), -(y - 0.4 * x)];
    for splitting in [Splitting::Lie, Splitting::Strang] {
        let cfg = FpConfig2d {
            splitting,
            scheme: TimeScheme::BackwardEuler,
            ..cfg
        };
        let small = Grid2d::square(-3.0, 3.0, 24).unwrap();
        let mut fp = FokkerPlanck2d::new(small, cfg).unwrap();
        let mut fk = FeynmanKac2d::new(small, cfg).unwrap();
        let p = small.sample(|x, y| (-(x - 0.5).powi(2) - y * y).exp());
        let phi = small.sample(|x, y| (0.3 * x - 0.2 * y).cos() + 1.5);
        let mut p1 = p.clone();
        fp.step_with_potential(&mut p1, 0.0, 0.2, &drift, &v)
            .unwrap();
        let mut phi0 = phi.clone();
        fk.step_back(&mut phi0, 0.2, 0.2, &drift, Some(&v)).unwrap();
        let lhs: f64 = p1.iter().zip(&phi).map(|(a, b)| a * b).sum();
        let rhs: f64 = p.iter().zip(&phi0).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs(),
            "{splitting:?}: {lhs} vs {rhs}"
        );
    }
}
