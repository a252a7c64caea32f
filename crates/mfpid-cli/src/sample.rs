//! `mfpid sample CONFIG`: bridge particles from a start (a point, a population or a data file) to a
//! target (a Gaussian mixture or samples from a data file) and write terminal samples, paths,
//! energy and checks against the analytic marginal.

use std::path::{Path, PathBuf};

use mfpid::bridge::{Bridge, Empirical, GaussianMixture, Protocol, Target};
use mfpid::meanfield::Law;
use mfpid::sde::observe::{
    blocked_sum, ControlEnergy, Moments, Observer, Snapshot, Snapshots, Trajectories,
};
use mfpid::sde::{run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use serde::{Deserialize, Serialize};

use crate::common::{default_out, human_num, human_seconds, Common};
use crate::config::{finite, Source};
use crate::cost::{self, Cost};
use crate::data::{self, Cell, Points, Table};
use crate::error::{AppError, LibContext, Result};
use crate::mixture::{MixtureFields, ProtocolKind, ProtocolSection};
use crate::outdir::{self, OutDir, Progress, Timings};
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
    let cost = estimate(&config, d, particles, steps, &target, &start);
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
/// (ensemble, runner stages, bridge starts, snapshots, recorded moments and paths).
fn estimate(
    config: &SampleConfig,
    d: usize,
    particles: usize,
    steps: usize,
    target: &TargetLaw,
    start: &StartLaw,
) -> Cost {
    let (b, df, n) = (particles as f64, d as f64, steps as f64);
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
        "particle states and the runner's stage buffers (B x d)",
        stages * b * df,
        8.0,
    );
    c.add(
        "run.particles",
        b,
        "terminal samples and per-particle energy",
        b * (df + 1.0),
        8.0,
    );
    match start {
        StartLaw::Population(_) => {
            c.add(
                "run.particles",
                b,
                "sampled start points (B x d, three copies)",
                3.0 * b * df,
                8.0,
            );
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
        "snapshots at the check times (checks x min(B, 200000) x d)",
        checks * b.min(200_000.0) * df,
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
    }
    let mrec = (n / (steps / 200).max(1) as f64).floor() + 2.0;
    if full_covariance(o, d) {
        c.add(
            "output.covariance",
            df,
            "covariance over time (records x d x d, and B/64 partial sums)",
            (mrec + b / 64.0 + 1.0) * df * df,
            8.0,
        );
    } else {
        c.add(
            "run.particles",
            b,
            "moments over time (records x d) and partial sums",
            mrec * 2.0 * df + 2.0 * (b / 64.0 + 1.0) * df,
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

    /// Measure the drift on a short probe run and extrapolate the wall time of the whole run.
    pub fn estimate_seconds(&self) -> Result<f64> {
        let probe_b = self.particles.min(16384);
        let probe_steps = self.steps.min(20);
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
        with_bridge_starts(self, starts, |bridge| {
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
        Ok(cost::extrapolate(
            t0.elapsed().as_secs_f64(),
            probe_b as f64 * probe_steps as f64,
            self.particles as f64 * self.steps as f64,
        ))
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

/// Histogram density of `v` on `bins` equal bins of `[lo, hi]`: `(centres, densities)`.
fn histogram(v: &[f64], lo: f64, hi: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &x in v {
        if x >= lo && x < hi {
            counts[(((x - lo) / w) as usize).min(bins - 1)] += 1;
        }
    }
    let n = v.len() as f64;
    let centres = (0..bins).map(|b| lo + (b as f64 + 0.5) * w).collect();
    let dens = counts.iter().map(|&c| c as f64 / (n * w)).collect();
    (centres, dens)
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

fn mixture_check(t: f64, j: usize, x: &[f64], d: usize, m: &GaussianMixture, bins: usize) -> Check {
    let v = column(x, d, j);
    let n = v.len() as f64;
    let (mean, var) = mean_var(&v);
    let (mean_ref, var_ref) = (m.mean()[0], m.covariance()[0]);
    let sd = var_ref.sqrt();
    let (lo, hi) = (mean_ref - 6.0 * sd, mean_ref + 6.0 * sd);
    let (_, dens) = histogram(&v, lo, hi, bins);
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

/// What a run produced.
struct Outcome {
    x1: Vec<f64>,
    starts: Option<Vec<f64>>,
    energy: ControlEnergy,
    moments: Moments,
    variances: Option<Variances>,
    trajectories: Option<Trajectories>,
    snapshots: Snapshots,
}

fn simulate(plan: &Plan, common: &Common) -> Result<Outcome> {
    let d = plan.d;
    let b = plan.particles;
    let seed = plan.seed;
    // start points: a separate stream from the Brownian increments' (seed + 1, same per-block scheme)
    let (ens, starts): (Ensemble, Option<Vec<f64>>) = match &plan.start {
        StartLaw::Origin => (Ensemble::filled(b, &vec![0.0; d]).ctx("ensemble")?, None),
        StartLaw::Point(z) => (Ensemble::filled(b, z).ctx("ensemble")?, Some(z.clone())),
        StartLaw::Population(g) => {
            let z = Law::Mixture(g.clone())
                .sample(b, seed.wrapping_add(1))
                .ctx("sampling the start population")?;
            (
                Ensemble::from_vec(b, d, z.clone()).ctx("ensemble")?,
                Some(z),
            )
        }
        StartLaw::File { points, .. } => {
            let mut x = Vec::with_capacity(b * d);
            for i in 0..b {
                let r = i % points.n;
                x.extend_from_slice(&points.values[r * d..(r + 1) * d]);
            }
            (
                Ensemble::from_vec(b, d, x).ctx("ensemble")?,
                Some(points.values.clone()),
            )
        }
    };
    let mut ens = ens;
    let steps = plan.steps;
    let mut energy = ControlEnergy::new();
    let every = (steps / 200).max(1);
    // the full covariance only when asked for or d is small; else O(B d) per-coordinate variances
    let full = full_covariance(&plan.config.output, d);
    let mut moments = Moments::new(every, full);
    let mut variances = (!full).then(|| Variances::new(every));
    let ntraj = plan.config.output.trajectories.min(b);
    let mut traj = (ntraj > 0).then(|| Trajectories::new((0..ntraj).collect(), plan.traj_every()));
    let mut snaps = Snapshots::at_steps(plan.check_steps()).keep_first(plan.snapshot_keep());
    let bar = outdir::progress(common.quiet, "sample");
    let cfg = RunConfig {
        threads: common.threads,
        cancel: Some(outdir::cancel_token()),
        ..RunConfig::new(plan.config.run.scheme.scheme(), seed)
    };
    let starts_for_bridge = match &plan.start {
        StartLaw::Origin => None,
        _ => starts.clone(),
    };
    with_bridge_starts(plan, starts_for_bridge, |bridge| {
        let mut progress = Progress::new(&bar, 0.0, 1.0);
        let mut obs: Vec<&mut dyn Observer> =
            vec![&mut energy, &mut moments, &mut snaps, &mut progress];
        if let Some(t) = traj.as_mut() {
            obs.push(t);
        }
        if let Some(v) = variances.as_mut() {
            obs.push(v);
        }
        run(
            bridge,
            &Noise::Scalar(1.0),
            &plan.grid,
            &mut ens,
            &cfg,
            &mut obs,
        )
        .map_err(|e| outdir::map_run_error(e, "running the bridge"))?;
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(Outcome {
        x1: ens.into_vec(),
        starts,
        energy,
        moments,
        variances,
        trajectories: traj,
        snapshots: snaps,
    })
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
    fn start(&mut self, _grid: &TimeGrid, _n: usize, _d: usize) {
        self.records.clear();
    }

    fn observe(&mut self, v: &mfpid::sde::observe::StepView<'_>) {
        if v.drift.is_some() && !v.step.is_multiple_of(self.every) {
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

fn with_bridge_starts<R>(
    plan: &Plan,
    starts: Option<Vec<f64>>,
    f: impl FnOnce(&mut dyn BridgeDyn) -> Result<R>,
) -> Result<R> {
    fn go<T: Target, R>(
        plan: &Plan,
        t: T,
        starts: Option<Vec<f64>>,
        f: impl FnOnce(&mut dyn BridgeDyn) -> Result<R>,
    ) -> Result<R> {
        let mut b = make_bridge(plan, t)?;
        if let Some(s) = starts {
            b = b.with_starts(s).ctx("start points")?;
        }
        f(&mut b)
    }
    match &plan.target {
        TargetLaw::Mixture(g) => go(plan, g.clone(), starts, f),
        TargetLaw::Samples { points, .. } => {
            let e = Empirical::new(points.d, points.values.clone()).ctx("target samples")?;
            go(plan, e, starts, f)
        }
    }
}

/// Analytic marginals `p*_t` for a mixture target (conditional on the realised start rows; at most
/// `max_rows` rows are used, the first ones, which are an i.i.d. subsample for a population).
fn analytic_bridge(
    plan: &Plan,
    g: &GaussianMixture,
    starts: &Option<Vec<f64>>,
    max_rows: usize,
) -> Result<(Bridge<GaussianMixture>, usize)> {
    let mut b = Bridge::new(&plan.protocol, g.clone()).ctx("analytic marginal")?;
    let mut used = 1;
    if let Some(s) = starts {
        let rows = s.len() / plan.d;
        let keep = rows.min(max_rows.max(1));
        used = keep;
        b = b
            .with_starts(s[..keep * plan.d].to_vec())
            .ctx("analytic marginal")?;
    }
    Ok((b, used))
}

/// Run `sample` with a config file.
pub fn cmd(config: &Path, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let mut timings = Timings::start();
    let src = Source::load(config)?;
    let plan = plan(&src, common)?;
    let out = out.unwrap_or_else(|| default_out(config));
    let dir = OutDir::create(&out, common.force)?;
    timings.lap("setup");
    if !common.quiet {
        for l in plan.describe() {
            eprintln!("{l}");
        }
    }
    // the shared estimator's time (a probe run), recorded beside the measured time
    let time_estimate = plan.estimate_seconds()?;
    timings.lap("estimate");
    let res = simulate(&plan, common)?;
    timings.lap("simulate");
    let summary = write_outputs(&plan, &res, &dir)?;
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

fn write_outputs(plan: &Plan, res: &Outcome, dir: &OutDir) -> Result<Summary> {
    let d = plan.d;
    let b = plan.particles;
    let o = &plan.config.output;
    data::write_npy(&dir.file("samples.npy"), &[b, d], &res.x1)?;
    if o.csv {
        data::write_points_csv(&dir.file("samples.csv"), d, &res.x1)?;
    }
    if let (StartLaw::Population(_), Some(z)) = (&plan.start, &res.starts) {
        data::write_npy(&dir.file("starts.npy"), &[b, d], z)?;
    }
    // energy
    let e = &res.energy;
    let mut et = Table::with_columns(["t", "power", "cumulative_energy"]);
    for ((t, p), c) in e.times.iter().zip(&e.power).zip(&e.cumulative) {
        et.push(vec![(*t).into(), (*p).into(), (*c).into()]);
    }
    et.write_csv(&dir.file("energy.csv"))?;
    // analytic references (mixture target)
    let analytic = match &plan.target {
        TargetLaw::Mixture(g) => {
            let max_rows = (200_000 / g.components()).max(1);
            Some(analytic_bridge(plan, g, &res.starts, max_rows)?)
        }
        TargetLaw::Samples { .. } => None,
    };
    // the mean of p*_t is affine in the start, so one bridge from the mean start gives x̄*_t
    let mean_bridge = match (&plan.target, &res.starts) {
        (TargetLaw::Mixture(g), Some(s)) => {
            // particle i starts at row i mod rows: the exact mean of the starts actually used
            let rows = s.len() / d;
            let mut used = vec![0.0; d];
            for i in 0..b {
                let r = i % rows;
                used.iter_mut()
                    .zip(&s[r * d..(r + 1) * d])
                    .for_each(|(a, v)| *a += v / b as f64);
            }
            Some(
                Bridge::new(&plan.protocol, g.clone())
                    .and_then(|br| br.with_start(&used))
                    .ctx("analytic mean")?,
            )
        }
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
    let mut checks = Vec::new();
    let dcheck = d.min(8);
    let mut marginal_charts = Vec::new();
    let mut rows_used = None;
    for Snapshot { t, x, .. } in &res.snapshots.taken {
        crate::outdir::check_cancel()?;
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
                    checks.push(mixture_check(*t, j, x, d, &cm, o.bins));
                    if j == 0 {
                        let v = column(x, d, 0);
                        let (mr, vr) = (cm.mean()[0], cm.covariance()[0]);
                        let (lo, hi) = (mr - 4.0 * vr.sqrt(), mr + 4.0 * vr.sqrt());
                        let (c, h) = histogram(&v, lo, hi, o.bins);
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
                    let n = v.len() as f64;
                    let (mean, var) = mean_var(&v);
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
    for c in &checks {
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
    // nearest target atom (file targets): terminal samples should sit on the target points
    let atom_distance = match &plan.target {
        TargetLaw::Samples { points, .. } => {
            let m = b.min(2000);
            let mut total = 0.0;
            for i in 0..m {
                let xi = &res.x1[i * d..(i + 1) * d];
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
                total += best.sqrt();
            }
            Some(total / m as f64)
        }
        _ => None,
    };
    // trajectories
    if let Some(tr) = &res.trajectories {
        let n = tr.states.first().map(|s| s.len() / d).unwrap_or(0);
        let flat: Vec<f64> = tr.states.iter().flatten().copied().collect();
        data::write_npy(
            &dir.file("trajectories.npy"),
            &[tr.times.len(), n, d],
            &flat,
        )?;
        data::write_npy(
            &dir.file("trajectory_times.npy"),
            &[tr.times.len()],
            &tr.times,
        )?;
        if o.csv {
            let mut cols = vec!["t".to_string(), "particle".to_string()];
            cols.extend((0..d).map(|j| format!("x{j}")));
            let mut t = Table::with_columns(cols);
            for (time, s) in tr.times.iter().zip(&tr.states) {
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
        energy_stderr: e.stderr(),
        energy_per_coord: e.per_coord.clone(),
        peak_power: e.peak_power(),
        terminal_mean: last.map(|r| r.mean.clone()),
        terminal_cov: last.and_then(|r| r.cov.clone()),
        max_abs_mean_z: if checks.is_empty() { None } else { Some(max_z) },
        max_l1_over_noise: if max_l1.is_nan() { None } else { Some(max_l1) },
        checks,
        analytic_start_rows: rows_used,
        mean_nearest_target_point_distance: atom_distance,
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
            let v = column(&res.x1, d, j);
            let (lo, hi) = {
                let mut s = v.clone();
                s.sort_by(f64::total_cmp);
                let q = |p: f64| s[((p * (s.len() - 1) as f64) as usize).min(s.len() - 1)];
                let (a, c) = (q(0.001), q(0.999));
                let pad = 0.1 * (c - a).max(1e-6);
                (a - pad, c + pad)
            };
            let (c, h) = histogram(&v, lo, hi, o.bins);
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
        if !marginal_charts.is_empty() {
            plot::save(dir.path(), "marginals", &marginal_charts, 2)?;
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
        if let Some(tr) = &res.trajectories {
            let n = tr.states.first().map(|s| s.len() / d).unwrap_or(0);
            let mut pc = Chart::new("paths of x0", "t", "x0");
            for p in 0..n.min(50) {
                let pts = tr
                    .times
                    .iter()
                    .zip(&tr.states)
                    .map(|(t, s)| (*t, s[p * d]))
                    .collect();
                pc = pc.with(Series::new("", pts, Mark::Line).color(p));
            }
            panels.push(pc);
        }
        plot::save(dir.path(), "paths", &panels, 2)?;
        if d >= 2 {
            let pts: Vec<(f64, f64)> = res
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
