//! Cooperative composition on MNIST: `N` copies of the pre-trained score network paint the horizontal
//! bands of one image (split-mask aggregator), steered toward a target digit of the objective
//! classifier by CDPS (per-step gradient guidance) or by learned CMAD controls (joint BPTT or
//! fictitious play). Tensors are `f32` (candle); costs are accumulated per sample and reported in `f64`.
//!
//! Per reverse step from `t` to `t - dt` (Euler-Maruyama, `beta = beta(t)`):
//! `x_i += dt (beta x_i / 2 + beta s_theta(x_i, t) + beta u_i) + sqrt(beta dt) z_i`, with
//! `s_theta = -eps_theta / sigma_t`, Tweedie `xhat0_i = (x_i - sigma_t eps_theta) / alpha_t`,
//! `Y = sum_i M_i ⊙ x_i`, cost `J = (lambda/N) sum beta |u|^2 dt / 2 + gamma sum Phi(Yhat0) dt + Phi(Y_0)`,
//! `Phi = CE(C(Y), digit) + Seam(Y)`.

use crate::error::{invalid, ComposeError, Result};
use crate::gmm::band_bounds;
use crate::idx::{PIXELS, SIDE};
use crate::nn::{time_features, CnnClassifier, MlpClassifier, ScoreNet, ScoreNetConfig};
use crate::vp::{reverse_grid, VpSchedule};
use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{Linear, Optimizer, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// The objective `Phi(Y) = -log softmax(C(Y))[digit] + Seam(Y)` on `N` bands.
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
        for w in self.bands.windows(2) {
            // rows either side of the boundary between band w[0] and band w[1]
            let (ra, rb) = (w[0].1 - 1, w[1].0);
            let diff = img
                .narrow(1, ra, 1)?
                .sub(&img.narrow(1, rb, 1)?)?
                .squeeze(1)?;
            let rho = diff.sqr()?.affine(1.0, 1e-6)?.sqrt()?; // rho(x) = sqrt(x^2 + 1e-6)
            seam = seam.add(&rho.mean(1)?)?;
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

/// Per-agent CMAD control network `u_i = net([x_i, Y_t, grad_{xhat0^i} Phi (detached), time features])`,
/// two SiLU hidden layers, zero-initialised output layer (so `u = 0` before training).
pub struct ControlNet {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    n_freq: usize,
}

impl ControlNet {
    /// Build with `hidden` units (parameters registered in `vb`; the output layer starts at zero).
    pub fn new(vb: VarBuilder, hidden: usize, n_freq: usize) -> candle_core::Result<Self> {
        let w =
            vb.pp("l3")
                .get_with_hints((PIXELS, hidden), "weight", candle_nn::Init::Const(0.0))?;
        let b = vb
            .pp("l3")
            .get_with_hints(PIXELS, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self {
            l1: candle_nn::linear(3 * PIXELS + 2 * n_freq, hidden, vb.pp("l1"))?,
            l2: candle_nn::linear(hidden, hidden, vb.pp("l2"))?,
            l3: Linear::new(w, Some(b)),
            n_freq,
        })
    }

    /// `u` `(B, 784)` from `x`, `y`, `g` (each `(B, 784)`) and `t` `(B, 1)`.
    pub fn forward(
        &self,
        x: &Tensor,
        y: &Tensor,
        g: &Tensor,
        t: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let z = Tensor::cat(&[x, y, g, &time_features(t, self.n_freq)?], 1)?;
        self.l3
            .forward(&self.l2.forward(&self.l1.forward(&z)?.silu()?)?.silu()?)
    }
}

/// The agents' controls.
pub struct Controls {
    /// One network per agent.
    pub nets: Vec<ControlNet>,
    /// Their parameters, one map per agent.
    pub vars: Vec<VarMap>,
}

impl Controls {
    /// Fresh zero-output controls for `n` agents (seeded hidden layers).
    pub fn new(n: usize, hidden: usize, seed: u64) -> Result<Self> {
        let mut nets = Vec::new();
        let mut vars = Vec::new();
        for i in 0..n {
            let vm = VarMap::new();
            nets.push(ControlNet::new(
                VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
                hidden,
                16,
            )?);
            crate::nn::reseed(&vm, seed + i as u64)?;
            // keep the output layer at zero after reseeding
            for (name, v) in vm
                .data()
                .lock()
                .map_err(|_| ComposeError::NonFinite("lock".into()))?
                .iter()
            {
                if name.starts_with("l3.") {
                    v.set(&v.as_tensor().zeros_like()?)?;
                }
            }
            vars.push(vm);
        }
        Ok(Self { nets, vars })
    }
}

/// How the agents are steered.
pub enum Steer<'a> {
    /// No control.
    Base,
    /// DPS-style guidance with weight `w` (gradient through the score network).
    Cdps {
        /// guidance weight (reference 100)
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
    /// Control-energy weight (reference 10).
    pub lambda: f64,
    /// Running-cost weight (reference 1).
    pub gamma: f64,
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
    /// Problem for `digit` with `n` agents and the reference weights `lambda = 10`, `gamma = 1`.
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
            lambda: 10.0,
            gamma: 1.0,
        })
    }

    /// Number of agents.
    pub fn n_agents(&self) -> usize {
        self.masks.len()
    }

    fn aggregate(&self, xs: &[Tensor]) -> candle_core::Result<Tensor> {
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
        let lam_n = self.lambda / self.n_agents() as f64;
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
            phi_hat.affine(self.gamma, 0.0)?.detach(),
            energy.detach(),
        ))
    }

    /// One reverse step for every agent; returns the new states and adds this step's running cost
    /// and energy (per sample, as `(B,)` tensors, graph kept when the inputs carry one).
    ///
    /// `active`: for fictitious play, the agent whose path is differentiated (the others are detached).
    #[allow(clippy::too_many_arguments)]
    fn step(
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
        let running = phi_hat.affine(self.gamma * dt, 0.0)?;
        let lam_n = self.lambda / n as f64;
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

    fn draw(&self, rng: &mut ChaCha8Rng, b: usize) -> Result<Vec<Tensor>> {
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

    /// Train CMAD controls by back-propagation through time over `cfg.k_steps` steps.
    /// Returns the controls and the batch-mean `J` of every optimiser step.
    pub fn train(&self, cfg: &MnistCmadConfig) -> Result<(Controls, Vec<f64>)> {
        if cfg.batch == 0 || cfg.k_steps == 0 {
            return Err(invalid(
                "batch/k_steps",
                format!("{}/{}", cfg.batch, cfg.k_steps),
                "must be >= 1",
            ));
        }
        let n = self.n_agents();
        let controls = Controls::new(n, cfg.hidden, cfg.seed)?;
        let grid = reverse_grid(cfg.k_steps, 1e-3)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x00c0_ffee);
        let params = candle_nn::ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut history = Vec::with_capacity(cfg.iters);
        // joint: one optimiser over every agent; fictitious: one per agent, agents take turns
        let groups: Vec<(Option<usize>, Vec<Var>)> = match cfg.fictitious_inner {
            None => vec![(
                None,
                controls.vars.iter().flat_map(|v| v.all_vars()).collect(),
            )],
            Some(_) => (0..n)
                .map(|i| (Some(i), controls.vars[i].all_vars()))
                .collect(),
        };
        let mut opts = groups
            .iter()
            .map(|(_, v)| candle_nn::AdamW::new(v.clone(), params.clone()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let inner = cfg.fictitious_inner.unwrap_or(1).max(1);
        let mut done = 0;
        'outer: loop {
            for (g, (active, vars)) in groups.iter().enumerate() {
                for _ in 0..inner {
                    if done == cfg.iters {
                        break 'outer;
                    }
                    let mut xs = self.draw(&mut rng, cfg.batch)?;
                    let mut total = Tensor::zeros(cfg.batch, DType::F32, &Device::Cpu)?;
                    for w in grid.windows(2) {
                        let noise = self.draw(&mut rng, cfg.batch)?;
                        let (next, r, e) = self.step(
                            &Steer::Cmad(&controls),
                            &xs,
                            w[0],
                            w[0] - w[1],
                            &noise,
                            true,
                            *active,
                        )?;
                        xs = next;
                        total = total.add(&r)?.add(&e)?;
                    }
                    let (phi, _, _) = self.objective.eval(&self.aggregate(&xs)?)?;
                    let loss = total.add(&phi)?.mean_all()?;
                    let mut grads = loss.backward()?;
                    // global gradient-norm clip
                    let mut sq = 0.0f64;
                    for v in vars {
                        if let Some(g) = grads.get(v.as_tensor()) {
                            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
                        }
                    }
                    let scale = if sq.sqrt() > cfg.clip {
                        cfg.clip / sq.sqrt()
                    } else {
                        1.0
                    };
                    if scale < 1.0 {
                        for v in vars {
                            if let Some(g) = grads.remove(v.as_tensor()) {
                                grads.insert(v.as_tensor(), g.affine(scale, 0.0)?);
                            }
                        }
                    }
                    opts[g].step(&grads)?;
                    let l = loss.to_scalar::<f32>()? as f64;
                    if !l.is_finite() {
                        return Err(ComposeError::NonFinite(format!(
                            "CMAD loss at iteration {done}"
                        )));
                    }
                    history.push(l);
                    done += 1;
                }
            }
        }
        Ok((controls, history))
    }
}

/// End of the reverse time interval, `t = 1e-3`.
const T_END: f64 = 1e-3;

/// Agent `i`'s images `(B, 784)` (f32) from product-space states `x` (`B x nd`, f64).
fn agent_tensor(x: &[f64], nd: usize, i: usize) -> Result<Tensor> {
    let b = x.len() / nd;
    let mut v = Vec::with_capacity(b * PIXELS);
    for p in x.chunks_exact(nd) {
        v.extend(p[i * PIXELS..(i + 1) * PIXELS].iter().map(|&a| a as f32));
    }
    Ok(Tensor::from_vec(v, (b, PIXELS), &Device::Cpu)?)
}

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

/// CMAD training settings on MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MnistCmadConfig {
    /// Trajectories per optimiser step.
    pub batch: usize,
    /// BPTT steps `K` (reference 25).
    pub k_steps: usize,
    /// Optimiser steps in total.
    pub iters: usize,
    /// Adam learning rate (reference 1e-4).
    pub lr: f64,
    /// Gradient-norm clip (reference 1.0).
    pub clip: f64,
    /// Hidden width of the control networks.
    pub hidden: usize,
    /// `None`: joint; `Some(m)`: fictitious play with `m` steps per agent turn.
    pub fictitious_inner: Option<usize>,
    /// Seed.
    pub seed: u64,
}

impl Default for MnistCmadConfig {
    fn default() -> Self {
        Self {
            batch: 32,
            k_steps: 25,
            iters: 200,
            lr: 1e-4,
            clip: 1.0,
            hidden: 256,
            fictitious_inner: None,
            seed: 3,
        }
    }
}

/// Fréchet distance `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})` between Gaussian fits of two
/// feature sets (`n_a x f` and `n_b x f`, row-major, f64).
pub fn frechet_distance(a: &[f64], b: &[f64], f: usize) -> Result<f64> {
    let stats = |x: &[f64]| -> Result<(Vec<f64>, Vec<f64>)> {
        let n = x.len() / f;
        if n < 2 || !x.len().is_multiple_of(f) {
            return Err(invalid("features", x.len(), "need >= 2 rows of f features"));
        }
        let mut mu = vec![0.0; f];
        for r in x.chunks(f) {
            mu.iter_mut().zip(r).for_each(|(m, v)| *m += v / n as f64);
        }
        let mut s = vec![0.0; f * f];
        for r in x.chunks(f) {
            for i in 0..f {
                let di = r[i] - mu[i];
                for j in i..f {
                    s[i * f + j] += di * (r[j] - mu[j]) / (n as f64 - 1.0);
                }
            }
        }
        for i in 0..f {
            for j in 0..i {
                s[i * f + j] = s[j * f + i];
            }
        }
        Ok((mu, s))
    };
    let (ma, sa) = stats(a)?;
    let (mb, sb) = stats(b)?;
    // tr (Sa Sb)^{1/2} = sum sqrt(eig(Sa^{1/2} Sb Sa^{1/2}))
    let (ea, va) = sym_eigen(&sa, f);
    let mut half = vec![0.0; f * f];
    for i in 0..f {
        for j in 0..f {
            half[i * f + j] = (0..f)
                .map(|k| va[i * f + k] * ea[k].max(0.0).sqrt() * va[j * f + k])
                .sum();
        }
    }
    let m = matmul(&matmul(&half, &sb, f), &half, f);
    let (em, _) = sym_eigen(&m, f);
    let tr_sqrt: f64 = em.iter().map(|e| e.max(0.0).sqrt()).sum();
    let dmu: f64 = ma.iter().zip(&mb).map(|(x, y)| (x - y).powi(2)).sum();
    let tr: f64 = (0..f).map(|i| sa[i * f + i] + sb[i * f + i]).sum();
    Ok(dmu + tr - 2.0 * tr_sqrt)
}

fn matmul(a: &[f64], b: &[f64], f: usize) -> Vec<f64> {
    let mut c = vec![0.0; f * f];
    for i in 0..f {
        for k in 0..f {
            let aik = a[i * f + k];
            for j in 0..f {
                c[i * f + j] += aik * b[k * f + j];
            }
        }
    }
    c
}

/// Eigen-decomposition of a symmetric `f x f` matrix by cyclic Jacobi rotations:
/// returns eigenvalues and eigenvectors (column `k` of the row-major matrix is vector `k`).
pub fn sym_eigen(s: &[f64], f: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = s.to_vec();
    let mut v = vec![0.0; f * f];
    (0..f).for_each(|i| v[i * f + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..f)
            .flat_map(|i| (0..f).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * f + j].powi(2))
            .sum();
        let scale: f64 = (0..f)
            .map(|i| a[i * f + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..f {
            for q in p + 1..f {
                let apq = a[p * f + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * f + q] - a[p * f + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * c;
                for k in 0..f {
                    let (akp, akq) = (a[k * f + p], a[k * f + q]);
                    a[k * f + p] = c * akp - sn * akq;
                    a[k * f + q] = sn * akp + c * akq;
                }
                for k in 0..f {
                    let (apk, aqk) = (a[p * f + k], a[q * f + k]);
                    a[p * f + k] = c * apk - sn * aqk;
                    a[q * f + k] = sn * apk + c * aqk;
                }
                for k in 0..f {
                    let (vkp, vkq) = (v[k * f + p], v[k * f + q]);
                    v[k * f + p] = c * vkp - sn * vkq;
                    v[k * f + q] = sn * vkp + c * vkq;
                }
            }
        }
    }
    ((0..f).map(|i| a[i * f + i]).collect(), v)
}

/// Evaluation-classifier features `(n x 128)` of images `(n x 784)` as f64, in batches of 500.
pub fn eval_features(cnn: &CnnClassifier, images: &[f32]) -> Result<Vec<f64>> {
    let n = images.len() / PIXELS;
    let mut out = Vec::with_capacity(n * 128);
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        let x = Tensor::from_slice(
            &images[start * PIXELS..end * PIXELS],
            (end - start, PIXELS),
            &Device::Cpu,
        )?;
        out.extend(
            cnn.features(&x)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .map(|&v| v as f64),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigen_and_frechet() {
        let s = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let (e, v) = sym_eigen(&s, 3);
        for k in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| s[i * 3 + j] * v[j * 3 + k]).sum();
                assert!((av - e[k] * v[i * 3 + k]).abs() < 1e-10);
            }
        }
        assert!((e.iter().sum::<f64>() - 9.0).abs() < 1e-12);
        // identical sets: distance 0; shifted by c in every coordinate: f c^2
        let a: Vec<f64> = (0..400)
            .map(|k| ((k * 37 % 101) as f64 / 10.0).sin())
            .collect();
        assert!(frechet_distance(&a, &a, 4).unwrap().abs() < 1e-9);
        let b: Vec<f64> = a.iter().map(|v| v + 0.5).collect();
        assert!((frechet_distance(&a, &b, 4).unwrap() - 4.0 * 0.25).abs() < 1e-9);
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
        let controls = Controls::new(2, 8, 4).unwrap();
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
