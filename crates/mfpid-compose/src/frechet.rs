//! Realism metric of the MNIST experiments: Fréchet distance between Gaussian fits of feature sets
//! (the evaluation classifier's penultimate features).

use crate::error::{invalid, Result};
use crate::idx::PIXELS;
use crate::linalg::{matmul, sym_eigen};
use crate::nn::{image_batches, CnnClassifier};

/// Fréchet distance `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})` between Gaussian fits of two
/// feature sets (`n_a x f` and `n_b x f`, row-major, f64).
pub fn frechet_distance(a: &[f64], b: &[f64], f: usize) -> Result<f64> {
    let stats = |x: &[f64]| -> Result<(Vec<f64>, Vec<f64>)> {
        let n = x.len() / f;
        if n < 2 || !x.len().is_multiple_of(f) {
            return Err(invalid("features", x.len(), "need >= 2 rows of f features"));
        }
        let mut mu = vec![0.0; f];
        for r in x.chunks(f) {
            mu.iter_mut().zip(r).for_each(|(m, v)| *m += v / n as f64);
        }
        let mut s = vec![0.0; f * f];
        for r in x.chunks(f) {
            for i in 0..f {
                let di = r[i] - mu[i];
                for j in i..f {
                    s[i * f + j] += di * (r[j] - mu[j]) / (n as f64 - 1.0);
                }
            }
        }
        for i in 0..f {
            for j in 0..i {
                s[i * f + j] = s[j * f + i];
            }
        }
        Ok((mu, s))
    };
    let (ma, sa) = stats(a)?;
    let (mb, sb) = stats(b)?;
    // tr (Sa Sb)^{1/2} = sum sqrt(eig(Sa^{1/2} Sb Sa^{1/2}))
    let (ea, va) = sym_eigen(&sa, f);
    let mut half = vec![0.0; f * f];
    for i in 0..f {
        for j in 0..f {
            half[i * f + j] = (0..f)
                .map(|k| va[i * f + k] * ea[k].max(0.0).sqrt() * va[j * f + k])
                .sum();
        }
    }
    let m = matmul(&matmul(&half, &sb, f), &half, f);
    let (em, _) = sym_eigen(&m, f);
    let tr_sqrt: f64 = em.iter().map(|e| e.max(0.0).sqrt()).sum();
    let dmu: f64 = ma.iter().zip(&mb).map(|(x, y)| (x - y).powi(2)).sum();
    let tr: f64 = (0..f).map(|i| sa[i * f + i] + sb[i * f + i]).sum();
    Ok(dmu + tr - 2.0 * tr_sqrt)
}

/// Evaluation-classifier features `(n x 128)` of images `(n x 784)` as f64, in batches of 500.
pub fn eval_features(cnn: &CnnClassifier, images: &[f32]) -> Result<Vec<f64>> {
    let n = images.len() / PIXELS;
    let mut out = Vec::with_capacity(n * 128);
    for x in image_batches(images) {
        out.extend(
            cnn.features(&x?)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .map(|&v| v as f64),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frechet_of_identical_and_shifted_sets() {
        // identical sets: distance 0; shifted by c in every coordinate: f c^2
        let a: Vec<f64> = (0..400)
            .map(|k| ((k * 37 % 101) as f64 / 10.0).sin())
            .collect();
        assert!(frechet_distance(&a, &a, 4).unwrap().abs() < 1e-9);
        let b: Vec<f64> = a.iter().map(|v| v + 0.5).collect();
        assert!((frechet_distance(&a, &b, 4).unwrap() - 4.0 * 0.25).abs() < 1e-9);
    }
}
