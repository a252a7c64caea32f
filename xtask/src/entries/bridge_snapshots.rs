//! `bridge-snapshots`: particle clouds of 2-D bridges (H-PID, AdaPID, GH-PID) to a full-covariance
//! Gaussian-mixture target at t in {0.25, 0.5, 0.75, 1}, over contours of the analytic `p*_t`.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::observe::{Snapshot, Snapshots};
use mfpid_sde::{Ensemble, Noise, RunConfig, Scheme, TimeGrid};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "bridge-snapshots",
    about: "2-D particle clouds of H-PID, AdaPID, GH-PID at t = 0.25, 0.5, 0.75, 1 over contours of the analytic p*_t",
    snapshot_skip: &[],
    run,
};

fn target() -> Result<GaussianMixture> {
    // three rotated components
    let cov = |s1: f64, s2: f64, a: f64| {
        let (c, s) = (a.cos(), a.sin());
        [
            c * c * s1 + s * s * s2,
            c * s * (s1 - s2),
            c * s * (s1 - s2),
            s * s * s1 + c * c * s2,
        ]
    };
    let mut covs = Vec::new();
    covs.extend(cov(0.30, 0.05, 0.5));
    covs.extend(cov(0.20, 0.08, -0.8));
    covs.extend(cov(0.15, 0.15, 0.0));
    Ok(GaussianMixture::full(
        2,
        vec![0.4, 0.35, 0.25],
        vec![2.0, 0.5, -1.0, 1.5, -0.5, -2.0],
        covs,
    )?)
}

/// Marching-squares segments of the level set `f = level` on an `nx x ny` grid over the box.
fn contour(
    f: &[f64],
    nx: usize,
    ny: usize,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
    level: f64,
) -> Vec<[(f64, f64); 2]> {
    let hx = (x1 - x0) / (nx - 1) as f64;
    let hy = (y1 - y0) / (ny - 1) as f64;
    let at = |i: usize, j: usize| f[j * nx + i];
    let mut segs = Vec::new();
    for j in 0..ny - 1 {
        for i in 0..nx - 1 {
            // corners counter-clockwise: (i,j), (i+1,j), (i+1,j+1), (i,j+1)
            let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let v = c.map(|(a, b)| at(a, b));
            let mut pts = Vec::new();
            for e in 0..4 {
                let (a, b) = (e, (e + 1) % 4);
                if (v[a] >= level) != (v[b] >= level) {
                    let s = (level - v[a]) / (v[b] - v[a]);
                    let (pa, pb) = (c[a], c[b]);
                    let x = x0 + hx * (pa.0 as f64 + s * (pb.0 as f64 - pa.0 as f64));
                    let y = y0 + hy * (pa.1 as f64 + s * (pb.1 as f64 - pa.1 as f64));
                    pts.push((x, y));
                }
            }
            if pts.len() == 2 {
                segs.push([pts[0], pts[1]]);
            } else if pts.len() == 4 {
                segs.push([pts[0], pts[1]]);
                segs.push([pts[2], pts[3]]);
            }
        }
    }
    segs
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (n, steps, grid_n) = if ctx.quick {
        (400, 200, 40)
    } else {
        (4000, 1600, 90)
    };
    let tar = target()?;
    let nu: Vec<f64> = (0..8)
        .flat_map(|i| {
            let a = std::f64::consts::PI * (0.75 - 0.125 * i as f64);
            [2.5 * a.cos(), 2.5 * a.sin()]
        })
        .collect();
    let protocols = [
        ("H-PID", Protocol::constant(2, 4.0)?),
        ("AdaPID", Protocol::geometric(2, 12.0, 0.65, 8)?),
        (
            "GH-PID",
            Protocol::geometric(2, 12.0, 0.65, 8)?.with_centres(nu.clone())?,
        ),
    ];
    let times = [0.25, 0.5, 0.75, 1.0];
    let mut table = Table::new(&[
        "protocol",
        "t",
        "mean_x",
        "mean_y",
        "xbar_x",
        "xbar_y",
        "var_x",
        "var_y",
        "var_analytic_x",
        "var_analytic_y",
        "max_abs_z",
    ]);
    let mut summary = vec![format!(
        "target: 3-component full-covariance mixture in 2-D; start z = 0; {n} particles, {steps} steps (Euler-Maruyama, grid aligned to t = i/8); GH-PID centres rotate on a circle of radius 2.5; max_abs_z = largest deviation of particle mean/variance from p*_t in standard errors"
    )];
    let mut charts = Vec::new();
    for (pi, (name, p)) in protocols.iter().enumerate() {
        let mut b = Bridge::new(p, tar.clone())?;
        let grid = TimeGrid::aligned(
            0.0,
            1.0,
            &[0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875],
            steps,
        )?;
        let snap_steps: Vec<usize> = times
            .iter()
            .filter_map(|t| grid.times().iter().position(|s| s == t))
            .collect();
        let mut obs = Snapshots::at_steps(snap_steps);
        let mut ens = Ensemble::filled(n, &[0.0, 0.0])?;
        let cfg = RunConfig::new(Scheme::EulerMaruyama, ctx.seed.wrapping_add(pi as u64));
        mfpid_sde::run(
            &mut b,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &cfg,
            &mut [&mut obs],
        )?;
        let mut worst_all: f64 = 0.0;
        for Snapshot { t, x, .. } in &obs.taken {
            let m = b.marginal(*t)?;
            let (xbar, cov) = (m.mean(), m.covariance());
            let nf = n as f64;
            let mut mean = [0.0; 2];
            for pt in x.chunks_exact(2) {
                mean[0] += pt[0] / nf;
                mean[1] += pt[1] / nf;
            }
            let mut var = [0.0; 2];
            for pt in x.chunks_exact(2) {
                for j in 0..2 {
                    var[j] += (pt[j] - mean[j]).powi(2) / (nf - 1.0);
                }
            }
            let mut worst: f64 = 0.0;
            for j in 0..2 {
                let va = cov[j * 3];
                worst = worst.max(((mean[j] - xbar[j]) / (va / nf).sqrt()).abs());
                // Gaussian-approximate SE of a variance (mixtures are more kurtic: a rough guide)
                worst = worst.max(((var[j] - va) / (va * (2.0 / nf).sqrt())).abs());
            }
            worst_all = worst_all.max(worst);
            table.push(vec![
                (*name).into(),
                Cell::Num(*t),
                Cell::Num(mean[0]),
                Cell::Num(mean[1]),
                Cell::Num(xbar[0]),
                Cell::Num(xbar[1]),
                Cell::Num(var[0]),
                Cell::Num(var[1]),
                Cell::Num(cov[0]),
                Cell::Num(cov[3]),
                Cell::Num(worst),
            ]);
            // contours of p*_t on a box around the analytic marginal
            let (sx, sy) = (cov[0].sqrt(), cov[3].sqrt());
            let bx = (
                xbar[0] - 3.5 * sx,
                xbar[0] + 3.5 * sx,
                xbar[1] - 3.5 * sy,
                xbar[1] + 3.5 * sy,
            );
            let mut f = vec![0.0; grid_n * grid_n];
            for jy in 0..grid_n {
                for ix in 0..grid_n {
                    let xx = bx.0 + (bx.1 - bx.0) * ix as f64 / (grid_n - 1) as f64;
                    let yy = bx.2 + (bx.3 - bx.2) * jy as f64 / (grid_n - 1) as f64;
                    f[jy * grid_n + ix] = m.log_pdf(&[xx, yy])?.exp();
                }
            }
            let fmax = f.iter().copied().fold(0.0, f64::max);
            let mut chart = Chart::new(format!("{name}, t = {t}"), "x", "y");
            let cloud: Vec<(f64, f64)> =
                x.chunks_exact(2).take(1500).map(|q| (q[0], q[1])).collect();
            chart = chart.with(Series::new("", cloud, Mark::Points).color(0));
            for (li, frac) in [0.05, 0.25, 0.6].iter().enumerate() {
                for s in contour(&f, grid_n, grid_n, bx, frac * fmax) {
                    chart = chart.with(Series::new("", s.to_vec(), Mark::Line).color(li + 1));
                }
            }
            charts.push(chart);
        }
        summary.push(format!(
            "{name}: largest deviation of particle moments from p*_t over t in {{0.25, 0.5, 0.75, 1}}: {worst_all:.2} SE"
        ));
    }
    plot::save(ctx.dir, "snapshots", &charts, 4)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "particles": n, "steps": steps, "eps": 1e-3, "scheme": "euler-maruyama",
            "protocols": {"H-PID": "beta = 4", "AdaPID": "beta_i = 12*0.65^i, 8 pieces", "GH-PID": {"beta": "12*0.65^i", "nu": nu}},
            "contour_levels": "0.05, 0.25, 0.6 of the max of p*_t on the plot box",
        }),
        summary,
    })
}
