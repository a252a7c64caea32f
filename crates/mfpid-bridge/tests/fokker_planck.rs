//! Deterministic consistency of the guided drift and the analytic marginal: `p*_t` must solve the
//! Fokker-Planck equation `∂_t p + ∇·(u* p) - ½ Δp = 0` of `dx = u* dt + dW`. Checked by central
//! differences at many `(t, x)` in 1-D and 2-D (full covariance, GH-PID, non-zero start), plus the
//! PID (Brownian bridge) closed form.

#![allow(clippy::needless_range_loop)]
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};

fn pdf(b: &Bridge<GaussianMixture>, t: f64, x: &[f64]) -> f64 {
    b.marginal(t).unwrap().log_pdf(x).unwrap().exp()
}

/// Relative Fokker-Planck residual at `(t, x)`.
fn fp_residual(b: &mut Bridge<GaussianMixture>, t: f64, x: &[f64]) -> f64 {
    let d = x.len();
    let (ht, hx) = (1e-5, 2e-4);
    let dt = (pdf(b, t + ht, x) - pdf(b, t - ht, x)) / (2.0 * ht);
    let p0 = pdf(b, t, x);
    let mut div = 0.0;
    let mut lap = 0.0;
    for j in 0..d {
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[j] += hx;
        xm[j] -= hx;
        let (pp, pm) = (pdf(b, t, &xp), pdf(b, t, &xm));
        let up = b.drift_at(t, &xp, 0).unwrap()[j];
        let um = b.drift_at(t, &xm, 0).unwrap()[j];
        div += (up * pp - um * pm) / (2.0 * hx);
        lap += (pp - 2.0 * p0 + pm) / (hx * hx);
    }
    let r = dt + div - 0.5 * lap;
    r.abs() / (dt.abs() + div.abs() + 0.5 * lap.abs())
}

#[test]
fn marginal_solves_fokker_planck_1d() {
    let p = Protocol::piecewise(1, vec![0.0, 0.3, 0.6, 1.0], vec![8.0, 0.0, 3.0])
        .unwrap()
        .with_centres(vec![1.0, 0.0, -2.0])
        .unwrap();
    let tar =
        GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09]).unwrap();
    for z in [None, Some(-0.8)] {
        let mut b = Bridge::new(&p, tar.clone()).unwrap();
        if let Some(z) = z {
            b = b.with_start(&[z]).unwrap();
        }
        let mut worst = 0.0f64;
        for &t in &[0.05, 0.2, 0.45, 0.7, 0.9, 0.97] {
            let m = b.marginal(t).unwrap();
            let mean = m.mean()[0];
            let sd = m.covariance()[0].sqrt();
            for k in -4..=4 {
                let x = mean + 0.6 * k as f64 * sd;
                let r = fp_residual(&mut b, t, &[x]);
                worst = worst.max(r);
                assert!(r < 1e-5, "z {z:?} t {t} x {x}: relative FP residual {r:e}");
            }
        }
        eprintln!("1-D z {z:?}: worst relative FP residual {worst:.2e}");
    }
}

#[test]
fn marginal_solves_fokker_planck_2d_full_covariance() {
    let p = Protocol::piecewise(2, vec![0.0, 0.4, 1.0], vec![5.0, 1.0])
        .unwrap()
        .with_centres(vec![1.0, -1.0, 0.0, 2.0])
        .unwrap();
    let tar = GaussianMixture::full(
        2,
        vec![0.3, 0.7],
        vec![1.0, -1.0, -0.5, 2.0],
        vec![0.5, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.3],
    )
    .unwrap();
    let mut b = Bridge::new(&p, tar)
        .unwrap()
        .with_start(&[1.0, -2.0])
        .unwrap();
    let mut worst = 0.0f64;
    for &t in &[0.1, 0.3, 0.55, 0.8, 0.95] {
        let mean = b.marginal_mean(t).unwrap();
        for &(dx, dy) in &[
            (0.0, 0.0),
            (0.5, -0.3),
            (-0.7, 0.4),
            (0.2, 0.9),
            (-0.4, -0.8),
        ] {
            let x = [mean[0] + dx, mean[1] + dy];
            let r = fp_residual(&mut b, t, &x);
            worst = worst.max(r);
            assert!(r < 1e-5, "t {t} x {x:?}: relative FP residual {r:e}");
        }
    }
    eprintln!("2-D: worst relative FP residual {worst:.2e}");
}

/// PID (beta = 0) from the origin: the conditional law given `x_1 = y` is `N(t y, t(1-t))`, so
/// `p*_t = sum pi_k N(t m_k, t² Σ_k + t(1-t))`.
#[test]
fn pid_marginal_is_brownian_bridge_mixture() {
    let tar = GaussianMixture::diagonal(
        2,
        vec![1.0, 3.0],
        vec![1.0, 2.0, -1.0, 0.5],
        vec![0.2, 0.3, 0.5, 0.1],
    )
    .unwrap();
    let b = Bridge::new(&Protocol::pid(2).unwrap(), tar.clone()).unwrap();
    for &t in &[0.1, 0.5, 0.9] {
        let m = b.marginal(t).unwrap();
        let s = [0.2, 0.3, 0.5, 0.1].map(|v: f64| t * t * v + t * (1.0 - t));
        let want = GaussianMixture::diagonal(
            2,
            vec![1.0, 3.0],
            [1.0, 2.0, -1.0, 0.5].map(|v| t * v).to_vec(),
            s.to_vec(),
        )
        .unwrap();
        for x in [[0.0, 0.0], [0.3, -0.2], [1.0, 1.0]] {
            let (a, w) = (m.log_pdf(&x).unwrap(), want.log_pdf(&x).unwrap());
            assert!((a - w).abs() < 1e-12, "t {t}: {a} vs {w}");
        }
    }
    // t = 1 is the target itself
    assert_eq!(b.marginal(1.0).unwrap(), tar);
    assert!(b.marginal(0.0).is_err());
}
