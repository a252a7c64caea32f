//! The communicator seam for reductions across processes (single-process default).
//!
//! One population split across ranks needs only a few collectives per reduction, each `O(width)`
//! numbers, independent of the number of particles: [`crate::reduce::reproducible_sum`] uses an
//! `f64` maximum and an `i64` sum; the `f64` sum serves counts and non-finite fallbacks.
//! [`Counted`] wraps any communicator and counts the collectives and bytes each rank sends.

pub mod local;
#[cfg(feature = "mpi")]
pub mod mpi;
mod traffic;

pub use traffic::{Counted, Traffic};

use crate::error::SdeError;

/// Collective operations an ensemble reduction needs. A distributed backend (e.g. MPI) implements
/// this so one population can be split across ranks with `O(d)` traffic per reduction. Every rank
/// calls each collective in the same order with buffers of the same length.
pub trait Communicator: Sync {
    /// This process's rank in `0..size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Element-wise sum of `buf` over all ranks, result on every rank.
    fn all_reduce_sum(&self, buf: &mut [f64]);
    /// Element-wise maximum of `buf` over all ranks, result on every rank (exact in any order).
    fn all_reduce_max(&self, buf: &mut [f64]);
    /// Element-wise integer sum of `buf` over all ranks, result on every rank (exact in any order;
    /// callers keep the sums within `i64`).
    fn all_reduce_sum_i64(&self, buf: &mut [i64]);
    /// Every rank's `local` (lengths may differ) concatenated in rank order on rank 0 (`Some`),
    /// `None` on the other ranks. For per-particle results gathered once after a run, never per
    /// step; rank 0 needs memory for the whole population's values.
    fn gather_to_root(&self, local: &[f64]) -> Result<Option<Vec<f64>>, SdeError>;
}

/// The single-process communicator: every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _buf: &mut [f64]) {}
    fn all_reduce_max(&self, _buf: &mut [f64]) {}
    fn all_reduce_sum_i64(&self, _buf: &mut [i64]) {}
    fn gather_to_root(&self, local: &[f64]) -> Result<Option<Vec<f64>>, SdeError> {
        Ok(Some(local.to_vec()))
    }
}
