//! Adam (Kingma & Ba) with optional decoupled weight decay: the one optimiser of the crate, on flat
//! parameter buffers of `f64` (the exact reference's hand-written networks) or `f32` (candle
//! variables, through [`crate::nn::FlatAdam`]). Moments are kept in `f64`.
//!
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr wd p`.

use crate::error::{invalid, Result};
use serde::{Deserialize, Serialize};

/// A floating-point parameter type the optimiser can update.
pub trait Real: Copy {
    /// Widen to `f64`.
    fn to_f64(self) -> f64;
    /// Narrow from `f64`.
    fn from_f64(v: f64) -> Self;
}

impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Real for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

/// Adam state for `n` parameters (possibly split over several buffers, see [`Adam::step_parts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator offset.
    pub eps: f64,
    /// Decoupled weight decay (AdamW; 0 for plain Adam).
    pub weight_decay: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: u64,
}

impl Adam {
    /// Adam with the usual `(0.9, 0.999, 1e-8)` for `n` parameters, no weight decay.
    pub fn new(n: usize, lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.m.len()
    }

    /// True for an optimiser of no parameters.
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }

    /// First and second moments (for a checkpoint).
    pub fn moments(&self) -> (&[f64], &[f64]) {
        (&self.m, &self.v)
    }

    /// The same optimiser continued from saved moments after `t` steps (each of [`Adam::len`]
    /// values).
    pub fn with_state(mut self, m: Vec<f64>, v: Vec<f64>, t: u64) -> Result<Self> {
        if m.len() != self.m.len() || v.len() != self.v.len() {
            return Err(invalid(
                "optimiser state",
                format!("{} / {} moments", m.len(), v.len()),
                "must have one first and one second moment per parameter",
            ));
        }
        self.m = m;
        self.v = v;
        self.t = t;
        Ok(self)
    }

    /// One update of a single flat buffer.
    pub fn step<T: Real>(&mut self, params: &mut [T], grad: &[T]) {
        self.step_parts([(params, Some(grad))], 1.0);
    }

    /// One update of consecutive buffers (their moments are laid out in order); a buffer without a
    /// gradient keeps its values and moments. Every gradient is multiplied by `scale` first (the
    /// factor of a norm clip).
    pub fn step_parts<'a, T: Real + 'a>(
        &mut self,
        parts: impl IntoIterator<Item = (&'a mut [T], Option<&'a [T]>)>,
        scale: f64,
    ) {
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t as i32);
        let c2 = 1.0 - self.beta2.powi(self.t as i32);
        let (b1, b2, lr, wd) = (self.beta1, self.beta2, self.lr, self.weight_decay);
        let mut off = 0;
        for (p, g) in parts {
            if let Some(g) = g {
                for i in 0..p.len().min(g.len()) {
                    let k = off + i;
                    if k >= self.m.len() {
                        break;
                    }
                    let gi = g[i].to_f64() * scale;
                    self.m[k] = b1 * self.m[k] + (1.0 - b1) * gi;
                    self.v[k] = b2 * self.v[k] + (1.0 - b2) * gi * gi;
                    let pi = p[i].to_f64();
                    let upd = if wd == 0.0 {
                        lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + self.eps)
                    } else {
                        lr * ((self.m[k] / c1) / ((self.v[k] / c2).sqrt() + self.eps) + wd * pi)
                    };
                    p[i] = T::from_f64(pi - upd);
                }
            }
            off += p.len();
        }
    }
}

/// Factor `min(1, max_norm / |g|)` that clips a gradient of Euclidean norm `norm` to `max_norm`.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm > max_norm && norm > 0.0 {
        max_norm / norm
    } else {
        1.0
    }
}

/// Scale `grad` so that its Euclidean norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(grad: &mut [f64], max_norm: f64) -> f64 {
    let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    let s = clip_factor(norm, max_norm);
    if s < 1.0 {
        grad.iter_mut().for_each(|g| *g *= s);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_lr_against_its_gradient_sign() {
        // at t = 1, m_hat = g and v_hat = g^2, so the step is lr g / (|g| + eps)
        let mut a = Adam::new(3, 0.1);
        let mut p = [1.0f64, -2.0, 0.5];
        a.step(&mut p, &[4.0, -0.5, 0.0]);
        let want = |p0: f64, g: f64| p0 - 0.1 * g / (g.abs() + 1e-8);
        assert!((p[0] - want(1.0, 4.0)).abs() < 1e-12, "{p:?}");
        assert!(
            (p[1] - want(-2.0, -0.5)).abs() < 1e-12 && p[2] == 0.5,
            "{p:?}"
        );
        // f32 buffers in two parts, one without gradient
        let mut b = Adam::new(4, 0.1);
        let (mut x, mut y) = ([1.0f32, 1.0], [3.0f32, 3.0]);
        b.step_parts(
            [(&mut x[..], Some(&[2.0f32, -2.0][..])), (&mut y[..], None)],
            0.5,
        );
        assert!((x[0] - 0.9).abs() < 1e-6 && (x[1] - 1.1).abs() < 1e-6 && y == [3.0, 3.0]);
        // decoupled weight decay shrinks a parameter with zero gradient
        let mut c = Adam::new(1, 0.1);
        c.weight_decay = 0.5;
        let mut z = [2.0f64];
        c.step(&mut z, &[0.0]);
        assert!((z[0] - (2.0 - 0.1 * 0.5 * 2.0)).abs() < 1e-12);
    }

    #[test]
    fn clipping_scales_to_the_bound() {
        let mut g = [3.0, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-15 && (g[1] - 0.8).abs() < 1e-15);
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
    }

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut p: Vec<f64> = vec![3.0, -2.0];
        let mut opt = Adam::new(2, 0.1);
        for _ in 0..500 {
            let g = vec![2.0 * p[0], 8.0 * p[1]];
            opt.step(&mut p, &g);
        }
        assert!(p[0].abs() < 1e-2 && p[1].abs() < 1e-2, "{p:?}");
        let mut g = vec![3.0, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-12 && (g[1] - 0.8).abs() < 1e-12);
    }
}
