//! The `fleet` config and its check: TOML sections, the laws (°C through the RC layer with
//! `[physical]`), the methods, and the one map from `mfpid-energy` errors to TOML fields.

use mfpid::bridge::{BridgeError, Covariance};
use mfpid::energy::{
    CelsiusLaw, Centres, EnergyError, Experiment, Fleet, HvacObserver, HvacRecorder, Law, Method,
    RcBuilding, Recording, Settings, ThermalLayer,
};
use serde::{Deserialize, Serialize};

use crate::common::human_seconds;
use crate::common::Common;
use crate::config::{finite, Row, Source};
use crate::cost::Cost;
use crate::error::{AppError, LibContext, Result};
use crate::mixture::MixtureFields;

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

/// `[physical]`: the RC thermal layer. The laws' `means` and `std` and custom centres are then in
/// °C (only `std` is accepted for the spread), and the results lead with HVAC energy (kWh) and peak
/// power (kW). Every field but `coupling_kw_per_c` is required; the fields are optional here so
/// that all missing ones are reported in one message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Physical {
    /// Zone capacitances `C_j` (kWh/°C), one per zone.
    #[serde(default)]
    pub capacitance_kwh_per_c: Option<Vec<f64>>,
    /// Zone resistances to outdoors `R_j` (°C/kW), one per zone.
    #[serde(default)]
    pub resistance_c_per_kw: Option<Vec<f64>>,
    /// Conductance between neighbouring zones (kW/°C, >= 0; default 0).
    #[serde(default)]
    pub coupling_kw_per_c: f64,
    /// Outdoor temperature (°C).
    #[serde(default)]
    pub outdoor_c: Option<f64>,
    /// Reference temperature mapped to `x = 0` (°C).
    #[serde(default)]
    pub reference_c: Option<f64>,
    /// Recovery horizon mapped to `t ∈ [0, 1]` (minutes).
    #[serde(default)]
    pub horizon_min: Option<f64>,
    /// Disturbance intensity (°C/√h): sets the temperature scale `σ_T = s sqrt(T_h)`.
    #[serde(default)]
    pub noise_c_per_sqrt_h: Option<f64>,
}

impl Physical {
    /// The RC layer, or one error listing every missing field.
    fn layer(&self, src: &Source, laws: &FleetLaws) -> Result<ThermalLayer> {
        let missing: Vec<&str> = [
            (
                "capacitance_kwh_per_c",
                self.capacitance_kwh_per_c.is_none(),
            ),
            ("resistance_c_per_kw", self.resistance_c_per_kw.is_none()),
            ("outdoor_c", self.outdoor_c.is_none()),
            ("reference_c", self.reference_c.is_none()),
            ("horizon_min", self.horizon_min.is_none()),
            ("noise_c_per_sqrt_h", self.noise_c_per_sqrt_h.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(f, _)| *f)
        .collect();
        if !missing.is_empty() {
            return Err(src
                .error(
                    "physical",
                    format!(
                        "missing {} {}: every field of [physical] but coupling_kw_per_c is required",
                        if missing.len() == 1 { "field" } else { "fields" },
                        missing.join(", ")
                    ),
                )
                .into());
        }
        let get = |v: Option<f64>| v.unwrap_or(f64::NAN);
        ThermalLayer::new(
            RcBuilding {
                capacitance_kwh_per_c: self.capacitance_kwh_per_c.clone().unwrap_or_default(),
                resistance_c_per_kw: self.resistance_c_per_kw.clone().unwrap_or_default(),
                coupling_kw_per_c: self.coupling_kw_per_c,
            },
            get(self.outdoor_c),
            get(self.reference_c),
            get(self.horizon_min),
            get(self.noise_c_per_sqrt_h),
        )
        .map_err(|e| locate(src, e, "physical", laws))
    }
}

/// The checked run.
pub struct Plan {
    /// The config as parsed.
    pub config: FleetConfig,
    /// `p_in` and `p_tar` in the dimensionless units of the bridge.
    pub fleet: Fleet,
    /// Protocol, grid and sampling settings (after `--quick`, `--seed`, `--threads`).
    pub settings: Settings,
    /// The methods, built-ins first.
    pub methods: Vec<Method>,
    /// Name of the method savings are measured against.
    pub baseline: String,
    /// The RC thermal layer of `[physical]`.
    pub layer: Option<ThermalLayer>,
    /// Estimated memory (checked against the limit in [`plan`]).
    pub cost: Cost,
}

impl Plan {
    /// `isotropic`, `diagonal` or `full`: the covariance form of `p_tar`.
    pub fn covariance_kind(&self) -> &'static str {
        match self.fleet.p_tar().covariance_spec() {
            Covariance::Isotropic(_) => "isotropic",
            Covariance::Diagonal(_) => "diagonal",
            Covariance::Full(_) => "full",
        }
    }
}

/// The TOML path of a field of `mfpid_energy::Settings` (`None`: not a run setting).
fn settings_path(field: &str) -> Option<&'static str> {
    Some(match field {
        "agents" => "run.agents",
        "n_steps" => "run.steps",
        "eps" => "run.eps",
        "seed" => "run.seed",
        "pieces" => "protocol.pieces",
        "beta_0" => "protocol.beta0",
        "gamma" => "protocol.gamma",
        "threads" => "--threads",
        _ => return None,
    })
}

/// The one place where an `mfpid-energy` error becomes a config error: the library names the law
/// (`p_in` / `p_tar`) or the setting, and this maps it to its TOML path (`fleet.p_in.weights[k]`,
/// `physical.<field>`) and message; a law's own errors (the bridge's mixture validation) are
/// located in the law's fields by [`MixtureFields::locate`].
fn locate(src: &Source, e: EnergyError, prefix: &str, laws: &FleetLaws) -> AppError {
    let law_path = |law: &str| format!("fleet.{law}");
    let fields = |law: &str| {
        if law == "p_in" {
            &laws.p_in
        } else {
            &laws.p_tar
        }
    };
    match e {
        EnergyError::ZeroWeight { law, component } => src
            .error(
                &format!("{}.weights[{component}]", law_path(law)),
                format!(
                    "component {component} has weight 0: every sub-population needs a weight > 0"
                ),
            )
            .into(),
        EnergyError::NotPositiveDefinite {
            law,
            component,
            reason,
        } => fields(law)
            .locate(
                src,
                &law_path(law),
                BridgeError::NotPositiveDefinite { component, reason },
            )
            .into(),
        EnergyError::DimensionMismatch { d_in, d_tar } => src
            .error(
                "fleet.p_tar.means",
                format!("p_tar has d = {d_tar} zones but p_in has d = {d_in} (dimension mismatch)"),
            )
            .into(),
        EnergyError::InvalidLaw { law, source } => {
            fields(law).locate(src, &law_path(law), source).into()
        }
        // a run setting has its TOML path (the library checks them once, in `Settings::validate`)
        EnergyError::Invalid {
            field,
            ref value,
            reason,
        } if settings_path(field).is_some() => {
            let value = value
                .parse::<f64>()
                .map_or(value.clone(), crate::common::human_num);
            src.error(
                settings_path(field).unwrap_or(field),
                format!("{value} {reason}"),
            )
            .into()
        }
        // a temperature of `[physical]` or of a law in °C (`means_c[k][j]` is `means[k][j]`)
        EnergyError::Implausible { ref field, .. } => {
            let f = match field.strip_prefix("means_c") {
                Some(rest) => format!("{prefix}.means{rest}"),
                None => format!("{prefix}.{field}"),
            };
            let msg = e.to_string();
            let msg = msg
                .split_once(" = ")
                .map_or(msg.clone(), |(_, m)| m.to_string());
            src.error(&f, msg).into()
        }
        // the thermal layer's settings are the fields of `[physical]`; `std_c` is a law's `std`
        EnergyError::Invalid { field, .. } => {
            let f = if field == "std_c" { "std" } else { field };
            src.error(&format!("{prefix}.{f}"), e.to_string()).into()
        }
        other => src.error("fleet", other.to_string()).into(),
    }
}

fn physical_law(
    src: &Source,
    prefix: &str,
    m: &MixtureFields,
    layer: &ThermalLayer,
    laws: &FleetLaws,
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
    // the shape checks (lengths, dimensions, std > 0) on the °C values; the values are checked by
    // the RC layer (plausible °C) and by `Fleet::new` (weights)
    let g = m.spec(src, prefix)?;
    if g.d != layer.zones() {
        return Err(src
            .error(
                &format!("{prefix}.means"),
                format!(
                    "rows have {} zones but [physical] describes {} zones (dimension mismatch)",
                    g.d,
                    layer.zones()
                ),
            )
            .into());
    }
    let std_c = m.std.clone().unwrap_or_default();
    let law = CelsiusLaw {
        weights: m.weights.clone().unwrap_or_else(|| vec![1.0; std_c.len()]),
        means_c: g.means,
        std_c,
    };
    layer.law(&law).map_err(|e| locate(src, e, prefix, laws))
}

/// A centre row in the bridge's units: with `[physical]` the row is in °C and every value must be
/// a plausible temperature; without it the row is used as given.
fn celsius_row(
    src: &Source,
    layer: Option<&ThermalLayer>,
    field: &str,
    row: &[f64],
) -> Result<Vec<f64>> {
    let Some(l) = layer else {
        return Ok(row.to_vec());
    };
    row.iter()
        .enumerate()
        .map(|(j, t)| {
            l.unit_of(format!("[{j}]"), *t).map_err(|e| {
                let msg = e.to_string();
                let msg = msg
                    .split_once(" = ")
                    .map_or(msg.clone(), |(_, m)| m.to_string());
                AppError::from(src.error(&format!("{field}[{j}]"), msg))
            })
        })
        .collect()
}

/// A law in the bridge's units: the fields' shape checked here, their values checked and the
/// covariances factorised later, once, by `Fleet::new`.
fn plain_law(src: &Source, prefix: &str, m: &MixtureFields) -> Result<Law> {
    Ok(m.spec(src, prefix)?)
}

/// Parse and check a fleet config; nothing is simulated.
pub fn plan(src: &Source, common: &Common) -> Result<Plan> {
    let config: FleetConfig = src.parse()?;
    // the RC layer checks its own fields (lengths, positivity, finiteness, plausible °C)
    let layer = match &config.physical {
        Some(p) => Some(p.layer(src, &config.fleet)?),
        None => None,
    };
    let (p_in, p_tar) = match &layer {
        Some(l) => (
            physical_law(src, "fleet.p_in", &config.fleet.p_in, l, &config.fleet)?,
            physical_law(src, "fleet.p_tar", &config.fleet.p_tar, l, &config.fleet)?,
        ),
        None => (
            plain_law(src, "fleet.p_in", &config.fleet.p_in)?,
            plain_law(src, "fleet.p_tar", &config.fleet.p_tar)?,
        ),
    };
    let fleet = Fleet::new(p_in, p_tar).map_err(|e| locate(src, e, "fleet", &config.fleet))?;
    let d = fleet.dim();
    let (r, pr) = (&config.run, &config.protocol);
    let mut settings = Settings {
        agents: r.agents,
        n_steps: r.steps,
        eps: r.eps,
        beta_0: pr.beta0,
        gamma: pr.gamma,
        pieces: pr.pieces,
        seed: common.seed.or(r.seed).unwrap_or(0),
        threads: common.threads,
        start: Default::default(),
    };
    // the library checks the settings as written; --quick then shrinks a valid run
    settings
        .validate()
        .map_err(|e| locate(src, e, "fleet", &config.fleet))?;
    if common.quick {
        settings.agents = settings.agents.min(1000);
        settings.n_steps = settings.n_steps.min(400).max(settings.pieces);
    }
    // the memory check comes before anything run-sized (centre schedules, agents) is allocated
    let n_methods = config.methods.compare.len() + config.methods.custom.len();
    let cost = estimate(&fleet, &settings, n_methods, layer.is_some(), &config.run);
    cost.check(common)?;
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
                let z = celsius_row(src, layer.as_ref(), &format!("{p}.centre"), z)?;
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
                    flat.extend(celsius_row(src, layer.as_ref(), &f, &r.0)?);
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
        cost,
    })
}

/// Memory of a `fleet` run, part by part (see `crate::cost`): the agents, one method's buffers at a
/// time, and the results kept for every method.
fn estimate(fleet: &Fleet, s: &Settings, methods: usize, physical: bool, r: &FleetRun) -> Cost {
    let (b, d, n, m) = (
        s.agents as f64,
        fleet.dim() as f64,
        s.n_steps as f64,
        methods as f64,
    );
    let (k_in, k_tar) = (
        fleet.weights_in().len() as f64,
        fleet.weights_tar().len() as f64,
    );
    let mut c = Cost::new();
    c.add(
        "run.agents",
        r.agents as f64,
        "agents and their labels (B x (d + 1))",
        b * (d + 1.0),
        8.0,
    );
    // one method at a time: bridge starts, ensemble, drift and noise, terminal responsibilities
    c.add(
        "run.agents",
        r.agents as f64,
        "one method's ensemble, bridge starts, drift and noise (4 x B x d) and terminal-law work",
        4.0 * b * d + b * (k_tar + 4.0) + b / 64.0 * (2.0 * d + k_in + 69.0),
        8.0,
    );
    c.add(
        "run.agents",
        r.agents as f64,
        "per-agent energies of every method (B x methods)",
        b * m,
        8.0,
    );
    let traces = 3.0
        + k_in
        + if physical {
            9.0 + 2.0 * crate::cost::BATCHES
        } else {
            0.0
        };
    c.add(
        "run.steps",
        r.steps as f64,
        "power traces of every method (steps x methods), and their tables",
        n * m * traces + (n / (s.n_steps / 100).max(1) as f64 + 2.0) * d * m,
        8.0 + 24.0,
    );
    if let Covariance::Full(_) = fleet.p_tar().covariance_spec() {
        c.add(
            "fleet.p_tar.cov",
            k_tar,
            "full covariances of p_tar and their factors (K x d x d)",
            3.0 * k_tar * d * d,
            8.0,
        );
    }
    c
}

/// The run's wall time from probes: one method on smaller fleets over at most 64 steps (with the
/// physical recorders when the run has them); a fleet larger than the probe is charged the
/// probe's per-run time once and its per-agent time per agent, then everything is scaled by steps
/// and methods.
pub fn estimate_seconds(p: &Plan) -> Result<f64> {
    let s = &p.settings;
    let steps = s.n_steps.min(64).max(s.pieces);
    // one probe run of `agents` agents over `steps` steps, drawing included: its wall time
    let probe = |agents: usize| -> Result<f64> {
        let probe = Settings {
            agents,
            n_steps: steps,
            ..s.clone()
        };
        let t0 = std::time::Instant::now();
        let exp = Experiment::new(p.fleet.clone(), probe.clone()).ctx("probe fleet")?;
        let rec = Recording {
            mean_every: (probe.n_steps / 100).max(1),
            subpop_power: true,
            keep_final: false,
        };
        match &p.layer {
            Some(l) => {
                let mut h = HvacObserver::new(l);
                let mut r = HvacRecorder::new(l, probe.agents);
                exp.run(&p.methods[0], rec, &mut [&mut h, &mut r])
            }
            None => exp.run(&p.methods[0], rec, &mut []),
        }
        .ctx("probe run")?;
        Ok(t0.elapsed().as_secs_f64())
    };
    // the run's work in probe units (agents x steps x methods over the probe's steps)
    let scale = s.n_steps as f64 / steps as f64 * p.methods.len() as f64;
    let (n1, n2) = (s.agents.min(PROBE_AGENTS / 8), s.agents.min(PROBE_AGENTS));
    if n2 == s.agents {
        return Ok(crate::cost::extrapolate(probe(n2)?, 1.0, scale));
    }
    // a probe's time is a per-run part (threads, bridges, metrics; independent of the agents) plus
    // a part per agent: two probe sizes separate them (a first small probe warms up the threads),
    // so a large fleet is not charged the small probe's overhead per agent
    probe(n1)?;
    let t2 = crate::cost::fastest(2, || probe(n2))?;
    let t1 = crate::cost::fastest(2, || probe(n1))?;
    let per_agent = if t2 > t1 {
        (t2 - t1) / (n2 - n1) as f64
    } else {
        t2 / n2 as f64
    };
    let fixed = (t2 - per_agent * n2 as f64).max(0.0);
    Ok((fixed + per_agent * s.agents as f64) * scale)
}

/// Agents of the larger probe run of [`estimate_seconds`] (the smaller has an eighth).
const PROBE_AGENTS: usize = 16384;

/// `validate` for a fleet config.
pub fn validate(src: &Source, common: &Common) -> Result<Vec<String>> {
    let p = plan(src, common)?;
    let s = &p.settings;
    let names: Vec<&str> = p.methods.iter().map(|m| m.name.as_str()).collect();
    let secs = estimate_seconds(&p)?;
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
            "  cost:     simulation time about {} on this machine (from a probe run); {}",
            human_seconds(secs),
            p.cost.describe_memory()
        ),
    ])
}

/// The one-line description printed before a run.
pub fn describe(p: &Plan) -> Vec<String> {
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
