//! In-process ranks on threads, for testing sharded code without MPI: each collective collects
//! every rank's buffer, combines them in rank order and hands the result to every rank.

use std::sync::{Barrier, Mutex};

use super::Communicator;
use crate::error::SdeError;

/// Shared state of `size` in-process ranks; hand [`LocalRanks::rank`] to one thread per rank.
///
/// ```
/// use mfpid_sde::comm::local::LocalRanks;
/// use mfpid_sde::Communicator;
/// let ranks = LocalRanks::new(3);
/// let sums: Vec<f64> = std::thread::scope(|s| {
///     let hs: Vec<_> = (0..3)
///         .map(|r| {
///             let c = ranks.rank(r);
///             s.spawn(move || {
///                 let mut v = [r as f64];
///                 c.all_reduce_sum(&mut v);
///                 v[0]
///             })
///         })
///         .collect();
///     hs.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(sums, vec![3.0; 3]);
/// ```
#[derive(Debug)]
pub struct LocalRanks {
    size: usize,
    barrier: Barrier,
    f64_slots: Mutex<Vec<Vec<f64>>>,
    i64_slots: Mutex<Vec<Vec<i64>>>,
}

/// One in-process rank of a [`LocalRanks`].
#[derive(Debug, Clone, Copy)]
pub struct LocalRank<'a> {
    rank: usize,
    all: &'a LocalRanks,
}

impl LocalRanks {
    /// `size >= 1` ranks.
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            size,
            barrier: Barrier::new(size),
            f64_slots: Mutex::new(vec![Vec::new(); size]),
            i64_slots: Mutex::new(vec![Vec::new(); size]),
        }
    }

    /// Run `f` on `size` in-process ranks, each on its own scoped thread with its communicator and
    /// rank index; the results in rank order. A panic on any rank is re-raised here (the other
    /// ranks may then wait in a collective forever, so `f` must call the same collectives on every
    /// rank, as under MPI).
    pub fn run<T: Send>(size: usize, f: impl Fn(LocalRank<'_>, usize) -> T + Sync) -> Vec<T> {
        let ranks = Self::new(size);
        let (ranks, f) = (&ranks, &f);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..ranks.size)
                .map(|r| s.spawn(move || f(ranks.rank(r), r)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// The communicator of rank `rank < size` (run each on its own thread).
    pub fn rank(&self, rank: usize) -> LocalRank<'_> {
        assert!(
            rank < self.size,
            "LocalRanks::rank: {rank} >= {}",
            self.size
        );
        LocalRank { rank, all: self }
    }
}

impl LocalRank<'_> {
    fn collective<T: Copy>(
        &self,
        slots: &Mutex<Vec<Vec<T>>>,
        buf: &mut [T],
        op: impl Fn(T, T) -> T,
    ) {
        let lock = || slots.lock().unwrap_or_else(|e| e.into_inner());
        lock()[self.rank] = buf.to_vec();
        self.all.barrier.wait();
        {
            let all = lock();
            for (k, b) in buf.iter_mut().enumerate() {
                *b = all[1..].iter().fold(all[0][k], |acc, v| op(acc, v[k]));
            }
        }
        // nobody overwrites a slot before every rank has read them all
        self.all.barrier.wait();
    }
}

impl Communicator for LocalRank<'_> {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.all.size
    }
    fn all_reduce_sum(&self, buf: &mut [f64]) {
        self.collective(&self.all.f64_slots, buf, |a, b| a + b);
    }
    fn all_reduce_max(&self, buf: &mut [f64]) {
        self.collective(&self.all.f64_slots, buf, f64::max);
    }
    fn all_reduce_sum_i64(&self, buf: &mut [i64]) {
        self.collective(&self.all.i64_slots, buf, |a, b| a + b);
    }
    fn gather_to_root(&self, local: &[f64]) -> Result<Option<Vec<f64>>, SdeError> {
        let slots = &self.all.f64_slots;
        let lock = || slots.lock().unwrap_or_else(|e| e.into_inner());
        lock()[self.rank] = local.to_vec();
        self.all.barrier.wait();
        let all = (self.rank == 0).then(|| lock().concat());
        self.all.barrier.wait();
        Ok(all)
    }
}
