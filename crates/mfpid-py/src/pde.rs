//! The grid solvers' 1-D Fokker-Planck equation `dp/dt = -(b p)' + (D/2) p''`
//! (`mfpid_pde::FokkerPlanck1d`, Scharfetter-Gummel fluxes, implicit steps), with the drift given
//! as face velocities: one row `(n + 1,)` (constant in time) or a table `(T, n + 1)` at
//! `drift_times` (linear in time between rows), as `mfpid_pde::FaceTable` takes it.

use mfpid_pde::{Boundary, FaceTable, FokkerPlanck1d, FpConfig, Grid1d, TimeScheme};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, out1, out2};
use crate::errors::{self, invalid, raise, Kind};
use crate::runner;

fn scheme(s: &str) -> PyResult<TimeScheme> {
    match s {
        "backward_euler" => Ok(TimeScheme::BackwardEuler),
        "crank_nicolson" => Ok(TimeScheme::CrankNicolson),
        "tr_bdf2" => Ok(TimeScheme::TrBdf2),
        o => Err(invalid(
            "scheme",
            format!("{o:?}: use \"backward_euler\", \"crank_nicolson\" or \"tr_bdf2\""),
        )),
    }
}

fn boundary(s: &str) -> PyResult<Boundary> {
    match s {
        "zero_flux" => Ok(Boundary::ZeroFlux),
        "periodic" => Ok(Boundary::Periodic),
        o => Err(invalid(
            "boundary",
            format!("{o:?}: use \"zero_flux\" or \"periodic\""),
        )),
    }
}

/// Solve the 1-D Fokker-Planck equation; see `mfpid.fokker_planck_1d`.
#[pyfunction]
#[pyo3(signature = (p0, lo, hi, t0, t1, steps, drift, drift_times, diffusion, scheme_name, boundary_name, record_every, progress))]
#[allow(clippy::too_many_arguments)]
fn fokker_planck_1d<'py>(
    py: Python<'py>,
    p0: &Bound<'py, PyAny>,
    lo: f64,
    hi: f64,
    t0: f64,
    t1: f64,
    steps: i64,
    drift: &Bound<'py, PyAny>,
    drift_times: Option<&Bound<'py, PyAny>>,
    diffusion: f64,
    scheme_name: &str,
    boundary_name: &str,
    record_every: i64,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut p = arrays::vector(p0, "p0")?;
    let n = p.len();
    let grid = Grid1d::new(arrays::finite(lo, "lo")?, arrays::finite(hi, "hi")?, n)
        .map_err(errors::pde)?;
    let (t0, t1) = (arrays::finite(t0, "t0")?, arrays::finite(t1, "t1")?);
    if t1 <= t0 {
        return Err(invalid("t1", format!("{t1} must be > t0 = {t0}")));
    }
    let steps = arrays::size(steps, "steps", 1)?;
    let every = arrays::size(record_every, "record_every", 0)?;
    let table = match drift_times {
        None => FaceTable::constant(arrays::vector_len(drift, "drift", n + 1, "one velocity per face")?),
        Some(ts) => {
            let ts = arrays::vector(ts, "drift_times")?;
            let (v, r, c) = arrays::matrix(drift, "drift", "(T, n + 1)")?;
            if (r, c) != (ts.len(), n + 1) {
                return Err(raise(Kind::Shape, Some("drift"), format!("expected shape ({}, {}) (one row of face velocities per drift time), got ({r}, {c})", ts.len(), n + 1)));
            }
            FaceTable::new(ts, n + 1, v)
        }
    }
    .map_err(|e| match e {
        mfpid_pde::PdeError::OutOfRange { .. } => raise(Kind::Invalid, Some("drift_times"), e),
        other => errors::pde(other),
    })?;
    let cfg = FpConfig {
        diffusion: arrays::finite(diffusion, "diffusion")?,
        boundary: boundary(boundary_name)?,
        scheme: scheme(scheme_name)?,
        max_peclet: None,
    };
    let mut fp = FokkerPlanck1d::new(grid, cfg).map_err(errors::pde)?;
    let dt = (t1 - t0) / steps as f64;
    let (p, rec_t, rec_p) = runner::run(py, progress, |job| {
        let (mut rt, mut rp) = (vec![t0], p.clone());
        for k in 0..steps {
            if job.cancelled() {
                return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(
                    "interrupted",
                ));
            }
            let t = t0 + k as f64 * dt;
            fp.step(&mut p, t, dt, &table).map_err(errors::pde)?;
            if every > 0 && ((k + 1) % every == 0 || k + 1 == steps) {
                rt.push(t0 + (k + 1) as f64 * dt);
                rp.extend_from_slice(&p);
            }
            job.set_progress((k + 1) as f64 / steps as f64);
        }
        Ok((p, rt, rp))
    })?;
    let nr = rec_t.len();
    let o = PyDict::new(py);
    o.set_item("x", out1(py, grid.centers()))?;
    o.set_item("p", out1(py, p.clone()))?;
    o.set_item("mass", grid.integrate(&p))?;
    o.set_item("mean", grid.mean(&p))?;
    o.set_item("record_times", out1(py, rec_t))?;
    o.set_item("record", out2(py, rec_p, nr, n)?)?;
    Ok(o)
}

/// Register the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fokker_planck_1d, m)?)?;
    Ok(())
}
