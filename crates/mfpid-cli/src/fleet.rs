//! `mfpid fleet CONFIG`: a demand-response run of `mfpid-energy`. A fleet of buildings (agents)
//! goes from the post-curtailment law `p_in` to the recovery law `p_tar`; the methods (mean-field
//! MF, independent IA(0) and IA(m̄), or user centres) share the agents and the Brownian noise, so
//! their energies and savings are paired comparisons. With `[physical]` the laws are stated in °C
//! and the results are also reported in kW and kWh through the RC thermal layer.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use mfpid::bridge::{Covariance, Target};
use mfpid::energy::{
    CelsiusLaw, Centres, EnergyError, Experiment, Fleet, HvacObserver, Law, Method, MethodRun,
    RcBuilding, Recording, RunOptions, Saving, Settings, ThermalLayer,
};
use mfpid::sde::observe::{Observer, StepView};
use serde::{Deserialize, Serialize};

use crate::config::{finite, Row, Source};
use crate::data::{self, Cell, Table};
use crate::error::{AppError, LibContext, Result};
use crate::mixture::MixtureFields;
use crate::outdir::{self, OutDir, Timings};
use crate::sample::{default_out, human_bytes, human_seconds};
use crate::Common;
use mfpid_report::plot::{self, xy, Bars, Chart, Mark, Series};

/// A `fleet` config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Free-form label.
    #[serde(default)]
    pub name: Option<String>,
    /// Simulation settings.
    #[serde(default)]
    pub run: FleetRun,
    /// The geometric protocol shared by every method.
    #[serde(default)]
    pub protocol: FleetProtocol,
    /// The two laws.
    pub fleet: FleetLaws,
    /// Which methods to compare.
    #[serde(default)]
    pub methods: MethodsSection,
    /// Optional physical units (RC thermal model); the laws are then in °C.
    #[serde(default)]
    pub physical: Option<Physical>,
}

/// `[run]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetRun {
    /// Number of agents (buildings) `B` (default 4000).
    #[serde(default = "default_agents")]
    pub agents: usize,
    /// Euler-Maruyama steps on `[0, 1]` (default 2500).
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Time cut-off of the drift (default 1e-3).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Seed of the agents' draw and of the noise (`--seed` overrides; default 0).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_agents() -> usize {
    4000
}
fn default_steps() -> usize {
    2500
}
fn default_eps() -> f64 {
    1e-3
}

impl Default for FleetRun {
    fn default() -> Self {
        Self {
            agents: default_agents(),
            steps: default_steps(),
            eps: default_eps(),
            seed: None,
        }
    }
}

/// `[protocol]`: `beta_i = beta0 gamma^i` on `pieces` equal pieces (the paper: 12, 0.65, 8).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetProtocol {
    /// `beta_0` (default 12).
    #[serde(default = "default_beta0")]
    pub beta0: f64,
    /// `gamma` (default 0.65).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Pieces `M` (default 8).
    #[serde(default = "default_pieces")]
    pub pieces: usize,
}

fn default_beta0() -> f64 {
    12.0
}
fn default_gamma() -> f64 {
    0.65
}
fn default_pieces() -> usize {
    8
}

impl Default for FleetProtocol {
    fn default() -> Self {
        Self {
            beta0: default_beta0(),
            gamma: default_gamma(),
            pieces: default_pieces(),
        }
    }
}

/// `[fleet]`: `[fleet.p_in]` and `[fleet.p_tar]`, Gaussian mixtures whose components are
/// sub-populations (every weight > 0).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetLaws {
    /// The post-event law `p_in`.
    pub p_in: MixtureFields,
    /// The recovery law `p_tar`.
    pub p_tar: MixtureFields,
}

/// `[methods]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MethodsSection {
    /// Built-in methods to run, from `MF`, `IA0`, `IAm` (default all three).
    #[serde(default = "default_compare")]
    pub compare: Vec<BuiltIn>,
    /// Savings are reported against this method (default `IA0`; a built-in or custom name).
    #[serde(default = "default_baseline")]
    pub baseline: String,
    /// Your own centre schedules.
    #[serde(default)]
    pub custom: Vec<CustomMethod>,
}

fn default_compare() -> Vec<BuiltIn> {
    vec![BuiltIn::MF, BuiltIn::IA0, BuiltIn::IAm]
}
fn default_baseline() -> String {
    "IA0".into()
}

impl Default for MethodsSection {
    fn default() -> Self {
        Self {
            compare: default_compare(),
            baseline: default_baseline(),
            custom: Vec::new(),
        }
    }
}

/// The built-in methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum BuiltIn {
    /// Mean field: `nu_t = (1 - t) m̄_in + t m̄_tar` at the piece midpoints.
    MF,
    /// Independent agents, `nu = 0`.
    IA0,
    /// Independent agents, `nu = m̄_tar`.
    IAm,
}

/// `[[methods.custom]]`: a named centre schedule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMethod {
    /// Name used in tables.
    pub name: String,
    /// One centre for every piece (length `d`).
    #[serde(default)]
    pub centre: Option<Vec<f64>>,
    /// One centre per piece (`M` rows of `d` numbers).
    #[serde(default)]
    pub centres: Option<Vec<Row>>,
}

/// `[physical]`: the RC thermal layer. The laws' `means` and `std` are then in °C (only `std` is
/// accepted for the spread), and the results include kW, kWh and kW²·h.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Physical {
    /// Zone capacitances `C_j` (kWh/°C), one per zone.
    pub capacitance_kwh_per_c: Vec<f64>,
    /// Zone resistances to outdoors `R_j` (°C/kW), one per zone.
    pub resistance_c_per_kw: Vec<f64>,
    /// Conductance between neighbouring zones (kW/°C, >= 0; default 0).
    #[serde(default)]
    pub coupling_kw_per_c: f64,
    /// Outdoor temperature (°C).
    pub outdoor_c: f64,
    /// Reference temperature mapped to `x = 0` (°C).
    pub reference_c: f64,
    /// Recovery horizon mapped to `t ∈ [0, 1]` (minutes).
    pub horizon_min: f64,
    /// Disturbance intensity (°C/√h): sets the temperature scale `σ_T = s sqrt(T_h)`.
    pub noise_c_per_sqrt_h: f64,
}

/// The checked run.
pub struct Plan {
    config: FleetConfig,
    fleet: Fleet,
    settings: Settings,
    methods: Vec<Method>,
    baseline: String,
    layer: Option<ThermalLayer>,
}

fn map_fleet_error(src: &Source, e: EnergyError) -> AppError {
    let law_path = |law: &str| format!("fleet.{law}");
    match e {
        EnergyError::ZeroWeight { law, component } => src
            .error(
                &format!("{}.weights[{component}]", law_path(law)),
                format!("component {component} has weight 0: every sub-population needs a weight > 0"),
            )
            .into(),
        EnergyError::NotPositiveDefinite {
            law,
            component,
            reason,
        } => src
            .error(
                &law_path(law),
                format!("covariance of component {component} is not symmetric positive definite: {reason}"),
            )
            .into(),
        EnergyError::DimensionMismatch { d_in, d_tar } => src
            .error(
                "fleet.p_tar.means",
                format!("p_tar has d = {d_tar} zones but p_in has d = {d_in} (dimension mismatch)"),
            )
            .into(),
        EnergyError::InvalidLaw { law, source } => {
            src.error(&law_path(law), source.to_string()).into()
        }
        other => src.error("fleet", other.to_string()).into(),
    }
}

fn physical_law(
    src: &Source,
    prefix: &str,
    m: &MixtureFields,
    layer: &ThermalLayer,
) -> Result<Law> {
    for (name, set) in [
        ("variance", m.variance.is_some()),
        ("diag", m.diag.is_some()),
        ("cov", m.cov.is_some()),
    ] {
        if set {
            return Err(src
                .error(
                    &format!("{prefix}.{name}"),
                    "with [physical] give the spread of each sub-population as `std` in °C",
                )
                .into());
        }
    }
    // the mixture checks (lengths, positivity, dimensions) on the °C values
    let g = m.build(src, prefix)?;
    if g.dim() != layer.zones() {
        return Err(src
            .error(
                &format!("{prefix}.means"),
                format!(
                    "rows have {} zones but [physical] describes {} zones (dimension mismatch)",
                    g.dim(),
                    layer.zones()
                ),
            )
            .into());
    }
    let std_c = m.std.clone().unwrap_or_default();
    let law = CelsiusLaw {
        weights: m.weights.clone().unwrap_or_else(|| vec![1.0; std_c.len()]),
        means_c: g.means().to_vec(),
        std_c,
    };
    Ok(layer.law(&law))
}

fn plain_law(src: &Source, prefix: &str, m: &MixtureFields) -> Result<Law> {
    let g = m.build(src, prefix)?;
    Ok(Law {
        d: g.dim(),
        weights: m
            .weights
            .clone()
            .unwrap_or_else(|| vec![1.0; g.components()]),
        means: g.means().to_vec(),
        covariance: g.covariance_spec().clone(),
    })
}

fn plan(src: &Source, common: &Common) -> Result<Plan> {
    let config: FleetConfig = src.parse()?;
    let layer = match &config.physical {
        Some(p) => {
            let d = p.capacitance_kwh_per_c.len();
            finite(
                src,
                "physical.capacitance_kwh_per_c",
                &p.capacitance_kwh_per_c,
            )?;
            finite(src, "physical.resistance_c_per_kw", &p.resistance_c_per_kw)?;
            if p.resistance_c_per_kw.len() != d {
                return Err(src
                    .error(
                        "physical.resistance_c_per_kw",
                        format!(
                            "{} values but capacitance_kwh_per_c has {d} (one per zone)",
                            p.resistance_c_per_kw.len()
                        ),
                    )
                    .into());
            }
            let l = ThermalLayer::new(
                RcBuilding {
                    capacitance_kwh_per_c: p.capacitance_kwh_per_c.clone(),
                    resistance_c_per_kw: p.resistance_c_per_kw.clone(),
                    coupling_kw_per_c: p.coupling_kw_per_c,
                },
                p.outdoor_c,
                p.reference_c,
                p.horizon_min,
                p.noise_c_per_sqrt_h,
            )
            .map_err(|e| {
                let field = match &e {
                    EnergyError::Invalid { field, .. } => format!("physical.{field}"),
                    _ => "physical".into(),
                };
                AppError::from(src.error(&field, e.to_string()))
            })?;
            Some(l)
        }
        None => None,
    };
    let (p_in, p_tar) = match &layer {
        Some(l) => (
            physical_law(src, "fleet.p_in", &config.fleet.p_in, l)?,
            physical_law(src, "fleet.p_tar", &config.fleet.p_tar, l)?,
        ),
        None => (
            plain_law(src, "fleet.p_in", &config.fleet.p_in)?,
            plain_law(src, "fleet.p_tar", &config.fleet.p_tar)?,
        ),
    };
    let fleet = Fleet::new(p_in, p_tar).map_err(|e| map_fleet_error(src, e))?;
    let d = fleet.dim();
    let r = &config.run;
    if r.agents < 2 {
        return Err(src
            .error(
                "run.agents",
                "must be >= 2 (energies come with standard errors over agents)",
            )
            .into());
    }
    if !(r.eps > 0.0 && r.eps < 0.5) {
        return Err(src
            .error("run.eps", format!("{} must be in (0, 0.5)", r.eps))
            .into());
    }
    let pr = &config.protocol;
    if pr.pieces == 0 {
        return Err(src.error("protocol.pieces", "must be >= 1").into());
    }
    for (f, v) in [("protocol.beta0", pr.beta0), ("protocol.gamma", pr.gamma)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(src.error(f, format!("{v} must be finite and >= 0")).into());
        }
    }
    if r.steps < pr.pieces {
        return Err(src
            .error(
                "run.steps",
                format!(
                    "{} steps cannot cover the protocol's {} pieces (at least one step per piece)",
                    r.steps, pr.pieces
                ),
            )
            .into());
    }
    let (mut agents, mut steps) = (r.agents, r.steps);
    if common.quick {
        agents = agents.min(1000);
        steps = steps.min(400).max(pr.pieces);
    }
    let settings = Settings {
        agents,
        n_steps: steps,
        eps: r.eps,
        beta_0: pr.beta0,
        gamma: pr.gamma,
        pieces: pr.pieces,
        seed: common.seed.or(r.seed).unwrap_or(0),
        threads: common.threads,
    };
    let mut methods = Vec::new();
    for (i, b) in config.methods.compare.iter().enumerate() {
        let m = match b {
            BuiltIn::MF => Method::mean_field(),
            BuiltIn::IA0 => Method::independent_zero(),
            BuiltIn::IAm => Method::independent_target(),
        };
        if methods.iter().any(|x: &Method| x.name == m.name) {
            return Err(src
                .error(
                    &format!("methods.compare[{i}]"),
                    format!("{} is listed twice", m.name),
                )
                .into());
        }
        methods.push(m);
    }
    let m_pieces = pr.pieces;
    for (i, c) in config.methods.custom.iter().enumerate() {
        let p = format!("methods.custom[{i}]");
        if methods.iter().any(|x| x.name == c.name) {
            return Err(src
                .error(
                    &format!("{p}.name"),
                    format!("a method called {:?} already exists", c.name),
                )
                .into());
        }
        let nu = match (&c.centre, &c.centres) {
            (Some(z), None) => {
                if z.len() != d {
                    return Err(src
                        .error(
                            &format!("{p}.centre"),
                            format!("has {} coordinates but the fleet has d = {d} zones (dimension mismatch)", z.len()),
                        )
                        .into());
                }
                finite(src, &format!("{p}.centre"), z)?;
                z.iter().copied().cycle().take(m_pieces * d).collect()
            }
            (None, Some(rows)) => {
                if rows.len() != m_pieces {
                    return Err(src
                        .error(
                            &format!("{p}.centres"),
                            format!(
                                "{} rows for {m_pieces} protocol pieces (one centre per piece)",
                                rows.len()
                            ),
                        )
                        .into());
                }
                let mut flat = Vec::with_capacity(m_pieces * d);
                for (k, r) in rows.iter().enumerate() {
                    let f = format!("{p}.centres[{k}]");
                    if r.0.len() != d {
                        return Err(src
                            .error(
                                &f,
                                format!("has {} coordinates but the fleet has d = {d} zones (dimension mismatch)", r.0.len()),
                            )
                            .into());
                    }
                    finite(src, &f, &r.0)?;
                    flat.extend_from_slice(&r.0);
                }
                flat
            }
            _ => {
                return Err(src
                    .error(
                        &p,
                        "give exactly one of `centre` (all pieces) or `centres` (one per piece)",
                    )
                    .into())
            }
        };
        methods.push(Method::new(c.name.clone(), Centres::Fixed(nu)));
    }
    if methods.is_empty() {
        return Err(src
            .error(
                "methods",
                "no method to run: list built-ins in `compare` or add [[methods.custom]]",
            )
            .into());
    }
    let baseline = config.methods.baseline.clone();
    if !methods.iter().any(|m| m.name == baseline) {
        let names: Vec<String> = methods.iter().map(|m| m.name.clone()).collect();
        return Err(src
            .error(
                "methods.baseline",
                format!(
                    "{baseline:?} is not among the methods run ({})",
                    names.join(", ")
                ),
            )
            .into());
    }
    Ok(Plan {
        config,
        fleet,
        settings,
        methods,
        baseline,
        layer,
    })
}

/// `validate` for a fleet config.
pub fn validate(src: &Source, common: &Common) -> Result<Vec<String>> {
    let p = plan(src, common)?;
    let s = &p.settings;
    let names: Vec<&str> = p.methods.iter().map(|m| m.name.as_str()).collect();
    // probe: one method on a small fleet and grid, extrapolated
    let probe = Settings {
        agents: s.agents.min(512),
        n_steps: s.n_steps.min(64).max(s.pieces),
        ..s.clone()
    };
    let t0 = std::time::Instant::now();
    let exp = Experiment::new(p.fleet.clone(), probe.clone()).ctx("probe fleet")?;
    exp.run(&p.methods[0], &Recording::default(), &mut [])
        .ctx("probe run")?;
    let per = t0.elapsed().as_secs_f64() / (probe.agents * probe.n_steps) as f64;
    let secs = per * (s.agents * s.n_steps * p.methods.len()) as f64;
    let d = p.fleet.dim();
    Ok(vec![
        format!(
            "fleet: d = {d} zones, p_in with {} sub-populations, p_tar with {}{}",
            p.fleet.weights_in().len(),
            p.fleet.weights_tar().len(),
            if p.layer.is_some() {
                ", physical units (°C, kW)"
            } else {
                ""
            }
        ),
        format!(
            "  protocol: beta_i = {} * {}^i on {} pieces",
            s.beta_0, s.gamma, s.pieces
        ),
        format!(
            "  methods:  {} (savings against {})",
            names.join(", "),
            p.baseline
        ),
        format!(
            "  run:      {} agents x {} steps per method, eps = {}, seed {}",
            s.agents, s.n_steps, s.eps, s.seed
        ),
        format!(
            "  cost:     about {} on this machine (from a probe run), memory about {}",
            human_seconds(secs),
            human_bytes(s.agents * d * 8 * 8 + s.agents * 8 * p.methods.len())
        ),
    ])
}

/// Progress of one method's run (the energy crate owns the loop, so Ctrl-C is honoured between
/// methods; a second Ctrl-C quits at once).
struct ProgressObs<'a> {
    bar: &'a ProgressBar,
    offset: f64,
    share: f64,
}

impl Observer for ProgressObs<'_> {
    fn observe(&mut self, v: &StepView<'_>) {
        self.bar
            .set_position(((self.offset + self.share * v.t) * 1000.0) as u64);
    }
}

/// Run `fleet`.
pub fn cmd(config: &Path, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let mut timings = Timings::start();
    let src = Source::load(config)?;
    let plan = plan(&src, common)?;
    let out = out.unwrap_or_else(|| default_out(config));
    let dir = OutDir::create(&out, common.force)?;
    if !common.quiet {
        for l in validate_lines(&plan) {
            eprintln!("{l}");
        }
    }
    let exp = Experiment::new(plan.fleet.clone(), plan.settings.clone()).ctx("fleet")?;
    timings.lap("setup");
    let rec = Recording {
        mean_every: (plan.settings.n_steps / 100).max(1),
        subpop_power: true,
        keep_final: false,
    };
    let bar = outdir::progress(common.quiet, "fleet");
    let nm = plan.methods.len() as f64;
    let mut runs = Vec::new();
    let mut hvac = Vec::new();
    for (i, m) in plan.methods.iter().enumerate() {
        outdir::check_cancel()?;
        bar.set_message(m.name.clone());
        let mut prog = ProgressObs {
            bar: &bar,
            offset: i as f64 / nm,
            share: 1.0 / nm,
        };
        // Ctrl-C stops the run at its next time step (the runner reads the token once per step)
        let opts = RunOptions::from(rec).with_cancel(outdir::cancel_token());
        let run_one = |extra: &mut [&mut dyn Observer]| match exp.run(m, &opts, extra) {
            Err(EnergyError::Cancelled) => Err(AppError::Interrupted),
            r => r.ctx(format!("method {}", m.name)),
        };
        let run = match &plan.layer {
            Some(l) => {
                let mut h = HvacObserver::new(l);
                let r = run_one(&mut [&mut prog, &mut h])?;
                hvac.push(h);
                r
            }
            None => run_one(&mut [&mut prog])?,
        };
        runs.push(run);
    }
    outdir::check_cancel()?;
    bar.finish_and_clear();
    timings.lap("simulate");
    let summary = write_outputs(&plan, &runs, &hvac, &dir)?;
    timings.lap("write");
    outdir::write_run_json(
        &dir,
        serde_json::json!({
            "command": "fleet",
            "config_file": config.display().to_string(),
            "config": plan.config,
            "settings": plan.settings,
            "seed": plan.settings.seed,
        }),
        common.quick,
        &timings,
    )?;
    let final_dir = dir.commit()?;
    if !common.quiet {
        println!("method   E(1)          saving vs {}", plan.baseline);
        for r in summary["methods"].as_array().into_iter().flatten() {
            println!(
                "{:<8} {:>9.4} ± {:<7.4} {}",
                r["method"].as_str().unwrap_or(""),
                r["energy"].as_f64().unwrap_or(f64::NAN),
                r["stderr"].as_f64().unwrap_or(f64::NAN),
                match (r["saving_pct"].as_f64(), r["saving_stderr_pct"].as_f64()) {
                    (Some(s), Some(e)) => format!("{s:.2}% ± {e:.2}"),
                    _ => "-".into(),
                }
            );
        }
        println!("wrote {}", final_dir.display());
    }
    Ok(())
}

fn validate_lines(p: &Plan) -> Vec<String> {
    let s = &p.settings;
    vec![format!(
        "fleet: d = {} zones, {} agents x {} steps, methods {}",
        p.fleet.dim(),
        s.agents,
        s.n_steps,
        p.methods
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )]
}

fn write_outputs(
    plan: &Plan,
    runs: &[MethodRun],
    hvac: &[HvacObserver],
    dir: &OutDir,
) -> Result<serde_json::Value> {
    let d = plan.fleet.dim();
    let base = runs
        .iter()
        .find(|r| r.method == plan.baseline)
        .ok_or_else(|| AppError::Other(format!("baseline {} did not run", plan.baseline)))?;
    let mut cols: Vec<String> = [
        "method",
        "energy",
        "stderr",
        "energy_per_zone_mean",
        "peak_power",
        "saving_pct",
        "saving_stderr_pct",
        "terminal_max_weight_error",
        "terminal_max_mean_error",
        "wall_s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if plan.layer.is_some() {
        cols.extend(
            [
                "effort_kw2h",
                "control_kwh",
                "cooling_kwh",
                "heating_kwh",
                "net_kwh",
                "peak_cooling_kw",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
    }
    let mut table = Table::with_columns(cols);
    let mut json_methods = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let saving = if r.method == plan.baseline {
            None
        } else {
            Some(Saving::of(r, base).ctx("saving")?)
        };
        let mut row: Vec<Cell> = vec![
            r.method.clone().into(),
            r.energy.into(),
            r.stderr.into(),
            (r.energy / d as f64).into(),
            r.peak_power.into(),
            saving.map(|s| s.pct).unwrap_or(0.0).into(),
            saving.map(|s| s.stderr_pct).unwrap_or(0.0).into(),
            r.terminal.max_weight_error().into(),
            r.terminal.max_mean_error().into(),
            r.wall_s.into(),
        ];
        let mut phys = serde_json::Value::Null;
        if let (Some(l), Some(h)) = (&plan.layer, hvac.get(i)) {
            let effort = l.effort_kw2h(&r.energy_per_zone);
            row.extend([
                Cell::Num(effort),
                Cell::Num(h.control_kwh),
                Cell::Num(h.cooling_kwh),
                Cell::Num(h.heating_kwh),
                Cell::Num(h.net_kwh),
                Cell::Num(h.peak_cooling_kw()),
            ]);
            phys = serde_json::json!({
                "effort_kw2h": effort,
                "control_kwh": h.control_kwh,
                "cooling_kwh": h.cooling_kwh,
                "heating_kwh": h.heating_kwh,
                "net_kwh": h.net_kwh,
                "peak_cooling_kw": h.peak_cooling_kw(),
            });
        }
        table.push(row);
        json_methods.push(serde_json::json!({
            "method": r.method,
            "energy": r.energy,
            "stderr": r.stderr,
            "energy_per_zone": r.energy_per_zone,
            "peak_power": r.peak_power,
            "saving_pct": saving.map(|s| s.pct),
            "saving_stderr_pct": saving.map(|s| s.stderr_pct),
            "centres": r.centres,
            "subpopulations": r.subpopulations,
            "terminal": r.terminal,
            "physical": phys,
            "wall_s": r.wall_s,
        }));
    }
    table.write_csv(&dir.file("table.csv"))?;
    data::write_json(&dir.file("table.json"), &table.to_json())?;
    // per zone
    let mut pz = Table::with_columns(["method", "zone", "energy"]);
    for r in runs {
        for (j, e) in r.energy_per_zone.iter().enumerate() {
            pz.push(vec![r.method.clone().into(), j.into(), (*e).into()]);
        }
    }
    pz.write_csv(&dir.file("per_zone.csv"))?;
    // sub-populations
    let mut sp = Table::with_columns([
        "method",
        "component",
        "agents",
        "energy",
        "stderr",
        "share_pct",
    ]);
    for r in runs {
        for s in &r.subpopulations {
            sp.push(vec![
                r.method.clone().into(),
                s.component.into(),
                s.agents.into(),
                s.energy.into(),
                s.stderr.into(),
                s.share_pct.into(),
            ]);
        }
    }
    sp.write_csv(&dir.file("subpopulations.csv"))?;
    // power traces
    let mut pw = Table::with_columns(
        std::iter::once("t".to_string()).chain(runs.iter().map(|r| format!("power_{}", r.method))),
    );
    if let Some(first) = runs.first() {
        for (n, t) in first.times.iter().enumerate() {
            let mut row: Vec<Cell> = vec![(*t).into()];
            row.extend(
                runs.iter()
                    .map(|r| Cell::Num(r.power.get(n).copied().unwrap_or(f64::NAN))),
            );
            pw.push(row);
        }
    }
    pw.write_csv(&dir.file("power.csv"))?;
    // fleet mean paths
    let mut mp = Table::with_columns(
        ["method", "t"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..d).map(|j| format!("mean_x{j}"))),
    );
    for r in runs {
        for (t, m) in &r.mean_path {
            let mut row: Vec<Cell> = vec![r.method.clone().into(), (*t).into()];
            row.extend(m.iter().map(|&v| Cell::Num(v)));
            mp.push(row);
        }
    }
    mp.write_csv(&dir.file("mean_path.csv"))?;
    // terminal law per component
    let mut tl = Table::with_columns(
        [
            "method",
            "component",
            "weight",
            "weight_stderr",
            "target_weight",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..d).map(|j| format!("mean_x{j}")))
        .chain((0..d).map(|j| format!("target_mean_x{j}"))),
    );
    for r in runs {
        let t = &r.terminal;
        for k in 0..t.weights.len() {
            let mut row: Vec<Cell> = vec![
                r.method.clone().into(),
                k.into(),
                t.weights[k].into(),
                t.weight_stderr[k].into(),
                t.target_weights[k].into(),
            ];
            row.extend(t.means[k * d..(k + 1) * d].iter().map(|&v| Cell::Num(v)));
            row.extend(
                t.target_means[k * d..(k + 1) * d]
                    .iter()
                    .map(|&v| Cell::Num(v)),
            );
            tl.push(row);
        }
    }
    tl.write_csv(&dir.file("terminal.csv"))?;
    if plan.layer.is_some() {
        let mut ht = Table::with_columns(std::iter::once("minutes".to_string()).chain(
            runs.iter().flat_map(|r| {
                [
                    format!("net_kw_{}", r.method),
                    format!("cooling_kw_{}", r.method),
                    format!("mean_temp_c_{}", r.method),
                ]
            }),
        ));
        if let Some(h0) = hvac.first() {
            for (n, mins) in h0.minutes.iter().enumerate() {
                let mut row: Vec<Cell> = vec![(*mins).into()];
                for h in hvac {
                    row.push(h.net_kw.get(n).copied().unwrap_or(f64::NAN).into());
                    row.push(h.cooling_kw.get(n).copied().unwrap_or(f64::NAN).into());
                    row.push(h.mean_temp_c.get(n).copied().unwrap_or(f64::NAN).into());
                }
                ht.push(row);
            }
        }
        ht.write_csv(&dir.file("hvac.csv"))?;
        let mut kw = Chart::new(
            "cooling power per building",
            "minutes after the event",
            "kW",
        );
        let mut tc = Chart::new("fleet mean temperature", "minutes after the event", "°C");
        for (i, (r, h)) in runs.iter().zip(hvac).enumerate() {
            kw = kw.with(
                Series::new(r.method.clone(), xy(&h.minutes, &h.cooling_kw), Mark::Line).color(i),
            );
            tc = tc.with(
                Series::new(r.method.clone(), xy(&h.minutes, &h.mean_temp_c), Mark::Line).color(i),
            );
        }
        plot::save(dir.path(), "hvac", &[kw, tc], 2)?;
    }
    // figures
    let mut power_c = Chart::new("fleet power E|u|²", "t", "power");
    let mut cum_c = Chart::new("cumulative energy", "t", "E(t)");
    let mut mean_c = Chart::new("zone-averaged fleet mean", "t", "mean x");
    for (i, r) in runs.iter().enumerate() {
        power_c = power_c.with(
            Series::new(
                r.method.clone(),
                r.times
                    .iter()
                    .copied()
                    .zip(r.power.iter().copied())
                    .collect(),
                Mark::Line,
            )
            .color(i),
        );
        let mut acc = 0.0;
        let mut pts = vec![(0.0, 0.0)];
        for n in 0..r.power.len() {
            let h = r.times.get(n + 1).copied().unwrap_or(1.0) - r.times[n];
            acc += h * r.power[n];
            pts.push((r.times.get(n + 1).copied().unwrap_or(1.0), acc));
        }
        cum_c = cum_c.with(Series::new(r.method.clone(), pts, Mark::Line).color(i));
        mean_c = mean_c.with(
            Series::new(
                r.method.clone(),
                r.mean_path
                    .iter()
                    .map(|(t, m)| (*t, m.iter().sum::<f64>() / d as f64))
                    .collect(),
                Mark::Line,
            )
            .color(i),
        );
    }
    let (mi, mt) = (plan.fleet.mean_in(), plan.fleet.mean_tar());
    let (a, b) = (
        mi.iter().sum::<f64>() / d as f64,
        mt.iter().sum::<f64>() / d as f64,
    );
    mean_c = mean_c.with(Series::new(
        "straight line",
        vec![(0.0, a), (1.0, b)],
        Mark::Dashed,
    ));
    plot::save(dir.path(), "power", &[power_c, cum_c, mean_c], 3)?;
    let energy_bars = Bars {
        title: "control energy E(1)".into(),
        x_label: "method".into(),
        y_label: "E(1)".into(),
        categories: runs.iter().map(|r| r.method.clone()).collect(),
        groups: vec![("E(1)".into(), runs.iter().map(|r| r.energy).collect())],
    };
    let zone_bars = Bars {
        title: "energy per zone".into(),
        x_label: "zone".into(),
        y_label: "E_j(1)".into(),
        categories: (0..d).map(|j| j.to_string()).collect(),
        groups: runs
            .iter()
            .map(|r| (r.method.clone(), r.energy_per_zone.clone()))
            .collect(),
    };
    let saving_bars = Bars {
        title: format!("saving against {} (%)", plan.baseline),
        x_label: "method".into(),
        y_label: "saving (%)".into(),
        categories: runs.iter().map(|r| r.method.clone()).collect(),
        groups: vec![(
            String::new(),
            runs.iter()
                .map(|r| 100.0 * (base.energy - r.energy) / base.energy)
                .collect(),
        )],
    };
    plot::save_bars(
        dir.path(),
        "energy",
        &[energy_bars, saving_bars, zone_bars],
        3,
    )?;
    let summary = serde_json::json!({
        "d": d,
        "agents": plan.settings.agents,
        "steps": plan.settings.n_steps,
        "baseline": plan.baseline,
        "methods": json_methods,
        "mean_in": mi,
        "mean_tar": mt,
        "covariance_kind": match plan.fleet.p_tar().covariance_spec() {
            Covariance::Isotropic(_) => "isotropic",
            Covariance::Diagonal(_) => "diagonal",
            Covariance::Full(_) => "full",
        },
    });
    data::write_json(&dir.file("summary.json"), &summary)?;
    Ok(summary)
}
