//! Every closed-form coefficient against an adaptive Dormand-Prince 5(4) integration (rtol 1e-13)
//! of its defining ODE, at many interior times, for constant, rising, falling and zero-beta pieces.
//!
//! The singular terminal / initial conditions (`a⁻, b⁻, c⁻ ~ 1/(1-t)`, `a⁺ ~ 1/t`) are handled by
//! integrating exactly equivalent, regular transformed variables, derived from the defining ODEs by
//! a change of variables (not from the closed forms):
//!
//! backward, with `v = 1/c⁻`, `g = b⁻/c⁻`, `e = a⁻ - b⁻²/c⁻`, `χ = θx + g θy`, `ζ = v θy`:
//! ```text
//! dv/dt = -g²,  dg/dt = g e,  de/dt = e² - beta,  dχ/dt = e χ - beta nu,  dζ/dt = -g χ
//! v(1) = 0, g(1) = 1, e(1) = 0, χ(1) = 0, ζ(1) = 0      (G^-_1(x|y) = δ(x - y))
//! ```
//! (`c⁻ = 1/v`, `b⁻ = g/v`, `a⁻ = e + g²/v`, `θy = ζ/v`, `θx = χ - g θy`); forward, with
//! `p = 1/a⁺`, `η = p θ⁺`: `dp/dt = 1 - beta p²`, `dη/dt = beta p (nu - η)`, `p(0) = η(0) = 0`.
//! All right-hand sides are smooth and bounded on each piece; the integrator stops at every break.
//!
//! `K_t = c⁻_t - a⁺_1` is checked two ways: as `1/v(t) - 1/p(1)` for `t >= 0.3`, and for `t <= 0.3`
//! (where that difference cancels) by integrating `dK/dt = b⁻² = g²/v²`, `K(0) = 0` forward together
//! with `(v, g, e)` from their values at `t = 0`.

#![allow(clippy::needless_range_loop)]
mod common;

use common::dopri5_through;
use mfpid_bridge::{Coefficients, Protocol};

const RTOL: f64 = 1e-13;
const ATOL: f64 = 1e-16;
const TOL: f64 = 1e-8;

struct BackRef {
    a: f64,
    b: f64,
    c: f64,
    tx: Vec<f64>,
    ty: Vec<f64>,
    lx: f64,
    ly: f64,
}

fn merged(times: &[f64], p: &Protocol) -> Vec<f64> {
    let mut v: Vec<f64> = times
        .iter()
        .copied()
        .chain(p.breaks().iter().copied())
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.dedup();
    v
}

/// Reference backward coefficients at `times` (each in [0, 1)).
fn backward_reference(p: &Protocol, times: &[f64]) -> Vec<BackRef> {
    let d = p.dim();
    // integrate in tau = 1 - t, increasing
    let ts = merged(times, p);
    let taus: Vec<f64> = ts.iter().rev().map(|t| 1.0 - t).collect();
    let n = 3 + 2 * d + 2;
    let mut y0 = vec![0.0; n];
    y0[1] = 1.0;
    let states = dopri5_through(
        |ta, tb| {
            let tm = 1.0 - 0.5 * (ta + tb);
            let i = p.piece_at(tm);
            let beta = p.betas()[i];
            let nu = p.nu(i).to_vec();
            move |_tau: f64, y: &[f64], dy: &mut [f64]| {
                let (v, g, e) = (y[0], y[1], y[2]);
                let _ = v;
                dy[0] = g * g;
                dy[1] = -g * e;
                dy[2] = beta - e * e;
                for j in 0..d {
                    let chi = y[3 + j];
                    dy[3 + j] = beta * nu[j] - e * chi;
                    dy[3 + d + j] = g * chi;
                }
                let (chil, _zl) = (y[3 + 2 * d], y[4 + 2 * d]);
                dy[3 + 2 * d] = beta - e * chil;
                dy[4 + 2 * d] = g * chil;
            }
        },
        &taus,
        &y0,
        RTOL,
        ATOL,
    );
    times
        .iter()
        .map(|&t| {
            let k = taus.iter().position(|&tau| tau == 1.0 - t).unwrap();
            let y = &states[k];
            let (v, g, e) = (y[0], y[1], y[2]);
            let ty: Vec<f64> = (0..d).map(|j| y[3 + d + j] / v).collect();
            let tx: Vec<f64> = (0..d).map(|j| y[3 + j] - g * ty[j]).collect();
            let ly = y[4 + 2 * d] / v;
            BackRef {
                a: e + g * g / v,
                b: g / v,
                c: 1.0 / v,
                tx,
                ty,
                lx: y[3 + 2 * d] - g * ly,
                ly,
            }
        })
        .collect()
}

/// Reference forward coefficients `(a⁺, θ⁺, λ⁺)` at `times` (each in (0, 1]).
fn forward_reference(p: &Protocol, times: &[f64]) -> Vec<(f64, Vec<f64>, f64)> {
    let d = p.dim();
    let ts = merged(times, p);
    let n = 1 + d + 1;
    let states = dopri5_through(
        |ta, tb| {
            let i = p.piece_at(0.5 * (ta + tb));
            let beta = p.betas()[i];
            let nu = p.nu(i).to_vec();
            move |_t: f64, y: &[f64], dy: &mut [f64]| {
                let pp = y[0];
                dy[0] = 1.0 - beta * pp * pp;
                for j in 0..d {
                    dy[1 + j] = beta * pp * (nu[j] - y[1 + j]);
                }
                dy[1 + d] = beta * pp * (1.0 - y[1 + d]);
            }
        },
        &ts,
        &vec![0.0; n],
        RTOL,
        ATOL,
    );
    times
        .iter()
        .map(|&t| {
            let k = ts.iter().position(|&s| s == t).unwrap();
            let y = &states[k];
            let a = 1.0 / y[0];
            (a, (0..d).map(|j| y[1 + j] * a).collect(), y[1 + d] * a)
        })
        .collect()
}

/// `K(t) = ∫_0^t b⁻² ds` by forward integration of `(v, g, e, K)` from `t = 0` (t <= 0.3).
fn k_reference_small(p: &Protocol, times: &[f64]) -> Vec<f64> {
    let r0 = &backward_reference(p, &[0.0])[0];
    // invert the reconstruction at t = 0
    let v0 = 1.0 / r0.c;
    let g0 = r0.b * v0;
    let e0 = r0.a - g0 * g0 / v0;
    let ts = merged(times, p);
    let states = dopri5_through(
        |ta, tb| {
            let beta = p.betas()[p.piece_at(0.5 * (ta + tb))];
            move |_t: f64, y: &[f64], dy: &mut [f64]| {
                let (v, g, e) = (y[0], y[1], y[2]);
                dy[0] = -g * g;
                dy[1] = g * e;
                dy[2] = e * e - beta;
                dy[3] = g * g / (v * v);
            }
        },
        &ts,
        &[v0, g0, e0, 0.0],
        RTOL,
        ATOL,
    );
    times
        .iter()
        .map(|&t| states[ts.iter().position(|&s| s == t).unwrap()][3])
        .collect()
}

fn rel(x: f64, r: f64) -> f64 {
    (x - r).abs() / r.abs()
}

fn vec_err(x: &[f64], r: &[f64]) -> f64 {
    let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = x
        .iter()
        .zip(r)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 {
        diff / 1e-6 // both should be exactly zero
    } else {
        diff / scale
    }
}

fn sample_times(p: &Protocol) -> Vec<f64> {
    let mut t: Vec<f64> = (0..60).map(|i| (i as f64 + 0.5) / 60.0).collect();
    t.extend([1e-3, 5e-3, 0.995, 0.999]);
    for &b in &p.breaks()[1..p.pieces()] {
        t.extend([b - 1e-7, b, b + 1e-7]);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t.dedup();
    t
}

fn check_protocol(name: &str, p: &Protocol) {
    let c = Coefficients::new(p);
    let times = sample_times(p);
    let back = backward_reference(p, &times);
    let fwd = forward_reference(p, &times);
    let a1 = forward_reference(p, &[1.0]);
    let (a_plus_1, theta_plus_1, lambda_plus_1) = (&a1[0].0, &a1[0].1, a1[0].2);
    assert!(rel(c.a_plus_1(), *a_plus_1) < TOL, "{name}: a+_1");
    assert!(
        vec_err(c.theta_plus_1(), theta_plus_1) < TOL,
        "{name}: theta+_1"
    );
    assert!(
        vec_err(&[c.lambda_plus_1()], &[lambda_plus_1]) < TOL,
        "{name}: lambda+_1"
    );
    let mut worst = 0.0f64;
    for ((&t, r), f) in times.iter().zip(&back).zip(&fwd) {
        let b = c.backward(t).unwrap();
        let fw = c.forward(t).unwrap();
        let errs = [
            ("a_minus", rel(b.a_minus, r.a)),
            ("b_minus", rel(b.b_minus, r.b)),
            ("c_minus", rel(b.c_minus, r.c)),
            ("theta_x", vec_err(&b.theta_x, &r.tx)),
            ("theta_y", vec_err(&b.theta_y, &r.ty)),
            ("lambda_x", vec_err(&[b.lambda_x], &[r.lx])),
            ("lambda_y", vec_err(&[b.lambda_y], &[r.ly])),
            ("a_plus", rel(fw.a_plus, f.0)),
            ("theta_plus", vec_err(&fw.theta_plus, &f.1)),
            ("lambda_plus", vec_err(&[fw.lambda_plus], &[f.2])),
        ];
        for (what, e) in errs {
            worst = worst.max(e);
            assert!(e < TOL, "{name}: {what} at t = {t}: relative error {e:e}");
        }
        if t >= 0.3 {
            let kr = r.c - a_plus_1;
            let e = rel(b.k, kr);
            assert!(e < TOL, "{name}: K at t = {t}: {e:e}");
        }
    }
    let small: Vec<f64> = times.iter().copied().filter(|&t| t <= 0.3).collect();
    let kref = k_reference_small(p, &small);
    for (&t, &kr) in small.iter().zip(&kref) {
        let k = c.backward(t).unwrap().k;
        let e = rel(k, kr);
        worst = worst.max(e);
        assert!(e < TOL, "{name}: K at t = {t}: {k} vs {kr}: {e:e}");
    }
    eprintln!(
        "{name}: worst relative error over {} times: {worst:.2e}",
        times.len()
    );
}

#[test]
fn constant_beta_and_pid() {
    check_protocol(
        "H-PID beta=4",
        &Protocol::constant(2, 4.0)
            .unwrap()
            .with_centre(&[0.7, -1.2])
            .unwrap(),
    );
    check_protocol(
        "PID",
        &Protocol::pid(1).unwrap().with_centre(&[2.0]).unwrap(),
    );
    check_protocol("H-PID beta=30", &Protocol::constant(1, 30.0).unwrap());
}

#[test]
fn rising_beta() {
    let p = Protocol::piecewise(
        2,
        vec![0.0, 0.2, 0.45, 0.7, 1.0],
        vec![0.5, 3.0, 10.0, 40.0],
    )
    .unwrap()
    .with_centres(vec![1.0, -0.5, 0.3, 2.0, -1.5, 0.0, 2.5, 1.0])
    .unwrap();
    check_protocol("rising", &p);
}

#[test]
fn falling_beta() {
    let nu: Vec<f64> = (0..8 * 3)
        .map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.8)
        .collect();
    let p = Protocol::geometric(3, 12.0, 0.65, 8)
        .unwrap()
        .with_centres(nu)
        .unwrap();
    check_protocol("falling 12*0.65^i", &p);
    // a sharp drop: a_R < w on the first piece
    let p = Protocol::piecewise(1, vec![0.0, 0.5, 1.0], vec![50.0, 0.1])
        .unwrap()
        .with_centres(vec![2.0, -1.0])
        .unwrap();
    check_protocol("drop 50 -> 0.1", &p);
}

#[test]
fn zero_beta_pieces() {
    let p = Protocol::piecewise(2, vec![0.0, 0.15, 0.5, 0.6, 1.0], vec![0.0, 6.0, 0.0, 2.5])
        .unwrap()
        .with_centres(vec![9.0, 9.0, 1.0, -1.0, -7.0, 3.0, 0.5, 2.0])
        .unwrap();
    check_protocol("zero pieces (start, middle)", &p);
    let p = Protocol::piecewise(1, vec![0.0, 0.3, 1.0], vec![5.0, 0.0])
        .unwrap()
        .with_centres(vec![1.5, 4.0])
        .unwrap();
    check_protocol("zero last piece", &p);
}

/// Identities of the Green functions: `c⁻_0 = a⁺_1`, `θy_0 = θ⁺_1` (both describe
/// `G^+_1(y|0) = G^-_0(0|y)`), and the vanishing of the `x`-only factor of the marginal:
/// `a⁺ + a⁻ = b⁻²/K` and `θ⁺ + θx + b⁻ Θ / K = 0` for all `t` in `(0, 1)`.
#[test]
fn green_function_identities() {
    let p = Protocol::piecewise(2, vec![0.0, 0.2, 0.45, 0.7, 1.0], vec![0.0, 3.0, 10.0, 1.0])
        .unwrap()
        .with_centres(vec![1.0, -0.5, 0.3, 2.0, -1.5, 0.0, 2.5, 1.0])
        .unwrap();
    let c = Coefficients::new(&p);
    let b0 = c.backward(0.0).unwrap();
    assert!(rel(b0.c_minus, c.a_plus_1()) < 1e-13);
    assert!(vec_err(&b0.theta_y, c.theta_plus_1()) < 1e-13);
    for &t in &[0.01, 0.1, 0.2, 0.33, 0.5, 0.7, 0.9, 0.99] {
        let b = c.backward(t).unwrap();
        let f = c.forward(t).unwrap();
        let alpha = f.a_plus + b.a_minus - b.b_minus * b.b_minus / b.k;
        assert!(
            alpha.abs() < 1e-9 * (f.a_plus + b.a_minus),
            "alpha at {t}: {alpha}"
        );
        for j in 0..2 {
            let eta = f.theta_plus[j] + b.theta_x[j] + b.b_minus * b.theta_probe[j] / b.k;
            let scale = f.theta_plus[j].abs() + b.theta_x[j].abs() + 1.0;
            assert!(eta.abs() < 1e-8 * scale, "eta at {t}: {eta}");
        }
    }
}
