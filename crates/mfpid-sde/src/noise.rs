//! Diffusion coefficients `g(t, x)` of `dx = b(t, x) dt + g(t, x) dW`.

use crate::error::{finite, SdeError};
use std::sync::Arc;

/// State-dependent diagonal noise: coordinate `j` is driven by its own Brownian motion with
/// coefficient `g_j(t, x_j)`, which may depend on `x_j` only (the commutative case Milstein needs).
pub trait DiagonalNoise: Send + Sync {
    /// Write `g_j(t, x_j)` into `g` and `dg_j/dx_j` into `dg` for one particle (`x`, `g`, `dg` of length `d`).
    fn eval(&self, t: f64, x: &[f64], g: &mut [f64], dg: &mut [f64]);
}

/// General noise: `g(t, x)` is a `d x m` matrix (row-major) driven by an `m`-dimensional Brownian motion.
pub trait MatrixNoise: Send + Sync {
    /// Number of driving Brownian motions `m`.
    fn noise_dim(&self) -> usize;
    /// Write the `d x m` matrix `g(t, x)` (row-major) for one particle into `g`.
    fn eval(&self, t: f64, x: &[f64], g: &mut [f64]);
}

/// `t -> diag(sigma(t))`, writing the `d` entries.
pub type DiagonalOfTime = Arc<dyn Fn(f64, &mut [f64]) + Send + Sync>;

/// The diffusion coefficient of the SDE.
///
/// The additive kinds (`Scalar`, `Diagonal`, `ScalarTime`, `DiagonalTime`) do not depend on the
/// state; they are evaluated once per stage time, outside the particle loop.
#[derive(Clone)]
pub enum Noise {
    /// `g = sigma I` (one independent Brownian motion per coordinate).
    Scalar(f64),
    /// `g = diag(sigma_1..sigma_d)`.
    Diagonal(Vec<f64>),
    /// `g = sigma(t) I`.
    ScalarTime(Arc<dyn Fn(f64) -> f64 + Send + Sync>),
    /// `g = diag(sigma(t))`; the closure writes the `d` entries.
    DiagonalTime(DiagonalOfTime),
    /// State-dependent diagonal `g_j(t, x_j)` (supports Milstein).
    DiagonalState(Arc<dyn DiagonalNoise>),
    /// General `d x m` matrix `g(t, x)`.
    Matrix(Arc<dyn MatrixNoise>),
}

impl std::fmt::Debug for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Noise::Scalar(s) => write!(f, "Noise::Scalar({s})"),
            Noise::Diagonal(s) => write!(f, "Noise::Diagonal({s:?})"),
            _ => write!(f, "Noise::{}", self.kind()),
        }
    }
}

impl Noise {
    /// Short name of the kind, used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Noise::Scalar(_) => "scalar additive",
            Noise::Diagonal(_) => "diagonal additive",
            Noise::ScalarTime(_) => "time-dependent scalar additive",
            Noise::DiagonalTime(_) => "time-dependent diagonal additive",
            Noise::DiagonalState(_) => "state-dependent diagonal",
            Noise::Matrix(_) => "general matrix",
        }
    }

    /// True when `g` does not depend on the state.
    pub fn is_additive(&self) -> bool {
        matches!(
            self,
            Noise::Scalar(_) | Noise::Diagonal(_) | Noise::ScalarTime(_) | Noise::DiagonalTime(_)
        )
    }

    /// Number of driving Brownian motions per particle for state dimension `d`.
    pub fn noise_dim(&self, d: usize) -> usize {
        match self {
            Noise::Matrix(m) => m.noise_dim(),
            _ => d,
        }
    }

    /// Check the noise against state dimension `d`.
    pub fn validate(&self, d: usize) -> Result<(), SdeError> {
        match self {
            Noise::Scalar(s) => {
                finite("noise sigma", *s)?;
            }
            Noise::Diagonal(s) => {
                if s.len() != d {
                    return Err(SdeError::DimensionMismatch {
                        what: "diagonal noise length",
                        expected: d,
                        got: s.len(),
                    });
                }
                for &v in s {
                    finite("noise sigma_j", v)?;
                }
            }
            Noise::Matrix(m) if m.noise_dim() == 0 => {
                return Err(SdeError::Empty {
                    field: "noise dimension",
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// For additive kinds, write the diagonal `sigma_j(t)` (length `d`) into `out`; returns false
    /// for state-dependent kinds.
    pub fn additive_at(&self, t: f64, out: &mut [f64]) -> bool {
        match self {
            Noise::Scalar(s) => out.fill(*s),
            Noise::Diagonal(s) => out.copy_from_slice(s),
            Noise::ScalarTime(f) => out.fill(f(t)),
            Noise::DiagonalTime(f) => f(t, out),
            _ => return false,
        }
        true
    }
}
