//! One population over the ranks of an MPI job: `mpirun -np N mfpid fleet CONFIG` and
//! `mpirun -np N mfpid sample CONFIG` with the cargo feature `mpi`; without it the process is the
//! only rank and every call here is the identity.
//!
//! Every rank reads the config, draws and simulates only its share of the agents or particles
//! (whole 64-particle RNG blocks, [`shard`]; fleet: [`Experiment::new_on`], [`Experiment::run_on`]);
//! every statistic is a reproducible sum over the ranks. `fleet` never gathers per-agent values;
//! `sample` gathers its samples file (terminal samples, sampled starts, recorded paths) to rank 0
//! once after the run. Only rank 0 prints, shows progress and writes the output directory.
//! Failures are agreed on ([`Ranks::agree`]: a collective after each fallible phase), so a failing
//! rank makes every rank exit non-zero with one message, from rank 0, and no output. A failure
//! inside a run (where the other ranks wait in a collective) or a panic ends the job with
//! `MPI_Abort` after the failing rank's message; rank 0's staging directory is then left behind
//! and removed by the next run in that folder.

use std::sync::atomic::{AtomicBool, Ordering};

use mfpid::energy::{EnergyError, Experiment, Method, MethodRun, RunOptions};
use mfpid::sde::comm::Counted;
use mfpid::sde::observe::Observer;
use mfpid::sde::shard::shard;
use mfpid::sde::Communicator;

use crate::common::Common;
use crate::error::{AppError, LibContext, Result};

#[cfg(feature = "mpi")]
type Transport = mfpid::sde::comm::mpi::MpiCommunicator;
#[cfg(not(feature = "mpi"))]
type Transport = mfpid::sde::SingleProcess;

/// Exit status of every rank when one rank panics.
#[cfg(feature = "mpi")]
const PANIC_CODE: i32 = 101;

/// Whether this process prints errors: rank 0 only.
static SPEAKS: AtomicBool = AtomicBool::new(true);

/// Whether this process reports errors (false on MPI ranks other than 0).
pub fn speaks() -> bool {
    SPEAKS.load(Ordering::Relaxed)
}

/// The number of tasks of the MPI job this process was launched in, as the launcher's
/// environment tells (OpenMPI's `mpirun`, or PMI: MPICH, `srun --mpi=pmi2`); 1 when none does.
fn launched_tasks() -> usize {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .filter_map(|k| std::env::var(k).ok()?.parse::<usize>().ok())
        .max()
        .unwrap_or(1)
}

/// Refuse to run a subcommand that does not share its work over MPI ranks when launched as one of
/// several tasks: every task would run it whole and write the same output.
pub fn single_task(command: &str) -> Result<()> {
    match launched_tasks() {
        n if n > 1 => Err(AppError::Other(format!(
            "launched as one of {n} MPI tasks, but `mfpid {command}` runs in one process (only `fleet` and `sample` run over MPI ranks): run it without mpirun / srun"
        ))),
        _ => Ok(()),
    }
}

/// A communicator that can end the whole job after an error only one rank has seen (MPI:
/// `MPI_Abort`; a single process or in-process test ranks: exit this process).
pub trait Job: Communicator {
    /// End every rank with `code`.
    fn abort_job(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[cfg(feature = "mpi")]
impl Job for mfpid::sde::comm::mpi::MpiCommunicator {
    fn abort_job(&self, code: i32) -> ! {
        self.abort(code)
    }
}
impl Job for mfpid::sde::SingleProcess {}
impl Job for mfpid::sde::comm::local::LocalRank<'_> {}

/// This process's place in the job, and the communicator (counting what it sends): the process's
/// transport ([`Ranks::init`]), or any [`Job`] ([`Ranks::over`], e.g. in-process test ranks).
pub struct Ranks<C: Job = Transport> {
    comm: Counted<C>,
}

impl Ranks {
    /// Join the job (initialise MPI with the feature; MPI is finalised when this is dropped).
    pub fn init() -> Result<Self> {
        #[cfg(feature = "mpi")]
        let transport = {
            let t =
                Transport::init().map_err(|e| AppError::Other(format!("cannot start MPI: {e}")))?;
            t.abort_on_panic(PANIC_CODE);
            t
        };
        #[cfg(not(feature = "mpi"))]
        let transport = match launched_tasks() {
            1 => Transport::default(),
            n => return Err(AppError::Other(format!(
                "launched as one of {n} MPI tasks, but this mfpid was built without the `mpi` feature, so every task would run the whole population: rebuild with `cargo build --release -p mfpid-cli --features mpi`, or run one task"
            ))),
        };
        SPEAKS.store(transport.rank() == 0, Ordering::Relaxed);
        Ok(Self {
            comm: Counted::new(transport),
        })
    }

    /// [`Experiment::run_on`] over the ranks: the run on every rank (its per-agent vectors hold
    /// this rank's agents).
    /// Collective. The checks that fail alike on every rank are agreed first; any other failure
    /// ends the job (`MPI_Abort`) with the failing rank's message.
    pub fn run(
        &self,
        exp: &Experiment,
        method: &Method,
        opts: &RunOptions,
        observers: &mut [&mut dyn Observer],
    ) -> Result<Option<MethodRun>> {
        let c = &self.comm;
        let context = || format!("method {}", method.name);
        self.agree(exp.protocol(method).ctx(context()))?;
        self.agree(shard(exp.agents().len(), c.size(), c.rank()).ctx("ranks"))?;
        match exp.run_on(method, opts, observers, c) {
            // the runner agrees on Ctrl-C: every rank stops at the same step
            Err(EnergyError::Cancelled) => Err(AppError::Interrupted),
            Err(e) if c.size() > 1 => self.abort(&format!("{}: {e}", context())),
            r => r.ctx(context()),
        }
    }

    /// For `run.json`: the ranks, each one's agents, and what rank 0 sent and waited.
    pub fn record(&self, agents: usize) -> serde_json::Value {
        self.record_shards(agents, "first_agent", "agents")
    }
}

impl<C: Job> Ranks<C> {
    /// The ranks of an existing communicator (e.g. one in-process test rank), counting its traffic.
    #[cfg(test)]
    pub fn over(comm: C) -> Self {
        Self {
            comm: Counted::new(comm),
        }
    }

    /// Rank 0 writes, prints and shows progress.
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }

    /// The flags of this rank: `--quiet` on every rank but 0.
    pub fn common(&self, common: &Common) -> Common {
        let mut c = common.clone();
        c.quiet |= !self.is_root();
        c
    }

    /// Every rank's outcome of the same phase, agreed (see [`agree`]). Collective.
    pub fn agree<T>(&self, outcome: Result<T>) -> Result<T> {
        agree(&self.comm, outcome)
    }

    /// The end of a command: agree on its outcome, and print an error on rank 0 before any rank
    /// leaves (`mpirun` ends the job as soon as one rank exits non-zero, which could cut rank 0
    /// short before its message). Collective.
    pub fn finish(&self, outcome: Result<()>) -> Result<()> {
        let outcome = self.agree(outcome);
        if self.comm.size() > 1 {
            if let Err(e) = &outcome {
                if speaks() {
                    eprintln!("mfpid: error: {e}");
                }
                // printed: main stays quiet on every rank
                SPEAKS.store(false, Ordering::Relaxed);
            }
            self.comm.all_reduce_sum(&mut [0.0]);
        }
        outcome
    }

    /// `f()` on rank 0 only (`None` elsewhere), agreed.
    pub fn on_root<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        let r = if self.is_root() {
            f().map(Some)
        } else {
            Ok(None)
        };
        self.agree(r)
    }

    /// The communicator (counting its traffic), for collective library calls.
    pub fn comm(&self) -> &dyn Communicator {
        &self.comm
    }

    /// This rank's index.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// End the whole job after an error only this rank may have seen.
    pub fn abort(&self, message: &str) -> ! {
        eprintln!(
            "mfpid: error on rank {} of {}: {message}",
            self.comm.rank(),
            self.comm.size()
        );
        self.comm.inner().abort_job(1)
    }

    /// For `run.json`: the ranks, each one's share of `total` (keys `first` and `count`), and what
    /// rank 0 sent and waited.
    pub fn record_shards(&self, total: usize, first: &str, count: &str) -> serde_json::Value {
        let size = self.comm.size();
        let shards: Vec<serde_json::Value> = (0..size)
            .filter_map(|r| shard(total, size, r).ok())
            .map(|s| {
                let mut m = serde_json::Map::new();
                m.insert(first.into(), s.offset.into());
                m.insert(count.into(), s.count.into());
                serde_json::Value::Object(m)
            })
            .collect();
        let t = self.comm.traffic();
        serde_json::json!({
            "size": size,
            "transport": if cfg!(feature = "mpi") { "mpi" } else { "none" },
            "shards": shards,
            "rank0_collectives": t.collectives,
            "rank0_bytes_sent": t.bytes,
            "rank0_comm_s": self.comm.seconds(),
        })
    }
}

/// Every rank's outcome of the same phase, agreed: `Err` on every rank if any rank failed. Rank 0
/// reports its own error, or else that of the lowest failing rank. Collective.
pub(crate) fn agree<T>(c: &dyn Communicator, outcome: Result<T>) -> Result<T> {
    if c.size() == 1 {
        return outcome;
    }
    let mut failed = [f64::from(u8::from(outcome.is_err()))];
    c.all_reduce_max(&mut failed);
    if failed[0] == 0.0 {
        return outcome;
    }
    // the failing ranks' messages, to rank 0 (bytes as f64: two small gathers)
    let msg = outcome
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    let bytes: Vec<f64> = msg.bytes().map(f64::from).collect();
    let lens = c.gather_to_root(&[bytes.len() as f64]);
    let all = c.gather_to_root(&bytes);
    outcome?;
    let (Ok(Some(lens)), Ok(Some(all))) = (lens, all) else {
        return Err(AppError::Other("failed on another rank".into()));
    };
    let mut at = 0;
    for (rank, &len) in lens.iter().enumerate() {
        let len = len as usize;
        if len > 0 {
            let text: Vec<u8> = all[at..at + len].iter().map(|&b| b as u8).collect();
            return Err(AppError::Other(format!(
                "on rank {rank} of {}: {}",
                c.size(),
                String::from_utf8_lossy(&text)
            )));
        }
        at += len;
    }
    Err(AppError::Other("failed on another rank".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfpid::sde::comm::local::LocalRanks;

    /// `agree` on 3 in-process ranks where `fails` lists the failing ranks: each rank's outcome.
    fn agree_over(fails: &[usize]) -> Vec<std::result::Result<usize, String>> {
        LocalRanks::run(3, |comm, r| {
            let mine = if fails.contains(&r) {
                Err(AppError::Other(format!("bad input on {r} (ü)")))
            } else {
                Ok(r)
            };
            agree(&comm, mine).map_err(|e| e.to_string())
        })
    }

    #[test]
    fn every_rank_fails_with_the_message_of_the_first_failing_rank_on_rank_0() {
        assert_eq!(agree_over(&[]), vec![Ok(0), Ok(1), Ok(2)]);
        let out = agree_over(&[2, 1]);
        assert_eq!(
            out[0],
            Err("on rank 1 of 3: bad input on 1 (ü)".to_string())
        );
        assert_eq!(out[1], Err("bad input on 1 (ü)".to_string()));
        assert_eq!(out[2], Err("bad input on 2 (ü)".to_string()));
        // rank 0's own error wins on rank 0
        let out = agree_over(&[0, 2]);
        assert_eq!(out[0], Err("bad input on 0 (ü)".to_string()));
        assert!(out[1].is_err());
    }
}
