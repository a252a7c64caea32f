//! The methods compared: one [`Method`] type, differing only in the centre schedule `nu_t` of the
//! harmonic potential `V_t(x) = beta_t/2 |x - nu_t|²` (all use the same protocol `beta_t`).
//!
//! | method | centre `nu_i` on piece `i` |
//! | --- | --- |
//! | [`Method::mean_field`] (MF, cooperative) | `(1 - t_i*) m̄_in + t_i* m̄_tar`, `t_i*` the piece midpoint |
//! | [`Method::independent_zero`] (IA(0)) | `0` |
//! | [`Method::independent_target`] (IA(m̄)) | `m̄_tar` |
//!
//! The MF centre is the self-consistent population mean (linear-interpolant theorem of
//! mean-field.md): with quadratic interaction the mean-field game reduces exactly to this GH-PID
//! bridge. A user adds a schedule with [`Centres::Fixed`] or a [`CentreRule`].

use std::fmt;
use std::sync::Arc;

use crate::error::{EnergyError, Result};
use crate::fleet::Fleet;

/// A user-supplied centre schedule: given the protocol breaks (length `M + 1`) and the global
/// means `m̄_in`, `m̄_tar` (length `d`), return the centres row-major `M x d`.
pub trait CentreRule: Send + Sync {
    /// The centres `nu_i`, row-major `M x d`.
    fn centres(&self, breaks: &[f64], m_in: &[f64], m_tar: &[f64]) -> Result<Vec<f64>>;
}

impl<F> CentreRule for F
where
    F: Fn(&[f64], &[f64], &[f64]) -> Result<Vec<f64>> + Send + Sync,
{
    fn centres(&self, breaks: &[f64], m_in: &[f64], m_tar: &[f64]) -> Result<Vec<f64>> {
        self(breaks, m_in, m_tar)
    }
}

/// How a method places the potential's centre.
#[derive(Clone)]
pub enum Centres {
    /// Mean field: the linear interpolant `(1 - t) m̄_in + t m̄_tar` at the piece midpoints.
    MeanField,
    /// `nu ≡ 0` (independent agents pulled towards the origin).
    Zero,
    /// `nu ≡ m̄_tar` (independent agents pulled towards the target mean).
    TargetMean,
    /// Explicit centres, row-major `M x d` (must match the protocol's pieces and the fleet's `d`).
    Fixed(Vec<f64>),
    /// A rule evaluated per fleet.
    Rule(Arc<dyn CentreRule>),
}

impl fmt::Debug for Centres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Centres::MeanField => f.write_str("MeanField"),
            Centres::Zero => f.write_str("Zero"),
            Centres::TargetMean => f.write_str("TargetMean"),
            Centres::Fixed(v) => f.debug_tuple("Fixed").field(v).finish(),
            Centres::Rule(_) => f.write_str("Rule(..)"),
        }
    }
}

/// A named method: a centre schedule on the shared protocol.
#[derive(Debug, Clone)]
pub struct Method {
    /// Short ASCII name used in tables (`MF`, `IA0`, `IAm` for the standard three).
    pub name: String,
    /// The centre schedule.
    pub centres: Centres,
}

impl Method {
    /// Mean-field cooperation (MF).
    pub fn mean_field() -> Self {
        Self::new("MF", Centres::MeanField)
    }

    /// Independent agents centred at the origin (IA(0)).
    pub fn independent_zero() -> Self {
        Self::new("IA0", Centres::Zero)
    }

    /// Independent agents centred at the target mean (IA(m̄)).
    pub fn independent_target() -> Self {
        Self::new("IAm", Centres::TargetMean)
    }

    /// The three methods of the paper, in the order MF, IA(0), IA(m̄).
    pub fn standard() -> Vec<Self> {
        vec![
            Self::mean_field(),
            Self::independent_zero(),
            Self::independent_target(),
        ]
    }

    /// Any named schedule.
    pub fn new(name: impl Into<String>, centres: Centres) -> Self {
        Self {
            name: name.into(),
            centres,
        }
    }

    /// A method from a user rule.
    pub fn custom(name: impl Into<String>, rule: impl CentreRule + 'static) -> Self {
        Self::new(name, Centres::Rule(Arc::new(rule)))
    }

    /// The centres `nu_i` (row-major `M x d`) of this method for `fleet` on a protocol with `breaks`.
    pub fn centres_for(&self, breaks: &[f64], fleet: &Fleet) -> Result<Vec<f64>> {
        let d = fleet.dim();
        let m = breaks.len().saturating_sub(1);
        let (m_in, m_tar) = (fleet.mean_in(), fleet.mean_tar());
        let nu = match &self.centres {
            Centres::MeanField => mfpid_bridge::interpolant_centres(breaks, &m_in, &m_tar)?,
            Centres::Zero => vec![0.0; m * d],
            Centres::TargetMean => m_tar.iter().copied().cycle().take(m * d).collect(),
            Centres::Fixed(v) => v.clone(),
            Centres::Rule(r) => r.centres(breaks, &m_in, &m_tar)?,
        };
        if nu.len() != m * d {
            return Err(EnergyError::CentreLength {
                method: self.name.clone(),
                len: nu.len(),
                expected: m * d,
            });
        }
        Ok(nu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Law;

    fn fleet() -> Fleet {
        Fleet::new(
            Law::isotropic_std(2, vec![1.0, 1.0], vec![4.0, 2.0, 6.0, 4.0], &[1.0, 1.0]),
            Law::isotropic_std(2, vec![3.0, 1.0], vec![0.0, 0.0, 4.0, -4.0], &[1.0, 1.0]),
        )
        .unwrap()
    }

    #[test]
    fn standard_centres() {
        let f = fleet();
        let breaks = [0.0, 0.25, 1.0];
        let mf = Method::mean_field().centres_for(&breaks, &f).unwrap();
        // m_in = (5, 3), m_tar = (1, -1); midpoints 0.125 and 0.625
        let want = [4.5, 2.5, 2.5, 0.5];
        for (a, b) in mf.iter().zip(want) {
            assert!((a - b).abs() < 1e-14);
        }
        assert_eq!(
            Method::independent_zero().centres_for(&breaks, &f).unwrap(),
            vec![0.0; 4]
        );
        let iam = Method::independent_target()
            .centres_for(&breaks, &f)
            .unwrap();
        assert_eq!(iam, vec![1.0, -1.0, 1.0, -1.0]);
    }

    #[test]
    fn custom_rules_are_checked() {
        let f = fleet();
        let breaks = [0.0, 0.5, 1.0];
        let half = Method::custom("half", |b: &[f64], mi: &[f64], mt: &[f64]| {
            Ok((1..b.len())
                .flat_map(|_| mi.iter().zip(mt).map(|(a, c)| 0.5 * (a + c)))
                .collect())
        });
        assert_eq!(
            half.centres_for(&breaks, &f).unwrap(),
            vec![3.0, 1.0, 3.0, 1.0]
        );
        let short = Method::new("short", Centres::Fixed(vec![1.0; 3]));
        assert!(matches!(
            short.centres_for(&breaks, &f),
            Err(EnergyError::CentreLength {
                len: 3,
                expected: 4,
                ..
            })
        ));
    }
}
