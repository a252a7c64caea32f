//! Per-step observers: reductions over the ensemble that never store the whole path unless asked.
//!
//! Every reduction sums particles in fixed blocks of [`RNG_BLOCK`] (in parallel, each block in
//! particle order), then adds the block partials of all ranks with the order-independent
//! [`reproducible_sum`]: the result is bit-identical for any thread count, chunk size and number of
//! ranks.

use crate::comm::Communicator;
use crate::grid::TimeGrid;
use crate::reduce::reproducible_sum;
use crate::rng::RNG_BLOCK;
use rayon::prelude::*;

/// What an observer sees at grid time `t_n`.
pub struct StepView<'a> {
    /// Step index `n` (`n = N` for the final state).
    pub step: usize,
    /// Time `t_n`.
    pub t: f64,
    /// Step `h_n = t_{n+1} - t_n` (0 for the final state).
    pub h: f64,
    /// States `x_n`, row-major `B x d`.
    pub x: &'a [f64],
    /// Drift `b(t_n, x_n)`, row-major `B x d`; `None` for the final state, and at every step of
    /// a run none of whose observers [needs the drift](Observer::needs_drift).
    pub drift: Option<&'a [f64]>,
    /// Whether this is the final state `t_N` (no step follows; `h = 0`).
    pub last: bool,
    /// State dimension `d`.
    pub dim: usize,
    /// Global index of local particle 0.
    pub offset: usize,
    /// Total particles over all ranks.
    pub total_particles: usize,
    /// The communicator for cross-rank reductions.
    pub comm: &'a dyn Communicator,
}

impl StepView<'_> {
    /// Local particle count.
    pub fn n_particles(&self) -> usize {
        self.x.len() / self.dim
    }
}

/// A per-step reduction.
pub trait Observer: Send {
    /// Called once before the first step.
    fn start(&mut self, grid: &TimeGrid, n_particles: usize, dim: usize) {
        let _ = (grid, n_particles, dim);
    }
    /// Called at `t_0 .. t_{N-1}` before each step and at `t_N` (`view.last`).
    fn observe(&mut self, view: &StepView<'_>);
    /// Whether [`observe`](Self::observe) reads [`StepView::drift`] (default `true`). When no
    /// observer of a run needs it, Euler-Maruyama and Milstein evaluate the drift chunk by chunk
    /// inside the update, so the `B x d` drift array is neither stored nor read back (same bits).
    fn needs_drift(&self) -> bool {
        true
    }
    /// The block form of this observer's steps `t_0 .. t_{N-1}`, when it has one (default
    /// `None`). A lockstep run ([`crate::lockstep`]) whose observers all either have one or do not
    /// [need the drift](Self::needs_drift) evaluates each chunk's drift inside the update, hands
    /// every RNG block's states and drift to [`Blocks::reduce`] while they are in cache, and then
    /// calls [`finish_blocks`](Self::finish_blocks) instead of [`observe`](Self::observe): the
    /// `B x d` drift array is neither stored nor read back. The final state `t_N` still goes to
    /// [`observe`](Self::observe). The block form must give the bits [`observe`](Self::observe)
    /// gives (the same sums in the same order). The run asks once before the first step and again
    /// at every step (once per tile in a run that goes in [tiles](Self::tiles)): an observer must
    /// answer `Some` at every call or at none (one that stops answering gets zero partials in
    /// [`finish_blocks`](Self::finish_blocks)).
    fn blocks(&mut self) -> Option<Blocks<'_>> {
        None
    }
    /// Finish a step observed by blocks: `sums.partials` holds each local block's partials in
    /// block order (`width` numbers each), e.g. for [`reproducible_sum`]. Called once per step
    /// after every block's [`BlockReduce::block`].
    fn finish_blocks(&mut self, sums: &BlockSums<'_>) {
        let _ = sums;
    }
    /// Whether this observer's block form lets a run take several steps of a chunk before the
    /// next chunk (time tiles, [`crate::RunConfig::tile_steps`]; default `false`). Then
    /// [`blocks`](Self::blocks) is asked once per tile, the blocks of a particle come in step
    /// order as before, and [`finish_blocks`](Self::finish_blocks) of the tile's steps come in
    /// step order after the blocks of all of them: so an observer may say `true` only if its
    /// `finish_blocks` reads nothing but the step's `sums` (not the per-particle state).
    fn tiles(&self) -> bool {
        false
    }
}

/// What [`BlockReduce::block`] sees: one RNG block's states and drift at `t_n`, before the update.
pub struct BlockView<'a> {
    /// Step `n`, time `t_n` and step `h_n`.
    pub step: usize,
    /// Time `t_n`.
    pub t: f64,
    /// Step `h_n = t_{n+1} - t_n`.
    pub h: f64,
    /// Local index of the block's first particle.
    pub first: usize,
    /// The block's states `x_n` (row-major, up to [`RNG_BLOCK`] particles of `dim`).
    pub x: &'a [f64],
    /// The block's drift `b(t_n, x_n)`, same layout.
    pub drift: &'a [f64],
    /// State dimension `d`.
    pub dim: usize,
}

/// The per-block part of an observation, run on every RNG block in parallel.
pub trait BlockReduce: Sync {
    /// Numbers of partials per block.
    fn width(&self) -> usize;
    /// Write block `v`'s `width` partials into `partials` (zeroed by the caller) and update its
    /// particles' entries of the observer's per-particle state (`state`: [`Blocks::state_width`]
    /// numbers per particle of the block).
    fn block(&self, v: &BlockView<'_>, partials: &mut [f64], state: &mut [f64]);
}

/// An observer's block form ([`Observer::blocks`]): the reduction and the per-particle state it
/// updates (`state_width` numbers per local particle; empty with width 0 for none).
pub struct Blocks<'a> {
    /// The per-block reduction.
    pub reduce: &'a dyn BlockReduce,
    /// Per-particle state, `state_width` numbers per local particle.
    pub state: &'a mut [f64],
    /// Numbers of state per particle.
    pub state_width: usize,
}

/// What [`Observer::finish_blocks`] gets: the step and the blocks' partials.
pub struct BlockSums<'a> {
    /// Step `n`.
    pub step: usize,
    /// Time `t_n`.
    pub t: f64,
    /// Step `h_n`.
    pub h: f64,
    /// Local blocks' partials in block order, `width` numbers each.
    pub partials: &'a [f64],
    /// Numbers per block.
    pub width: usize,
    /// Total particles over all ranks.
    pub total_particles: usize,
    /// The communicator for cross-rank reductions.
    pub comm: &'a dyn Communicator,
}

/// Sample mean `m = sum_i v_i / n` and standard error of the mean `sqrt(s^2 / n)` with
/// `s^2 = sum_i (v_i - m)^2 / (n - 1)`; the mean is NaN for an empty sample, the error NaN for
/// fewer than two values.
pub fn mean_stderr(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, f64::NAN);
    }
    let var = v.iter().map(|e| (e - m) * (e - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// [`mean_stderr`] of values spread over ranks (`v` the local values of particles
/// `offset .. offset + v.len()` of `total`, in whole RNG blocks): [`mean_var_on`], then
/// `sqrt(s^2 / n)`. Collective; the result is the same on every rank and bit-identical for any
/// number of ranks (not bit-identical to the serial fold of [`mean_stderr`]). Traffic: two
/// reproducible sums of one number, independent of `total`.
pub fn mean_stderr_on(comm: &dyn Communicator, v: &[f64], total: usize) -> (f64, f64) {
    let (m, var) = mean_var_on(comm, v, total);
    (m, (var / total as f64).sqrt())
}

/// Mean and variance (divisor `n - 1`) of values spread over ranks, as [`mean_stderr_on`], by two
/// [`blocked_sum`]s: `m = sum_i v_i / n`, `s^2 = sum_i (v_i - m)^2 / (n - 1)`; `(NaN, NaN)` for
/// `total = 0` and `(m, NaN)` for `total = 1` (one sum). Collective.
pub fn mean_var_on(comm: &dyn Communicator, v: &[f64], total: usize) -> (f64, f64) {
    if total == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (mut partials, mut s) = (Vec::new(), [0.0]);
    blocked_sum(comm, v.len(), 1, &mut partials, &mut s, |i, acc| {
        acc[0] += v[i];
    });
    let n = total as f64;
    let m = s[0] / n;
    if total < 2 {
        return (m, f64::NAN);
    }
    blocked_sum(comm, v.len(), 1, &mut partials, &mut s, |i, acc| {
        acc[0] += (v[i] - m) * (v[i] - m);
    });
    (m, s[0] / (n - 1.0))
}

/// Deterministic blocked sum over all ranks: `out = sum_i f(i)` over the particles `i` of every
/// rank, where `f(i, acc)` adds local particle `i`'s (`i in 0..n`) `width` contributions into `acc`.
/// Collective (every rank calls it); the result is already global, no further all-reduce is needed.
/// `partials` is scratch kept by the caller.
pub fn blocked_sum<F>(
    comm: &dyn Communicator,
    n: usize,
    width: usize,
    partials: &mut Vec<f64>,
    out: &mut [f64],
    f: F,
) where
    F: Fn(usize, &mut [f64]) + Sync,
{
    let blocks = n.div_ceil(RNG_BLOCK);
    partials.clear();
    partials.resize(blocks * width, 0.0);
    partials
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(k, acc)| {
            let lo = k * RNG_BLOCK;
            let hi = (lo + RNG_BLOCK).min(n);
            for i in lo..hi {
                f(i, acc);
            }
        });
    reproducible_sum(comm, partials, width, out);
}

/// One record of [`Moments`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MomentRecord {
    /// Step index.
    pub step: usize,
    /// Time.
    pub t: f64,
    /// Ensemble mean (length `d`).
    pub mean: Vec<f64>,
    /// Ensemble covariance (row-major `d x d`, divisor `B - 1`), if requested.
    pub cov: Option<Vec<f64>>,
}

/// Mean (and optionally covariance) every `every` steps and at the final time.
///
/// Without the covariance it has a block form ([`Observer::blocks`]) that tiles: each block adds
/// its particles' states into its partials (particles in order, as [`blocked_sum`]) at the recorded
/// steps, so a lockstep run keeps its fused pass and its time tiles with it (same bits).
#[derive(Debug, Clone)]
pub struct Moments {
    covariance: bool,
    /// Recorded moments in time order.
    pub records: Vec<MomentRecord>,
    partials: Vec<f64>,
    blocks: MeanBlocks,
}

/// The block form of [`Moments`] without the covariance: a block's coordinate sums `Σ_i x_ij` at
/// the recorded steps, nothing at the others. Holds the recording period of its [`Moments`].
#[derive(Debug, Clone, Default)]
struct MeanBlocks {
    every: usize,
    d: usize,
}

impl MeanBlocks {
    /// Whether step `n` is recorded (every `every` steps).
    fn records(&self, n: usize) -> bool {
        n.is_multiple_of(self.every)
    }
}

/// `acc_j += Σ_i x_ij` over the rows of `x` (dimension `d`), rows in order: the mean's partial sum
/// of a block, in `observe` and in the block form alike.
fn add_rows(acc: &mut [f64], x: &[f64], d: usize) {
    for xi in x.chunks_exact(d) {
        for (a, v) in acc.iter_mut().zip(xi) {
            *a += v;
        }
    }
}

impl BlockReduce for MeanBlocks {
    fn width(&self) -> usize {
        self.d
    }
    fn block(&self, v: &BlockView<'_>, partials: &mut [f64], _state: &mut [f64]) {
        if self.records(v.step) {
            add_rows(partials, v.x, v.dim);
        }
    }
}

impl Moments {
    /// Record every `every` steps (>= 1; 0 is treated as 1) and at the end; with `covariance`, also the covariance.
    pub fn new(every: usize, covariance: bool) -> Self {
        Self {
            covariance,
            records: Vec::new(),
            partials: Vec::new(),
            blocks: MeanBlocks {
                every: every.max(1),
                d: 0,
            },
        }
    }
    /// The last record (the final state once the run finished).
    pub fn last(&self) -> Option<&MomentRecord> {
        self.records.last()
    }
}

impl Observer for Moments {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, _grid: &TimeGrid, _n: usize, d: usize) {
        self.records.clear();
        self.blocks.d = d;
    }
    fn observe(&mut self, v: &StepView<'_>) {
        if !v.last && !self.blocks.records(v.step) {
            return;
        }
        let (d, x, n) = (v.dim, v.x, v.n_particles());
        let total = v.total_particles as f64;
        let mut mean = vec![0.0; d];
        blocked_sum(v.comm, n, d, &mut self.partials, &mut mean, |i, acc| {
            add_rows(acc, &x[i * d..(i + 1) * d], d)
        });
        mean.iter_mut().for_each(|m| *m /= total);
        let cov = if self.covariance {
            let mut c = vec![0.0; d * d];
            let m = &mean;
            blocked_sum(v.comm, n, d * d, &mut self.partials, &mut c, |i, acc| {
                let xi = &x[i * d..(i + 1) * d];
                for a in 0..d {
                    let da = xi[a] - m[a];
                    for b in 0..d {
                        acc[a * d + b] += da * (xi[b] - m[b]);
                    }
                }
            });
            c.iter_mut().for_each(|ci| *ci /= (total - 1.0).max(1.0));
            Some(c)
        } else {
            None
        };
        self.records.push(MomentRecord {
            step: v.step,
            t: v.t,
            mean,
            cov,
        });
    }
    fn blocks(&mut self) -> Option<Blocks<'_>> {
        (!self.covariance).then_some(Blocks {
            reduce: &self.blocks,
            state: &mut [],
            state_width: 0,
        })
    }
    /// The mean of a recorded step from its blocks' sums (as [`blocked_sum`] in `observe`).
    fn finish_blocks(&mut self, sums: &BlockSums<'_>) {
        if !self.blocks.records(sums.step) {
            return;
        }
        let mut mean = vec![0.0; self.blocks.d];
        reproducible_sum(sums.comm, sums.partials, self.blocks.d, &mut mean);
        let total = sums.total_particles as f64;
        mean.iter_mut().for_each(|m| *m /= total);
        self.records.push(MomentRecord {
            step: sums.step,
            t: sums.t,
            mean,
            cov: None,
        });
    }
    /// `finish_blocks` reads only the step's sums.
    fn tiles(&self) -> bool {
        true
    }
}

/// Control energy `E = sum_n h_n mean_i |u(t_n, x_i)|²` (left Riemann sum, no factor ½), where `u`
/// is the drift handed to the runner; also the power trace, per-coordinate and per-particle energies.
///
/// One sweep over the drift per step: each block of [`RNG_BLOCK`] particles adds its `u_ij²` into
/// its partial per coordinate (particles in order) and `h Σ_j u_ij²` into each particle's energy
/// (coordinates in order); the partials go through [`reproducible_sum`]. It has a block form
/// ([`Observer::blocks`]), so a lockstep run feeds it inside the fused update, with the same bits.
#[derive(Debug, Clone, Default)]
pub struct ControlEnergy {
    /// Grid times `t_n` of the power trace.
    pub times: Vec<f64>,
    /// Power `P_n = mean_i |u(t_n, x_i)|²`.
    pub power: Vec<f64>,
    /// Cumulative energy after each step (`E(t_{n+1})`).
    pub cumulative: Vec<f64>,
    /// Energy per coordinate `E_j = sum_n h_n mean_i u_j²` (length `d`).
    pub per_coord: Vec<f64>,
    /// Energy per local particle `e_i = sum_n h_n |u_i|²` (length `B`).
    pub per_particle: Vec<f64>,
    partials: Vec<f64>,
    buf: Vec<f64>,
    blocks: EnergyBlocks,
}

/// The block form of [`ControlEnergy`]: [`crate::power::power_block`] on one block.
#[derive(Debug, Clone, Default)]
struct EnergyBlocks {
    d: usize,
}

impl BlockReduce for EnergyBlocks {
    fn width(&self) -> usize {
        self.d
    }
    fn block(&self, v: &BlockView<'_>, partials: &mut [f64], state: &mut [f64]) {
        crate::power::power_block(partials, state, v.drift, v.dim, v.h);
    }
}

impl ControlEnergy {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }
    /// Total energy `E(t_N)`.
    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }
    /// Standard error of the mean of per-particle energies (local particles).
    pub fn stderr(&self) -> f64 {
        mean_stderr(&self.per_particle).1
    }
    /// Peak power `max_n P_n`.
    pub fn peak_power(&self) -> f64 {
        self.power.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
    /// Close step `t_n` from the blocks' partials `Σ_i u_ij²`: `P_n = Σ_j mean_i u_ij²`,
    /// `E_j += h mean_i u_ij²`, `E(t_{n+1}) = E(t_n) + h P_n`.
    fn close_step(
        &mut self,
        comm: &dyn Communicator,
        partials: &[f64],
        (t, h): (f64, f64),
        total: usize,
    ) {
        reproducible_sum(comm, partials, self.per_coord.len(), &mut self.buf);
        let total = total as f64;
        let mut p = 0.0;
        for (ej, s) in self.per_coord.iter_mut().zip(&self.buf) {
            let pj = s / total;
            *ej += h * pj;
            p += pj;
        }
        let prev = self.total();
        self.times.push(t);
        self.power.push(p);
        self.cumulative.push(prev + h * p);
    }
}

impl Observer for ControlEnergy {
    fn start(&mut self, grid: &TimeGrid, n: usize, d: usize) {
        self.times.clear();
        self.power.clear();
        self.cumulative.clear();
        self.times.reserve(grid.n_steps());
        self.power.reserve(grid.n_steps());
        self.cumulative.reserve(grid.n_steps());
        self.per_coord = vec![0.0; d];
        self.per_particle = vec![0.0; n];
        self.buf = vec![0.0; d];
        self.blocks = EnergyBlocks { d };
    }
    fn observe(&mut self, v: &StepView<'_>) {
        let Some(u) = v.drift else { return };
        let (d, h, n) = (v.dim, v.h, v.n_particles());
        let mut partials = std::mem::take(&mut self.partials);
        partials.clear();
        partials.resize(n.div_ceil(RNG_BLOCK) * d, 0.0);
        partials
            .par_chunks_mut(d)
            .zip(self.per_particle[..n].par_chunks_mut(RNG_BLOCK))
            .zip(u[..n * d].par_chunks(RNG_BLOCK * d))
            .for_each(|((acc, ei), ub)| crate::power::power_block(acc, ei, ub, d, h));
        self.close_step(v.comm, &partials, (v.t, h), v.total_particles);
        self.partials = partials;
    }
    fn blocks(&mut self) -> Option<Blocks<'_>> {
        Some(Blocks {
            reduce: &self.blocks,
            state: &mut self.per_particle,
            state_width: 1,
        })
    }
    fn finish_blocks(&mut self, sums: &BlockSums<'_>) {
        self.close_step(
            sums.comm,
            sums.partials,
            (sums.t, sums.h),
            sums.total_particles,
        );
    }
    /// `finish_blocks` reads only the step's partials.
    fn tiles(&self) -> bool {
        true
    }
}

/// Histogram of one coordinate at chosen steps.
#[derive(Debug, Clone)]
pub struct Histogram {
    coord: usize,
    edges: Vec<f64>,
    steps: Vec<usize>,
    /// `(step, t, counts)` per recorded step; counts exclude samples outside the edges.
    pub records: Vec<(usize, f64, Vec<u64>)>,
    partials: Vec<f64>,
}

impl Histogram {
    /// Count coordinate `coord` in bins with the given sorted `edges` at each step in `steps`
    /// (use the grid's `n_steps()` for the final state).
    pub fn new(coord: usize, edges: Vec<f64>, steps: Vec<usize>) -> Self {
        Self {
            coord,
            edges,
            steps,
            records: Vec::new(),
            partials: Vec::new(),
        }
    }
}

impl Observer for Histogram {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, _grid: &TimeGrid, _n: usize, _d: usize) {
        self.records.clear();
    }
    fn observe(&mut self, v: &StepView<'_>) {
        if !self.steps.contains(&v.step) || self.edges.len() < 2 {
            return;
        }
        let bins = self.edges.len() - 1;
        let mut counts = vec![0.0; bins];
        let (d, c, e, x) = (v.dim, self.coord, &self.edges, v.x);
        blocked_sum(
            v.comm,
            v.n_particles(),
            bins,
            &mut self.partials,
            &mut counts,
            |i, acc| {
                let xi = x[i * d + c];
                if xi >= e[0] && xi < e[bins] {
                    let k = e.partition_point(|&edge| edge <= xi) - 1;
                    acc[k.min(bins - 1)] += 1.0;
                }
            },
        );
        self.records
            .push((v.step, v.t, counts.iter().map(|&c| c as u64).collect()));
    }
}

/// Stores the states of selected particles every `every` steps (and at the end).
/// Selecting all particles with `every = 1` stores the whole path.
#[derive(Debug, Clone)]
pub struct Trajectories {
    particles: Vec<usize>,
    every: usize,
    /// Recorded times.
    pub times: Vec<f64>,
    /// Per recorded time, the selected particles' states (row-major `particles.len() x d`).
    pub states: Vec<Vec<f64>>,
}

impl Trajectories {
    /// Record the local particles `particles` every `every` steps.
    pub fn new(particles: Vec<usize>, every: usize) -> Self {
        Self {
            particles,
            every: every.max(1),
            times: Vec::new(),
            states: Vec::new(),
        }
    }
}

impl Observer for Trajectories {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, grid: &TimeGrid, n: usize, _d: usize) {
        self.particles.retain(|&i| i < n);
        self.times.clear();
        self.states.clear();
        self.times.reserve(grid.n_steps() / self.every + 2);
    }
    fn observe(&mut self, v: &StepView<'_>) {
        if !v.last && !v.step.is_multiple_of(self.every) {
            return;
        }
        let d = v.dim;
        let mut s = Vec::with_capacity(self.particles.len() * d);
        for &i in &self.particles {
            s.extend_from_slice(&v.x[i * d..(i + 1) * d]);
        }
        self.times.push(v.t);
        self.states.push(s);
    }
}

/// One stored ensemble state: step `n`, time `t_n` and the kept particles' states (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Step index `n`.
    pub step: usize,
    /// Time `t_n`.
    pub t: f64,
    /// States of the first `keep` local particles, row-major `keep x d`.
    pub x: Vec<f64>,
}

/// Stores the states of the first `keep` local particles (all by default) at chosen steps.
#[derive(Debug, Clone)]
pub struct Snapshots {
    steps: Vec<usize>,
    keep: usize,
    /// The stored states, in the order the steps were reached.
    pub taken: Vec<Snapshot>,
}

impl Snapshots {
    /// Store every local particle at each step in `steps`.
    pub fn at_steps(steps: Vec<usize>) -> Self {
        Self {
            steps,
            keep: usize::MAX,
            taken: Vec::new(),
        }
    }

    /// Keep only the first `keep` local particles of each stored state.
    pub fn keep_first(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }
}

impl Observer for Snapshots {
    fn needs_drift(&self) -> bool {
        false
    }
    fn observe(&mut self, v: &StepView<'_>) {
        if self.steps.contains(&v.step) {
            let n = v.n_particles().min(self.keep);
            self.taken.push(Snapshot {
                step: v.step,
                t: v.t,
                x: v.x[..n * v.dim].to_vec(),
            });
        }
    }
}
