//! The weights of the composition objective, in this crate's convention or converted from the
//! reference implementation's (spec: "Units").
//!
//! Ours: `J = lambda sum_k sum_i 1/2 g^2 |u_i|^2 dt / N + Phi(Y_0) + gamma sum_k Phi(Yhat0) dt` per
//! sample, with the control entering the drift as `g^2 u`; CDPS steers with
//! `u_i = -w grad_{x_i} Phi(Yhat0)` per sample.
//!
//! Reference: the control enters as `g v` and the energy is `lambda_ref mean_coords(v^2)`, so with
//! `v = g u` over `d` coordinates `lambda_ref g^2 |u|^2 / d = lambda 1/2 g^2 |u|^2`, i.e.
//! `lambda = 2 lambda_ref / d`; CDPS's `w_ref` multiplies the gradient of a batch mean over `B`
//! samples, i.e. `w = w_ref / B` per sample.

use crate::error::{invalid, Result};
use serde::{Deserialize, Serialize};

/// How a set of weights was given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "convention", rename_all = "snake_case")]
pub enum Convention {
    /// `lambda` and `w` given directly in this crate's `1/2 g^2 |u|^2`, per-sample convention.
    Ours,
    /// Converted from the reference implementation's `lambda_ref` (per-coordinate mean of `v^2`,
    /// control `g v`) and `w_ref` (gradient of the batch mean over `batch` samples).
    Reference {
        /// The reference's energy weight.
        lambda_ref: f64,
        /// The reference's CDPS weight.
        w_ref: f64,
        /// Coordinates per agent `d` the reference's mean runs over.
        dim: usize,
        /// Batch size `B` of the reference's CDPS mean.
        batch: usize,
    },
}

/// Energy weight `lambda`, running-cost weight `gamma` and CDPS weight `w`, in this crate's
/// convention, with the convention they were given in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveWeights {
    /// Control-energy weight `lambda` on `1/2 g^2 |u|^2` (per sample, summed over coordinates).
    pub lambda: f64,
    /// Weight `gamma` of the Tweedie look-ahead running cost.
    pub gamma: f64,
    /// CDPS guidance weight `w` per sample.
    pub w_cdps: f64,
    /// How the weights were given.
    pub convention: Convention,
}

fn check(lambda: f64, gamma: f64, w: f64) -> Result<()> {
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(invalid("lambda", lambda, "must be finite and > 0"));
    }
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(invalid("gamma", gamma, "must be finite and >= 0"));
    }
    if !(w.is_finite() && w >= 0.0) {
        return Err(invalid("w_cdps", w, "must be finite and >= 0"));
    }
    Ok(())
}

impl ObjectiveWeights {
    /// Weights in this crate's convention.
    pub fn ours(lambda: f64, gamma: f64, w_cdps: f64) -> Result<Self> {
        check(lambda, gamma, w_cdps)?;
        Ok(Self {
            lambda,
            gamma,
            w_cdps,
            convention: Convention::Ours,
        })
    }

    /// Weights converted from the reference's `lambda_ref` and `w_ref` for agents of `dim`
    /// coordinates and a CDPS batch of `batch`: `lambda = 2 lambda_ref / dim`, `w = w_ref / batch`,
    /// `gamma = 1` (the reference's; change it with [`ObjectiveWeights::with_gamma`]).
    pub fn from_reference(lambda_ref: f64, w_ref: f64, dim: usize, batch: usize) -> Result<Self> {
        if dim == 0 {
            return Err(invalid("dim", dim, "must be >= 1"));
        }
        if batch == 0 {
            return Err(invalid("batch", batch, "must be >= 1"));
        }
        if !(lambda_ref.is_finite() && lambda_ref > 0.0) {
            return Err(invalid("lambda_ref", lambda_ref, "must be finite and > 0"));
        }
        if !(w_ref.is_finite() && w_ref >= 0.0) {
            return Err(invalid("w_ref", w_ref, "must be finite and >= 0"));
        }
        let lambda = 2.0 * lambda_ref / dim as f64; // lambda_ref g^2 |u|^2 / d = lambda g^2 |u|^2 / 2
        Ok(Self {
            lambda,
            gamma: 1.0,
            w_cdps: w_ref / batch as f64, // gradient of a batch mean -> per sample
            convention: Convention::Reference {
                lambda_ref,
                w_ref,
                dim,
                batch,
            },
        })
    }

    /// The same weights with running-cost weight `gamma` (same in both conventions).
    pub fn with_gamma(self, gamma: f64) -> Result<Self> {
        check(self.lambda, gamma, self.w_cdps)?;
        Ok(Self { gamma, ..self })
    }

    /// The reference weights for `dim` coordinates per agent: `lambda_ref = 10`, `w_ref = 100` over a
    /// batch of 64, `gamma = 1`.
    pub fn reference(dim: usize) -> Result<Self> {
        Self::from_reference(10.0, 100.0, dim, 64)
    }

    /// The MNIST reference weights (`d = 784`): `lambda = 10/392 ~ 0.0255`, `w = 1.5625`, `gamma = 1`.
    pub fn mnist_reference() -> Self {
        Self {
            lambda: 20.0 / 784.0,
            gamma: 1.0,
            w_cdps: 100.0 / 64.0,
            convention: Convention::Reference {
                lambda_ref: 10.0,
                w_ref: 100.0,
                dim: 784,
                batch: 64,
            },
        }
    }

    /// One line naming the convention and the values, for tables and run records.
    pub fn describe(&self) -> String {
        match self.convention {
            Convention::Ours => format!(
                "ours: lambda = {} on 1/2 g^2 |u|^2, gamma = {}, CDPS w = {} per sample",
                self.lambda, self.gamma, self.w_cdps
            ),
            Convention::Reference {
                lambda_ref,
                w_ref,
                dim,
                batch,
            } => format!(
                "reference (lambda_ref = {lambda_ref} on the mean of v^2 over {dim} coordinates, \
                 w_ref = {w_ref} on a batch mean of {batch}) = ours: lambda = {:.6} on 1/2 g^2 |u|^2, \
                 gamma = {}, CDPS w = {} per sample",
                self.lambda, self.gamma, self.w_cdps
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_conversion_matches_the_spec() {
        let m = ObjectiveWeights::reference(784).unwrap();
        assert!((m.lambda - 10.0 / 392.0).abs() < 1e-15);
        assert!((m.lambda - 0.0255).abs() < 1e-4);
        assert_eq!(m.w_cdps, 1.5625);
        assert_eq!(m.gamma, 1.0);
        assert_eq!(m, ObjectiveWeights::mnist_reference());
        // energy of one control in both conventions: lambda_ref mean(v^2) = lambda 1/2 g^2 |u|^2
        let (g, u) = (1.7f64, [0.3f64, -1.2, 0.5, 2.0]);
        let r = ObjectiveWeights::from_reference(10.0, 100.0, 4, 64).unwrap();
        let ref_energy = 10.0 * u.iter().map(|x| (g * x).powi(2)).sum::<f64>() / 4.0;
        let our_energy = r.lambda * 0.5 * g * g * u.iter().map(|x| x * x).sum::<f64>();
        assert!((ref_energy - our_energy).abs() < 1e-12);
        // d = 2: lambda_ref = 10 is lambda = 10
        assert_eq!(ObjectiveWeights::reference(2).unwrap().lambda, 10.0);
        assert!(m.describe().contains("reference") && m.describe().contains("0.025510"));
    }

    #[test]
    fn bad_weights_name_the_field() {
        let e = ObjectiveWeights::ours(0.0, 1.0, 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("lambda"), "{e}");
        let e = ObjectiveWeights::from_reference(10.0, 100.0, 784, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch"), "{e}");
        let e = ObjectiveWeights::mnist_reference()
            .with_gamma(f64::NAN)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gamma"), "{e}");
    }
}
