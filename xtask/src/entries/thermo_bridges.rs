//! `thermo-bridges`: entropy production along mean-field (MF-PID, quadratic interaction) vs
//! independent-agent PID bridges of mfpid-bridge, and when the fleet commits to a sub-population
//! (cloning curve of the bridge, measured and in theory).

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_thermo::bridges::{
    bridge_rates_1d, commitment_cloning_1d, commitment_theory_1d, mean_field_centres,
};
use mfpid_thermo::speciation::crossing_time;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-bridges",
    about: "entropy production Π(t), Φ(t) of MF-PID vs independent-agent bridges and their commitment curves φ(t)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    // target: two well-separated components with a nonzero mean, so MF and independent centres differ
    let target =
        GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.5, 3.0], vec![0.0625, 0.0625])?;
    let m_tar = target.mean();
    let threshold = 1.75;
    let base = Protocol::geometric(1, 12.0, 0.65, 8)?;
    let nu_mf = mean_field_centres(&base, &[0.0], &m_tar)?;
    let protocols = [
        ("independent", base.clone()),
        ("mean-field", base.clone().with_centres(nu_mf.clone())?),
    ];
    let n_t = if ctx.quick { 25 } else { 97 };
    let times: Vec<f64> = (0..n_t)
        .map(|k| 0.02 + 0.96 * k as f64 / (n_t - 1) as f64)
        .collect();
    let clone_times: Vec<f64> = if ctx.quick {
        vec![0.1, 0.3, 0.5, 0.7, 0.9]
    } else {
        (1..=19).map(|k| 0.05 * k as f64).collect()
    };
    let n_particles = if ctx.quick { 1024 } else { 20_000 };
    let n_grid = if ctx.quick { 1201 } else { 4001 };
    let mut table = Table::new(&[
        "protocol",
        "t",
        "pi",
        "phi",
        "ds_dt",
        "pi_err",
        "commit_theory",
    ]);
    let mut summary = vec![format!(
        "target 0.6 N(0.5, 0.25²) + 0.4 N(3, 0.25²) (mean {:.2}), AdaPID β_i = 12·0.65^i on 8 pieces, start z = 0, D = ½; MF centres ν_i = t_i m̄_tar = {:.3?}",
        m_tar[0], nu_mf
    )];
    let mut c_pi = Chart::new("entropy production Π(t)", "t", "Π");
    let mut c_phi = Chart::new("entropy flow Φ(t) and dS/dt", "t", "rate");
    let mut c_commit = Chart::new("commitment φ(t)", "t", "φ(t)");
    let mut totals = Vec::new();
    for (i, (name, protocol)) in protocols.iter().enumerate() {
        let mut bridge = Bridge::new(protocol, target.clone())?;
        let rates = bridge_rates_1d(&mut bridge, &times, -6.0, 9.0, n_grid)?;
        let commit = commitment_theory_1d(&bridge, &times, -6.0, 9.0, n_grid)?;
        for ((t, r), cth) in times.iter().zip(&rates).zip(&commit) {
            table.push(vec![
                (*name).into(),
                Cell::Num(*t),
                Cell::Num(r.rates.pi),
                Cell::Num(r.rates.phi),
                Cell::Num(r.rates.ds_dt),
                Cell::Num(r.pi_err),
                Cell::Num(*cth),
            ]);
        }
        // ∫ Π dt over [0.02, 0.98] (trapezoid); Π ~ 1/(2t) near the point start, so the lower cut matters
        let total: f64 = times
            .windows(2)
            .zip(rates.windows(2))
            .map(|(t, r)| 0.5 * (t[1] - t[0]) * (r[0].rates.pi + r[1].rates.pi))
            .sum();
        let late: f64 = times
            .windows(2)
            .zip(rates.windows(2))
            .filter(|(t, _)| t[0] >= 0.5)
            .map(|(t, r)| 0.5 * (t[1] - t[0]) * (r[0].rates.pi + r[1].rates.pi))
            .sum();
        totals.push((name.to_string(), total, late));
        let cloned = commitment_cloning_1d(
            &mut bridge,
            &clone_times,
            n_particles,
            1000,
            threshold,
            ctx.seed + i as u64,
        )?;
        let half = 0.5 * (0.52 + 1.0);
        let t_half = crossing_time(&times, &commit, half).ok();
        let worst = cloned
            .iter()
            .map(|p| ((p.phi - p.phi_theory) / p.phi_se.max(1e-12)).abs())
            .fold(0.0, f64::max);
        summary.push(format!(
            "{name}: ∫Π dt over [0.02, 0.98] = {total:.4} (of which t >= 0.5: {late:.4}); commitment φ reaches the midpoint {half:.2} at t = {}; cloning vs theory: max |Δφ|/SE = {worst:.2} over {} split times ({n_particles} pairs)",
            t_half.map(|v| format!("{v:.3}")).unwrap_or_else(|| "none".into()),
            cloned.len()
        ));
        c_pi = c_pi.with(
            Series::new(
                *name,
                times
                    .iter()
                    .zip(&rates)
                    .map(|(t, r)| (*t, r.rates.pi))
                    .collect(),
                Mark::Line,
            )
            .color(i),
        );
        c_phi = c_phi
            .with(
                Series::new(
                    format!("Φ {name}"),
                    times
                        .iter()
                        .zip(&rates)
                        .map(|(t, r)| (*t, r.rates.phi))
                        .collect(),
                    Mark::Line,
                )
                .color(i),
            )
            .with(
                Series::new(
                    format!("dS/dt {name}"),
                    times
                        .iter()
                        .zip(&rates)
                        .map(|(t, r)| (*t, r.rates.ds_dt))
                        .collect(),
                    Mark::Dashed,
                )
                .color(i),
            );
        c_commit = c_commit
            .with(
                Series::new(
                    format!("theory {name}"),
                    times.iter().cloned().zip(commit.iter().cloned()).collect(),
                    Mark::Line,
                )
                .color(i),
            )
            .with(
                Series::new(
                    format!("cloning {name}"),
                    cloned.iter().map(|p| (p.t, p.phi)).collect(),
                    Mark::Points,
                )
                .color(i),
            );
    }
    if totals.len() == 2 {
        let (a, b) = (&totals[0], &totals[1]);
        let less = if a.1 < b.1 { &a.0 } else { &b.0 };
        summary.push(format!(
            "{less} dissipates less over [0.02, 0.98]: {:.4} vs {:.4}",
            a.1.min(b.1),
            a.1.max(b.1)
        ));
    }
    plot::save(ctx.dir, "bridges", &[c_pi, c_phi, c_commit], 3)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "target": { "weights": [0.6, 0.4], "means": [0.5, 3.0], "variances": [0.0625, 0.0625] },
            "protocol": "geometric beta_0 = 12, gamma = 0.65, 8 pieces", "mean_field_centres": nu_mf,
            "times": { "first": times[0], "last": times[times.len() - 1], "points": n_t }, "grid_points": n_grid,
            "clone_times": clone_times, "cloning_pairs": n_particles, "cloning_steps": 1000, "threshold": threshold,
        }),
        summary,
    })
}
