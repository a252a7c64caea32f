//! Neural networks of the MNIST pipeline (candle, `f32` on the CPU): the VP score network, the
//! objective classifier (MLP 784-256-256-10), the independent evaluation classifier (small CNN), their
//! training loops, and safetensors checkpoints with errors that name the file and the command that
//! regenerates it.
//!
//! Networks work in `f32` (the speed of the CPU matrix kernels doubles); every number this crate
//! reports is accumulated in `f64`.

mod checkpoint;
mod networks;
mod pca;
mod sampling;
mod training;

pub use checkpoint::*;
pub use networks::*;
pub use pca::*;
pub use sampling::*;
pub use training::*;

use crate::error::Result;
use candle_core::{Device, Tensor};
use rand::Rng;

/// A `(rows, cols)` tensor of independent standard normals from `rng`.
pub fn randn<R: Rng>(rng: &mut R, rows: usize, cols: usize) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::PIXELS;
    use crate::vp::VpSchedule;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `n` images `m + U_true z` on a 3-dimensional subspace (coordinates of variance 9, 4, 1).
    fn subspace_data(n: usize) -> (Vec<f32>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sd = [3.0f64, 2.0, 1.0];
        // orthonormal directions: disjoint pixel supports, unit norm
        let dirs: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                (0..PIXELS)
                    .map(|p| {
                        if p % 3 == c {
                            (3.0 / PIXELS as f64).sqrt()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let mean: Vec<f64> = (0..PIXELS).map(|p| ((p % 7) as f64 - 3.0) / 10.0).collect();
        let mut x = Vec::with_capacity(n * PIXELS);
        for _ in 0..n {
            let z: Vec<f64> = sd
                .iter()
                .map(|s| s * rng.sample::<f64, _>(rand_distr::StandardNormal))
                .collect();
            for p in 0..PIXELS {
                x.push((mean[p] + (0..3).map(|c| dirs[c][p] * z[c]).sum::<f64>()) as f32);
            }
        }
        (x, mean)
    }

    #[test]
    fn pca_finds_the_subspace_and_its_variances() {
        let (x, _) = subspace_data(400);
        let pca = Pca::fit(&x, 3).unwrap();
        let k = 3;
        for a in 0..k {
            for b in 0..k {
                let d: f64 = (0..PIXELS)
                    .map(|i| pca.basis[i * k + a] as f64 * pca.basis[i * k + b] as f64)
                    .sum();
                assert!(
                    (d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5,
                    "{a} {b} {d}"
                );
            }
        }
        // the sample variances of the projected coordinates are the reported ones
        let z = pca.project(&x);
        for c in 0..k {
            let v: f64 = z.chunks(k).map(|r| (r[c] as f64).powi(2)).sum::<f64>() / 400.0;
            assert!(
                (v - pca.var[c] as f64).abs() < 1e-3 * v,
                "{v} {}",
                pca.var[c]
            );
        }
        assert!(pca.var[0] > pca.var[1] && pca.var[1] > pca.var[2]);
        assert!((pca.var[0] / pca.var[2] - 9.0).abs() < 3.0);
        // data on the subspace reconstruct exactly
        let rec = pca.reconstruct(&z);
        let err = rec
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{err}");
        assert!(Pca::fit(&x, 0).is_err() && Pca::fit(&x[..10], 2).is_err());
    }

    #[test]
    fn pca_network_with_zero_output_is_the_exact_gaussian_posterior() {
        // data m + U z, z ~ N(0, diag v): E[eps | x_t] = (r - U z)/sigma + U sigma z / (alpha^2 v + sigma^2)
        let (x, _) = subspace_data(400);
        let pca = Pca::fit(&x, 3).unwrap();
        let cfg = ScoreNetConfig {
            hidden: 16,
            blocks: 1,
            n_freq: 4,
            latent: 3,
        };
        let l = fresh_score(1, cfg, Some(&pca)).unwrap();
        for (name, v) in l.vars.data().lock().unwrap().iter() {
            if name.starts_with("out.") {
                v.set(&v.as_tensor().zeros_like().unwrap()).unwrap();
            }
        }
        let sched = VpSchedule::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let xt: Vec<f32> = (0..2 * PIXELS)
            .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect();
        for t in [0.05f64, 0.3, 0.9] {
            let (alpha, sigma) = (sched.alpha(t), sched.sigma2(t).sqrt());
            let eps = l
                .model
                .eps(
                    &Tensor::from_slice(&xt, (2, PIXELS), &Device::Cpu).unwrap(),
                    &Tensor::full(t as f32, (2, 1), &Device::Cpu).unwrap(),
                )
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (row, er) in xt.chunks(PIXELS).zip(eps.chunks(PIXELS)) {
                let r: Vec<f64> = (0..PIXELS)
                    .map(|i| row[i] as f64 - alpha * pca.mean[i] as f64)
                    .collect();
                let z: Vec<f64> = (0..3)
                    .map(|c| {
                        (0..PIXELS)
                            .map(|i| pca.basis[i * 3 + c] as f64 * r[i])
                            .sum()
                    })
                    .collect();
                for i in 0..PIXELS {
                    let uz: f64 = (0..3).map(|c| pca.basis[i * 3 + c] as f64 * z[c]).sum();
                    let post: f64 = (0..3)
                        .map(|c| {
                            let v = pca.var[c] as f64;
                            pca.basis[i * 3 + c] as f64 * sigma * z[c]
                                / (alpha * alpha * v + sigma * sigma)
                        })
                        .sum();
                    let want = (r[i] - uz) / sigma + post;
                    assert!(
                        (er[i] as f64 - want).abs() < 2e-3 * (1.0 + want.abs()),
                        "t {t} pixel {i}: {} vs {want}",
                        er[i]
                    );
                }
            }
        }
    }
}
