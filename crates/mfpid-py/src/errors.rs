//! Library errors and argument checks as `mfpid.Error` subclasses (defined in
//! `python/mfpid/_errors.py`). Every raised error carries the Python argument's name in
//! `exc.argument` and as the message prefix `"argument: ..."`.

use pyo3::prelude::*;

/// The exception classes of `mfpid._errors` raised from Rust.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Bad value (negative size, out of range, inconsistent lengths ...): `InvalidArgument`.
    Invalid,
    /// Wrong array shape: `ShapeError`.
    Shape,
    /// Wrong dtype or not convertible to float64: `DTypeError`.
    DType,
    /// Non-contiguous array: `LayoutError`.
    Layout,
    /// NaN or infinity: `NonFiniteError`.
    NonFinite,
    /// Covariance not symmetric positive definite: `NotPositiveDefiniteError`.
    NotPsd,
    /// The numerics failed (no convergence, unstable step): `SolverError`.
    Solver,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Invalid => "InvalidArgument",
            Kind::Shape => "ShapeError",
            Kind::DType => "DTypeError",
            Kind::Layout => "LayoutError",
            Kind::NonFinite => "NonFiniteError",
            Kind::NotPsd => "NotPositiveDefiniteError",
            Kind::Solver => "SolverError",
        }
    }
}

/// An exception of class `kind` about argument `arg` (`None` for errors not tied to one argument).
pub fn raise(kind: Kind, arg: Option<&str>, msg: impl std::fmt::Display) -> PyErr {
    let text = match arg {
        Some(a) => format!("{a}: {msg}"),
        None => msg.to_string(),
    };
    Python::attach(|py| {
        let made = py
            .import("mfpid._errors")
            .and_then(|m| m.getattr(kind.class()))
            .and_then(|c| c.call1((text.clone(), arg)));
        match made {
            Ok(inst) => PyErr::from_value(inst),
            Err(e) => e,
        }
    })
}

/// `InvalidArgument` about `arg`.
pub fn invalid(arg: &str, msg: impl std::fmt::Display) -> PyErr {
    raise(Kind::Invalid, Some(arg), msg)
}

/// A bridge-layer error from constructing something out of argument `arg`.
pub fn bridge(arg: &str, e: mfpid_bridge::BridgeError) -> PyErr {
    use mfpid_bridge::BridgeError as B;
    use mfpid_bridge::{MixtureDefect as D, MixtureField as F};
    let kind = match &e {
        B::NotPositiveDefinite { .. } => Kind::NotPsd,
        // a mixture's weights are plain arguments; a variance that is not > 0 (or not finite)
        // cannot be a covariance; a non-finite mean or covariance entry is non-finite
        B::InvalidMixture { field, defect, .. } => match (field, defect) {
            (F::Weights, _) => Kind::Invalid,
            (F::Variances, _) => Kind::NotPsd,
            (_, D::NotFinite) => Kind::NonFinite,
            _ => Kind::Invalid,
        },
        B::NonFinite { .. } => Kind::NonFinite,
        B::DimensionMismatch { .. } | B::BadLength { .. } | B::PieceCount { .. } => Kind::Shape,
        _ => Kind::Invalid,
    };
    raise(kind, Some(arg), e)
}

/// An energy-layer error; laws are named by their Python arguments `p_in` / `p_tar`.
pub fn energy(e: mfpid_energy::EnergyError) -> PyErr {
    use mfpid_energy::EnergyError as E;
    match e {
        E::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"),
        E::NotPositiveDefinite { law, .. } => raise(Kind::NotPsd, Some(law), e),
        E::ZeroWeight { law, .. } => raise(Kind::Invalid, Some(law), e),
        E::InvalidLaw { law, source } => bridge(law, source),
        E::DimensionMismatch { .. } => raise(Kind::Shape, Some("p_tar"), e),
        E::NoAgents => raise(Kind::Invalid, Some("agents"), e),
        E::Invalid { field, .. } => raise(Kind::Invalid, Some(field), e),
        // a temperature outside the plausible °C range: named by its argument (`outdoor_c`,
        // `means_c`, ...), the message without the repeated name
        E::Implausible { ref field, .. } => {
            let arg = field.split('[').next().unwrap_or_default().to_string();
            let text = e.to_string();
            let msg = text.split_once(" = ").map_or(text.as_str(), |(_, m)| m);
            raise(Kind::Invalid, Some(&arg), msg)
        }
        E::CentreLength { .. } => raise(Kind::Shape, Some("methods"), e),
        E::Bridge(b) => bridge("protocol", b),
        E::Sde(_) => raise(Kind::Solver, None, e),
    }
}

/// A numerical failure (no convergence, unstable step, ...) not tied to one argument.
pub fn solver(msg: impl std::fmt::Display) -> PyErr {
    raise(Kind::Solver, None, msg)
}

/// A mean-field-layer error; `arg` maps the library's field name to the Python argument.
pub fn meanfield(e: mfpid_meanfield::MeanFieldError, arg: impl Fn(&str) -> String) -> PyErr {
    use mfpid_meanfield::MeanFieldError as M;
    let (kind, what) = match &e {
        M::BadLength { what, .. } | M::ZeroDimension { what } => (Kind::Shape, Some(*what)),
        M::NonFinite { what, .. } => (Kind::NonFinite, Some(*what)),
        M::OutOfRange { what, .. } if what.contains("sigma_tar") => {
            (Kind::NotPsd, Some("sigma_tar"))
        }
        M::OutOfRange { what, .. } | M::Empty { what } => (Kind::Invalid, Some(*what)),
        M::BadWeights { .. } => (Kind::Invalid, Some("weights")),
        M::Bridge(b) => return bridge(&arg("protocol"), b.clone()),
        _ => (Kind::Solver, None),
    };
    let a = what.map(arg);
    raise(kind, a.as_deref(), e)
}

/// A thermodynamics-layer error (argument names as the library's fields).
pub fn thermo(e: mfpid_thermo::ThermoError) -> PyErr {
    use mfpid_thermo::ThermoError as T;
    let (kind, arg) = match &e {
        T::NonPositiveVariance { .. } => (Kind::Invalid, Some("sigma2")),
        T::TimeOutOfRange { .. } => (Kind::Invalid, Some("t")),
        T::NonPositiveOverlap { .. } => (Kind::Invalid, Some("q")),
        T::OutOfRange { what, .. } => (Kind::Invalid, Some(*what)),
        T::DimensionMismatch { what, .. } => (Kind::Shape, Some(*what)),
        T::TooFew { name, .. } => (Kind::Invalid, Some(*name)),
        T::NonFinite { .. } => (Kind::NonFinite, None),
        _ => (Kind::Solver, None),
    };
    raise(kind, arg, e)
}

/// A grid-solver error.
pub fn pde(e: mfpid_pde::PdeError) -> PyErr {
    use mfpid_pde::PdeError as P;
    let (kind, arg) = match &e {
        P::OutOfRange { what, .. } => (Kind::Invalid, Some(*what)),
        P::InvalidGrid { .. } => (Kind::Invalid, Some("grid")),
        P::DimensionMismatch { what, .. } => (Kind::Shape, Some(*what)),
        P::NonFinite { what, .. } => (Kind::NonFinite, Some(*what)),
        P::InvalidDensity { what, .. } => (Kind::Invalid, Some(*what)),
        _ => (Kind::Solver, None),
    };
    raise(kind, arg, e)
}
