//! Piecewise-constant protocols `(beta_t, nu_t)` for the harmonic potential
//! `V_t(x) = (beta_t / 2) |x - nu_t|^2`.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, BridgeError, Result};

/// Largest admissible `sqrt(beta_i) * (t_{i+1} - t_i)`: keeps `cosh`/`sinh` of the phase finite in f64.
pub const MAX_PHASE: f64 = 700.0;

/// A piecewise-constant protocol on shared breaks `0 = t_0 < t_1 < ... < t_M = 1`.
///
/// On piece `i` (`t_i <= t < t_{i+1}`, `i = 0..M`) the stiffness is `beta_i >= 0` (units 1/time^2)
/// and the centre is `nu_i` in `R^d`. Special cases: PID (`beta = 0`), H-PID (one piece, constant
/// beta, `nu = 0`), AdaPID (piecewise beta, `nu = 0`), GH-PID (piecewise beta and `nu`).
///
/// Pieces are indexed from 0: the geometric schedule `beta_i = beta_0 gamma^i` has `beta_0` on the
/// first piece `[t_0, t_1)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProtocolSpec", into = "ProtocolSpec")]
pub struct Protocol {
    d: usize,
    breaks: Vec<f64>,
    beta: Vec<f64>,
    nu: Vec<f64>,
}

/// Unvalidated serialised form of a [`Protocol`] (validated on deserialisation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtocolSpec {
    /// State dimension `d`.
    pub d: usize,
    /// Breaks `t_0 = 0 < ... < t_M = 1`, length `M + 1`.
    pub breaks: Vec<f64>,
    /// `beta_i`, length `M`.
    pub beta: Vec<f64>,
    /// Centres `nu_i`, row-major `M x d` (empty means all zero).
    pub nu: Vec<f64>,
}

impl TryFrom<ProtocolSpec> for Protocol {
    type Error = BridgeError;
    fn try_from(s: ProtocolSpec) -> Result<Self> {
        let p = Protocol::piecewise(s.d, s.breaks, s.beta)?;
        if s.nu.is_empty() {
            Ok(p)
        } else {
            p.with_centres(s.nu)
        }
    }
}

impl From<Protocol> for ProtocolSpec {
    fn from(p: Protocol) -> Self {
        ProtocolSpec {
            d: p.d,
            breaks: p.breaks,
            beta: p.beta,
            nu: p.nu,
        }
    }
}

/// `M + 1` equally spaced breaks `t_i = i / M` (exact `0` and `1` at the ends).
pub fn equal_breaks(m: usize) -> Vec<f64> {
    let mut b: Vec<f64> = (0..=m).map(|i| i as f64 / m as f64).collect();
    if let Some(last) = b.last_mut() {
        *last = 1.0;
    }
    b
}

impl Protocol {
    /// PID: `beta = 0` on one piece (a Brownian bridge from the start point).
    pub fn pid(d: usize) -> Result<Self> {
        Self::constant(d, 0.0)
    }

    /// H-PID: constant `beta` (1/time^2) on one piece, `nu = 0`.
    pub fn constant(d: usize, beta: f64) -> Result<Self> {
        Self::piecewise(d, vec![0.0, 1.0], vec![beta])
    }

    /// AdaPID geometric schedule on `m` equal pieces: `beta_i = beta_0 * gamma^i`, `i = 0..m`, `nu = 0`.
    pub fn geometric(d: usize, beta_0: f64, gamma: f64, m: usize) -> Result<Self> {
        if m == 0 {
            return Err(BridgeError::PieceCount {
                what: "geometric schedule",
                expected: 1,
                found: 0,
            });
        }
        if !(gamma.is_finite() && gamma >= 0.0) {
            return Err(BridgeError::OutOfRange {
                what: "gamma",
                value: gamma,
                range: "[0, inf)",
            });
        }
        let beta = (0..m).map(|i| beta_0 * gamma.powi(i as i32)).collect();
        Self::piecewise(d, equal_breaks(m), beta)
    }

    /// User-given schedule: breaks `0 = t_0 < ... < t_M = 1` and `beta_i >= 0` per piece, `nu = 0`.
    pub fn piecewise(d: usize, breaks: Vec<f64>, beta: Vec<f64>) -> Result<Self> {
        if d == 0 {
            return Err(BridgeError::ZeroDimension { what: "protocol" });
        }
        validate_breaks(&breaks)?;
        let m = breaks.len() - 1;
        if beta.len() != m {
            return Err(BridgeError::PieceCount {
                what: "beta",
                expected: m,
                found: beta.len(),
            });
        }
        for (i, &b) in beta.iter().enumerate() {
            if !(b.is_finite() && b >= 0.0) {
                return Err(BridgeError::BadBeta { index: i, value: b });
            }
            let phase = b.sqrt() * (breaks[i + 1] - breaks[i]);
            if phase > MAX_PHASE {
                return Err(BridgeError::OutOfRange {
                    what: "sqrt(beta_i) * piece length",
                    value: phase,
                    range: "[0, 700] (f64 hyperbolic functions overflow beyond)",
                });
            }
        }
        Ok(Self {
            d,
            nu: vec![0.0; m * d],
            breaks,
            beta,
        })
    }

    /// GH-PID: set the centres `nu_i` (row-major `M x d`, piece `i` in row `i`).
    pub fn with_centres(mut self, nu: Vec<f64>) -> Result<Self> {
        let m = self.pieces();
        if nu.len() != m * self.d {
            return Err(BridgeError::BadLength {
                what: "nu",
                len: nu.len(),
                expected: format!("pieces x d = {m} x {}", self.d),
            });
        }
        check_finite("nu", &nu)?;
        self.nu = nu;
        Ok(self)
    }

    /// The same centre `nu` (length `d`) on every piece.
    pub fn with_centre(self, nu: &[f64]) -> Result<Self> {
        if nu.len() != self.d {
            return Err(BridgeError::DimensionMismatch {
                what: "nu",
                expected: self.d,
                found: nu.len(),
            });
        }
        let m = self.pieces();
        let flat = (0..m).flat_map(|_| nu.iter().copied()).collect();
        self.with_centres(flat)
    }

    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Number of pieces `M`.
    pub fn pieces(&self) -> usize {
        self.beta.len()
    }

    /// Breaks `t_0 = 0 < ... < t_M = 1` (length `M + 1`).
    pub fn breaks(&self) -> &[f64] {
        &self.breaks
    }

    /// `beta_i` per piece (length `M`).
    pub fn betas(&self) -> &[f64] {
        &self.beta
    }

    /// Centre `nu_i` of piece `i` (length `d`).
    pub fn nu(&self, i: usize) -> &[f64] {
        &self.nu[i * self.d..(i + 1) * self.d]
    }

    /// All centres, row-major `M x d`.
    pub fn centres(&self) -> &[f64] {
        &self.nu
    }

    /// The piece containing `t` (right-continuous: a break belongs to the piece it starts; `t >= 1`
    /// and `t <= 0` map to the last and first piece).
    pub fn piece_at(&self, t: f64) -> usize {
        let m = self.pieces();
        // number of interior breaks t_1..t_{M-1} that are <= t
        self.breaks[1..m].partition_point(|&b| b <= t)
    }

    /// `beta_t` (right limit at a break).
    pub fn beta_at(&self, t: f64) -> f64 {
        self.beta[self.piece_at(t)]
    }

    /// The harmonic potential `V_t(x) = beta_t / 2 |x - nu_t|^2` (right limit at a break).
    pub fn potential(&self, t: f64, x: &[f64]) -> f64 {
        let i = self.piece_at(t);
        let nu = self.nu(i);
        0.5 * self.beta[i]
            * x.iter()
                .zip(nu)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
    }
}

/// Validate protocol breaks `0 = t_0 < t_1 < ... < t_M = 1`: at least one piece, finite, strictly
/// increasing, first 0 and last 1. The one check of breaks in the workspace (protocols, the
/// interpolant centres, the mean-field interactions).
pub fn validate_breaks(breaks: &[f64]) -> Result<()> {
    if breaks.len() < 2 {
        return Err(BridgeError::PieceCount {
            what: "breaks (pieces)",
            expected: 1,
            found: breaks.len().saturating_sub(1),
        });
    }
    check_finite("breaks", breaks)?;
    if breaks[0] != 0.0 {
        return Err(BridgeError::BadBreaks {
            reason: "first break must be 0",
            index: 0,
            value: breaks[0],
        });
    }
    let last = breaks.len() - 1;
    if breaks[last] != 1.0 {
        return Err(BridgeError::BadBreaks {
            reason: "last break must be 1",
            index: last,
            value: breaks[last],
        });
    }
    for i in 1..breaks.len() {
        if breaks[i] <= breaks[i - 1] {
            return Err(BridgeError::BadBreaks {
                reason: "breaks must be strictly increasing",
                index: i,
                value: breaks[i],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_schedule_starts_at_beta_0() {
        let p = Protocol::geometric(1, 12.0, 0.65, 8).unwrap();
        assert_eq!(p.pieces(), 8);
        assert_eq!(p.betas()[0], 12.0);
        assert!((p.betas()[7] - 12.0 * 0.65f64.powi(7)).abs() < 1e-14);
        assert_eq!(p.breaks()[8], 1.0);
    }

    #[test]
    fn piece_lookup_is_right_continuous() {
        let p = Protocol::piecewise(1, vec![0.0, 0.25, 0.5, 1.0], vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(p.piece_at(0.0), 0);
        assert_eq!(p.piece_at(0.2499), 0);
        assert_eq!(p.piece_at(0.25), 1);
        assert_eq!(p.piece_at(0.5), 2);
        assert_eq!(p.piece_at(1.0), 2);
        assert_eq!(p.beta_at(0.25), 2.0);
    }

    #[test]
    fn bad_protocols_are_typed_errors() {
        assert!(matches!(
            Protocol::piecewise(1, vec![0.0, 0.6, 0.5, 1.0], vec![1.0; 3]),
            Err(BridgeError::BadBreaks { index: 2, .. })
        ));
        assert!(matches!(
            Protocol::piecewise(1, vec![0.1, 1.0], vec![1.0]),
            Err(BridgeError::BadBreaks { index: 0, .. })
        ));
        assert!(matches!(
            Protocol::piecewise(1, vec![0.0, 0.9], vec![1.0]),
            Err(BridgeError::BadBreaks { index: 1, .. })
        ));
        assert!(matches!(
            Protocol::piecewise(1, vec![0.0, 1.0], vec![-1.0]),
            Err(BridgeError::BadBeta { index: 0, .. })
        ));
        assert!(matches!(
            Protocol::piecewise(1, vec![0.0, 1.0], vec![f64::NAN]),
            Err(BridgeError::BadBeta { index: 0, .. })
        ));
        assert!(matches!(
            Protocol::piecewise(1, vec![0.0, 0.5, 1.0], vec![1.0]),
            Err(BridgeError::PieceCount {
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            Protocol::constant(0, 1.0),
            Err(BridgeError::ZeroDimension { .. })
        ));
        assert!(matches!(
            Protocol::constant(2, 1.0).unwrap().with_centre(&[1.0]),
            Err(BridgeError::DimensionMismatch {
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            Protocol::constant(1, 1.0)
                .unwrap()
                .with_centre(&[f64::INFINITY]),
            Err(BridgeError::NonFinite { what: "nu", .. })
        ));
        assert!(matches!(
            Protocol::constant(1, 1e7),
            Err(BridgeError::OutOfRange { .. })
        ));
    }

    #[test]
    fn serde_round_trip_validates() {
        let p = Protocol::geometric(2, 3.0, 0.5, 3)
            .unwrap()
            .with_centre(&[1.0, -1.0])
            .unwrap();
        let s = serde_json::to_string(&p).unwrap();
        let q: Protocol = serde_json::from_str(&s).unwrap();
        assert_eq!(p, q);
        let bad = r#"{"d":1,"breaks":[0.0,1.0],"beta":[-2.0],"nu":[]}"#;
        assert!(serde_json::from_str::<Protocol>(bad).is_err());
    }
}
