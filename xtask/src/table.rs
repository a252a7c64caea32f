//! Result tables written as CSV: the facade's [`mfpid::report::table`], shared with the `mfpid`
//! program.

pub use mfpid::report::table::*;
