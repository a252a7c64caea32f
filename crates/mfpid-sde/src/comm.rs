//! The communicator seam for reductions across processes (single-process default).

/// Collective operations an ensemble reduction needs. A distributed backend (e.g. MPI) implements
/// this so one population can be split across ranks with `O(d)` traffic per reduction.
pub trait Communicator: Sync {
    /// This process's rank in `0..size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Element-wise sum of `buf` over all ranks, result on every rank.
    fn all_reduce_sum(&self, buf: &mut [f64]);
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
}
