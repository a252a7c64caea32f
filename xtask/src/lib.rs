//! The project runner behind `cargo xtask`: reproduction entries, their harness, figures, benches,
//! network training.

pub mod bench;
pub mod budget;
pub mod entries;
pub mod plot;
pub mod reproduce;
pub mod studies;
pub mod table;
pub mod train;
