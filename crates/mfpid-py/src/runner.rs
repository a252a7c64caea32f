//! Every long computation runs here: on a worker thread with the GIL released, while the calling
//! thread wakes every [`POLL`] (or as soon as the worker is done) to take the GIL, run Python's signal handlers (Ctrl-C becomes
//! `KeyboardInterrupt`) and report progress to an optional Python callable `progress(fraction)`.
//! On an interrupt the [`Job`]'s cancel token is raised; runs through `mfpid_sde::run` (bridges,
//! fleets) stop at their next time step, the others finish their (small) work first. The result of a run that is not
//! interrupted does not depend on any of this: the worker computes exactly what the library computes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mfpid_sde::observe::{Observer, StepView};
use mfpid_sde::CancelToken;
use pyo3::prelude::*;

/// How often the calling thread checks for signals and reports progress.
pub const POLL: Duration = Duration::from_millis(50);

/// Shared state of one run: cancel flag (set on Ctrl-C) and progress in `[0, 1]` (f64 bits).
pub struct Job {
    /// Raised when the user interrupts; the runner stops at its next time step.
    pub cancel: CancelToken,
    progress: AtomicU64,
}

impl Job {
    fn new() -> Self {
        Self {
            cancel: CancelToken::new(),
            progress: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Record progress `f` in `[0, 1]`.
    pub fn set_progress(&self, f: f64) {
        self.progress
            .store(f.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn progress(&self) -> f64 {
        f64::from_bits(self.progress.load(Ordering::Relaxed))
    }

    /// Whether the user asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Run `work` off the GIL; Ctrl-C gives `KeyboardInterrupt`, `progress` (a callable or `None`)
/// is called with the fraction done at every poll and with `1.0` at the end.
pub fn run<T, F>(py: Python<'_>, progress: Option<Py<PyAny>>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Job) -> PyResult<T> + Send,
{
    let job = Job::new();
    // set by the worker when done; it also wakes the caller, so short runs return at once
    let done = AtomicBool::new(false);
    let (result, interrupt) = py.detach(|| {
        std::thread::scope(|scope| {
            let caller = std::thread::current();
            let (job_ref, done_ref) = (&job, &done);
            let handle = scope.spawn(move || {
                let r = work(job_ref);
                done_ref.store(true, Ordering::Release);
                caller.unpark();
                r
            });
            let mut interrupt: Option<PyErr> = None;
            let mut last = -1.0;
            while !done.load(Ordering::Acquire) && !handle.is_finished() {
                std::thread::park_timeout(POLL);
                if done.load(Ordering::Acquire) || handle.is_finished() {
                    break;
                }
                Python::attach(|py| {
                    if interrupt.is_none() {
                        if let Err(e) = py.check_signals() {
                            job.cancel.cancel();
                            interrupt = Some(e);
                        }
                    }
                    let f = job.progress();
                    if let (Some(cb), true) = (&progress, f != last && interrupt.is_none()) {
                        last = f;
                        if let Err(e) = cb.call1(py, (f,)) {
                            // a failing progress callback stops the run like an interrupt
                            job.cancel.cancel();
                            interrupt = Some(e);
                        }
                    }
                });
            }
            let result = handle.join();
            (result, interrupt)
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    let out = match result {
        Ok(r) => r?,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(crate::errors::solver(format!(
                "internal error (please report): {msg}"
            )));
        }
    };
    if let Some(cb) = &progress {
        cb.call1(py, (1.0,))?;
    }
    Ok(out)
}

/// An observer reporting `offset + share * (t - t0) / (t1 - t0)` as progress.
pub struct Progress<'a> {
    /// The job to report to.
    pub job: &'a Job,
    /// Progress at the run's start.
    pub offset: f64,
    /// Share of the whole job taken by this run.
    pub share: f64,
    span: (f64, f64),
}

impl<'a> Progress<'a> {
    /// Report the run as the slice `[offset, offset + share]` of the job.
    pub fn new(job: &'a Job, offset: f64, share: f64) -> Self {
        Self {
            job,
            offset,
            share,
            span: (0.0, 1.0),
        }
    }
}

impl Observer for Progress<'_> {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, grid: &mfpid_sde::TimeGrid, _n: usize, _d: usize) {
        self.span = (grid.start(), grid.end());
    }

    fn observe(&mut self, v: &StepView<'_>) {
        let (a, b) = self.span;
        let f = if b > a { (v.t - a) / (b - a) } else { 1.0 };
        self.job.set_progress(self.offset + self.share * f);
    }
}
