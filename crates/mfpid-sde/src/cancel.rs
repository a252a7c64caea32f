//! Stopping a run from outside: a shared flag the runner reads once per time step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation token: cheap to clone (the clones share one flag), `Send + Sync`, so a Ctrl-C
/// handler, a Python binding or another thread can stop a run in progress.
///
/// Put a clone in [`crate::RunConfig::cancel`]: the runner reads the flag (relaxed) at the start of
/// every time step, before the drift is evaluated, and a raised flag ends the run with
/// [`crate::SdeError::Cancelled`]. A run whose flag stays down gives exactly the result of a run
/// without a token. Under several processes the flag is combined through the run's
/// [`crate::Communicator`] at every step (one all-reduce of one number), so all ranks stop at the
/// same step; every rank must then pass a token (or none), as for any collective.
///
/// ```
/// use mfpid_sde::{run, CancelToken, Ensemble, LinearDrift, Noise, RunConfig, SdeError, TimeGrid};
/// let stop = CancelToken::new();
/// let cfg = RunConfig { cancel: Some(stop.clone()), ..RunConfig::default() };
/// stop.cancel();
/// let mut ens = Ensemble::filled(64, &[1.0])?;
/// let grid = TimeGrid::uniform(0.0, 1.0, 10)?;
/// let r = run(&mut LinearDrift::isotropic(1, 1.0, 0.0), &Noise::Scalar(1.0), &grid, &mut ens, &cfg, &mut []);
/// assert!(matches!(r, Err(SdeError::Cancelled { step: 0, .. })));
/// # Ok::<(), SdeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the flag: runs holding a clone stop at their next time step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Lower the flag again (e.g. to reuse the token for the next run).
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Whether the flag is raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Two tokens are equal when they share one flag.
impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = CancelToken::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
        b.reset();
        assert!(!a.is_cancelled());
        assert_eq!(a, b);
        assert_ne!(a, CancelToken::new());
    }
}
