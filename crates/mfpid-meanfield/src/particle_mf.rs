//! General interactions by particles: path-space reweighting with `V^MF` estimated from the
//! weighted empirical measure.
//!
//! The mean-field bridge is `P*(dω) ∝ R(dω) exp(-∫_0^1 V^MF_t[x_t; p_t] dt) a(x_0) b(x_1)`, with
//! `R` the reference diffusion started from `p_in` and `a`, `b` fixed by the two marginal laws
//! (the Schrödinger system in path space). Here `R` is Brownian motion with a constant drift `c`
//! (default `c = m̄_tar - m̄_in`): its density against driftless Brownian motion,
//! `exp(c·(x_1 - x_0) - |c|²/2)`, depends on the end points only and is absorbed into `a`, `b`, so
//! the bridge is the same, but the reference paths already travel towards the target.
//!
//! 1. Draw `N` reference paths once (starts from `p_in`, seeded: common random numbers).
//! 2. Given path potentials `L_i = ∫ V^MF_t(x^i_t) dt`, the weights
//!    `w_i ∝ exp(-L_i) a[bin_0(i)] b[bin_1(i)]` are fitted by iterative proportional fitting to the
//!    masses of `p_in` on start bins and of `p_tar` on end bins (binned marginal constraints; the
//!    bins are products of per-axis quantile bins of the reference paths' end points, so every
//!    axis bin holds about `N / bins` paths).
//! 3. `V^MF_t` at every particle from the weighted empirical measure `p_t = Σ w_j δ(x - x^j_t)`:
//!    exact `O(N²)` pair sums, or binned `O(N + bins²)` (cloud-in-cell deposit, convolution on the
//!    bins, linear interpolation back). The congestion cost `eps p_t(x)` uses a Gaussian kernel
//!    density estimate of bandwidth `h_k` (the same as the pair kernel
//!    `eps (2π h_k²)^{-d/2} exp(-|z|²/(2 h_k²))`).
//! 4. New `L` by the trapezoid rule; the outer fixed point on `L` runs through
//!    [`crate::fixed_point`].
//!
//! Control energy: `E ∫|u|² dt = 2 KL(P* | R_c) + 2 c·E[x_1 - x_0] - |c|²`, with
//! `KL ≈ Σ w_i log(N w_i)`.
//!
//! Over several processes ([`ParticleMf::new_on`]) each rank draws and holds only its
//! [`Shard`] of the paths (whole RNG blocks: the rows of the single-process draw), and everything
//! that couples paths is an exact reduction over the communicator, `O(bins)` numbers, independent
//! of `N`: the quantile bin edges are exact order statistics (bisection on the `f64` order), the
//! bin masses integer counts, the per-bin log-sum-exps of the weight fitting a global maximum and
//! a fixed-point integer sum ([`crate::exact_sum`]), the binned deposit likewise, and moments,
//! ESS and energy reproducible block sums. The outer fixed point runs on the distributed path
//! potentials ([`Executor::run_on`]). Results are bit-identical for any number of ranks; the
//! exact `O(N²)` estimator needs every path on every rank and is refused for more than one rank.

use mfpid_sde::observe::{blocked_sum, Trajectories};
use mfpid_sde::shard::{shard, Shard};
use mfpid_sde::{
    run_with_comm, Communicator, Ensemble, FnDrift, Noise, RunConfig, Scheme, SingleProcess,
    TimeGrid,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};
use crate::exact_sum::{exponent_above, order_statistics, GridSums};
use crate::fixed_point::{
    Executor, FixedPointMap, FixedPointOutcome, FixedPointSolver, IterObserver,
};
use crate::interaction::{potential_on_grid_1d, potential_on_grid_2d, Interaction};
use crate::law::Law;

/// How `V^MF` is estimated at the particles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum VmfEstimator {
    /// Exact pair sums over all particles, `O(N²)` per time.
    Exact,
    /// Cloud-in-cell deposit on `bins` per axis, kernel sum on the bins, linear interpolation
    /// back: `O(N + bins^(2d))` per time (`O(N + bins³)` for the Gaussian kernel in 2-D).
    Binned {
        /// Bins per axis.
        bins: usize,
    },
}

/// Configuration of [`ParticleMf`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticleMfConfig {
    /// Number of reference paths `N`.
    pub n_particles: usize,
    /// Euler steps of the reference paths (exact for Brownian motion with constant drift).
    pub n_steps: usize,
    /// Seed of the Brownian increments.
    pub seed: u64,
    /// Seed of the start samples.
    pub start_seed: u64,
    /// `V^MF` estimator.
    pub estimator: VmfEstimator,
    /// Start-constraint bins per axis (1 for a point start).
    pub start_bins: usize,
    /// End-constraint bins per axis.
    pub end_bins: usize,
    /// Kernel density bandwidth `h_k` for the congestion cost.
    pub kde_bandwidth: f64,
    /// Tolerance of the weight fitting (max error of a start-bin mass).
    pub ipf_tol: f64,
    /// Budget of the weight fitting.
    pub ipf_max_iter: usize,
    /// Constant reference drift `c` (`None`: `m̄_tar - m̄_in`).
    pub reference_drift: Option<Vec<f64>>,
}

impl ParticleMfConfig {
    /// Defaults: `N = 4000`, 50 steps, exact estimator, 1 start bin, 40 end bins, `h_k = 0.15`.
    pub fn new(n_particles: usize) -> Self {
        Self {
            n_particles,
            n_steps: 50,
            seed: 3,
            start_seed: 4,
            estimator: VmfEstimator::Exact,
            start_bins: 1,
            end_bins: 40,
            kde_bandwidth: 0.15,
            ipf_tol: 1e-10,
            ipf_max_iter: 10_000,
            reference_drift: None,
        }
    }
}

/// Axis-aligned product bins with `nb` bins per axis whose interior edges are the empirical
/// quantiles of the points on that axis (every axis bin holds about `N / nb` points); the outer
/// bins extend to infinity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Bins {
    d: usize,
    nb: usize,
    /// interior edges per axis (`nb - 1` each, sorted)
    edges: Vec<Vec<f64>>,
}

impl Bins {
    /// Edges from the `n` points of every rank (`pts` this rank's, row-major): the midpoints of
    /// the order statistics `v_(i-1)`, `v_(i)` at `i = k n / nb`, exactly as from one sort.
    fn quantiles(comm: &dyn Communicator, d: usize, nb: usize, pts: &[f64], n: usize) -> Self {
        let wanted: Vec<usize> = (1..nb)
            .flat_map(|k| {
                let i = (k * n) / nb;
                [i.saturating_sub(1), i.min(n - 1)]
            })
            .collect();
        let edges = (0..d)
            .map(|j| {
                let v: Vec<f64> = pts.chunks_exact(d).map(|p| p[j]).collect();
                let q = order_statistics(comm, &v, &wanted);
                let mut e: Vec<f64> = q.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])).collect();
                e.dedup();
                e
            })
            .collect();
        Self { d, nb, edges }
    }
    fn index(&self, p: &[f64]) -> usize {
        let mut k = 0;
        for j in (0..self.d).rev() {
            let i = self.edges[j].partition_point(|&e| e <= p[j]);
            k = k * self.nb + i;
        }
        k
    }
    fn len(&self) -> usize {
        self.nb.pow(self.d as u32)
    }
    /// Box of bin `k` (outer bins extended to infinity); empty axes (deduplicated edges) give an
    /// empty box.
    fn bounds(&self, k: usize) -> (Vec<f64>, Vec<f64>) {
        let mut lo = vec![0.0; self.d];
        let mut hi = vec![0.0; self.d];
        let mut r = k;
        for j in 0..self.d {
            let i = r % self.nb;
            r /= self.nb;
            let e = &self.edges[j];
            lo[j] = if i == 0 {
                f64::NEG_INFINITY
            } else {
                e.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            hi[j] = if i >= e.len() { f64::INFINITY } else { e[i] };
            if i > e.len() {
                hi[j] = lo[j];
            }
        }
        (lo, hi)
    }
}

/// Particle solver of the mean-field bridge with a general interaction (see the module docs),
/// on one rank of a communicator (`'c`; [`ParticleMf::new`] is the single-process solver).
pub struct ParticleMf<'c> {
    cfg: ParticleMfConfig,
    comm: &'c dyn Communicator,
    /// This rank's paths of the population.
    shard: Shard,
    d: usize,
    inter: Interaction,
    times: Vec<f64>,
    /// this rank's positions, `(T + 1) x count x d`
    paths: Vec<f64>,
    bin0: Vec<usize>,
    bin1: Vec<usize>,
    log_mu: Vec<f64>,
    log_nu: Vec<f64>,
    /// target mass that fell in end bins without any particle
    dropped_mass: f64,
    c: Vec<f64>,
    weights: Vec<f64>,
    la: Vec<f64>,
    lb: Vec<f64>,
}

/// `lse[k] = ln Σ_{i: bin[i] = k} exp(v(i))` over the particles of every rank (collective):
/// `M_k = max v` by an exact all-reduce, then `Σ exp(v - M_k)` (terms in `(0, 1]`) as an exact
/// fixed-point sum; `-inf` for empty groups. `O(groups)` numbers sent, bit-identical for any split.
fn binned_logsumexp(
    comm: &dyn Communicator,
    lse: &mut [f64],
    bin: &[usize],
    v: impl Fn(usize) -> f64,
) {
    lse.fill(f64::NEG_INFINITY);
    for (i, &b) in bin.iter().enumerate() {
        lse[b] = lse[b].max(v(i));
    }
    comm.all_reduce_max(lse);
    let mut sums = GridSums::new(vec![1; lse.len()]);
    for (i, &b) in bin.iter().enumerate() {
        if lse[b].is_finite() {
            sums.add(b, (v(i) - lse[b]).exp());
        }
    }
    for (l, s) in lse.iter_mut().zip(sums.reduce(comm)) {
        // ln Σ exp(v) = M + ln Σ exp(v - M)
        *l = if l.is_finite() { *l + s.ln() } else { *l };
    }
}

impl ParticleMf<'static> {
    /// Draw the reference paths and set up the marginal constraints (one process).
    pub fn new(cfg: ParticleMfConfig, p_in: &Law, p_tar: &Law, inter: Interaction) -> Result<Self> {
        Self::new_on(cfg, p_in, p_tar, inter, &SingleProcess)
    }
}

impl<'c> ParticleMf<'c> {
    /// The solver on rank `comm.rank()` of `comm.size()` (collective: every rank calls it with
    /// the same arguments): draws and holds only this rank's [`shard`] of the reference paths;
    /// every later call that couples paths reduces over `comm` (see the module docs). The exact
    /// estimator is refused for more than one rank.
    pub fn new_on(
        cfg: ParticleMfConfig,
        p_in: &Law,
        p_tar: &Law,
        inter: Interaction,
        comm: &'c dyn Communicator,
    ) -> Result<Self> {
        let d = p_in.dim();
        if p_tar.dim() != d {
            return Err(MeanFieldError::BadLength {
                what: "p_tar dimension",
                len: p_tar.dim(),
                expected: format!("d = {d}"),
            });
        }
        if d > 2 {
            return Err(MeanFieldError::OutOfRange {
                what: "dimension",
                value: d as f64,
                range: "1 or 2 (binned constraints and estimators)",
            });
        }
        if cfg.n_particles < 2 || cfg.n_steps == 0 || cfg.start_bins == 0 || cfg.end_bins == 0 {
            return Err(MeanFieldError::OutOfRange {
                what: "n_particles / n_steps / bins",
                value: 0.0,
                range: "n_particles >= 2, n_steps >= 1, bins >= 1",
            });
        }
        if let VmfEstimator::Binned { bins } = cfg.estimator {
            if bins < 3 {
                return Err(MeanFieldError::OutOfRange {
                    what: "estimator bins",
                    value: bins as f64,
                    range: "[3, inf)",
                });
            }
        }
        if cfg.estimator == VmfEstimator::Exact && comm.size() > 1 {
            return Err(MeanFieldError::OutOfRange {
                what: "ranks of the exact O(N^2) estimator (it needs every path on every rank)",
                value: comm.size() as f64,
                range: "1 (use VmfEstimator::Binned over several ranks)",
            });
        }
        if !(cfg.kde_bandwidth > 0.0 && cfg.kde_bandwidth.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "kde_bandwidth",
                value: cfg.kde_bandwidth,
                range: "(0, inf)",
            });
        }
        let (m_in, m_tar) = (p_in.mean(), p_tar.mean());
        let c = match &cfg.reference_drift {
            Some(c) => {
                if c.len() != d {
                    return Err(MeanFieldError::BadLength {
                        what: "reference_drift",
                        len: c.len(),
                        expected: format!("d = {d}"),
                    });
                }
                check_finite("reference_drift", c)?;
                c.clone()
            }
            None => m_tar.iter().zip(&m_in).map(|(a, b)| a - b).collect(),
        };
        let n = cfg.n_particles;
        let mine = shard(n, comm.size(), comm.rank())?;
        let nl = mine.count;
        let starts = p_in.sample_range(mine.offset, nl, n, cfg.start_seed)?;
        let grid = TimeGrid::uniform(0.0, 1.0, cfg.n_steps)?;
        let cc = c.clone();
        let mut drift = FnDrift::new(d, move |_t: f64, _x: &[f64], out: &mut [f64]| {
            out.copy_from_slice(&cc);
        });
        let mut ens = Ensemble::from_vec(nl, d, starts)?.with_offset(mine.offset)?;
        let mut traj = Trajectories::new((0..nl).collect(), 1);
        run_with_comm(
            &mut drift,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &RunConfig::new(Scheme::EulerMaruyama, cfg.seed),
            &mut [&mut traj],
            comm,
        )?;
        let times = traj.times.clone();
        let paths: Vec<f64> = traj.states.concat();
        let t_last = times.len() - 1;
        let first = &paths[..nl * d];
        let last = &paths[t_last * nl * d..];
        let b0 = Bins::quantiles(comm, d, cfg.start_bins, first, n);
        let b1 = Bins::quantiles(comm, d, cfg.end_bins, last, n);
        let bin0: Vec<usize> = first.chunks_exact(d).map(|p| b0.index(p)).collect();
        let bin1: Vec<usize> = last.chunks_exact(d).map(|p| b1.index(p)).collect();
        // paths per start bin and per end bin over every rank (integer counts: exact)
        let mut counts = vec![0i64; b0.len() + b1.len()];
        bin0.iter().for_each(|&k| counts[k] += 1);
        bin1.iter().for_each(|&k| counts[b0.len() + k] += 1);
        comm.all_reduce_sum_i64(&mut counts);
        // start masses: the sample fractions (the starts are p_in samples)
        let mu: Vec<f64> = counts[..b0.len()]
            .iter()
            .map(|&c| c as f64 / n as f64)
            .collect();
        // end masses of p_tar; bins without particles are dropped and the rest renormalised
        let occupied: Vec<bool> = counts[b0.len()..].iter().map(|&c| c > 0).collect();
        let mut nu = vec![0.0; b1.len()];
        let mut dropped = 0.0;
        for (k, o) in occupied.iter().enumerate() {
            let (lo, hi) = b1.bounds(k);
            let m = p_tar.box_mass(&lo, &hi)?;
            if *o {
                nu[k] = m;
            } else {
                dropped += m;
            }
        }
        let kept: f64 = nu.iter().sum();
        if kept.is_nan() || kept <= 0.0 {
            return Err(MeanFieldError::OutOfRange {
                what: "p_tar mass covered by the reference paths",
                value: kept,
                range: "(0, 1]",
            });
        }
        let log = |v: &[f64], s: f64| -> Vec<f64> {
            v.iter()
                .map(|m| {
                    if *m > 0.0 {
                        (m / s).ln()
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect()
        };
        Ok(Self {
            d,
            inter,
            times,
            paths,
            log_mu: log(&mu, 1.0),
            log_nu: log(&nu, kept),
            dropped_mass: dropped,
            la: vec![0.0; mu.len()],
            lb: vec![0.0; nu.len()],
            bin0,
            bin1,
            c,
            weights: vec![1.0 / n as f64; nl],
            cfg,
            comm,
            shard: mine,
        })
    }

    /// This rank's paths: global offset, count and population size.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Dimension `d`.
    pub fn dim_state(&self) -> usize {
        self.d
    }
    /// Path times `t_0 = 0 < ... < t_T = 1`.
    pub fn times(&self) -> &[f64] {
        &self.times
    }
    /// This rank's positions at time index `k` (row-major `count x d`).
    pub fn positions(&self, k: usize) -> &[f64] {
        let nd = self.shard.count * self.d;
        &self.paths[k * nd..(k + 1) * nd]
    }
    /// This rank's current weights (normalised over every rank).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Mass of `p_tar` in end bins that no reference path reached (dropped from the constraint).
    pub fn dropped_mass(&self) -> f64 {
        self.dropped_mass
    }
    /// Effective sample size `1 / Σ w_i²` (collective: a reproducible sum over the ranks).
    pub fn ess(&self) -> f64 {
        let w = &self.weights;
        let mut s = [0.0];
        blocked_sum(self.comm, w.len(), 1, &mut Vec::new(), &mut s, |i, acc| {
            acc[0] += w[i] * w[i];
        });
        1.0 / s[0]
    }

    /// Fit the weights to the marginal constraints for path potentials `l` (this rank's paths;
    /// IPF in the log domain; collective).
    #[allow(clippy::needless_range_loop)] // i indexes l, bin0 and bin1 together
    pub fn fit_weights(&mut self, l: &[f64]) -> Result<()> {
        let n = self.shard.count;
        if l.len() != n {
            return Err(MeanFieldError::BadLength {
                what: "path potentials",
                len: l.len(),
                expected: format!("this rank's paths, {n}"),
            });
        }
        // a non-finite potential on any rank stops every rank
        let bad = l.iter().position(|v| !v.is_finite());
        let mut flag = [if bad.is_some() { 1.0 } else { 0.0 }];
        self.comm.all_reduce_max(&mut flag);
        if flag[0] > 0.0 {
            return Err(MeanFieldError::NonFinite {
                what: "path potentials",
                index: bad.unwrap_or(0),
                value: bad.map_or(f64::NAN, |i| l[i]),
            });
        }
        let comm = self.comm;
        let (na, nb) = (self.la.len(), self.lb.len());
        let mut acc_a = vec![0.0; na];
        let mut acc_b = vec![0.0; nb];
        let mut err = f64::INFINITY;
        let mut it = 0;
        while it < self.cfg.ipf_max_iter {
            it += 1;
            // a: start constraint
            let lb = &self.lb;
            binned_logsumexp(comm, &mut acc_a, &self.bin0, |i| -l[i] + lb[self.bin1[i]]);
            for k in 0..na {
                let lse = acc_a[k];
                self.la[k] = if lse.is_finite() {
                    self.log_mu[k] - lse
                } else {
                    0.0
                };
            }
            // b: end constraint (exact after this update)
            let la = &self.la;
            binned_logsumexp(comm, &mut acc_b, &self.bin1, |i| -l[i] + la[self.bin0[i]]);
            for k in 0..nb {
                let lse = acc_b[k];
                self.lb[k] = if lse.is_finite() {
                    self.log_nu[k] - lse
                } else {
                    f64::NEG_INFINITY
                };
            }
            // start-constraint error with the new b
            let (la, lb) = (&self.la, &self.lb);
            binned_logsumexp(comm, &mut acc_a, &self.bin0, |i| {
                -l[i] + lb[self.bin1[i]] + la[self.bin0[i]]
            });
            err = 0.0;
            for k in 0..na {
                let m = acc_a[k].exp();
                let m = if m.is_finite() { m } else { 0.0 };
                err = err.max((m - self.log_mu[k].exp()).abs());
            }
            if err < self.cfg.ipf_tol {
                break;
            }
        }
        if err.is_nan() || err >= self.cfg.ipf_tol {
            return Err(MeanFieldError::NotConverged {
                solver: "ipf",
                iterations: it,
                tolerance: self.cfg.ipf_tol,
                history: vec![err],
                reason: "weight fitting budget exhausted".into(),
            });
        }
        // w_i = exp(lw_i - max) / Σ_j exp(lw_j - max) over every rank
        let mut lw: Vec<f64> = (0..n)
            .map(|i| -l[i] + self.la[self.bin0[i]] + self.lb[self.bin1[i]])
            .collect();
        let mut mx = [lw.iter().copied().fold(f64::NEG_INFINITY, f64::max)];
        comm.all_reduce_max(&mut mx);
        let mut sum = GridSums::new(vec![1]);
        for v in lw.iter_mut() {
            *v = (*v - mx[0]).exp();
            sum.add(0, *v);
        }
        let s = sum.reduce(comm)[0];
        for (w, v) in self.weights.iter_mut().zip(&lw) {
            *w = v / s;
        }
        Ok(())
    }

    /// The pair kernel actually summed (congestion becomes its Gaussian kernel density estimate).
    fn pair_kernel(&self) -> Interaction {
        match self.inter {
            Interaction::Congestion { eps } => {
                let h = self.cfg.kde_bandwidth;
                let norm = (2.0 * std::f64::consts::PI * h * h).powf(0.5 * self.d as f64);
                Interaction::Gaussian {
                    eps: eps / norm,
                    ell: h,
                }
            }
            ref other => other.clone(),
        }
    }

    /// `V^MF` at this rank's particles at time index `k`, from the current weights, into `out`
    /// (length `count`; collective for the binned estimator).
    pub fn potential_at(&self, k: usize, out: &mut [f64]) {
        let (d, n, comm) = (self.d, self.shard.count, self.comm);
        let x = self.positions(k);
        let t = self.times[k];
        let kern = self.pair_kernel();
        let w = &self.weights;
        match self.cfg.estimator {
            VmfEstimator::Exact => {
                out.par_iter_mut().enumerate().for_each(|(i, o)| {
                    let xi = &x[i * d..(i + 1) * d];
                    let mut s = 0.0;
                    for (xj, wj) in x.chunks_exact(d).zip(w) {
                        let mut r2 = 0.0;
                        for a in 0..d {
                            let z = xi[a] - xj[a];
                            r2 += z * z;
                        }
                        s += wj * kern.pair(t, r2).unwrap_or(0.0);
                    }
                    *o = s;
                });
            }
            VmfEstimator::Binned { bins } => {
                // box with one spare cell on each side: [-min, max] per axis over every rank
                // (exact), and the largest weight (the scale of the deposit's grid sums)
                let mut ext = vec![f64::NEG_INFINITY; 2 * d + 1];
                for p in x.chunks_exact(d) {
                    for a in 0..d {
                        ext[a] = ext[a].max(-p[a]);
                        ext[d + a] = ext[d + a].max(p[a]);
                    }
                }
                ext[2 * d] = w.iter().copied().fold(0.0, f64::max);
                comm.all_reduce_max(&mut ext);
                let lo: Vec<f64> = ext[..d].iter().map(|v| -v).collect();
                let hi = &ext[d..2 * d];
                let e_w = exponent_above(ext[2 * d]);
                let hcell: Vec<f64> = (0..d)
                    .map(|a| ((hi[a] - lo[a]) / (bins - 2) as f64).max(1e-9))
                    .collect();
                let lo: Vec<f64> = (0..d).map(|a| lo[a] - hcell[a]).collect();
                // cloud-in-cell weights of particle i: up to 2^d (cell, weight) pairs
                let cic = |p: &[f64], f: &mut dyn FnMut(usize, f64)| {
                    let mut idx = [0usize; 2];
                    let mut fr = [0.0f64; 2];
                    for a in 0..d {
                        let u = (p[a] - lo[a]) / hcell[a] - 0.5;
                        let i = (u.floor().max(0.0) as usize).min(bins - 2);
                        idx[a] = i;
                        fr[a] = (u - i as f64).clamp(0.0, 1.0);
                    }
                    if d == 1 {
                        f(idx[0], 1.0 - fr[0]);
                        f(idx[0] + 1, fr[0]);
                    } else {
                        for (dx, wx) in [(0, 1.0 - fr[0]), (1, fr[0])] {
                            for (dy, wy) in [(0, 1.0 - fr[1]), (1, fr[1])] {
                                f((idx[1] + dy) * bins + idx[0] + dx, wx * wy);
                            }
                        }
                    }
                };
                let nc = bins.pow(d as u32);
                let vol: f64 = hcell.iter().product();
                // deposit Σ_i w_i f_ic per cell over every rank (terms <= max w: exact grid sums)
                let mut mass = GridSums::new(vec![e_w; nc]);
                for i in 0..n {
                    let wi = w[i];
                    cic(&x[i * d..(i + 1) * d], &mut |c, f| mass.add(c, wi * f));
                }
                let dens: Vec<f64> = mass.reduce(comm).into_iter().map(|m| m / vol).collect();
                let mut vb = vec![0.0; nc];
                if d == 1 {
                    potential_on_grid_1d(&kern, t, hcell[0], &dens, &mut vb);
                } else {
                    potential_on_grid_2d(
                        &kern,
                        t,
                        (bins, bins),
                        (hcell[0], hcell[1]),
                        (lo[0], lo[1]),
                        &dens,
                        &mut vb,
                    );
                }
                out.par_iter_mut().enumerate().for_each(|(i, o)| {
                    let mut s = 0.0;
                    cic(&x[i * d..(i + 1) * d], &mut |c, f| s += f * vb[c]);
                    *o = s;
                });
            }
        }
    }

    /// Path potentials `L_i = ∫ V^MF dt` (trapezoid) of this rank's paths from the current
    /// weights (collective).
    pub fn path_potentials(&self) -> Vec<f64> {
        let n = self.shard.count;
        let mut l = vec![0.0; n];
        let mut v = vec![0.0; n];
        let last = self.times.len() - 1;
        for k in 0..=last {
            self.potential_at(k, &mut v);
            let h = if k == 0 {
                0.5 * (self.times[1] - self.times[0])
            } else if k == last {
                0.5 * (self.times[k] - self.times[k - 1])
            } else {
                0.5 * (self.times[k + 1] - self.times[k - 1])
            };
            for (li, vi) in l.iter_mut().zip(&v) {
                *li += h * vi;
            }
        }
        l
    }

    /// Weighted mean and per-coordinate variance at time index `k` (collective: reproducible
    /// block sums over the ranks).
    pub fn moments(&self, k: usize) -> (Vec<f64>, Vec<f64>) {
        let (d, n, w) = (self.d, self.shard.count, &self.weights);
        let x = self.positions(k);
        let mut partials = Vec::new();
        let mut m = vec![0.0; d];
        blocked_sum(self.comm, n, d, &mut partials, &mut m, |i, acc| {
            for a in 0..d {
                acc[a] += w[i] * x[i * d + a];
            }
        });
        let mut v = vec![0.0; d];
        let mean = &m;
        blocked_sum(self.comm, n, d, &mut partials, &mut v, |i, acc| {
            for a in 0..d {
                acc[a] += w[i] * (x[i * d + a] - mean[a]).powi(2);
            }
        });
        (m, v)
    }

    /// Kernel density estimate of the weighted particles at time index `k`, at `points`
    /// (row-major `P x d`), Gaussian bandwidth `h` (collective: reproducible block sums, `P`
    /// numbers per block of this rank in memory).
    pub fn density_at(&self, k: usize, points: &[f64], h: f64) -> Vec<f64> {
        let (d, n, w) = (self.d, self.shard.count, &self.weights);
        let x = self.positions(k);
        let norm = (2.0 * std::f64::consts::PI * h * h).powf(0.5 * d as f64);
        let np = points.len() / d;
        let mut s = vec![0.0; np];
        if np == 0 {
            return s;
        }
        blocked_sum(self.comm, n, np, &mut Vec::new(), &mut s, |i, acc| {
            let p = &x[i * d..(i + 1) * d];
            for (q, a) in points.chunks_exact(d).zip(acc.iter_mut()) {
                let mut r2 = 0.0;
                for j in 0..d {
                    r2 += (q[j] - p[j]).powi(2);
                }
                *a += w[i] * (-0.5 * r2 / (h * h)).exp();
            }
        });
        s.iter().map(|v| v / norm).collect()
    }

    /// Control energy `E ∫|u|² dt` of the weighted path measure (see the module docs;
    /// collective).
    pub fn energy(&self) -> f64 {
        let n = self.cfg.n_particles as f64;
        let w = &self.weights;
        let mut kl = [0.0];
        blocked_sum(self.comm, w.len(), 1, &mut Vec::new(), &mut kl, |i, acc| {
            if w[i] > 0.0 {
                acc[0] += w[i] * (n * w[i]).ln();
            }
        });
        let kl = kl[0];
        let last = self.times.len() - 1;
        let (m0, _) = self.moments(0);
        let (m1, _) = self.moments(last);
        let mut cross = 0.0;
        let mut c2 = 0.0;
        for a in 0..self.d {
            cross += self.c[a] * (m1[a] - m0[a]);
            c2 += self.c[a] * self.c[a];
        }
        2.0 * kl + 2.0 * cross - c2
    }

    /// Solve the outer fixed point on the path potentials, from `L = 0` (no interaction);
    /// collective: the iterate is distributed (each rank's outcome holds its paths' `L`, see
    /// [`Executor::run_on`]), so it is bit-identical for any number of ranks.
    pub fn solve(
        &mut self,
        solver: &mut dyn FixedPointSolver,
        executor: &Executor,
        observers: &mut [&mut dyn IterObserver],
    ) -> Result<FixedPointOutcome> {
        let (n, comm) = (self.shard.count, self.comm);
        let out = executor.run_on(self, solver, vec![0.0; n], observers, comm)?;
        self.fit_weights(&out.x)?;
        Ok(out)
    }
}

impl FixedPointMap for ParticleMf<'_> {
    /// This rank's paths (the iterate is distributed).
    fn dim(&self) -> usize {
        self.shard.count
    }
    fn apply(&mut self, l: &[f64], out: &mut [f64]) -> Result<()> {
        self.fit_weights(l)?;
        let new = self.path_potentials();
        out.copy_from_slice(&new);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_point::{Anderson, Criterion};
    use crate::grid_mf::{gaussian_bridge_1d, grid_moments_1d, GridMf1d, GridMfConfig};
    use mfpid_bridge::GaussianMixture;
    use mfpid_pde::Grid1d;

    fn normal(m: f64, v: f64) -> Law {
        Law::Mixture(GaussianMixture::isotropic(1, vec![1.0], vec![m], vec![v]).unwrap())
    }

    #[test]
    fn free_bridge_matches_gaussian_closed_form() {
        let (m0, v0, m1, v1) = (-1.0, 0.16, 1.0, 0.36);
        let mut cfg = ParticleMfConfig::new(6000);
        cfg.start_bins = 16;
        cfg.end_bins = 32;
        cfg.n_steps = 20;
        let inter = Interaction::gaussian(0.0, 1.0).unwrap();
        let mut pm = ParticleMf::new(cfg, &normal(m0, v0), &normal(m1, v1), inter).unwrap();
        pm.fit_weights(&vec![0.0; 6000]).unwrap();
        let (_, _, e) = gaussian_bridge_1d(m0, v0, m1, v1, 0.5);
        for k in [5, 10, 15] {
            let t = pm.times()[k];
            let (m, v) = pm.moments(k);
            let (me, ve, _) = gaussian_bridge_1d(m0, v0, m1, v1, t);
            let se = (v[0] / pm.ess()).sqrt();
            eprintln!(
                "t={t}: mean {:.4} vs {me:.4} (se {se:.4}), var {:.4} vs {ve:.4}; ess {:.0}",
                m[0],
                v[0],
                pm.ess()
            );
            assert!((m[0] - me).abs() < 4.0 * se + 0.01);
            assert!((v[0] - ve).abs() < 0.1 * ve);
        }
        eprintln!(
            "energy {} vs {e}, dropped {}",
            pm.energy(),
            pm.dropped_mass()
        );
        assert!((pm.energy() - e).abs() < 0.1 * e);
    }

    #[test]
    fn quadratic_kernel_mean_is_the_interpolant() {
        let p_in = Law::points(1, vec![-1.0]).unwrap();
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
                .unwrap(),
        );
        let mut cfg = ParticleMfConfig::new(3000);
        cfg.n_steps = 20;
        cfg.estimator = VmfEstimator::Binned { bins: 40 };
        let mut pm =
            ParticleMf::new(cfg, &p_in, &p_tar, Interaction::quadratic(6.0).unwrap()).unwrap();
        let ex = Executor::new(1e-6, 100, Criterion::Step).unwrap();
        let out = pm.solve(&mut Anderson::default(), &ex, &mut []).unwrap();
        for k in [5, 10, 15] {
            let t = pm.times()[k];
            let (m, v) = pm.moments(k);
            let lin = -1.0 + t * 1.66;
            let se = (v[0] / pm.ess()).sqrt();
            eprintln!(
                "t={t}: mean {:.4} vs interpolant {lin:.4} (se {se:.4}); it {} ess {:.0}",
                m[0],
                out.iterations,
                pm.ess()
            );
            assert!((m[0] - lin).abs() < 4.0 * se + 5e-3);
        }
    }

    #[test]
    fn particles_agree_with_grid_for_gaussian_repulsion() {
        let (m0, v0) = (-1.0, 0.16);
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.5, 0.5], vec![0.3, 1.7], vec![0.09, 0.09])
                .unwrap(),
        );
        let inter = Interaction::gaussian(2.0, 0.5).unwrap();
        // grid
        let grid = Grid1d::new(-4.0, 5.0, 180).unwrap();
        let p0 = grid.sample(|x| normal(m0, v0).pdf(&[x]).unwrap());
        let p1 = grid.sample(|x| p_tar.pdf(&[x]).unwrap());
        let gcfg = GridMfConfig {
            n_segments: 4,
            steps_per_segment: 40,
            ..Default::default()
        };
        let mut g = GridMf1d::new(grid, &p0, &p1, inter.clone(), gcfg).unwrap();
        let ex = Executor::new(1e-7, 100, Criterion::Step).unwrap();
        let x0 = g.free_start().unwrap();
        let gs = g.solve(&mut Anderson::default(), &ex, x0, &mut []).unwrap();
        let free = g.free_solution().unwrap();
        // particles (binned estimator; exact vs binned compared below on the same cloud)
        let mut cfg = ParticleMfConfig::new(2000);
        cfg.n_steps = 20;
        cfg.start_bins = 12;
        cfg.end_bins = 30;
        cfg.estimator = VmfEstimator::Binned { bins: 60 };
        let mut pm = ParticleMf::new(cfg.clone(), &normal(m0, v0), &p_tar, inter.clone()).unwrap();
        let pex = Executor::new(1e-6, 100, Criterion::Step).unwrap();
        let out = pm.solve(&mut Anderson::default(), &pex, &mut []).unwrap();
        for (kg, kp) in [(1, 5), (2, 10), (3, 15)] {
            assert!((pm.times()[kp] - gs.times[kg]).abs() < 1e-12);
            let (mg, vg) = grid_moments_1d(&grid, &gs.density[kg]);
            let (_, vf) = grid_moments_1d(&grid, &free.density[kg]);
            let (m, v) = pm.moments(kp);
            eprintln!(
                "t={}: grid mean {mg:.4} var {vg:.4} (free var {vf:.4}); particles mean {:.4} var {:.4}, ess {:.0}",
                gs.times[kg], m[0], v[0], pm.ess()
            );
            assert!((m[0] - mg).abs() < 0.03, "mean {} vs {mg}", m[0]);
            assert!((v[0] - vg).abs() < 0.08 * vg, "var {} vs {vg}", v[0]);
            // repulsion widens the population
            assert!(vg > vf);
        }
        eprintln!(
            "energy grid {} free {}, particles {}",
            gs.energy,
            free.energy,
            pm.energy()
        );
        assert!((pm.energy() - gs.energy).abs() < 0.03 * gs.energy);
        // exact O(N^2) and binned O(N) potentials agree on the converged weighted cloud
        cfg.estimator = VmfEstimator::Exact;
        let mut exact = ParticleMf::new(cfg, &normal(m0, v0), &p_tar, inter).unwrap();
        exact.fit_weights(&out.x).unwrap();
        let (mut va, mut vb) = (vec![0.0; 2000], vec![0.0; 2000]);
        for k in [5, 10, 15] {
            exact.potential_at(k, &mut va);
            pm.potential_at(k, &mut vb);
            let err = va
                .iter()
                .zip(&vb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-2 * 2.0, "exact vs binned V^MF at step {k}: {err}");
        }
    }
}

#[cfg(test)]
mod tests_2d {
    use super::*;
    use crate::fixed_point::{Anderson, Criterion};
    use mfpid_bridge::GaussianMixture;

    #[test]
    fn two_d_quadratic_mean_and_estimators() {
        let p_in = Law::points(2, vec![-1.0, 0.5]).unwrap();
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(
                2,
                vec![0.5, 0.5],
                vec![1.0, 0.0, 0.0, -1.0],
                vec![0.1, 0.1],
            )
            .unwrap(),
        );
        let mut cfg = ParticleMfConfig::new(1500);
        cfg.n_steps = 10;
        cfg.end_bins = 8;
        cfg.estimator = VmfEstimator::Binned { bins: 24 };
        let mut pm = ParticleMf::new(
            cfg.clone(),
            &p_in,
            &p_tar,
            Interaction::quadratic(4.0).unwrap(),
        )
        .unwrap();
        let ex = Executor::new(1e-6, 100, Criterion::Step).unwrap();
        pm.solve(&mut Anderson::default(), &ex, &mut []).unwrap();
        let (m, v) = pm.moments(5);
        let ess = pm.ess();
        let lin = [-1.0 + 0.5 * 1.5, 0.5 - 0.5 * 1.0];
        for a in 0..2 {
            let se = (v[a] / ess).sqrt();
            assert!(
                (m[a] - lin[a]).abs() < 4.0 * se + 5e-3,
                "coord {a}: {} vs {}",
                m[a],
                lin[a]
            );
        }
        // exact and binned Gaussian-kernel potentials agree on the same weighted cloud
        let inter = Interaction::gaussian(1.0, 0.6).unwrap();
        let mut a = ParticleMf::new(cfg.clone(), &p_in, &p_tar, inter.clone()).unwrap();
        cfg.estimator = VmfEstimator::Exact;
        let mut b = ParticleMf::new(cfg, &p_in, &p_tar, inter).unwrap();
        let l = vec![0.0; 1500];
        a.fit_weights(&l).unwrap();
        b.fit_weights(&l).unwrap();
        let (mut va, mut vb) = (vec![0.0; 1500], vec![0.0; 1500]);
        a.potential_at(5, &mut va);
        b.potential_at(5, &mut vb);
        let err = va
            .iter()
            .zip(&vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        let scale = vb.iter().copied().fold(0.0, f64::max);
        assert!(err < 0.03 * scale, "binned vs exact: {err} (scale {scale})");
    }

    #[test]
    fn bad_input_rejected() {
        let p = Law::points(1, vec![0.0]).unwrap();
        let q = Law::points(1, vec![1.0, 2.0]).unwrap();
        let inter = Interaction::gaussian(1.0, 0.5).unwrap();
        let mut cfg = ParticleMfConfig::new(1);
        assert!(ParticleMf::new(cfg.clone(), &p, &q, inter.clone()).is_err());
        cfg.n_particles = 100;
        cfg.kde_bandwidth = 0.0;
        assert!(ParticleMf::new(cfg.clone(), &p, &q, inter.clone()).is_err());
        cfg.kde_bandwidth = 0.1;
        cfg.estimator = VmfEstimator::Binned { bins: 2 };
        assert!(ParticleMf::new(cfg.clone(), &p, &q, inter.clone()).is_err());
        cfg.estimator = VmfEstimator::Exact;
        cfg.reference_drift = Some(vec![0.0, 1.0]);
        assert!(ParticleMf::new(cfg.clone(), &p, &q, inter.clone()).is_err());
        cfg.reference_drift = None;
        let p3 = Law::points(3, vec![0.0; 3]).unwrap();
        assert!(ParticleMf::new(cfg.clone(), &p3, &p3, inter.clone()).is_err());
        let mut pm = ParticleMf::new(cfg, &p, &q, inter).unwrap();
        assert!(pm.fit_weights(&[0.0; 3]).is_err());
    }
}
