//! Laws and protocols: `mfpid.GaussianMixture`, `mfpid.Empirical`, `mfpid.Protocol`, each a frozen
//! wrapper over the validated library value (`mfpid_bridge::{GaussianMixture, Empirical, Protocol}`).

use mfpid_bridge::{Covariance, Empirical, GaussianMixture, Protocol, Target};
use pyo3::prelude::*;

use crate::arrays::{self, out1, out2, out3};
use crate::errors::{self, invalid, raise, Kind};

/// A Gaussian mixture `sum_k pi_k N(m_k, Sigma_k)` on `R^d`.
#[pyclass(frozen, name = "GaussianMixture", module = "mfpid")]
pub struct PyMixture {
    /// The validated mixture.
    pub inner: GaussianMixture,
    /// The weights as given (unnormalised), as the fleet layer takes them.
    pub raw_weights: Vec<f64>,
}

impl PyMixture {
    /// Build from checked arrays; `prefix` names the argument in errors (e.g. `"p_in."`).
    pub fn build(
        weights: &Bound<'_, PyAny>,
        means: &Bound<'_, PyAny>,
        std: Option<&Bound<'_, PyAny>>,
        variance: Option<&Bound<'_, PyAny>>,
        diag: Option<&Bound<'_, PyAny>>,
        cov: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (m, k, d) = arrays::matrix(means, "means", "(K, d)")?;
        if k == 0 || d == 0 {
            return Err(raise(
                Kind::Shape,
                Some("means"),
                format!("needs K >= 1 components and d >= 1 coordinates, got shape ({k}, {d})"),
            ));
        }
        let w = arrays::vector_len(weights, "weights", k, "one weight per row of means")?;
        if let Some(i) = w.iter().position(|&x| x <= 0.0) {
            return Err(invalid(
                "weights",
                format!("weights[{i}] = {} must be > 0", w[i]),
            ));
        }
        let given: Vec<&str> = [
            ("std", std),
            ("variance", variance),
            ("diag", diag),
            ("cov", cov),
        ]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| *n)
        .collect();
        if given.len() != 1 {
            return Err(invalid(
                "std",
                format!(
                    "give exactly one of std=, variance=, diag=, cov= for the spread (got {})",
                    if given.is_empty() {
                        "none".to_string()
                    } else {
                        given.join(", ")
                    }
                ),
            ));
        }
        let positive = |v: &[f64], arg: &str| -> PyResult<()> {
            match v.iter().position(|&x| x <= 0.0) {
                Some(i) => Err(invalid(arg, format!("{arg}[{i}] = {} must be > 0", v[i]))),
                None => Ok(()),
            }
        };
        let covariance = if let Some(s) = std {
            let s = arrays::vector_len(s, "std", k, "one standard deviation per component")?;
            positive(&s, "std")?;
            // Sigma_k = std_k^2 I, as the `mfpid` program's `std =` does
            Covariance::Isotropic(s.iter().map(|x| x * x).collect())
        } else if let Some(v) = variance {
            let v = arrays::vector_len(v, "variance", k, "one variance per component")?;
            positive(&v, "variance")?;
            Covariance::Isotropic(v)
        } else if let Some(dg) = diag {
            let (v, r, c) = arrays::matrix(dg, "diag", "(K, d)")?;
            if (r, c) != (k, d) {
                return Err(raise(
                    Kind::Shape,
                    Some("diag"),
                    format!("expected shape ({k}, {d}) like means, got ({r}, {c})"),
                ));
            }
            positive(&v, "diag")?;
            Covariance::Diagonal(v)
        } else {
            let c = arrays::tensor3(cov.expect("one spread given"), "cov", "(K, d, d)")?;
            if c.shape != [k, d, d] {
                return Err(raise(
                    Kind::Shape,
                    Some("cov"),
                    format!("expected shape ({k}, {d}, {d}), got {:?}", c.shape),
                ));
            }
            Covariance::Full(c.data)
        };
        let arg = match &covariance {
            Covariance::Full(_) => "cov",
            _ => "means",
        };
        let inner = GaussianMixture::new(d, w.clone(), m, covariance)
            .map_err(|e| errors::bridge(arg, e))?;
        Ok(Self {
            inner,
            raw_weights: w,
        })
    }
}

#[pymethods]
impl PyMixture {
    /// GaussianMixture(weights, means, *, std=None, variance=None, diag=None, cov=None)
    #[new]
    #[pyo3(signature = (weights, means, *, std = None, variance = None, diag = None, cov = None))]
    fn new(
        weights: &Bound<'_, PyAny>,
        means: &Bound<'_, PyAny>,
        std: Option<&Bound<'_, PyAny>>,
        variance: Option<&Bound<'_, PyAny>>,
        diag: Option<&Bound<'_, PyAny>>,
        cov: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Self::build(weights, means, std, variance, diag, cov)
    }

    /// Dimension `d`.
    #[getter]
    fn d(&self) -> usize {
        self.inner.dim()
    }

    /// Number of components `K`.
    #[getter]
    fn components(&self) -> usize {
        self.inner.components()
    }

    /// Normalised weights, shape `(K,)`.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.weights())
    }

    /// Component means, shape `(K, d)`.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        out2(
            py,
            self.inner.means().to_vec(),
            self.inner.components(),
            self.inner.dim(),
        )
    }

    /// Component covariances as dense matrices, shape `(K, d, d)`.
    #[getter]
    fn covariances<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (k, d) = (self.inner.components(), self.inner.dim());
        let mut v = vec![0.0; k * d * d];
        for (c, block) in v.chunks_exact_mut(d * d).enumerate() {
            self.inner.component_covariance(c, block);
        }
        out3(py, v, k, d, d)
    }

    /// Mixture mean `sum_k pi_k m_k`, shape `(d,)`.
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.mean())
    }

    /// Mixture covariance, shape `(d, d)`.
    fn covariance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let d = self.inner.dim();
        out2(py, self.inner.covariance(), d, d)
    }

    /// `log p(x)` for each row of `x` (shape `(n, d)`), shape `(n,)`.
    fn log_pdf<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let d = self.inner.dim();
        let (v, _, c) = arrays::matrix(x, "x", "(n, d)")?;
        if c != d {
            return Err(raise(
                Kind::Shape,
                Some("x"),
                format!("rows have {c} coordinates, the mixture has d = {d}"),
            ));
        }
        let lp = v
            .chunks_exact(d)
            .map(|r| self.inner.log_pdf(r).map_err(|e| errors::bridge("x", e)))
            .collect::<PyResult<Vec<f64>>>()?;
        Ok(out1(py, lp))
    }

    fn __repr__(&self) -> String {
        format!(
            "GaussianMixture(d={}, components={})",
            self.inner.dim(),
            self.inner.components()
        )
    }
}

/// An empirical law: weighted points `sum_j omega_j delta(x - x_j)`.
#[pyclass(frozen, name = "Empirical", module = "mfpid")]
pub struct PyEmpirical {
    /// The validated point cloud.
    pub inner: Empirical,
    weights: Option<Vec<f64>>,
}

#[pymethods]
impl PyEmpirical {
    /// Empirical(points, weights=None)
    #[new]
    #[pyo3(signature = (points, weights = None))]
    fn new(points: &Bound<'_, PyAny>, weights: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let (p, n, d) = arrays::matrix(points, "points", "(N, d)")?;
        if n == 0 || d == 0 {
            return Err(raise(
                Kind::Shape,
                Some("points"),
                format!("needs N >= 1 points of d >= 1 coordinates, got shape ({n}, {d})"),
            ));
        }
        let (inner, weights) = match weights {
            None => (
                Empirical::new(d, p).map_err(|e| errors::bridge("points", e))?,
                None,
            ),
            Some(w) => {
                let w = arrays::vector_len(w, "weights", n, "one weight per point")?;
                let e = Empirical::weighted(d, p, w.clone())
                    .map_err(|e| errors::bridge("weights", e))?;
                (e, Some(w))
            }
        };
        Ok(Self { inner, weights })
    }

    /// Dimension `d`.
    #[getter]
    fn d(&self) -> usize {
        self.inner.dim()
    }

    /// The points, shape `(N, d)`.
    #[getter]
    fn points<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        out2(
            py,
            self.inner.points().to_vec(),
            self.inner.len(),
            self.inner.dim(),
        )
    }

    /// The weights as given, or `None` for equal weights.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.weights.clone().map(|w| out1(py, w))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Empirical(points={}, d={})",
            self.inner.len(),
            self.inner.dim()
        )
    }
}

/// A piecewise-constant protocol `beta_t` with centres `nu_t` on pieces `[t_i, t_{i+1})`.
#[pyclass(frozen, name = "Protocol", module = "mfpid")]
#[derive(Clone)]
pub struct PyProtocol {
    /// The validated protocol.
    pub inner: Protocol,
}

fn dim_arg(d: i64) -> PyResult<usize> {
    arrays::size(d, "d", 1)
}

#[pymethods]
impl PyProtocol {
    /// PID: `beta = 0` on one piece (a Brownian bridge).
    #[staticmethod]
    fn pid(d: i64) -> PyResult<Self> {
        let inner = Protocol::pid(dim_arg(d)?).map_err(|e| errors::bridge("d", e))?;
        Ok(Self { inner })
    }

    /// H-PID: constant `beta` on one piece.
    #[staticmethod]
    fn constant(d: i64, beta: f64) -> PyResult<Self> {
        let inner = Protocol::constant(dim_arg(d)?, arrays::finite(beta, "beta")?)
            .map_err(|e| errors::bridge("beta", e))?;
        Ok(Self { inner })
    }

    /// AdaPID: `beta_i = beta0 * gamma**i` on `pieces` equal pieces.
    #[staticmethod]
    #[pyo3(signature = (d, beta0 = 12.0, gamma = 0.65, pieces = 8))]
    fn geometric(d: i64, beta0: f64, gamma: f64, pieces: i64) -> PyResult<Self> {
        let m = arrays::size(pieces, "pieces", 1)?;
        let b0 = arrays::finite(beta0, "beta0")?;
        let g = arrays::finite(gamma, "gamma")?;
        let inner =
            Protocol::geometric(dim_arg(d)?, b0, g, m).map_err(|e| errors::bridge("beta0", e))?;
        Ok(Self { inner })
    }

    /// User schedule: `breaks` (`0 = t_0 < ... < t_M = 1`) and `betas` (one per piece, `>= 0`).
    #[staticmethod]
    fn piecewise(d: i64, breaks: &Bound<'_, PyAny>, betas: &Bound<'_, PyAny>) -> PyResult<Self> {
        let br = arrays::vector(breaks, "breaks")?;
        let be = arrays::vector(betas, "betas")?;
        let inner = Protocol::piecewise(dim_arg(d)?, br, be).map_err(|e| {
            let arg = if matches!(e, mfpid_bridge::BridgeError::BadBreaks { .. }) {
                "breaks"
            } else {
                "betas"
            };
            errors::bridge(arg, e)
        })?;
        Ok(Self { inner })
    }

    /// The same protocol with centres `nu`: shape `(d,)` (every piece) or `(pieces, d)`.
    fn with_centres(&self, centres: &Bound<'_, PyAny>) -> PyResult<Self> {
        let nu = centres_arg(centres, "centres", self.inner.pieces(), self.inner.dim())?;
        let inner = self
            .inner
            .clone()
            .with_centres(nu)
            .map_err(|e| errors::bridge("centres", e))?;
        Ok(Self { inner })
    }

    /// Dimension `d`.
    #[getter]
    fn d(&self) -> usize {
        self.inner.dim()
    }

    /// Number of pieces `M`.
    #[getter]
    fn pieces(&self) -> usize {
        self.inner.pieces()
    }

    /// Breaks `t_0 .. t_M`, shape `(M + 1,)`.
    #[getter]
    fn breaks<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.breaks().to_vec())
    }

    /// `beta_i` per piece, shape `(M,)`.
    #[getter]
    fn betas<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        out1(py, self.inner.betas().to_vec())
    }

    /// Centres `nu_i`, shape `(M, d)`.
    #[getter]
    fn centres<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        out2(
            py,
            self.inner.centres().to_vec(),
            self.inner.pieces(),
            self.inner.dim(),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "Protocol(d={}, pieces={}, betas={:?})",
            self.inner.dim(),
            self.inner.pieces(),
            self.inner.betas()
        )
    }
}

/// Centres given as one row `(d,)` for every piece or one row per piece `(pieces, d)`; returns
/// the row-major `pieces x d` schedule.
pub fn centres_arg(
    obj: &Bound<'_, PyAny>,
    arg: &str,
    pieces: usize,
    d: usize,
) -> PyResult<Vec<f64>> {
    let a = arrays::read_any(obj, arg)?;
    match a.shape.as_slice() {
        [n] if *n == d => Ok(a.data.iter().copied().cycle().take(pieces * d).collect()),
        [m, n] if *m == pieces && *n == d => Ok(a.data),
        s => Err(raise(
            Kind::Shape,
            Some(arg),
            format!("expected shape ({d},) (one centre for all pieces) or ({pieces}, {d}) (one per piece), got {s:?}"),
        )),
    }
}

/// Register the classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMixture>()?;
    m.add_class::<PyEmpirical>()?;
    m.add_class::<PyProtocol>()?;
    Ok(())
}
