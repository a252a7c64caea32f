//! Closed-form coefficients of the Gaussian Green functions of a piecewise-constant protocol.
//!
//! Backward Green function (`-dG/dt = 1/2 Lap G - V G`, `G_1(x|y) = delta(x - y)`):
//!
//! ```text
//! log G^-_t(x|y) = -a⁻|x|²/2 + b⁻ x·y - c⁻|y|²/2 + θx·x + θy·y + const(t)
//! da⁻/dt = (a⁻)² - beta,  db⁻/dt = a⁻ b⁻,  dc⁻/dt = (b⁻)²,
//! dθx/dt = a⁻ θx - beta nu,  dθy/dt = -b⁻ θx,      a⁻, b⁻, c⁻ ~ 1/(1-t), θ -> 0 at t -> 1
//! ```
//!
//! Forward Green function from the origin (`dG/dt = 1/2 Lap G - V G`, `G_0 = delta`):
//!
//! ```text
//! log G^+_t(x|0) = -a⁺|x|²/2 + θ⁺·x + const(t)
//! da⁺/dt = beta - (a⁺)²,  dθ⁺/dt = -a⁺ θ⁺ + beta nu,  a⁺ ~ 1/t, θ⁺ -> 0 at t -> 0
//! ```
//!
//! # Closed forms used (per piece, `w = sqrt(beta_i)`)
//! With `tau(s) = tanh(w s)/w` (`= s` for `w = 0`), `sech = 1/cosh(w s)`, `E = 1 - sech` and, on a
//! piece with right anchor `(a_R, b_R, c_R, θx_R, θy_R)` at `t_{i+1}` and `s = t_{i+1} - t`,
//! `g = 1/(1 + a_R tau)`:
//!
//! ```text
//! a⁻ = (a_R + beta tau) g              b⁻ = b_R sech g             c⁻ = c_R - b_R² tau g
//! θx = sech g θx_R + (beta tau + a_R E) g nu
//! θy = θy_R + b_R tau g θx_R + b_R E g nu
//! ```
//!
//! These are the spec's `a⁻ = w (a_R + w T)/(w + a_R T)`,
//! `b⁻ = b_R sqrt((a⁻² - beta)/(a_R² - beta))`, `c⁻ = c_R + b_R² (a_R - a⁻)/(beta - a_R²)` and its
//! θ formulas, rewritten without the `0/0` at `a_R² = beta` (they come from the linearisation
//! `a⁻ = D'/D`, `D'' = beta D`, `D(s) = cosh(w s) + a_R sinh(w s)/w`, so `b⁻ = b_R / D`). On the last
//! piece (`r = 1 - t`): `a⁻ = c⁻ = 1/tau(r)`, `b⁻ = sech(w r)/tau(r)`, `θx = θy = nu w tanh(w r/2)`.
//!
//! Forward, first piece: `a⁺ = 1/tau(t)`, `θ⁺ = nu w tanh(w t/2)`. Later pieces from the left
//! anchor `(a_L, θ_L)` at `t_i`, `sigma = t - t_i`, `g = 1/(1 + a_L tau(sigma))`:
//! `a⁺ = (a_L + beta tau) g` (the Möbius form of the spec, valid for rising and falling beta) and
//! `θ⁺ = sech g θ_L + (beta tau + a_L E) g nu` (the exact solution of the linear ODE).
//!
//! The probe precision `K_t = c⁻_t - a⁺_1` vanishes at `t = 0` (`c⁻_0 = a⁺_1` is an identity: both
//! are the precision of `G^+_1(y|0) = G^-_0(0|y)`). It is accumulated without cancellation as
//! `K(t) = K(t_i) + b⁻(t_i) b⁻(t) sinh(w (t - t_i))/w` on piece `i`, `K(0) = 0`.

use serde::{Deserialize, Serialize};

use crate::error::{BridgeError, Result};
use crate::protocol::Protocol;

/// `tau = tanh(w s)/w` (= `s` when `w = 0`), `sech = 1/cosh(w s)` and `e = 1 - sech` without
/// cancellation.
#[derive(Clone, Copy)]
struct Hyp {
    tau: f64,
    sech: f64,
    e: f64,
}

fn hyp(w: f64, s: f64) -> Hyp {
    if w == 0.0 {
        return Hyp {
            tau: s,
            sech: 1.0,
            e: 0.0,
        };
    }
    let x = w * s;
    let ch = x.cosh();
    let e = if x < 1.0 {
        let sh = (0.5 * x).sinh();
        2.0 * sh * sh / ch
    } else {
        1.0 - 1.0 / ch
    };
    Hyp {
        tau: x.tanh() / w,
        sech: 1.0 / ch,
        e,
    }
}

/// `w tanh(w s / 2)`: the θ of the last (backward) or first (forward) piece per unit centre.
fn half_tanh(w: f64, s: f64) -> f64 {
    w * (0.5 * w * s).tanh()
}

/// `sinh(w s)/w` (= `s` when `w = 0`).
fn sinh_over_w(w: f64, s: f64) -> f64 {
    if w == 0.0 {
        s
    } else {
        (w * s).sinh() / w
    }
}

/// Scalar kernel of the backward closed form on one piece:
/// `θx = kxx θx_R + kxn nu`, `θy = θy_R + kyx θx_R + kyn nu`.
#[derive(Clone, Copy)]
struct BackKernel {
    a: f64,
    b: f64,
    c: f64,
    kxx: f64,
    kxn: f64,
    kyx: f64,
    kyn: f64,
}

/// Last piece, `r = 1 - t > 0`.
fn back_last(w: f64, r: f64) -> BackKernel {
    let h = hyp(w, r);
    let a = 1.0 / h.tau;
    let th = half_tanh(w, r);
    BackKernel {
        a,
        b: h.sech * a,
        c: a,
        kxx: 0.0,
        kxn: th,
        kyx: 0.0,
        kyn: th,
    }
}

/// Earlier piece from the right anchor, `s = t_{i+1} - t >= 0`.
fn back_earlier(beta: f64, w: f64, a_r: f64, b_r: f64, c_r: f64, s: f64) -> BackKernel {
    let h = hyp(w, s);
    let g = 1.0 / (1.0 + a_r * h.tau);
    let (kxn, kyn) = if beta == 0.0 {
        (0.0, 0.0)
    } else {
        ((beta * h.tau + a_r * h.e) * g, b_r * h.e * g)
    };
    BackKernel {
        a: (a_r + beta * h.tau) * g,
        b: b_r * h.sech * g,
        c: c_r - b_r * b_r * h.tau * g,
        kxx: h.sech * g,
        kxn,
        kyx: b_r * h.tau * g,
        kyn,
    }
}

/// Scalar kernel of the forward closed form: `θ⁺ = kt θ_L + kn nu`.
#[derive(Clone, Copy)]
struct FwdKernel {
    a: f64,
    kt: f64,
    kn: f64,
}

/// First piece, `t > 0`.
fn fwd_first(w: f64, t: f64) -> FwdKernel {
    FwdKernel {
        a: 1.0 / hyp(w, t).tau,
        kt: 0.0,
        kn: half_tanh(w, t),
    }
}

/// Later piece from the left anchor, `sigma = t - t_i >= 0`.
fn fwd_later(beta: f64, w: f64, a_l: f64, sigma: f64) -> FwdKernel {
    let h = hyp(w, sigma);
    let g = 1.0 / (1.0 + a_l * h.tau);
    let kn = if beta == 0.0 {
        0.0
    } else {
        (beta * h.tau + a_l * h.e) * g
    };
    FwdKernel {
        a: (a_l + beta * h.tau) * g,
        kt: h.sech * g,
        kn,
    }
}

/// Backward coefficients at one time `t` in `[0, 1)`.
///
/// All quantities refer to the bridge from the origin with the protocol's centres; the `lambda`
/// fields are the same θ's for `nu ≡ 1` in `d = 1` (shift propagators for a start `z`:
/// `θ(nu - z) = θ(nu) - lambda z`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backward {
    /// The time `t`.
    pub t: f64,
    /// `a⁻_t` (1/time): precision of `G^-` in `x`.
    pub a_minus: f64,
    /// `b⁻_t` (1/time): `x·y` coupling of `G^-`.
    pub b_minus: f64,
    /// `c⁻_t` (1/time): precision of `G^-` in `y`.
    pub c_minus: f64,
    /// `K_t = c⁻_t - a⁺_1`: probe precision (`0` at `t = 0`, `> 0` on `(0, 1)`).
    pub k: f64,
    /// `θx_t` (length `d`).
    pub theta_x: Vec<f64>,
    /// `θy_t` (length `d`).
    pub theta_y: Vec<f64>,
    /// `Θ_t = θy_t - θ⁺_1` (length `d`): the constant in the probe mean `mu = (b⁻ x + Θ)/K`.
    pub theta_probe: Vec<f64>,
    /// `λx_t`: `θx` for `nu ≡ 1`, `d = 1`.
    pub lambda_x: f64,
    /// `λy_t`: `θy` for `nu ≡ 1`, `d = 1`.
    pub lambda_y: f64,
}

/// Forward coefficients at one time `t` in `(0, 1]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    /// The time `t`.
    pub t: f64,
    /// `a⁺_t` (1/time): precision of `G^+_t(·|0)`.
    pub a_plus: f64,
    /// `θ⁺_t` (length `d`).
    pub theta_plus: Vec<f64>,
    /// `λ⁺_t`: `θ⁺` for `nu ≡ 1`, `d = 1`.
    pub lambda_plus: f64,
}

/// The coefficients of one protocol, precomputed at the breaks once; evaluation at any `t` is
/// O(d) closed-form work from the anchor of the piece containing `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    protocol: Protocol,
    w: Vec<f64>,
    // backward values at t_0..t_{M-1}
    ba: Vec<f64>,
    bb: Vec<f64>,
    bc: Vec<f64>,
    blx: Vec<f64>,
    bly: Vec<f64>,
    btx: Vec<f64>,
    bty: Vec<f64>,
    bk: Vec<f64>,
    // forward values at t_0..t_M (index 0 unused: singular)
    fa: Vec<f64>,
    flp: Vec<f64>,
    ftp: Vec<f64>,
}

impl Coefficients {
    /// Precompute the anchors of `protocol` at its breaks.
    pub fn new(protocol: &Protocol) -> Self {
        let m = protocol.pieces();
        let d = protocol.dim();
        let br = protocol.breaks();
        let beta = protocol.betas();
        let w: Vec<f64> = beta.iter().map(|b| b.sqrt()).collect();

        let mut ba = vec![0.0; m];
        let mut bb = vec![0.0; m];
        let mut bc = vec![0.0; m];
        let mut blx = vec![0.0; m];
        let mut bly = vec![0.0; m];
        let mut btx = vec![0.0; m * d];
        let mut bty = vec![0.0; m * d];
        for i in (0..m).rev() {
            let nu = protocol.nu(i);
            if i == m - 1 {
                let k = back_last(w[i], 1.0 - br[i]);
                ba[i] = k.a;
                bb[i] = k.b;
                bc[i] = k.c;
                blx[i] = k.kxn;
                bly[i] = k.kyn;
                for j in 0..d {
                    btx[i * d + j] = k.kxn * nu[j];
                    bty[i * d + j] = k.kyn * nu[j];
                }
            } else {
                let s = br[i + 1] - br[i];
                let k = back_earlier(beta[i], w[i], ba[i + 1], bb[i + 1], bc[i + 1], s);
                ba[i] = k.a;
                bb[i] = k.b;
                bc[i] = k.c;
                blx[i] = k.kxx * blx[i + 1] + k.kxn;
                bly[i] = bly[i + 1] + k.kyx * blx[i + 1] + k.kyn;
                for j in 0..d {
                    let txr = btx[(i + 1) * d + j];
                    let tyr = bty[(i + 1) * d + j];
                    btx[i * d + j] = k.kxx * txr + k.kxn * nu[j];
                    bty[i * d + j] = tyr + k.kyx * txr + k.kyn * nu[j];
                }
            }
        }
        // K accumulated forward without cancellation: K(t_{i+1}) = K(t_i) + b(t_i) b(t_{i+1}) S
        let mut bk = vec![0.0; m];
        for i in 0..m.saturating_sub(1) {
            bk[i + 1] = bk[i] + bb[i] * bb[i + 1] * sinh_over_w(w[i], br[i + 1] - br[i]);
        }

        let mut fa = vec![f64::INFINITY; m + 1];
        let mut flp = vec![0.0; m + 1];
        let mut ftp = vec![0.0; (m + 1) * d];
        for i in 0..m {
            let nu = protocol.nu(i);
            let k = if i == 0 {
                fwd_first(w[0], br[1])
            } else {
                fwd_later(beta[i], w[i], fa[i], br[i + 1] - br[i])
            };
            fa[i + 1] = k.a;
            flp[i + 1] = k.kt * flp[i] + k.kn;
            for j in 0..d {
                ftp[(i + 1) * d + j] = k.kt * ftp[i * d + j] + k.kn * nu[j];
            }
        }

        Self {
            protocol: protocol.clone(),
            w,
            ba,
            bb,
            bc,
            blx,
            bly,
            btx,
            bty,
            bk,
            fa,
            flp,
            ftp,
        }
    }

    /// The protocol these coefficients belong to.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.protocol.dim()
    }

    /// `a⁺_1`: precision of `G^+_1(y|0)`.
    pub fn a_plus_1(&self) -> f64 {
        self.fa[self.protocol.pieces()]
    }

    /// `θ⁺_1` (length `d`).
    pub fn theta_plus_1(&self) -> &[f64] {
        let m = self.protocol.pieces();
        let d = self.dim();
        &self.ftp[m * d..(m + 1) * d]
    }

    /// `λ⁺_1`: `θ⁺_1` for `nu ≡ 1`, `d = 1`.
    pub fn lambda_plus_1(&self) -> f64 {
        self.flp[self.protocol.pieces()]
    }

    /// Backward coefficients at `t` in `[0, 1)` (allocating; see [`Coefficients::backward_into`]).
    pub fn backward(&self, t: f64) -> Result<Backward> {
        let mut out = Backward::default();
        self.backward_into(t, &mut out)?;
        Ok(out)
    }

    /// Backward coefficients at `t` in `[0, 1)` into `out` (vectors are resized to `d`; no
    /// allocation once warm). Errors for `t` outside `[0, 1)` or non-finite.
    pub fn backward_into(&self, t: f64, out: &mut Backward) -> Result<()> {
        if !(0.0..1.0).contains(&t) {
            return Err(BridgeError::TimeOutOfDomain {
                t,
                domain: "[0, 1) (backward coefficients blow up at t = 1)",
            });
        }
        let p = &self.protocol;
        let m = p.pieces();
        let d = p.dim();
        let br = p.breaks();
        let beta = p.betas();
        let i = p.piece_at(t);
        let w = self.w[i];
        let nu = p.nu(i);
        out.theta_x.resize(d, 0.0);
        out.theta_y.resize(d, 0.0);
        out.theta_probe.resize(d, 0.0);
        out.t = t;
        let k = if i == m - 1 {
            let k = back_last(w, 1.0 - t);
            out.lambda_x = k.kxn;
            out.lambda_y = k.kyn;
            for j in 0..d {
                out.theta_x[j] = k.kxn * nu[j];
                out.theta_y[j] = k.kyn * nu[j];
            }
            k
        } else {
            let k = back_earlier(
                beta[i],
                w,
                self.ba[i + 1],
                self.bb[i + 1],
                self.bc[i + 1],
                br[i + 1] - t,
            );
            out.lambda_x = k.kxx * self.blx[i + 1] + k.kxn;
            out.lambda_y = self.bly[i + 1] + k.kyx * self.blx[i + 1] + k.kyn;
            for j in 0..d {
                let txr = self.btx[(i + 1) * d + j];
                let tyr = self.bty[(i + 1) * d + j];
                out.theta_x[j] = k.kxx * txr + k.kxn * nu[j];
                out.theta_y[j] = tyr + k.kyx * txr + k.kyn * nu[j];
            }
            k
        };
        out.a_minus = k.a;
        out.b_minus = k.b;
        out.c_minus = k.c;
        out.k = self.bk[i] + self.bb[i] * k.b * sinh_over_w(w, t - br[i]);
        let tp1 = self.theta_plus_1();
        for j in 0..d {
            out.theta_probe[j] = out.theta_y[j] - tp1[j];
        }
        Ok(())
    }

    /// Forward coefficients at `t` in `(0, 1]` (allocating; see [`Coefficients::forward_into`]).
    pub fn forward(&self, t: f64) -> Result<Forward> {
        let mut out = Forward::default();
        self.forward_into(t, &mut out)?;
        Ok(out)
    }

    /// Forward coefficients at `t` in `(0, 1]` into `out`. Errors outside `(0, 1]`.
    pub fn forward_into(&self, t: f64, out: &mut Forward) -> Result<()> {
        if !(t > 0.0 && t <= 1.0) {
            return Err(BridgeError::TimeOutOfDomain {
                t,
                domain: "(0, 1] (forward coefficients blow up at t = 0)",
            });
        }
        let p = &self.protocol;
        let d = p.dim();
        let i = p.piece_at(t);
        let w = self.w[i];
        let nu = p.nu(i);
        let k = if i == 0 {
            fwd_first(w, t)
        } else {
            fwd_later(p.betas()[i], w, self.fa[i], t - p.breaks()[i])
        };
        out.t = t;
        out.a_plus = k.a;
        out.lambda_plus = k.kt * self.flp[i] + k.kn;
        out.theta_plus.resize(d, 0.0);
        for j in 0..d {
            out.theta_plus[j] = k.kt * self.ftp[i * d + j] + k.kn * nu[j];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    #[test]
    fn constant_beta_matches_spec_formulas() {
        for &beta in &[0.0, 1e-12, 0.3, 4.0, 50.0] {
            let p = Protocol::constant(1, beta).unwrap();
            let c = Coefficients::new(&p);
            let w: f64 = beta.sqrt();
            for &t in &[1e-3, 0.1, 0.37, 0.5, 0.83, 0.999] {
                let b = c.backward(t).unwrap();
                let f = c.forward(t).unwrap();
                let r = 1.0 - t;
                let (ap, am, bm) = if beta == 0.0 {
                    (1.0 / t, 1.0 / r, 1.0 / r)
                } else {
                    (w / (w * t).tanh(), w / (w * r).tanh(), w / (w * r).sinh())
                };
                assert!(rel(f.a_plus, ap) < 1e-12, "beta {beta} t {t}");
                assert!(rel(b.a_minus, am) < 1e-12);
                assert!(rel(b.c_minus, am) < 1e-12);
                assert!(rel(b.b_minus, bm) < 1e-12);
                if beta == 1e-12 {
                    assert!(rel(f.a_plus, 1.0 / t) < 1e-10);
                    assert!(rel(b.a_minus, 1.0 / r) < 1e-10);
                }
            }
        }
    }

    #[test]
    fn probe_precision_vanishes_at_zero_and_matches_difference() {
        let p = Protocol::piecewise(1, vec![0.0, 0.3, 0.55, 1.0], vec![2.0, 0.0, 9.0]).unwrap();
        let c = Coefficients::new(&p);
        let b0 = c.backward(0.0).unwrap();
        assert_eq!(b0.k, 0.0);
        assert!(rel(b0.c_minus, c.a_plus_1()) < 1e-13);
        for &t in &[0.05, 0.3, 0.4, 0.55, 0.9] {
            let b = c.backward(t).unwrap();
            assert!(rel(b.k, b.c_minus - c.a_plus_1()) < 1e-12, "t {t}");
        }
    }
}
