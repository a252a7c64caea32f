//! Counting what a rank sends: [`Counted`] wraps any [`Communicator`] and adds up the collectives
//! and the payload bytes of every call, so the per-step traffic of a run can be measured (and
//! shown to be `O(d)`, independent of the number of particles) with or without MPI, and the wall
//! time spent inside the collectives (transfer plus waiting for the slowest rank).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Communicator;
use crate::error::SdeError;

/// Collectives called and payload bytes sent by one rank: the size of its send buffer, `8 n`
/// for an all-reduce or a gather of `n` values. The network moves `~2 * 8 n` per rank for ring
/// all-reduces or `8 n log2(p)` for trees, independent of the number of particles either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traffic {
    /// Collective calls.
    pub collectives: u64,
    /// Payload bytes sent.
    pub bytes: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, rhs: Traffic) -> Traffic {
        Traffic {
            collectives: self.collectives - rhs.collectives,
            bytes: self.bytes - rhs.bytes,
        }
    }
}

/// A communicator that counts the traffic of `C` (see [`Traffic`]).
///
/// ```
/// use mfpid_sde::comm::{Counted, Traffic};
/// use mfpid_sde::{Communicator, SingleProcess};
/// let comm = Counted::new(SingleProcess);
/// comm.all_reduce_sum(&mut [1.0, 2.0]);
/// assert_eq!(comm.traffic(), Traffic { collectives: 1, bytes: 16 });
/// ```
#[derive(Debug, Default)]
pub struct Counted<C> {
    inner: C,
    collectives: AtomicU64,
    bytes: AtomicU64,
    nanos: AtomicU64,
}

impl<C: Communicator> Counted<C> {
    /// Count the traffic of `inner` from zero.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            collectives: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    /// The wrapped communicator.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Collectives and payload bytes this rank has sent so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            collectives: self.collectives.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Seconds this rank has spent inside collectives so far (wall time, waits included).
    pub fn seconds(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Count one collective sending `bytes` and time `call`.
    fn count<R>(&self, bytes: usize, call: impl FnOnce() -> R) -> R {
        self.collectives.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let t0 = Instant::now();
        let r = call();
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(ns, Ordering::Relaxed);
        r
    }
}

impl<C: Communicator> Communicator for Counted<C> {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn all_reduce_sum(&self, buf: &mut [f64]) {
        self.count(size_of_val(buf), || self.inner.all_reduce_sum(buf));
    }
    fn all_reduce_max(&self, buf: &mut [f64]) {
        self.count(size_of_val(buf), || self.inner.all_reduce_max(buf));
    }
    fn all_reduce_sum_i64(&self, buf: &mut [i64]) {
        self.count(size_of_val(buf), || self.inner.all_reduce_sum_i64(buf));
    }
    fn gather_to_root(&self, local: &[f64]) -> Result<Option<Vec<f64>>, SdeError> {
        self.count(size_of_val(local), || self.inner.gather_to_root(local))
    }
}
