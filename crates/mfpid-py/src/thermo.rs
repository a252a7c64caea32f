//! Thermodynamic diagnostics (`mfpid_thermo`) on the two-cluster model of Yu & Huang and Biroli et
//! al.: closed-form entropy rates, the integral fluctuation theorem from simulated paths, the
//! Franz-Parisi potential, the speciation phase diagram and the cloning curve.

use mfpid_thermo::franz_parisi::FranzParisi;
use mfpid_thermo::speciation::{cloning_curve as lib_cloning_curve, CloningConfig};
use mfpid_thermo::trajectory::{simulate_two_cluster, Direction};
use mfpid_thermo::{phase_diagram as lib_phase_diagram, TwoCluster};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, out1, out2};
use crate::errors::{self, invalid};
use crate::meanfield::rayon_pool;
use crate::runner;

fn model(mu: f64, sigma2: f64) -> PyResult<TwoCluster> {
    TwoCluster::new(arrays::finite(mu, "mu")?, arrays::finite(sigma2, "sigma2")?)
        .map_err(errors::thermo)
}

fn direction(s: &str) -> PyResult<Direction> {
    match s {
        "forward" => Ok(Direction::Forward),
        "backward" => Ok(Direction::Backward),
        other => Err(invalid(
            "direction",
            format!("{other:?}: use \"forward\" or \"backward\""),
        )),
    }
}

/// Run `f` in a dedicated pool of `threads` threads, or in rayon's global pool.
fn in_pool<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> PyResult<R> {
    Ok(match threads {
        Some(n) => rayon_pool(n)?.install(f),
        None => f(),
    })
}

/// Closed-form entropy rates of the two-cluster model; see `mfpid.two_cluster_rates`.
#[pyfunction]
fn two_cluster_rates<'py>(
    py: Python<'py>,
    mu: f64,
    sigma2: f64,
    times: &Bound<'py, PyAny>,
    direction: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let m = model(mu, sigma2)?;
    let dir = direction_of(direction)?;
    let ts = arrays::vector(times, "times")?;
    let rates = ts
        .iter()
        .map(|&t| match dir {
            Direction::Forward => m.rates_forward(t),
            Direction::Backward => m.rates_backward(t),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(errors::thermo)?;
    let entropy = ts
        .iter()
        .map(|&t| m.entropy(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(errors::thermo)?;
    let o = PyDict::new(py);
    o.set_item("times", out1(py, ts))?;
    o.set_item("pi", out1(py, rates.iter().map(|r| r.pi).collect()))?;
    o.set_item("phi", out1(py, rates.iter().map(|r| r.phi).collect()))?;
    o.set_item("ds_dt", out1(py, rates.iter().map(|r| r.ds_dt).collect()))?;
    o.set_item("entropy", out1(py, entropy))?;
    o.set_item("speciation_time", m.speciation_time())?;
    o.set_item("phase", m.phase().code())?;
    Ok(o)
}

fn direction_of(s: &str) -> PyResult<Direction> {
    direction(s)
}

/// Path entropies and the IFT from simulated two-cluster paths; see `mfpid.two_cluster_ift`.
#[pyfunction]
#[pyo3(signature = (mu, sigma2, direction, horizon, steps, paths, level, seed, threads, progress))]
#[allow(clippy::too_many_arguments)]
fn two_cluster_ift<'py>(
    py: Python<'py>,
    mu: f64,
    sigma2: f64,
    direction: &str,
    horizon: f64,
    steps: i64,
    paths: i64,
    level: f64,
    seed: &Bound<'py, PyAny>,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = model(mu, sigma2)?;
    let dir = direction_of(direction)?;
    let horizon = arrays::finite(horizon, "horizon")?;
    let steps = arrays::size(steps, "steps", 1)?;
    let paths = arrays::size(paths, "paths", 2)?;
    let level = arrays::finite(level, "level")?;
    if !(level > 0.0 && level < 1.0) {
        return Err(invalid("level", format!("{level} must be in (0, 1)")));
    }
    let seed = arrays::seed(seed)?;
    let threads = arrays::threads(threads)?;
    let (ent, ift) = runner::run(py, progress, |_job| {
        let ent = in_pool(threads, || {
            simulate_two_cluster(&m, dir, horizon, steps, paths, seed)
        })?
        .map_err(errors::thermo)?;
        let ift = ent.ift(level).map_err(errors::thermo)?;
        Ok((ent, ift))
    })?;
    let o = PyDict::new(py);
    o.set_item("system", out1(py, ent.system.clone()))?;
    o.set_item("medium", out1(py, ent.medium.clone()))?;
    o.set_item("total", out1(py, ent.total()))?;
    o.set_item("ift_mean", ift.ift_mean)?;
    o.set_item("ift_stderr", ift.ift_se)?;
    o.set_item("ift_ci_low", ift.ift_ci_low)?;
    o.set_item("ift_ci_high", ift.ift_ci_high)?;
    o.set_item("level", ift.level)?;
    o.set_item("mean_ds_tot", ift.mean_ds_tot)?;
    o.set_item("mean_ds_tot_stderr", ift.mean_ds_tot_se)?;
    Ok(o)
}

/// The Franz-Parisi potential at time `t`; see `mfpid.franz_parisi`.
#[pyfunction]
#[pyo3(signature = (mu, sigma2, t, q, pairs, seed))]
fn franz_parisi<'py>(
    py: Python<'py>,
    mu: f64,
    sigma2: f64,
    t: f64,
    q: &Bound<'py, PyAny>,
    pairs: i64,
    seed: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = model(mu, sigma2)?;
    let qs = arrays::vector(q, "q")?;
    let pairs = arrays::size(pairs, "pairs", 2)?;
    let seed = arrays::seed(seed)?;
    let t = arrays::finite(t, "t")?;
    let curve = runner::run(py, None, |_job| {
        let fp = FranzParisi::new(&m, t, pairs, seed).map_err(errors::thermo)?;
        fp.curve(&qs).map_err(errors::thermo)
    })?;
    let o = PyDict::new(py);
    o.set_item("q", out1(py, curve.iter().map(|p| p.q).collect()))?;
    o.set_item("v", out1(py, curve.iter().map(|p| p.v).collect()))?;
    o.set_item("dv", out1(py, curve.iter().map(|p| p.dv).collect()))?;
    o.set_item("d2v", out1(py, curve.iter().map(|p| p.d2v).collect()))?;
    o.set_item("v_stderr", out1(py, curve.iter().map(|p| p.v_se).collect()))?;
    o.set_item(
        "dv_stderr",
        out1(py, curve.iter().map(|p| p.dv_se).collect()),
    )?;
    o.set_item(
        "d2v_stderr",
        out1(py, curve.iter().map(|p| p.d2v_se).collect()),
    )?;
    o.set_item("minima", out1(py, FranzParisi::minima(&curve)))?;
    Ok(o)
}

/// The Yu & Huang phase diagram on `mus x sigmas`; see `mfpid.phase_diagram`.
#[pyfunction]
fn phase_diagram<'py>(
    py: Python<'py>,
    mus: &Bound<'py, PyAny>,
    sigmas: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let mu = arrays::vector(mus, "mus")?;
    let sg = arrays::vector(sigmas, "sigmas")?;
    let pts = lib_phase_diagram(&mu, &sg).map_err(errors::thermo)?;
    let (a, b) = (mu.len(), sg.len());
    let o = PyDict::new(py);
    o.set_item("mus", out1(py, mu))?;
    o.set_item("sigmas", out1(py, sg))?;
    o.set_item(
        "speciation_time",
        out2(py, pts.iter().map(|p| p.t_s).collect(), a, b)?,
    )?;
    o.set_item(
        "phase",
        out2(
            py,
            pts.iter().map(|p| f64::from(p.phase.code())).collect(),
            a,
            b,
        )?,
    )?;
    Ok(o)
}

/// The cloning curve `phi(t)` measured and in theory; see `mfpid.cloning_curve`.
#[pyfunction]
#[pyo3(signature = (d, sigma2, clone_times, samples, dt, seed, threads, progress))]
#[allow(clippy::too_many_arguments)]
fn cloning_curve<'py>(
    py: Python<'py>,
    d: i64,
    sigma2: f64,
    clone_times: &Bound<'py, PyAny>,
    samples: i64,
    dt: f64,
    seed: &Bound<'py, PyAny>,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = CloningConfig {
        d: arrays::size(d, "d", 1)?,
        sigma2: arrays::finite(sigma2, "sigma2")?,
        clone_times: arrays::vector(clone_times, "clone_times")?,
        n_samples: arrays::size(samples, "samples", 1)?,
        dt: arrays::finite(dt, "dt")?,
        seed: arrays::seed(seed)?,
    };
    let threads = arrays::threads(threads)?;
    let pts = runner::run(py, progress, |_job| {
        in_pool(threads, || lib_cloning_curve(&cfg))?.map_err(errors::thermo)
    })?;
    let o = PyDict::new(py);
    o.set_item("t", out1(py, pts.iter().map(|p| p.t).collect()))?;
    o.set_item("phi", out1(py, pts.iter().map(|p| p.phi).collect()))?;
    o.set_item(
        "phi_stderr",
        out1(py, pts.iter().map(|p| p.phi_se).collect()),
    )?;
    o.set_item(
        "phi_theory",
        out1(py, pts.iter().map(|p| p.phi_theory).collect()),
    )?;
    Ok(o)
}

/// Register the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(two_cluster_rates, m)?)?;
    m.add_function(wrap_pyfunction!(two_cluster_ift, m)?)?;
    m.add_function(wrap_pyfunction!(franz_parisi, m)?)?;
    m.add_function(wrap_pyfunction!(phase_diagram, m)?)?;
    m.add_function(wrap_pyfunction!(cloning_curve, m)?)?;
    Ok(())
}
