//! Unconditional sampling of the score network through the sde crate's ensemble runner.

use super::*;
use crate::error::{ComposeError, Result};
use crate::idx::PIXELS;
use crate::vp::VpSchedule;
use candle_core::{Device, Tensor};
use rand::Rng;

/// The reverse-time VP dynamics of one score network as an [`mfpid_sde::Drift`] in the runner's
/// forward time `s = 1 - t`: `b(s, x) = beta x / 2 + beta s_theta(x, t)` on images (`784` values per
/// particle, f64), with `s_theta = -eps_clipped / sigma_t` evaluated in f32 on each chunk.
pub struct ScoreDrift<'a> {
    net: &'a ScoreNet,
    sched: VpSchedule,
    /// First failure inside `eval` (which cannot return errors).
    error: std::sync::Mutex<Option<String>>,
}

impl<'a> ScoreDrift<'a> {
    /// Drift of `net` under `sched`.
    pub fn new(net: &'a ScoreNet, sched: VpSchedule) -> Self {
        Self {
            net,
            sched,
            error: std::sync::Mutex::new(None),
        }
    }

    /// The first error met while evaluating, if any.
    pub fn finish(self) -> Result<()> {
        match self.error.into_inner().ok().flatten() {
            Some(e) => Err(ComposeError::NonFinite(format!("score drift: {e}"))),
            None => Ok(()),
        }
    }

    fn eval_chunk(&self, s: f64, x: &[f64], out: &mut [f64]) -> Result<()> {
        let t = 1.0 - s;
        let b = x.len() / PIXELS;
        let (beta, sigma) = (self.sched.beta(t), self.sched.sigma2(t).sqrt());
        let xt = Tensor::from_vec(
            x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            (b, PIXELS),
            &Device::Cpu,
        )?;
        let tt = Tensor::full(t as f32, (b, 1), &Device::Cpu)?;
        let eps = self
            .net
            .eps_clipped(&xt, &tt)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for ((o, &xv), &e) in out.iter_mut().zip(x).zip(&eps) {
            *o = 0.5 * beta * xv - beta * e as f64 / sigma; // beta x / 2 + beta s_theta
        }
        Ok(())
    }
}

impl mfpid_sde::Drift for ScoreDrift<'_> {
    fn dim(&self) -> usize {
        PIXELS
    }

    fn eval(&self, s: f64, _first: usize, x: &[f64], out: &mut [f64], _scratch: &mut Vec<f64>) {
        if let Err(e) = self.eval_chunk(s, x, out) {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Unconditional samples of the score network: reverse-time Euler-Maruyama from `t = 1` to
/// `t_end = 1e-3` in `steps` uniform steps, integrated by the sde crate's ensemble runner with
/// [`ScoreDrift`] (`Noise::ScalarTime(sqrt(beta(1 - s)))`); `n` images `(n x 784)` in the data space.
pub fn sample_unconditional(
    net: &ScoreNet,
    sched: &VpSchedule,
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut ens = mfpid_sde::Ensemble::sample(n, PIXELS, seed, |rng, x| {
        for v in x.iter_mut() {
            *v = rng.sample(rand_distr::StandardNormal);
        }
    })?;
    let grid = mfpid_sde::TimeGrid::uniform(0.0, 1.0 - 1e-3, steps)?;
    let sch = *sched;
    let noise =
        mfpid_sde::Noise::ScalarTime(std::sync::Arc::new(move |s: f64| sch.beta(1.0 - s).sqrt()));
    let mut drift = ScoreDrift::new(net, sch);
    let cfg = mfpid_sde::RunConfig::new(mfpid_sde::Scheme::EulerMaruyama, seed ^ 0x5eed);
    let ran = mfpid_sde::run(&mut drift, &noise, &grid, &mut ens, &cfg, &mut []);
    drift.finish()?; // a network failure inside the drift first, then the runner's
    ran?;
    Ok(ens.into_vec().iter().map(|&v| v as f32).collect())
}
