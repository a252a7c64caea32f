//! The registry of reproduction entries. One file per entry; add yours to [`ENTRIES`].

use crate::table::Table;
use anyhow::Result;
use std::path::Path;

pub mod bridge_moments;
pub mod bridge_snapshots;
pub mod bridge_terminal;
pub mod compose_exact;
pub mod compose_mnist;
pub mod compose_unconditional;
pub mod dr_1d_scenarios;
pub mod dr_ar_coupling;
pub mod dr_d_sweep;
pub mod dr_heatmap;
pub mod dr_k_sweep;
pub mod dr_physical;
mod dr_sweep;
pub mod lqg_benchmark;
pub mod mf_general;
pub mod mf_theorem;
pub mod pde_convergence;
pub mod sde_convergence;
pub mod thermo_bridges;
pub mod thermo_collapse;
pub mod thermo_fluctuation;
pub mod thermo_forward_backward;
pub mod thermo_franz_parisi;
pub mod thermo_mnist_speciation;
pub mod thermo_phase_diagram;
pub mod thermo_speciation;

/// What an entry gets: the mode, the seed and the (staging) directory for its figures.
pub struct Ctx<'a> {
    /// Small settings that run in seconds (tests, CI).
    pub quick: bool,
    /// Base seed; entries derive every random stream from it.
    pub seed: u64,
    /// Directory to write figures and extra files into (renamed into place on success).
    pub dir: &'a Path,
    /// `--retrain`: retrain networks otherwise loaded from shipped weights, and overwrite them.
    pub retrain: bool,
}

/// What an entry returns; the harness writes `table.csv` and `record.json` from it.
pub struct Outcome {
    /// The main table (column names are an interface: other tools read them).
    pub table: Table,
    /// The full configuration that produced the table (goes into `record.json`).
    pub config: serde_json::Value,
    /// Short human-readable findings printed after the run and stored in `record.json`.
    pub summary: Vec<String>,
}

/// A registered reproduction.
pub struct Entry {
    /// Name on the command line and directory under `results/`.
    pub name: &'static str,
    /// One line on what it reproduces.
    pub about: &'static str,
    /// Columns left out of snapshot tests (wall times and other machine-dependent values).
    pub snapshot_skip: &'static [&'static str],
    /// The entry itself.
    pub run: fn(&Ctx) -> Result<Outcome>,
}

/// Every registered entry, in the order `cargo xtask reproduce` runs them.
pub const ENTRIES: &[Entry] = &[
    sde_convergence::ENTRY,
    pde_convergence::ENTRY,
    thermo_forward_backward::ENTRY,
    thermo_fluctuation::ENTRY,
    thermo_franz_parisi::ENTRY,
    thermo_phase_diagram::ENTRY,
    thermo_speciation::ENTRY,
    thermo_mnist_speciation::ENTRY,
    thermo_collapse::ENTRY,
    thermo_bridges::ENTRY,
    bridge_terminal::ENTRY,
    bridge_snapshots::ENTRY,
    bridge_moments::ENTRY,
    lqg_benchmark::ENTRY,
    mf_theorem::ENTRY,
    mf_general::ENTRY,
    dr_d_sweep::ENTRY,
    dr_k_sweep::ENTRY,
    dr_ar_coupling::ENTRY,
    dr_heatmap::ENTRY,
    dr_1d_scenarios::ENTRY,
    dr_physical::ENTRY,
    compose_exact::ENTRY,
    compose_mnist::ENTRY,
    compose_unconditional::ENTRY,
];

/// Look an entry up by name.
pub fn find(name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.name == name)
}
