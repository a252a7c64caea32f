//! Test helpers: an adaptive Dormand-Prince 5(4) integrator (independent of the crate's closed
//! forms) and small statistics.
#![allow(dead_code)]

/// Integrate `y' = f(t, y)` from `t0` to `t1 > t0` with the Dormand-Prince 5(4) pair, local error
/// control `|err_i| <= atol + rtol |y_i|` (max norm), returning `y(t1)`.
pub fn dopri5<F>(f: F, t0: f64, y0: &[f64], t1: f64, rtol: f64, atol: f64) -> Vec<f64>
where
    F: Fn(f64, &[f64], &mut [f64]),
{
    const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
    const A: [[f64; 6]; 7] = [
        [0.0; 6],
        [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
        [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
        [
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
            0.0,
            0.0,
        ],
        [
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
            0.0,
        ],
        [
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ];
    // 5th-order weights = last row of A; embedded 4th order:
    const B4: [f64; 7] = [
        5179.0 / 57600.0,
        0.0,
        7571.0 / 16695.0,
        393.0 / 640.0,
        -92097.0 / 339200.0,
        187.0 / 2100.0,
        1.0 / 40.0,
    ];
    let n = y0.len();
    let mut y = y0.to_vec();
    let mut t = t0;
    if t1 <= t0 {
        return y;
    }
    let mut h = ((t1 - t0) * 1e-3).max(1e-12);
    let mut k = vec![vec![0.0; n]; 7];
    let mut ys = vec![0.0; n];
    let mut y5 = vec![0.0; n];
    let mut steps = 0usize;
    while t < t1 {
        steps += 1;
        assert!(steps < 10_000_000, "dopri5: too many steps");
        let last = h >= t1 - t;
        let hs = if last { t1 - t } else { h };
        f(t, &y, &mut k[0]);
        for s in 1..7 {
            for i in 0..n {
                let mut acc = y[i];
                for (j, kj) in k.iter().enumerate().take(s) {
                    acc += hs * A[s][j] * kj[i];
                }
                ys[i] = acc;
            }
            f(t + C[s] * hs, &ys, &mut k[s]);
        }
        let mut err = 0.0f64;
        for i in 0..n {
            let mut s5 = y[i];
            let mut s4 = y[i];
            for j in 0..7 {
                let a5 = if j < 6 { A[6][j] } else { 0.0 };
                s5 += hs * a5 * k[j][i];
                s4 += hs * B4[j] * k[j][i];
            }
            y5[i] = s5;
            let sc = atol + rtol * y[i].abs().max(s5.abs());
            err = err.max((s5 - s4).abs() / sc);
        }
        if err <= 1.0 {
            t = if last { t1 } else { t + hs };
            y.copy_from_slice(&y5);
        }
        let fac = if err == 0.0 {
            5.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
        };
        h = hs * fac;
    }
    y
}

/// Integrate through a sequence of increasing times, calling `rhs(segment_start)` to get the RHS
/// valid on `[times[i], times[i+1]]` (so discontinuities at pieces are never stepped over), and
/// return the state at every time.
pub fn dopri5_through<F, G>(
    make_rhs: G,
    times: &[f64],
    y0: &[f64],
    rtol: f64,
    atol: f64,
) -> Vec<Vec<f64>>
where
    G: Fn(f64, f64) -> F,
    F: Fn(f64, &[f64], &mut [f64]),
{
    let mut out = vec![y0.to_vec()];
    let mut y = y0.to_vec();
    for w in times.windows(2) {
        let f = make_rhs(w[0], w[1]);
        y = dopri5(f, w[0], &y, w[1], rtol, atol);
        out.push(y.clone());
    }
    out
}

/// Standard normal CDF.
pub fn norm_cdf(x: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::new(0.0, 1.0).unwrap().cdf(x)
}

/// Chi-square goodness-of-fit p-value of observed counts against expected counts (bins with
/// expected < 5 are merged into their neighbour).
pub fn chi_square_p(observed: &[f64], expected: &[f64]) -> (f64, f64, usize) {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let mut o_m = Vec::new();
    let mut e_m = Vec::new();
    let (mut o_acc, mut e_acc) = (0.0, 0.0);
    for (o, e) in observed.iter().zip(expected) {
        o_acc += o;
        e_acc += e;
        if e_acc >= 5.0 {
            o_m.push(o_acc);
            e_m.push(e_acc);
            o_acc = 0.0;
            e_acc = 0.0;
        }
    }
    if e_acc > 0.0 {
        if let (Some(lo), Some(le)) = (o_m.last_mut(), e_m.last_mut()) {
            *lo += o_acc;
            *le += e_acc;
        }
    }
    let stat: f64 = o_m
        .iter()
        .zip(&e_m)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    let dof = o_m.len() - 1;
    let p = 1.0 - ChiSquared::new(dof as f64).unwrap().cdf(stat);
    (stat, p, dof)
}
