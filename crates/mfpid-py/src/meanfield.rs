//! The mean-field layer: the LQG benchmark (`mfpid_meanfield::Lqg`) and the quadratic MF-PID
//! fixed point (`mfpid_meanfield::QuadraticMf` solved by Picard or Anderson iteration).

use mfpid_meanfield::{
    Anderson, Criterion, Executor, FixedPointSolver, Law, Lqg, LqgConfig, LqgMethod, Picard,
    QuadraticMf, QuadraticMfConfig, ResidualHistory,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, out1, out2, out3};
use crate::errors::{self, invalid, raise, Kind};
use crate::laws::{PyEmpirical, PyMixture, PyProtocol};
use crate::runner;

fn lqg_method(name: &str) -> PyResult<LqgMethod> {
    match name {
        "MF" => Ok(LqgMethod::MeanField),
        "IA0" => Ok(LqgMethod::IndependentZero),
        "IAm" | "IA-target" => Ok(LqgMethod::IndependentTarget),
        other => Err(invalid(
            "method",
            format!("unknown method {other:?}: use \"MF\", \"IA0\" or \"IAm\""),
        )),
    }
}

fn square(obj: &Bound<'_, PyAny>, arg: &str, d: usize) -> PyResult<Vec<f64>> {
    let (v, r, c) = arrays::matrix(obj, arg, &format!("({d}, {d})"))?;
    if (r, c) != (d, d) {
        return Err(raise(
            Kind::Shape,
            Some(arg),
            format!("expected shape ({d}, {d}) (d from m_tar), got ({r}, {c})"),
        ));
    }
    Ok(v)
}

/// The LQG benchmark; see `mfpid.lqg`.
#[pyfunction]
#[pyo3(signature = (k, q, m_tar, sigma_tar, x0, method, times, particles, steps, seed, threads, progress))]
#[allow(clippy::too_many_arguments)]
fn lqg<'py>(
    py: Python<'py>,
    k: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    m_tar: &Bound<'py, PyAny>,
    sigma_tar: &Bound<'py, PyAny>,
    x0: Option<&Bound<'py, PyAny>>,
    method: &str,
    times: i64,
    particles: i64,
    steps: i64,
    seed: &Bound<'py, PyAny>,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = arrays::vector(m_tar, "m_tar")?;
    let d = m.len();
    if d == 0 {
        return Err(raise(
            Kind::Shape,
            Some("m_tar"),
            "needs d >= 1 coordinates",
        ));
    }
    let kk = square(k, "k", d)?;
    let qq = square(q, "q", d)?;
    let ss = square(sigma_tar, "sigma_tar", d)?;
    let name = |w: &str| match w {
        "K" => "k".to_string(),
        "Q" | "smallest eigenvalue of Q" => "q".to_string(),
        w if w.contains("sigma_tar") => "sigma_tar".to_string(),
        w => w.to_string(),
    };
    let mut cfg = LqgConfig::from_rows(&kk, &qq, m, &ss).map_err(|e| errors::meanfield(e, name))?;
    if let Some(x) = x0 {
        let x = arrays::vector_len(x, "x0", d, "the start point")?;
        cfg = cfg.with_start(x).map_err(|e| errors::meanfield(e, name))?;
    }
    let meth = lqg_method(method)?;
    let n_times = arrays::size(times, "times", 2)?;
    let particles = arrays::size(particles, "particles", 0)?;
    let steps = arrays::size(steps, "steps", 1)?;
    let seed = arrays::seed(seed)?;
    let threads = arrays::threads(threads)?;
    let (sol_pts, e1, s1, s0, sim) = runner::run(py, progress, |job| {
        let lqg = Lqg::new(cfg).map_err(|e| errors::meanfield(e, name))?;
        let sol = lqg.solve(meth).map_err(|e| errors::meanfield(e, name))?;
        job.set_progress(0.5);
        let pts = (0..n_times)
            .map(|i| sol.at(i as f64 / (n_times - 1) as f64))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| errors::meanfield(e, name))?;
        let sim = if particles > 0 {
            let run = || sol.simulate(particles, steps, seed);
            let r = match threads {
                Some(n) => rayon_pool(n)?.install(run),
                None => run(),
            };
            Some(r.map_err(|e| errors::meanfield(e, name))?)
        } else {
            None
        };
        Ok((pts, sol.energy1(), sol.sigma1(), sol.s0.clone(), sim))
    })?;
    let nt = sol_pts.len();
    let o = PyDict::new(py);
    o.set_item("method", meth.label())?;
    o.set_item("d", d)?;
    o.set_item("energy", e1)?;
    o.set_item("sigma1", out2(py, s1, d, d)?)?;
    o.set_item("s0", out1(py, s0))?;
    o.set_item("times", out1(py, sol_pts.iter().map(|p| p.t).collect()))?;
    o.set_item(
        "mean",
        out2(
            py,
            sol_pts.iter().flat_map(|p| p.m.clone()).collect(),
            nt,
            d,
        )?,
    )?;
    o.set_item(
        "s",
        out2(
            py,
            sol_pts.iter().flat_map(|p| p.s.clone()).collect(),
            nt,
            d,
        )?,
    )?;
    o.set_item(
        "sigma",
        out3(
            py,
            sol_pts.iter().flat_map(|p| p.sigma.clone()).collect(),
            nt,
            d,
            d,
        )?,
    )?;
    o.set_item(
        "s_matrix",
        out3(
            py,
            sol_pts.iter().flat_map(|p| p.s_mat.clone()).collect(),
            nt,
            d,
            d,
        )?,
    )?;
    o.set_item("power", out1(py, sol_pts.iter().map(|p| p.power).collect()))?;
    o.set_item(
        "cumulative_energy",
        out1(py, sol_pts.iter().map(|p| p.energy).collect()),
    )?;
    match sim {
        Some(s) => {
            let sd = PyDict::new(py);
            sd.set_item("energy", s.energy)?;
            sd.set_item("energy_stderr", s.energy_stderr)?;
            sd.set_item("mean1", out1(py, s.mean1))?;
            sd.set_item("cov1", out2(py, s.cov1, d, d)?)?;
            sd.set_item("times", out1(py, s.times))?;
            sd.set_item("power", out1(py, s.power))?;
            o.set_item("simulation", sd)?;
        }
        None => o.set_item("simulation", py.None())?,
    }
    Ok(o)
}

/// A dedicated rayon pool of `n` threads (results do not depend on `n`).
pub fn rayon_pool(n: usize) -> PyResult<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| errors::solver(format!("thread pool: {e}")))
}

fn mf_law(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Law> {
    if let Ok(g) = obj.cast::<PyMixture>() {
        return Ok(Law::Mixture(g.get().inner.clone()));
    }
    if let Ok(e) = obj.cast::<PyEmpirical>() {
        use mfpid_bridge::Target;
        let e = &e.get().inner;
        return Law::points(e.dim(), e.points().to_vec())
            .map_err(|err| errors::meanfield(err, |_| arg.to_string()));
    }
    Err(raise(
        Kind::DType,
        Some(arg),
        "expected mfpid.GaussianMixture or mfpid.Empirical",
    ))
}

/// The quadratic MF-PID fixed point; see `mfpid.quadratic_mf`.
#[pyfunction]
#[pyo3(signature = (protocol, p_in, p_tar, particles, steps, eps, solver, tol, max_iter, start_amplitude, seed, start_seed, progress))]
#[allow(clippy::too_many_arguments)]
fn quadratic_mf<'py>(
    py: Python<'py>,
    protocol: &PyProtocol,
    p_in: &Bound<'py, PyAny>,
    p_tar: &Bound<'py, PyAny>,
    particles: i64,
    steps: i64,
    eps: f64,
    solver: &str,
    tol: f64,
    max_iter: i64,
    start_amplitude: f64,
    seed: &Bound<'py, PyAny>,
    start_seed: &Bound<'py, PyAny>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let p = &protocol.inner;
    let (li, lt) = (mf_law(p_in, "p_in")?, mf_law(p_tar, "p_tar")?);
    let mut cfg = QuadraticMfConfig::new(p.breaks().to_vec(), p.betas().to_vec());
    cfg.n_particles = arrays::size(particles, "particles", 2)?;
    cfg.n_steps = arrays::size(steps, "steps", 1)?;
    cfg.eps = arrays::finite(eps, "eps")?;
    cfg.seed = arrays::seed(seed)?;
    cfg.start_seed = arrays::seed(start_seed)
        .map_err(|_| invalid("start_seed", "must be an integer in [0, 2**64)"))?;
    let tol = arrays::finite(tol, "tol")?;
    let max_iter = arrays::size(max_iter, "max_iter", 1)?;
    let amp = arrays::finite(start_amplitude, "start_amplitude")?;
    let solver_name = solver.to_string();
    let d = p.dim();
    let m = p.pieces();
    let name = |w: &str| w.to_string();
    let (sol, hist) = runner::run(py, progress, move |job| {
        let mut prob = QuadraticMf::new(cfg, li, lt).map_err(|e| errors::meanfield(e, name))?;
        let mut s: Box<dyn FixedPointSolver> = match solver_name.as_str() {
            "picard" => Box::new(Picard::new(1.0).map_err(|e| errors::meanfield(e, name))?),
            "anderson" => {
                Box::new(Anderson::new(5, 1.0, 1e-10).map_err(|e| errors::meanfield(e, name))?)
            }
            other => {
                return Err(invalid(
                    "solver",
                    format!("unknown solver {other:?}: use \"picard\" or \"anderson\""),
                ))
            }
        };
        let exec = Executor::new(tol, max_iter, Criterion::Step)
            .map_err(|e| errors::meanfield(e, name))?;
        let nu0 = prob
            .perturbed_start(amp)
            .map_err(|e| errors::meanfield(e, name))?;
        let mut hist = ResidualHistory::default();
        job.set_progress(0.05);
        let sol = prob
            .solve(s.as_mut(), &exec, nu0, &mut [&mut hist])
            .map_err(|e| errors::meanfield(e, name))?;
        Ok((sol, hist))
    })?;
    let o = PyDict::new(py);
    o.set_item("centres", out2(py, sol.outcome.x.clone(), m, d)?)?;
    o.set_item("interpolant", out2(py, sol.interpolant.clone(), m, d)?)?;
    o.set_item(
        "exact_fixed_point",
        out2(py, sol.exact_fixed_point.clone(), m, d)?,
    )?;
    o.set_item("fixed_point_stderr", out2(py, sol.fp_stderr.clone(), m, d)?)?;
    o.set_item("iterations", sol.outcome.iterations)?;
    o.set_item("solver", sol.outcome.solver.clone())?;
    o.set_item("steps_history", out1(py, hist.steps))?;
    o.set_item("residuals", out1(py, sol.outcome.residuals.clone()))?;
    o.set_item("max_dev_over_dm", sol.max_dev_over_dm)?;
    o.set_item("max_z_interpolant", sol.max_z_interpolant)?;
    o.set_item("within_3_fp_errors", sol.within_3_fp_errors)?;
    o.set_item("energy", sol.simulation.energy)?;
    o.set_item("energy_stderr", sol.simulation.energy_stderr)?;
    o.set_item(
        "midpoint_means",
        out2(py, sol.simulation.mid_mean.clone(), m, d)?,
    )?;
    o.set_item(
        "terminal_mean",
        out1(py, sol.simulation.terminal_mean.clone()),
    )?;
    Ok(o)
}

/// Register the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lqg, m)?)?;
    m.add_function(wrap_pyfunction!(quadratic_mf, m)?)?;
    Ok(())
}
