//! Schrödinger system with V = 0 between two Gaussians against the closed-form Gaussian
//! Schrödinger bridge, itself checked against the Fortet iteration in Gaussian parameter space.

use mfpid_pde::schrodinger::{solve_schrodinger, SchrodingerConfig};
use mfpid_pde::{FaceTable, FokkerPlanck1d, FpConfig, Grid1d, TimeScheme, ZeroDrift};

fn gauss(x: f64, m: f64, v: f64) -> f64 {
    (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

const M0: f64 = -1.0;
const V0: f64 = 0.16;
const M1: f64 = 1.0;
const V1: f64 = 0.36;
const D: f64 = 1.0;

/// Closed form (Brownian reference with variance D per unit time, t in [0, 1]):
/// m_t = (1-t) m0 + t m1, v_t = (1-t)^2 v0 + t^2 v1 + t(1-t) sqrt(4 v0 v1 + D^2).
fn bridge(t: f64) -> (f64, f64) {
    let c = (4.0 * V0 * V1 + D * D).sqrt();
    (
        (1.0 - t) * M0 + t * M1,
        (1.0 - t).powi(2) * V0 + t * t * V1 + t * (1.0 - t) * c,
    )
}

/// Fortet iteration on Gaussian potentials phi_1 = exp(-a y^2/2 + b y): heat flow over time tau
/// maps (a, b) -> (a, b) / (1 + D a tau) for both the backward and the forward half.
fn fortet_gaussian(t: f64) -> (f64, f64) {
    let (mut a1, mut b1) = (0.0, 0.0);
    let (mut ah0, mut bh0) = (0.0, 0.0);
    for _ in 0..500 {
        let (a0, b0) = (a1 / (1.0 + D * a1), b1 / (1.0 + D * a1));
        ah0 = 1.0 / V0 - a0;
        bh0 = M0 / V0 - b0;
        let (ah1, bh1) = (ah0 / (1.0 + D * ah0), bh0 / (1.0 + D * ah0));
        a1 = 1.0 / V1 - ah1;
        b1 = M1 / V1 - bh1;
    }
    let (at, bt) = (
        a1 / (1.0 + D * a1 * (1.0 - t)),
        b1 / (1.0 + D * a1 * (1.0 - t)),
    );
    let (aht, bht) = (ah0 / (1.0 + D * ah0 * t), bh0 / (1.0 + D * ah0 * t));
    let prec = at + aht;
    ((bt + bht) / prec, 1.0 / prec)
}

#[test]
fn closed_form_matches_gaussian_fortet_iteration() {
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let (m, v) = bridge(t);
        let (mf, vf) = fortet_gaussian(t);
        assert!(
            (m - mf).abs() < 1e-12 && (v - vf).abs() < 1e-12,
            "t={t}: {m},{v} vs {mf},{vf}"
        );
    }
}

#[test]
fn grid_schrodinger_reproduces_gaussian_bridge_marginals() {
    // backward Euler: O(dt) + O(h^2); Crank-Nicolson (dt below its positivity limit, so every
    // kernel entry stays positive): O(dt^2) + O(h^2)
    run(TimeScheme::BackwardEuler, 6e-3);
    run(TimeScheme::CrankNicolson, 2.5e-3);
}

fn run(scheme: TimeScheme, tol: f64) {
    let grid = Grid1d::new(-5.0, 5.0, 160).unwrap();
    let p0 = grid.sample(|x| gauss(x, M0, V0));
    let p1 = grid.sample(|x| gauss(x, M1, V1));
    let config = SchrodingerConfig {
        diffusion: D,
        n_segments: 4,
        steps_per_segment: 100,
        scheme,
        ..Default::default()
    };
    let sol = solve_schrodinger(&grid, &p0, &p1, &ZeroDrift, None, &config).unwrap();
    eprintln!(
        "Sinkhorn iterations {}, residual {:e}",
        sol.iterations, sol.residual
    );
    let mut errs = Vec::new();
    for (k, t) in sol.times.iter().enumerate() {
        let (m, v) = bridge(*t);
        let exact = grid.sample(|x| gauss(x, m, v));
        let mut p = sol.density[k].clone();
        let mass = grid.integrate(&p);
        assert!((mass - 1.0).abs() < 1e-8, "mass {mass} at t={t}");
        p.iter_mut().for_each(|v| *v /= mass);
        errs.push(grid.l1_distance(&p, &exact));
    }
    eprintln!(
        "Schrödinger bridge ({scheme:?}) L1 errors at {:?}: {errs:?}",
        sol.times
    );
    assert!(errs[0] < 1e-8 && errs[4] < 1e-8, "end marginals {errs:?}");
    for e in &errs[1..4] {
        assert!(*e < tol, "{scheme:?}: {errs:?}");
    }
    // the returned drift drives the Fokker-Planck equation along the same marginals
    let rows: Vec<f64> = sol.drift_faces.iter().flatten().copied().collect();
    let table = FaceTable::new(sol.times.clone(), grid.n() + 1, rows).unwrap();
    let mut fp = FokkerPlanck1d::new(
        grid,
        FpConfig {
            diffusion: D,
            scheme: TimeScheme::BackwardEuler,
            ..FpConfig::default()
        },
    )
    .unwrap();
    let mut p = p0.clone();
    fp.solve(&mut p, 0.0, 0.5, 200, &table).unwrap();
    let drift_err = grid.l1_distance(&p, &sol.density[2]);
    eprintln!("FP driven by the returned drift vs p_0.5: L1 {drift_err}");
    assert!(drift_err < 0.05, "{drift_err}");
}

/// 2-D: isotropic Gaussians, V = 0: the bridge factorises into two 1-D closed-form bridges.
#[test]
fn schrodinger_2d_reproduces_product_of_gaussian_bridges() {
    use mfpid_pde::FaceField2d;
    use mfpid_pde::Grid2d;
    use mfpid_pde::{solve_schrodinger_2d, Schrodinger2dConfig};
    let grid = Grid2d::square(-4.0, 4.0, 48).unwrap();
    // x: N(-1, 0.16) -> N(1, 0.36) (the 1-D case above); y: N(0.5, 0.25) -> N(-0.5, 0.16)
    let (my0, vy0, my1, vy1) = (0.5, 0.25, -0.5, 0.16);
    let y_bridge = |t: f64| {
        let c = (4.0f64 * vy0 * vy1 + 1.0).sqrt();
        (
            (1.0 - t) * my0 + t * my1,
            (1.0 - t).powi(2) * vy0 + t * t * vy1 + t * (1.0 - t) * c,
        )
    };
    let p0 = grid.sample(|x, y| gauss(x, M0, V0) * gauss(y, my0, vy0));
    let p1 = grid.sample(|x, y| gauss(x, M1, V1) * gauss(y, my1, vy1));
    let zero = FaceField2d::new(&grid, vec![0.0; 49 * 48], vec![0.0; 48 * 49]).unwrap();
    let sol = solve_schrodinger_2d(
        &grid,
        &p0,
        &p1,
        &zero,
        None,
        &Schrodinger2dConfig {
            steps_per_segment: 20,
            ..Schrodinger2dConfig::default()
        },
    )
    .unwrap();
    eprintln!(
        "2-D Fortet iterations {}, residual {:e}",
        sol.iterations, sol.residual
    );
    let mut errs = Vec::new();
    for (k, t) in sol.times.iter().enumerate() {
        let (mx, vx) = bridge(*t);
        let (my, vy) = y_bridge(*t);
        // normalised on the grid like the solver's inputs (truncation/quadrature mass ~1e-7)
        let mut exact = grid.sample(|x, y| gauss(x, mx, vx) * gauss(y, my, vy));
        let mass = grid.integrate(&exact);
        exact.iter_mut().for_each(|v| *v /= mass);
        errs.push(grid.l1_distance(&sol.density[k], &exact));
    }
    eprintln!(
        "2-D Schrödinger bridge L1 errors at {:?}: {errs:?}",
        sol.times
    );
    // the end marginals are matched to the stopping tolerance (start: exactly by construction);
    // interior: O(dt) backward Euler + O(h^2) space; halving dt (40 steps) gives 0.0204 -> 0.0163,
    // i.e. about 0.008 from time and 0.012 from space (h = 1/6)
    assert!(errs[0] < 1e-8 && errs[4] < 1e-8, "{errs:?}");
    for e in &errs[1..4] {
        assert!(*e < 0.03, "{errs:?}");
    }
}
