//! Lockstep runs: several drifts, each on its own copy of one ensemble, stepped together so every
//! Brownian increment is drawn once and used by all of them (one draw, many drifts).
//!
//! Member `k` follows `x^k_{n+1} = x^k_n + b_k(t_n, x^k_n) h_n + g(t_n) ΔW_n` (Euler-Maruyama,
//! additive noise) with the same `ΔW_n` for every `k`: the increments are the ones [`crate::run`]
//! draws for the same seed (the block sequences of [`crate::rng::BlockNormals`] keyed by
//! `(seed, DOMAIN_INCREMENTS, block)`, drawn in the order of [`crate::rng`]), so each member's result is bit-identical to a separate [`crate::run`] of its drift with
//! that seed, for any thread count and chunk size (tested). Differences between members are then
//! paired exactly (common random numbers), at the cost of one draw instead of one per member.

use crate::comm::{Communicator, SingleProcess};
use crate::drift::Drift;
use crate::ensemble::Ensemble;
use crate::error::SdeError;
use crate::grid::TimeGrid;
use crate::noise::Noise;
use crate::observe::{Observer, StepView};
use crate::rng::{block_normals, BlockNormals, DOMAIN_INCREMENTS, RNG_BLOCK};
use crate::runner::{
    check_cancel, em_additive_block, eval_drift_chunks, in_pool, AdditiveStep, ChunkLayout,
    RunConfig, RunSummary,
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
    /// drift of each member (`B x d` each)
    f: Vec<Vec<f64>>,
    /// drift scratch per member and chunk
    scratch: Vec<Vec<Vec<f64>>>,
    /// additive noise diagonal `g(t_n)` (length `d`)
    g: Vec<f64>,
    /// one block's normals of a step, per chunk (`RNG_BLOCK x d` each)
    z: Vec<Vec<f64>>,
    /// capacity kept for the per-step list of state chunks (always empty between steps)
    spare: Vec<&'static mut [f64]>,
    cancel: Option<crate::CancelToken>,
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
            f: vec![vec![0.0; b * d]; k],
            scratch: vec![vec![Vec::new(); n_chunks]; k],
            g: vec![0.0; d],
            z: vec![vec![0.0; RNG_BLOCK * d]; n_chunks],
            spare: Vec::with_capacity(n_chunks * k),
            cancel: cfg.cancel.clone(),
        }
    }

    fn run(
        &mut self,
        members: &mut [Member<'_>],
        noise: &Noise,
        grid: &TimeGrid,
    ) -> Result<RunSummary, SdeError> {
        let (d, b) = (self.d, self.f.first().map_or(0, |f| f.len() / self.d));
        for m in members.iter_mut() {
            for o in m.observers.iter_mut() {
                o.start(grid, b, d);
            }
        }
        let n_steps = grid.n_steps();
        for n in 0..n_steps {
            let (t, h) = (grid.times()[n], grid.step(n));
            check_cancel(self.cancel.as_ref(), self.comm, n, t)?;
            for (k, m) in members.iter_mut().enumerate() {
                self.drift_pass(k, m, n, t)?;
                self.observe(m, k, n, t, h, true);
            }
            noise.additive_at(t, &mut self.g);
            if !self.em_pass(members, h) {
                return Err(nonfinite_state(members, n, t + h, self.offset));
            }
        }
        for (k, m) in members.iter_mut().enumerate() {
            self.observe(m, k, n_steps, grid.end(), 0.0, false);
        }
        Ok(RunSummary {
            steps: n_steps,
            drift_passes: n_steps * members.len(),
        })
    }

    /// `x^k += b_k h + g ΔW` for every member `k`, drawing `ΔW = sqrt(h) ξ` once per particle and
    /// coordinate: per block one `fill` of its `P x d` normals (as [`crate::run`]), then the update
    /// of every member over them; returns whether every updated state is finite.
    fn em_pass(&mut self, members: &mut [Member<'_>], h: f64) -> bool {
        let (d, cx, k) = (self.d, self.chunk * self.d, members.len());
        // chunk-major list of the members' state chunks: entry c k + i is member i's chunk c
        let mut xs = recycle(std::mem::take(&mut self.spare));
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
                // every member's new states finite (checked by the update as it writes them)
                let mut finite = true;
                for (blk, rng) in rc.iter_mut().enumerate() {
                    let lo = blk * RNG_BLOCK * d;
                    let hi = (lo + RNG_BLOCK * d).min(len);
                    let xi = &mut z[..hi - lo];
                    rng.fill(xi);
                    for (x, fk) in xc.iter_mut().zip(f) {
                        let fb = &fk[c * cx + lo..c * cx + hi];
                        finite &= em_additive_block(&mut x[lo..hi], fb, xi, &add);
                    }
                }
                finite
            })
            .reduce(|| true, |a, b| a && b);
        self.spare = recycle(xs);
        finite
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

    fn observe(&self, m: &mut Member<'_>, k: usize, step: usize, t: f64, h: f64, drift: bool) {
        let view = StepView {
            step,
            t,
            h,
            x: m.ens.as_slice(),
            drift: drift.then_some(self.f[k].as_slice()),
            // the final state is the one observation without a drift
            last: !drift,
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

/// An empty list of chunk references with the allocation of `v` (cleared): the step loop keeps
/// one allocation for its per-step chunk list (in-place collect of an empty iterator; the closure
/// never runs).
fn recycle<'b>(mut v: Vec<&mut [f64]>) -> Vec<&'b mut [f64]> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'b mut [f64] { &mut [] })
        .collect()
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
        let w = recycle(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 10);
        assert_eq!(w.as_ptr() as usize, p);
    }
}
