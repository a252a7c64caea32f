//! A small dense f64 multilayer perceptron with hand-written back-propagation (trained with
//! [`crate::adam::Adam`]).
//!
//! Used by the exact low-dimensional reference (control networks of CMAD), where states are a few
//! numbers per particle and a tensor framework would only add overhead.

use crate::error::{invalid, Result};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Dense MLP `sizes[0] -> ... -> sizes[L]`, tanh on hidden layers, linear output.
///
/// Parameters are one flat vector; layer `l` stores `W_l` (`sizes[l+1] x sizes[l]`, row-major)
/// followed by `b_l` (`sizes[l+1]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseMlp {
    /// Layer widths, input first.
    pub sizes: Vec<usize>,
    /// Flat parameters (see the type doc for the layout).
    pub params: Vec<f64>,
}

/// Activations of one forward pass kept for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct MlpCache {
    /// `acts[0]` is the input (`B x sizes[0]`), `acts[l]` the tanh output of hidden layer `l`.
    pub acts: Vec<Vec<f64>>,
    /// Batch size of the pass.
    pub batch: usize,
}

impl DenseMlp {
    /// Xavier-style normal initialisation; with `zero_last` the output layer starts at zero (so the
    /// network's output is exactly 0 until trained).
    pub fn new<R: Rng>(sizes: &[usize], zero_last: bool, rng: &mut R) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(invalid(
                "sizes",
                format!("{sizes:?}"),
                "need >= 2 layers, all widths >= 1",
            ));
        }
        let mut params = Vec::new();
        let n_layers = sizes.len() - 1;
        for l in 0..n_layers {
            let (i, o) = (sizes[l], sizes[l + 1]);
            let scale = (1.0 / i as f64).sqrt();
            let last = l + 1 == n_layers;
            for _ in 0..i * o {
                let z: f64 = rng.sample(StandardNormal);
                params.push(if last && zero_last { 0.0 } else { scale * z });
            }
            params.resize(params.len() + o, 0.0);
        }
        Ok(Self {
            sizes: sizes.to_vec(),
            params,
        })
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// Input width.
    pub fn n_in(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn n_out(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    fn layers(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        // (offset of W, n_in, n_out)
        let mut off = 0;
        self.sizes.windows(2).map(move |w| {
            let o = off;
            off += w[0] * w[1] + w[1];
            (o, w[0], w[1])
        })
    }

    /// Forward pass on `batch` rows of `input` (`batch x n_in`), writing `out` (`batch x n_out`) and
    /// filling `cache` for [`DenseMlp::backward`].
    pub fn forward(&self, input: &[f64], batch: usize, cache: &mut MlpCache, out: &mut [f64]) {
        let n_layers = self.sizes.len() - 1;
        cache.batch = batch;
        cache.acts.resize(n_layers, Vec::new());
        cache.acts[0].clear();
        cache.acts[0].extend_from_slice(&input[..batch * self.n_in()]);
        for (l, (off, ni, no)) in self.layers().enumerate() {
            let (w, b) = (
                &self.params[off..off + ni * no],
                &self.params[off + ni * no..off + ni * no + no],
            );
            let last = l + 1 == n_layers;
            let mut next = if last {
                Vec::new()
            } else {
                std::mem::take(&mut cache.acts[l + 1])
            };
            if !last {
                next.resize(batch * no, 0.0);
            }
            let src = &cache.acts[l];
            let dst: &mut [f64] = if last {
                &mut out[..batch * no]
            } else {
                &mut next
            };
            for r in 0..batch {
                let xr = &src[r * ni..(r + 1) * ni];
                for o in 0..no {
                    let wr = &w[o * ni..(o + 1) * ni];
                    let z = b[o] + wr.iter().zip(xr).map(|(a, c)| a * c).sum::<f64>();
                    dst[r * no + o] = if last { z } else { z.tanh() };
                }
            }
            if !last {
                cache.acts[l + 1] = next;
            }
        }
    }

    /// Backward pass: given `d_out = dL/d(out)` (`batch x n_out`) for the pass recorded in `cache`,
    /// add `dL/d(params)` into `grad` and write `dL/d(input)` into `d_input` (`batch x n_in`).
    /// `work` is scratch memory.
    pub fn backward(
        &self,
        cache: &MlpCache,
        d_out: &[f64],
        grad: &mut [f64],
        d_input: &mut [f64],
        work: &mut [Vec<f64>; 2],
    ) {
        let batch = cache.batch;
        let layers: Vec<(usize, usize, usize)> = self.layers().collect();
        let n_layers = layers.len();
        let [cur, prev] = work;
        cur.clear();
        cur.extend_from_slice(&d_out[..batch * self.n_out()]);
        for l in (0..n_layers).rev() {
            let (off, ni, no) = layers[l];
            let x = &cache.acts[l];
            // cur = dL/d(pre-activation of layer l+1), batch x no
            let (gw, gb) = grad[off..off + ni * no + no].split_at_mut(ni * no);
            prev.clear();
            prev.resize(batch * ni, 0.0);
            let w = &self.params[off..off + ni * no];
            for r in 0..batch {
                let xr = &x[r * ni..(r + 1) * ni];
                let pr = &mut prev[r * ni..(r + 1) * ni];
                for o in 0..no {
                    let g = cur[r * no + o];
                    if g == 0.0 {
                        continue;
                    }
                    gb[o] += g;
                    let gwr = &mut gw[o * ni..(o + 1) * ni];
                    let wr = &w[o * ni..(o + 1) * ni];
                    for i in 0..ni {
                        gwr[i] += g * xr[i];
                        pr[i] += g * wr[i];
                    }
                }
            }
            if l > 0 {
                // through tanh: d pre = d act * (1 - act^2)
                for (p, a) in prev.iter_mut().zip(x.iter()) {
                    *p *= 1.0 - a * a;
                }
            }
            std::mem::swap(cur, prev);
        }
        d_input[..batch * self.n_in()].copy_from_slice(&cur[..batch * self.n_in()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let net = DenseMlp::new(&[3, 5, 4, 2], false, &mut rng).unwrap();
        let x = [0.3, -0.7, 1.1, -0.2, 0.5, 0.9];
        let c = [0.7, -1.3, 0.4, 2.0]; // L = sum c . out
        let loss = |net: &DenseMlp, x: &[f64]| {
            let mut out = [0.0; 4];
            net.forward(x, 2, &mut MlpCache::default(), &mut out);
            out.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut cache = MlpCache::default();
        let mut out = [0.0; 4];
        net.forward(&x, 2, &mut cache, &mut out);
        let mut grad = vec![0.0; net.n_params()];
        let mut dx = [0.0; 6];
        net.backward(
            &cache,
            &c,
            &mut grad,
            &mut dx,
            &mut [Vec::new(), Vec::new()],
        );
        let h = 1e-6;
        for p in 0..net.n_params() {
            let (mut a, mut b) = (net.clone(), net.clone());
            a.params[p] += h;
            b.params[p] -= h;
            let fd = (loss(&a, &x) - loss(&b, &x)) / (2.0 * h);
            assert!(
                (fd - grad[p]).abs() < 1e-7,
                "param {p}: {fd} vs {}",
                grad[p]
            );
        }
        for i in 0..6 {
            let (mut a, mut b) = (x, x);
            a[i] += h;
            b[i] -= h;
            let fd = (loss(&net, &a) - loss(&net, &b)) / (2.0 * h);
            assert!((fd - dx[i]).abs() < 1e-7, "input {i}");
        }
    }

    #[test]
    fn zero_last_layer_outputs_zero_and_validation() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let net = DenseMlp::new(&[3, 8, 2], true, &mut rng).unwrap();
        let mut out = [1.0; 2];
        net.forward(&[1.0, 2.0, 3.0], 1, &mut MlpCache::default(), &mut out);
        assert_eq!(out, [0.0, 0.0]);
        assert!(DenseMlp::new(&[3], true, &mut rng).is_err());
        assert!(DenseMlp::new(&[3, 0, 2], true, &mut rng).is_err());
    }
}
