//! MF-PID with the quadratic interaction `V_t(z) = beta_t |z|²/2`.
//!
//! Then `V^MF_t[x; p] = beta_t |x - m_t|²/2 + beta_t tr Cov_t/2` and the mean-field problem is the
//! GH-PID bridge with centre `nu_t = m_t`, the population mean, found self-consistently. With a
//! piecewise-constant protocol the unknown is the centre trajectory `nu_i` (one per piece); the
//! map `F(nu)` is the ensemble mean at the piece midpoints of a particle simulation of the bridge
//! under `nu`, started from samples of `p_in` (each particle with its own start) and guided to
//! `p_tar`. The seed and the start samples are fixed, so every evaluation of `F` uses the same
//! random numbers (common random numbers) and `F` is a smooth deterministic map.
//!
//! The linear-interpolant theorem ([`crate::interpolant_centres`]) gives the answer in closed form;
//! [`QuadraticMf::solve`] is the general route it short-cuts.
//!
//! Over several processes ([`QuadraticMf::new_on`], [`QuadraticMf::solve_on`]) each rank holds and
//! simulates only its [`mfpid_sde::shard::Shard`] of the population (whole RNG blocks: the same
//! start samples and increments as the single-process run), and every population statistic is a
//! reproducible sum over the communicator (`O(M d)` numbers per evaluation of `F`, `O((M d)²)` for
//! the joint midpoint covariance): the iterates, the fixed point and every reported number are
//! bit-identical for any number of ranks.

use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::observe::{blocked_sum, mean_stderr_on, ControlEnergy, Observer, StepView};
use mfpid_sde::shard::{shard, Shard};
use mfpid_sde::{
    run_with_comm, Communicator, Ensemble, Noise, RunConfig, Scheme, SingleProcess, TimeGrid,
};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};
use crate::fixed_point::{
    Executor, FixedPointMap, FixedPointOutcome, FixedPointSolver, IterObserver,
};
use crate::law::{Law, LawTarget};
use mfpid_bridge::{interpolant_centres, piece_midpoints, validate_breaks};
use nalgebra::{DMatrix, DVector};

/// Ensemble mean and variance (per coordinate) at chosen grid times.
#[derive(Debug, Clone)]
pub struct TimeMoments {
    times: Vec<f64>,
    /// Means, row-major `times x d` (NaN until observed).
    pub mean: Vec<f64>,
    /// Variances (divisor `B - 1`), row-major `times x d`.
    pub var: Vec<f64>,
    d: usize,
    partials: Vec<f64>,
    buf: Vec<f64>,
    shift: Vec<f64>,
}

impl TimeMoments {
    /// Record at `times` (each must be a grid point; matched to within `1e-12`).
    pub fn new(times: Vec<f64>, d: usize) -> Self {
        let m = times.len();
        Self {
            times,
            mean: vec![f64::NAN; m * d],
            var: vec![f64::NAN; m * d],
            d,
            partials: Vec::new(),
            buf: vec![0.0; 2 * d],
            shift: Vec::with_capacity(d),
        }
    }
    /// The recording times.
    pub fn times(&self) -> &[f64] {
        &self.times
    }
}

impl Observer for TimeMoments {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, _grid: &TimeGrid, _n: usize, d: usize) {
        self.d = d;
        let m = self.times.len();
        self.mean = vec![f64::NAN; m * d];
        self.var = vec![f64::NAN; m * d];
        self.buf = vec![0.0; 2 * d];
    }
    fn observe(&mut self, v: &StepView<'_>) {
        let Some(k) = self.times.iter().position(|&s| (s - v.t).abs() < 1e-12) else {
            return;
        };
        let (d, x, n) = (v.dim, v.x, v.n_particles());
        // shifted sums (shift = global particle 0) for a stable variance; copied into the kept
        // buffer. Its rank sends the state, the others zeros, so every rank gets it exactly.
        self.shift.clear();
        if v.offset == 0 {
            self.shift.extend_from_slice(&x[..d]);
        } else {
            self.shift.resize(d, 0.0);
        }
        v.comm.all_reduce_sum(&mut self.shift);
        let shift = &self.shift;
        blocked_sum(
            v.comm,
            n,
            2 * d,
            &mut self.partials,
            &mut self.buf,
            |i, acc| {
                for j in 0..d {
                    let y = x[i * d + j] - shift[j];
                    acc[j] += y;
                    acc[d + j] += y * y;
                }
            },
        );
        let total = v.total_particles as f64;
        for (j, sj) in shift.iter().enumerate() {
            let s1 = self.buf[j] / total;
            let s2 = self.buf[d + j] / total;
            self.mean[k * d + j] = sj + s1;
            self.var[k * d + j] = (s2 - s1 * s1).max(0.0) * total / (total - 1.0).max(1.0);
        }
    }
}

/// Joint covariance of the ensemble means at chosen grid times: for `K` times and dimension `d`,
/// the `(K d) x (K d)` covariance of `x(s_a)` over particles (divisor `B - 1`), so that
/// `cov / B` is the covariance of the vector of sample means at those times (the same particles
/// are seen at every time, so the sample means at different times are correlated).
#[derive(Debug, Clone)]
pub struct TimeCovariance {
    times: Vec<f64>,
    d: usize,
    /// Snapshots of the local states at the recorded times, `K x B_local x d`.
    snaps: Vec<f64>,
    seen: usize,
    /// Means, row-major `K x d` (NaN until every time has been observed).
    pub mean: Vec<f64>,
    /// Covariance, row-major `(K d) x (K d)`, index `a = k d + j` (NaN until complete).
    pub cov: Vec<f64>,
    partials: Vec<f64>,
    buf: Vec<f64>,
}

impl TimeCovariance {
    /// Record at `times` (each a grid point, matched to within `1e-12`, in increasing order).
    pub fn new(times: Vec<f64>, d: usize) -> Self {
        let kd = times.len() * d;
        Self {
            times,
            d,
            snaps: Vec::new(),
            seen: 0,
            mean: vec![f64::NAN; kd],
            cov: vec![f64::NAN; kd * kd],
            partials: Vec::new(),
            buf: Vec::new(),
        }
    }
}

impl Observer for TimeCovariance {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, _grid: &TimeGrid, n: usize, d: usize) {
        self.d = d;
        let kd = self.times.len() * d;
        self.snaps = vec![0.0; self.times.len() * n * d];
        self.seen = 0;
        self.mean = vec![f64::NAN; kd];
        self.cov = vec![f64::NAN; kd * kd];
        self.buf = vec![0.0; kd * kd];
    }
    fn observe(&mut self, v: &StepView<'_>) {
        let Some(k) = self.times.iter().position(|&s| (s - v.t).abs() < 1e-12) else {
            return;
        };
        let (d, n) = (v.dim, v.n_particles());
        let len = n * d;
        self.snaps[k * len..(k + 1) * len].copy_from_slice(v.x);
        self.seen += 1;
        if self.seen < self.times.len() {
            return;
        }
        // every time seen: means, then centred cross products (two passes, blocked and reduced)
        let kt = self.times.len();
        let kd = kt * d;
        let snaps = &self.snaps;
        let total = v.total_particles as f64;
        let mut mean = std::mem::take(&mut self.mean);
        blocked_sum(v.comm, n, kd, &mut self.partials, &mut mean, |i, acc| {
            for kk in 0..kt {
                for j in 0..d {
                    acc[kk * d + j] += snaps[kk * len + i * d + j];
                }
            }
        });
        mean.iter_mut().for_each(|m| *m /= total);
        let mu = &mean;
        blocked_sum(
            v.comm,
            n,
            kd * kd,
            &mut self.partials,
            &mut self.buf,
            |i, acc| {
                for a in 0..kd {
                    let ya = snaps[(a / d) * len + i * d + a % d] - mu[a];
                    for b in 0..kd {
                        let yb = snaps[(b / d) * len + i * d + b % d] - mu[b];
                        acc[a * kd + b] += ya * yb;
                    }
                }
            },
        );
        let div = (total - 1.0).max(1.0);
        for (c, s) in self.cov.iter_mut().zip(&self.buf) {
            *c = s / div;
        }
        self.mean = mean;
    }
}

/// Configuration of a quadratic MF-PID problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuadraticMfConfig {
    /// Breaks `0 = t_0 < ... < t_M = 1`.
    pub breaks: Vec<f64>,
    /// `beta_i >= 0` per piece (1/time²).
    pub beta: Vec<f64>,
    /// Particles `B`.
    pub n_particles: usize,
    /// Euler-Maruyama steps over `[0, 1]` (aligned to the breaks and the piece midpoints).
    pub n_steps: usize,
    /// Seed of the Brownian increments (fixed across iterations: common random numbers).
    pub seed: u64,
    /// Seed of the start samples drawn from `p_in`.
    pub start_seed: u64,
    /// Time cut-off of the bridge drift (see `mfpid_bridge::Bridge::with_eps`).
    pub eps: f64,
}

impl QuadraticMfConfig {
    /// Defaults: `B = 4096`, 400 steps, seeds 1 and 2, `eps = 1e-3`.
    pub fn new(breaks: Vec<f64>, beta: Vec<f64>) -> Self {
        Self {
            breaks,
            beta,
            n_particles: 4096,
            n_steps: 400,
            seed: 1,
            start_seed: 2,
            eps: mfpid_bridge::DEFAULT_EPS,
        }
    }
}

/// Output of one particle simulation under a centre trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// Ensemble mean at the piece midpoints, row-major `M x d`.
    pub mid_mean: Vec<f64>,
    /// Standard error of those means, `sqrt(var / B)`, row-major `M x d`.
    pub mid_stderr: Vec<f64>,
    /// Covariance of the midpoint means as a vector, `Cov(x(s_a), x(s_b)) / B`, row-major
    /// `(M d) x (M d)` with index `a = i d + j` (the same particles at every midpoint).
    pub mid_cov: Vec<f64>,
    /// Terminal mean (length `d`).
    pub terminal_mean: Vec<f64>,
    /// Control energy `E(1) = sum_n h_n mean |u|²`.
    pub energy: f64,
    /// Standard error of `energy` (of the mean of the per-particle energies, a reproducible sum
    /// over ranks).
    pub energy_stderr: f64,
}

/// A quadratic-interaction MF-PID problem: the map `nu -> F(nu)` on the centre trajectory.
pub struct QuadraticMf {
    config: QuadraticMfConfig,
    d: usize,
    p_in: Law,
    p_tar: Law,
    target: LawTarget,
    /// This rank's particles of the population.
    shard: Shard,
    /// This rank's start samples, row-major `shard.count x d`.
    starts: Vec<f64>,
    midpoints: Vec<f64>,
    grid: TimeGrid,
    last: Option<Simulation>,
}

impl QuadraticMf {
    /// Validate and draw the start samples from `p_in` (one process).
    pub fn new(config: QuadraticMfConfig, p_in: Law, p_tar: Law) -> Result<Self> {
        Self::new_on(config, p_in, p_tar, &SingleProcess)
    }

    /// The problem on rank `comm.rank()` of `comm.size()`: validate and draw only this rank's
    /// [`shard`] of the start samples (the rows of the single-process draw). Every rank builds it
    /// with the same arguments; the map is then evaluated with [`QuadraticMf::simulate_on`] /
    /// [`QuadraticMf::solve_on`] on the same communicator.
    pub fn new_on(
        config: QuadraticMfConfig,
        p_in: Law,
        p_tar: Law,
        comm: &dyn Communicator,
    ) -> Result<Self> {
        validate_breaks(&config.breaks)?;
        let m = config.breaks.len() - 1;
        if config.beta.len() != m {
            return Err(MeanFieldError::BadLength {
                what: "beta",
                len: config.beta.len(),
                expected: format!("pieces M = {m}"),
            });
        }
        // beta validated by the protocol
        Protocol::piecewise(p_tar.dim(), config.breaks.clone(), config.beta.clone())?;
        let d = p_in.dim();
        if p_tar.dim() != d {
            return Err(MeanFieldError::BadLength {
                what: "p_tar dimension",
                len: p_tar.dim(),
                expected: format!("d = {d} (the dimension of p_in)"),
            });
        }
        if config.n_particles < 2 {
            return Err(MeanFieldError::OutOfRange {
                what: "n_particles",
                value: config.n_particles as f64,
                range: "[2, inf)",
            });
        }
        let midpoints = piece_midpoints(&config.breaks)?;
        let mut marks: Vec<f64> = config.breaks[1..m].to_vec();
        marks.extend_from_slice(&midpoints);
        marks.sort_by(f64::total_cmp);
        let grid = TimeGrid::aligned(0.0, 1.0, &marks, config.n_steps)?;
        let mine = shard(config.n_particles, comm.size(), comm.rank())?;
        let starts = p_in.sample_range(
            mine.offset,
            mine.count,
            config.n_particles,
            config.start_seed,
        )?;
        let target = p_tar.target()?;
        Ok(Self {
            config,
            d,
            p_in,
            p_tar,
            target,
            shard: mine,
            starts,
            midpoints,
            grid,
            last: None,
        })
    }

    /// Dimension `d`.
    pub fn dim_state(&self) -> usize {
        self.d
    }
    /// Number of pieces `M`.
    pub fn pieces(&self) -> usize {
        self.midpoints.len()
    }
    /// The configuration.
    pub fn config(&self) -> &QuadraticMfConfig {
        &self.config
    }
    /// Piece midpoints `s_i`.
    pub fn midpoints(&self) -> &[f64] {
        &self.midpoints
    }
    /// This rank's start samples (row-major `count x d`; all `B` of them in one process).
    pub fn starts(&self) -> &[f64] {
        &self.starts
    }
    /// This rank's particles: global offset, count and population size.
    pub fn shard(&self) -> Shard {
        self.shard
    }
    /// `m̄_in` and `m̄_tar`, the global means of the two laws.
    pub fn means(&self) -> (Vec<f64>, Vec<f64>) {
        (self.p_in.mean(), self.p_tar.mean())
    }
    /// Sample mean of all the starts (length `d`), a reproducible sum over the ranks of `comm`
    /// (collective; [`SingleProcess`] in one process).
    pub fn start_mean(&self, comm: &dyn Communicator) -> Result<Vec<f64>> {
        self.check_comm(comm)?;
        let (d, x) = (self.d, &self.starts);
        let mut m = vec![0.0; d];
        blocked_sum(
            comm,
            self.shard.count,
            d,
            &mut Vec::new(),
            &mut m,
            |i, acc| {
                acc.iter_mut()
                    .zip(&x[i * d..(i + 1) * d])
                    .for_each(|(a, b)| *a += b);
            },
        );
        let b = self.shard.total as f64;
        m.iter_mut().for_each(|a| *a /= b);
        Ok(m)
    }

    /// `comm` must be the communicator this problem was built for (same rank and size).
    fn check_comm(&self, comm: &dyn Communicator) -> Result<()> {
        let expected = shard(self.shard.total, comm.size(), comm.rank())?;
        if expected != self.shard {
            return Err(MeanFieldError::OutOfRange {
                what: "communicator size (the problem was built for another number of ranks)",
                value: comm.size() as f64,
                range: "the size of the communicator given to QuadraticMf::new_on",
            });
        }
        Ok(())
    }

    /// The theorem's centres: the linear interpolant of the global means at the piece midpoints.
    pub fn interpolant(&self) -> Result<Vec<f64>> {
        let (a, b) = self.means();
        Ok(interpolant_centres(&self.config.breaks, &a, &b)?)
    }

    /// `|m̄_tar - m̄_in|` (Euclidean).
    pub fn delta_m(&self) -> f64 {
        let (a, b) = self.means();
        a.iter()
            .zip(&b)
            .map(|(x, y)| (y - x).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// The spec's starting point: interpolant `+ amplitude sin(2π s_i) Δm` (`Δm = m̄_tar - m̄_in`).
    pub fn perturbed_start(&self, amplitude: f64) -> Result<Vec<f64>> {
        let (a, b) = self.means();
        let mut nu = self.interpolant()?;
        for (i, s) in self.midpoints.iter().enumerate() {
            let w = amplitude * (2.0 * std::f64::consts::PI * s).sin();
            for j in 0..self.d {
                nu[i * self.d + j] += w * (b[j] - a[j]);
            }
        }
        Ok(nu)
    }

    /// The exact map `nu -> E x(s_i)` of this problem, without Monte Carlo. The population mean
    /// is `A_t m̄_in + B_t m̄_tar + C_t[nu]` (the conditional mean is affine in the end points), so
    /// it depends on the laws only through their means: a Gaussian target with `p_tar`'s mean
    /// gives it for any `p_tar`.
    pub fn exact_map(&self) -> Result<AnalyticQuadraticMf> {
        let (a, b) = self.means();
        let g = GaussianMixture::isotropic(self.d, vec![1.0], b, vec![1.0])?;
        AnalyticQuadraticMf::new(self.config.breaks.clone(), self.config.beta.clone(), a, g)
    }

    /// The exact fixed point of the piecewise-constant problem (row-major `M x d`): what the
    /// particle fixed point estimates. It is the interpolant for constant beta; for a varying
    /// beta it differs from the interpolant at the midpoints by a deterministic amount (the
    /// piecewise-constant protocol, not Monte Carlo).
    pub fn exact_fixed_point(&self) -> Result<Vec<f64>> {
        self.exact_map()?.fixed_point()
    }

    /// Covariance of the particle fixed point, row-major `n x n` (`n = M d`), to first order:
    /// the fixed point of `F + eps` lies at `nu* + (I - J)^-1 eps`, so its covariance is
    /// `(I - J)^-1 Sigma (I - J)^-T` with `Sigma` = [`Simulation::mid_cov`] (covariance of the
    /// midpoint sample means, from the particles of one run) and `J = dF/dnu` from the exact map.
    pub fn fixed_point_covariance(&self, sim: &Simulation) -> Result<Vec<f64>> {
        let n = self.dim();
        if sim.mid_cov.len() != n * n {
            return Err(MeanFieldError::BadLength {
                what: "mid_cov",
                len: sim.mid_cov.len(),
                expected: format!("n^2 = {}", n * n),
            });
        }
        check_finite("mid_cov", &sim.mid_cov)?;
        let (jac, _) = self.exact_map()?.affine_parts()?;
        let a = DMatrix::identity(n, n) - DMatrix::from_row_slice(n, n, &jac);
        let inv = a.try_inverse().ok_or(MeanFieldError::Singular {
            what: "I - J (mean-map Jacobian)",
        })?;
        let sigma = DMatrix::from_row_slice(n, n, &sim.mid_cov);
        let c = &inv * sigma * inv.transpose();
        Ok((0..n * n).map(|k| c[(k / n, k % n)]).collect())
    }

    /// The protocol with centres `nu` (row-major `M x d`).
    pub fn protocol(&self, nu: &[f64]) -> Result<Protocol> {
        Ok(
            Protocol::piecewise(self.d, self.config.breaks.clone(), self.config.beta.clone())?
                .with_centres(nu.to_vec())?,
        )
    }

    /// One particle simulation of the bridge under centres `nu` (same random numbers every call).
    pub fn simulate(&self, nu: &[f64]) -> Result<Simulation> {
        self.simulate_on(nu, &SingleProcess)
    }

    /// [`QuadraticMf::simulate`] over the ranks of `comm` (collective): this rank moves its shard,
    /// every statistic is a reproducible sum over the ranks, the result is the same on every rank
    /// and bit-identical to the single-process simulation.
    pub fn simulate_on(&self, nu: &[f64], comm: &dyn Communicator) -> Result<Simulation> {
        self.check_comm(comm)?;
        let protocol = self.protocol(nu)?;
        let Shard { offset, count, .. } = self.shard;
        let mut bridge = Bridge::new(&protocol, self.target.clone())?
            .with_eps(self.config.eps)?
            .with_starts_at(offset, self.starts.clone())?;
        let b = self.config.n_particles;
        let mut ens =
            Ensemble::from_vec(count, self.d, self.starts.clone())?.with_offset(offset)?;
        let mut mom = TimeMoments::new(self.midpoints.clone(), self.d);
        let mut joint = TimeCovariance::new(self.midpoints.clone(), self.d);
        let mut energy = ControlEnergy::new();
        let mut last = TimeMoments::new(vec![1.0], self.d);
        let cfg = RunConfig::new(Scheme::EulerMaruyama, self.config.seed);
        run_with_comm(
            &mut bridge,
            &Noise::Scalar(1.0),
            &self.grid,
            &mut ens,
            &cfg,
            &mut [&mut mom, &mut joint, &mut energy, &mut last],
            comm,
        )?;
        let bf = b as f64;
        // stderr of the per-particle energies' mean: reproducible over ranks
        let (_, energy_stderr) = mean_stderr_on(comm, &energy.per_particle, b);
        Ok(Simulation {
            mid_cov: joint.cov.iter().map(|c| c / bf).collect(),
            mid_stderr: mom.var.iter().map(|v| (v / bf).sqrt()).collect(),
            mid_mean: mom.mean,
            terminal_mean: last.mean,
            energy: energy.total(),
            energy_stderr,
        })
    }

    /// The last simulation done by [`FixedPointMap::apply`].
    pub fn last_simulation(&self) -> Option<&Simulation> {
        self.last.as_ref()
    }

    /// Solve the fixed point `nu = F(nu)` from `nu0` with `solver` under `executor`.
    pub fn solve(
        &mut self,
        solver: &mut dyn FixedPointSolver,
        executor: &Executor,
        nu0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
    ) -> Result<MfSolution> {
        self.solve_on(solver, executor, nu0, observers, &SingleProcess)
    }

    /// [`QuadraticMf::solve`] over the ranks of `comm` (collective: every rank calls it with the
    /// same arguments). `F` is evaluated by [`QuadraticMf::simulate_on`], so every rank sees the
    /// same `F(nu)` and takes the same solver steps: the iterates, the fixed point and the whole
    /// [`MfSolution`] are identical on every rank and bit-identical to the single-process solve.
    pub fn solve_on(
        &mut self,
        solver: &mut dyn FixedPointSolver,
        executor: &Executor,
        nu0: Vec<f64>,
        observers: &mut [&mut dyn IterObserver],
        comm: &dyn Communicator,
    ) -> Result<MfSolution> {
        self.check_comm(comm)?;
        let interp = self.interpolant()?;
        let exact = self.exact_fixed_point()?;
        let dm = self.delta_m();
        let outcome = executor.run(&mut MapOn { mf: self, comm }, solver, nu0, observers)?;
        let sim = self.simulate_on(&outcome.x, comm)?;
        let n = interp.len();
        let fp_cov = self.fixed_point_covariance(&sim)?;
        let fp_stderr: Vec<f64> = (0..n).map(|k| fp_cov[k * n + k].max(0.0).sqrt()).collect();
        let max_abs = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        };
        let max_z = |r: &[f64]| {
            (0..n)
                .map(|k| (outcome.x[k] - r[k]).abs() / fp_stderr[k])
                .fold(0.0, f64::max)
        };
        let max_dev = max_abs(&outcome.x, &interp);
        let mc = sim.mid_stderr.iter().copied().fold(0.0, f64::max);
        let mut within = true;
        for ((a, b), se) in outcome.x.iter().zip(&interp).zip(&sim.mid_stderr) {
            within &= (a - b).abs() <= 3.0 * se;
        }
        let max_z_interpolant = max_z(&interp);
        let max_z_exact = max_z(&exact);
        Ok(MfSolution {
            max_dev_over_dm: max_dev / dm,
            mc_error_over_dm: mc / dm,
            within_3_stderr: within,
            fp_error_over_dm: fp_stderr.iter().copied().fold(0.0, f64::max) / dm,
            exact_dev_over_dm: max_abs(&exact, &interp) / dm,
            max_z_interpolant,
            max_z_exact,
            within_3_fp_errors: max_z_interpolant <= 3.0,
            interpolant: interp,
            exact_fixed_point: exact,
            fp_stderr,
            fp_cov,
            simulation: sim,
            outcome,
        })
    }
}

/// Probability that `max_i |z_i| > threshold` for `z ~ N(0, R)`, `R` the correlation matrix of
/// `cov` (row-major `n x n`, positive definite): how often a correct error bar flags at least one
/// of `n` correlated coordinates by chance. Monte Carlo with `draws` seeded samples (its own
/// standard error is `sqrt(p (1 - p) / draws)`).
pub fn max_abs_z_exceedance(
    cov: &[f64],
    n: usize,
    threshold: f64,
    draws: usize,
    seed: u64,
) -> Result<f64> {
    use rand_distr::{Distribution, StandardNormal};
    if cov.len() != n * n || n == 0 {
        return Err(MeanFieldError::BadLength {
            what: "cov",
            len: cov.len(),
            expected: format!("n^2 = {} with n >= 1", n * n),
        });
    }
    check_finite("cov", cov)?;
    if draws == 0 {
        return Err(MeanFieldError::Empty { what: "draws" });
    }
    let sd: Vec<f64> = (0..n).map(|i| cov[i * n + i].max(0.0).sqrt()).collect();
    if let Some(i) = sd.iter().position(|s| *s <= 0.0) {
        return Err(MeanFieldError::OutOfRange {
            what: "cov diagonal",
            value: cov[i * n + i],
            range: "(0, inf)",
        });
    }
    let corr = DMatrix::from_fn(n, n, |i, j| cov[i * n + j] / (sd[i] * sd[j]));
    let l = corr
        .cholesky()
        .ok_or(MeanFieldError::Singular {
            what: "correlation matrix (not positive definite)",
        })?
        .l();
    // "MAXZ": a random stream of its own
    let mut rng = mfpid_sde::rng::stream(seed, 0x4d41_585a, 0);
    let mut g = DVector::zeros(n);
    let mut z = DVector::zeros(n);
    let mut hits = 0usize;
    for _ in 0..draws {
        for gi in g.iter_mut() {
            *gi = StandardNormal.sample(&mut rng);
        }
        l.mul_to(&g, &mut z);
        if z.iter().any(|v| v.abs() > threshold) {
            hits += 1;
        }
    }
    Ok(hits as f64 / draws as f64)
}

/// Result of [`QuadraticMf::solve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfSolution {
    /// The converged fixed point and its history.
    pub outcome: FixedPointOutcome,
    /// The theorem's centres.
    pub interpolant: Vec<f64>,
    /// Simulation at the converged centres.
    pub simulation: Simulation,
    /// `max_i |nu_i - interpolant_i| / |Δm|`.
    pub max_dev_over_dm: f64,
    /// `max_i stderr_i / |Δm|`: the Monte Carlo error of the sample mean at the midpoints.
    pub mc_error_over_dm: f64,
    /// Whether `|nu_i - interpolant_i| <= 3 stderr_i` for every piece and coordinate
    /// (one-sample standard errors).
    pub within_3_stderr: bool,
    /// The exact fixed point of the piecewise-constant problem
    /// ([`QuadraticMf::exact_fixed_point`]).
    pub exact_fixed_point: Vec<f64>,
    /// `max_i |exact_i - interpolant_i| / |Δm|`: the protocol's deviation from the theorem.
    pub exact_dev_over_dm: f64,
    /// Monte Carlo standard error of the fixed point per midpoint and coordinate
    /// ([`QuadraticMf::fixed_point_covariance`]), row-major `M x d`.
    pub fp_stderr: Vec<f64>,
    /// Its full covariance, row-major `(M d) x (M d)`.
    pub fp_cov: Vec<f64>,
    /// `max_i fp_stderr_i / |Δm|`.
    pub fp_error_over_dm: f64,
    /// `max_i |nu_i - interpolant_i| / fp_stderr_i`.
    pub max_z_interpolant: f64,
    /// `max_i |nu_i - exact_i| / fp_stderr_i`.
    pub max_z_exact: f64,
    /// Whether `|nu_i - interpolant_i| <= 3 fp_stderr_i` for every piece and coordinate.
    pub within_3_fp_errors: bool,
}

impl FixedPointMap for QuadraticMf {
    fn dim(&self) -> usize {
        self.pieces() * self.d
    }
    fn apply(&mut self, nu: &[f64], out: &mut [f64]) -> Result<()> {
        MapOn {
            mf: self,
            comm: &SingleProcess,
        }
        .apply(nu, out)
    }
}

/// The map `nu -> F(nu)` of a [`QuadraticMf`] evaluated over the ranks of a communicator.
struct MapOn<'a> {
    mf: &'a mut QuadraticMf,
    comm: &'a dyn Communicator,
}

impl FixedPointMap for MapOn<'_> {
    fn dim(&self) -> usize {
        self.mf.pieces() * self.mf.d
    }
    fn apply(&mut self, nu: &[f64], out: &mut [f64]) -> Result<()> {
        check_finite("nu", nu)?;
        // F(nu)_i: population mean at the piece midpoint s_i (reproducible sum over the ranks)
        let sim = self.mf.simulate_on(nu, self.comm)?;
        out.copy_from_slice(&sim.mid_mean);
        self.mf.last = Some(sim);
        Ok(())
    }
}

/// The same map evaluated exactly for a mixture target: `F(nu)_i` is the analytic marginal mean
/// of the bridge at `s_i`, from the mean start `z̄` (the mean is affine in the start, so this is
/// the population mean for any `p_in` with mean `z̄`). No Monte Carlo error: used to measure how
/// far the piecewise-constant fixed point lies from the interpolant at the midpoints.
pub struct AnalyticQuadraticMf {
    d: usize,
    breaks: Vec<f64>,
    beta: Vec<f64>,
    z_bar: Vec<f64>,
    target: GaussianMixture,
    midpoints: Vec<f64>,
}

impl AnalyticQuadraticMf {
    /// Validate; `z_bar` is the mean of `p_in`.
    pub fn new(
        breaks: Vec<f64>,
        beta: Vec<f64>,
        z_bar: Vec<f64>,
        target: GaussianMixture,
    ) -> Result<Self> {
        let d = z_bar.len();
        Protocol::piecewise(d, breaks.clone(), beta.clone())?;
        check_finite("z_bar", &z_bar)?;
        let midpoints = piece_midpoints(&breaks)?;
        Ok(Self {
            d,
            breaks,
            beta,
            z_bar,
            target,
            midpoints,
        })
    }

    /// The map is affine, `F(nu) = F(0) + J nu`: returns `(J, F(0))`, `J = dF/dnu` row-major
    /// `n x n` (`n = M d`), from `n + 1` exact evaluations. `J` depends only on the breaks and
    /// beta (the response of the mean ODE `m'' = beta (m - nu)` to the centres).
    pub fn affine_parts(&mut self) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = self.dim();
        let mut f0 = vec![0.0; n];
        self.apply(&vec![0.0; n], &mut f0)?;
        let mut jac = vec![0.0; n * n];
        let mut e = vec![0.0; n];
        let mut fk = vec![0.0; n];
        for k in 0..n {
            e.fill(0.0);
            e[k] = 1.0;
            self.apply(&e, &mut fk)?;
            for i in 0..n {
                jac[i * n + k] = fk[i] - f0[i];
            }
        }
        Ok((jac, f0))
    }

    /// The exact fixed point of the piecewise-constant problem, `(I - J) nu = F(0)` solved
    /// directly (row-major `M x d`). Equals the interpolant at the midpoints for constant beta.
    pub fn fixed_point(&mut self) -> Result<Vec<f64>> {
        let n = self.dim();
        let (jac, f0) = self.affine_parts()?;
        let a = DMatrix::identity(n, n) - DMatrix::from_row_slice(n, n, &jac);
        let x = a
            .lu()
            .solve(&DVector::from_vec(f0))
            .ok_or(MeanFieldError::Singular {
                what: "I - J (mean-map Jacobian)",
            })?;
        Ok(x.iter().copied().collect())
    }

    /// The analytic population mean at any `t` in `(0, 1]` under centres `nu`.
    pub fn mean_at(&self, nu: &[f64], t: f64) -> Result<Vec<f64>> {
        let p = Protocol::piecewise(self.d, self.breaks.clone(), self.beta.clone())?
            .with_centres(nu.to_vec())?;
        let bridge = Bridge::new(&p, self.target.clone())?.with_start(&self.z_bar)?;
        Ok(bridge.marginal_mean(t)?)
    }
}

impl FixedPointMap for AnalyticQuadraticMf {
    fn dim(&self) -> usize {
        self.midpoints.len() * self.d
    }
    fn apply(&mut self, nu: &[f64], out: &mut [f64]) -> Result<()> {
        let p = Protocol::piecewise(self.d, self.breaks.clone(), self.beta.clone())?
            .with_centres(nu.to_vec())?;
        let bridge = Bridge::new(&p, self.target.clone())?.with_start(&self.z_bar)?;
        for (i, s) in self.midpoints.iter().enumerate() {
            let m = bridge.marginal_mean(*s)?;
            out[i * self.d..(i + 1) * self.d].copy_from_slice(&m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_point::{Anderson, Criterion, Picard, ResidualHistory};
    use mfpid_bridge::{equal_breaks, GaussianMixture};

    fn skewed_cloud(n: usize, shift: f64) -> Law {
        // exponential quantiles: a right-skewed cloud with mean `shift + 1`
        let pts = (0..n)
            .map(|j| shift - (1.0 - (j as f64 + 0.5) / n as f64).ln())
            .collect();
        Law::points(1, pts).unwrap()
    }

    fn geometric(m: usize, beta0: f64, gamma: f64) -> Vec<f64> {
        (0..m).map(|i| beta0 * gamma.powi(i as i32)).collect()
    }

    #[test]
    fn theorem_gaussian_to_mixture_picard() {
        let p_in =
            Law::Mixture(GaussianMixture::isotropic(1, vec![1.0], vec![-1.0], vec![0.09]).unwrap());
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
                .unwrap(),
        );
        let mut cfg = QuadraticMfConfig::new(equal_breaks(8), vec![4.0; 8]);
        cfg.n_particles = 2048;
        cfg.n_steps = 200;
        let mut mf = QuadraticMf::new(cfg, p_in, p_tar).unwrap();
        let nu0 = mf.perturbed_start(0.35).unwrap();
        let ex = Executor::new(2e-4, 60, Criterion::Step).unwrap();
        let mut hist = ResidualHistory::default();
        let sol = mf
            .solve(&mut Picard::default(), &ex, nu0, &mut [&mut hist])
            .unwrap();
        eprintln!(
            "picard: {} it, dev/dm {:.2e}, mc/dm {:.2e}, steps {:?}",
            sol.outcome.iterations, sol.max_dev_over_dm, sol.mc_error_over_dm, hist.steps
        );
        assert!(sol.within_3_stderr, "{sol:?}");
        assert!(sol.within_3_fp_errors && sol.max_z_exact <= 3.0, "{sol:?}");
        assert!(sol.outcome.iterations >= 3);
        // terminal mean reaches p_tar's mean
        let t = sol.simulation.terminal_mean[0];
        assert!((t - 0.66).abs() < 0.05, "terminal mean {t}");
    }

    #[test]
    fn theorem_bimodal_to_skewed_cloud_anderson_and_picard() {
        let p_in = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.3, 0.7], vec![-2.0, 1.0], vec![0.09, 0.09])
                .unwrap(),
        );
        let p_tar = skewed_cloud(32, 2.0);
        let mut cfg = QuadraticMfConfig::new(equal_breaks(8), geometric(8, 12.0, 0.65));
        cfg.n_particles = 1024;
        cfg.n_steps = 100;
        let mut mf = QuadraticMf::new(cfg, p_in, p_tar).unwrap();
        let nu0 = mf.perturbed_start(0.35).unwrap();
        let ex = Executor::new(2e-4, 80, Criterion::Step).unwrap();
        let a = mf
            .solve(
                &mut Anderson::new(4, 0.5, 1e-10).unwrap(),
                &ex,
                nu0.clone(),
                &mut [],
            )
            .unwrap();
        let p = mf.solve(&mut Picard::default(), &ex, nu0, &mut []).unwrap();
        eprintln!(
            "anderson {} it dev/dm {:.2e}; picard {} it dev/dm {:.2e}; mc/dm {:.2e}",
            a.outcome.iterations,
            a.max_dev_over_dm,
            p.outcome.iterations,
            p.max_dev_over_dm,
            p.mc_error_over_dm
        );
        assert!(a.within_3_stderr && p.within_3_stderr);
        assert!(a.within_3_fp_errors && p.within_3_fp_errors);
        assert!(a.max_z_exact <= 3.0 && p.max_z_exact <= 3.0);
        assert!(a.outcome.iterations < p.outcome.iterations);
        // both solvers find the same fixed point of the CRN map
        for (x, y) in a.outcome.x.iter().zip(&p.outcome.x) {
            assert!((x - y).abs() < 2e-3, "{x} vs {y}");
        }
    }

    /// Mean of the bridge by its defining ODE: `m'' = beta(t) (m - nu(t))`, `m(0) = z`, `m(1) = y`
    /// (Euler-Lagrange equation of the conditional mean), integrated piece by piece with DP5 at
    /// 1e-12 and solved by linear shooting on `m'(0)`. Returns `m` at the midpoints.
    fn ode_midpoint_means(breaks: &[f64], beta: &[f64], nu: &[f64], z: f64, y: f64) -> Vec<f64> {
        use mfpid_pde::{dopri5, Dopri5Options};
        let opts = Dopri5Options {
            rtol: 1e-12,
            atol: 1e-13,
            ..Default::default()
        };
        let shoot = |v: f64| -> (f64, Vec<f64>) {
            let mut state = vec![z, v];
            let mut mids = Vec::new();
            for i in 0..beta.len() {
                let (b, c) = (beta[i], nu[i]);
                let f = move |_t: f64, u: &[f64], du: &mut [f64]| {
                    du[0] = u[1];
                    du[1] = b * (u[0] - c);
                };
                let sol = dopri5(f, breaks[i], &state, breaks[i + 1], &opts).unwrap();
                let mut out = [0.0; 2];
                sol.eval(0.5 * (breaks[i] + breaks[i + 1]), &mut out)
                    .unwrap();
                mids.push(out[0]);
                state = sol.y_end().to_vec();
            }
            (state[0], mids)
        };
        let (a0, _) = shoot(0.0);
        let (a1, _) = shoot(1.0);
        let v = (y - a0) / (a1 - a0);
        shoot(v).1
    }

    #[test]
    fn analytic_fixed_point_vs_interpolant_at_midpoints() {
        // no Monte Carlo: F(nu) from the closed-form marginal mean, checked against the mean ODE
        let target =
            GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])
                .unwrap();
        let (z, y) = (-1.0, 0.66);
        for (beta, bound) in [
            (vec![4.0; 8], 1e-10),
            (geometric(8, 12.0, 0.65), 3e-3),
            (geometric(4, 30.0, 0.5), 3e-2),
        ] {
            let m = beta.len();
            let br = equal_breaks(m);
            let mut map =
                AnalyticQuadraticMf::new(br.clone(), beta.clone(), vec![z], target.clone())
                    .unwrap();
            // the closed-form map agrees with the ODE at a generic nu
            let nu_test: Vec<f64> = (0..m).map(|i| (i as f64 * 0.7).sin()).collect();
            let mut f = vec![0.0; m];
            map.apply(&nu_test, &mut f).unwrap();
            let f_ode = ode_midpoint_means(&br, &beta, &nu_test, z, y);
            for (a, b) in f.iter().zip(&f_ode) {
                assert!((a - b).abs() < 1e-9, "closed form {a} vs ODE {b}");
            }
            let interp = interpolant_centres(&br, &[z], &[y]).unwrap();
            let ex = Executor::new(1e-13, 500, Criterion::Residual).unwrap();
            let out = ex
                .run(&mut map, &mut Anderson::default(), vec![0.0; m], &mut [])
                .unwrap();
            let dev = out
                .x
                .iter()
                .zip(&interp)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
                / (y - z);
            eprintln!(
                "beta {beta:?}: {} it, max |nu - interp| / dm = {dev:.3e}",
                out.iterations
            );
            // constant beta: exactly the interpolant; varying beta: close but not equal
            assert!(dev < bound, "deviation {dev}");
            // with nu = interpolant the mean at the end point is exact
            let m1 = map.mean_at(&interp, 1.0).unwrap()[0];
            assert!((m1 - y).abs() < 1e-12);
        }
    }

    #[test]
    fn exact_fixed_point_and_fixed_point_error_against_replicas() {
        let p_in = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.3, 0.7], vec![-2.0, 1.0], vec![0.09, 0.09])
                .unwrap(),
        );
        let p_tar = skewed_cloud(16, 2.0);
        let m = 4;
        let beta = geometric(m, 12.0, 0.65);
        let make = |seed: u64| {
            let mut cfg = QuadraticMfConfig::new(equal_breaks(m), beta.clone());
            cfg.n_particles = 256;
            cfg.n_steps = 40;
            cfg.seed = seed;
            cfg.start_seed = seed + 7;
            QuadraticMf::new(cfg, p_in.clone(), p_tar.clone()).unwrap()
        };
        let mf = make(1);
        // the direct linear solve equals the iterated exact map (and differs from the interpolant
        // for a varying beta); for constant beta it is the interpolant
        let exact = mf.exact_fixed_point().unwrap();
        let mut map = mf.exact_map().unwrap();
        let ex = Executor::new(1e-13, 500, Criterion::Residual).unwrap();
        let it = ex
            .run(&mut map, &mut Anderson::default(), vec![0.0; m], &mut [])
            .unwrap();
        for (a, b) in exact.iter().zip(&it.x) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        let interp = mf.interpolant().unwrap();
        let gap = exact
            .iter()
            .zip(&interp)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(gap > 1e-4, "{gap}");
        let mut cfg = mf.config().clone();
        cfg.beta = vec![4.0; m];
        let flat = QuadraticMf::new(cfg, p_in.clone(), p_tar.clone()).unwrap();
        for (a, b) in flat
            .exact_fixed_point()
            .unwrap()
            .iter()
            .zip(&flat.interpolant().unwrap())
        {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // the joint midpoint covariance has the per-time variances on its diagonal
        let sim = mf.simulate(&exact).unwrap();
        for k in 0..m {
            let v = sim.mid_stderr[k].powi(2);
            assert!((sim.mid_cov[k * m + k] - v).abs() < 1e-12 * v.max(1e-300));
        }
        // predicted fixed-point error vs the spread of independent replicas
        let ex = Executor::new(1e-6, 200, Criterion::Step).unwrap();
        let runs = 40;
        let mut sq = vec![0.0; m];
        let mut pred = vec![0.0; m];
        for r in 0..runs {
            let mut mfr = make(100 + 3 * r);
            let sol = mfr
                .solve(&mut Anderson::default(), &ex, exact.clone(), &mut [])
                .unwrap();
            for k in 0..m {
                sq[k] += (sol.outcome.x[k] - exact[k]).powi(2) / runs as f64;
                pred[k] += sol.fp_stderr[k].powi(2) / runs as f64;
            }
        }
        let ratio = (sq.iter().zip(&pred).map(|(a, b)| a / b).sum::<f64>() / m as f64).sqrt();
        eprintln!("replica rms / predicted fixed-point error: {ratio:.3}");
        assert!((0.75..1.3).contains(&ratio), "{ratio}");
    }

    #[test]
    fn max_abs_z_exceedance_limits() {
        // one coordinate: P(|z| > 3) = 0.0026998; 16 independent: 1 - (1 - p)^16 = 0.04235;
        // 16 perfectly correlated (nearly): back towards one coordinate
        let p1 = max_abs_z_exceedance(&[2.0], 1, 3.0, 400_000, 1).unwrap();
        assert!(
            (p1 - 0.0026998).abs() < 4.0 * (0.0027f64 * 0.9973 / 4e5).sqrt(),
            "{p1}"
        );
        let n = 16;
        let mut cov = vec![0.0; n * n];
        (0..n).for_each(|i| cov[i * n + i] = 1.0 + i as f64);
        let p16 = max_abs_z_exceedance(&cov, n, 3.0, 200_000, 2).unwrap();
        assert!(
            (p16 - 0.04235).abs() < 4.0 * (0.042f64 * 0.958 / 2e5).sqrt(),
            "{p16}"
        );
        let mut cor = vec![0.999; n * n];
        (0..n).for_each(|i| cor[i * n + i] = 1.0);
        let pc = max_abs_z_exceedance(&cor, n, 3.0, 200_000, 3).unwrap();
        assert!(pc > p1 && pc < 0.5 * p16, "{pc}");
        assert!(max_abs_z_exceedance(&[1.0, 0.0], 2, 3.0, 10, 1).is_err());
        assert!(max_abs_z_exceedance(&[0.0], 1, 3.0, 10, 1).is_err());
        assert!(max_abs_z_exceedance(&[1.0, 2.0, 2.0, 1.0], 2, 3.0, 10, 1).is_err());
    }

    #[test]
    fn bad_input() {
        let g =
            Law::Mixture(GaussianMixture::isotropic(1, vec![1.0], vec![0.0], vec![1.0]).unwrap());
        let g2 = Law::Mixture(
            GaussianMixture::isotropic(2, vec![1.0], vec![0.0, 0.0], vec![1.0]).unwrap(),
        );
        assert!(QuadraticMf::new(
            QuadraticMfConfig::new(equal_breaks(2), vec![1.0]),
            g.clone(),
            g.clone()
        )
        .is_err());
        assert!(QuadraticMf::new(
            QuadraticMfConfig::new(equal_breaks(2), vec![1.0, -1.0]),
            g.clone(),
            g.clone()
        )
        .is_err());
        assert!(QuadraticMf::new(
            QuadraticMfConfig::new(equal_breaks(2), vec![1.0, 1.0]),
            g.clone(),
            g2
        )
        .is_err());
        // a cap too small for the tolerance is a typed error carrying the history
        let mut cfg = QuadraticMfConfig::new(equal_breaks(2), vec![1.0, 1.0]);
        cfg.n_particles = 128;
        cfg.n_steps = 20;
        let mut mf =
            QuadraticMf::new(cfg, g.clone(), Law::points(1, vec![3.0, 4.0]).unwrap()).unwrap();
        let nu0 = mf.perturbed_start(0.35).unwrap();
        let ex = Executor::new(1e-12, 2, Criterion::Step).unwrap();
        match mf.solve(&mut Picard::default(), &ex, nu0, &mut []) {
            Err(MeanFieldError::NotConverged { history, .. }) => assert_eq!(history.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
