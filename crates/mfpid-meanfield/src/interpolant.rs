//! The linear-interpolant theorem: with `f = 0` and a quadratic interaction, the self-consistent
//! centre of MF-PID is `nu_t = (1 - t) m̄_in + t m̄_tar` for any `p_in`, `p_tar`.

use mfpid_bridge::GaussianMixture;

use crate::error::{check_finite, MeanFieldError, Result};

/// Validate breaks `0 = t_0 < t_1 < ... < t_M = 1` (at least one piece, finite, increasing).
pub(crate) fn validate_breaks(breaks: &[f64]) -> Result<()> {
    if breaks.len() < 2 {
        return Err(MeanFieldError::BadLength {
            what: "protocol_breaks",
            len: breaks.len(),
            expected: "at least 2 (t_0 = 0 and t_M = 1)".into(),
        });
    }
    check_finite("protocol_breaks", breaks)?;
    if breaks[0] != 0.0 {
        return Err(MeanFieldError::BadBreaks {
            reason: "first break must be 0",
            index: 0,
            value: breaks[0],
        });
    }
    let last = breaks.len() - 1;
    if breaks[last] != 1.0 {
        return Err(MeanFieldError::BadBreaks {
            reason: "last break must be 1",
            index: last,
            value: breaks[last],
        });
    }
    for i in 1..breaks.len() {
        if breaks[i] <= breaks[i - 1] {
            return Err(MeanFieldError::BadBreaks {
                reason: "breaks must be strictly increasing",
                index: i,
                value: breaks[i],
            });
        }
    }
    Ok(())
}

/// The linear interpolant `nu(t) = (1 - t) m_in + t m_tar` at one time `t` (length `d`).
pub fn interpolant_at(t: f64, m_in: &[f64], m_tar: &[f64]) -> Vec<f64> {
    m_in.iter()
        .zip(m_tar)
        .map(|(a, b)| (1.0 - t) * a + t * b)
        .collect()
}

/// Piece midpoints `s_i = (t_i + t_{i+1}) / 2` of validated breaks (length `M`).
pub fn piece_midpoints(protocol_breaks: &[f64]) -> Result<Vec<f64>> {
    validate_breaks(protocol_breaks)?;
    Ok(protocol_breaks
        .windows(2)
        .map(|w| 0.5 * (w[0] + w[1]))
        .collect())
}

/// Linear-interpolant centres for a piecewise-constant protocol.
///
/// Returns `nu_i = (1 - s_i) m_in + s_i m_tar` at the piece midpoints `s_i = (t_i + t_{i+1})/2`,
/// flattened row-major `M x d` (piece `i` in row `i`), ready for
/// [`mfpid_bridge::Protocol::with_centres`]. `protocol_breaks` are `0 = t_0 < ... < t_M = 1`
/// (e.g. `protocol.breaks()`); `m_in` and `m_tar` are the global means of `p_in` and `p_tar`
/// (length `d` each, same units as the state). By the linear-interpolant theorem this is the
/// self-consistent MF-PID centre for a quadratic interaction and zero base drift: exactly for a
/// constant `beta` (checked to 1e-14 against the exact fixed point), and to `O(1e-3) |Δm|` for a
/// varying piecewise-constant schedule (1.9e-3 |Δm| for `beta_i = 12·0.65^i` on 8 pieces), where
/// the exact piecewise-constant fixed point is not the interpolant at the midpoints (see
/// [`crate::AnalyticQuadraticMf`]).
///
/// Errors: bad breaks, `d = 0`, mismatched or non-finite means.
///
/// ```
/// let nu = mfpid_meanfield::interpolant_centres(&[0.0, 0.5, 1.0], &[0.0, 2.0], &[4.0, 2.0])?;
/// assert_eq!(nu, vec![1.0, 2.0, 3.0, 2.0]);
/// # Ok::<(), mfpid_meanfield::MeanFieldError>(())
/// ```
pub fn interpolant_centres(
    protocol_breaks: &[f64],
    m_in: &[f64],
    m_tar: &[f64],
) -> Result<Vec<f64>> {
    if m_in.is_empty() {
        return Err(MeanFieldError::ZeroDimension { what: "m_in" });
    }
    if m_tar.len() != m_in.len() {
        return Err(MeanFieldError::BadLength {
            what: "m_tar",
            len: m_tar.len(),
            expected: format!("d = {} (the length of m_in)", m_in.len()),
        });
    }
    check_finite("m_in", m_in)?;
    check_finite("m_tar", m_tar)?;
    let mids = piece_midpoints(protocol_breaks)?;
    Ok(mids
        .iter()
        .flat_map(|&s| interpolant_at(s, m_in, m_tar))
        .collect())
}

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
    fn centres_at_midpoints() {
        let b = mfpid_bridge::equal_breaks(4);
        let nu = interpolant_centres(&b, &[1.0], &[3.0]).unwrap();
        // direct: (1 - s) * 1 + s * 3 = 1 + 2 s at s = 1/8, 3/8, 5/8, 7/8
        for (i, a) in nu.iter().enumerate() {
            let s = (2 * i + 1) as f64 / 8.0;
            assert!((a - (1.0 + 2.0 * s)).abs() < 1e-15);
        }
        let p = mfpid_bridge::Protocol::geometric(1, 12.0, 0.65, 4)
            .unwrap()
            .with_centres(nu.clone())
            .unwrap();
        assert_eq!(p.centres(), &nu[..]);
    }

    #[test]
    fn bad_input_rejected() {
        assert!(matches!(
            interpolant_centres(&[0.0, 0.5], &[0.0], &[1.0]),
            Err(MeanFieldError::BadBreaks { index: 1, .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 0.7, 0.6, 1.0], &[0.0], &[1.0]),
            Err(MeanFieldError::BadBreaks { index: 2, .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[0.0, 1.0], &[1.0]),
            Err(MeanFieldError::BadLength { what: "m_tar", .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[], &[]),
            Err(MeanFieldError::ZeroDimension { .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[f64::NAN], &[1.0]),
            Err(MeanFieldError::NonFinite { what: "m_in", .. })
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
