//! The composed agents' reverse dynamics as an [`mfpid_sde::Drift`] (sampling through the sde
//! crate's ensemble runner).

use super::{agent_tensor, MnistProblem, Steer};
use crate::error::{ComposeError, Result};
use crate::idx::PIXELS;
use candle_core::Tensor;
use std::sync::Mutex;

/// The composed agents' reverse dynamics as an [`mfpid_sde::Drift`] on the product space, in the
/// runner's forward time `s = 1 - t`. One particle is the `N` agents' images (`N x 784` values,
/// agent-major, f64); agent `i`'s drift is `beta x_i / 2 + beta s_theta(x_i, t) + beta u_i` (the
/// networks run in f32 on each chunk of particles). The per-particle running cost
/// `gamma Phi(Yhat0) dt` and control energy `(lambda/N) sum_i beta |u_i|^2 dt / 2` are accumulated
/// at each step's left point (`dt` from the grid, set in `prepare`), as in the BPTT rollout.
pub struct MnistDrift<'p, 'a> {
    problem: &'p MnistProblem<'a>,
    steer: &'p Steer<'p>,
    /// Runner grid times.
    times: Vec<f64>,
    /// Step that starts at the time being prepared (0 at the final time).
    dt: f64,
    /// Per-particle `[running, energy]`.
    acc: Mutex<Vec<[f64; 2]>>,
    /// First failure inside `eval` (which cannot return errors).
    error: Mutex<Option<String>>,
}

impl<'p, 'a> MnistDrift<'p, 'a> {
    /// Drift of `problem` steered by `steer` on the runner grid `times`, for `b` particles.
    pub fn new(
        problem: &'p MnistProblem<'a>,
        steer: &'p Steer<'p>,
        times: Vec<f64>,
        b: usize,
    ) -> Self {
        Self {
            problem,
            steer,
            times,
            dt: 0.0,
            acc: Mutex::new(vec![[0.0; 2]; b]),
            error: Mutex::new(None),
        }
    }

    /// The accumulated per-particle `[running cost, control energy]`, or the first error met.
    pub fn finish(self) -> Result<Vec<[f64; 2]>> {
        if let Some(e) = self.error.into_inner().ok().flatten() {
            return Err(ComposeError::NonFinite(format!("MNIST drift: {e}")));
        }
        self.acc
            .into_inner()
            .map_err(|_| ComposeError::NonFinite("poisoned accumulator lock".into()))
    }

    fn eval_chunk(&self, s: f64, first: usize, x: &[f64], out: &mut [f64]) -> Result<()> {
        let n = self.problem.n_agents();
        let nd = n * PIXELS;
        let xs: Vec<Tensor> = (0..n)
            .map(|i| agent_tensor(x, nd, i))
            .collect::<Result<_>>()?;
        let (drifts, running, energy) = self.problem.drift_rates(self.steer, &xs, 1.0 - s)?;
        for (i, d) in drifts.iter().enumerate() {
            let d = d.flatten_all()?.to_vec1::<f32>()?;
            for (o, dp) in out.chunks_exact_mut(nd).zip(d.chunks_exact(PIXELS)) {
                o[i * PIXELS..(i + 1) * PIXELS]
                    .iter_mut()
                    .zip(dp)
                    .for_each(|(a, &v)| *a = v as f64);
            }
        }
        let (r, e) = (running.to_vec1::<f32>()?, energy.to_vec1::<f32>()?);
        let mut acc = self
            .acc
            .lock()
            .map_err(|_| ComposeError::NonFinite("poisoned accumulator lock".into()))?;
        for (p, (rv, ev)) in r.iter().zip(&e).enumerate() {
            if let Some(a) = acc.get_mut(first + p) {
                a[0] += *rv as f64 * self.dt;
                a[1] += *ev as f64 * self.dt;
            }
        }
        Ok(())
    }
}

impl mfpid_sde::Drift for MnistDrift<'_, '_> {
    fn dim(&self) -> usize {
        self.problem.n_agents() * PIXELS
    }

    fn prepare(&mut self, s: f64) -> std::result::Result<(), mfpid_sde::DriftError> {
        let k = self.times.iter().position(|&v| (v - s).abs() <= 1e-12);
        self.dt = match k {
            Some(k) if k + 1 < self.times.len() => self.times[k + 1] - self.times[k],
            _ => 0.0,
        };
        Ok(())
    }

    fn eval(&self, s: f64, first: usize, x: &[f64], out: &mut [f64], _scratch: &mut Vec<f64>) {
        if let Err(e) = self.eval_chunk(s, first, x, out) {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
    }
}
