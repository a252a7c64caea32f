//! Benchmarks run by `cargo xtask bench NAME`, each measured side by side with its reference.

pub mod energy;
pub mod fleet;
pub mod python;
pub mod sde;
