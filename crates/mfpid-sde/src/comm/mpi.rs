//! The MPI backend (cargo feature `mpi`): [`Communicator`] over `MPI_COMM_WORLD` through rsmpi and
//! the system's MPI library (wrap it in [`super::Counted`] to count the bytes each rank sends).
//!
//! ```no_run
//! use mfpid_sde::comm::mpi::MpiCommunicator;
//! use mfpid_sde::{shard::shard, Communicator};
//! let comm = MpiCommunicator::init().expect("MPI");
//! let mine = shard(1_000_000, comm.size(), comm.rank()).unwrap();
//! // ... Ensemble::sample_range(mine.offset, mine.count, ...), run_with_comm(..., &comm)
//! ```

use std::sync::{Mutex, MutexGuard};

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::{Count, Threading};

use super::Communicator;
use crate::error::SdeError;

/// Why the MPI backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum MpiError {
    /// MPI was initialised before (one [`MpiCommunicator`] per process).
    #[error("MPI is already initialised in this process")]
    AlreadyInitialised,
    /// The MPI library cannot serve calls from the runner's worker thread.
    #[error("the MPI library provides threading level {provided}, the runner needs Serialized")]
    Threading {
        /// The level the library provided.
        provided: String,
    },
}

/// The world communicator. Create one per process with [`MpiCommunicator::init`]; MPI is
/// finalised when it is dropped.
pub struct MpiCommunicator {
    world: SimpleCommunicator,
    /// Serialises every MPI call (the runner may call from a rayon worker thread).
    lock: Mutex<()>,
    rank: usize,
    size: usize,
    /// Dropped last: finalises MPI.
    _universe: Universe,
}

// SAFETY: MPI is initialised with at least `Threading::Serialized` (checked in `init`), which
// allows calls from any thread as long as they are not concurrent; every MPI call below holds
// `lock`. The world handle is a process-global constant.
unsafe impl Send for MpiCommunicator {}
unsafe impl Sync for MpiCommunicator {}

impl MpiCommunicator {
    /// Initialise MPI (threading level `Serialized`) and wrap the world communicator.
    pub fn init() -> Result<Self, MpiError> {
        let (universe, provided) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or(MpiError::AlreadyInitialised)?;
        if matches!(provided, Threading::Single | Threading::Funneled) {
            return Err(MpiError::Threading {
                provided: format!("{provided:?}"),
            });
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Self {
            world,
            lock: Mutex::new(()),
            rank,
            size,
            _universe: universe,
        })
    }

    /// Serialise MPI calls across threads (see the `Sync` impl).
    fn call(&self) -> MutexGuard<'_, ()> {
        // a poisoned lock only means another thread panicked mid-call; the guard is still usable
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn all_reduce<T: mpi::datatype::Equivalence + Copy>(&self, buf: &mut [T], op: SystemOperation) {
        if buf.is_empty() {
            return;
        }
        let _g = self.call();
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, op);
    }

    /// Wait for every rank.
    pub fn barrier(&self) {
        let _g = self.call();
        self.world.barrier();
    }

    /// End every rank of the job with `code` (after an error on one rank).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// A panic on this rank prints its message and then ends every rank of the job with `code`
    /// (instead of leaving the other ranks waiting in a collective forever).
    pub fn abort_on_panic(&self, code: i32) {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            SimpleCommunicator::world().abort(code)
        }));
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&self, buf: &mut [f64]) {
        self.all_reduce(buf, SystemOperation::sum());
    }
    fn all_reduce_max(&self, buf: &mut [f64]) {
        self.all_reduce(buf, SystemOperation::max());
    }
    fn all_reduce_sum_i64(&self, buf: &mut [i64]) {
        self.all_reduce(buf, SystemOperation::sum());
    }
    /// The gathered total must stay below `2^31` values (MPI counts are `int`), else every rank
    /// returns [`SdeError::Invalid`] (field `gather_to_root`).
    fn gather_to_root(&self, local: &[f64]) -> Result<Option<Vec<f64>>, SdeError> {
        let mut total = [local.len() as f64];
        self.all_reduce_sum(&mut total);
        if total[0] > Count::MAX as f64 {
            return Err(SdeError::Invalid {
                field: "gather_to_root",
                value: format!("{} values", total[0]),
                reason: "exceeds the MPI count limit 2^31 - 1 of one gather to rank 0",
            });
        }
        let root = self.world.process_at_rank(0);
        // fits: local.len() <= total < 2^31
        let n = local.len() as Count;
        let _g = self.call();
        if self.rank == 0 {
            let mut counts = vec![0 as Count; self.size];
            root.gather_into_root(&n, &mut counts[..]);
            let displs: Vec<Count> = counts
                .iter()
                .scan(0, |acc, &c| {
                    let at = *acc;
                    *acc += c;
                    Some(at)
                })
                .collect();
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let mut all = vec![0.0; total];
            {
                let mut part = PartitionMut::new(&mut all[..], counts, &displs[..]);
                root.gather_varcount_into_root(local, &mut part);
            }
            Ok(Some(all))
        } else {
            root.gather_into(&n);
            root.gather_varcount_into(local);
            Ok(None)
        }
    }
}
