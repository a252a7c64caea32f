//! Result tables written as CSV: the [`mfpid_report::table`] crate module, shared with the `mfpid`
//! program.

pub use mfpid_report::table::*;
