//! Particle ensembles: `B x d` states stored contiguously, row-major.

use crate::error::SdeError;
use crate::rng::{block_uniforms, SampleRng, DOMAIN_INITIAL, RNG_BLOCK};
use rayon::prelude::*;

/// `B` particles in `R^d`; particle `i`, coordinate `j` lives at `x[i * d + j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    b: usize,
    d: usize,
    /// Global index of particle 0 (non-zero when one population is split across ranks).
    offset: usize,
    x: Vec<f64>,
}

impl Ensemble {
    /// Wrap a row-major `b x d` buffer.
    pub fn from_vec(b: usize, d: usize, x: Vec<f64>) -> Result<Self, SdeError> {
        check_sizes(b, d)?;
        if x.len() != b * d {
            return Err(SdeError::DimensionMismatch {
                what: "ensemble buffer length (B * d)",
                expected: b * d,
                got: x.len(),
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(SdeError::NonFinite {
                field: "initial state",
                value: x[i],
            });
        }
        Ok(Self { b, d, offset: 0, x })
    }

    /// Every particle at the same point `x0` (length `d`).
    pub fn filled(b: usize, x0: &[f64]) -> Result<Self, SdeError> {
        let d = x0.len();
        check_sizes(b, d)?;
        let mut x = Vec::with_capacity(b * d);
        for _ in 0..b {
            x.extend_from_slice(x0);
        }
        Self::from_vec(b, d, x)
    }

    /// Sample initial states with `f(rng, x_i)` reproducibly: particle `i` draws from the
    /// counter-based stream of its block ([`SampleRng`], AES-128 in counter mode keyed by
    /// `(seed, DOMAIN_INITIAL)`), the block's particles in order, independent of the thread count.
    /// `rng` is a `rand::Rng`: `rng.random::<f64>()`, `rng.sample(StandardNormal)`, any
    /// `Distribution`.
    pub fn sample<F>(b: usize, d: usize, seed: u64, f: F) -> Result<Self, SdeError>
    where
        F: Fn(&mut SampleRng, &mut [f64]) + Sync,
    {
        Self::sample_range(0, b, d, seed, f)
    }

    /// The particles `offset .. offset + b` of [`Ensemble::sample`] of a larger population (e.g.
    /// one rank's [`crate::shard::Shard`]), with the offset set; `offset` is a multiple of
    /// [`RNG_BLOCK`].
    pub fn sample_range<F>(
        offset: usize,
        b: usize,
        d: usize,
        seed: u64,
        f: F,
    ) -> Result<Self, SdeError>
    where
        F: Fn(&mut SampleRng, &mut [f64]) + Sync,
    {
        check_sizes(b, d)?;
        let mut x = vec![0.0; b * d];
        let mut rngs = block_uniforms(seed, DOMAIN_INITIAL, offset, b);
        x.par_chunks_mut(RNG_BLOCK * d)
            .zip(rngs.par_iter_mut())
            .for_each(|(xc, rng)| {
                for xi in xc.chunks_exact_mut(d) {
                    f(rng, xi);
                }
            });
        Self::from_vec(b, d, x)?.with_offset(offset)
    }

    /// Set the global index of particle 0 (a multiple of [`RNG_BLOCK`]), for a population split
    /// across ranks.
    pub fn with_offset(mut self, offset: usize) -> Result<Self, SdeError> {
        if !offset.is_multiple_of(RNG_BLOCK) {
            return Err(SdeError::Invalid {
                field: "offset",
                value: offset.to_string(),
                reason: "must be a multiple of RNG_BLOCK (64)",
            });
        }
        self.offset = offset;
        Ok(self)
    }

    /// Number of particles `B`.
    pub fn n_particles(&self) -> usize {
        self.b
    }
    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }
    /// Global index of particle 0.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The row-major `B x d` states.
    pub fn as_slice(&self) -> &[f64] {
        &self.x
    }
    /// Mutable access to the row-major `B x d` states.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.x
    }
    /// Particle `i` (length `d`).
    pub fn particle(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
    /// Consume into the row-major buffer.
    pub fn into_vec(self) -> Vec<f64> {
        self.x
    }
}

fn check_sizes(b: usize, d: usize) -> Result<(), SdeError> {
    if b == 0 {
        return Err(SdeError::Empty { field: "particles" });
    }
    if d == 0 {
        return Err(SdeError::Empty { field: "dimension" });
    }
    Ok(())
}
