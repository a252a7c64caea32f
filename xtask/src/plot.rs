//! Figures (line/scatter charts, heat maps, grouped bars as SVG + PNG): the facade's
//! [`mfpid::report::plot`], shared with the `mfpid` program.

pub use mfpid::report::plot::*;
