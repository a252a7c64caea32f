//! Running methods on a fleet: one sampled set of agents and one Brownian seed shared by every
//! method (common random numbers), so differences between methods are measured on the same fleet.
//! The methods of one run step in lockstep: each increment is drawn once and drives every method.

use std::time::Instant;

use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::observe::{
    blocked_sum, mean_stderr_on, BlockReduce, BlockSums, BlockView, Blocks, ControlEnergy, Moments,
    Observer, StepView,
};
use mfpid_sde::reduce::reproducible_sum;
use mfpid_sde::shard::{shard, Shard};
use mfpid_sde::{
    run_lockstep_with_comm, CancelToken, Communicator, Ensemble, Member, Noise, RunConfig, Scheme,
    SdeError, SingleProcess, TimeGrid,
};
use serde::{Deserialize, Serialize};

use crate::error::{EnergyError, Result};
use crate::fleet::{Agents, Fleet};
use crate::method::Method;
use crate::metrics::{subpopulation_energies_on, MethodRun, Saving, TerminalLaw};

/// Protocol, grid and sampling settings shared by every method of a comparison.
///
/// The protocol is `beta_i = beta_0 gamma^i` on `pieces` equal pieces (the paper: 12, 0.65, 8);
/// the Euler-Maruyama grid has `n_steps` steps aligned to the breaks; the drift is evaluated on
/// `[eps, 1 - eps]`. Time is dimensionless (`t ∈ [0, 1]`), the diffusion is unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Number of agents (buildings) `B >= 1`.
    pub agents: usize,
    /// Euler-Maruyama steps over `[0, 1]`.
    pub n_steps: usize,
    /// Time cut-off of the drift.
    pub eps: f64,
    /// `beta_0` (1/time²) of the geometric protocol.
    pub beta_0: f64,
    /// Ratio `gamma` of the geometric protocol.
    pub gamma: f64,
    /// Number of equal pieces `M`.
    pub pieces: usize,
    /// Seed of the agents' draw from `p_in` and of the Brownian increments.
    pub seed: u64,
    /// Threads (`None`: rayon's global pool). Does not change results.
    pub threads: Option<usize>,
    /// Where the grid starts (default [`Start::Zero`]).
    #[serde(default)]
    pub start: Start,
}

/// Start convention of the grid.
///
/// The drift is evaluated on `[eps, 1 - eps]`. [`Start::Zero`] (the default) simulates the whole
/// of `[0, 1]`: the grid starts at `t = 0` with `x = z` and the drift is evaluated at
/// `max(t, eps)`, so each bridge ends in `p_tar`. [`Start::Eps`] starts the grid at `t = eps` with
/// `x = z` (the published reference code's convention): the increment over `[0, eps]` is never
/// simulated, so each bridge ends in the law of the probe at `(eps, z)` instead of `p_tar`, a bias
/// growing like `eps d` (the `dr-d-sweep` entry measures both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Grid from `t = 0`, drift at `max(t, eps)`.
    #[default]
    Zero,
    /// Grid from `t = eps` with `x = z` (reference convention).
    Eps,
}

impl Start {
    /// `"zero"` or `"eps"`.
    pub fn name(self) -> &'static str {
        match self {
            Start::Zero => "zero",
            Start::Eps => "eps",
        }
    }
}

impl Settings {
    /// The paper's settings with `agents` agents: 2500 steps, `eps = 1e-3`, `beta_i = 12·0.65^i`
    /// on 8 pieces, seed 0.
    pub fn paper(agents: usize) -> Self {
        Self {
            agents,
            n_steps: 2500,
            eps: 1e-3,
            beta_0: 12.0,
            gamma: 0.65,
            pieces: 8,
            seed: 0,
            threads: None,
            start: Start::Zero,
        }
    }

    /// Same settings with another step count.
    pub fn with_steps(mut self, n_steps: usize) -> Self {
        self.n_steps = n_steps;
        self
    }

    /// Same settings with another start convention.
    pub fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Same settings with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Check every setting: the one validation of a fleet run (the program maps `field` to its
    /// config path). [`Experiment::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, value: String, reason| {
            Err(EnergyError::Invalid {
                field,
                value,
                reason,
            })
        };
        if self.agents < 2 {
            return invalid(
                "agents",
                self.agents.to_string(),
                "must be >= 2 (energies come with standard errors over agents)",
            );
        }
        // the drift is evaluated on [eps, 1 - eps], which must be a non-empty interval
        if !(self.eps > 0.0 && self.eps < 0.5) {
            return invalid("eps", self.eps.to_string(), "must be in (0, 0.5)");
        }
        if self.pieces == 0 {
            return invalid("pieces", "0".into(), "must be >= 1");
        }
        for (field, v) in [("beta_0", self.beta_0), ("gamma", self.gamma)] {
            if !(v.is_finite() && v >= 0.0) {
                return invalid(field, v.to_string(), "must be finite and >= 0");
            }
        }
        if self.n_steps < self.pieces {
            return invalid(
                "n_steps",
                self.n_steps.to_string(),
                "must be >= pieces (at least one step per protocol piece)",
            );
        }
        if self.threads == Some(0) {
            return invalid("threads", "0".into(), "must be >= 1 (or unset: all cores)");
        }
        Ok(())
    }
}

/// What to record beyond the scalar metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Record the fleet mean every this many steps (0: only the scalar metrics).
    pub mean_every: usize,
    /// Record the power of each sub-population at every step.
    pub subpop_power: bool,
    /// Keep the terminal states of all agents.
    pub keep_final: bool,
}

/// How to run methods: what to record, and a stop flag. Cheap to clone; the same options serve
/// one run ([`Experiment::run`]), every method in turn ([`Experiment::run_all`]) and a batch
/// ([`Comparison::run_batch`]). A [`Recording`] converts into options without a stop flag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// What to record beyond the scalar metrics.
    pub record: Recording,
    /// Stop flag, read before each run and by the runner once per time step (see
    /// [`mfpid_sde::CancelToken`]); a raised flag ends the run with [`EnergyError::Cancelled`].
    pub cancel: Option<CancelToken>,
}

impl RunOptions {
    /// These options recording `record`.
    pub fn with_record(mut self, record: Recording) -> Self {
        self.record = record;
        self
    }

    /// These options stopped by `token`.
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
    }
}

impl From<Recording> for RunOptions {
    fn from(record: Recording) -> Self {
        Self {
            record,
            cancel: None,
        }
    }
}

impl From<&Recording> for RunOptions {
    fn from(record: &Recording) -> Self {
        Self::from(*record)
    }
}

impl From<&RunOptions> for RunOptions {
    fn from(opts: &RunOptions) -> Self {
        opts.clone()
    }
}

impl MethodRun {
    /// Cumulative energy `E(t) = ∫_{t_0}^t P(s) ds` as the left Riemann sum of the power trace,
    /// `E(t_{n+1}) = Σ_{m ≤ n} (t_{m+1} - t_m) P(t_m)` (the last step ends at `t = 1`), starting
    /// from `(t_0, 0)` (`t_0 = 0`, or `eps` with [`Start::Eps`]): the points `(t, E(t))` of the
    /// energy curve.
    pub fn cumulative_energy(&self) -> Vec<(f64, f64)> {
        let mut acc = 0.0;
        let mut pts = Vec::with_capacity(self.power.len() + 1);
        pts.push((self.times.first().copied().unwrap_or(0.0), 0.0));
        for (n, (&t, &p)) in self.times.iter().zip(&self.power).enumerate() {
            let t_next = self.times.get(n + 1).copied().unwrap_or(1.0);
            acc += (t_next - t) * p;
            pts.push((t_next, acc));
        }
        pts
    }
}

/// A fleet with its sampled agents, ready to run methods on (over several ranks: this rank's
/// agents only, see [`Experiment::new_on`]).
#[derive(Debug, Clone)]
pub struct Experiment {
    fleet: Fleet,
    settings: Settings,
    /// This rank's agents.
    shard: Shard,
    agents: Agents,
    base: Protocol,
    grid: TimeGrid,
}

impl Experiment {
    /// Validate the settings, build the protocol and grid, and draw the agents from `p_in`.
    pub fn new(fleet: Fleet, settings: Settings) -> Result<Self> {
        Self::new_on(fleet, settings, &SingleProcess)
    }

    /// [`Experiment::new`] on rank `comm.rank()` of `comm.size()`: draws only this rank's
    /// [`shard`] of the agents (the rows of the single-process draw), so no rank holds memory for
    /// the whole fleet; run it with [`Experiment::run_on`] on the same communicator. Needs no
    /// collective.
    pub fn new_on(fleet: Fleet, settings: Settings, comm: &dyn Communicator) -> Result<Self> {
        settings.validate()?;
        let base = Protocol::geometric(
            fleet.dim(),
            settings.beta_0,
            settings.gamma,
            settings.pieces,
        )?;
        let t0 = match settings.start {
            Start::Zero => 0.0,
            Start::Eps => settings.eps,
        };
        let grid = TimeGrid::aligned(t0, 1.0, base.breaks(), settings.n_steps)?;
        let mine = shard(settings.agents, comm.size(), comm.rank())?;
        let agents =
            fleet.sample_agents_range(mine.offset, mine.count, settings.agents, settings.seed)?;
        Ok(Self {
            fleet,
            settings,
            shard: mine,
            agents,
            base,
            grid,
        })
    }

    /// The fleet.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The sampled agents (this rank's, over several ranks; [`Agents::len`] is the whole fleet).
    pub fn agents(&self) -> &Agents {
        &self.agents
    }

    /// This rank's agents: global offset, count and fleet size.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The time grid.
    pub fn grid(&self) -> &TimeGrid {
        &self.grid
    }

    /// The protocol breaks `t_0 = 0 < ... < t_M = 1`.
    pub fn breaks(&self) -> &[f64] {
        self.base.breaks()
    }

    /// Run every method with the same options, in lockstep (one draw of each Brownian increment
    /// for all methods); each result is bit-identical to [`Experiment::run`] of that method.
    pub fn run_all(
        &self,
        methods: &[Method],
        opts: impl Into<RunOptions>,
    ) -> Result<Vec<MethodRun>> {
        self.run_lockstep(methods, &opts.into(), Vec::new(), &SingleProcess)?
            .ok_or_else(no_result)
    }

    /// The protocol of `method` for this fleet (the shared `beta_i` with the method's centres).
    pub fn protocol(&self, method: &Method) -> Result<Protocol> {
        let nu = method.centres_for(self.base.breaks(), &self.fleet)?;
        Ok(self.base.clone().with_centres(nu)?)
    }

    /// Run one method: `opts` says what to record and carries the stop flag; `observers` are
    /// called at every grid time besides the built-in metrics (e.g. [`crate::thermal::HvacObserver`],
    /// a progress bar; `&mut []` for none).
    ///
    /// A raised [`RunOptions::cancel`] flag (read before the run and once per time step by the
    /// runner) ends the run with [`EnergyError::Cancelled`]; a run whose flag stays down gives
    /// exactly the result of a run without one.
    ///
    /// ```
    /// use mfpid_energy::{scenario, EnergyError, Experiment, Method, RunOptions, Settings};
    /// use mfpid_sde::CancelToken;
    /// let exp = Experiment::new(scenario::b_nd(2)?.fleet, Settings::paper(64).with_steps(40))?;
    /// let stop = CancelToken::new();
    /// stop.cancel();
    /// let r = exp.run(&Method::mean_field(), RunOptions::default().with_cancel(stop), &mut []);
    /// assert!(matches!(r, Err(EnergyError::Cancelled)));
    /// # Ok::<(), EnergyError>(())
    /// ```
    pub fn run(
        &self,
        method: &Method,
        opts: impl Into<RunOptions>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<MethodRun> {
        self.run_on(method, opts, observers, &SingleProcess)?
            .ok_or_else(no_result)
    }

    /// [`Experiment::run`] on this rank's share of the agents, one population over the ranks of
    /// `comm` (e.g. MPI processes; the experiment built by [`Experiment::new_on`] on the same
    /// communicator): rank `r` simulates the whole 64-agent RNG blocks of
    /// [`mfpid_sde::shard::shard`], every per-step reduction goes through `comm` (`O(d)` numbers
    /// per step, reproducible sums), and the per-agent metrics (energy standard error,
    /// sub-population energies, terminal law) are reproducible sums of per-agent contributions
    /// (`O(K d)` numbers once per run): nothing `O(agents)` crosses ranks. Every rank gets the
    /// result (`Some`), bit-identical to [`Experiment::run`] for any number of ranks except
    /// [`MethodRun::per_agent`] and [`MethodRun::final_states`], which hold this rank's agents
    /// (their concatenation over the ranks is the single-process vector; paired savings over
    /// ranks: [`Saving::of_on`]). Collective: every rank calls it with the same arguments.
    pub fn run_on(
        &self,
        method: &Method,
        opts: impl Into<RunOptions>,
        observers: &mut [&mut dyn Observer],
        comm: &dyn Communicator,
    ) -> Result<Option<MethodRun>> {
        let mut watch: Vec<&mut dyn Observer> = Vec::with_capacity(observers.len());
        for o in observers.iter_mut() {
            watch.push(&mut **o);
        }
        let runs = self.run_lockstep(
            std::slice::from_ref(method),
            &opts.into(),
            vec![watch],
            comm,
        )?;
        Ok(runs.and_then(|mut r| r.pop()))
    }

    /// [`Experiment::run_all`] with observers: `observers[k]` are called at every grid time of
    /// method `k` besides the built-in metrics (methods beyond `observers.len()` have none), e.g.
    /// one [`crate::thermal::HvacObserver`] per method.
    pub fn run_all_observed(
        &self,
        methods: &[Method],
        opts: impl Into<RunOptions>,
        observers: Vec<Vec<&mut dyn Observer>>,
    ) -> Result<Vec<MethodRun>> {
        self.run_lockstep(methods, &opts.into(), observers, &SingleProcess)?
            .ok_or_else(no_result)
    }

    /// Run `methods` in lockstep: every method moves its own copy of the agents, and each
    /// Brownian increment is drawn once and used by all of them
    /// ([`mfpid_sde::run_lockstep`]). Each method's result is bit-identical to running it alone
    /// with [`Experiment::run`] (same seed: common random numbers), so savings are paired exactly.
    /// `observers[k]` watch method `k`. `wall_s` of every result is the time of the whole run.
    /// Over the ranks of `comm`, each rank moves its [`shard`] of the agents and the metrics are
    /// reduced over the ranks, as in [`Experiment::run_on`].
    fn run_lockstep(
        &self,
        methods: &[Method],
        opts: &RunOptions,
        observers: Vec<Vec<&mut dyn Observer>>,
        comm: &dyn Communicator,
    ) -> Result<Option<Vec<MethodRun>>> {
        if opts.is_cancelled() {
            return Err(EnergyError::Cancelled);
        }
        let rec = &opts.record;
        let t0 = Instant::now();
        let (d, b) = (self.fleet.dim(), self.agents.len());
        let k_in = self.fleet.weights_in().len();
        let mine = shard(b, comm.size(), comm.rank())?;
        if mine != self.shard {
            return Err(EnergyError::Invalid {
                field: "communicator",
                value: format!("rank {} of {}", comm.rank(), comm.size()),
                reason: "the experiment holds another rank's agents: build it with Experiment::new_on on this communicator",
            });
        }
        // agents per sub-population over every rank (integer counts: exact)
        let mut counts = vec![0i64; k_in];
        self.agents.component.iter().for_each(|&c| counts[c] += 1);
        comm.all_reduce_sum_i64(&mut counts);
        let mut lanes = methods
            .iter()
            .map(|m| Lane::new(self, m, rec, &counts))
            .collect::<Result<Vec<_>>>()?;
        let cfg = RunConfig {
            scheme: Scheme::EulerMaruyama,
            seed: self.settings.seed,
            threads: self.settings.threads,
            cancel: opts.cancel.clone(),
            // 512 agents per chunk (any multiple of 64 gives the same bits): the 10^6-agent d = 32
            // fleet, 250 steps, alternated runs: 18.7-18.9 s at 512 and 1024, 19.6-21.4 s at 256,
            // 19.9 s at 2048; the 4000-agent d-sweep is the same within noise from 256 to 1024
            chunk_size: LOCKSTEP_CHUNK,
            // a chunk takes this many steps while in cache (any tile gives the same bits)
            tile_steps: LOCKSTEP_TILE,
        };
        {
            let mut extra = observers.into_iter();
            let mut members: Vec<Member<'_>> = lanes
                .iter_mut()
                .map(|l| {
                    let mut obs: Vec<&mut dyn Observer> = vec![&mut l.power];
                    if rec.mean_every > 0 {
                        obs.push(&mut l.moments);
                    }
                    if rec.subpop_power {
                        obs.push(&mut l.group);
                    }
                    for o in extra.next().into_iter().flatten() {
                        obs.push(o);
                    }
                    Member {
                        drift: &mut l.bridge,
                        ens: &mut l.ens,
                        observers: obs,
                    }
                })
                .collect();
            run_lockstep_with_comm(&mut members, &Noise::Scalar(1.0), &self.grid, &cfg, comm)
                .map_err(|e| match e {
                    SdeError::Cancelled { .. } => EnergyError::Cancelled,
                    other => EnergyError::Sde(other),
                })?;
        }
        let wall_s = t0.elapsed().as_secs_f64();
        // per-agent metrics as reproducible sums over the ranks (once per run, O(K d) numbers)
        lanes
            .into_iter()
            .zip(methods)
            .map(|(l, method)| {
                let x1 = l.ens.into_vec();
                let terminal = TerminalLaw::assess_on(&self.fleet, &x1, b, comm)?;
                let energy = l.power;
                let (_, stderr) = mean_stderr_on(comm, &energy.per_particle, b);
                let subpopulations = subpopulation_energies_on(
                    comm,
                    &energy.per_particle,
                    &self.agents.component,
                    k_in,
                );
                let mean_path = if rec.mean_every > 0 {
                    l.moments
                        .records
                        .into_iter()
                        .map(|r| (r.t, r.mean))
                        .collect()
                } else {
                    Vec::new()
                };
                Ok(MethodRun {
                    method: method.name.clone(),
                    d,
                    agents: b,
                    centres: l.centres,
                    energy: energy.total(),
                    stderr,
                    energy_per_zone: energy.per_coord.clone(),
                    peak_power: energy.peak_power(),
                    times: energy.times,
                    power: energy.power,
                    per_agent: energy.per_particle,
                    subpopulations,
                    subpop_power: rec.subpop_power.then_some(l.group.power),
                    terminal,
                    mean_path,
                    final_states: rec.keep_final.then_some(x1),
                    wall_s,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// One method of a run: its bridge drift, its copy of the agents and its built-in observers.
struct Lane {
    centres: Vec<f64>,
    bridge: Bridge<GaussianMixture>,
    ens: Ensemble,
    power: ControlEnergy,
    moments: Moments,
    group: GroupPower,
}

impl Lane {
    /// The lane of `method` on this rank's agents; `counts[k]`: agents of sub-population `k`
    /// over every rank.
    fn new(exp: &Experiment, method: &Method, rec: &Recording, counts: &[i64]) -> Result<Self> {
        let protocol = exp.protocol(method)?;
        let Shard { offset, count, .. } = exp.shard;
        let bridge = Bridge::new(&protocol, exp.fleet.p_tar().clone())?
            .with_eps(exp.settings.eps)?
            .with_starts_at(offset, exp.agents.x.clone())?;
        let d = exp.fleet.dim();
        let ens = Ensemble::from_vec(count, d, exp.agents.x.clone())?.with_offset(offset)?;
        Ok(Self {
            centres: protocol.centres().to_vec(),
            bridge,
            ens,
            power: ControlEnergy::new(),
            moments: Moments::new(rec.mean_every.max(1), false),
            group: GroupPower::new(&exp.agents.component, counts),
        })
    }
}

/// The error of a single-process run that returned nothing (cannot happen: rank 0 of one).
fn no_result() -> EnergyError {
    EnergyError::Invalid {
        field: "communicator",
        value: "SingleProcess".into(),
        reason: "the only rank returned no result",
    }
}

/// Power per sub-population at every step: `P_k(t_n) = mean over agents of group k of |u|²`.
struct GroupPower {
    blocks: GroupBlocks,
    counts: Vec<f64>,
    power: Vec<Vec<f64>>,
    buf: Vec<f64>,
    partials: Vec<f64>,
}

/// The block form of [`GroupPower`]: a block's `Σ_{i in group k} |u_i|²` per group.
struct GroupBlocks {
    /// this rank's agents' groups
    labels: Vec<usize>,
    groups: usize,
}

impl GroupBlocks {
    /// `acc[labels[i]] += |u_i|²` for local agent `i` (drift row `ui`).
    #[inline]
    fn add(&self, i: usize, ui: &[f64], acc: &mut [f64]) {
        if let Some(a) = self.labels.get(i).and_then(|&k| acc.get_mut(k)) {
            *a += ui.iter().map(|w| w * w).sum::<f64>();
        }
    }
}

impl BlockReduce for GroupBlocks {
    fn width(&self) -> usize {
        self.groups
    }
    fn block(&self, v: &BlockView<'_>, partials: &mut [f64], _state: &mut [f64]) {
        for (r, ui) in v.drift.chunks_exact(v.dim).enumerate() {
            self.add(v.first + r, ui, partials);
        }
    }
}

impl GroupPower {
    /// `labels`: this rank's agents' groups; `counts`: agents per group over every rank.
    fn new(labels: &[usize], counts: &[i64]) -> Self {
        let k = counts.len();
        Self {
            blocks: GroupBlocks {
                labels: labels.to_vec(),
                groups: k,
            },
            counts: counts.iter().map(|&c| c as f64).collect(),
            power: vec![Vec::new(); k],
            buf: vec![0.0; k],
            partials: Vec::new(),
        }
    }

    /// `P_k(t_n) = Σ_{i in k} |u_i|² / count_k` from the group sums in `buf`.
    fn push(&mut self) {
        for ((p, s), c) in self.power.iter_mut().zip(&self.buf).zip(&self.counts) {
            p.push(if *c > 0.0 { s / c } else { 0.0 });
        }
    }
}

impl Observer for GroupPower {
    fn start(&mut self, grid: &TimeGrid, _n: usize, _d: usize) {
        for p in &mut self.power {
            p.clear();
            p.reserve(grid.n_steps());
        }
    }

    fn observe(&mut self, v: &StepView<'_>) {
        let Some(u) = v.drift else { return };
        let (d, blocks) = (v.dim, &self.blocks);
        blocked_sum(
            v.comm,
            v.n_particles(),
            blocks.groups,
            &mut self.partials,
            &mut self.buf,
            |i, acc| blocks.add(i, &u[i * d..(i + 1) * d], acc),
        );
        self.push();
    }

    fn blocks(&mut self) -> Option<Blocks<'_>> {
        Some(Blocks {
            reduce: &self.blocks,
            state: &mut [],
            state_width: 0,
        })
    }

    fn finish_blocks(&mut self, sums: &BlockSums<'_>) {
        reproducible_sum(sums.comm, sums.partials, self.blocks.groups, &mut self.buf);
        self.push();
    }
    /// `finish_blocks` reads only the step's partials.
    fn tiles(&self) -> bool {
        true
    }
}

/// Agents per compute chunk of a lockstep run (see `run_lockstep`).
const LOCKSTEP_CHUNK: usize = 512;

/// Steps per time tile of a lockstep run (see `run_lockstep`).
const LOCKSTEP_TILE: usize = 8;

/// Several methods run on one [`Experiment`], with savings looked up by method name.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Runs in the order the methods were given.
    pub runs: Vec<MethodRun>,
}

/// Per-agent work of a step that does not grow with `d` (the soft-max exponentials, the per-agent
/// scalars of the fused drift and of the power sums), in coordinates' worth: a lockstep run of the
/// B-nd fleet costs about `0.46 s + 0.113 s d` (4000 agents, 2500 steps, three methods; release,
/// AMD EPYC Zen 3), i.e. `d + 4` coordinates.
const PER_AGENT_COORDS: f64 = 4.0;

impl Comparison {
    /// Run `methods` on a fleet with `settings` (agents drawn once, shared by every method).
    pub fn run(
        fleet: Fleet,
        settings: Settings,
        methods: &[Method],
        opts: impl Into<RunOptions>,
    ) -> Result<Self> {
        let exp = Experiment::new(fleet, settings)?;
        Ok(Self {
            runs: exp.run_all(methods, opts)?,
        })
    }

    /// Run `methods` on several fleets at once: each fleet's methods in lockstep
    /// ([`Experiment::run_all`]) as one single-threaded run, the fleets spread over
    /// `rayon::current_num_threads()` worker threads: each worker gets a list from the placement
    /// that minimises the largest estimated load (cost `agents x steps x (d + 4)`, see
    /// `schedule.rs`), runs it heaviest first, and when it is done takes the lightest job not yet
    /// started from the list with the most work left. Results are identical to
    /// [`Comparison::run`] on each job (the runs are reproducible for any thread count); only the
    /// scheduling differs: one run per thread avoids the per-step hand-offs of a parallel run, which
    /// dominate for small fleets and small `d`. The `threads` setting of each job is ignored (one per
    /// run), and `wall_s` of each run is the single-threaded time of its fleet's lockstep run.
    ///
    /// A raised [`RunOptions::cancel`] flag ends the runs in progress at their next time step, no
    /// further run starts, and the result is [`EnergyError::Cancelled`].
    pub fn run_batch(
        jobs: Vec<(Fleet, Settings)>,
        methods: &[Method],
        opts: impl Into<RunOptions>,
    ) -> Result<Vec<Self>> {
        let opts = opts.into();
        use std::sync::Mutex;
        let exps = jobs
            .into_iter()
            .map(|(fleet, mut settings)| {
                settings.threads = Some(1);
                Experiment::new(fleet, settings)
            })
            .collect::<Result<Vec<_>>>()?;
        // relative cost of a job: agents x steps x (d + PER_AGENT_COORDS)
        let cost = |e: &Experiment| {
            (e.agents.len() * e.settings.n_steps) as f64 * (e.fleet.dim() as f64 + PER_AGENT_COORDS)
        };
        let costs: Vec<f64> = exps.iter().map(cost).collect();
        let workers = rayon::current_num_threads().clamp(1, exps.len().max(1));
        // each worker's planned jobs (heaviest first); a worker whose list is empty takes the
        // lightest job not yet started from the list with the most cost left
        let plan = Mutex::new(
            crate::schedule::partition(&costs, workers)
                .into_iter()
                .map(std::collections::VecDeque::from)
                .collect::<Vec<_>>(),
        );
        let next_job = |w: usize| {
            let mut lists = plan.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(j) = lists[w].pop_front() {
                return Some(j);
            }
            let left =
                |l: &std::collections::VecDeque<usize>| l.iter().map(|&j| costs[j]).sum::<f64>();
            let from =
                (0..lists.len()).max_by(|&a, &b| left(&lists[a]).total_cmp(&left(&lists[b])))?;
            lists[from].pop_back()
        };
        let slots: Mutex<Vec<Option<Result<Vec<MethodRun>>>>> =
            Mutex::new((0..exps.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for w in 0..workers {
                let (next_job, exps, slots, opts) = (&next_job, &exps, &slots, &opts);
                scope.spawn(move || {
                    while let Some(j) = next_job(w) {
                        let r = exps[j].run_all(methods, opts.clone());
                        let mut guard = slots.lock().unwrap_or_else(|e| e.into_inner());
                        guard[j] = Some(r);
                    }
                });
            }
        });
        let done = slots.into_inner().unwrap_or_else(|e| e.into_inner());
        done.into_iter()
            .map(|r| {
                Ok(Self {
                    runs: r.transpose()?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The run of the method called `name`.
    pub fn get(&self, name: &str) -> Option<&MethodRun> {
        self.runs.iter().find(|r| r.method == name)
    }

    /// Saving of method `name` against method `base` (see [`Saving::of`]).
    pub fn saving(&self, name: &str, base: &str) -> Result<Saving> {
        let find = |n: &str| {
            self.get(n).ok_or_else(|| EnergyError::Invalid {
                field: "method",
                value: n.to_string(),
                reason: "no run of this method in the comparison",
            })
        };
        Saving::of(find(name)?, find(base)?)
    }
}
