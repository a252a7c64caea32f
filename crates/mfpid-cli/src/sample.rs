//! `mfpid sample CONFIG`: bridge particles from a start (a point, a population or a data file) to a
//! target (a Gaussian mixture or samples from a data file) and write terminal samples, paths,
//! energy and checks against the analytic marginal.

use std::path::{Path, PathBuf};

use mfpid::bridge::{Bridge, Empirical, GaussianMixture, Protocol, Target};
use mfpid::meanfield::Law;
use mfpid::sde::observe::{
    self, blocked_sum, mean_stderr_on, ControlEnergy, Moments, Observer, Snapshot, Snapshots,
    Trajectories,
};
use mfpid::sde::shard::{shard, Shard};
use mfpid::sde::{
    run, run_with_comm, Communicator, Ensemble, Noise, RunConfig, Scheme, SingleProcess, TimeGrid,
};
use serde::{Deserialize, Serialize};

use crate::common::{default_out, human_num, human_seconds, Common};
use crate::config::{finite, Source};
use crate::cost::{self, Cost};
use crate::data::{self, Cell, Points, Table};
use crate::error::{AppError, LibContext, Result};
use crate::mixture::{MixtureFields, ProtocolKind, ProtocolSection};
use crate::outdir::{self, OutDir, Progress, Timings};
use crate::ranks::{Job, Ranks};
use mfpid_report::plot::{self, Chart, Mark, Series};

/// A `sample` config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Free-form label, copied into `run.json`.
    #[serde(default)]
    pub name: Option<String>,
    /// Simulation settings.
    #[serde(default)]
    pub run: RunSection,
    /// The protocol `beta_t`, `nu_t` (default: geometric `12 * 0.65^i` on 8 pieces).
    #[serde(default)]
    pub protocol: ProtocolSection,
    /// Where particles start (default: the origin).
    #[serde(default)]
    pub start: StartSection,
    /// The terminal law `p_tar`.
    pub target: TargetSection,
    /// What to write.
    #[serde(default)]
    pub output: OutputSection,
}

/// `[run]`: simulation settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Number of particles `B` (default 20000).
    #[serde(default = "default_particles")]
    pub particles: usize,
    /// Time steps on `[0, 1]`, aligned to the protocol's breaks (default 2500).
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// `euler-maruyama` (default) or `heun`.
    #[serde(default)]
    pub scheme: SchemeName,
    /// Time cut-off: the drift is evaluated on `[eps, 1 - eps]` (default 1e-3).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Seed of the Brownian increments and of sampled start points (`--seed` overrides; default 0).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_particles() -> usize {
    20_000
}
fn default_steps() -> usize {
    2500
}
fn default_eps() -> f64 {
    mfpid::bridge::DEFAULT_EPS
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            particles: default_particles(),
            steps: default_steps(),
            scheme: SchemeName::default(),
            eps: default_eps(),
            seed: None,
        }
    }
}

/// Integration scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeName {
    /// Euler-Maruyama (the papers' scheme; the energy is its left Riemann sum).
    #[default]
    EulerMaruyama,
    /// Stochastic Heun (additive noise, strong order 1).
    Heun,
}

impl SchemeName {
    fn scheme(self) -> Scheme {
        match self {
            SchemeName::EulerMaruyama => Scheme::EulerMaruyama,
            SchemeName::Heun => Scheme::Heun,
        }
    }
}

/// `[start]`: one of `point`, `population`, `file`; none means the origin.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartSection {
    /// One start point `z` (length `d`) shared by all particles.
    #[serde(default)]
    pub point: Option<Vec<f64>>,
    /// An initial population `p_in`: each particle starts at its own `z ~ p_in` (a Gaussian
    /// mixture with the fields of `[target]`).
    #[serde(default)]
    pub population: Option<MixtureFields>,
    /// Start points from a CSV or NPY file (`n x d`); particle `i` starts at row `i mod n`.
    /// Relative paths are relative to the config file.
    #[serde(default)]
    pub file: Option<String>,
}

/// `[target]`: a Gaussian mixture (`weights`, `means` and one of `std`, `variance`, `diag`, `cov`)
/// or samples from a data file (`file`).
pub type TargetSection = MixtureFields;

/// `[output]`: what to write besides the terminal samples.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Record the paths of the first `trajectories` particles (default 0: none).
    #[serde(default)]
    pub trajectories: usize,
    /// Keep every `k`-th step of the recorded paths (default 0: about 200 points per path).
    #[serde(default)]
    pub trajectory_every: usize,
    /// Times in `(0, 1]` at which particles are compared with the analytic marginal (mixture
    /// targets) or the target samples (file targets, at `t = 1`). Default `[0.25, 0.5, 0.75, 1]`.
    #[serde(default = "default_checks")]
    pub checks: Vec<f64>,
    /// Histogram bins for checks and figures (default 60).
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Write SVG and PNG figures (default true).
    #[serde(default = "yes")]
    pub figures: bool,
    /// Also write the samples as CSV (NPY is always written; default true).
    #[serde(default = "yes")]
    pub csv: bool,
    /// Record the full `d x d` covariance over time (moments.csv variances, `terminal_cov`).
    /// Default: only when `d <= 32`; otherwise per-coordinate variances, `O(B d)` in memory and
    /// time (the full covariance costs `O(B d²)` per record).
    #[serde(default)]
    pub covariance: Option<bool>,
}

fn default_checks() -> Vec<f64> {
    vec![0.25, 0.5, 0.75, 1.0]
}
fn default_bins() -> usize {
    60
}
fn yes() -> bool {
    true
}

impl Default for OutputSection {
    fn default() -> Self {
        Self {
            trajectories: 0,
            trajectory_every: 0,
            checks: default_checks(),
            bins: default_bins(),
            figures: true,
            csv: true,
            covariance: None,
        }
    }
}

/// The target, checked.
pub enum TargetLaw {
    /// A Gaussian mixture.
    Mixture(GaussianMixture),
    /// Samples from a file.
    Samples {
        /// The points.
        points: Points,
        /// The file.
        file: PathBuf,
    },
}

/// The start, checked.
pub enum StartLaw {
    /// The origin.
    Origin,
    /// One point.
    Point(Vec<f64>),
    /// A population: a mixture to sample from.
    Population(GaussianMixture),
    /// Points from a file.
    File {
        /// The points.
        points: Points,
        /// The file.
        file: PathBuf,
    },
}

/// Everything `sample` will do, checked.
pub struct Plan {
    /// The config as parsed.
    pub config: SampleConfig,
    /// Dimension.
    pub d: usize,
    /// Protocol.
    pub protocol: Protocol,
    /// Target.
    pub target: TargetLaw,
    /// Start.
    pub start: StartLaw,
    /// Particles (after `--quick`).
    pub particles: usize,
    /// Steps (after `--quick`).
    pub steps: usize,
    /// Seed.
    pub seed: u64,
    /// Grid.
    pub grid: TimeGrid,
    /// Estimated memory (checked against the limit in [`plan`]).
    pub cost: Cost,
}

fn resolve(src: &Source, file: &str) -> PathBuf {
    let p = PathBuf::from(file);
    if p.is_absolute() {
        return p;
    }
    match src.path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
        _ => p,
    }
}

fn load_points(
    src: &Source,
    field: &str,
    file: &str,
    common: &Common,
) -> Result<(Points, PathBuf)> {
    let path = resolve(src, file);
    if !path.exists() {
        return Err(src
            .error(
                field,
                format!(
                    "data file {} does not exist (relative paths are relative to the config file)",
                    path.display()
                ),
            )
            .into());
    }
    // reading holds at most 4 bytes per byte of the file (8-byte values of >= 2-character CSV
    // numbers; an NPY file and its values): refused before reading when that is too much
    let len = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64;
    Cost::new().add_file(field, file, len).check(common)?;
    Ok((data::read_points(&path)?, path))
}

/// Parse and check a sample config; `quick` caps particles at 2000 and steps at 400.
pub fn plan(src: &Source, common: &Common) -> Result<Plan> {
    plan_on(src, common, 1)
}

/// [`plan`] for a run over `ranks` processes: the memory estimate (and check) is rank 0's, which
/// holds the most (the largest shard and the gathered samples).
pub fn plan_on(src: &Source, common: &Common, ranks: usize) -> Result<Plan> {
    let config: SampleConfig = src.parse()?;
    let t = &config.target;
    let (target, d) = match (&t.file, t.any()) {
        (Some(_), true) => {
            return Err(src
                .error(
                    "target.file",
                    "give either `file` or the mixture fields (`weights`, `means`, `std`/`variance`/`diag`/`cov`), not both",
                )
                .into())
        }
        (Some(f), false) => {
            let (points, file) = load_points(src, "target.file", f, common)?;
            let d = points.d;
            (TargetLaw::Samples { points, file }, d)
        }
        (None, true) => {
            let g = t.build(src, "target")?;
            let d = g.dim();
            (TargetLaw::Mixture(g), d)
        }
        (None, false) => {
            return Err(src
                .error(
                    "target",
                    "is empty: give a Gaussian mixture (`means` and one of `std`, `variance`, `diag`, `cov`) or `file`",
                )
                .into())
        }
    };
    let s = &config.start;
    let given = [s.point.is_some(), s.population.is_some(), s.file.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        return Err(src
            .error(
                "start",
                "give only one of `point`, `population`, `file` (none starts every particle at the origin)",
            )
            .into());
    }
    let start = if let Some(z) = &s.point {
        if z.len() != d {
            return Err(src
                .error(
                    "start.point",
                    format!(
                        "has {} coordinates but the target has d = {d} (dimension mismatch)",
                        z.len()
                    ),
                )
                .into());
        }
        finite(src, "start.point", z)?;
        StartLaw::Point(z.clone())
    } else if let Some(pop) = &s.population {
        let g = pop.build(src, "start.population")?;
        if g.dim() != d {
            return Err(src
                .error(
                    "start.population.means",
                    format!(
                        "rows have {} coordinates but the target has d = {d} (dimension mismatch)",
                        g.dim()
                    ),
                )
                .into());
        }
        StartLaw::Population(g)
    } else if let Some(f) = &s.file {
        let (points, file) = load_points(src, "start.file", f, common)?;
        if points.d != d {
            return Err(src
                .error(
                    "start.file",
                    format!(
                        "{} has {} columns but the target has d = {d} (dimension mismatch)",
                        file.display(),
                        points.d
                    ),
                )
                .into());
        }
        StartLaw::File { points, file }
    } else {
        StartLaw::Origin
    };
    let r = &config.run;
    let (particles, steps) = if common.quick {
        (r.particles.min(2000), r.steps.min(400))
    } else {
        (r.particles, r.steps)
    };
    // the memory check comes before the protocol and grid are allocated
    let cost = estimate(&config, d, particles, steps, &target, &start, ranks);
    cost.check(common)?;
    let protocol = config.protocol.build(src, d)?;
    if r.particles == 0 {
        return Err(src.error("run.particles", "must be >= 1").into());
    }
    if !(r.eps > 0.0 && r.eps < 0.5) {
        return Err(src
            .error(
                "run.eps",
                format!("{} must be in (0, 0.5)", human_num(r.eps)),
            )
            .into());
    }
    if r.steps < protocol.pieces() {
        return Err(src
            .error(
                "run.steps",
                format!(
                    "{} steps cannot cover the protocol's {} pieces (at least one step per piece)",
                    r.steps,
                    protocol.pieces()
                ),
            )
            .into());
    }
    let o = &config.output;
    if let Some(i) = o.checks.iter().position(|&c| !(c > 0.0 && c <= 1.0)) {
        return Err(src
            .error(
                &format!("output.checks[{i}]"),
                format!("{} must be in (0, 1]", human_num(o.checks[i])),
            )
            .into());
    }
    if o.bins < 2 {
        return Err(src.error("output.bins", "must be >= 2").into());
    }
    let steps = if common.quick {
        steps.max(protocol.pieces())
    } else {
        steps
    };
    let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), steps)
        .map_err(|e| src.error("run.steps", e.to_string()))?;
    let seed = common.seed.or(r.seed).unwrap_or(0);
    Ok(Plan {
        d,
        protocol,
        target,
        start,
        particles,
        steps,
        seed,
        grid,
        config,
        cost,
    })
}

/// Whether the run records the full covariance (asked for, or `d <= 32`).
fn full_covariance(o: &OutputSection, d: usize) -> bool {
    o.covariance.unwrap_or(d <= 32)
}

/// Memory of a `sample` run, part by part (see `crate::cost`); computed from the config before
/// anything run-sized is allocated. Coefficients are the buffers of the code that holds them
/// (ensemble, runner stages, bridge starts, snapshots, recorded moments and paths). Over `ranks`
/// processes this is rank 0's memory, the most of any rank: its shard (`B_0 <= ceil(B / 64 /
/// ranks) * 64` particles) plus the samples gathered to it (`B x d` terminal samples, the start
/// points of a population, the recorded paths); every other rank holds its shard only.
fn estimate(
    config: &SampleConfig,
    d: usize,
    particles: usize,
    steps: usize,
    target: &TargetLaw,
    start: &StartLaw,
    ranks: usize,
) -> Cost {
    let (b, df, n) = (particles as f64, d as f64, steps as f64);
    // rank 0's particles (the first shard is the largest)
    let b0 = shard(particles.max(1), ranks.max(1), 0).map_or(b, |s| s.count as f64);
    let many = ranks > 1;
    let mine = |what: &str| {
        if many {
            format!("{what}, rank 0's {} of the B particles", human_num(b0))
        } else {
            what.to_string()
        }
    };
    let o = &config.output;
    let mut c = Cost::new();
    // runner: state, drift and noise (Euler-Maruyama); Heun adds a predictor, its drift and noise
    let stages = match config.run.scheme {
        SchemeName::EulerMaruyama => 3.0,
        SchemeName::Heun => 7.0,
    };
    c.add(
        "run.particles",
        b,
        &mine("particle states and the runner's stage buffers (B x d)"),
        stages * b0 * df,
        8.0,
    );
    c.add(
        "run.particles",
        b,
        &mine("terminal samples and per-particle energy"),
        b0 * (df + 1.0),
        8.0,
    );
    if many {
        c.add(
            "run.particles",
            b,
            "terminal samples gathered on rank 0 (B x d)",
            b * df,
            8.0,
        );
    }
    match start {
        StartLaw::Population(_) => {
            c.add(
                "run.particles",
                b,
                &mine("sampled start points (B x d, three copies)"),
                3.0 * b0 * df,
                8.0,
            );
            if many {
                c.add(
                    "run.particles",
                    b,
                    "start points gathered on rank 0 (B x d), and the analytic marginal's first start rows (at most min(B, 200000) x d)",
                    b * df + b.min(200_000.0) * df,
                    8.0,
                );
            }
        }
        StartLaw::File { points, .. } => {
            c.add(
                "start.file",
                points.n as f64,
                "start points (n x d, three copies)",
                3.0 * (points.n * d) as f64,
                8.0,
            );
        }
        _ => {}
    }
    let (k, full) = match target {
        TargetLaw::Mixture(g) => (
            g.components() as f64,
            matches!(g.covariance_spec(), mfpid::bridge::Covariance::Full(_)),
        ),
        TargetLaw::Samples { points, .. } => {
            c.add(
                "target.file",
                points.n as f64,
                "target samples (n x d, two copies)",
                2.0 * (points.n * d) as f64,
                8.0,
            );
            (points.n as f64, false)
        }
    };
    if full {
        c.add(
            "target.cov",
            k,
            "full covariances and their factors (K x d x d)",
            3.0 * k * df * df,
            8.0,
        );
    }
    // snapshots at the check times (at most 200000 particles each)
    let checks = o.checks.len() as f64;
    c.add(
        "output.checks",
        checks,
        &mine("snapshots at the check times (checks x min(B, 200000) x d)"),
        checks * b0.min(200_000.0) * df,
        8.0,
    );
    // analytic marginals: at most 200000 / K start rows, K components each
    if matches!(target, TargetLaw::Mixture(_))
        && !matches!(start, StartLaw::Origin | StartLaw::Point(_))
    {
        c.add(
            "run.particles",
            b,
            "analytic marginal (min(B, 200000/K) rows x K components x d)",
            2.0 * b.min(200_000.0) * df,
            8.0,
        );
    }
    let every = match o.trajectory_every {
        0 => (steps / 200).max(1),
        e => e,
    } as f64;
    let records = (n / every).floor() + 2.0;
    let ntraj = (o.trajectories.min(particles)) as f64;
    if ntraj > 0.0 {
        // the states, plus the CSV table of them (one 24-byte cell per number, written at the end)
        let per = if o.csv {
            8.0 + 24.0 * (df + 2.0) / df
        } else {
            8.0
        };
        c.add(
            "output.trajectories",
            ntraj,
            "recorded paths (paths x points x d)",
            ntraj * records * df,
            per,
        );
        if many {
            c.add(
                "output.trajectories",
                ntraj,
                "recorded paths gathered on rank 0, and their send buffer (2 x paths x points x d)",
                2.0 * ntraj * records * df,
                8.0,
            );
        }
    }
    let mrec = (n / (steps / 200).max(1) as f64).floor() + 2.0;
    if full_covariance(o, d) {
        c.add(
            "output.covariance",
            df,
            "covariance over time (records x d x d, and B/64 partial sums)",
            (mrec + b0 / 64.0 + 1.0) * df * df,
            8.0,
        );
    } else {
        c.add(
            "run.particles",
            b,
            "moments over time (records x d) and partial sums",
            mrec * 2.0 * df + 2.0 * (b0 / 64.0 + 1.0) * df,
            8.0,
        );
    }
    c.add(
        "run.steps",
        n,
        "time grid, power and energy traces",
        4.0 * n,
        8.0,
    );
    c.add(
        "output.bins",
        o.bins as f64,
        "histograms",
        6.0 * o.bins as f64,
        8.0,
    );
    // the protocol's pieces: betas, breaks, centres and the bridge's per-piece coefficients
    let pr = &config.protocol;
    let (field, pieces) = match pr.kind {
        ProtocolKind::Geometric => ("protocol.pieces", pr.pieces.unwrap_or(8) as f64),
        ProtocolKind::Piecewise => (
            "protocol.betas",
            pr.betas.as_ref().map_or(1, |b| b.len()) as f64,
        ),
        _ => ("protocol.kind", 1.0),
    };
    c.add(
        field,
        pieces,
        "protocol pieces and the bridge's coefficients (pieces x d)",
        pieces * (6.0 * df + 6.0),
        8.0,
    );
    // samples.csv is written row by row; figures hold at most 4000 points each
    c.add(
        "run.particles",
        b,
        "figures (at most 4000 points per panel)",
        b.min(4000.0) * 16.0,
        8.0,
    );
    c
}

impl Plan {
    /// Human description for `validate`.
    pub fn describe(&self) -> Vec<String> {
        let target = match &self.target {
            TargetLaw::Mixture(g) => format!(
                "Gaussian mixture, K = {} components, {} covariances",
                g.components(),
                match g.covariance_spec() {
                    mfpid::bridge::Covariance::Isotropic(_) => "isotropic",
                    mfpid::bridge::Covariance::Diagonal(_) => "diagonal",
                    mfpid::bridge::Covariance::Full(_) => "full",
                }
            ),
            TargetLaw::Samples { points, file } => {
                format!("{} samples from {}", points.n, file.display())
            }
        };
        let start = match &self.start {
            StartLaw::Origin => "the origin".to_string(),
            StartLaw::Point(z) => format!("the point {z:?}"),
            StartLaw::Population(g) => format!(
                "a population drawn from a {}-component mixture",
                g.components()
            ),
            StartLaw::File { points, file } => {
                format!("{} points from {}", points.n, file.display())
            }
        };
        vec![
            format!("sample: bridge in d = {}", self.d),
            format!("  protocol: {}", ProtocolSection::describe(&self.protocol)),
            format!("  target:   {target}"),
            format!("  start:    {start}"),
            format!(
                "  run:      {} particles x {} steps ({}), eps = {}, seed {}",
                self.particles,
                self.steps,
                match self.config.run.scheme {
                    SchemeName::EulerMaruyama => "euler-maruyama",
                    SchemeName::Heun => "heun",
                },
                self.config.run.eps,
                self.seed
            ),
        ]
    }

    fn traj_every(&self) -> usize {
        match self.config.output.trajectory_every {
            0 => (self.steps / 200).max(1),
            k => k,
        }
    }

    fn snapshot_keep(&self) -> usize {
        self.particles.min(200_000)
    }

    /// Grid steps closest to the requested check times (excluding `t = 0`).
    fn check_steps(&self) -> Vec<usize> {
        let times = self.grid.times();
        let mut steps: Vec<usize> = self
            .config
            .output
            .checks
            .iter()
            .map(|&c| {
                let mut best = 1;
                for (n, &t) in times.iter().enumerate().skip(1) {
                    if (t - c).abs() < (times[best] - c).abs() {
                        best = n;
                    }
                }
                best
            })
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Measure a short probe run (the faster of two, at most 16384 particles and 20 steps) and
    /// extrapolate the wall time of the whole run by particle-steps.
    pub fn estimate_seconds(&self) -> Result<f64> {
        let probe_b = self.particles.min(16384);
        let probe_steps = self.steps.min(20);
        let seconds = cost::fastest(2, || self.probe_seconds(probe_b, probe_steps))?;
        Ok(cost::extrapolate(
            seconds,
            probe_b as f64 * probe_steps as f64,
            self.particles as f64 * self.steps as f64,
        ))
    }

    /// Wall time of one probe run of `probe_b` particles over `probe_steps` steps.
    fn probe_seconds(&self, probe_b: usize, probe_steps: usize) -> Result<f64> {
        let grid = TimeGrid::uniform(0.25, 0.75, probe_steps).ctx("probe grid")?;
        let t0 = std::time::Instant::now();
        // the observers of the run, recording as often (per step) as the run will
        let every = (self.steps / 200).max(1);
        let full = full_covariance(&self.config.output, self.d);
        let mut energy = ControlEnergy::new();
        let mut moments = Moments::new(every, full);
        let mut variances = Variances::new(every);
        // the probe's particles start as the run's do (per-particle starts cost more per step)
        let starts = match &self.start {
            StartLaw::Origin => None,
            StartLaw::Point(z) => Some(z.clone()),
            StartLaw::Population(g) => Some(
                Law::Mixture(g.clone())
                    .sample(probe_b, 1)
                    .ctx("probe starts")?,
            ),
            StartLaw::File { points, .. } => {
                Some(points.values[..points.n.min(probe_b) * self.d].to_vec())
            }
        };
        let x0: Vec<f64> = match &starts {
            Some(z) => (0..probe_b)
                .flat_map(|i| {
                    let r = i % (z.len() / self.d);
                    z[r * self.d..(r + 1) * self.d].to_vec()
                })
                .collect(),
            None => vec![0.0; probe_b * self.d],
        };
        let starts = starts.map(|z| (0, z));
        with_bridge_starts(self, starts, &SingleProcess, |bridge| {
            let mut ens = Ensemble::from_vec(probe_b, self.d, x0).ctx("probe ensemble")?;
            let mut obs: Vec<&mut dyn Observer> = vec![&mut energy, &mut moments];
            if !full {
                obs.push(&mut variances);
            }
            run(
                bridge,
                &Noise::Scalar(1.0),
                &grid,
                &mut ens,
                &RunConfig::new(self.config.run.scheme.scheme(), 0),
                &mut obs,
            )
            .ctx("probe run")?;
            Ok(())
        })?;
        Ok(t0.elapsed().as_secs_f64())
    }
}

/// Object-safe view of a bridge (the runner takes `&mut dyn Drift`).
pub trait BridgeDyn: mfpid::sde::Drift {}
impl<T: Target> BridgeDyn for Bridge<T> {}

fn make_bridge<T: Target>(plan: &Plan, target: T) -> Result<Bridge<T>> {
    let b = Bridge::new(&plan.protocol, target)
        .and_then(|b| b.with_eps(plan.config.run.eps))
        .ctx("building the bridge")?;
    Ok(b)
}

/// A marginal check at one time and coordinate.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Grid time.
    pub t: f64,
    /// Coordinate.
    pub coord: usize,
    /// Particle mean.
    pub mean: f64,
    /// Its standard error.
    pub mean_stderr: f64,
    /// Reference mean (analytic marginal or target samples).
    pub mean_ref: f64,
    /// `(mean - mean_ref) / stderr`.
    pub mean_z: f64,
    /// Particle variance.
    pub var: f64,
    /// Reference variance.
    pub var_ref: f64,
    /// L1 distance between the particle histogram density and the reference density (mixtures).
    pub l1: Option<f64>,
    /// Expected L1 from sampling noise alone, `sum_b sqrt(2 p_b (1 - p_b) / (pi n))`.
    pub l1_noise: Option<f64>,
}

/// Density of a one-dimensional mixture at `x` (NaN never arises: `x` has the law's length 1).
fn mix_pdf(m: &GaussianMixture, x: f64) -> f64 {
    m.log_pdf(&[x]).map_or(f64::NAN, f64::exp)
}

fn column(x: &[f64], d: usize, j: usize) -> Vec<f64> {
    x.chunks_exact(d).map(|r| r[j]).collect()
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var)
}

/// Bin probabilities of a 1-D mixture by Simpson's rule on each bin.
fn bin_probs(m: &GaussianMixture, lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let w = (hi - lo) / bins as f64;
    (0..bins)
        .map(|b| {
            let a = lo + b as f64 * w;
            w / 6.0 * (mix_pdf(m, a) + 4.0 * mix_pdf(m, a + 0.5 * w) + mix_pdf(m, a + w))
        })
        .collect()
}

/// The check of coordinate `j` at time `t` against the 1-D marginal `m`, on the particles of
/// `x` (this rank's share of the `total` checked particles). Collective.
#[allow(clippy::too_many_arguments)]
fn mixture_check(
    comm: &dyn Communicator,
    t: f64,
    j: usize,
    x: &[f64],
    total: usize,
    d: usize,
    m: &GaussianMixture,
    bins: usize,
) -> Check {
    let v = column(x, d, j);
    let n = total as f64;
    let (mean, var) = mean_var_on(comm, &v, total);
    let (mean_ref, var_ref) = (m.mean()[0], m.covariance()[0]);
    let sd = var_ref.sqrt();
    let (lo, hi) = (mean_ref - 6.0 * sd, mean_ref + 6.0 * sd);
    let (_, dens) = histogram_on(comm, &v, total, lo, hi, bins);
    let p = bin_probs(m, lo, hi, bins);
    let w = (hi - lo) / bins as f64;
    let inside_particles = dens.iter().sum::<f64>() * w;
    let inside_ref: f64 = p.iter().sum();
    let mut l1: f64 = dens.iter().zip(&p).map(|(q, pb)| (q * w - pb).abs()).sum();
    l1 += ((1.0 - inside_particles) - (1.0 - inside_ref)).abs();
    let noise: f64 = p
        .iter()
        .map(|&pb| (2.0 * pb * (1.0 - pb) / (std::f64::consts::PI * n)).sqrt())
        .sum();
    let se = (var / n).sqrt();
    Check {
        t,
        coord: j,
        mean,
        mean_stderr: se,
        mean_ref,
        mean_z: (mean - mean_ref) / se,
        var,
        var_ref,
        l1: Some(l1),
        l1_noise: Some(noise),
    }
}

/// What a run produced on this rank (its shard of the particles).
struct Outcome {
    /// This rank's particles.
    shard: Shard,
    /// Terminal states of this rank's particles (row-major `count x d`).
    x1: Vec<f64>,
    /// Start rows: this rank's sampled starts (population), the point, or the file's rows.
    starts: Option<Vec<f64>>,
    energy: ControlEnergy,
    moments: Moments,
    variances: Option<Variances>,
    /// Paths of this rank's share of the first `trajectories` particles.
    trajectories: Option<Trajectories>,
    /// This rank's share of the first [`Plan::snapshot_keep`] particles at the check times.
    snapshots: Snapshots,
}

/// The particles of this rank's shard: initial states keyed by global RNG block (the sampled
/// population is the stream `seed + 1`, rows `offset .. offset + count` of the one-process draw),
/// then the run over the communicator. Collective; a failure that only this rank sees inside the
/// run ends the job ([`Ranks::abort`]).
fn simulate<C: Job>(plan: &Plan, common: &Common, ranks: &Ranks<C>, sh: Shard) -> Result<Outcome> {
    let d = plan.d;
    let (b, n, offset) = (plan.particles, sh.count, sh.offset);
    let seed = plan.seed;
    // start points: a separate stream from the Brownian increments' (seed + 1, same per-block scheme)
    let setup = || -> Result<(Ensemble, Option<Vec<f64>>)> {
        let (ens, starts) = match &plan.start {
            StartLaw::Origin => (Ensemble::filled(n, &vec![0.0; d]).ctx("ensemble")?, None),
            StartLaw::Point(z) => (Ensemble::filled(n, z).ctx("ensemble")?, Some(z.clone())),
            StartLaw::Population(g) => {
                let z = Law::Mixture(g.clone())
                    .sample_range(offset, n, b, seed.wrapping_add(1))
                    .ctx("sampling the start population")?;
                (
                    Ensemble::from_vec(n, d, z.clone()).ctx("ensemble")?,
                    Some(z),
                )
            }
            StartLaw::File { points, .. } => {
                // global particle i starts at row i mod n
                let mut x = Vec::with_capacity(n * d);
                for i in offset..offset + n {
                    let r = i % points.n;
                    x.extend_from_slice(&points.values[r * d..(r + 1) * d]);
                }
                (
                    Ensemble::from_vec(n, d, x).ctx("ensemble")?,
                    Some(points.values.clone()),
                )
            }
        };
        Ok((ens.with_offset(offset).ctx("ensemble")?, starts))
    };
    let (mut ens, starts) = ranks.agree(setup())?;
    let steps = plan.steps;
    let mut energy = ControlEnergy::new();
    let every = (steps / 200).max(1);
    // the full covariance only when asked for or d is small; else O(B d) per-coordinate variances
    let full = full_covariance(&plan.config.output, d);
    let mut moments = Moments::new(every, full);
    let mut variances = (!full).then(|| Variances::new(every));
    // this rank's share of the first `trajectories` particles (local indices)
    let ntraj = plan.config.output.trajectories.min(b);
    let mine = ntraj.saturating_sub(offset).min(n);
    let mut traj = (ntraj > 0).then(|| Trajectories::new((0..mine).collect(), plan.traj_every()));
    let keep = plan.snapshot_keep().saturating_sub(offset).min(n);
    let mut snaps = Snapshots::at_steps(plan.check_steps()).keep_first(keep);
    let bar = outdir::progress(common.quiet, "sample");
    let cfg = RunConfig {
        threads: common.threads,
        cancel: Some(outdir::cancel_token()),
        ..RunConfig::new(plan.config.run.scheme.scheme(), seed)
    };
    // the bridge holds this rank's starts only (population), or every row (a point, a file)
    let starts_for_bridge = match &plan.start {
        StartLaw::Origin => None,
        StartLaw::Population(_) => starts.clone().map(|z| (offset, z)),
        _ => starts.clone().map(|z| (0, z)),
    };
    let comm = ranks.comm();
    // building the bridge is agreed (`?`); the run's own error is `ran`
    let ran = with_bridge_starts(plan, starts_for_bridge, comm, |bridge| {
        let mut progress = Progress::new(&bar, 0.0, 1.0);
        let mut obs: Vec<&mut dyn Observer> =
            vec![&mut energy, &mut moments, &mut snaps, &mut progress];
        if let Some(t) = traj.as_mut() {
            obs.push(t);
        }
        if let Some(v) = variances.as_mut() {
            obs.push(v);
        }
        Ok(run_with_comm(
            bridge,
            &Noise::Scalar(1.0),
            &plan.grid,
            &mut ens,
            &cfg,
            &mut obs,
            comm,
        )
        .map_err(|e| outdir::map_run_error(e, "running the bridge")))
    })?;
    match ran.map(|_| ()) {
        // the runner agrees on Ctrl-C: every rank stops at the same step
        Err(AppError::Interrupted) => return Err(AppError::Interrupted),
        Err(e) if ranks.size() > 1 => ranks.abort(&e.to_string()),
        r => r?,
    }
    bar.finish_and_clear();
    Ok(Outcome {
        shard: sh,
        x1: ens.into_vec(),
        starts,
        energy,
        moments,
        variances,
        trajectories: traj,
        snapshots: snaps,
    })
}

/// The statistics `sample` writes, computed on every rank from its shard: every sum over
/// particles is a reproducible sum over the ranks ([`blocked_sum`]), so each is bit-identical
/// for any number of ranks. Collective.
struct Stats {
    /// Standard error of the control energy over particles.
    energy_stderr: f64,
    /// Marginal checks against the analytic law or the target samples.
    checks: Vec<Check>,
    /// Panels of `marginals.svg`: the particle histogram of `x0` and the analytic density.
    marginal_charts: Vec<Chart>,
    /// Start rows used by the analytic marginal.
    rows_used: Option<usize>,
    /// Mean of the starts actually used (mixture targets; `None`: the origin).
    mean_start: Option<Vec<f64>>,
    /// Mean distance of terminal samples to the nearest target point (file targets).
    atom_distance: Option<f64>,
}

/// `(mean, variance)` with divisor `n - 1` of values spread over the ranks
/// ([`mfpid::sde::observe::mean_var_on`]), the variance of fewer than two values taken as 0.
/// Collective.
fn mean_var_on(comm: &dyn Communicator, v: &[f64], total: usize) -> (f64, f64) {
    let (m, var) = observe::mean_var_on(comm, v, total);
    (m, if total > 1 { var } else { 0.0 })
}

/// Histogram density of values spread over the ranks (`v` this rank's, `total` over all ranks)
/// on `bins` equal bins of `[lo, hi]`: `(centres, densities)`; the counts are exact sums over
/// the ranks. Collective.
fn histogram_on(
    comm: &dyn Communicator,
    v: &[f64],
    total: usize,
    lo: f64,
    hi: f64,
    bins: usize,
) -> (Vec<f64>, Vec<f64>) {
    let w = (hi - lo) / bins as f64;
    let (mut partials, mut counts) = (Vec::new(), vec![0.0; bins]);
    blocked_sum(comm, v.len(), bins, &mut partials, &mut counts, |i, acc| {
        let x = v[i];
        if x >= lo && x < hi {
            acc[(((x - lo) / w) as usize).min(bins - 1)] += 1.0;
        }
    });
    let n = total as f64;
    let centres = (0..bins).map(|b| lo + (b as f64 + 0.5) * w).collect();
    let dens = counts.iter().map(|&c| c / (n * w)).collect();
    (centres, dens)
}

/// The first `keep` start rows of the whole population (the analytic marginal's rows; `None`:
/// the origin). A population's rows are drawn again from their global blocks where this rank does
/// not hold them all (`O(keep d)`, `keep <= 200000 / K`).
fn first_start_rows(
    plan: &Plan,
    res: &Outcome,
    max_rows: usize,
) -> Result<Option<(Vec<f64>, usize)>> {
    let d = plan.d;
    let Some(s) = &res.starts else {
        return Ok(None);
    };
    Ok(Some(match &plan.start {
        StartLaw::Population(g) => {
            let keep = plan.particles.min(max_rows.max(1));
            if res.shard.offset == 0 && res.shard.count >= keep {
                (s[..keep * d].to_vec(), keep)
            } else {
                let z = Law::Mixture(g.clone())
                    .sample_range(0, keep, plan.particles, plan.seed.wrapping_add(1))
                    .ctx("analytic marginal")?;
                (z, keep)
            }
        }
        _ => {
            let keep = (s.len() / d).min(max_rows.max(1));
            (s[..keep * d].to_vec(), keep)
        }
    }))
}

/// The statistics of [`Stats`] from this rank's [`Outcome`]. Collective.
fn statistics(plan: &Plan, res: &Outcome, comm: &dyn Communicator) -> Result<Stats> {
    let d = plan.d;
    let b = plan.particles;
    let o = &plan.config.output;
    let (offset, count) = (res.shard.offset, res.shard.count);
    let energy_stderr = mean_stderr_on(comm, &res.energy.per_particle, b).1;
    // the mean of the starts used: particle i starts at row i mod rows
    let mean_start = match (&plan.target, &plan.start, &res.starts) {
        (TargetLaw::Mixture(_), StartLaw::Point(z), _) => Some(z.clone()),
        (TargetLaw::Mixture(_), _, Some(s)) => {
            let rows = s.len() / d;
            // a population's rows are this rank's particles; a file's rows are global
            let row = |i: usize| match &plan.start {
                StartLaw::Population(_) => i,
                _ => (offset + i) % rows,
            };
            let (mut partials, mut sum) = (Vec::new(), vec![0.0; d]);
            blocked_sum(comm, count, d, &mut partials, &mut sum, |i, acc| {
                let r = row(i);
                for (a, v) in acc.iter_mut().zip(&s[r * d..(r + 1) * d]) {
                    *a += v;
                }
            });
            sum.iter_mut().for_each(|v| *v /= b as f64);
            Some(sum)
        }
        _ => None,
    };
    // analytic references (mixture target)
    let analytic = match &plan.target {
        TargetLaw::Mixture(g) => {
            let max_rows = (200_000 / g.components()).max(1);
            let rows = first_start_rows(plan, res, max_rows)?;
            Some(analytic_bridge(plan, g, rows)?)
        }
        TargetLaw::Samples { .. } => None,
    };
    // checks on the first min(B, 200000) particles (this rank's share of them)
    let kept = plan.snapshot_keep();
    let mut checks = Vec::new();
    let dcheck = d.min(8);
    let mut marginal_charts = Vec::new();
    let mut rows_used = None;
    for Snapshot { t, x, .. } in &res.snapshots.taken {
        crate::ranks::agree(comm, crate::outdir::check_cancel())?;
        match (&plan.target, &analytic) {
            (TargetLaw::Mixture(g), Some((ab, used))) => {
                rows_used = Some(*used);
                let m = if *t >= 1.0 {
                    g.clone()
                } else {
                    ab.marginal(*t).ctx("analytic marginal")?
                };
                for j in 0..dcheck {
                    let cm = m.coordinate_marginal(j).ctx("coordinate marginal")?;
                    checks.push(mixture_check(comm, *t, j, x, kept, d, &cm, o.bins));
                    if j == 0 {
                        let v = column(x, d, 0);
                        let (mr, vr) = (cm.mean()[0], cm.covariance()[0]);
                        let (lo, hi) = (mr - 4.0 * vr.sqrt(), mr + 4.0 * vr.sqrt());
                        let (c, h) = histogram_on(comm, &v, kept, lo, hi, o.bins);
                        let dens: Vec<(f64, f64)> = (0..=200)
                            .map(|i| {
                                let xx = lo + (hi - lo) * i as f64 / 200.0;
                                (xx, mix_pdf(&cm, xx))
                            })
                            .collect();
                        marginal_charts.push(
                            Chart::new(format!("t = {t:.3}"), "x0", "density")
                                .with(Series::new(
                                    "particles",
                                    c.into_iter().zip(h).collect(),
                                    Mark::LinePoints,
                                ))
                                .with(Series::new("analytic p*_t", dens, Mark::Line)),
                        );
                    }
                }
            }
            (TargetLaw::Samples { points, .. }, _) if *t >= 1.0 - 1e-12 => {
                for j in 0..dcheck {
                    let v = column(x, d, j);
                    let n = kept as f64;
                    let (mean, var) = mean_var_on(comm, &v, kept);
                    let (mr, vr) = mean_var(&column(&points.values, d, j));
                    let se = (var / n).sqrt();
                    checks.push(Check {
                        t: *t,
                        coord: j,
                        mean,
                        mean_stderr: se,
                        mean_ref: mr,
                        mean_z: (mean - mr) / se,
                        var,
                        var_ref: vr,
                        l1: None,
                        l1_noise: None,
                    });
                }
            }
            _ => {}
        }
    }
    // nearest target atom (file targets): terminal samples should sit on the target points; the
    // mean over the first min(B, 2000) particles
    let atom_distance = match &plan.target {
        TargetLaw::Samples { points, .. } => {
            let m = b.min(2000);
            let mine = m.saturating_sub(offset).min(count);
            let x1 = &res.x1;
            let (mut partials, mut total) = (Vec::new(), [0.0]);
            blocked_sum(comm, mine, 1, &mut partials, &mut total, |i, acc| {
                let xi = &x1[i * d..(i + 1) * d];
                let best = points
                    .values
                    .chunks_exact(d)
                    .map(|y| {
                        y.iter()
                            .zip(xi)
                            .map(|(a, c)| (a - c) * (a - c))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min);
                acc[0] += best.sqrt();
            });
            Some(total[0] / m as f64)
        }
        _ => None,
    };
    Ok(Stats {
        energy_stderr,
        checks,
        marginal_charts,
        rows_used,
        mean_start,
        atom_distance,
    })
}

/// The samples files' contents on rank 0 (`None` elsewhere): every rank's rows in rank order,
/// which is the one-process order.
struct Gathered {
    /// Terminal samples, `B x d`.
    x1: Vec<f64>,
    /// Sampled start points (population), `B x d`.
    starts: Option<Vec<f64>>,
    /// Recorded paths: times and, per time, the first `trajectories` particles' states.
    trajectories: Option<(Vec<f64>, Vec<Vec<f64>>)>,
}

/// `local` of every rank concatenated in rank order on rank 0 (`None` elsewhere) through the
/// communicator's gather (one process keeps its buffer). Collective.
fn gather(comm: &dyn Communicator, local: Vec<f64>, what: &str) -> Result<Option<Vec<f64>>> {
    if comm.size() == 1 {
        return Ok(Some(local));
    }
    comm.gather_to_root(&local).ctx(what)
}

/// Gather the samples files to rank 0 (`O(B d)` there, once after the run; the per-step exchange
/// stays `O(d)`). Collective.
fn gather_outputs(
    plan: &Plan,
    res: &mut Outcome,
    comm: &dyn Communicator,
) -> Result<Option<Gathered>> {
    let d = plan.d;
    let x1 = gather(
        comm,
        std::mem::take(&mut res.x1),
        "gathering the terminal samples",
    )?;
    let starts = match (&plan.start, res.starts.take()) {
        (StartLaw::Population(_), Some(z)) => gather(comm, z, "gathering the start points")?,
        _ => None,
    };
    let trajectories = match res.trajectories.take() {
        Some(tr) => {
            let records = tr.times.len();
            let flat: Vec<f64> = tr.states.into_iter().flatten().collect();
            gather(comm, flat, "gathering the paths")?.map(|all| {
                // rank r sent `records` rows of its n_r paths: interleave them per record
                let ntraj = plan.config.output.trajectories.min(plan.particles);
                let size = comm.size();
                let counts: Vec<usize> = (0..size)
                    .map(|r| {
                        shard(plan.particles, size, r)
                            .map_or(0, |s| ntraj.saturating_sub(s.offset).min(s.count))
                    })
                    .collect();
                let mut states = vec![Vec::with_capacity(ntraj * d); records];
                let mut at = 0;
                for &nr in &counts {
                    for s in states.iter_mut() {
                        s.extend_from_slice(&all[at..at + nr * d]);
                        at += nr * d;
                    }
                }
                (tr.times, states)
            })
        }
        None => None,
    };
    Ok(x1.map(|x1| Gathered {
        x1,
        starts,
        trajectories,
    }))
}

/// Per-coordinate variances (divisor `B - 1`) every `every` steps and at the end, on the same
/// records as [`Moments`]: `O(B d)` where the full covariance is `O(B d²)`.
struct Variances {
    every: usize,
    records: Vec<Vec<f64>>,
    partials: Vec<f64>,
    mean: Vec<f64>,
}

impl Variances {
    fn new(every: usize) -> Self {
        Self {
            every: every.max(1),
            records: Vec::new(),
            partials: Vec::new(),
            mean: Vec::new(),
        }
    }
}

impl Observer for Variances {
    fn needs_drift(&self) -> bool {
        false
    }
    fn start(&mut self, _grid: &TimeGrid, _n: usize, _d: usize) {
        self.records.clear();
    }

    fn observe(&mut self, v: &mfpid::sde::observe::StepView<'_>) {
        if !v.last && !v.step.is_multiple_of(self.every) {
            return;
        }
        let (d, x, n) = (v.dim, v.x, v.n_particles());
        let total = v.total_particles as f64;
        self.mean.clear();
        self.mean.resize(d, 0.0);
        blocked_sum(
            v.comm,
            n,
            d,
            &mut self.partials,
            &mut self.mean,
            |i, acc| {
                for (a, xi) in acc.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                    *a += xi;
                }
            },
        );
        self.mean.iter_mut().for_each(|m| *m /= total);
        // var_j = Σ_i (x_ij - m_j)² / (B - 1)
        let mut var = vec![0.0; d];
        let m = &self.mean;
        blocked_sum(v.comm, n, d, &mut self.partials, &mut var, |i, acc| {
            for ((a, xi), mj) in acc.iter_mut().zip(&x[i * d..(i + 1) * d]).zip(m) {
                *a += (xi - mj) * (xi - mj);
            }
        });
        var.iter_mut().for_each(|s| *s /= (total - 1.0).max(1.0));
        self.records.push(var);
    }
}

/// `f` on the bridge of the plan's target, with start rows `(offset, rows)` (the global index of
/// the particle of row 0; `None`: the origin); building it is agreed over `comm`'s ranks.
fn with_bridge_starts<R>(
    plan: &Plan,
    starts: Option<(usize, Vec<f64>)>,
    comm: &dyn Communicator,
    f: impl FnOnce(&mut dyn BridgeDyn) -> Result<R>,
) -> Result<R> {
    fn go<T: Target, R>(
        plan: &Plan,
        t: T,
        starts: Option<(usize, Vec<f64>)>,
        comm: &dyn Communicator,
        f: impl FnOnce(&mut dyn BridgeDyn) -> Result<R>,
    ) -> Result<R> {
        let built = make_bridge(plan, t).and_then(|b| match starts {
            Some((offset, s)) => b.with_starts_at(offset, s).ctx("start points"),
            None => Ok(b),
        });
        let mut b = crate::ranks::agree(comm, built)?;
        f(&mut b)
    }
    match &plan.target {
        TargetLaw::Mixture(g) => go(plan, g.clone(), starts, comm, f),
        TargetLaw::Samples { points, .. } => {
            let e = crate::ranks::agree(
                comm,
                Empirical::new(points.d, points.values.clone()).ctx("target samples"),
            )?;
            go(plan, e, starts, comm, f)
        }
    }
}

/// Analytic marginals `p*_t` for a mixture target (conditional on the realised start rows: the
/// first ones, at most `200000 / K`, an i.i.d. subsample for a population; see
/// [`first_start_rows`]), and the number of rows used.
fn analytic_bridge(
    plan: &Plan,
    g: &GaussianMixture,
    rows: Option<(Vec<f64>, usize)>,
) -> Result<(Bridge<GaussianMixture>, usize)> {
    let mut b = Bridge::new(&plan.protocol, g.clone()).ctx("analytic marginal")?;
    let mut used = 1;
    if let Some((s, keep)) = rows {
        used = keep;
        b = b.with_starts(s).ctx("analytic marginal")?;
    }
    Ok((b, used))
}

/// Run `sample` with a config file: one population over the MPI ranks under `mpirun` with the
/// feature `mpi` (see [`crate::ranks`]), else in this process.
pub fn cmd(config: &Path, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let ranks = Ranks::init()?;
    let outcome = run_on(config, out, &ranks.common(common), &ranks);
    ranks.finish(outcome)
}

/// `sample` over `ranks`: every rank draws and simulates only its shard of whole 64-particle RNG
/// blocks of the one global ensemble and computes every statistic by reproducible sums over the
/// ranks; the samples files are gathered to rank 0, which alone writes the output directory. Every
/// fallible step before the last collective is agreed over the ranks. Collective; pass
/// [`Ranks::common`]'s flags (quiet on every rank but 0).
pub fn run_on<C: Job>(
    config: &Path,
    out: Option<PathBuf>,
    common: &Common,
    ranks: &Ranks<C>,
) -> Result<()> {
    let mut timings = Timings::start();
    let src = ranks.agree(Source::load(config))?;
    let plan = ranks.agree(plan_on(&src, common, ranks.size()))?;
    let out = out.unwrap_or_else(|| default_out(config));
    let dir = ranks.on_root(|| OutDir::create(&out, common.force))?;
    timings.lap("setup");
    if !common.quiet {
        for l in plan.describe() {
            eprintln!("{l}");
        }
    }
    // the shared estimator's time of the whole run in one process (a probe run on rank 0),
    // recorded beside the measured time
    let time_estimate = ranks.on_root(|| plan.estimate_seconds())?;
    timings.lap("estimate");
    let sh = ranks.agree(shard(plan.particles, ranks.size(), ranks.rank()).ctx("ranks"))?;
    let mut res = simulate(&plan, common, ranks, sh)?;
    // the simulation alone (what the time estimate models), then the checks and the gathers
    timings.lap("simulate");
    let stats = ranks.agree(statistics(&plan, &res, ranks.comm()))?;
    let gathered = ranks.agree(gather_outputs(&plan, &mut res, ranks.comm()))?;
    timings.lap("statistics");
    // the other ranks are done; rank 0 writes (its outcome is agreed in `cmd`)
    let (Some(dir), Some(gathered)) = (dir, gathered) else {
        return Ok(());
    };
    let summary = write_outputs(&plan, &res, &stats, &gathered, &dir)?;
    timings.lap("write");
    let run_json = serde_json::json!({
        "command": "sample",
        "config_file": config.display().to_string(),
        "config": plan.config,
        "seed": plan.seed,
        "particles": plan.particles,
        "steps": plan.steps,
        "threads": common.threads.unwrap_or_else(rayon::current_num_threads),
        "memory_estimate_bytes": plan.cost.bytes_u64(),
        "time_estimate_s": time_estimate,
        "ranks": ranks.record_shards(plan.particles, "first_particle", "particles"),
    });
    crate::outdir::write_run_json(&dir, run_json, common.quick, &timings)?;
    let final_dir = dir.commit()?;
    if !common.quiet {
        print_summary(&summary);
        println!("wrote {}", final_dir.display());
    }
    match checks_failed(&summary) {
        Some(msg) if common.strict => Err(AppError::ChecksFailed(msg)),
        Some(msg) => {
            eprintln!("mfpid: warning: {msg} (--strict makes this exit with status 3)");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Significance below which the run's own checks count as failed: the probability that the
/// largest of its `n` mean z-scores is at least as large under exact sampling (Šidák).
pub const CHECK_P_VALUE: f64 = 1e-3;

/// The failure of a run's checks against the analytic marginal (or the target samples), if any.
fn checks_failed(s: &Summary) -> Option<String> {
    let n = s.checks.len();
    let z = s.max_abs_mean_z?;
    if n == 0 || !z.is_finite() {
        return None;
    }
    let p = mfpid::energy::metrics::max_z_p_value(z, n);
    (p < CHECK_P_VALUE).then(|| {
        format!(
            "the run fails its own checks against the {}: max |mean z-score| = {z:.2} over {n} checks, probability {} under exact sampling (below {CHECK_P_VALUE}); more steps (run.steps) reduce the time-discretisation bias",
            if s.max_l1_over_noise.is_some() { "analytic marginal" } else { "target samples" },
            human_num(p),
        )
    })
}

fn print_summary(s: &Summary) {
    // a non-finite number is written to JSON as null and was never printed
    let finite = |v: f64| v.is_finite().then_some(v);
    if let (Some(e), Some(se)) = (finite(s.energy), finite(s.energy_stderr)) {
        println!("control energy E(1) = {e:.5} ± {se:.5} (standard error over particles)");
    }
    if let Some(m) = &s.terminal_mean {
        let m: Vec<String> = m
            .iter()
            .take(8)
            .map(|&v| format!("{:.4}", finite(v).unwrap_or(f64::NAN)))
            .collect();
        println!("terminal mean [{}]", m.join(", "));
    }
    if let Some(z) = s.max_abs_mean_z.and_then(finite) {
        match s.max_l1_over_noise.and_then(finite) {
            Some(l1) => println!(
                "checks against the analytic marginal: max |mean z-score| = {z:.2}, max histogram L1 / sampling-noise L1 = {l1:.2}"
            ),
            None => println!("checks against the target samples: max |mean z-score| = {z:.2}"),
        }
    }
}

/// `summary.json` of a `sample` run.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    /// Dimension `d`.
    d: usize,
    /// Particles `B`.
    particles: usize,
    /// Time steps.
    steps: usize,
    /// Control energy `E(1)`.
    energy: f64,
    /// Its standard error over particles.
    energy_stderr: f64,
    /// `E_j(1)` per coordinate.
    energy_per_coord: Vec<f64>,
    /// `max_t E|u_t|²`.
    peak_power: f64,
    /// Terminal mean.
    terminal_mean: Option<Vec<f64>>,
    /// Terminal covariance, row-major (if recorded).
    terminal_cov: Option<Vec<f64>>,
    /// Marginal checks against the analytic law or the target samples.
    checks: Vec<Check>,
    /// `max |mean z-score|` over the checks.
    max_abs_mean_z: Option<f64>,
    /// `max` histogram L1 / sampling-noise L1 over the checks.
    max_l1_over_noise: Option<f64>,
    /// Start rows used by the analytic marginal.
    analytic_start_rows: Option<usize>,
    /// Mean distance of terminal samples to the nearest target point (file targets).
    mean_nearest_target_point_distance: Option<f64>,
}

/// Write the output directory (rank 0) from the statistics every rank computed and the gathered
/// samples.
fn write_outputs(
    plan: &Plan,
    res: &Outcome,
    stats: &Stats,
    gathered: &Gathered,
    dir: &OutDir,
) -> Result<Summary> {
    let d = plan.d;
    let b = plan.particles;
    let o = &plan.config.output;
    data::write_npy(&dir.file("samples.npy"), &[b, d], &gathered.x1)?;
    if o.csv {
        data::write_points_csv(&dir.file("samples.csv"), d, &gathered.x1)?;
    }
    if let Some(z) = &gathered.starts {
        data::write_npy(&dir.file("starts.npy"), &[b, d], z)?;
    }
    // energy
    let e = &res.energy;
    let mut et = Table::with_columns(["t", "power", "cumulative_energy"]);
    for ((t, p), c) in e.times.iter().zip(&e.power).zip(&e.cumulative) {
        et.push(vec![(*t).into(), (*p).into(), (*c).into()]);
    }
    et.write_csv(&dir.file("energy.csv"))?;
    // the mean of p*_t is affine in the start, so one bridge from the mean start gives x̄*_t
    let mean_bridge = match (&plan.target, &stats.mean_start) {
        (TargetLaw::Mixture(g), Some(used)) => Some(
            Bridge::new(&plan.protocol, g.clone())
                .and_then(|br| br.with_start(used))
                .ctx("analytic mean")?,
        ),
        (TargetLaw::Mixture(g), None) => {
            Some(Bridge::new(&plan.protocol, g.clone()).ctx("analytic mean")?)
        }
        _ => None,
    };
    // moments over time
    let dshow = d.min(32);
    let mut cols = vec!["t".to_string()];
    for j in 0..dshow {
        cols.push(format!("mean_x{j}"));
    }
    for j in 0..dshow {
        cols.push(format!("var_x{j}"));
    }
    if mean_bridge.is_some() {
        for j in 0..dshow {
            cols.push(format!("analytic_mean_x{j}"));
        }
    }
    let mut mt = Table::with_columns(cols);
    let mut mean_path = Vec::new();
    let mut analytic_path = Vec::new();
    for (r, rec) in res.moments.records.iter().enumerate() {
        let mut row: Vec<Cell> = vec![rec.t.into()];
        row.extend(rec.mean.iter().take(dshow).map(|&v| Cell::Num(v)));
        let var = |j: usize| match (&rec.cov, &res.variances) {
            (Some(c), _) => c.get(j * d + j).copied(),
            (None, Some(v)) => v.records.get(r).and_then(|x| x.get(j)).copied(),
            _ => None,
        };
        row.extend((0..dshow).map(|j| Cell::Num(var(j).unwrap_or(f64::NAN))));
        mean_path.push((rec.t, rec.mean[0]));
        if let Some(mb) = &mean_bridge {
            let am = if rec.t > 0.0 {
                mb.marginal_mean(rec.t).ctx("analytic mean")?
            } else {
                mb.start_of(0).map(|z| z.to_vec()).unwrap_or(vec![0.0; d])
            };
            analytic_path.push((rec.t, am[0]));
            row.extend(am.iter().take(dshow).map(|&v| Cell::Num(v)));
        }
        mt.push(row);
    }
    mt.write_csv(&dir.file("moments.csv"))?;
    // checks
    let checks = &stats.checks;
    let mut ct = Table::with_columns([
        "t",
        "coord",
        "mean",
        "mean_stderr",
        "mean_ref",
        "mean_z",
        "var",
        "var_ref",
        "l1",
        "l1_noise_floor",
    ]);
    for c in checks {
        ct.push(vec![
            c.t.into(),
            c.coord.into(),
            c.mean.into(),
            c.mean_stderr.into(),
            c.mean_ref.into(),
            c.mean_z.into(),
            c.var.into(),
            c.var_ref.into(),
            c.l1.unwrap_or(f64::NAN).into(),
            c.l1_noise.unwrap_or(f64::NAN).into(),
        ]);
    }
    ct.write_csv(&dir.file("checks.csv"))?;
    // trajectories
    if let Some((times, states)) = &gathered.trajectories {
        let n = states.first().map(|s| s.len() / d).unwrap_or(0);
        let flat: Vec<f64> = states.iter().flatten().copied().collect();
        data::write_npy(&dir.file("trajectories.npy"), &[times.len(), n, d], &flat)?;
        data::write_npy(&dir.file("trajectory_times.npy"), &[times.len()], times)?;
        if o.csv {
            let mut cols = vec!["t".to_string(), "particle".to_string()];
            cols.extend((0..d).map(|j| format!("x{j}")));
            let mut t = Table::with_columns(cols);
            for (time, s) in times.iter().zip(states) {
                for (p, row) in s.chunks_exact(d).enumerate() {
                    let mut r: Vec<Cell> = vec![(*time).into(), p.into()];
                    r.extend(row.iter().map(|&v| Cell::Num(v)));
                    t.push(r);
                }
            }
            t.write_csv(&dir.file("trajectories.csv"))?;
        }
    }
    // summary
    let last = res.moments.records.last();
    let max_z = checks
        .iter()
        .map(|c| c.mean_z.abs())
        .fold(f64::NAN, f64::max);
    let max_l1 = checks
        .iter()
        .filter_map(|c| Some(c.l1? / c.l1_noise?))
        .fold(f64::NAN, f64::max);
    let summary = Summary {
        d,
        particles: b,
        steps: plan.steps,
        energy: e.total(),
        energy_stderr: stats.energy_stderr,
        energy_per_coord: e.per_coord.clone(),
        peak_power: e.peak_power(),
        terminal_mean: last.map(|r| r.mean.clone()),
        terminal_cov: last.and_then(|r| r.cov.clone()),
        max_abs_mean_z: if checks.is_empty() { None } else { Some(max_z) },
        max_l1_over_noise: if max_l1.is_nan() { None } else { Some(max_l1) },
        checks: checks.clone(),
        analytic_start_rows: stats.rows_used,
        mean_nearest_target_point_distance: stats.atom_distance,
    };
    // through a JSON value, so keys are written in the same (sorted) order as before
    let value = serde_json::to_value(&summary).map_err(|e| AppError::Other(e.to_string()))?;
    data::write_json(&dir.file("summary.json"), &value)?;
    // figures
    if o.figures {
        let power: Vec<(f64, f64)> = e
            .times
            .iter()
            .copied()
            .zip(e.power.iter().copied())
            .collect();
        let cum: Vec<(f64, f64)> = e
            .times
            .iter()
            .zip(&e.cumulative)
            .enumerate()
            .map(|(n, (_, c))| (e.times.get(n + 1).copied().unwrap_or(1.0), *c))
            .collect();
        plot::save(
            dir.path(),
            "energy",
            &[
                Chart::new("power", "t", "mean |u|²").with(Series::new("P(t)", power, Mark::Line)),
                Chart::new("cumulative control energy", "t", "E(t)").with(Series::new(
                    "E(t)",
                    cum,
                    Mark::Line,
                )),
            ],
            2,
        )?;
        // terminal histograms per coordinate
        let mut charts = Vec::new();
        for j in 0..d.min(4) {
            let v = column(&gathered.x1, d, j);
            let (lo, hi) = {
                let mut s = v.clone();
                s.sort_by(f64::total_cmp);
                let q = |p: f64| s[((p * (s.len() - 1) as f64) as usize).min(s.len() - 1)];
                let (a, c) = (q(0.001), q(0.999));
                let pad = 0.1 * (c - a).max(1e-6);
                (a - pad, c + pad)
            };
            // all samples are here (gathered): one process's histogram
            let (c, h) = histogram_on(&SingleProcess, &v, v.len(), lo, hi, o.bins);
            let mut ch = Chart::new(
                format!("terminal samples, x{j}"),
                format!("x{j}"),
                "density",
            )
            .with(Series::new(
                "particles",
                c.into_iter().zip(h).collect(),
                Mark::LinePoints,
            ));
            if let TargetLaw::Mixture(g) = &plan.target {
                let cm = g.coordinate_marginal(j).ctx("coordinate marginal")?;
                let dens = (0..=200)
                    .map(|i| {
                        let xx = lo + (hi - lo) * i as f64 / 200.0;
                        (xx, mix_pdf(&cm, xx))
                    })
                    .collect();
                ch = ch.with(Series::new("target", dens, Mark::Line));
            }
            charts.push(ch);
        }
        plot::save(dir.path(), "terminal", &charts, 2)?;
        if !stats.marginal_charts.is_empty() {
            plot::save(dir.path(), "marginals", &stats.marginal_charts, 2)?;
        }
        let mut mc = Chart::new("mean of x0", "t", "x0").with(Series::new(
            "particles",
            mean_path,
            Mark::Line,
        ));
        if !analytic_path.is_empty() {
            mc = mc.with(Series::new("analytic", analytic_path, Mark::Dashed));
        }
        let mut panels = vec![mc];
        if let Some((times, states)) = &gathered.trajectories {
            let n = states.first().map(|s| s.len() / d).unwrap_or(0);
            let mut pc = Chart::new("paths of x0", "t", "x0");
            for p in 0..n.min(50) {
                let pts = times
                    .iter()
                    .zip(states)
                    .map(|(t, s)| (*t, s[p * d]))
                    .collect();
                pc = pc.with(Series::new("", pts, Mark::Line).color(p));
            }
            panels.push(pc);
        }
        plot::save(dir.path(), "paths", &panels, 2)?;
        if d >= 2 {
            let pts: Vec<(f64, f64)> = gathered
                .x1
                .chunks_exact(d)
                .take(4000)
                .map(|r| (r[0], r[1]))
                .collect();
            let mut sc = Chart::new("terminal samples", "x0", "x1").with(Series::new(
                "particles",
                pts,
                Mark::Points,
            ));
            if let TargetLaw::Samples { points, .. } = &plan.target {
                let tp = points
                    .values
                    .chunks_exact(d)
                    .take(4000)
                    .map(|r| (r[0], r[1]))
                    .collect();
                sc = sc.with(Series::new("target samples", tp, Mark::Points));
            }
            plot::save(dir.path(), "scatter", &[sc], 1)?;
        }
    }
    Ok(summary)
}

/// `validate` for a sample config.
pub fn validate(src: &Source, common: &Common) -> Result<Vec<String>> {
    let plan = plan(src, common)?;
    let mut lines = plan.describe();
    let secs = plan.estimate_seconds()?;
    lines.push(format!(
        "  cost:     {} particle-steps x {} drift stage(s); simulation time about {} on this machine (from a probe run); {}",
        human_num(plan.particles as f64 * plan.steps as f64),
        plan.config.run.scheme.scheme().stages(),
        human_seconds(secs),
        plan.cost.describe_memory()
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    //! `sample` over in-process ranks (`mfpid_sde::comm::local`): each rank simulates its shard
    //! of whole RNG blocks, the statistics are reproducible sums and the samples are gathered to
    //! rank 0, so the output directory is byte for byte the one-process run's for 1, 2, 3 ranks.

    use super::*;
    use mfpid::sde::comm::local::LocalRanks;
    use std::collections::BTreeMap;

    /// A population bridged to a 2-D mixture with full covariances, with paths of particles on
    /// two ranks (700 particles: 11 blocks, the last partial; 3 ranks hold 4, 4 and 3 blocks).
    const POPULATION: &str = r#"
[run]
particles = 700
steps = 48
seed = 5

[protocol]
kind = "geometric"
pieces = 4
centre = [1.0, 1.0]

[start.population]
weights = [0.5, 0.5]
means = [[3.0, 3.0], [4.0, 1.0]]
variance = [0.3, 0.3]

[target]
weights = [0.5, 0.3, 0.2]
means = [[-1.5, 0.0], [1.5, 1.0], [0.0, -2.0]]
cov = [
  [[0.20, 0.08], [0.08, 0.10]],
  [[0.10, -0.05], [-0.05, 0.30]],
  [[0.05, 0.00], [0.00, 0.05]],
]

[output]
trajectories = 300
trajectory_every = 5
checks = [0.5, 1.0]
bins = 16
"#;

    /// Start rows and target samples from files, per-coordinate variances (no covariance); 4200
    /// particles: on 3 ranks (1408 each) rank 2 holds none of the first 2000 (nearest-point
    /// distance) and none of the paths.
    const FILES: &str = r#"
[run]
particles = 4200
steps = 30
scheme = "heun"

[protocol]
kind = "constant"
beta = 4.0

[start]
file = "starts.csv"

[target]
file = "target.csv"

[output]
trajectories = 5
checks = [1.0]
bins = 12
covariance = false
"#;

    fn write_data(dir: &Path) {
        let pts = |n: usize, r: f64| {
            let mut s = String::from("x,y\n");
            for i in 0..n {
                let a = i as f64 * 0.7;
                s.push_str(&format!(
                    "{},{}\n",
                    r * a.cos(),
                    r * a.sin() + 0.1 * i as f64
                ));
            }
            s
        };
        std::fs::write(dir.join("starts.csv"), pts(7, 0.5)).unwrap();
        std::fs::write(dir.join("target.csv"), pts(40, 2.0)).unwrap();
    }

    /// Every file of an output directory but `run.json`, by name.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|n| n != "run.json"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect()
    }

    fn common() -> Common {
        Common {
            quiet: true,
            ..Common::default()
        }
    }

    /// `sample` over `size` in-process ranks; rank 0 writes `out`. Its `run.json`.
    fn over_ranks(config: &Path, out: &Path, size: usize) -> serde_json::Value {
        let results = LocalRanks::run(size, |comm, _| {
            let ranks = Ranks::over(comm);
            run_on(
                config,
                Some(out.to_path_buf()),
                &ranks.common(&common()),
                &ranks,
            )
        });
        for (r, res) in results.into_iter().enumerate() {
            res.unwrap_or_else(|e| panic!("rank {r}: {e}"));
        }
        let text = std::fs::read_to_string(out.join("run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn sharded_sample_writes_the_one_process_output_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        write_data(tmp.path());
        for (name, text) in [("population", POPULATION), ("files", FILES)] {
            let config = tmp.path().join(format!("{name}.toml"));
            std::fs::write(&config, text).unwrap();
            let one = tmp.path().join(format!("{name}.one"));
            let single = Ranks::over(mfpid::sde::SingleProcess);
            run_on(&config, Some(one.clone()), &common(), &single).unwrap();
            let want = files(&one);
            assert!(want.contains_key("samples.npy") && want.contains_key("checks.csv"));
            assert!(want.contains_key("trajectories.npy"));
            assert_eq!(want.contains_key("starts.npy"), name == "population");
            for size in 1..=3 {
                let out = tmp.path().join(format!("{name}.np{size}"));
                let run = over_ranks(&config, &out, size);
                assert_eq!(run["ranks"]["size"], size, "{name}");
                let shards = run["ranks"]["shards"].as_array().unwrap();
                assert_eq!(shards.len(), size);
                let total: u64 = shards
                    .iter()
                    .map(|s| s["particles"].as_u64().unwrap())
                    .sum();
                assert_eq!(total, run["particles"].as_u64().unwrap());
                let got = files(&out);
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{name}, {size} ranks"
                );
                for (file, bytes) in &want {
                    assert!(
                        got[file] == *bytes,
                        "{name}, {size} ranks: {file} differs from the one-process run"
                    );
                }
            }
        }
    }

    #[test]
    fn a_failure_on_rank_0_only_fails_every_rank_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("population.toml");
        std::fs::write(&config, POPULATION).unwrap();
        // the output directory exists (no --force): only rank 0 creates it
        let out = tmp.path().join("taken");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep"), "").unwrap();
        let errs: Vec<String> = LocalRanks::run(2, |comm, _| {
            let ranks = Ranks::over(comm);
            run_on(&config, Some(out.clone()), &ranks.common(&common()), &ranks)
                .unwrap_err()
                .to_string()
        });
        // rank 0 reports its own error; the other ranks only know that a rank failed
        assert!(errs[0].contains("taken"), "{}", errs[0]);
        assert_eq!(errs[1], "failed on another rank");
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn rank_0_memory_counts_its_shard_and_the_gathered_samples() {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("population.toml");
        let big = POPULATION.replace("particles = 700", "particles = 640000");
        std::fs::write(&config, big).unwrap();
        let src = Source::load(&config).unwrap();
        let parts = |ranks| {
            let p = plan_on(&src, &common(), ranks).unwrap();
            (p.cost.bytes(), p.cost)
        };
        let (one, _) = parts(1);
        let (four, cost) = parts(4);
        // the runner's buffers shrink by 4, the gathered samples (B x d) come on top
        assert!(four < one, "{four} >= {one}");
        let gathered = cost
            .parts
            .iter()
            .find(|p| p.what.starts_with("terminal samples gathered on rank 0"))
            .unwrap();
        assert_eq!(gathered.bytes, 640000.0 * 2.0 * 8.0);
        let stages = cost
            .parts
            .iter()
            .find(|p| p.what.starts_with("particle states"))
            .unwrap();
        assert_eq!(stages.bytes, 3.0 * 160000.0 * 2.0 * 8.0);
    }
}
