//! `sde-convergence`: strong and weak errors against step size for every integrator, with fitted orders.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::studies::sde::{
    fit_orders, ode_errors, sde_errors, ErrorPoint, FittedOrder, StudyConfig, GROUPS, ODE_GROUPS,
};
use crate::table::{Cell, Table};
use anyhow::Result;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "sde-convergence",
    about: "strong/weak/ODE error vs step size for EM, Milstein, Heun, SRA1, RK4 on GBM/OU/sine/ODE with fitted orders",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let cfg = if ctx.quick {
        StudyConfig::quick(ctx.seed)
    } else {
        StudyConfig::full(ctx.seed)
    };
    let ode_levels = if ctx.quick { (3, 7) } else { (3, 9) };
    let mut points = sde_errors(&cfg);
    points.extend(ode_errors(ode_levels)?);
    let mut expected: Vec<_> = GROUPS.to_vec();
    expected.extend_from_slice(ODE_GROUPS);
    let fitted = fit_orders(&points, &expected);

    let mut table = Table::new(&["scheme", "problem", "kind", "h", "error", "fitted_order"]);
    for p in &points {
        let order = order_of(&fitted, p).map(|f| f.order).unwrap_or(f64::NAN);
        table.push(vec![
            p.scheme.into(),
            p.problem.into(),
            p.kind.into(),
            Cell::Num(p.h),
            Cell::Num(p.error),
            Cell::Num(order),
        ]);
    }

    let mut charts = Vec::new();
    for kind in ["strong", "weak", "ode"] {
        let mut chart = Chart::new(format!("{kind} error"), "step h", "error").log(true, true);
        for (i, f) in fitted.iter().filter(|f| f.kind == kind).enumerate() {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| same(f, p))
                .map(|p| (p.h, p.error))
                .collect();
            // reference slope through the finest point
            if let Some(&(h0, e0)) = pts.last() {
                let hmax = pts.first().map(|p| p.0).unwrap_or(h0);
                let refl = vec![(h0, e0), (hmax, e0 * (hmax / h0).powf(f.expected))];
                chart = chart.with(Series::new("", refl, Mark::Dashed).color(i));
            }
            let label = format!(
                "{} {} (fit {:.2}, theory {})",
                f.scheme, f.problem, f.order, f.expected
            );
            chart = chart.with(Series::new(label, pts, Mark::LinePoints).color(i));
        }
        charts.push(chart);
    }
    plot::save(ctx.dir, "convergence", &charts, 3)?;

    let summary = fitted
        .iter()
        .map(|f| {
            format!(
                "{:<15} {:<5} {:<6} fitted order {:.3} (theory {})",
                f.scheme, f.problem, f.kind, f.order, f.expected
            )
        })
        .collect();
    Ok(Outcome {
        table,
        config: serde_json::json!({ "study": cfg, "ode_levels": ode_levels }),
        summary,
    })
}

fn same(f: &FittedOrder, p: &ErrorPoint) -> bool {
    f.scheme == p.scheme && f.problem == p.problem && f.kind == p.kind
}

fn order_of<'a>(fitted: &'a [FittedOrder], p: &ErrorPoint) -> Option<&'a FittedOrder> {
    fitted.iter().find(|f| same(f, p))
}
