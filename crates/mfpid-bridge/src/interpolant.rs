//! The linear-interpolant theorem: with `f = 0` and a quadratic interaction, the self-consistent
//! centre of MF-PID is `nu_t = (1 - t) m̄_in + t m̄_tar` for any `p_in`, `p_tar`. Here are its centres
//! for a piecewise-constant protocol (used by the mean-field, demand-response and thermodynamics
//! crates alike).

use crate::error::{check_finite, BridgeError, Result};
use crate::protocol::validate_breaks;

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
/// flattened row-major `M x d` (piece `i` in row `i`), ready for [`crate::Protocol::with_centres`].
/// `protocol_breaks` are `0 = t_0 < ... < t_M = 1` (e.g. `protocol.breaks()`); `m_in` and `m_tar`
/// are the global means of `p_in` and `p_tar` (length `d` each, same units as the state). By the
/// linear-interpolant theorem this is the self-consistent MF-PID centre for a quadratic interaction
/// and zero base drift: exactly for a constant `beta` (checked to 1e-14 against the exact fixed
/// point), and to `O(1e-3) |Δm|` for a varying piecewise-constant schedule (1.9e-3 |Δm| for
/// `beta_i = 12·0.65^i` on 8 pieces), where the exact piecewise-constant fixed point is not the
/// interpolant at the midpoints (see `mfpid_meanfield::AnalyticQuadraticMf`).
///
/// Errors: bad breaks, `d = 0`, mismatched or non-finite means.
///
/// ```
/// let nu = mfpid_bridge::interpolant_centres(&[0.0, 0.5, 1.0], &[0.0, 2.0], &[4.0, 2.0])?;
/// assert_eq!(nu, vec![1.0, 2.0, 3.0, 2.0]);
/// # Ok::<(), mfpid_bridge::BridgeError>(())
/// ```
pub fn interpolant_centres(
    protocol_breaks: &[f64],
    m_in: &[f64],
    m_tar: &[f64],
) -> Result<Vec<f64>> {
    if m_in.is_empty() {
        return Err(BridgeError::ZeroDimension { what: "m_in" });
    }
    if m_tar.len() != m_in.len() {
        return Err(BridgeError::BadLength {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_at_midpoints() {
        let b = crate::equal_breaks(4);
        let nu = interpolant_centres(&b, &[1.0], &[3.0]).unwrap();
        // direct: (1 - s) * 1 + s * 3 = 1 + 2 s at s = 1/8, 3/8, 5/8, 7/8
        for (i, a) in nu.iter().enumerate() {
            let s = (2 * i + 1) as f64 / 8.0;
            assert!((a - (1.0 + 2.0 * s)).abs() < 1e-15);
        }
        let p = crate::Protocol::geometric(1, 12.0, 0.65, 4)
            .unwrap()
            .with_centres(nu.clone())
            .unwrap();
        assert_eq!(p.centres(), &nu[..]);
    }

    #[test]
    fn bad_input_rejected() {
        assert!(matches!(
            interpolant_centres(&[0.0, 0.5], &[0.0], &[1.0]),
            Err(BridgeError::BadBreaks { index: 1, .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 0.7, 0.6, 1.0], &[0.0], &[1.0]),
            Err(BridgeError::BadBreaks { index: 2, .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[0.0, 1.0], &[1.0]),
            Err(BridgeError::BadLength { what: "m_tar", .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[], &[]),
            Err(BridgeError::ZeroDimension { .. })
        ));
        assert!(matches!(
            interpolant_centres(&[0.0, 1.0], &[f64::NAN], &[1.0]),
            Err(BridgeError::NonFinite { what: "m_in", .. })
        ));
    }
}
