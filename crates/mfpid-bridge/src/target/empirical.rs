//! Weighted empirical targets `p_tar = sum_j omega_j delta(y - y_j)`.

use serde::{Deserialize, Serialize};

use super::{check_k, normalised_log_weights, softmax_combine, Target};
use crate::error::{check_finite, BridgeError, MixtureDefect, Result};

/// A weighted point cloud `{(omega_j, y_j)}` in `R^d` as a target.
///
/// The probe law is discrete: `w_j ∝ omega_j exp(-K|y_j|^2/2 + K mu·y_j)`, `ŷ = sum_j w_j y_j`.
/// `prepare` stores `log omega_j - K|y_j|^2/2`; a probe mean then costs `O(N d)` per particle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Empirical {
    d: usize,
    points: Vec<f64>,
    log_w: Vec<f64>,
    sq: Vec<f64>,
    #[serde(skip)]
    k: f64,
    #[serde(skip)]
    offset: Vec<f64>,
}

impl Empirical {
    /// Equally weighted points, row-major `N x d`.
    pub fn new(d: usize, points: Vec<f64>) -> Result<Self> {
        let n = points.len().checked_div(d).unwrap_or(0);
        Self::weighted(d, points, vec![1.0; n])
    }

    /// Points (row-major `N x d`) with weights `omega_j` (finite, `>= 0`, positive sum).
    pub fn weighted(d: usize, points: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        if d == 0 {
            return Err(BridgeError::ZeroDimension {
                what: "empirical target",
            });
        }
        if points.is_empty() {
            return Err(BridgeError::Empty { what: "points" });
        }
        if !points.len().is_multiple_of(d) {
            return Err(BridgeError::BadLength {
                what: "points",
                len: points.len(),
                expected: format!("a multiple of d = {d}"),
            });
        }
        let n = points.len() / d;
        if weights.len() != n {
            return Err(BridgeError::BadLength {
                what: "weights",
                len: weights.len(),
                expected: format!("number of points N = {n}"),
            });
        }
        check_finite("points", &points)?;
        let log_w =
            normalised_log_weights(&weights).map_err(|(_, _, defect)| BridgeError::BadWeights {
                reason: match defect {
                    MixtureDefect::NotFinite => "a weight is not finite",
                    MixtureDefect::Negative => "a weight is negative",
                    _ => "weights must sum to a positive finite number",
                },
                sum: weights.iter().sum(),
            })?;
        let sq = points
            .chunks_exact(d)
            .map(|y| y.iter().map(|v| v * v).sum())
            .collect();
        Ok(Self {
            d,
            points,
            log_w,
            sq,
            k: f64::NAN,
            offset: vec![0.0; n],
        })
    }

    /// Number of points `N`.
    pub fn len(&self) -> usize {
        self.log_w.len()
    }

    /// Always false (construction rejects empty clouds).
    pub fn is_empty(&self) -> bool {
        self.log_w.is_empty()
    }

    /// Points, row-major `N x d`.
    pub fn points(&self) -> &[f64] {
        &self.points
    }
}

impl Target for Empirical {
    fn dim(&self) -> usize {
        self.d
    }

    fn prepare(&mut self, k: f64, _t: f64) -> Result<()> {
        check_k(k)?;
        self.k = k;
        self.offset.resize(self.log_w.len(), 0.0);
        for ((o, lw), sq) in self.offset.iter_mut().zip(&self.log_w).zip(&self.sq) {
            *o = lw - 0.5 * k * sq;
        }
        Ok(())
    }

    fn work_len(&self) -> usize {
        self.log_w.len()
    }

    fn probe_mean(&self, mu: &[f64], _particle: usize, out: &mut [f64], work: &mut [f64]) {
        let l = &mut work[..self.log_w.len()];
        for ((lj, o), y) in l
            .iter_mut()
            .zip(&self.offset)
            .zip(self.points.chunks_exact(self.d))
        {
            let dot: f64 = y.iter().zip(mu).map(|(a, b)| a * b).sum();
            *lj = o + self.k * dot;
        }
        softmax_combine(l, &self.points, self.d, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_mean_is_weighted_posterior() {
        let mut e = Empirical::weighted(1, vec![-1.0, 0.5, 2.0], vec![1.0, 2.0, 1.0]).unwrap();
        let (k, mu) = (1.3, 0.8);
        e.prepare(k, 0.5).unwrap();
        let mut out = [0.0];
        let mut work = vec![0.0; e.work_len()];
        e.probe_mean(&[mu], 0, &mut out, &mut work);
        let ys = [-1.0, 0.5, 2.0];
        let ws = [1.0, 2.0, 1.0];
        let (mut z, mut m) = (0.0, 0.0);
        for (y, w) in ys.iter().zip(ws) {
            let q = w * (-0.5 * k * (y - mu) * (y - mu)).exp();
            z += q;
            m += q * y;
        }
        assert!((out[0] - m / z).abs() < 1e-14);
        // far-away probe picks the nearest point without overflow
        e.prepare(1e3, 0.99).unwrap();
        e.probe_mean(&[1e6], 0, &mut out, &mut work);
        assert_eq!(out[0], 2.0);
    }

    #[test]
    fn bad_clouds_are_typed_errors() {
        assert!(matches!(
            Empirical::new(2, vec![1.0, 2.0, 3.0]),
            Err(BridgeError::BadLength { .. })
        ));
        assert!(matches!(
            Empirical::new(1, vec![]),
            Err(BridgeError::Empty { .. })
        ));
        assert!(matches!(
            Empirical::weighted(1, vec![1.0, 2.0], vec![0.0, 0.0]),
            Err(BridgeError::BadWeights { .. })
        ));
        assert!(matches!(
            Empirical::weighted(1, vec![1.0, 2.0], vec![1.0]),
            Err(BridgeError::BadLength {
                what: "weights",
                ..
            })
        ));
        assert!(matches!(
            Empirical::new(1, vec![f64::NAN]),
            Err(BridgeError::NonFinite { .. })
        ));
    }
}
