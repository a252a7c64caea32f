//! Principal subspace of the training images (the score network's PCA variant works in it).

use crate::error::Result;
use crate::idx::PIXELS;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Principal subspace of the training images: mean `m` (784), orthonormal basis `U` (784 x k,
/// row-major, columns sorted by decreasing variance) and the variances `v` (k) of the coordinates
/// `z = U^T (x - m)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Mean image `m`, length 784.
    pub mean: Vec<f32>,
    /// Basis `U`, `784 x k` row-major.
    pub basis: Vec<f32>,
    /// Variance of each coordinate, length `k`.
    pub var: Vec<f32>,
}

impl Pca {
    /// Top-`k` principal subspace of `images` (`n x 784`), by subspace iteration on the `f64`
    /// covariance (block of `min(2k, 784)` vectors, 60 iterations, Rayleigh-Ritz at the end).
    pub fn fit(images: &[f32], k: usize) -> Result<Self> {
        let n = images.len() / PIXELS;
        if k == 0 || k > PIXELS || n < 2 || !images.len().is_multiple_of(PIXELS) {
            return Err(crate::error::invalid(
                "pca",
                format!("k = {k}, {} values", images.len()),
                "need 1 <= k <= 784 and >= 2 whole images",
            ));
        }
        let mut mean = vec![0.0f64; PIXELS];
        for r in images.chunks(PIXELS) {
            mean.iter_mut()
                .zip(r)
                .for_each(|(m, &v)| *m += v as f64 / n as f64);
        }
        // covariance C = X_c^T X_c / n, accumulated in f64
        let mut cov = vec![0.0f64; PIXELS * PIXELS];
        let mut xc = vec![0.0f64; PIXELS];
        for r in images.chunks(PIXELS) {
            xc.iter_mut()
                .zip(r.iter().zip(&mean))
                .for_each(|(c, (&v, m))| *c = v as f64 - m);
            for i in 0..PIXELS {
                let xi = xc[i];
                if xi == 0.0 {
                    continue;
                }
                let row = &mut cov[i * PIXELS..(i + 1) * PIXELS];
                row.iter_mut().zip(&xc).for_each(|(c, &xj)| *c += xi * xj);
            }
        }
        cov.iter_mut().for_each(|c| *c /= n as f64);
        let q = (2 * k).min(PIXELS);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // v: q columns of length 784, stored column-major (column j at v[j * 784..])
        let mut v: Vec<f64> = (0..q * PIXELS)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        let mut w = vec![0.0f64; q * PIXELS];
        orthonormalise(&mut v, q);
        for _ in 0..60 {
            for j in 0..q {
                let col = &v[j * PIXELS..(j + 1) * PIXELS];
                for i in 0..PIXELS {
                    let row = &cov[i * PIXELS..(i + 1) * PIXELS];
                    w[j * PIXELS + i] = row.iter().zip(col).map(|(a, b)| a * b).sum();
                }
            }
            std::mem::swap(&mut v, &mut w);
            orthonormalise(&mut v, q);
        }
        // Rayleigh-Ritz: H = V^T C V, eigenvectors rotate V
        let mut cv = vec![0.0f64; q * PIXELS];
        for j in 0..q {
            for i in 0..PIXELS {
                let row = &cov[i * PIXELS..(i + 1) * PIXELS];
                cv[j * PIXELS + i] = row
                    .iter()
                    .zip(&v[j * PIXELS..(j + 1) * PIXELS])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let mut h = vec![0.0f64; q * q];
        for a in 0..q {
            for b in 0..q {
                h[a * q + b] = v[a * PIXELS..(a + 1) * PIXELS]
                    .iter()
                    .zip(&cv[b * PIXELS..(b + 1) * PIXELS])
                    .map(|(x, y)| x * y)
                    .sum();
            }
        }
        let (eig, vecs) = crate::linalg::sym_eigen(&h, q);
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by(|&a, &b| eig[b].total_cmp(&eig[a]));
        let mut basis = vec![0.0f32; PIXELS * k];
        for (c, &e) in order.iter().take(k).enumerate() {
            for i in 0..PIXELS {
                let val: f64 = (0..q).map(|a| v[a * PIXELS + i] * vecs[a * q + e]).sum();
                basis[i * k + c] = val as f32;
            }
        }
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            basis,
            var: order
                .iter()
                .take(k)
                .map(|&e| eig[e].max(0.0) as f32)
                .collect(),
        })
    }

    /// Dimension `k`.
    pub fn k(&self) -> usize {
        self.var.len()
    }

    /// Coordinates `z = U^T (x - m)` of `images` (`n x 784`), `n x k` row-major.
    pub fn project(&self, images: &[f32]) -> Vec<f32> {
        let k = self.k();
        let mut out = vec![0.0f32; images.len() / PIXELS * k];
        for (r, z) in images.chunks(PIXELS).zip(out.chunks_mut(k)) {
            for i in 0..PIXELS {
                let d = r[i] - self.mean[i];
                if d == 0.0 {
                    continue;
                }
                let row = &self.basis[i * k..(i + 1) * k];
                z.iter_mut().zip(row).for_each(|(zc, u)| *zc += d * u);
            }
        }
        out
    }

    /// Images `m + U z` of coordinates `z` (`n x k`), `n x 784`.
    pub fn reconstruct(&self, z: &[f32]) -> Vec<f32> {
        let k = self.k();
        let mut out = Vec::with_capacity(z.len() / k * PIXELS);
        for zr in z.chunks(k) {
            for i in 0..PIXELS {
                let row = &self.basis[i * k..(i + 1) * k];
                out.push(self.mean[i] + row.iter().zip(zr).map(|(u, v)| u * v).sum::<f32>());
            }
        }
        out
    }
}

/// Modified Gram-Schmidt (twice) on `q` column-major columns of length 784.
fn orthonormalise(v: &mut [f64], q: usize) {
    for _ in 0..2 {
        for j in 0..q {
            for p in 0..j {
                let (head, tail) = v.split_at_mut(j * PIXELS);
                let (vp, vj) = (&head[p * PIXELS..(p + 1) * PIXELS], &mut tail[..PIXELS]);
                let d: f64 = vp.iter().zip(vj.iter()).map(|(a, b)| a * b).sum();
                vj.iter_mut().zip(vp).for_each(|(b, a)| *b -= d * a);
            }
            let col = &mut v[j * PIXELS..(j + 1) * PIXELS];
            let norm = col.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            col.iter_mut().for_each(|a| *a /= norm);
        }
    }
}
