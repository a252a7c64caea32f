//! Lockstep runs: several drifts, each on its own copy of one ensemble, stepped together so every
//! Brownian increment is drawn once and used by all of them (one draw, many drifts).
//!
//! Member `k` follows `x^k_{n+1} = x^k_n + b_k(t_n, x^k_n) h_n + g(t_n) ΔW_n` (Euler-Maruyama,
//! additive noise) with the same `ΔW_n` for every `k`: the increments are the ones [`crate::run`]
//! draws for the same seed (the block sequences of [`crate::rng::BlockNormals`] keyed by
//! `(seed, DOMAIN_INCREMENTS, block)`, drawn in the order of [`crate::rng`]), so each member's result is bit-identical to a separate [`crate::run`] of its drift with
//! that seed, for any thread count and chunk size (tested). Differences between members are then
//! paired exactly (common random numbers), at the cost of one draw instead of one per member.
//!
//! Time tiles ([`RunConfig::tile_steps`]): when every member's drift [forks](Drift::fork) and every
//! observer has a block form that [tiles](Observer::tiles), each chunk takes the tile's steps
//! (copy `s` of each drift prepared for step `s`) before the next chunk, so its states, starts and
//! drift buffer stay in cache; the same bits, and a failure inside a tile is the step-by-step
//! run's error (tested).

use crate::comm::{Communicator, SingleProcess};
use crate::drift::Drift;
use crate::ensemble::Ensemble;
use crate::error::SdeError;
use crate::grid::TimeGrid;
use crate::noise::Noise;
use crate::observe::{BlockReduce, BlockSums, BlockView, Observer, StepView};
use crate::rng::{block_normals, BlockNormals, DOMAIN_INCREMENTS, RNG_BLOCK};
use crate::runner::{
    check_cancel, check_drift, check_tile, chunks_per_group, em_additive_block, eval_drift_chunks,
    in_pool, AdditiveStep, BadDrift, ChunkLayout, RunConfig, RunSummary,
};
use crate::scheme::Scheme;
use rayon::prelude::*;

/// One member of a lockstep run: a drift, the ensemble it moves (same particles, dimension and
/// offset as every other member's) and its observers.
pub struct Member<'a> {
    /// The drift `b_k`.
    pub drift: &'a mut dyn Drift,
    /// The states `x^k`, updated in place.
    pub ens: &'a mut Ensemble,
    /// Observers of this member (called at every grid time, as in [`crate::run`]).
    pub observers: Vec<&'a mut dyn Observer>,
}

/// Step every member over `grid` together (Euler-Maruyama, additive noise), drawing each increment
/// once. Member `k`'s states and observations equal those of
/// `run(member.drift, noise, grid, member.ens, cfg, member.observers)` bit for bit.
///
/// ```
/// use mfpid_sde::{lockstep::{run_lockstep, Member}, run, Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid};
/// let grid = TimeGrid::uniform(0.0, 1.0, 50)?;
/// let cfg = RunConfig::new(Scheme::EulerMaruyama, 7);
/// let (mut slow, mut fast) = (LinearDrift::isotropic(2, 0.5, 0.0), LinearDrift::isotropic(2, 3.0, 1.0));
/// let (mut a, mut b) = (Ensemble::filled(300, &[1.0, -1.0])?, Ensemble::filled(300, &[1.0, -1.0])?);
/// run_lockstep(&mut [
///     Member { drift: &mut slow, ens: &mut a, observers: vec![] },
///     Member { drift: &mut fast, ens: &mut b, observers: vec![] },
/// ], &Noise::Scalar(1.0), &grid, &cfg)?;
/// let mut alone = Ensemble::filled(300, &[1.0, -1.0])?;
/// run(&mut LinearDrift::isotropic(2, 3.0, 1.0), &Noise::Scalar(1.0), &grid, &mut alone, &cfg, &mut [])?;
/// assert_eq!(alone.as_slice(), b.as_slice());
/// # Ok::<(), mfpid_sde::SdeError>(())
/// ```
pub fn run_lockstep(
    members: &mut [Member<'_>],
    noise: &Noise,
    grid: &TimeGrid,
    cfg: &RunConfig,
) -> Result<RunSummary, SdeError> {
    run_lockstep_with_comm(members, noise, grid, cfg, &SingleProcess)
}

/// [`run_lockstep`] with an explicit communicator for the observers' reductions (each rank holds
/// the same particle range in every member).
pub fn run_lockstep_with_comm(
    members: &mut [Member<'_>],
    noise: &Noise,
    grid: &TimeGrid,
    cfg: &RunConfig,
    comm: &dyn Communicator,
) -> Result<RunSummary, SdeError> {
    let shape = check(members, noise, cfg)?;
    let mut ls = Lockstep::new(shape, members.len(), cfg, comm);
    in_pool(cfg.threads, || ls.run(members, noise, grid))?
}

/// `(particles, d, offset)` shared by every member, after checking the run can be taken.
fn check(
    members: &[Member<'_>],
    noise: &Noise,
    cfg: &RunConfig,
) -> Result<(usize, usize, usize), SdeError> {
    let Some(first) = members.first() else {
        return Err(SdeError::Empty {
            field: "lockstep members",
        });
    };
    let (b, d, offset) = (first.ens.n_particles(), first.ens.dim(), first.ens.offset());
    for m in members {
        let e = &m.ens;
        if (e.n_particles(), e.dim(), e.offset()) != (b, d, offset) {
            return Err(SdeError::Invalid {
                field: "lockstep members",
                value: format!(
                    "ensemble of {} x {} at offset {} (first member: {b} x {d} at {offset})",
                    e.n_particles(),
                    e.dim(),
                    e.offset()
                ),
                reason: "every member needs the same particles, dimension and offset",
            });
        }
        if m.drift.dim() != d {
            return Err(SdeError::DimensionMismatch {
                what: "drift dimension vs ensemble dimension",
                expected: d,
                got: m.drift.dim(),
            });
        }
    }
    noise.validate(d)?;
    if cfg.scheme != Scheme::EulerMaruyama || !noise.is_additive() {
        return Err(SdeError::Unsupported {
            scheme: cfg.scheme.name(),
            noise: noise.kind(),
            why: "lockstep runs take Euler-Maruyama with additive noise; use run per drift",
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
    Ok((b, d, offset))
}

/// Buffers of a lockstep run, allocated once.
struct Lockstep<'c> {
    d: usize,
    offset: usize,
    chunk: usize,
    total: usize,
    comm: &'c dyn Communicator,
    /// the normal sequence of every particle block
    rngs: Vec<BlockNormals>,
    /// drift of each member (`B x d` each; empty when fused)
    f: Vec<Vec<f64>>,
    /// drift scratch per member and chunk (stored pass: `[k][c]`; fused: `[c k + k']`)
    scratch: Vec<Vec<Vec<f64>>>,
    /// additive noise diagonal `g(t_n)` of each step of a tile (`tile x d`)
    g: Vec<f64>,
    /// steps per tile of the fused pass (1: step by step; see [`RunConfig::tile_steps`])
    tile: usize,
    /// the drifts' copies of a tiled run, entry `s k + i` member `i`'s for the tile's step `s`
    /// (empty unless `tile > 1`)
    forks: Vec<Box<dyn Drift>>,
    /// one block's normals of a step, per chunk (`RNG_BLOCK x d` each)
    z: Vec<Vec<f64>>,
    /// the fused pass ([`Observer::blocks`]): chunks per work group, each group's drift buffer
    /// (one chunk per member, reused chunk after chunk), each block observer's `(member, index)`
    /// and per-block partials; empty when the drift is stored
    fused: Option<Fused>,
    /// capacity kept for the per-step lists (always empty between steps)
    spare: Vec<&'static mut [f64]>,
    spare_drifts: Vec<&'static dyn Drift>,
    spare_reduces: Vec<Reduce<'static>>,
    spare_adds: Vec<AdditiveStep<'static>>,
    cancel: Option<crate::CancelToken>,
}

/// Buffers of the fused pass.
struct Fused {
    chunks_per_group: usize,
    fgroup: Vec<Vec<f64>>,
    /// `(member, observer)` of every observer with a block form, in member then observer order
    at: Vec<(usize, usize)>,
    /// whether observer `o` of member `k` has a block form: `block[k][o]`
    block: Vec<Vec<bool>>,
    /// per block observer: its blocks' partials of every step of a tile (step, then block
    /// order, `width` each)
    partials: Vec<Vec<f64>>,
    widths: Vec<usize>,
    /// local RNG blocks
    n_blocks: usize,
}

/// The first failure of a chunk in a fused pass: at the tile's step `s`, of `member`.
#[derive(Clone, Copy)]
struct Fail {
    s: usize,
    member: usize,
    what: Failure,
}

/// What failed: a non-finite drift entry, or (with a finite drift) a non-finite new state entry
/// (flat index `k` in the local `B x d` array, and its value).
#[derive(Clone, Copy)]
enum Failure {
    Drift(BadDrift),
    State { k: usize, value: f64 },
}

impl Fail {
    /// The run's error is the first failure by step, then a drift before a state (a step's drift
    /// is checked before its states), then member, then particle order: the order of the step by
    /// step pass.
    fn key(&self) -> (usize, bool, usize, usize) {
        match self.what {
            Failure::Drift(b) => (self.s, false, self.member, b.k),
            Failure::State { k, .. } => (self.s, true, self.member, k),
        }
    }

    fn first(a: Option<Fail>, b: Option<Fail>) -> Option<Fail> {
        match (a, b) {
            (Some(p), Some(q)) => Some(if p.key() <= q.key() { p } else { q }),
            (p, q) => p.or(q),
        }
    }
}

/// The reduction of an observer that stopped offering its block form: nothing.
struct NoBlocks;

impl BlockReduce for NoBlocks {
    fn width(&self) -> usize {
        0
    }
    fn block(&self, _v: &BlockView<'_>, _partials: &mut [f64], _state: &mut [f64]) {}
}

/// One block observer's reduction during a fused pass.
#[derive(Clone, Copy)]
struct Reduce<'a> {
    member: usize,
    reduce: &'a dyn BlockReduce,
    width: usize,
    state_width: usize,
}

impl<'c> Lockstep<'c> {
    fn new(
        (b, d, offset): (usize, usize, usize),
        k: usize,
        cfg: &RunConfig,
        comm: &'c dyn Communicator,
    ) -> Self {
        let mut total = [b as f64];
        comm.all_reduce_sum(&mut total);
        let n_chunks = b.div_ceil(cfg.chunk_size);
        Self {
            d,
            offset,
            chunk: cfg.chunk_size,
            total: total[0] as usize,
            comm,
            rngs: block_normals(cfg.seed, DOMAIN_INCREMENTS, offset, b),
            f: Vec::new(),
            scratch: vec![vec![Vec::new(); n_chunks]; k],
            g: vec![0.0; d],
            tile: cfg.tile_steps,
            forks: Vec::new(),
            z: vec![vec![0.0; RNG_BLOCK * d]; n_chunks],
            fused: None,
            spare: Vec::with_capacity(n_chunks * k),
            spare_drifts: Vec::with_capacity(k),
            spare_reduces: Vec::new(),
            spare_adds: Vec::new(),
            cancel: cfg.cancel.clone(),
        }
    }

    /// The fused pass's buffers when every observer either has a block form or does not need the
    /// drift; `None` (the drift stored, `B x d` per member) otherwise. Sets the tile: `tile_steps`
    /// when every observer has a block form that [tiles](Observer::tiles) and every drift
    /// [forks](Drift::fork) (the copies go to `forks`), else 1.
    fn plan_fused(&mut self, members: &mut [Member<'_>], b: usize) -> Option<Fused> {
        let mut block = Vec::with_capacity(members.len());
        let (mut at, mut widths) = (Vec::new(), Vec::new());
        let mut tiles = self.tile > 1;
        for (k, m) in members.iter_mut().enumerate() {
            let mut flags = Vec::with_capacity(m.observers.len());
            for (o, obs) in m.observers.iter_mut().enumerate() {
                let width = obs.blocks().map(|bl| bl.reduce.width());
                if width.is_none() && obs.needs_drift() {
                    self.tile = 1;
                    return None;
                }
                tiles &= width.is_some() && obs.tiles();
                if let Some(w) = width {
                    at.push((k, o));
                    widths.push(w);
                }
                flags.push(width.is_some());
            }
            block.push(flags);
        }
        if tiles {
            // one copy of every drift per step of a tile
            let forks: Option<Vec<_>> = (0..self.tile)
                .flat_map(|_| members.iter().map(|m| m.drift.fork()))
                .collect();
            match forks {
                Some(f) => self.forks = f,
                None => tiles = false,
            }
        }
        if !tiles {
            self.tile = 1;
        }
        let n_chunks = self.z.len();
        let chunks_per_group = chunks_per_group(n_chunks);
        let n_blocks = b.div_ceil(RNG_BLOCK);
        self.g = vec![0.0; self.tile * self.d];
        Some(Fused {
            chunks_per_group,
            fgroup: vec![
                vec![0.0; members.len() * self.chunk * self.d];
                n_chunks.div_ceil(chunks_per_group)
            ],
            at,
            block,
            partials: widths
                .iter()
                .map(|w| vec![0.0; self.tile * n_blocks * w])
                .collect(),
            widths,
            n_blocks,
        })
    }

    fn run(
        &mut self,
        members: &mut [Member<'_>],
        noise: &Noise,
        grid: &TimeGrid,
    ) -> Result<RunSummary, SdeError> {
        let (d, b) = (self.d, members.first().map_or(0, |m| m.ens.n_particles()));
        for m in members.iter_mut() {
            for o in m.observers.iter_mut() {
                o.start(grid, b, d);
            }
        }
        self.fused = self.plan_fused(members, b);
        if self.fused.is_some() {
            let n_chunks = self.z.len();
            self.scratch = vec![vec![Vec::new(); n_chunks * members.len()]];
        } else {
            self.f = vec![vec![0.0; b * d]; members.len()];
        }
        let n_steps = grid.n_steps();
        let mut n = 0;
        while n < n_steps {
            let (t, h) = (grid.times()[n], grid.step(n));
            check_cancel(self.cancel.as_ref(), self.comm, n, t)?;
            if self.fused.is_some() {
                let len = self.prepare_tile(members, noise, grid, n)?;
                if self.tile == 1 {
                    for (k, m) in members.iter_mut().enumerate() {
                        self.observe(m, k, n, t, h, false);
                    }
                }
                let fail = self.fused_pass(members, grid, n, len);
                self.finish_blocks(members, grid, n, len, fail)?;
                n += len;
            } else {
                noise.additive_at(t, &mut self.g[..d]);
                for (k, m) in members.iter_mut().enumerate() {
                    self.drift_pass(k, m, n, t)?;
                    self.observe(m, k, n, t, h, true);
                }
                if !self.em_pass(members, h) {
                    return Err(nonfinite_state(members, n, t + h, self.offset));
                }
                n += 1;
            }
        }
        if self.tile > 1 && n_steps > 0 {
            // the drifts as a step-by-step run leaves them: prepared for the last step
            let t = grid.times()[n_steps - 1];
            for m in members.iter_mut() {
                m.drift
                    .prepare(t)
                    .map_err(|source| SdeError::Prepare { t, source })?;
            }
        }
        for m in members.iter_mut() {
            self.observe_last(m, n_steps, grid.end());
        }
        Ok(RunSummary {
            steps: n_steps,
            drift_passes: n_steps * members.len(),
        })
    }

    /// Prepare the steps of the tile from step `n` (step by step: the members' drifts; tiled: the
    /// copies) and their noise; returns the tile's length, cut before a step whose preparation
    /// fails (that step then starts the next tile and fails there, as step by step).
    fn prepare_tile(
        &mut self,
        members: &mut [Member<'_>],
        noise: &Noise,
        grid: &TimeGrid,
        n: usize,
    ) -> Result<usize, SdeError> {
        let (d, k) = (self.d, members.len());
        let want = self.tile.min(grid.n_steps() - n);
        for s in 0..want {
            let t = grid.times()[n + s];
            let prepared = if self.tile == 1 {
                members.iter_mut().try_for_each(|m| m.drift.prepare(t))
            } else {
                self.forks[s * k..(s + 1) * k]
                    .iter_mut()
                    .try_for_each(|f| f.prepare(t))
            };
            match prepared {
                Ok(()) => {
                    noise.additive_at(t, &mut self.g[s * d..(s + 1) * d]);
                }
                Err(source) if s == 0 => return Err(SdeError::Prepare { t, source }),
                Err(_) => return Ok(s),
            }
        }
        Ok(want)
    }

    /// `x^k += b_k h + g ΔW` for every member `k`, drawing `ΔW = sqrt(h) ξ` once per particle and
    /// coordinate: per block one `fill` of its `P x d` normals (as [`crate::run`]), then the update
    /// of every member over them; returns whether every updated state is finite.
    fn em_pass(&mut self, members: &mut [Member<'_>], h: f64) -> bool {
        let (d, cx, k) = (self.d, self.chunk * self.d, members.len());
        // chunk-major list of the members' state chunks: entry c k + i is member i's chunk c
        let mut xs: Vec<&mut [f64]> = recycle(std::mem::take(&mut self.spare));
        let n_chunks = self.z.len();
        xs.resize_with(n_chunks * k, || &mut []);
        for (i, m) in members.iter_mut().enumerate() {
            for (c, chunk) in m.ens.as_mut_slice().chunks_mut(cx).enumerate() {
                xs[c * k + i] = chunk;
            }
        }
        let (add, f) = (AdditiveStep::new(&self.g, h), &self.f);
        let blocks_per_chunk = self.chunk / RNG_BLOCK;
        let finite = xs
            .par_chunks_mut(k)
            .zip(self.rngs.par_chunks_mut(blocks_per_chunk))
            .zip(self.z.par_iter_mut())
            .enumerate()
            .map(|(c, ((xc, rc), z))| {
                let len = xc.first().map_or(0, |x| x.len());
                let drift = |kk: usize, lo: usize, hi: usize| &f[kk][c * cx + lo..c * cx + hi];
                update_chunk(xc, rc, z, (d, len), drift, &add)
            })
            .reduce(|| true, |a, b| a && b);
        self.spare = recycle(xs);
        finite
    }

    /// The steps `n .. n + len` of [`em_pass`](Self::em_pass) with each chunk's drifts evaluated
    /// in the pass, into its work group's buffer: per chunk and step (all the tile's steps of a
    /// chunk before the next chunk), every member's `b_k(t_n, x^k)` ([`Drift::eval`] on the chunks
    /// of the stored pass, so the same bits), every block observer's blocks of it, then the
    /// update over the shared normals. Returns the first failure ([`Fail::key`]); a chunk stops at
    /// its first failure, while the other chunks go on (a step-by-step run has then updated them
    /// up to the failing step; a tiled one may have gone further).
    fn fused_pass(
        &mut self,
        members: &mut [Member<'_>],
        grid: &TimeGrid,
        n: usize,
        len: usize,
    ) -> Option<Fail> {
        let fu = self.fused.as_mut()?;
        let (d, chunk, offset, k) = (self.d, self.chunk, self.offset, members.len());
        let (cx, n_chunks, jn) = (chunk * d, self.z.len(), fu.at.len());
        // per chunk `k + (len + 1) jn` slices: the members' states, the block observers'
        // partials of each step (step, then observer order), then their per-particle states
        let stride = k + (len + 1) * jn;
        let mut sl: Vec<&mut [f64]> = recycle(std::mem::take(&mut self.spare));
        sl.resize_with(n_chunks * stride, || &mut []);
        let mut drifts: Vec<&dyn Drift> = recycle(std::mem::take(&mut self.spare_drifts));
        let mut reduces: Vec<Reduce<'_>> = recycle(std::mem::take(&mut self.spare_reduces));
        let mut adds: Vec<AdditiveStep<'_>> = recycle(std::mem::take(&mut self.spare_adds));
        // the drift of member `i` at the tile's step `s`: `drifts[s k + i]`
        if self.tile > 1 {
            drifts.extend(self.forks[..len * k].iter().map(|f| &**f));
        }
        for s in 0..len {
            let h = grid.step(n + s);
            adds.push(AdditiveStep::new(&self.g[s * d..(s + 1) * d], h));
        }
        let mut partials = fu.partials.iter_mut();
        let bw = chunk / RNG_BLOCK;
        for (i, m) in members.iter_mut().enumerate() {
            if self.tile == 1 {
                drifts.push(&*m.drift);
            }
            for (c, xc) in m.ens.as_mut_slice().chunks_mut(cx).enumerate() {
                sl[c * stride + i] = xc;
            }
            let flags = &fu.block[i];
            for (obs, _) in m.observers.iter_mut().zip(flags).filter(|(_, &f)| f) {
                // block observer j: its partials, and its slots in every chunk's slices (an
                // observer that stopped answering gets zero partials and a no-op reduction)
                let j = reduces.len();
                let (bl, p) = match (obs.blocks(), partials.next()) {
                    (Some(bl), Some(p)) => (bl, p),
                    (_, p) => {
                        p.into_iter().for_each(|p| p.fill(0.0));
                        reduces.push(Reduce {
                            member: i,
                            reduce: &NoBlocks,
                            width: 0,
                            state_width: 0,
                        });
                        continue;
                    }
                };
                let (width, sw) = (bl.reduce.width(), bl.state_width);
                reduces.push(Reduce {
                    member: i,
                    reduce: bl.reduce,
                    width,
                    state_width: sw,
                });
                if width > 0 {
                    let steps = p.chunks_mut(fu.n_blocks * width).take(len);
                    for (s, ps) in steps.enumerate() {
                        for (c, pc) in ps.chunks_mut(bw * width).enumerate().take(n_chunks) {
                            sl[c * stride + k + s * jn + j] = pc;
                        }
                    }
                }
                if sw > 0 {
                    for (c, st) in bl.state.chunks_mut(chunk * sw).enumerate().take(n_chunks) {
                        sl[c * stride + k + len * jn + j] = st;
                    }
                }
            }
        }
        let cpg = fu.chunks_per_group;
        let (drifts_ref, reduces_ref, adds_ref) = (&drifts, &reduces, &adds);
        let times = &grid.times()[n..n + len];
        let fail = sl
            .par_chunks_mut(cpg * stride)
            .zip(self.rngs.par_chunks_mut(cpg * bw))
            .zip(self.z.par_chunks_mut(cpg))
            .zip(self.scratch[0].par_chunks_mut(cpg * k))
            .zip(fu.fgroup.par_iter_mut())
            .enumerate()
            .map(|(g, ((((slg, rg), zg), sg), fb))| {
                let mut fail = None;
                let chunks = slg
                    .chunks_mut(stride)
                    .zip(rg.chunks_mut(bw))
                    .zip(zg.iter_mut().zip(sg.chunks_mut(k)));
                for (i, ((slc, rc), (z, sc))) in chunks.enumerate() {
                    let c = g * cpg + i;
                    let (xc, rest) = slc.split_at_mut(k);
                    let (pc, stc) = rest.split_at_mut(len * jn);
                    let len_c = xc.first().map_or(0, |x| x.len());
                    for (s, (&t, add)) in times.iter().zip(adds_ref).enumerate() {
                        // b_k(t_n, x^k) of the chunk, member by member
                        let fcs = fb.chunks_mut(cx).zip(xc.iter()).zip(sc.iter_mut());
                        for (kk, ((fc, x), sk)) in fcs.enumerate() {
                            let first = offset + c * chunk;
                            drifts_ref[s * k + kk].eval(t, first, x, &mut fc[..len_c], sk);
                        }
                        // the block observers, block by block, before the update
                        let ps = pc[s * jn..(s + 1) * jn].iter_mut();
                        for (r, (p, st)) in reduces_ref.iter().zip(ps.zip(stc.iter_mut())) {
                            let (x, fc) = (&*xc[r.member], &fb[r.member * cx..][..len_c]);
                            let at = BlockAt {
                                step: n + s,
                                t,
                                h: add.h(),
                                first: c * chunk,
                                d,
                            };
                            observe_blocks(r, at, x, fc, p, st);
                        }
                        let drift =
                            |kk: usize, lo: usize, hi: usize| &fb[kk * cx + lo..kk * cx + hi];
                        if !update_chunk(xc, rc, z, (d, len_c), drift, add) {
                            // a non-finite drift shows as a non-finite state (`check_drift`)
                            let chunk_fail = chunk_failure(xc, &fb[..k * cx], (cx, len_c), c * cx);
                            fail = Fail::first(
                                fail,
                                chunk_fail.map(|(member, what)| Fail { s, member, what }),
                            );
                            break;
                        }
                    }
                }
                fail
            })
            .reduce(|| None, Fail::first);
        self.spare = recycle(sl);
        self.spare_drifts = recycle(drifts);
        self.spare_reduces = recycle(reduces);
        self.spare_adds = recycle(adds);
        fail
    }

    /// Hand every block observer the partials of the tile's steps before the failure, if any
    /// ([`Observer::finish_blocks`], step by step; a failing step's states were updated, so it is
    /// finished too unless its drift failed), then turn the failure into the run's error.
    fn finish_blocks(
        &mut self,
        members: &mut [Member<'_>],
        grid: &TimeGrid,
        n: usize,
        len: usize,
        fail: Option<Fail>,
    ) -> Result<(), SdeError> {
        let Some(fu) = self.fused.as_ref() else {
            return Ok(());
        };
        let done = match fail.map(|f| (f.s, f.what)) {
            None => len,
            Some((s, Failure::Drift(_))) => s,
            Some((s, Failure::State { .. })) => s + 1,
        };
        for s in 0..done {
            let (t, h) = (grid.times()[n + s], grid.step(n + s));
            for (((k, o), p), &width) in fu.at.iter().zip(&fu.partials).zip(&fu.widths) {
                let step_len = fu.n_blocks * width;
                let sums = BlockSums {
                    step: n + s,
                    t,
                    h,
                    partials: &p[s * step_len..(s + 1) * step_len],
                    width,
                    total_particles: self.total,
                    comm: self.comm,
                };
                if let Some(obs) = members.get_mut(*k).and_then(|m| m.observers.get_mut(*o)) {
                    obs.finish_blocks(&sums);
                }
            }
        }
        let Some(f) = fail else {
            return Ok(());
        };
        let (step, d) = (n + f.s, self.d);
        let (t, h) = (grid.times()[step], grid.step(step));
        Err(match f.what {
            Failure::Drift(bad) => bad.into_error(step, t, self.offset, d),
            Failure::State { k, value } => SdeError::NonFiniteState {
                step,
                t: t + h,
                particle: self.offset + k / d,
                coord: k % d,
                value,
            },
        })
    }

    /// `f_k = b_k(t, x^k)` over the ensemble, then check finiteness.
    fn drift_pass(
        &mut self,
        k: usize,
        m: &mut Member<'_>,
        step: usize,
        t: f64,
    ) -> Result<(), SdeError> {
        m.drift
            .prepare(t)
            .map_err(|source| SdeError::Prepare { t, source })?;
        let at = ChunkLayout {
            d: self.d,
            chunk: self.chunk,
            offset: self.offset,
        };
        let x = m.ens.as_slice();
        eval_drift_chunks(
            &*m.drift,
            at,
            step,
            t,
            x,
            &mut self.f[k],
            &mut self.scratch[k],
        )
    }

    /// Observe member `m` at `t_n` before the update: with the stored drift (`drift`), or, in a
    /// fused step, only the observers without a block form (which do not need the drift).
    fn observe(&self, m: &mut Member<'_>, k: usize, step: usize, t: f64, h: f64, drift: bool) {
        let view = StepView {
            step,
            t,
            h,
            x: m.ens.as_slice(),
            drift: drift.then(|| self.f[k].as_slice()),
            last: false,
            dim: self.d,
            offset: self.offset,
            total_particles: self.total,
            comm: self.comm,
        };
        let flags = self.fused.as_ref().and_then(|fu| fu.block.get(k));
        for (o, obs) in m.observers.iter_mut().enumerate() {
            if !flags.is_some_and(|f| f[o]) {
                obs.observe(&view);
            }
        }
    }

    /// Observe member `m`'s final state `t_N` (no drift).
    fn observe_last(&self, m: &mut Member<'_>, step: usize, t: f64) {
        let view = StepView {
            step,
            t,
            h: 0.0,
            x: m.ens.as_slice(),
            drift: None,
            last: true,
            dim: self.d,
            offset: self.offset,
            total_particles: self.total,
            comm: self.comm,
        };
        for o in m.observers.iter_mut() {
            o.observe(&view);
        }
    }
}

/// `x^k += b_k h + g ΔW` for every member `k` over one chunk (`len` entries per member, dimension
/// `d`): per block one `fill` of its normals, drawn once, then each member's update over them, its
/// drift entries `lo..hi` of the chunk given by `drift(k, lo, hi)`. Returns whether every new state
/// is finite (checked by the update as it writes them). The update of the stored and the fused pass.
fn update_chunk<'f>(
    xc: &mut [&mut [f64]],
    rc: &mut [BlockNormals],
    z: &mut [f64],
    (d, len): (usize, usize),
    drift: impl Fn(usize, usize, usize) -> &'f [f64],
    add: &AdditiveStep<'_>,
) -> bool {
    let mut finite = true;
    for (blk, rng) in rc.iter_mut().enumerate() {
        let lo = blk * RNG_BLOCK * d;
        let hi = (lo + RNG_BLOCK * d).min(len);
        if lo >= hi {
            break;
        }
        let xi = &mut z[..hi - lo];
        rng.fill(xi);
        for (k, x) in xc.iter_mut().enumerate() {
            finite &= em_additive_block(&mut x[lo..hi], drift(k, lo, hi), xi, add);
        }
    }
    finite
}

/// Where one block observer's blocks of a chunk are: step, `t_n`, `h_n`, the local index of the
/// chunk's first particle, dimension.
#[derive(Clone, Copy)]
struct BlockAt {
    step: usize,
    t: f64,
    h: f64,
    first: usize,
    d: usize,
}

/// One block observer `r` over a chunk's blocks (states `x`, drift `fc`): each block's partials
/// into `p` (zeroed first; `r.width` per block) and its particles' state in `st`.
fn observe_blocks(
    r: &Reduce<'_>,
    at: BlockAt,
    x: &[f64],
    fc: &[f64],
    p: &mut [f64],
    st: &mut [f64],
) {
    let d = at.d;
    for blk in 0..fc.len().div_ceil(RNG_BLOCK * d) {
        let lo = blk * RNG_BLOCK * d;
        let hi = (lo + RNG_BLOCK * d).min(fc.len());
        let view = BlockView {
            step: at.step,
            t: at.t,
            h: at.h,
            first: at.first + blk * RNG_BLOCK,
            x: &x[lo..hi],
            drift: &fc[lo..hi],
            dim: d,
        };
        let part = &mut p[blk * r.width..(blk + 1) * r.width];
        part.fill(0.0);
        let rows = (hi - lo) / d;
        let s0 = blk * RNG_BLOCK * r.state_width;
        let n_st = st.len();
        let state = &mut st[s0.min(n_st)..(s0 + rows * r.state_width).min(n_st)];
        r.reduce.block(&view, part, state);
    }
}

/// The failure of a chunk whose update wrote a non-finite state: the first member with a
/// non-finite drift entry (`fb`: the members' drift chunks, `cx` apart, `len` entries each), else
/// the first member with a non-finite new state; `at`: the flat index of the chunk's first entry.
fn chunk_failure(
    xc: &[&mut [f64]],
    fb: &[f64],
    (cx, len): (usize, usize),
    at: usize,
) -> Option<(usize, Failure)> {
    let drift = fb.chunks(cx).enumerate().find_map(|(kk, fc)| {
        check_drift(&fc[..len], at)
            .err()
            .map(|b| (kk, Failure::Drift(b)))
    });
    drift.or_else(|| {
        xc.iter().enumerate().find_map(|(kk, x)| {
            let j = x.iter().position(|v| !v.is_finite())?;
            Some((
                kk,
                Failure::State {
                    k: at + j,
                    value: x[j],
                },
            ))
        })
    })
}

/// The first non-finite state entry over the members (called only after a pass reported one).
fn nonfinite_state(members: &[Member<'_>], step: usize, t: f64, offset: usize) -> SdeError {
    let d = members.first().map_or(1, |m| m.ens.dim());
    let (x, k) = members
        .iter()
        .find_map(|m| {
            let x = m.ens.as_slice();
            x.iter().position(|v| !v.is_finite()).map(|k| (x, k))
        })
        .unwrap_or((&[f64::NAN], 0));
    SdeError::NonFiniteState {
        step,
        t,
        particle: offset + k / d,
        coord: k % d,
        value: x[k],
    }
}

/// An empty list with the allocation of `v` (cleared): the step loop keeps one allocation for
/// each per-step list (in-place collect of an empty iterator where the element types have the same
/// layout, e.g. references that differ only in lifetime; the closure never runs).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

#[cfg(test)]
mod tests {
    use super::recycle;

    #[test]
    fn recycle_keeps_the_allocation() {
        let mut a = [1.0; 4];
        let mut v: Vec<&mut [f64]> = Vec::with_capacity(10);
        v.push(&mut a);
        let p = v.as_ptr() as usize;
        let w: Vec<&mut [f64]> = recycle(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 10);
        assert_eq!(w.as_ptr() as usize, p);
    }

    /// The fused pass's lists of trait objects keep theirs too (references differing only in
    /// lifetime have one layout).
    #[test]
    fn recycle_keeps_the_allocation_of_trait_objects() {
        let drift = crate::LinearDrift::isotropic(2, 1.0, 0.0);
        let mut v: Vec<&dyn crate::Drift> = Vec::with_capacity(7);
        v.push(&drift);
        let p = v.as_ptr() as usize;
        let w: Vec<&'static dyn crate::Drift> = recycle(v);
        assert_eq!((w.len(), w.capacity(), w.as_ptr() as usize), (0, 7, p));
    }
}
