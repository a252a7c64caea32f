//! Figures (line/scatter charts, heat maps, grouped bars as SVG + PNG): the
//! [`mfpid_report::plot`] crate module, shared with the `mfpid` program.

pub use mfpid_report::plot::*;
