//! Adaptive Dormand-Prince 5(4) integrator with continuous (dense) output for vector systems
//! `y' = f(t, y)`, forward or backward in time.
//!
//! Error control per accepted step: `err = sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_i,new|)))^2) <= 1`
//! with the embedded 4th-order estimate `e`; step-size factor `0.9 err^{-1/5}` clamped to
//! `[0.2, 10]` (0 < factor <= 1 after a rejection). Dense output is Hairer's 4th-order continuous
//! extension (`contd5`), so interpolated values carry an error comparable to the tolerance.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, PdeError, Result};

/// Options of [`dopri5`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dopri5Options {
    /// Relative tolerance (> 0).
    pub rtol: f64,
    /// Absolute tolerance (> 0).
    pub atol: f64,
    /// First step magnitude; `None` picks one from Hairer's heuristic.
    pub h_init: Option<f64>,
    /// Largest step magnitude; `None` means the whole interval.
    pub h_max: Option<f64>,
    /// Step budget (accepted + rejected).
    pub max_steps: usize,
}

impl Default for Dopri5Options {
    fn default() -> Self {
        Self {
            rtol: 1e-10,
            atol: 1e-12,
            h_init: None,
            h_max: None,
            max_steps: 1_000_000,
        }
    }
}

/// Output of [`dopri5`]: the accepted step end points and dense-output coefficients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdeSolution {
    dim: usize,
    /// Times `t_0, t_1, ..., t_N` of the accepted steps (monotone in the direction of integration).
    times: Vec<f64>,
    /// States at `times`, row-major (`(N + 1) x dim`).
    states: Vec<f64>,
    /// Dense-output coefficients per step, `5 x dim` each.
    dense: Vec<f64>,
    /// Right-hand-side evaluations.
    pub n_eval: usize,
    /// Accepted steps.
    pub n_accepted: usize,
    /// Rejected steps.
    pub n_rejected: usize,
}

impl OdeSolution {
    /// Dimension of the system.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Accepted step times (including the start and the end).
    pub fn times(&self) -> &[f64] {
        &self.times
    }
    /// State at the `k`-th accepted time.
    pub fn state(&self, k: usize) -> &[f64] {
        &self.states[k * self.dim..(k + 1) * self.dim]
    }
    /// State at the final time.
    pub fn y_end(&self) -> &[f64] {
        self.state(self.times.len() - 1)
    }
    /// Dense output at any `t` inside the integration interval, written into `out` (length
    /// `dim`). Fails if `t` is outside the interval.
    pub fn eval(&self, t: f64, out: &mut [f64]) -> Result<()> {
        crate::error::check_len("out", out.len(), self.dim)?;
        let (t0, t1) = (self.times[0], *self.times.last().unwrap_or(&self.times[0]));
        let forward = t1 >= t0;
        let inside = if forward {
            t >= t0 && t <= t1
        } else {
            t <= t0 && t >= t1
        };
        if !inside || !t.is_finite() {
            return Err(PdeError::OutOfRange {
                what: "t",
                value: t,
                reason: "outside the integration interval",
            });
        }
        let n = self.times.len();
        if n == 1 {
            out.copy_from_slice(self.state(0));
            return Ok(());
        }
        // step k covers [times[k], times[k+1]]
        let k = if forward {
            self.times.partition_point(|&s| s <= t)
        } else {
            self.times.partition_point(|&s| s >= t)
        }
        .clamp(1, n - 1)
            - 1;
        let (ta, tb) = (self.times[k], self.times[k + 1]);
        let theta = (t - ta) / (tb - ta);
        let theta1 = 1.0 - theta;
        let d = self.dim;
        let r = &self.dense[k * 5 * d..(k + 1) * 5 * d];
        for i in 0..d {
            out[i] = r[i]
                + theta
                    * (r[d + i]
                        + theta1 * (r[2 * d + i] + theta * (r[3 * d + i] + theta1 * r[4 * d + i])));
        }
        Ok(())
    }
}

// Dormand-Prince tableau
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

/// Integrate `y' = f(t, y)` from `t0` to `t1` (either direction) starting at `y0`.
/// `f(t, y, dy)` writes the derivative into `dy`. Returns every accepted step with dense output.
pub fn dopri5<F>(
    mut f: F,
    t0: f64,
    y0: &[f64],
    t1: f64,
    opts: &Dopri5Options,
) -> Result<OdeSolution>
where
    F: FnMut(f64, &[f64], &mut [f64]),
{
    crate::error::check_positive("rtol", opts.rtol)?;
    crate::error::check_positive("atol", opts.atol)?;
    check_finite("t0, t1", &[t0, t1])?;
    check_finite("y0", y0)?;
    let n = y0.len();
    let mut sol = OdeSolution {
        dim: n,
        times: vec![t0],
        states: y0.to_vec(),
        dense: Vec::new(),
        n_eval: 0,
        n_accepted: 0,
        n_rejected: 0,
    };
    if t1 == t0 {
        return Ok(sol);
    }
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let h_max = opts.h_max.unwrap_or(span).min(span);
    crate::error::check_positive("h_max", h_max)?;
    let mut y = y0.to_vec();
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let mut ys = vec![0.0; n];
    let mut y_new = vec![0.0; n];
    let mut err_v = vec![0.0; n];
    let mut t = t0;
    f(t, &y, &mut k[0]);
    sol.n_eval += 1;
    check_finite("f(t0, y0)", &k[0])?;
    let sk = |y: &[f64], i: usize| opts.atol + opts.rtol * y[i].abs();
    let mut h = match opts.h_init {
        Some(h) => {
            crate::error::check_positive("h_init", h)?;
            h.min(h_max)
        }
        None => {
            // Hairer's initial step heuristic
            let d0 = rms(n, |i| y[i] / sk(&y, i));
            let d1 = rms(n, |i| k[0][i] / sk(&y, i));
            let h0 = if d0 < 1e-5 || d1 < 1e-5 {
                1e-6
            } else {
                0.01 * d0 / d1
            }
            .min(h_max);
            for i in 0..n {
                ys[i] = y[i] + dir * h0 * k[0][i];
            }
            f(t + dir * h0, &ys, &mut k[1]);
            sol.n_eval += 1;
            let d2 = rms(n, |i| (k[1][i] - k[0][i]) / sk(&y, i)) / h0;
            let h1 = if d1.max(d2) <= 1e-15 {
                (h0 * 1e-3).max(1e-6)
            } else {
                (0.01 / d1.max(d2)).powf(0.2)
            };
            (100.0 * h0).min(h1).min(h_max)
        }
    };
    let mut last_rejected = false;
    let mut steps = 0usize;
    loop {
        let remaining = (t1 - t) * dir;
        if remaining <= 1e-14 * span.max(t.abs()) {
            break;
        }
        steps += 1;
        if steps > opts.max_steps {
            return Err(PdeError::OdeFailure {
                t,
                h,
                reason: "step budget exhausted",
            });
        }
        let mut last = false;
        if h >= remaining {
            h = remaining;
            last = true;
        }
        let hs = dir * h;
        // stages
        for i in 0..n {
            ys[i] = y[i] + hs * A21 * k[0][i];
        }
        f(t + C2 * hs, &ys, &mut k[1]);
        for i in 0..n {
            ys[i] = y[i] + hs * (A31 * k[0][i] + A32 * k[1][i]);
        }
        f(t + C3 * hs, &ys, &mut k[2]);
        for i in 0..n {
            ys[i] = y[i] + hs * (A41 * k[0][i] + A42 * k[1][i] + A43 * k[2][i]);
        }
        f(t + C4 * hs, &ys, &mut k[3]);
        for i in 0..n {
            ys[i] = y[i] + hs * (A51 * k[0][i] + A52 * k[1][i] + A53 * k[2][i] + A54 * k[3][i]);
        }
        f(t + C5 * hs, &ys, &mut k[4]);
        for i in 0..n {
            ys[i] = y[i]
                + hs * (A61 * k[0][i]
                    + A62 * k[1][i]
                    + A63 * k[2][i]
                    + A64 * k[3][i]
                    + A65 * k[4][i]);
        }
        f(t + hs, &ys, &mut k[5]);
        for i in 0..n {
            y_new[i] = y[i]
                + hs * (A71 * k[0][i]
                    + A73 * k[2][i]
                    + A74 * k[3][i]
                    + A75 * k[4][i]
                    + A76 * k[5][i]);
        }
        f(t + hs, &y_new, &mut k[6]);
        sol.n_eval += 6;
        for i in 0..n {
            err_v[i] = hs
                * (E1 * k[0][i]
                    + E3 * k[2][i]
                    + E4 * k[3][i]
                    + E5 * k[4][i]
                    + E6 * k[5][i]
                    + E7 * k[6][i]);
        }
        let err = rms(n, |i| {
            err_v[i] / (opts.atol + opts.rtol * y[i].abs().max(y_new[i].abs()))
        });
        if !err.is_finite() {
            // non-finite stage: shrink hard
            sol.n_rejected += 1;
            h *= 0.2;
            last_rejected = true;
            if h < 1e-14 * span.max(t.abs()) {
                return Err(PdeError::OdeFailure {
                    t,
                    h,
                    reason: "non-finite derivative and step size underflow",
                });
            }
            continue;
        }
        let mut fac = 0.9 * err.powf(-0.2);
        if err <= 1.0 {
            // accept
            sol.n_accepted += 1;
            // store dense coefficients in block layout [r1 | r2 | r3 | r4 | r5]
            sol.dense.extend_from_slice(&y);
            sol.dense.extend((0..n).map(|i| y_new[i] - y[i]));
            sol.dense
                .extend((0..n).map(|i| hs * k[0][i] - (y_new[i] - y[i])));
            sol.dense.extend((0..n).map(|i| {
                let ydiff = y_new[i] - y[i];
                let bspl = hs * k[0][i] - ydiff;
                ydiff - hs * k[6][i] - bspl
            }));
            sol.dense.extend((0..n).map(|i| {
                hs * (D1 * k[0][i]
                    + D3 * k[2][i]
                    + D4 * k[3][i]
                    + D5 * k[4][i]
                    + D6 * k[5][i]
                    + D7 * k[6][i])
            }));
            t = if last { t1 } else { t + hs };
            y.copy_from_slice(&y_new);
            k.swap(0, 6); // FSAL
            sol.times.push(t);
            sol.states.extend_from_slice(&y);
            if last_rejected {
                fac = fac.min(1.0);
            }
            h = (h * fac.clamp(0.2, 10.0)).min(h_max);
            last_rejected = false;
        } else {
            sol.n_rejected += 1;
            h *= fac.clamp(0.2, 1.0);
            last_rejected = true;
        }
        if h < 1e-14 * span.max(t.abs()) {
            return Err(PdeError::OdeFailure {
                t,
                h,
                reason: "step size underflow",
            });
        }
    }
    Ok(sol)
}

fn rms(n: usize, v: impl Fn(usize) -> f64) -> f64 {
    ((0..n).map(|i| v(i) * v(i)).sum::<f64>() / n.max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harmonic_oscillator_both_directions_and_dense_output() {
        let f = |_t: f64, y: &[f64], dy: &mut [f64]| {
            dy[0] = y[1];
            dy[1] = -y[0];
        };
        let opts = Dopri5Options {
            rtol: 1e-11,
            atol: 1e-13,
            ..Default::default()
        };
        let sol = dopri5(f, 0.0, &[1.0, 0.0], 10.0, &opts).unwrap();
        let y = sol.y_end();
        assert!((y[0] - 10f64.cos()).abs() < 1e-9 && (y[1] + 10f64.sin()).abs() < 1e-9);
        let mut out = [0.0; 2];
        for k in 0..200 {
            let t = 0.05 * k as f64 + 0.0123;
            sol.eval(t, &mut out).unwrap();
            assert!(
                (out[0] - t.cos()).abs() < 1e-9,
                "t={t}: {}",
                out[0] - t.cos()
            );
        }
        let back = dopri5(f, 10.0, y, 0.0, &opts).unwrap();
        assert!((back.y_end()[0] - 1.0).abs() < 1e-9);
        back.eval(3.3, &mut out).unwrap();
        assert!((out[0] - 3.3f64.cos()).abs() < 1e-9);
        assert!(sol.eval(10.5, &mut out).is_err());
    }

    #[test]
    fn dense_output_is_fourth_order_and_error_tracks_tolerance() {
        // fixed steps (h_init = h_max, loose tolerance so nothing is rejected): interpolation
        // error at mid-steps must fall like h^5 per step.
        let f = |t: f64, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * t.cos();
        let exact = |t: f64| t.sin().exp();
        let mut errs = Vec::new();
        for h in [0.2, 0.1] {
            let opts = Dopri5Options {
                rtol: 1e3,
                atol: 1e3,
                h_init: Some(h),
                h_max: Some(h),
                ..Default::default()
            };
            let sol = dopri5(f, 0.0, &[1.0], 2.0, &opts).unwrap();
            let mut out = [0.0];
            let mut e = 0.0f64;
            for k in 0..sol.times().len() - 1 {
                let t = 0.5 * (sol.times()[k] + sol.times()[k + 1]);
                sol.eval(t, &mut out).unwrap();
                // compare the interpolation against the local step's own endpoint error scale
                e = e.max((out[0] - exact(t)).abs());
            }
            errs.push(e);
        }
        let order = (errs[0] / errs[1]).log2();
        assert!(order > 3.7, "dense output order {order}, errors {errs:?}");
        let mut prev = f64::INFINITY;
        for tol in [1e-6, 1e-8, 1e-10] {
            let opts = Dopri5Options {
                rtol: tol,
                atol: tol,
                ..Default::default()
            };
            let sol = dopri5(f, 0.0, &[1.0], 5.0, &opts).unwrap();
            let e = (sol.y_end()[0] - exact(5.0)).abs();
            assert!(e < 100.0 * tol && e < prev, "tol {tol}: error {e}");
            prev = e;
        }
    }

    #[test]
    fn rejects_bad_input() {
        let f = |_t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = 1.0;
        let bad = Dopri5Options {
            rtol: 0.0,
            ..Default::default()
        };
        assert!(dopri5(f, 0.0, &[0.0], 1.0, &bad).is_err());
        assert!(dopri5(f, 0.0, &[f64::NAN], 1.0, &Dopri5Options::default()).is_err());
        // blow-up y' = y^2 from 1 escapes at t = 1
        let g = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0];
        let r = dopri5(g, 0.0, &[1.0], 2.0, &Dopri5Options::default());
        assert!(matches!(r, Err(PdeError::OdeFailure { .. })), "{r:?}");
    }
}
