//! `mfpid._mfpid.sample_bridge`: sample a bridge from its start to a target law with
//! Euler-Maruyama on the break-aligned grid (as `mfpid sample` does), recording the control
//! energy, the power trace and snapshots of all samples at requested times.

use mfpid_bridge::{Bridge, Target};
use mfpid_sde::observe::{ControlEnergy, Observer, StepView};
use mfpid_sde::{run, Ensemble, Noise, RunConfig, Scheme, SdeError, TimeGrid};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, out1, out2, out3};
use crate::errors::{self, raise, Kind};
use crate::laws::{PyEmpirical, PyMixture, PyProtocol};
use crate::runner::{self, Job, Progress};

/// States of all samples at chosen steps.
struct Snapshots {
    steps: Vec<usize>,
    times: Vec<f64>,
    states: Vec<f64>,
}

impl Observer for Snapshots {
    fn needs_drift(&self) -> bool {
        false
    }
    fn observe(&mut self, v: &StepView<'_>) {
        // a step may be requested more than once (two times closest to one grid point)
        for _ in self.steps.iter().filter(|&&s| s == v.step) {
            self.times.push(v.t);
            self.states.extend_from_slice(v.x);
        }
    }
}

/// What one bridge run returns.
struct Sampled {
    x1: Vec<f64>,
    energy: ControlEnergy,
    snaps: Snapshots,
}

fn go<T: Target>(
    job: &Job,
    bridge: Bridge<T>,
    grid: &TimeGrid,
    mut ens: Ensemble,
    cfg: &RunConfig,
    snap_steps: Vec<usize>,
) -> PyResult<Sampled> {
    let mut drift = bridge;
    // the runner reads the job's token once per step: Ctrl-C stops the run at its next step
    let cfg = &RunConfig {
        cancel: Some(job.cancel.clone()),
        ..cfg.clone()
    };
    let mut energy = ControlEnergy::new();
    let mut snaps = Snapshots {
        steps: snap_steps,
        times: Vec::new(),
        states: Vec::new(),
    };
    let mut prog = Progress::new(job, 0.0, 1.0);
    {
        let mut obs: Vec<&mut dyn Observer> = vec![&mut energy, &mut snaps, &mut prog];
        run(
            &mut drift,
            &Noise::Scalar(1.0),
            grid,
            &mut ens,
            cfg,
            &mut obs,
        )
        .map_err(|e| match e {
            SdeError::Cancelled { .. } => {
                pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted")
            }
            other => errors::solver(format!("running the bridge: {other}")),
        })?;
    }
    Ok(Sampled {
        x1: ens.into_vec(),
        energy,
        snaps,
    })
}

/// Sample `n` paths of the bridge `protocol` -> `target`; see `mfpid.sample_bridge`.
#[pyfunction]
#[pyo3(signature = (protocol, target, n, steps, start, eps, snapshots, seed, threads, progress))]
#[allow(clippy::too_many_arguments)]
fn sample_bridge<'py>(
    py: Python<'py>,
    protocol: &PyProtocol,
    target: &Bound<'py, PyAny>,
    n: i64,
    steps: i64,
    start: Option<&Bound<'py, PyAny>>,
    eps: f64,
    snapshots: Option<&Bound<'py, PyAny>>,
    seed: &Bound<'py, PyAny>,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let p = &protocol.inner;
    let d = p.dim();
    let b = arrays::size(n, "n", 1)?;
    let steps = arrays::size(steps, "steps", 1)?;
    if steps < p.pieces() {
        return Err(errors::invalid(
            "steps",
            format!(
                "{steps} steps cannot cover the protocol's {} pieces (at least one per piece)",
                p.pieces()
            ),
        ));
    }
    let eps = arrays::finite(eps, "eps")?;
    let seed = arrays::seed(seed)?;
    let cfg = RunConfig {
        scheme: Scheme::EulerMaruyama,
        seed,
        threads: arrays::threads(threads)?,
        ..RunConfig::default()
    };
    let grid =
        TimeGrid::aligned(0.0, 1.0, p.breaks(), steps).map_err(|e| errors::invalid("steps", e))?;
    // starts: origin, one point (d,), or rows (m, d) used cyclically (particle i starts at row i mod m)
    let starts: Option<Vec<f64>> = match start {
        None => None,
        Some(s) => {
            let a = arrays::read_any(s, "start")?;
            match a.shape.as_slice() {
                [k] if *k == d => Some(a.data),
                [m, k] if *k == d && *m >= 1 => Some(a.data),
                sh => {
                    return Err(raise(
                        Kind::Shape,
                        Some("start"),
                        format!("expected shape ({d},) (one start point) or (m, {d}) (start points), got {sh:?}"),
                    ))
                }
            }
        }
    };
    let x0: Vec<f64> = match &starts {
        None => vec![0.0; b * d],
        Some(z) => {
            let m = z.len() / d;
            (0..b)
                .flat_map(|i| z[(i % m) * d..(i % m + 1) * d].iter().copied())
                .collect()
        }
    };
    let ens = Ensemble::from_vec(b, d, x0).map_err(|e| errors::invalid("n", e))?;
    let times = grid.times().to_vec();
    let (snap_req, snap_steps): (Vec<f64>, Vec<usize>) = match snapshots {
        None => (Vec::new(), Vec::new()),
        Some(s) => {
            let ts = arrays::vector(s, "snapshots")?;
            let mut idx = Vec::with_capacity(ts.len());
            for (i, &t) in ts.iter().enumerate() {
                if !(0.0..=1.0).contains(&t) {
                    return Err(errors::invalid(
                        "snapshots",
                        format!("snapshots[{i}] = {t} is outside [0, 1]"),
                    ));
                }
                let k = times
                    .iter()
                    .enumerate()
                    .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()))
                    .map(|(k, _)| k)
                    .unwrap_or(0);
                idx.push((k, t));
            }
            // recorded in time order: requested times sorted along with their grid steps
            idx.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            idx.into_iter().map(|(k, t)| (t, k)).unzip()
        }
    };
    let sorted = snap_steps;
    let sampled = if let Ok(g) = target.cast::<PyMixture>() {
        let bridge = make_bridge(p, g.get().inner.clone(), eps, starts)?;
        runner::run(py, progress, |job| {
            go(job, bridge, &grid, ens, &cfg, sorted)
        })?
    } else if let Ok(e) = target.cast::<PyEmpirical>() {
        let bridge = make_bridge(p, e.get().inner.clone(), eps, starts)?;
        runner::run(py, progress, |job| {
            go(job, bridge, &grid, ens, &cfg, sorted)
        })?
    } else {
        return Err(raise(
            Kind::DType,
            Some("target"),
            format!(
                "expected mfpid.GaussianMixture or mfpid.Empirical, got {}",
                target.get_type().name()?
            ),
        ));
    };
    let out = PyDict::new(py);
    let nsnap = sampled.snaps.times.len();
    out.set_item("samples", out2(py, sampled.x1, b, d)?)?;
    out.set_item("times", out1(py, sampled.energy.times.clone()))?;
    out.set_item("power", out1(py, sampled.energy.power.clone()))?;
    out.set_item(
        "cumulative_energy",
        out1(py, sampled.energy.cumulative.clone()),
    )?;
    out.set_item("energy", sampled.energy.total())?;
    out.set_item("energy_stderr", sampled.energy.stderr())?;
    out.set_item(
        "energy_per_coord",
        out1(py, sampled.energy.per_coord.clone()),
    )?;
    out.set_item("energy_per_sample", out1(py, sampled.energy.per_particle))?;
    out.set_item("snapshot_times_requested", out1(py, snap_req))?;
    out.set_item("snapshot_times", out1(py, sampled.snaps.times))?;
    out.set_item("snapshots", out3(py, sampled.snaps.states, nsnap, b, d)?)?;
    out.set_item("seed", seed)?;
    out.set_item("steps", steps)?;
    Ok(out)
}

fn make_bridge<T: Target>(
    p: &mfpid_bridge::Protocol,
    target: T,
    eps: f64,
    starts: Option<Vec<f64>>,
) -> PyResult<Bridge<T>> {
    let mut b = Bridge::new(p, target)
        .map_err(|e| errors::bridge("target", e))?
        .with_eps(eps)
        .map_err(|e| errors::bridge("eps", e))?;
    if let Some(z) = starts {
        b = b.with_starts(z).map_err(|e| errors::bridge("start", e))?;
    }
    Ok(b)
}

/// Register the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sample_bridge, m)?)?;
    Ok(())
}
