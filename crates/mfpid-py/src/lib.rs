//! # mfpid-py
//!
//! The `mfpid` Python package: a thin PyO3 layer over the library crates (not over the CLI). Each
//! wrapped concept lives in one module: [`laws`] (Gaussian mixtures, empirical laws, protocols),
//! `bridge` (sampling a bridge), `fleet` (demand-response fleets and the MF / IA(0) / IA(m̄) /
//! custom-centre comparison, thermal layer), `meanfield` (LQG benchmark, MF fixed point), `thermo`
//! (entropy rates, IFT, Franz-Parisi, speciation/cloning), `pde` (1-D Fokker-Planck). Inputs are
//! checked in `arrays` (dtype, layout, shape, finiteness: errors name the argument), library errors
//! are mapped to `mfpid.Error` subclasses in `errors`, and every run goes through `runner` (GIL
//! released, Ctrl-C polled every 50 ms, progress reported).
//!
//! The Python-facing code is behind the `python` feature, which maturin turns on
//! (`pyproject.toml`); a plain `cargo build --workspace` compiles an empty library and needs no
//! Python. Results are returned to the Python layer (`python/mfpid`) as dicts of NumPy arrays and
//! wrapped there in frozen dataclasses.

#[cfg(feature = "python")]
mod arrays;
#[cfg(feature = "python")]
mod bridge;
#[cfg(feature = "python")]
mod errors;
#[cfg(feature = "python")]
mod fleet;
#[cfg(feature = "python")]
pub mod laws;
#[cfg(feature = "python")]
mod meanfield;
#[cfg(feature = "python")]
mod pde;
#[cfg(feature = "python")]
mod runner;
#[cfg(feature = "python")]
mod thermo;

#[cfg(feature = "python")]
mod module {
    use pyo3::prelude::*;

    /// Native part of the `mfpid` package (import `mfpid`, not this module).
    #[pymodule]
    fn _mfpid(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::laws::register(m)?;
        crate::bridge::register(m)?;
        crate::fleet::register(m)?;
        crate::meanfield::register(m)?;
        crate::thermo::register(m)?;
        crate::pde::register(m)?;
        Ok(())
    }
}
