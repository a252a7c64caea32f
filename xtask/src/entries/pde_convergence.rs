//! `pde-convergence`: observed orders in space and time of the mfpid-pde solvers (Fokker-Planck
//! 1-D/2-D, Feynman-Kac, monotone HJB, Schrödinger system, Riccati) against exact or reference
//! solutions.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::studies::pde::{convergence_study, ConvergenceRow, StudyLevel};
use crate::table::{Cell, Table};
use anyhow::Result;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "pde-convergence",
    about: "error vs nx / nt with observed orders: FP 1-D (BE/CN/TR-BDF2) and 2-D, Feynman-Kac (Mehler), HJB (LQ), Schrödinger (Gaussian bridge), Riccati (LQG)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let level = if ctx.quick {
        StudyLevel::Quick
    } else {
        StudyLevel::Full
    };
    let rows = convergence_study(level)?;

    let mut table = Table::new(&["solver", "problem", "nx", "nt", "error", "order"]);
    for r in &rows {
        table.push(vec![
            r.solver.as_str().into(),
            r.problem.as_str().into(),
            Cell::from(r.nx),
            Cell::from(r.nt),
            Cell::Num(r.error),
            Cell::Num(r.order.unwrap_or(f64::NAN)),
        ]);
    }

    // one series per (solver, problem); a series refines space if its nx varies, else time
    let mut series: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let key = (r.solver.clone(), r.problem.clone());
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let members = |s: &(String, String)| -> Vec<&ConvergenceRow> {
        rows.iter()
            .filter(|r| r.solver == s.0 && r.problem == s.1)
            .collect()
    };
    let mut space = Chart::new(
        "refinement in space (dt tied to or below h)",
        "cells per axis nx",
        "error",
    )
    .log(true, true);
    let mut time = Chart::new("refinement in time", "steps nt", "error").log(true, true);
    let mut summary = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let m = members(s);
        let in_space = m.windows(2).any(|w| w[0].nx != w[1].nx);
        let pts: Vec<(f64, f64)> = m
            .iter()
            .map(|r| (if in_space { r.nx } else { r.nt } as f64, r.error))
            .collect();
        let last_order = m.last().and_then(|r| r.order).unwrap_or(f64::NAN);
        let label = format!("{} {} (order {:.2})", s.0, s.1, last_order);
        let line = Series::new(label, pts, Mark::LinePoints).color(i);
        if in_space {
            space = space.with(line);
        } else {
            time = time.with(line);
        }
        summary.push(format!(
            "{:<16} {:<18} {} refinement: finest error {:.3e}, observed order {:.3}",
            s.0,
            s.1,
            if in_space { "space" } else { "time " },
            m.last().map(|r| r.error).unwrap_or(f64::NAN),
            last_order
        ));
    }
    plot::save(ctx.dir, "convergence", &[space, time], 2)?;

    Ok(Outcome {
        table,
        config: serde_json::json!({
            "level": if ctx.quick { "quick" } else { "full" },
            "problems": {
                "ou-space / ou-time": "dx = -x dt + dW from N(2, 0.09) on [-6, 6], zero flux, L1 at t = 1 (space: exact Gaussian; time: same-grid CN reference with many steps)",
                "rotating-ou-space": "b = -K x, K = [[1, 0.6], [-0.6, 0.8]], D = 1, N((1.5,-0.5), [[0.2,0.05],[0.05,0.1]]) on [-5,5]^2, Strang/CN, L1 at t = 1 vs Gaussian with DP5 moments",
                "mehler": "-phi_t = phi''/2 - (1.3^2 x^2/2) phi, phi(0.8) = exp(-(x-0.4)^2/0.6), max error at t = 0 vs Mehler-kernel quadrature",
                "lq-value / lq-feedback": "HJB with b = 0, D = 1, V = 2 x^2, J(1) = x^2/2 on [-4,4]; max error of J and u = -J' on |x| <= 1.5 vs Riccati S' = S^2 - 4",
                "gaussian-bridge": "Schrödinger system V = 0, D = 1, N(-1, 0.16) -> N(1, 0.36) on [-5,5], dt = 0.64 h^2, max L1 over t = 1/4, 1/2, 3/4 vs closed form",
                "lqg-closed-form": "dS/dt = S^2 + 1.2 S - 12 from the closed-form S_0, max error over accepted steps, by tolerance 1e-4 .. 1e-12",
            },
        }),
        summary,
    })
}
