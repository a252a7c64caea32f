//! The ensemble runner: steps `B x d` particles over a time grid, in parallel, reproducibly.

use crate::cancel::CancelToken;
use crate::comm::{Communicator, SingleProcess};
use crate::drift::Drift;
use crate::ensemble::Ensemble;
use crate::error::SdeError;
use crate::grid::TimeGrid;
use crate::noise::Noise;
use crate::observe::{Observer, StepView};
use crate::rng::{block_normals, BlockNormals, DOMAIN_INCREMENTS, RNG_BLOCK};
use crate::scheme::{self, OdeScheme, Scheme};
use rayon::prelude::*;

/// How to run an ensemble.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    /// Integration scheme (ignored by [`run_ode`]).
    pub scheme: Scheme,
    /// Seed of the Brownian increments.
    pub seed: u64,
    /// Particles per parallel work item; a positive multiple of [`RNG_BLOCK`]. Does not change results.
    pub chunk_size: usize,
    /// Threads: `None` uses rayon's global pool (`RAYON_NUM_THREADS`), `Some(n)` a dedicated pool of `n`.
    /// Does not change results.
    pub threads: Option<usize>,
    /// Stop flag, read at the start of every step (see [`CancelToken`]); `None`: run to the end.
    /// Not serialised.
    #[serde(skip)]
    pub cancel: Option<CancelToken>,
    /// Steps a chunk takes while it is in cache before the next chunk moves (time tiles), in an
    /// Euler-Maruyama run with additive noise ([`run`], or a lockstep run, [`crate::lockstep`])
    /// whose drifts [fork](crate::Drift::fork) and whose observers all
    /// [tile](crate::Observer::tiles); 1: step by step. Does not change results; the stop flag
    /// is then read once per tile.
    #[serde(default = "default_tile_steps")]
    pub tile_steps: usize,
}

/// [`RunConfig::tile_steps`] by default: eight steps per tile.
fn default_tile_steps() -> usize {
    8
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            scheme: Scheme::EulerMaruyama,
            seed: 0,
            chunk_size: 256,
            threads: None,
            cancel: None,
            tile_steps: default_tile_steps(),
        }
    }
}

impl RunConfig {
    /// Default configuration with the given scheme and seed.
    pub fn new(scheme: Scheme, seed: u64) -> Self {
        Self {
            scheme,
            seed,
            ..Self::default()
        }
    }
}

/// Counts from a finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// Steps taken.
    pub steps: usize,
    /// Batch drift evaluations over the whole ensemble (stages x steps).
    pub drift_passes: usize,
}

/// Integrate `dx = b dt + g dW` over `grid` in place, calling `observers` at every grid time.
///
/// ```
/// use mfpid_sde::{run, Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid, observe::Moments};
/// let mut drift = LinearDrift::isotropic(1, 1.0, 0.0);
/// let grid = TimeGrid::uniform(0.0, 1.0, 100).unwrap();
/// let mut ens = Ensemble::filled(4096, &[2.0]).unwrap();
/// let mut moments = Moments::new(100, false);
/// run(&mut drift, &Noise::Scalar(1.0), &grid, &mut ens, &RunConfig::new(Scheme::ExactOu, 1), &mut [&mut moments]).unwrap();
/// let m = moments.last().unwrap().mean[0];
/// assert!((m - 2.0 * (-1.0f64).exp()).abs() < 0.05);
/// ```
pub fn run<D: Drift + ?Sized>(
    drift: &mut D,
    noise: &Noise,
    grid: &TimeGrid,
    ens: &mut Ensemble,
    cfg: &RunConfig,
    observers: &mut [&mut dyn Observer],
) -> Result<RunSummary, SdeError> {
    run_with_comm(drift, noise, grid, ens, cfg, observers, &SingleProcess)
}

/// [`run`] with an explicit communicator for the observers' reductions.
pub fn run_with_comm<D: Drift + ?Sized>(
    drift: &mut D,
    noise: &Noise,
    grid: &TimeGrid,
    ens: &mut Ensemble,
    cfg: &RunConfig,
    observers: &mut [&mut dyn Observer],
    comm: &dyn Communicator,
) -> Result<RunSummary, SdeError> {
    if tiles(drift, noise, cfg, observers) {
        // Euler-Maruyama with additive noise is a lockstep run of one member (the same bits),
        // which takes time tiles
        let mut drift = drift;
        let mut members = [crate::lockstep::Member {
            drift: &mut drift,
            ens,
            observers: observers
                .iter_mut()
                .map(|o| &mut **o as &mut dyn Observer)
                .collect(),
        }];
        return crate::lockstep::run_lockstep_with_comm(&mut members, noise, grid, cfg, comm);
    }
    // the runner is compiled once, on `dyn Drift` (one virtual call per chunk of particles),
    // instead of once per drift type in every crate that runs one
    let mut drift = drift;
    let mut r = Runner::new(&mut drift, grid, ens, cfg, comm)?;
    noise.validate(r.d)?;
    check_scheme(cfg.scheme, noise, r.drift.as_linear().is_some())?;
    r.install(cfg.threads, |r| r.sde(noise, cfg.scheme, observers))?
}

/// `Err` for a tile of no steps ([`RunConfig::tile_steps`] must be at least 1).
pub(crate) fn check_tile(cfg: &RunConfig) -> Result<(), SdeError> {
    if cfg.tile_steps == 0 {
        return Err(SdeError::Invalid {
            field: "tile_steps",
            value: "0".into(),
            reason: "must be at least 1 (1: step by step)",
        });
    }
    Ok(())
}

/// Whether a run can go in time tiles ([`RunConfig::tile_steps`]): Euler-Maruyama, additive
/// noise, a drift that [forks](Drift::fork) and observers that all [tile](Observer::tiles).
fn tiles<D: Drift + ?Sized>(
    drift: &D,
    noise: &Noise,
    cfg: &RunConfig,
    observers: &mut [&mut dyn Observer],
) -> bool {
    cfg.scheme == Scheme::EulerMaruyama
        && noise.is_additive()
        && cfg.tile_steps > 1
        && observers
            .iter_mut()
            .all(|o| o.tiles() && o.blocks().is_some())
        && drift.fork().is_some()
}

/// Integrate the ODE `dx/dt = b(t, x)` (e.g. a probability-flow ODE) over `grid` in place.
pub fn run_ode<D: Drift + ?Sized>(
    drift: &mut D,
    grid: &TimeGrid,
    ens: &mut Ensemble,
    scheme: OdeScheme,
    cfg: &RunConfig,
    observers: &mut [&mut dyn Observer],
) -> Result<RunSummary, SdeError> {
    let mut drift = drift;
    let mut r = Runner::new(&mut drift, grid, ens, cfg, &SingleProcess)?;
    r.install(cfg.threads, |r| r.ode(scheme, observers))?
}

fn check_scheme(scheme: Scheme, noise: &Noise, linear: bool) -> Result<(), SdeError> {
    let unsupported = |why| {
        Err(SdeError::Unsupported {
            scheme: scheme.name(),
            noise: noise.kind(),
            why,
        })
    };
    match scheme {
        Scheme::EulerMaruyama => Ok(()),
        Scheme::Heun | Scheme::Sra1 if !noise.is_additive() => {
            unsupported("additive noise only; use Milstein or Euler-Maruyama")
        }
        Scheme::Milstein if matches!(noise, Noise::Matrix(_)) => {
            unsupported("diagonal noise only; use Euler-Maruyama")
        }
        Scheme::ExactOu if !matches!(noise, Noise::Scalar(_) | Noise::Diagonal(_)) => {
            unsupported("constant additive noise only")
        }
        Scheme::ExactOu if !linear => Err(SdeError::Invalid {
            field: "scheme",
            value: "ExactOu".into(),
            reason: "the exact OU step needs a LinearDrift (Drift::as_linear returned None)",
        }),
        _ => Ok(()),
    }
}

struct Runner<'a> {
    drift: &'a mut dyn Drift,
    grid: &'a TimeGrid,
    x: &'a mut [f64],
    d: usize,
    offset: usize,
    chunk: usize,
    total: usize,
    comm: &'a dyn Communicator,
    /// the normal sequence of every particle block (order of the draws: [`crate::rng`])
    rngs: Vec<BlockNormals>,
    /// per-chunk scratch handed to the drift, and per-chunk noise scratch
    scratch: Vec<Vec<f64>>,
    nscratch: Vec<Vec<f64>>,
    /// per-chunk normals of one block for one step (`RNG_BLOCK x` draws per particle)
    zs: Vec<Vec<f64>>,
    /// the fused Euler-Maruyama/Milstein pass: chunks per work group, and each group's drift
    /// buffer (one chunk, `chunk x d`, reused chunk after chunk; empty Vecs when not fused)
    chunks_per_group: usize,
    fgroup: Vec<Vec<f64>>,
    /// stage buffers (B x d); allocated once
    f0: Vec<f64>,
    f1: Vec<f64>,
    xs: Vec<f64>,
    dw: Vec<f64>,
    dz: Vec<f64>,
    /// additive noise diagonals at stage times (length d)
    g0: Vec<f64>,
    g1: Vec<f64>,
    /// exact-OU decay factors per coordinate (length d)
    decay: Vec<f64>,
    prepared: Option<f64>,
    passes: usize,
    cancel: Option<CancelToken>,
}

impl<'a> Runner<'a> {
    fn new(
        drift: &'a mut dyn Drift,
        grid: &'a TimeGrid,
        ens: &'a mut Ensemble,
        cfg: &RunConfig,
        comm: &'a dyn Communicator,
    ) -> Result<Self, SdeError> {
        let (b, d, offset) = (ens.n_particles(), ens.dim(), ens.offset());
        if drift.dim() != d {
            return Err(SdeError::DimensionMismatch {
                what: "drift dimension vs ensemble dimension",
                expected: d,
                got: drift.dim(),
            });
        }
        if cfg.chunk_size == 0 || !cfg.chunk_size.is_multiple_of(RNG_BLOCK) {
            return Err(SdeError::Invalid {
                field: "chunk_size",
                value: cfg.chunk_size.to_string(),
                reason: "must be a positive multiple of 64",
            });
        }
        if cfg.threads == Some(0) {
            return Err(SdeError::Invalid {
                field: "threads",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        check_tile(cfg)?;
        let mut total_buf = [b as f64];
        comm.all_reduce_sum(&mut total_buf);
        let n_chunks = b.div_ceil(cfg.chunk_size);
        Ok(Self {
            drift,
            grid,
            x: ens.as_mut_slice(),
            d,
            offset,
            chunk: cfg.chunk_size,
            total: total_buf[0] as usize,
            comm,
            rngs: block_normals(cfg.seed, DOMAIN_INCREMENTS, offset, b),
            scratch: vec![Vec::new(); n_chunks],
            nscratch: vec![Vec::new(); n_chunks],
            zs: vec![Vec::new(); n_chunks],
            chunks_per_group: 1,
            fgroup: vec![Vec::new(); n_chunks],
            f0: vec![0.0; b * d],
            f1: Vec::new(),
            xs: Vec::new(),
            dw: Vec::new(),
            dz: Vec::new(),
            g0: vec![0.0; d],
            g1: vec![0.0; d],
            decay: vec![0.0; d],
            prepared: None,
            passes: 0,
            cancel: cfg.cancel.clone(),
        })
    }

    fn install<T: Send>(
        &mut self,
        threads: Option<usize>,
        f: impl FnOnce(&mut Self) -> T + Send,
    ) -> Result<T, SdeError>
    where
        Self: Send,
    {
        in_pool(threads, || f(self))
    }

    fn prepare(&mut self, t: f64) -> Result<(), SdeError> {
        if self.prepared != Some(t) {
            self.drift
                .prepare(t)
                .map_err(|source| SdeError::Prepare { t, source })?;
            self.prepared = Some(t);
        }
        Ok(())
    }

    /// `out = b(t, xin)` over the ensemble, then check finiteness.
    fn drift_pass(
        &mut self,
        step: usize,
        t: f64,
        stage_input: Stage,
        out: Out,
    ) -> Result<(), SdeError> {
        self.prepare(t)?;
        self.passes += 1;
        let xin: &[f64] = match stage_input {
            Stage::X => self.x,
            Stage::Xs => &self.xs,
        };
        let out: &mut [f64] = match out {
            Out::F0 => &mut self.f0,
            Out::F1 => &mut self.f1,
        };
        let at = ChunkLayout {
            d: self.d,
            chunk: self.chunk,
            offset: self.offset,
        };
        eval_drift_chunks(&*self.drift, at, step, t, xin, out, &mut self.scratch)
    }

    fn observe(
        &self,
        observers: &mut [&mut dyn Observer],
        step: usize,
        t: f64,
        h: f64,
        with_drift: bool,
    ) {
        let view = StepView {
            step,
            t,
            h,
            x: self.x,
            drift: if with_drift { Some(&self.f0) } else { None },
            last: step == self.grid.n_steps(),
            dim: self.d,
            offset: self.offset,
            total_particles: self.total,
            comm: self.comm,
        };
        for o in observers.iter_mut() {
            o.observe(&view);
        }
    }

    fn check_cancel(&self, step: usize, t: f64) -> Result<(), SdeError> {
        check_cancel(self.cancel.as_ref(), self.comm, step, t)
    }

    /// Locate the first non-finite state entry (called only after a pass reported one).
    fn nonfinite_state(&self, step: usize, t: f64) -> SdeError {
        let k = self.x.iter().position(|v| !v.is_finite()).unwrap_or(0);
        SdeError::NonFiniteState {
            step,
            t,
            particle: self.offset + k / self.d,
            coord: k % self.d,
            value: self.x[k],
        }
    }

    fn sde(
        &mut self,
        noise: &Noise,
        scheme: Scheme,
        observers: &mut [&mut dyn Observer],
    ) -> Result<RunSummary, SdeError> {
        let (b, d) = (self.x.len() / self.d, self.d);
        let m = noise.noise_dim(d);
        match scheme {
            Scheme::Heun | Scheme::Sra1 => {
                self.f1 = vec![0.0; b * d];
                self.xs = vec![0.0; b * d];
                self.dw = vec![0.0; b * d];
                self.dz = vec![0.0; b * d];
            }
            _ => {}
        }
        // per-chunk noise scratch: g and g' (state-dependent diagonal), g (general matrix);
        // the additive kinds need none (a d x m buffer would cost O(d²) memory for nothing)
        let scratch = match noise {
            Noise::DiagonalState(_) => 2 * d,
            Noise::Matrix(_) => d * m,
            _ => 0,
        };
        for s in self.nscratch.iter_mut() {
            s.resize(scratch, 0.0);
        }
        // one block's normals of a step: r per particle (table in `crate::rng`)
        let r = draws_per_particle(scheme, noise, d);
        for z in self.zs.iter_mut() {
            z.resize(RNG_BLOCK * r, 0.0);
        }
        for o in observers.iter_mut() {
            o.start(self.grid, b, d);
        }
        // Euler-Maruyama and Milstein read b(t_n, x_n) once, in the update: unless an observer
        // needs the whole array, each chunk's drift is evaluated there, into its work group's
        // buffer (a few groups per thread, each reusing one chunk-sized buffer, so the buffer stays
        // in cache and the B x d array is never written)
        let fused = matches!(scheme, Scheme::EulerMaruyama | Scheme::Milstein)
            && observers.iter().all(|o| !o.needs_drift());
        if fused {
            let n_chunks = self.scratch.len();
            self.chunks_per_group = chunks_per_group(n_chunks);
            self.f0 = Vec::new();
            self.fgroup = vec![vec![0.0; self.chunk * d]; n_chunks.div_ceil(self.chunks_per_group)];
        }
        let n_steps = self.grid.n_steps();
        for n in 0..n_steps {
            let t = self.grid.times()[n];
            let h = self.grid.step(n);
            self.check_cancel(n, t)?;
            if fused {
                self.prepare(t)?;
                self.passes += 1;
            } else {
                self.drift_pass(n, t, Stage::X, Out::F0)?;
            }
            self.observe(observers, n, t, h, !fused);
            let finite = match scheme {
                Scheme::EulerMaruyama | Scheme::Milstein => {
                    self.em_milstein_pass(noise, scheme, n, t, h, fused)?
                }
                Scheme::ExactOu => self.exact_ou_pass(noise, h)?,
                Scheme::Heun => {
                    noise.additive_at(t, &mut self.g0);
                    noise.additive_at(t + h, &mut self.g1);
                    self.predictor_pass(h, false);
                    self.drift_pass(n, t + h, Stage::Xs, Out::F1)?;
                    self.heun_corrector_pass(h)
                }
                Scheme::Sra1 => {
                    noise.additive_at(t, &mut self.g0);
                    noise.additive_at(t + h, &mut self.g1);
                    self.predictor_pass(h, true);
                    self.drift_pass(n, t + scheme::SRA1_C0_2 * h, Stage::Xs, Out::F1)?;
                    self.sra1_update_pass(h)
                }
            };
            if !finite {
                return Err(self.nonfinite_state(n, t + h));
            }
        }
        let t_end = self.grid.end();
        self.observe(observers, n_steps, t_end, 0.0, false);
        Ok(RunSummary {
            steps: n_steps,
            drift_passes: self.passes,
        })
    }

    /// Euler-Maruyama (any noise) and Milstein (diagonal noise) updates in one pass, block by
    /// block: the block's normals of the step in one `fill`, then the update over them; returns
    /// whether every updated state is finite. With `fused` each chunk's drift `b(t, x)` is
    /// evaluated here, into its work group's buffer, instead of read from the stored pass (`f0`):
    /// the same calls of [`Drift::eval`] on the same chunks, so the same bits, and a non-finite
    /// drift gives the error of the stored pass (the first entry in particle order; other chunks
    /// may have been updated by then).
    fn em_milstein_pass(
        &mut self,
        noise: &Noise,
        scheme: Scheme,
        step: usize,
        t: f64,
        h: f64,
        fused: bool,
    ) -> Result<bool, SdeError> {
        let (d, chunk) = (self.d, self.chunk);
        let cx = chunk * d;
        noise.additive_at(t, &mut self.g0);
        let add = AdditiveStep::new(&self.g0, h);
        let sh = add.sh;
        let milstein = scheme == Scheme::Milstein;
        let r = draws_per_particle(scheme, noise, d);
        let blocks_per_chunk = chunk / RNG_BLOCK;
        // work groups of whole chunks (one chunk each when the drift was stored)
        let cpg = self.chunks_per_group;
        let (drift, f0, offset) = (&*self.drift, &self.f0, self.offset);
        let outcome = self
            .x
            .par_chunks_mut(cpg * cx)
            .enumerate()
            .zip(self.rngs.par_chunks_mut(cpg * blocks_per_chunk))
            .zip(self.nscratch.par_chunks_mut(cpg))
            .zip(self.zs.par_chunks_mut(cpg))
            .zip(self.scratch.par_chunks_mut(cpg))
            .zip(self.fgroup.par_iter_mut())
            .map(|((((((gi, xg), rg), nsg), zsg), sg), fbuf)| {
                let mut finite = true;
                let chunks = xg
                    .chunks_mut(cx)
                    .zip(rg.chunks_mut(blocks_per_chunk))
                    .zip(nsg.iter_mut().zip(zsg.iter_mut()).zip(sg.iter_mut()));
                for (i, ((xc, rc), ((ns, zs), s))) in chunks.enumerate() {
                    let c = gi * cpg + i;
                    // flat index of the chunk's first entry in the local states
                    let at = c * cx;
                    // fused: the drift's finiteness is checked only if the chunk's update wrote a
                    // non-finite state (`check_drift`)
                    let fc: &[f64] = if fused {
                        let fc = &mut fbuf[..xc.len()];
                        drift.eval(t, offset + c * chunk, xc, fc, s);
                        fc
                    } else {
                        &f0[at..at + xc.len()]
                    };
                    let mut chunk_finite = true;
                    let blocks = xc
                        .chunks_mut(RNG_BLOCK * d)
                        .zip(fc.chunks(RNG_BLOCK * d))
                        .zip(rc.iter_mut());
                    for ((xb, fb), rng) in blocks {
                        // ξ: r normals per particle of the block, particle order
                        let xi = &mut zs[..xb.len() / d * r];
                        rng.fill(xi);
                        let particles = xb.chunks_exact_mut(d).zip(fb.chunks_exact(d));
                        match noise {
                            Noise::DiagonalState(gfun) => {
                                let (g, rest) = ns.split_at_mut(d);
                                let dg = &mut rest[..d];
                                for ((xp, fp), zp) in particles.zip(xi.chunks_exact(d)) {
                                    gfun.eval(t, xp, g, dg);
                                    for j in 0..d {
                                        let dw = sh * zp[j];
                                        xp[j] = if milstein {
                                            scheme::milstein(xp[j], fp[j], g[j], dg[j], dw, h)
                                        } else {
                                            scheme::em(xp[j], fp[j], g[j], dw, h)
                                        };
                                    }
                                }
                                chunk_finite &= all_finite(xb);
                            }
                            Noise::Matrix(gfun) => {
                                let g = &mut ns[..d * r];
                                for ((xp, fp), dw) in particles.zip(xi.chunks_exact_mut(r)) {
                                    gfun.eval(t, xp, g);
                                    // ΔW = sqrt(h) ξ, then x += b h + g ΔW
                                    for w in dw.iter_mut() {
                                        *w *= sh;
                                    }
                                    for j in 0..d {
                                        let gdw: f64 = g[j * r..(j + 1) * r]
                                            .iter()
                                            .zip(dw.iter())
                                            .map(|(a, b)| a * b)
                                            .sum();
                                        xp[j] += fp[j] * h + gdw;
                                    }
                                }
                                chunk_finite &= all_finite(xb);
                            }
                            // additive: g0 holds sigma_j(t); Milstein reduces to Euler-Maruyama;
                            // the update checks the finiteness of what it writes
                            _ => chunk_finite &= em_additive_block(xb, fb, xi, &add),
                        }
                    }
                    if !chunk_finite && fused {
                        check_drift(fc, at)?;
                    }
                    finite &= chunk_finite;
                }
                Ok(finite)
            })
            .reduce(
                || Ok(true),
                |a, b| match (a, b) {
                    (Ok(a), Ok(b)) => Ok(a && b),
                    // the first non-finite drift entry in particle order
                    (a, b) => first_bad(a.map(drop), b.map(drop)).map(|()| false),
                },
            );
        outcome.map_err(|bad| bad.into_error(step, t, offset, d))
    }

    /// Exact OU transition for constant additive noise; returns whether every state is finite.
    fn exact_ou_pass(&mut self, noise: &Noise, h: f64) -> Result<bool, SdeError> {
        let d = self.d;
        let cx = self.chunk * d;
        noise.additive_at(0.0, &mut self.g0);
        let Some(lin) = self.drift.as_linear() else {
            return Err(SdeError::Invalid {
                field: "scheme",
                value: "ExactOu".into(),
                reason: "the exact OU step needs a LinearDrift",
            });
        };
        // time-only work: decay factor and noise std per coordinate
        for ((a, s), (&theta, &sigma)) in self
            .decay
            .iter_mut()
            .zip(self.g1.iter_mut())
            .zip(lin.theta.iter().zip(&self.g0))
        {
            (*a, *s) = scheme::ou_transition(theta, sigma, h);
        }
        let (std, mu, decay) = (&self.g1, &lin.mu, &self.decay);
        let blocks_per_chunk = self.chunk / RNG_BLOCK;
        Ok(self
            .x
            .par_chunks_mut(cx)
            .zip(self.rngs.par_chunks_mut(blocks_per_chunk))
            .zip(self.zs.par_iter_mut())
            .map(|((xc, rc), zs)| {
                for (xb, rng) in xc.chunks_mut(RNG_BLOCK * d).zip(rc.iter_mut()) {
                    let xi = &mut zs[..xb.len()];
                    rng.fill(xi);
                    for (xp, zp) in xb.chunks_exact_mut(d).zip(xi.chunks_exact(d)) {
                        for j in 0..d {
                            // x' = mu + e^{-theta h} (x - mu) + std ξ
                            xp[j] = mu[j] + decay[j] * (xp[j] - mu[j]) + std[j] * zp[j];
                        }
                    }
                }
                all_finite(xc)
            })
            .reduce(|| true, |a, b| a && b))
    }

    /// Draw increments and form the stage state: Heun predictor (`sra = false`: `dW` only) or the
    /// SRA1 stage (`sra = true`: `dW` and `dZ`). Increments are kept for the final update.
    fn predictor_pass(&mut self, h: f64, sra: bool) {
        let (d, cx) = (self.d, self.chunk * self.d);
        let (g0, g1) = (&self.g0, &self.g1);
        let blocks_per_chunk = self.chunk / RNG_BLOCK;
        let sh = h.sqrt();
        let r = if sra { 2 * d } else { d };
        self.x
            .par_chunks(cx)
            .zip(self.f0.par_chunks(cx))
            .zip(self.xs.par_chunks_mut(cx))
            .zip(self.dw.par_chunks_mut(cx))
            .zip(self.dz.par_chunks_mut(cx))
            .zip(self.rngs.par_chunks_mut(blocks_per_chunk))
            .zip(self.zs.par_iter_mut())
            .for_each(|((((((xc, fc), sc), wc), zc), rc), zs)| {
                for (blk, rng) in rc.iter_mut().enumerate() {
                    let lo = blk * RNG_BLOCK * d;
                    let n = (xc.len() - lo).min(RNG_BLOCK * d);
                    let xi = &mut zs[..n / d * r];
                    rng.fill(xi);
                    for i in 0..n {
                        let (k, j) = (lo + i, i % d);
                        if sra {
                            let (dw, dz) = scheme::brownian_pair(h, xi[2 * i], xi[2 * i + 1]);
                            wc[k] = dw;
                            zc[k] = dz;
                            sc[k] = scheme::sra1_stage(xc[k], fc[k], g1[j], dz, h);
                        } else {
                            wc[k] = sh * xi[i];
                            sc[k] = scheme::heun_predict(xc[k], fc[k], g0[j], wc[k], h);
                        }
                    }
                }
            });
    }

    fn heun_corrector_pass(&mut self, h: f64) -> bool {
        let (d, cx) = (self.d, self.chunk * self.d);
        let (g0, g1) = (&self.g0, &self.g1);
        self.x
            .par_chunks_mut(cx)
            .zip(self.f0.par_chunks(cx))
            .zip(self.f1.par_chunks(cx))
            .zip(self.dw.par_chunks(cx))
            .map(|(((xc, f0), f1), dw)| {
                for (k, x) in xc.iter_mut().enumerate() {
                    let j = k % d;
                    *x = scheme::heun_correct(*x, f0[k], f1[k], g0[j], g1[j], dw[k], h);
                }
                all_finite(xc)
            })
            .reduce(|| true, |a, b| a && b)
    }

    fn sra1_update_pass(&mut self, h: f64) -> bool {
        let (d, cx) = (self.d, self.chunk * self.d);
        let (g0, g1) = (&self.g0, &self.g1);
        self.x
            .par_chunks_mut(cx)
            .zip(self.f0.par_chunks(cx))
            .zip(self.f1.par_chunks(cx))
            .zip(self.dw.par_chunks(cx))
            .zip(self.dz.par_chunks(cx))
            .map(|((((xc, f0), f1), dw), dz)| {
                for (k, x) in xc.iter_mut().enumerate() {
                    let j = k % d;
                    *x = scheme::sra1_update(*x, f0[k], f1[k], g0[j], g1[j], dw[k], dz[k], h);
                }
                all_finite(xc)
            })
            .reduce(|| true, |a, b| a && b)
    }

    fn ode(
        &mut self,
        scheme: OdeScheme,
        observers: &mut [&mut dyn Observer],
    ) -> Result<RunSummary, SdeError> {
        let len = self.x.len();
        self.f1 = vec![0.0; len];
        self.xs = vec![0.0; len];
        let mut acc = vec![0.0; len];
        let b = len / self.d;
        for o in observers.iter_mut() {
            o.start(self.grid, b, self.d);
        }
        let n_steps = self.grid.n_steps();
        for n in 0..n_steps {
            let t = self.grid.times()[n];
            let h = self.grid.step(n);
            self.check_cancel(n, t)?;
            self.drift_pass(n, t, Stage::X, Out::F0)?;
            self.observe(observers, n, t, h, true);
            match scheme {
                OdeScheme::Heun => {
                    axpy_into(&mut self.xs, self.x, h, &self.f0);
                    self.drift_pass(n, t + h, Stage::Xs, Out::F1)?;
                    let (f0, f1) = (&self.f0, &self.f1);
                    self.x
                        .par_iter_mut()
                        .zip(f0.par_iter())
                        .zip(f1.par_iter())
                        .for_each(|((x, a), b)| *x += 0.5 * h * (a + b));
                }
                OdeScheme::Rk4 => {
                    // acc = k1 + 2 k2 + 2 k3 + k4; stage inputs x + c_i h k_{i-1}
                    acc.copy_from_slice(&self.f0);
                    axpy_into(&mut self.xs, self.x, 0.5 * h, &self.f0);
                    for (c, w, next) in [(0.5, 2.0, 0.5), (0.5, 2.0, 1.0), (1.0, 1.0, 0.0)] {
                        self.drift_pass(n, t + c * h, Stage::Xs, Out::F1)?;
                        acc.par_iter_mut()
                            .zip(self.f1.par_iter())
                            .for_each(|(a, k)| *a += w * k);
                        if next > 0.0 {
                            axpy_into(&mut self.xs, self.x, next * h, &self.f1);
                        }
                    }
                    self.x
                        .par_iter_mut()
                        .zip(acc.par_iter())
                        .for_each(|(x, a)| *x += h / 6.0 * a);
                }
            }
            if !self.x.par_chunks(self.chunk * self.d).all(all_finite) {
                return Err(self.nonfinite_state(n, t + h));
            }
        }
        self.observe(observers, n_steps, self.grid.end(), 0.0, false);
        Ok(RunSummary {
            steps: n_steps,
            drift_passes: self.passes,
        })
    }
}

/// Run `f` on rayon's global pool (`threads = None`) or on a dedicated pool of `n` threads.
pub(crate) fn in_pool<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, SdeError> {
    match threads {
        None => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| SdeError::ThreadPool {
                    threads: n,
                    message: e.to_string(),
                })?;
            Ok(pool.install(f))
        }
    }
}

/// `Err(Cancelled)` when the stop flag is raised (on any rank: the flags are summed through the
/// communicator, so every rank stops at the same step). Serial, once per step.
pub(crate) fn check_cancel(
    cancel: Option<&CancelToken>,
    comm: &dyn Communicator,
    step: usize,
    t: f64,
) -> Result<(), SdeError> {
    let Some(token) = cancel else {
        return Ok(());
    };
    let mut raised = [if token.is_cancelled() { 1.0 } else { 0.0 }];
    comm.all_reduce_sum(&mut raised);
    if raised[0] > 0.0 {
        return Err(SdeError::Cancelled { step, t });
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Stage {
    X,
    Xs,
}

#[derive(Clone, Copy)]
enum Out {
    F0,
    F1,
}

/// Normals per particle and step, `r` of the table in [`crate::rng`]: two per coordinate for
/// SRA1, one per driving Brownian motion otherwise.
pub(crate) fn draws_per_particle(scheme: Scheme, noise: &Noise, d: usize) -> usize {
    match scheme {
        Scheme::Sra1 => 2 * d,
        _ => noise.noise_dim(d),
    }
}

/// `Some(g_0)` when every `g_j` has the same bits (scalar noise), else `None`.
pub(crate) fn uniform(g: &[f64]) -> Option<f64> {
    let g0 = *g.first()?;
    g.iter().all(|v| v.to_bits() == g0.to_bits()).then_some(g0)
}

/// Time-only constants of an Euler-Maruyama step with additive noise: `g_j(t_n)`, `sqrt(h)`, `h`.
#[derive(Clone, Copy)]
pub(crate) struct AdditiveStep<'a> {
    /// `g_j(t_n)`, length `d`.
    g: &'a [f64],
    /// `Some(g)` when every `g_j` has the same bits ([`uniform`]).
    g_uniform: Option<f64>,
    /// `sqrt(h)`.
    pub sh: f64,
    h: f64,
}

impl<'a> AdditiveStep<'a> {
    pub(crate) fn new(g: &'a [f64], h: f64) -> Self {
        Self {
            g,
            g_uniform: uniform(g),
            sh: h.sqrt(),
            h,
        }
    }
    /// `h_n`.
    pub(crate) fn h(&self) -> f64 {
        self.h
    }
}

/// Euler-Maruyama with additive noise over the particles of one block:
/// `x_k = x_k + b_k h + g_j sqrt(h) ξ_k` (`j = k mod d`, [`scheme::em`]); returns whether every
/// updated state is finite ([`all_finite`]'s test on the values as they are written, so the block
/// is not read a second time). With every `g_j` equal, one flat loop, which vectorises for any
/// `d`; the same bits either way. Runs on AVX2 where the CPU has it: the same operations (no fused
/// multiply-add), so the same bits.
#[inline]
pub(crate) fn em_additive_block(
    x: &mut [f64],
    f: &[f64],
    xi: &[f64],
    step: &AdditiveStep<'_>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        return unsafe { em_additive_block_avx2(x, f, xi, step) };
    }
    em_additive_rows(x, f, xi, step)
}

/// [`em_additive_rows`] compiled for AVX2 (4 lanes instead of SSE2's 2; no FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn em_additive_block_avx2(
    x: &mut [f64],
    f: &[f64],
    xi: &[f64],
    step: &AdditiveStep<'_>,
) -> bool {
    em_additive_rows(x, f, xi, step)
}

/// The body of [`em_additive_block`].
#[inline(always)]
fn em_additive_rows(x: &mut [f64], f: &[f64], xi: &[f64], step: &AdditiveStep<'_>) -> bool {
    let &AdditiveStep {
        g,
        g_uniform,
        sh,
        h,
    } = step;
    // or of `(bits & EXP) + 2^52` over the new states: bit 63 set iff one is not finite
    let mut any = 0u64;
    match g_uniform {
        Some(g) => {
            for ((xv, &fv), &z) in x.iter_mut().zip(f).zip(xi) {
                *xv = scheme::em(*xv, fv, g, sh * z, h);
                any |= not_finite_bits(*xv);
            }
        }
        None => {
            let d = g.len();
            let rows = x
                .chunks_exact_mut(d)
                .zip(f.chunks_exact(d))
                .zip(xi.chunks_exact(d));
            for ((xp, fp), zp) in rows {
                for (((xv, &fv), &gv), &z) in xp.iter_mut().zip(fp).zip(g).zip(zp) {
                    *xv = scheme::em(*xv, fv, gv, sh * z, h);
                    any |= not_finite_bits(*xv);
                }
            }
        }
    }
    any >> 63 == 0
}

/// Chunks per work group of a fused pass over `n_chunks` chunks: about four groups per thread,
/// each reusing one drift buffer chunk after chunk.
pub(crate) fn chunks_per_group(n_chunks: usize) -> usize {
    let groups = (4 * rayon::current_num_threads()).clamp(1, n_chunks.max(1));
    n_chunks.div_ceil(groups).max(1)
}

/// How an ensemble is cut into compute chunks: dimension, particles per chunk, global index of
/// particle 0.
#[derive(Clone, Copy)]
pub(crate) struct ChunkLayout {
    pub d: usize,
    pub chunk: usize,
    pub offset: usize,
}

/// `out = b(t, x)` chunk by chunk in parallel (chunk `c` gets `scratch[c]` and the global index of
/// its first particle), then the finiteness check: `Err(NonFiniteDrift)` naming the first
/// non-finite entry. The drift pass of [`crate::run`] and of [`crate::run_lockstep`].
pub(crate) fn eval_drift_chunks<D: Drift + ?Sized>(
    drift: &D,
    at: ChunkLayout,
    step: usize,
    t: f64,
    x: &[f64],
    out: &mut [f64],
    scratch: &mut [Vec<f64>],
) -> Result<(), SdeError> {
    let ChunkLayout { d, chunk, offset } = at;
    let cx = chunk * d;
    out.par_chunks_mut(cx)
        .zip(x.par_chunks(cx))
        .zip(scratch.par_iter_mut())
        .enumerate()
        .map(|(c, ((o, xc), s))| eval_drift_chunk(drift, t, (offset + c * chunk, c * cx), xc, o, s))
        .reduce(|| Ok(()), first_bad)
        .map_err(|bad| bad.into_error(step, t, offset, d))
}

/// A non-finite drift entry: its flat index in the local `B x d` array, and its value.
#[derive(Clone, Copy)]
pub(crate) struct BadDrift {
    pub(crate) k: usize,
    value: f64,
}

impl BadDrift {
    /// The error naming the entry, for a run whose local particle 0 is global particle `offset`.
    pub(crate) fn into_error(self, step: usize, t: f64, offset: usize, d: usize) -> SdeError {
        SdeError::NonFiniteDrift {
            step,
            t,
            particle: offset + self.k / d,
            coord: self.k % d,
            value: self.value,
        }
    }
}

/// `out = b(t, x)` for the rows of one chunk (`first`: the global index of its first particle,
/// `at`: the flat index of its first entry in the local `B x d` array), then the finiteness check
/// ([`check_drift`]). The per-chunk call of the stored drift pass.
#[inline]
pub(crate) fn eval_drift_chunk<D: Drift + ?Sized>(
    drift: &D,
    t: f64,
    (first, at): (usize, usize),
    x: &[f64],
    out: &mut [f64],
    scratch: &mut Vec<f64>,
) -> Result<(), BadDrift> {
    drift.eval(t, first, x, out, scratch);
    check_drift(out, at)
}

/// `Err` with the first non-finite entry of a chunk's drift `out` (`at`: the flat index of its
/// first entry in the local `B x d` array).
///
/// The fused passes call it only for a chunk whose update wrote a non-finite state: every update
/// adds `b h` to other terms, a non-finite `b` makes `b h` non-finite (`inf 0` is NaN), and a sum
/// with a non-finite term is never finite; so a chunk whose new states are all finite had a
/// finite drift.
#[inline]
pub(crate) fn check_drift(out: &[f64], at: usize) -> Result<(), BadDrift> {
    if all_finite(out) {
        return Ok(());
    }
    let j = out.iter().position(|v| !v.is_finite()).unwrap_or(0);
    Err(BadDrift {
        k: at + j,
        value: out[j],
    })
}

/// Reduction of chunk outcomes to the first non-finite drift entry in particle order.
fn first_bad(a: Result<(), BadDrift>, b: Result<(), BadDrift>) -> Result<(), BadDrift> {
    match (a, b) {
        (Err(p), Err(q)) => Err(if p.k <= q.k { p } else { q }),
        (Err(p), _) | (_, Err(p)) => Err(p),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// Whether every entry is finite, on the bits (no early exit, integer lanes that vectorise):
/// `v` is infinite or NaN iff its exponent field `e = bits & EXP` is all ones, iff `e + 2^52`
/// carries into bit 63; the or of those sums over the slice has bit 63 clear iff all are finite.
pub(crate) fn all_finite(c: &[f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        return unsafe { all_finite_avx2(c) };
    }
    all_finite_bits(c)
}

/// [`all_finite_bits`] compiled for AVX2 (4 lanes; integer operations, so the same answer).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_finite_avx2(c: &[f64]) -> bool {
    all_finite_bits(c)
}

/// The body of [`all_finite`].
#[inline(always)]
fn all_finite_bits(c: &[f64]) -> bool {
    let any = c.iter().fold(0u64, |acc, &v| acc | not_finite_bits(v));
    any >> 63 == 0
}

/// `(bits & EXP) + 2^52`: bit 63 set iff `v` is infinite or NaN (its exponent field all ones).
#[inline(always)]
fn not_finite_bits(v: f64) -> u64 {
    const EXP: u64 = 0x7FF0_0000_0000_0000;
    const UNIT: u64 = 1 << 52;
    (v.to_bits() & EXP) + UNIT
}

/// `out = x + a * f`.
fn axpy_into(out: &mut [f64], x: &[f64], a: f64, f: &[f64]) {
    out.par_iter_mut()
        .zip(x.par_iter())
        .zip(f.par_iter())
        .for_each(|((o, xi), fi)| *o = xi + a * fi);
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn all_finite_agrees_with_is_finite() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -2.5e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7FF0_0000_0000_0001), // signalling NaN
            f64::from_bits(0x7FEF_FFFF_FFFF_FFFF), // largest finite
        ];
        for &a in &specials {
            for &b in &specials {
                for len in 1..9 {
                    for at in 0..len {
                        let mut v = vec![1.0; len];
                        v[at] = a;
                        v[len - 1 - at] = b;
                        assert_eq!(all_finite(&v), v.iter().all(|x| x.is_finite()), "{v:?}");
                    }
                }
            }
        }
        assert!(all_finite(&[]));
    }
}
