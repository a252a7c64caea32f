//! The linear-interpolant theorem: with `f = 0` and a quadratic interaction, the self-consistent
//! centre of MF-PID is `nu_t = (1 - t) m̄_in + t m̄_tar` for any `p_in`, `p_tar`. The centres
//! themselves live in `mfpid-bridge` ([`interpolant_centres`], re-exported here); this module adds
//! the global means `m̄` of the laws they need.

pub use mfpid_bridge::{interpolant_at, interpolant_centres, piece_midpoints, GaussianMixture};

use crate::error::{check_finite, MeanFieldError, Result};

/// Global mean of a Gaussian mixture, `sum_k pi_k m_k` (length `d`).
pub fn global_mean_mixture(mixture: &GaussianMixture) -> Vec<f64> {
    mixture.mean()
}

/// Global mean of a point cloud (row-major `N x d`) with optional weights `omega_j`
/// (finite, `>= 0`, positive sum; `None` = equal weights). Length `d`.
pub fn global_mean_points(d: usize, points: &[f64], weights: Option<&[f64]>) -> Result<Vec<f64>> {
    if d == 0 {
        return Err(MeanFieldError::ZeroDimension { what: "points" });
    }
    if points.is_empty() {
        return Err(MeanFieldError::Empty { what: "points" });
    }
    if !points.len().is_multiple_of(d) {
        return Err(MeanFieldError::BadLength {
            what: "points",
            len: points.len(),
            expected: format!("a multiple of d = {d}"),
        });
    }
    check_finite("points", points)?;
    let n = points.len() / d;
    let mut m = vec![0.0; d];
    match weights {
        None => {
            for row in points.chunks_exact(d) {
                m.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            m.iter_mut().for_each(|a| *a /= n as f64);
        }
        Some(w) => {
            if w.len() != n {
                return Err(MeanFieldError::BadLength {
                    what: "weights",
                    len: w.len(),
                    expected: format!("number of points N = {n}"),
                });
            }
            let sum: f64 = w.iter().sum();
            if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(MeanFieldError::BadWeights {
                    reason: "weights must be finite and >= 0",
                    sum,
                });
            }
            if !(sum > 0.0 && sum.is_finite()) {
                return Err(MeanFieldError::BadWeights {
                    reason: "weights must sum to a positive finite number",
                    sum,
                });
            }
            for (row, wj) in points.chunks_exact(d).zip(w) {
                m.iter_mut().zip(row).for_each(|(a, b)| *a += wj * b);
            }
            m.iter_mut().for_each(|a| *a /= sum);
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_rejected() {
        // the re-exported centres report the bridge crate's error
        assert!(matches!(
            interpolant_centres(&[0.0, 0.5], &[0.0], &[1.0]),
            Err(mfpid_bridge::BridgeError::BadBreaks { index: 1, .. })
        ));
        assert!(global_mean_points(2, &[1.0, 2.0, 3.0], None).is_err());
        assert!(global_mean_points(1, &[1.0, 2.0], Some(&[-1.0, 2.0])).is_err());
    }

    #[test]
    fn global_means() {
        let m = global_mean_points(2, &[0.0, 1.0, 2.0, 3.0], None).unwrap();
        assert_eq!(m, vec![1.0, 2.0]);
        let m = global_mean_points(1, &[0.0, 4.0], Some(&[3.0, 1.0])).unwrap();
        assert!((m[0] - 1.0).abs() < 1e-15);
        let g = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
            .unwrap();
        assert!((global_mean_mixture(&g)[0] - 0.66).abs() < 1e-12);
    }
}
