//! `mfpid lqg [CONFIG]`: the LQG thermostatic benchmark of the mean-field spec (MF, IA0,
//! IA-target), solved by the matrix Riccati equation and linear moment ODEs of `mfpid-meanfield`,
//! optionally checked against a particle simulation.

use std::fmt;
use std::path::{Path, PathBuf};

use mfpid::meanfield::{Lqg, LqgConfig, LqgMethod, LqgSimulation};
use nalgebra::DMatrix;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::common::{human_num, Common};
use crate::config::{finite, Source};
use crate::cost::Cost;
use crate::data::{self, Cell, Table};
use crate::error::{LibContext, Result};
use crate::outdir::{self, OutDir, Timings};
use mfpid_report::plot::{self, Chart, Mark, Series};

/// A matrix written as one number (`x I`) or a list of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Mat {
    /// `x I`.
    Scalar(f64),
    /// Rows.
    Rows(Vec<Vec<f64>>),
}

impl<'de> Deserialize<'de> for Mat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Mat;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number (a multiple of the identity) or a list of rows of numbers")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Mat, E> {
                Ok(Mat::Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Mat, E> {
                Ok(Mat::Scalar(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Mat, E> {
                Ok(Mat::Scalar(v as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<Mat, A::Error> {
                let mut rows = Vec::new();
                while let Some(r) = s.next_element::<Vec<f64>>()? {
                    rows.push(r);
                }
                Ok(Mat::Rows(rows))
            }
        }
        d.deserialize_any(V)
    }
}

/// An `lqg` config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LqgFile {
    /// Free-form label.
    #[serde(default)]
    pub name: Option<String>,
    /// The problem.
    #[serde(default)]
    pub lqg: LqgSection,
    /// Optional particle check.
    #[serde(default)]
    pub check: CheckSection,
}

/// `[lqg]`: `dx = (-K x + u) dt + dW`, cost `|u|²/2 + (x - m̄)ᵀ Q (x - m̄)/2`, `x_1 ~ N(m_tar, Σ_tar)`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LqgSection {
    /// Target mean `m_tar` (length `d`; default `[2.0]`).
    #[serde(default = "default_m_tar")]
    pub m_tar: Vec<f64>,
    /// Base-drift matrix `K` (a number means `κ I`; default 0.6).
    #[serde(default = "default_kappa")]
    pub kappa: Mat,
    /// Running-cost stiffness `Q` (a number means `q I`, positive semi-definite; default 12).
    #[serde(default = "default_q")]
    pub q: Mat,
    /// Target standard deviation `σ_tar` (`Σ_tar = σ_tar² I`; default 0.5). Alternative to `cov_tar`.
    #[serde(default)]
    pub sigma_tar: Option<f64>,
    /// Target covariance `Σ_tar` (symmetric positive definite). Alternative to `sigma_tar`.
    #[serde(default)]
    pub cov_tar: Option<Mat>,
    /// Start point (default: the origin).
    #[serde(default)]
    pub x0: Option<Vec<f64>>,
    /// Time points of the trajectory table (default 201).
    #[serde(default = "default_points")]
    pub points: usize,
}

fn default_m_tar() -> Vec<f64> {
    vec![2.0]
}
fn default_kappa() -> Mat {
    Mat::Scalar(0.6)
}
fn default_q() -> Mat {
    Mat::Scalar(12.0)
}
fn default_points() -> usize {
    201
}

impl Default for LqgSection {
    fn default() -> Self {
        Self {
            m_tar: default_m_tar(),
            kappa: default_kappa(),
            q: default_q(),
            sigma_tar: None,
            cov_tar: None,
            x0: None,
            points: default_points(),
        }
    }
}

/// `[check]`: simulate particles under each method's feedback and compare energies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// Particles (0: no particle check; default 4000).
    #[serde(default = "default_check_particles")]
    pub particles: usize,
    /// Euler-Maruyama steps (default 1000).
    #[serde(default = "default_check_steps")]
    pub steps: usize,
}

fn default_check_particles() -> usize {
    4000
}
fn default_check_steps() -> usize {
    1000
}

impl Default for CheckSection {
    fn default() -> Self {
        Self {
            particles: default_check_particles(),
            steps: default_check_steps(),
        }
    }
}

fn matrix(src: &Source, field: &str, m: &Mat, d: usize) -> Result<Vec<f64>> {
    match m {
        Mat::Scalar(x) => {
            if !x.is_finite() {
                return Err(src
                    .error(field, format!("{x} is not a finite number"))
                    .into());
            }
            let mut v = vec![0.0; d * d];
            (0..d).for_each(|i| v[i * d + i] = *x);
            Ok(v)
        }
        Mat::Rows(rows) => {
            if rows.len() != d || rows.iter().any(|r| r.len() != d) {
                return Err(src
                    .error(
                        field,
                        format!(
                            "is not a {d} x {d} matrix (m_tar has d = {d}; dimension mismatch)"
                        ),
                    )
                    .into());
            }
            for (i, r) in rows.iter().enumerate() {
                finite(src, &format!("{field}[{i}]"), r)?;
            }
            Ok(rows.iter().flatten().copied().collect())
        }
    }
}

/// The largest rate an `lqg` problem may have, per unit time: `|K| + |Q|^(1/2)`, where `|M|` is
/// the smaller of the largest absolute row and column sums (a bound on `M`'s eigenvalues, exact for
/// diagonal matrices).
///
/// The horizon and the noise are 1, so a rate `r` means about `r` relaxation times within the
/// horizon (for large `Q` the feedback `S_t` tends to `Q^(1/2)`). The Riccati and moment ODEs are
/// then stiff with stiffness about `r`, and the explicit DP5 integrator needs about `r` steps per
/// solve: a rate of 1e4 solves in a fraction of a second at small `d`, 1e5 takes seconds, and the
/// rates of 1e5..1e20 a fuzzer wrote ran into the step budget (10^6 steps per ODE) for minutes.
/// Rescale time (and `Q`) so that the fastest rate is below this.
pub const MAX_RATE: f64 = 1e4;

/// The largest coordinate of `m_tar` and `x0` (in units of the noise, which is 1). Beyond about
/// 1e7 the integrator's step control fails (the unit-size covariance drowns in the rounding of
/// the mean terms at its relative tolerance 1e-12); 1e6 leaves a margin.
pub const MAX_MEAN: f64 = 1e6;

/// The entry of largest magnitude of a `d x d` row-major matrix written as `m`, as a TOML path
/// under `field` (`lqg.q` for a number, `lqg.q[i][j]` for rows).
fn largest_entry(field: &str, m: &Mat, v: &[f64], d: usize) -> String {
    match m {
        Mat::Scalar(_) => field.to_string(),
        Mat::Rows(_) => {
            let i = (0..v.len())
                .max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()))
                .unwrap_or(0);
            format!("{field}[{}][{}]", i / d, i % d)
        }
    }
}

/// Refuse rates and means outside the plausible ranges [`MAX_RATE`] and [`MAX_MEAN`], at the
/// field (and entry) that makes them large.
fn check_plausible(src: &Source, l: &LqgSection, k: &[f64], q: &[f64], d: usize) -> Result<()> {
    // min(largest absolute row sum, largest absolute column sum): an induced norm, so a bound on
    // the magnitude of every eigenvalue, exact for diagonal matrices (K = kappa I gives kappa at
    // any d, where the Frobenius norm would give kappa sqrt(d))
    let norm = |v: &[f64]| {
        let row = (0..d)
            .map(|i| (0..d).map(|j| v[i * d + j].abs()).sum::<f64>())
            .fold(0.0, f64::max);
        let col = (0..d)
            .map(|j| (0..d).map(|i| v[i * d + j].abs()).sum::<f64>())
            .fold(0.0, f64::max);
        row.min(col)
    };
    // three significant digits are enough to read a rate
    let sig3 = |x: f64| {
        if !(x > 0.0 && x.is_finite()) {
            return human_num(x);
        }
        // log10 of a positive finite f64 lies in [-324, 309]
        let p = 10f64.powi(x.log10().floor() as i32 - 2);
        human_num(if p > 0.0 { (x / p).round() * p } else { x })
    };
    let (nk, nq) = (norm(k), norm(q).sqrt());
    let rate = nk + nq;
    if rate.is_nan() || rate > MAX_RATE {
        let field = if nk >= nq {
            largest_entry("lqg.kappa", &l.kappa, k, d)
        } else {
            largest_entry("lqg.q", &l.q, q, d)
        };
        return Err(src
            .error(
                &field,
                format!(
                    "the rate |K| + |Q|^(1/2) = {} + {} per unit time is outside the plausible range 0 .. {max:e}: the horizon and the noise are 1, so the ODE solver would need about {} steps per solve; rescale time so that the fastest rate is below {max:e}",
                    sig3(nk),
                    sig3(nq),
                    sig3(rate),
                    max = MAX_RATE
                ),
            )
            .into());
    }
    let mean_fields = [("lqg.m_tar", Some(&l.m_tar)), ("lqg.x0", l.x0.as_ref())];
    for (field, v) in mean_fields {
        let Some(v) = v else { continue };
        if let Some(j) = v.iter().position(|x| x.is_nan() || x.abs() > MAX_MEAN) {
            return Err(src
                .error(
                    &format!("{field}[{j}]"),
                    format!(
                        "{} is outside the plausible range -{m:e} .. {m:e} (in units of the noise, which is 1: beyond about 1e7 the ODE solver's step control fails); rescale space",
                        human_num(v[j]),
                        m = MAX_MEAN
                    ),
                )
                .into());
        }
    }
    Ok(())
}

/// The checked problem.
pub struct Plan {
    file: LqgFile,
    config: LqgConfig,
    reference: bool,
    particles: usize,
    steps: usize,
    cost: Cost,
}

fn plan(src: Option<&Source>, common: &Common) -> Result<Plan> {
    let (file, reference) = match src {
        Some(s) => (s.parse::<LqgFile>()?, false),
        None => (
            LqgFile {
                name: Some("reference".into()),
                lqg: LqgSection::default(),
                check: CheckSection::default(),
            },
            true,
        ),
    };
    let empty = Source {
        path: PathBuf::from("<defaults>"),
        text: String::new(),
    };
    let src = src.unwrap_or(&empty);
    let l = &file.lqg;
    let d = l.m_tar.len();
    if d == 0 {
        return Err(src.error("lqg.m_tar", "must not be empty").into());
    }
    finite(src, "lqg.m_tar", &l.m_tar)?;
    let k = matrix(src, "lqg.kappa", &l.kappa, d)?;
    let q = matrix(src, "lqg.q", &l.q, d)?;
    let sig = match (&l.sigma_tar, &l.cov_tar) {
        (Some(_), Some(_)) => {
            return Err(src
                .error(
                    "lqg.cov_tar",
                    "give either `sigma_tar` or `cov_tar`, not both",
                )
                .into())
        }
        (Some(s), None) => {
            if !(*s > 0.0 && s.is_finite()) {
                return Err(src
                    .error(
                        "lqg.sigma_tar",
                        format!(
                            "standard deviation {} must be > 0",
                            crate::common::human_num(*s)
                        ),
                    )
                    .into());
            }
            matrix(src, "lqg.sigma_tar", &Mat::Scalar(s * s), d)?
        }
        (None, Some(c)) => matrix(src, "lqg.cov_tar", c, d)?,
        (None, None) => matrix(src, "lqg.sigma_tar", &Mat::Scalar(0.25), d)?,
    };
    let field_of = |what: &str| match what {
        "K" => "lqg.kappa",
        "Q" | "smallest eigenvalue of Q" => "lqg.q",
        "sigma_tar" | "smallest eigenvalue of sigma_tar" => {
            if l.cov_tar.is_some() {
                "lqg.cov_tar"
            } else {
                "lqg.sigma_tar"
            }
        }
        _ => "lqg",
    };
    let mut config = LqgConfig::new(
        DMatrix::from_row_slice(d, d, &k),
        DMatrix::from_row_slice(d, d, &q),
        l.m_tar.clone(),
        DMatrix::from_row_slice(d, d, &sig),
    )
    .map_err(|e| {
        let what = match &e {
            mfpid::meanfield::MeanFieldError::OutOfRange { what, .. } => *what,
            mfpid::meanfield::MeanFieldError::BadLength { what, .. } => *what,
            _ => "",
        };
        src.error(field_of(what), e.to_string())
    })?;
    if let Some(x0) = &l.x0 {
        if x0.len() != d {
            return Err(src
                .error(
                    "lqg.x0",
                    format!(
                        "has {} coordinates but m_tar has d = {d} (dimension mismatch)",
                        x0.len()
                    ),
                )
                .into());
        }
        finite(src, "lqg.x0", x0)?;
        config = config
            .with_start(x0.clone())
            .map_err(|e| src.error("lqg.x0", e.to_string()))?;
    }
    // after the finiteness and shape checks: sizes that would make the solve run for hours
    check_plausible(src, l, &k, &q, d)?;
    if l.points < 2 {
        return Err(src.error("lqg.points", "must be >= 2").into());
    }
    let (mut particles, mut steps) = (file.check.particles, file.check.steps);
    if particles > 0 && steps == 0 {
        return Err(src.error("check.steps", "must be >= 1").into());
    }
    if common.quick {
        particles = particles.min(1000);
        steps = steps.min(200);
    }
    let cost = estimate(d, file.lqg.points, particles, steps);
    cost.check(common)?;
    Ok(Plan {
        file,
        config,
        reference,
        particles,
        steps,
        cost,
    })
}

/// Memory of an `lqg` run (see `crate::cost`): the Riccati and moment solutions (`d x d` per stored
/// step), the trajectory table, and the particle check.
fn estimate(d: usize, points: usize, particles: usize, steps: usize) -> Cost {
    let (d, p, b, n) = (d as f64, points as f64, particles as f64, steps as f64);
    let mut c = Cost::new();
    c.add(
        "lqg.m_tar",
        d,
        "Riccati and moment solutions (d x d matrices, dense output)",
        64.0 * d * d,
        8.0,
    )
    .add(
        "lqg.points",
        p,
        "trajectory table of the 3 methods (points x (2d + 4))",
        3.0 * p * (2.0 * d + 4.0),
        8.0 + 24.0,
    )
    .add(
        "check.particles",
        b,
        "particle check (particles x d x 4)",
        4.0 * b * d,
        8.0,
    )
    .add(
        "check.steps",
        n,
        "particle check traces (steps x 4)",
        4.0 * n,
        8.0,
    );
    c
}

/// The largest dimension `validate` solves to time a problem; a larger one is timed on its leading
/// `PROBE_DIM` coordinates and extrapolated, so `validate` stays quick at any `d`.
pub const PROBE_DIM: usize = 16;

/// The problem restricted to its first `dp` coordinates: the leading blocks of `K`, `Q` and
/// `Σ_tar` (principal blocks of a positive (semi-)definite matrix keep the property), the first
/// `dp` coordinates of `m_tar` and `x0`.
fn leading_block(c: &LqgConfig, dp: usize) -> mfpid::meanfield::Result<LqgConfig> {
    let block = |m: &DMatrix<f64>| m.view((0, 0), (dp, dp)).into_owned();
    let mut b = LqgConfig::new(
        block(&c.k),
        block(&c.q),
        c.m_tar[..dp].to_vec(),
        block(&c.sigma_tar),
    )?
    .with_start(c.x0[..dp].to_vec())?;
    b.opts = c.opts;
    Ok(b)
}

/// Parse, check and plan an lqg config (nothing is solved).
pub fn check(src: &Source, common: &Common) -> Result<()> {
    plan(Some(src), common).map(|_| ())
}

/// `validate` for an lqg config.
pub fn validate(src: &Source, common: &Common) -> Result<Vec<String>> {
    let p = plan(Some(src), common)?;
    Ok(vec![
        format!("lqg: d = {}, methods MF, IA0, IA-target", p.config.dim()),
        format!(
            "  solve: matrix Riccati + linear moment ODEs (DP5, rtol 1e-12), {} trajectory points",
            p.file.lqg.points
        ),
        if p.particles > 0 {
            format!(
                "  check: {} particles x {} steps per method (about {} particle-steps)",
                p.particles,
                p.steps,
                crate::common::human_num(3.0 * p.particles as f64 * p.steps as f64)
            )
        } else {
            "  check: none".into()
        },
        {
            // the closed-form part is timed on one method of the problem's leading block of at
            // most PROBE_DIM coordinates (the whole problem when d is small): each method
            // integrates d + 2 ODEs whose right-hand sides multiply d x d matrices, so its time
            // grows as d^4. The particle check is not included.
            let d = p.config.dim();
            let dp = d.min(PROBE_DIM);
            let probe = leading_block(&p.config, dp).ctx("LQG probe")?;
            let t0 = std::time::Instant::now();
            Lqg::new(probe)
                .and_then(|l| l.solve(LqgMethod::ALL[0]).map(|_| ()))
                .ctx("LQG probe")?;
            let scale = (d as f64 / dp as f64).powi(4);
            format!(
                "  cost:  time about {} on this machine for the closed form (3 methods{}){}; {}",
                crate::common::human_seconds(3.0 * scale * t0.elapsed().as_secs_f64()),
                if dp < d {
                    format!(", extrapolated as d^4 from the leading {dp} coordinates")
                } else {
                    String::new()
                },
                if p.particles > 0 {
                    ", plus the particle check"
                } else {
                    ""
                },
                p.cost.describe_memory()
            )
        },
    ])
}

/// One method's entry in `summary.json`.
#[derive(Debug, Clone, Serialize)]
struct MethodSummary {
    /// `MF`, `IA0` or `IA-target`.
    method: &'static str,
    /// Closed-form `E(1)`.
    energy: f64,
    /// `s_0` of the Riccati solution.
    s0: Vec<f64>,
    /// Terminal covariance `Σ(1)`, row-major.
    sigma1: Vec<f64>,
    /// `max_t P(t)` on the plotting grid.
    peak_power: f64,
    /// Particle estimates (when `particles > 0`).
    simulation: Option<LqgSimulation>,
}

/// Run `lqg`.
pub fn cmd(config: Option<&Path>, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let mut timings = Timings::start();
    let src = match config {
        Some(p) => Some(Source::load(p)?),
        None => None,
    };
    let plan = plan(src.as_ref(), common)?;
    let out = out.unwrap_or_else(|| match config {
        Some(c) => crate::common::default_out(c),
        None => PathBuf::from("out").join("lqg"),
    });
    let dir = OutDir::create(&out, common.force)?;
    let lqg = Lqg::new(plan.config.clone()).ctx("LQG problem")?;
    let d = plan.config.dim();
    let seed = common.seed.unwrap_or(0);
    let mut table = Table::with_columns(
        [
            "method",
            "energy",
            "peak_power",
            "sigma1_00",
            "sim_energy",
            "sim_stderr",
            "sim_mean1_0",
        ]
        .into_iter()
        .map(String::from)
        .chain((0..d).map(|j| format!("s0_{j}"))),
    );
    let mut traj = Table::with_columns(
        ["method", "t", "power", "energy"]
            .into_iter()
            .map(String::from)
            .chain((0..d).map(|j| format!("m_{j}")))
            .chain((0..d).map(|j| format!("sigma_{j}{j}"))),
    );
    let (mut mean_c, mut power_c, mut energy_c) = (
        Chart::new("mean m(t), coordinate 0", "t", "m"),
        Chart::new("power P(t)", "t", "P"),
        Chart::new("cumulative energy E(t)", "t", "E"),
    );
    let mut results = Vec::new();
    timings.lap("setup");
    for (ci, method) in LqgMethod::ALL.iter().enumerate() {
        outdir::check_cancel()?;
        let sol = lqg
            .solve(*method)
            .ctx(format!("solving {}", method.label()))?;
        let n = plan.file.lqg.points;
        let (mut mp, mut pp, mut ep) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let t = i as f64 / (n - 1) as f64;
            let pt = sol.at(t).ctx("LQG trajectory")?;
            let mut row: Vec<Cell> = vec![
                method.label().into(),
                t.into(),
                pt.power.into(),
                pt.energy.into(),
            ];
            row.extend(pt.m.iter().map(|&v| Cell::Num(v)));
            row.extend((0..d).map(|j| Cell::Num(pt.sigma[j * d + j])));
            traj.push(row);
            mp.push((t, pt.m[0]));
            pp.push((t, pt.power));
            ep.push((t, pt.energy));
        }
        mean_c = mean_c.with(Series::new(method.label(), mp, Mark::Line).color(ci));
        power_c = power_c.with(Series::new(method.label(), pp, Mark::Line).color(ci));
        energy_c = energy_c.with(Series::new(method.label(), ep, Mark::Line).color(ci));
        let peak = sol.peak_power(1000).ctx("peak power")?;
        let sim = if plan.particles > 0 {
            Some(
                sol.simulate(plan.particles, plan.steps, seed)
                    .ctx(format!("simulating {}", method.label()))?,
            )
        } else {
            None
        };
        let mut row: Vec<Cell> = vec![
            method.label().into(),
            sol.energy1().into(),
            peak.into(),
            sol.sigma1()[0].into(),
            sim.as_ref().map(|s| s.energy).unwrap_or(f64::NAN).into(),
            sim.as_ref()
                .map(|s| s.energy_stderr)
                .unwrap_or(f64::NAN)
                .into(),
            sim.as_ref().map(|s| s.mean1[0]).unwrap_or(f64::NAN).into(),
        ];
        row.extend(sol.s0.iter().map(|&v| Cell::Num(v)));
        table.push(row);
        results.push(MethodSummary {
            method: method.label(),
            energy: sol.energy1(),
            s0: sol.s0.clone(),
            sigma1: sol.sigma1(),
            peak_power: peak,
            simulation: sim,
        });
    }
    timings.lap("solve");
    table.write_csv(&dir.file("table.csv"))?;
    data::write_json(&dir.file("table.json"), &table.to_json())?;
    traj.write_csv(&dir.file("trajectories.csv"))?;
    plot::save(dir.path(), "lqg", &[mean_c, power_c, energy_c], 3)?;
    // LqgMethod::ALL is [MF, IA0, IA-target]
    let energy_of = |i: usize| results.get(i).map(|r| r.energy).unwrap_or(f64::NAN);
    let (mf, ia0, iat) = (energy_of(0), energy_of(1), energy_of(2));
    let summary = serde_json::json!({
        "d": d,
        "methods": results,
        "saving_vs_ia0_pct": 100.0 * (ia0 - mf) / ia0,
        "saving_vs_ia_target_pct": 100.0 * (iat - mf) / iat,
        "spec_reference_energies": if plan.reference {
            Some(serde_json::json!({"MF": 7.60372, "IA0": 10.46880, "IA-target": 10.81088}))
        } else { None },
    });
    data::write_json(&dir.file("summary.json"), &summary)?;
    timings.lap("write");
    outdir::write_run_json(
        &dir,
        serde_json::json!({
            "command": "lqg",
            "config_file": config.map(|c| c.display().to_string()),
            "config": plan.file,
            "seed": seed,
            "memory_estimate_bytes": plan.cost.bytes_u64(),
        }),
        common.quick,
        &timings,
    )?;
    let final_dir = dir.commit()?;
    if !common.quiet {
        println!("method      E(1)        saving of MF");
        for r in &results {
            let e = r.energy;
            println!(
                "{:<10}  {:<10.5}  {:.1}%",
                r.method,
                e,
                100.0 * (e - mf) / e
            );
        }
        if plan.reference {
            println!("(spec, adaptive integrator at 1e-11: MF 7.60372, IA0 10.46880, IA-target 10.81088)");
        }
        println!("wrote {}", final_dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> std::result::Result<(), String> {
        let src = Source::from_str("l.toml", text);
        plan(Some(&src), &Common::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn fuzz_timeouts_are_refused_by_the_plan_at_their_field() {
        // the two inputs the config_lqg fuzz target timed out on (a probe solve of minutes)
        let e = check(include_str!(
            "../fuzz/regressions/config_lqg-timeout-huge-kappa.toml"
        ))
        .unwrap_err();
        assert!(
            e.contains("lqg.kappa[0][1]") && e.contains("plausible range"),
            "{e}"
        );
        let e = check(include_str!(
            "../fuzz/regressions/config_lqg-timeout-huge-q.toml"
        ))
        .unwrap_err();
        assert!(e.contains("lqg.q:") && e.contains("plausible range"), "{e}");
        // the edges: the largest plausible rate and mean pass, just beyond them does not
        assert!(check("[lqg]\nm_tar = [1.0]\nkappa = 0.0\nq = 1e8\n").is_ok());
        assert!(check("[lqg]\nm_tar = [1.0]\nkappa = 0.0\nq = 1.0001e8\n").is_err());
        assert!(check("[lqg]\nm_tar = [1e6]\n").is_ok());
        let e = check("[lqg]\nm_tar = [1.0, 2.0]\nx0 = [0.0, -2e6]\n").unwrap_err();
        assert!(e.contains("lqg.x0[1]"), "{e}");
    }

    #[test]
    fn validate_times_a_large_problem_on_its_leading_block() {
        // d = 40: the probe solves the leading 16 coordinates and extrapolates as d^4
        let m = vec!["1.0"; 40].join(", ");
        let src = Source::from_str("l.toml", &format!("[lqg]\nm_tar = [{m}]\n"));
        let lines = validate(&src, &Common::default()).unwrap();
        let cost = lines.last().unwrap();
        assert!(
            cost.contains("extrapolated as d^4 from the leading 16 coordinates"),
            "{cost}"
        );
    }
}
