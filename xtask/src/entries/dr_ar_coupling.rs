//! `dr-ar-coupling`: demand response with correlated zones (B-nd at d = 8 with AR(1) covariances
//! `Σ_ij = σ² ρ^|i-j|`, ρ = 0, 0.5, 0.8; full-covariance bridge path).

use super::dr_sweep::{self, Layout, Point};
use super::{Ctx, Entry, Outcome};
use crate::table::Cell;
use anyhow::Result;
use mfpid_energy::scenario::{self, RHO_SWEEP};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "dr-ar-coupling",
    about: "demand response, AR(1) zone coupling at d = 8 (ρ = 0, 0.5, 0.8): energy and savings of MF vs IA(0)/IA(m̄)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let settings = dr_sweep::settings(ctx, 4000, 256);
    let points = RHO_SWEEP
        .iter()
        .map(|&rho| {
            Ok(Point {
                x: rho,
                cell: Cell::Num(rho),
                label: format!("ρ = {rho}"),
                fleet: scenario::ar_coupling(rho)?.fleet,
                settings: settings.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let layout = Layout {
        column: "rho",
        energy_scale: 8.0,
        energy_prefix: "E/d ",
        energy_title: "energy per zone E(1)/d, d = 8",
        energy_label: "E/d",
        x_label: "zone correlation ρ",
        figure: "ar_coupling",
    };
    let (table, summary) = dr_sweep::run(ctx.dir, points, &layout)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "scenario": "B-nd at d = 8 with full covariances Σ_ij = σ² ρ^|i-j| (σ = 0.2/0.3 target, 0.5/0.7 initial)",
            "rho": RHO_SWEEP,
            "settings": settings,
        }),
        summary,
    })
}
