//! Demand-response fleets: `mfpid.Fleet`, `mfpid.ThermalLayer`, `mfpid.CelsiusLaw` and the
//! comparison of methods (MF / IA(0) / IA(m̄) / custom centres) over one `mfpid_energy::Experiment`
//! (agents and Brownian noise shared by every method: common random numbers), run method by method
//! exactly as the `mfpid fleet` program does.

use mfpid_bridge::Target;
use mfpid_energy::{
    CelsiusLaw, Centres, Experiment, Fleet, HvacObserver, Law, Method, MethodRun, RcBuilding,
    Recording, RunOptions, Saving, Settings, ThermalLayer,
};
use mfpid_sde::observe::Observer;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{self, out1, out2};
use crate::errors::{self, invalid, raise, Kind};
use crate::laws::{centres_arg, PyMixture};
use crate::runner::{self, Progress};

/// The RC thermal layer mapping dimensionless runs to °C, kW, minutes and kWh.
#[pyclass(frozen, name = "ThermalLayer", module = "mfpid")]
#[derive(Clone)]
pub struct PyThermalLayer {
    inner: ThermalLayer,
}

#[pymethods]
impl PyThermalLayer {
    /// ThermalLayer(capacitance_kwh_per_c, resistance_c_per_kw, outdoor_c, reference_c,
    /// horizon_min, noise_c_per_sqrt_h, coupling_kw_per_c=0.0)
    #[new]
    #[pyo3(signature = (capacitance_kwh_per_c, resistance_c_per_kw, outdoor_c, reference_c, horizon_min, noise_c_per_sqrt_h, coupling_kw_per_c = 0.0))]
    fn new(
        capacitance_kwh_per_c: &Bound<'_, PyAny>,
        resistance_c_per_kw: &Bound<'_, PyAny>,
        outdoor_c: f64,
        reference_c: f64,
        horizon_min: f64,
        noise_c_per_sqrt_h: f64,
        coupling_kw_per_c: f64,
    ) -> PyResult<Self> {
        let c = arrays::vector(capacitance_kwh_per_c, "capacitance_kwh_per_c")?;
        let r = arrays::vector_len(
            resistance_c_per_kw,
            "resistance_c_per_kw",
            c.len(),
            "one per zone, like capacitance_kwh_per_c",
        )?;
        for (v, arg) in [
            (outdoor_c, "outdoor_c"),
            (reference_c, "reference_c"),
            (horizon_min, "horizon_min"),
            (noise_c_per_sqrt_h, "noise_c_per_sqrt_h"),
            (coupling_kw_per_c, "coupling_kw_per_c"),
        ] {
            arrays::finite(v, arg)?;
        }
        let inner = ThermalLayer::new(
            RcBuilding {
                capacitance_kwh_per_c: c,
                resistance_c_per_kw: r,
                coupling_kw_per_c,
            },
            outdoor_c,
            reference_c,
            horizon_min,
            noise_c_per_sqrt_h,
        )
        .map_err(errors::energy)?;
        Ok(Self { inner })
    }

    /// The documented four-zone office building on a hot afternoon.
    #[staticmethod]
    fn example_office() -> Self {
        Self {
            inner: ThermalLayer::example_office(),
        }
    }

    /// Number of zones `d`.
    #[getter]
    fn zones(&self) -> usize {
        self.inner.zones()
    }

    /// Temperature scale `sigma_T` (°C per unit of `x`).
    #[getter]
    fn scale_c(&self) -> f64 {
        self.inner.scale_c()
    }

    /// `x` (dimensionless) to °C.
    fn to_celsius(&self, x: f64) -> f64 {
        self.inner.to_celsius(x)
    }

    /// °C to `x` (dimensionless).
    fn to_unit(&self, t_c: f64) -> f64 {
        self.inner.to_unit(t_c)
    }

    /// Dimensionless time `t` to minutes.
    fn minutes(&self, t: f64) -> f64 {
        self.inner.minutes(t)
    }

    fn __repr__(&self) -> String {
        format!(
            "ThermalLayer(zones={}, outdoor_c={}, reference_c={}, horizon_min={})",
            self.inner.zones(),
            self.inner.outdoor_c,
            self.inner.reference_c,
            self.inner.horizon_min
        )
    }
}

/// A law in °C: `weights` (K,), `means_c` (K, d), `std_c` (K,) (isotropic per sub-population).
#[pyclass(frozen, name = "CelsiusLaw", module = "mfpid")]
#[derive(Clone)]
pub struct PyCelsiusLaw {
    inner: CelsiusLaw,
    d: usize,
}

impl PyCelsiusLaw {
    fn from_lib(inner: CelsiusLaw) -> Self {
        let d = inner.means_c.len() / inner.std_c.len().max(1);
        Self { inner, d }
    }
}

#[pymethods]
impl PyCelsiusLaw {
    /// CelsiusLaw(weights, means_c, std_c)
    #[new]
    fn new(
        weights: &Bound<'_, PyAny>,
        means_c: &Bound<'_, PyAny>,
        std_c: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (m, k, d) = arrays::matrix(means_c, "means_c", "(K, d)")?;
        if k == 0 || d == 0 {
            return Err(raise(
                Kind::Shape,
                Some("means_c"),
                format!("needs K >= 1 and d >= 1, got shape ({k}, {d})"),
            ));
        }
        let w = arrays::vector_len(weights, "weights", k, "one weight per row of means_c")?;
        let s = arrays::vector_len(std_c, "std_c", k, "one standard deviation per component")?;
        if let Some(i) = w.iter().position(|&x| x <= 0.0) {
            return Err(invalid(
                "weights",
                format!("weights[{i}] = {} must be > 0", w[i]),
            ));
        }
        if let Some(i) = s.iter().position(|&x| x <= 0.0) {
            return Err(invalid(
                "std_c",
                format!("std_c[{i}] = {} must be > 0", s[i]),
            ));
        }
        Ok(Self {
            inner: CelsiusLaw {
                weights: w,
                means_c: m,
                std_c: s,
            },
            d,
        })
    }

    /// The example fleet of `ThermalLayer.example_office()`: `(p_in, p_tar)` in °C.
    #[staticmethod]
    fn example_fleet() -> (Self, Self) {
        let (a, b) = ThermalLayer::example_fleet();
        (Self::from_lib(a), Self::from_lib(b))
    }

    /// Weights, shape `(K,)`.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.weights.clone())
    }

    /// Means in °C, shape `(K, d)`.
    #[getter]
    fn means_c<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        out2(
            py,
            self.inner.means_c.clone(),
            self.inner.std_c.len(),
            self.d,
        )
    }

    /// Standard deviations in °C, shape `(K,)`.
    #[getter]
    fn std_c<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.std_c.clone())
    }
}

/// A fleet: post-event law `p_in` and recovery law `p_tar` (components are sub-populations),
/// optionally with the thermal layer (laws then given in °C).
#[pyclass(frozen, name = "Fleet", module = "mfpid")]
pub struct PyFleet {
    inner: Fleet,
    layer: Option<ThermalLayer>,
}

fn law_of(g: &PyMixture) -> Law {
    Law {
        d: g.inner.dim(),
        weights: g.raw_weights.clone(),
        means: g.inner.means().to_vec(),
        covariance: g.inner.covariance_spec().clone(),
    }
}

#[pymethods]
impl PyFleet {
    /// Fleet(p_in, p_tar): two `GaussianMixture` laws of the same dimension `d` (zones).
    #[new]
    fn new(p_in: &Bound<'_, PyAny>, p_tar: &Bound<'_, PyAny>) -> PyResult<Self> {
        let get = |o: &Bound<'_, PyAny>, arg: &str| -> PyResult<Law> {
            o.cast::<PyMixture>()
                .map(|g| law_of(g.get()))
                .map_err(|_| raise(Kind::DType, Some(arg), "expected an mfpid.GaussianMixture"))
        };
        let inner = Fleet::new(get(p_in, "p_in")?, get(p_tar, "p_tar")?).map_err(errors::energy)?;
        Ok(Self { inner, layer: None })
    }

    /// A fleet in physical units: `p_in`, `p_tar` are `CelsiusLaw`s mapped through `layer`.
    #[staticmethod]
    fn physical(
        layer: &PyThermalLayer,
        p_in: &PyCelsiusLaw,
        p_tar: &PyCelsiusLaw,
    ) -> PyResult<Self> {
        let z = layer.inner.zones();
        for (l, arg) in [(p_in, "p_in"), (p_tar, "p_tar")] {
            if l.d != z {
                return Err(raise(
                    Kind::Shape,
                    Some(arg),
                    format!("means_c rows have {} zones but the layer has {z}", l.d),
                ));
            }
        }
        let inner = layer
            .inner
            .fleet(&p_in.inner, &p_tar.inner)
            .map_err(errors::energy)?;
        Ok(Self {
            inner,
            layer: Some(layer.inner.clone()),
        })
    }

    /// Number of zones `d`.
    #[getter]
    fn d(&self) -> usize {
        self.inner.dim()
    }

    /// Whether the fleet has a thermal layer (results in kW, °C, kWh too).
    #[getter]
    fn is_physical(&self) -> bool {
        self.layer.is_some()
    }

    /// Global mean of `p_in`, shape `(d,)`.
    fn mean_in<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.mean_in())
    }

    /// Global mean of `p_tar`, shape `(d,)`.
    fn mean_tar<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.mean_tar())
    }

    /// Draw `n` agents from `p_in`: `(x (n, d), component (n,))`.
    #[pyo3(signature = (n, seed = None))]
    fn sample_agents<'py>(
        &self,
        py: Python<'py>,
        n: i64,
        seed: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Vec<usize>)> {
        let n = arrays::size(n, "n", 1)?;
        let seed = seed.map(arrays::seed).transpose()?.unwrap_or(0);
        let a = self.inner.sample_agents(n, seed).map_err(errors::energy)?;
        Ok((out2(py, a.x, n, self.inner.dim())?, a.component))
    }

    fn __repr__(&self) -> String {
        format!(
            "Fleet(d={}, p_in components={}, p_tar components={}, physical={})",
            self.inner.dim(),
            self.inner.weights_in().len(),
            self.inner.weights_tar().len(),
            self.layer.is_some()
        )
    }
}

/// One method of the comparison from Python: `"MF"`, `"IA0"`, `"IAm"`, or `(name, centres)`.
fn method_arg(obj: &Bound<'_, PyAny>, i: usize, pieces: usize, d: usize) -> PyResult<Method> {
    let arg = format!("methods[{i}]");
    if let Ok(s) = obj.extract::<String>() {
        return match s.as_str() {
            "MF" => Ok(Method::mean_field()),
            "IA0" => Ok(Method::independent_zero()),
            "IAm" => Ok(Method::independent_target()),
            other => Err(invalid(&arg, format!("unknown method {other:?}: use \"MF\", \"IA0\", \"IAm\" or mfpid.Method(name, centres)"))),
        };
    }
    let (name, centres): (String, Bound<'_, PyAny>) = obj.extract().map_err(|_| {
        raise(
            Kind::DType,
            Some(&arg),
            "expected \"MF\", \"IA0\", \"IAm\" or mfpid.Method(name, centres)",
        )
    })?;
    let nu = centres_arg(&centres, &format!("{arg}.centres"), pieces, d)?;
    Ok(Method::new(name, Centres::Fixed(nu)))
}

fn saving_of(r: &MethodRun, base: &MethodRun) -> PyResult<Option<Saving>> {
    if r.method == base.method {
        return Ok(None);
    }
    Saving::of(r, base).map(Some).map_err(errors::energy)
}

fn run_dict<'py>(
    py: Python<'py>,
    r: MethodRun,
    saving: Option<Saving>,
    hvac: Option<(&ThermalLayer, HvacObserver)>,
    pieces: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let o = PyDict::new(py);
    let d = r.d;
    o.set_item("method", &r.method)?;
    o.set_item("d", d)?;
    o.set_item("agents", r.agents)?;
    o.set_item("centres", out2(py, r.centres, pieces, d)?)?;
    o.set_item("energy", r.energy)?;
    o.set_item("stderr", r.stderr)?;
    o.set_item("saving_pct", saving.map(|s| s.pct))?;
    o.set_item("saving_stderr_pct", saving.map(|s| s.stderr_pct))?;
    o.set_item("energy_per_zone", out1(py, r.energy_per_zone.clone()))?;
    o.set_item("peak_power", r.peak_power)?;
    o.set_item("times", out1(py, r.times))?;
    o.set_item("power", out1(py, r.power))?;
    o.set_item("energy_per_agent", out1(py, r.per_agent))?;
    let sp = PyDict::new(py);
    sp.set_item(
        "component",
        r.subpopulations
            .iter()
            .map(|s| s.component)
            .collect::<Vec<_>>(),
    )?;
    sp.set_item(
        "agents",
        r.subpopulations
            .iter()
            .map(|s| s.agents)
            .collect::<Vec<_>>(),
    )?;
    sp.set_item(
        "energy",
        out1(py, r.subpopulations.iter().map(|s| s.energy).collect()),
    )?;
    sp.set_item(
        "stderr",
        out1(py, r.subpopulations.iter().map(|s| s.stderr).collect()),
    )?;
    sp.set_item(
        "share_pct",
        out1(py, r.subpopulations.iter().map(|s| s.share_pct).collect()),
    )?;
    o.set_item("subpopulations", sp)?;
    match r.subpop_power {
        Some(p) => {
            let (k, n) = (p.len(), p.first().map_or(0, Vec::len));
            o.set_item("subpop_power", out2(py, p.concat(), k, n)?)?;
        }
        None => o.set_item("subpop_power", py.None())?,
    }
    let t = &r.terminal;
    let k = t.weights.len();
    let tl = PyDict::new(py);
    tl.set_item("weights", out1(py, t.weights.clone()))?;
    tl.set_item("weight_stderr", out1(py, t.weight_stderr.clone()))?;
    tl.set_item("target_weights", out1(py, t.target_weights.clone()))?;
    tl.set_item("means", out2(py, t.means.clone(), k, d)?)?;
    tl.set_item("mean_stderr", out2(py, t.mean_stderr.clone(), k, d)?)?;
    tl.set_item("target_means", out2(py, t.target_means.clone(), k, d)?)?;
    tl.set_item("variances", out2(py, t.variances.clone(), k, d)?)?;
    tl.set_item(
        "variance_stderr",
        out2(py, t.variance_stderr.clone(), k, d)?,
    )?;
    tl.set_item(
        "target_variances",
        out2(py, t.target_variances.clone(), k, d)?,
    )?;
    tl.set_item("max_weight_error", t.max_weight_error())?;
    tl.set_item("max_mean_error", t.max_mean_error())?;
    o.set_item("terminal", tl)?;
    let n = r.mean_path.len();
    o.set_item(
        "mean_path_times",
        out1(py, r.mean_path.iter().map(|(t, _)| *t).collect()),
    )?;
    o.set_item(
        "mean_path",
        out2(
            py,
            r.mean_path.into_iter().flat_map(|(_, m)| m).collect(),
            n,
            d,
        )?,
    )?;
    match r.final_states {
        Some(x) => o.set_item("final_states", out2(py, x, r.agents, d)?)?,
        None => o.set_item("final_states", py.None())?,
    }
    o.set_item("wall_s", r.wall_s)?;
    match hvac {
        Some((l, h)) => {
            let p = PyDict::new(py);
            p.set_item("effort_kw2h", l.effort_kw2h(&r.energy_per_zone))?;
            p.set_item("control_kwh", h.control_kwh)?;
            p.set_item("cooling_kwh", h.cooling_kwh)?;
            p.set_item("heating_kwh", h.heating_kwh)?;
            p.set_item("net_kwh", h.net_kwh)?;
            p.set_item("peak_cooling_kw", h.peak_cooling_kw())?;
            p.set_item("minutes", out1(py, h.minutes))?;
            p.set_item("net_kw", out1(py, h.net_kw))?;
            p.set_item("cooling_kw", out1(py, h.cooling_kw))?;
            p.set_item("heating_kw", out1(py, h.heating_kw))?;
            p.set_item("control_kw", out1(py, h.control_kw))?;
            p.set_item("mean_temp_c", out1(py, h.mean_temp_c))?;
            o.set_item("physical", p)?;
        }
        None => o.set_item("physical", py.None())?,
    }
    Ok(o)
}

/// Compare `methods` on `fleet`; see `mfpid.compare`.
#[pyfunction]
#[pyo3(signature = (fleet, methods, baseline, agents, steps, eps, beta0, gamma, pieces, mean_every, subpop_power, keep_final, seed, threads, progress))]
#[allow(clippy::too_many_arguments)]
fn compare<'py>(
    py: Python<'py>,
    fleet: &PyFleet,
    methods: &Bound<'py, PyAny>,
    baseline: Option<String>,
    agents: i64,
    steps: i64,
    eps: f64,
    beta0: f64,
    gamma: f64,
    pieces: i64,
    mean_every: i64,
    subpop_power: bool,
    keep_final: bool,
    seed: &Bound<'py, PyAny>,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = fleet.inner.dim();
    let agents = arrays::size(agents, "agents", 2)?;
    let steps = arrays::size(steps, "steps", 1)?;
    let pieces = arrays::size(pieces, "pieces", 1)?;
    if steps < pieces {
        return Err(invalid("steps", format!("{steps} steps cannot cover the protocol's {pieces} pieces (at least one step per piece)")));
    }
    let eps = arrays::finite(eps, "eps")?;
    if !(eps > 0.0 && eps < 0.5) {
        return Err(invalid("eps", format!("{eps} must be in (0, 0.5)")));
    }
    for (v, arg) in [(beta0, "beta0"), (gamma, "gamma")] {
        if arrays::finite(v, arg)? < 0.0 {
            return Err(invalid(arg, format!("{v} must be >= 0")));
        }
    }
    let mean_every = arrays::size(mean_every, "mean_every", 0)?;
    let list = methods
        .cast::<PyList>()
        .map_err(|_| raise(Kind::DType, Some("methods"), "expected a list of methods"))?;
    let mut ms: Vec<Method> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let m = method_arg(&m, i, pieces, d)?;
        if ms.iter().any(|x| x.name == m.name) {
            return Err(invalid(
                &format!("methods[{i}]"),
                format!("a method called {:?} is listed twice", m.name),
            ));
        }
        ms.push(m);
    }
    if ms.is_empty() {
        return Err(invalid("methods", "no method to run"));
    }
    // default: IA0 when it runs (as the `mfpid fleet` program), else the first method
    let baseline = baseline.unwrap_or_else(|| {
        let ia0 = Method::independent_zero().name;
        if ms.iter().any(|m| m.name == ia0) {
            ia0
        } else {
            ms[0].name.clone()
        }
    });
    let Some(base_idx) = ms.iter().position(|m| m.name == baseline) else {
        let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        return Err(invalid(
            "baseline",
            format!(
                "{baseline:?} is not among the methods run ({})",
                names.join(", ")
            ),
        ));
    };
    let settings = Settings {
        agents,
        n_steps: steps,
        eps,
        beta_0: beta0,
        gamma,
        pieces,
        seed: arrays::seed(seed)?,
        threads: arrays::threads(threads)?,
        start: Default::default(),
    };
    let rec = Recording {
        mean_every,
        subpop_power,
        keep_final,
    };
    let fleet_c = fleet.inner.clone();
    let layer = fleet.layer.clone();
    let (runs, hvacs) = runner::run(py, progress, |job| {
        let exp = Experiment::new(fleet_c, settings).map_err(errors::energy)?;
        let nm = ms.len() as f64;
        let mut runs = Vec::with_capacity(ms.len());
        let mut hvacs = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            let mut prog = Progress::new(job, i as f64 / nm, 1.0 / nm);
            let mut h = layer.as_ref().map(HvacObserver::new);
            let mut extra: Vec<&mut dyn Observer> = vec![&mut prog];
            if let Some(h) = h.as_mut() {
                extra.push(h);
            }
            let r = exp
                .run(
                    m,
                    RunOptions::from(rec).with_cancel(job.cancel.clone()),
                    &mut extra,
                )
                .map_err(errors::energy)?;
            runs.push(r);
            hvacs.push(h);
        }
        Ok((runs, hvacs))
    })?;
    let savings = runs
        .iter()
        .map(|r| saving_of(r, &runs[base_idx]))
        .collect::<PyResult<Vec<_>>>()?;
    let out_runs = PyList::empty(py);
    for ((r, s), h) in runs.into_iter().zip(savings).zip(hvacs) {
        let hv = match (&layer, h) {
            (Some(l), Some(h)) => Some((l, h)),
            _ => None,
        };
        out_runs.append(run_dict(py, r, s, hv, pieces)?)?;
    }
    let out = PyDict::new(py);
    out.set_item("runs", out_runs)?;
    out.set_item("baseline", baseline)?;
    let st = PyDict::new(py);
    st.set_item("agents", agents)?;
    st.set_item("steps", steps)?;
    st.set_item("eps", eps)?;
    st.set_item("beta0", beta0)?;
    st.set_item("gamma", gamma)?;
    st.set_item("pieces", pieces)?;
    st.set_item("seed", arrays::seed(seed)?)?;
    out.set_item("settings", st)?;
    Ok(out)
}

/// Register the classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyThermalLayer>()?;
    m.add_class::<PyCelsiusLaw>()?;
    m.add_class::<PyFleet>()?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    Ok(())
}
