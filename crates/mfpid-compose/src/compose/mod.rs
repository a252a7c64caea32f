//! Cooperative composition on MNIST: `N` copies of the pre-trained score network paint the horizontal
//! bands of one image (split-mask aggregator), steered toward a target digit of the objective
//! classifier by CDPS (per-step gradient guidance) or by learned CMAD controls (joint BPTT or
//! fictitious play). Tensors are `f32` (candle); costs are accumulated per sample and reported in `f64`.
//!
//! Per reverse step from `t` to `t - dt` (Euler-Maruyama, `beta = beta(t)`):
//! `x_i += dt (beta x_i / 2 + beta s_theta(x_i, t) + beta u_i) + sqrt(beta dt) z_i`, with
//! `s_theta = -eps_theta / sigma_t`, Tweedie `xhat0_i = (x_i - sigma_t eps_theta) / alpha_t`,
//! `Y = sum_i M_i ⊙ x_i`, cost `J = (lambda/N) sum beta |u|^2 dt / 2 + gamma sum Phi(Yhat0) dt + Phi(Y_0)`,
//! `Phi = CE(C(Y), digit) + Seam(Y)`, weights `lambda`, `gamma`, `w` from [`ObjectiveWeights`] (the
//! reference's by default: `lambda = 10/392`, `gamma = 1`, CDPS `w = 100/64`).

mod controls;
mod drift;
mod train;

pub use controls::*;
pub use drift::MnistDrift;
pub use train::TrainOptions;

use crate::error::{invalid, ComposeError, Result};
use crate::gmm::band_bounds;
use crate::idx::{PIXELS, SIDE};
use crate::nn::{MlpClassifier, ScoreNet, ScoreNetConfig};
use crate::vp::VpSchedule;
use crate::weights::ObjectiveWeights;
use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// A score network whose parameters are plain tensors (no gradient is accumulated for them, while
/// gradients still flow through it to its input).
pub fn frozen_score(vars: &VarMap, cfg: ScoreNetConfig) -> Result<ScoreNet> {
    let map: HashMap<String, Tensor> = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    Ok(ScoreNet::new(
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu),
        cfg,
    )?)
}

/// Weight of the seam's second-difference term (spec: 0.05).
pub const SEAM_SECOND_DIFF: f64 = 0.05;

/// The objective `Phi(Y) = -log softmax(C(Y))[digit] + Seam(Y)` on `N` bands, with
/// `Seam = sum_e [mean_w rho(Y[e] - Y[e+1]) + 0.05 mean_w rho((Y[e] - Y[e-1]) - (Y[e+2] - Y[e+1]))]`
/// over the band boundaries `e` (last row of the upper band).
pub struct Objective<'a> {
    /// The objective classifier `C`.
    pub classifier: &'a MlpClassifier,
    /// Target digit.
    pub digit: usize,
    /// Row ranges of the bands.
    pub bands: Vec<(usize, usize)>,
}

impl Objective<'_> {
    /// Per-sample `(Phi, CE, Seam)`, each `(B,)`, for `y` `(B, 784)`.
    pub fn eval(&self, y: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let b = y.dim(0)?;
        let logp = candle_nn::ops::log_softmax(&self.classifier.forward(y)?, D::Minus1)?;
        let ce = logp.narrow(1, self.digit, 1)?.squeeze(1)?.neg()?;
        let img = y.reshape((b, SIDE, SIDE))?;
        let mut seam = Tensor::zeros(b, DType::F32, y.device())?;
        let row = |r: usize| -> candle_core::Result<Tensor> { img.narrow(1, r, 1)?.squeeze(1) };
        // rho(x) = sqrt(x^2 + 1e-6), averaged over the 28 columns
        let rho_mean = |x: &Tensor| -> candle_core::Result<Tensor> {
            x.sqr()?.affine(1.0, 1e-6)?.sqrt()?.mean(1)
        };
        for w in self.bands.windows(2) {
            // rows e = ra and e + 1 = rb either side of the boundary between band w[0] and band w[1]
            let (ra, rb) = (w[0].1 - 1, w[1].0);
            seam = seam.add(&rho_mean(&row(ra)?.sub(&row(rb)?)?)?)?;
            if ra >= 1 && rb + 1 < SIDE {
                // second difference (Y[e] - Y[e-1]) - (Y[e+2] - Y[e+1]), weight 0.05
                let d2 = row(ra)?
                    .sub(&row(ra - 1)?)?
                    .sub(&row(rb + 1)?.sub(&row(rb)?)?)?;
                seam = seam.add(&rho_mean(&d2)?.affine(SEAM_SECOND_DIFF, 0.0)?)?;
            }
        }
        Ok((ce.add(&seam)?, ce, seam))
    }
}

/// Split-mask aggregator for `n` bands as `(1, 784)` tensors.
pub fn band_masks(n: usize) -> Result<Vec<Tensor>> {
    let bands = band_bounds(n, SIDE);
    bands
        .iter()
        .map(|&(a, b)| {
            let v: Vec<f32> = (0..PIXELS)
                .map(|p| {
                    if (a..b).contains(&(p / SIDE)) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            Ok(Tensor::from_vec(v, (1, PIXELS), &Device::Cpu)?)
        })
        .collect()
}

/// How the agents are steered.
pub enum Steer<'a> {
    /// No control.
    Base,
    /// DPS-style guidance with weight `w` (gradient through the score network).
    Cdps {
        /// guidance weight per sample (reference `100 / 64`)
        w: f64,
    },
    /// Learned controls.
    Cmad(&'a Controls),
}

/// The composition problem on MNIST.
pub struct MnistProblem<'a> {
    /// Score network shared by the agents (frozen).
    pub score: &'a ScoreNet,
    /// Objective.
    pub objective: Objective<'a>,
    /// Aggregator masks, one `(1, 784)` per agent.
    pub masks: Vec<Tensor>,
    /// Base schedule.
    pub sched: VpSchedule,
    /// `lambda`, `gamma` and the reference CDPS weight, with their convention.
    pub weights: ObjectiveWeights,
    /// Euler-Maruyama steps of the CMAD training grid (reference 24: 25 points from 1 to 1e-3).
    pub train_steps: usize,
}

/// Per-sample results of one steered sampling run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOutput {
    /// Final aggregated images `Y_0`, `B x 784`.
    pub images: Vec<f32>,
    /// Per-sample `Phi(Y_0)` (cross-entropy + seam).
    pub terminal: Vec<f64>,
    /// Per-sample seam penalty of `Y_0`.
    pub seam: Vec<f64>,
    /// Per-sample control energy.
    pub energy: Vec<f64>,
    /// Per-sample running cost.
    pub running: Vec<f64>,
}

/// The terms of one reverse step (see [`MnistProblem::drift_rates`]).
struct StepTerms {
    xin: Vec<Tensor>,
    eps: Vec<Tensor>,
    controls: Vec<Tensor>,
    phi_hat: Tensor,
}

impl<'a> MnistProblem<'a> {
    /// Problem for `digit` with `n` agents, the reference weights
    /// ([`ObjectiveWeights::mnist_reference`]) and the reference training grid (24 steps).
    pub fn new(
        score: &'a ScoreNet,
        classifier: &'a MlpClassifier,
        digit: usize,
        n: usize,
    ) -> Result<Self> {
        if digit > 9 {
            return Err(invalid("digit", digit, "must be 0..=9"));
        }
        if !(1..=SIDE).contains(&n) {
            return Err(invalid("n_agents", n, "must be in 1..=28"));
        }
        Ok(Self {
            score,
            objective: Objective {
                classifier,
                digit,
                bands: band_bounds(n, SIDE),
            },
            masks: band_masks(n)?,
            sched: VpSchedule::default(),
            weights: ObjectiveWeights::mnist_reference(),
            train_steps: 24,
        })
    }

    /// Number of agents.
    pub fn n_agents(&self) -> usize {
        self.masks.len()
    }

    pub(crate) fn aggregate(&self, xs: &[Tensor]) -> candle_core::Result<Tensor> {
        let mut y = xs[0].broadcast_mul(&self.masks[0])?;
        for (x, m) in xs.iter().zip(&self.masks).skip(1) {
            y = y.add(&x.broadcast_mul(m)?)?;
        }
        Ok(y)
    }

    /// `grad_Y Phi(Y)` per sample (`(B, 784)`, detached) and `Phi` (`(B,)`).
    fn phi_grad(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        let v = Var::from_tensor(&y.detach())?;
        let (phi, _, _) = self.objective.eval(v.as_tensor())?;
        let grads = phi.sum_all()?.backward()?;
        let g = grads.get(v.as_tensor()).cloned().unwrap_or(y.zeros_like()?);
        Ok((g.detach(), phi.detach()))
    }

    /// The terms of the reverse dynamics at time `t`: the agents' states as used (`xin`, detached
    /// where no gradient is kept), their noise predictions `eps_theta(x_i, t)`, their controls `u_i`
    /// and the look-ahead objective `Phi(Yhat0)` (`(B,)`).
    ///
    /// `active`: for fictitious play, the agent whose path is differentiated (the others are detached).
    fn terms(
        &self,
        steer: &Steer<'_>,
        xs: &[Tensor],
        t: f64,
        track: bool,
        active: Option<usize>,
    ) -> Result<StepTerms> {
        let n = self.n_agents();
        let b = xs[0].dim(0)?;
        let (alpha, sigma2) = (self.sched.alpha(t), self.sched.sigma2(t));
        let sigma = sigma2.sqrt();
        let tt = Tensor::full(t as f32, (b, 1), &Device::Cpu)?;
        let keep = |i: usize| track && !matches!(active, Some(a) if a != i);
        let xin: Vec<Tensor> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| if keep(i) { x.clone() } else { x.detach() })
            .collect();
        // CDPS differentiates Phi(Yhat0) with respect to the states, through the score network
        let vars: Vec<Option<Var>> = match steer {
            Steer::Cdps { .. } => xin
                .iter()
                .map(|x| Var::from_tensor(&x.detach()).map(Some))
                .collect::<candle_core::Result<_>>()?,
            _ => vec![None; n],
        };
        let xuse: Vec<Tensor> = xin
            .iter()
            .zip(&vars)
            .map(|(x, v)| {
                v.as_ref()
                    .map(|v| v.as_tensor().clone())
                    .unwrap_or_else(|| x.clone())
            })
            .collect();
        let eps: Vec<Tensor> = xuse
            .iter()
            .map(|x| self.score.eps_clipped(x, &tt))
            .collect::<candle_core::Result<_>>()?;
        let xhat: Vec<Tensor> = xuse
            .iter()
            .zip(&eps)
            .map(|(x, e)| x.sub(&e.affine(sigma, 0.0)?)?.affine(1.0 / alpha, 0.0))
            .collect::<candle_core::Result<_>>()?;
        let yhat = self.aggregate(&xhat)?;
        let (phi_hat, _, _) = self.objective.eval(&yhat)?;
        let controls: Vec<Tensor> = match steer {
            Steer::Base => xs
                .iter()
                .map(|x| x.zeros_like())
                .collect::<candle_core::Result<_>>()?,
            Steer::Cdps { w } => {
                let grads = phi_hat.sum_all()?.backward()?;
                vars.iter()
                    .zip(&xuse)
                    .map(|(v, x)| {
                        let g = v
                            .as_ref()
                            .and_then(|v| grads.get(v.as_tensor()).cloned())
                            .unwrap_or(x.zeros_like()?);
                        g.detach().affine(-w, 0.0)
                    })
                    .collect::<candle_core::Result<_>>()?
            }
            Steer::Cmad(c) => {
                let (gy, _) = self.phi_grad(&yhat)?;
                let y = self.aggregate(&xin)?;
                let mut us = Vec::with_capacity(n);
                for i in 0..n {
                    let g = gy.broadcast_mul(&self.masks[i])?; // grad wrt xhat0^i, detached
                    let (xi, yi) = if keep(i) {
                        (xin[i].clone(), y.clone())
                    } else {
                        (xin[i].detach(), y.detach())
                    };
                    let u = c.nets[i].forward(&xi, &yi, &g, &tt)?;
                    us.push(if keep(i) || !track { u } else { u.detach() });
                }
                us
            }
        };
        Ok(StepTerms {
            xin,
            eps,
            controls,
            phi_hat,
        })
    }

    /// Per-particle reverse drifts `beta x_i / 2 + beta s_theta(x_i, t) + beta u_i` of every agent,
    /// the running-cost rate `gamma Phi(Yhat0)` and the control-energy rate
    /// `(lambda / N) sum_i beta |u_i|^2 / 2` (both `(B,)`), without gradients.
    pub fn drift_rates(
        &self,
        steer: &Steer<'_>,
        xs: &[Tensor],
        t: f64,
    ) -> Result<(Vec<Tensor>, Tensor, Tensor)> {
        let StepTerms {
            xin,
            eps,
            controls,
            phi_hat,
        } = self.terms(steer, xs, t, false, None)?;
        let (beta, sigma) = (self.sched.beta(t), self.sched.sigma2(t).sqrt());
        let lam_n = self.weights.lambda / self.n_agents() as f64;
        let mut energy = Tensor::zeros(xs[0].dim(0)?, DType::F32, &Device::Cpu)?;
        let mut drifts = Vec::with_capacity(xin.len());
        for ((x, e), u) in xin.iter().zip(&eps).zip(&controls) {
            energy = energy.add(&u.sqr()?.sum(1)?.affine(lam_n * 0.5 * beta, 0.0)?)?;
            drifts.push(
                x.affine(0.5 * beta, 0.0)?
                    .add(&e.affine(-beta / sigma, 0.0)?)?
                    .add(&u.affine(beta, 0.0)?)?
                    .detach(),
            );
        }
        Ok((
            drifts,
            phi_hat.affine(self.weights.gamma, 0.0)?.detach(),
            energy.detach(),
        ))
    }

    /// One reverse step for every agent; returns the new states and adds this step's running cost
    /// and energy (per sample, as `(B,)` tensors, graph kept when the inputs carry one).
    ///
    /// `active`: for fictitious play, the agent whose path is differentiated (the others are detached).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        steer: &Steer<'_>,
        xs: &[Tensor],
        t: f64,
        dt: f64,
        noise: &[Tensor],
        track: bool,
        active: Option<usize>,
    ) -> Result<(Vec<Tensor>, Tensor, Tensor)> {
        let n = self.n_agents();
        let b = xs[0].dim(0)?;
        let (beta, sigma) = (self.sched.beta(t), self.sched.sigma2(t).sqrt());
        let keep = |i: usize| track && !matches!(active, Some(a) if a != i);
        let StepTerms {
            xin,
            eps,
            controls,
            phi_hat,
        } = self.terms(steer, xs, t, track, active)?;
        let running = phi_hat.affine(self.weights.gamma * dt, 0.0)?;
        let lam_n = self.weights.lambda / n as f64;
        let mut energy = Tensor::zeros(b, DType::F32, &Device::Cpu)?;
        let mut next = Vec::with_capacity(n);
        for i in 0..n {
            let (x, e, u) = (&xin[i], &eps[i], &controls[i]);
            energy = energy.add(&u.sqr()?.sum(1)?.affine(lam_n * 0.5 * beta * dt, 0.0)?)?;
            // x + dt (beta x / 2 + beta s + beta u) + sqrt(beta dt) z, s = -eps / sigma
            let xn = x
                .affine(1.0 + 0.5 * beta * dt, 0.0)?
                .add(&e.affine(-beta * dt / sigma, 0.0)?)?
                .add(&u.affine(beta * dt, 0.0)?)?
                .add(&noise[i].affine((beta * dt).sqrt(), 0.0)?)?;
            next.push(if keep(i) { xn } else { xn.detach() });
        }
        let (running, energy) = if track {
            (running, energy)
        } else {
            (running.detach(), energy.detach())
        };
        Ok((next, running, energy))
    }

    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng, b: usize) -> Result<Vec<Tensor>> {
        (0..self.n_agents())
            .map(|_| crate::nn::randn(rng, b, PIXELS))
            .collect()
    }

    /// Sample `b` composed images with `steps` reverse Euler-Maruyama steps from `t = 1` to
    /// `t = 1e-3` (no gradient kept), seeded: the product-space state is integrated by the sde crate's
    /// ensemble runner with [`MnistDrift`] (`Noise::ScalarTime(sqrt(beta(1 - s)))`, runner time
    /// `s = 1 - t`), in chunks of 256 particles.
    pub fn sample(
        &self,
        steer: &Steer<'_>,
        b: usize,
        steps: usize,
        seed: u64,
    ) -> Result<RunOutput> {
        let n = self.n_agents();
        let nd = n * PIXELS;
        let mut ens = mfpid_sde::Ensemble::sample(b, nd, seed, |rng, x| {
            for v in x.iter_mut() {
                *v = rng.sample(StandardNormal);
            }
        })?;
        let grid = mfpid_sde::TimeGrid::uniform(0.0, 1.0 - T_END, steps)?;
        let sched = self.sched;
        let noise =
            mfpid_sde::Noise::ScalarTime(Arc::new(move |s: f64| sched.beta(1.0 - s).sqrt()));
        let mut drift = MnistDrift::new(self, steer, grid.times().to_vec(), b);
        let cfg = mfpid_sde::RunConfig::new(mfpid_sde::Scheme::EulerMaruyama, seed ^ 0x5eed);
        let ran = mfpid_sde::run(&mut drift, &noise, &grid, &mut ens, &cfg, &mut []);
        let acc = drift.finish()?; // a network failure inside the drift first, then the runner's
        ran?;
        let x = ens.into_vec();
        let xs: Vec<Tensor> = (0..n)
            .map(|i| agent_tensor(&x, nd, i))
            .collect::<Result<_>>()?;
        let y = self.aggregate(&xs)?;
        let (phi, _, seam) = self.objective.eval(&y)?;
        let terminal: Vec<f64> = phi.to_vec1::<f32>()?.iter().map(|&v| v as f64).collect();
        if terminal.iter().any(|v| !v.is_finite()) {
            return Err(ComposeError::NonFinite(
                "terminal cost of composed samples".into(),
            ));
        }
        Ok(RunOutput {
            images: y.flatten_all()?.to_vec1::<f32>()?,
            terminal,
            seam: seam.to_vec1::<f32>()?.iter().map(|&v| v as f64).collect(),
            running: acc.iter().map(|a| a[0]).collect(),
            energy: acc.iter().map(|a| a[1]).collect(),
        })
    }
}

/// End of the reverse time interval, `t = 1e-3`.
pub(crate) const T_END: f64 = 1e-3;

/// Agent `i`'s images `(B, 784)` (f32) from product-space states `x` (`B x nd`, f64).
pub(crate) fn agent_tensor(x: &[f64], nd: usize, i: usize) -> Result<Tensor> {
    let b = x.len() / nd;
    let mut v = Vec::with_capacity(b * PIXELS);
    for p in x.chunks_exact(nd) {
        v.extend(p[i * PIXELS..(i + 1) * PIXELS].iter().map(|&a| a as f32));
    }
    Ok(Tensor::from_vec(v, (b, PIXELS), &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn seam_has_the_jump_and_the_second_difference_terms() {
        // N = 2 (rows 0-13 / 14-27): upper band rows r -> a r, lower band rows r -> c; the boundary
        // e = 13: jump Y[13] - Y[14] = 13 a - c, second difference (Y[13] - Y[12]) - (Y[15] - Y[14]) = a
        let obj = crate::nn::fresh_objective(1).unwrap();
        let o = Objective {
            classifier: &obj.model,
            digit: 0,
            bands: band_bounds(2, SIDE),
        };
        let (a, c) = (0.02f32, -0.3f32);
        let img: Vec<f32> = (0..PIXELS)
            .map(|p| {
                let r = p / SIDE;
                if r < 14 {
                    a * r as f32
                } else {
                    c
                }
            })
            .collect();
        let y = Tensor::from_vec(img, (1, PIXELS), &Device::Cpu).unwrap();
        let (_, _, seam) = o.eval(&y).unwrap();
        let rho = |x: f64| (x * x + 1e-6).sqrt();
        let want = rho(13.0 * a as f64 - c as f64) + SEAM_SECOND_DIFF * rho(a as f64);
        let got = seam.to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn runner_drift_matches_the_bptt_step() {
        // the drift handed to the sde runner and the BPTT rollout's step are the same dynamics:
        // step(x, noise = 0) = x + dt * drift, running = gamma Phi dt, energy = energy rate * dt
        let cfg = ScoreNetConfig {
            hidden: 32,
            blocks: 1,
            n_freq: 4,
            latent: 8,
        };
        let sv = crate::nn::fresh_score(5, cfg, None).unwrap();
        let score = frozen_score(&sv.vars, cfg).unwrap();
        let obj = crate::nn::fresh_objective(6).unwrap();
        let p = MnistProblem::new(&score, &obj.model, 3, 2).unwrap();
        let controls = Controls::new(2, ControlConfig::pixel(8), 4, None).unwrap();
        for (_, v) in controls.vars[1].data().lock().unwrap().iter() {
            v.set(&v.as_tensor().affine(1.0, 0.01).unwrap()).unwrap(); // a non-zero control
        }
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let xs = p.draw(&mut rng, 3).unwrap();
        let zeros: Vec<Tensor> = xs.iter().map(|x| x.zeros_like().unwrap()).collect();
        let (t, dt) = (0.4, 0.01);
        for steer in [Steer::Base, Steer::Cdps { w: 5.0 }, Steer::Cmad(&controls)] {
            let (next, run, en) = p.step(&steer, &xs, t, dt, &zeros, false, None).unwrap();
            let (drift, run_rate, en_rate) = p.drift_rates(&steer, &xs, t).unwrap();
            for i in 0..2 {
                let a = next[i].flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let x = xs[i].flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let d = drift[i].flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for j in 0..a.len() {
                    let want = x[j] as f64 + dt * d[j] as f64;
                    assert!((a[j] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()));
                }
            }
            let (r, rr) = (
                run.to_vec1::<f32>().unwrap(),
                run_rate.to_vec1::<f32>().unwrap(),
            );
            let (e, er) = (
                en.to_vec1::<f32>().unwrap(),
                en_rate.to_vec1::<f32>().unwrap(),
            );
            for k in 0..3 {
                assert!((r[k] as f64 - rr[k] as f64 * dt).abs() < 1e-5 * (1.0 + r[k].abs() as f64));
                assert!((e[k] as f64 - er[k] as f64 * dt).abs() < 1e-5 * (1.0 + e[k].abs() as f64));
            }
            if let Steer::Cmad(_) = steer {
                assert!(er.iter().all(|&v| v > 0.0));
            }
        }
        // the runner-based sampler accumulates the same kind of costs and is reproducible
        let a = p.sample(&Steer::Cdps { w: 5.0 }, 3, 4, 7).unwrap();
        let b = p.sample(&Steer::Cdps { w: 5.0 }, 3, 4, 7).unwrap();
        assert_eq!(a.images, b.images);
        assert!(a.running.iter().all(|v| v.is_finite() && *v > 0.0));
        assert!(a.energy.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn masks_partition_the_image() {
        for n in [2, 3] {
            let m = band_masks(n).unwrap();
            let mut sum = m[0].clone();
            for t in &m[1..] {
                sum = sum.add(t).unwrap();
            }
            assert!(sum
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|&v| v == 1.0));
        }
    }
}
