//! `thermo-forward-backward`: entropy production Π, flow Φ and dS/dt of the Yu & Huang two-cluster
//! model, forward and backward, in closed form and generically (Fokker-Planck grid density from
//! mfpid-pde; KDE on particles simulated with mfpid-sde), with t_s and the minimum of the backward
//! flow marked.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_sde::observe::Snapshots;
use mfpid_thermo::fp_rates::{two_cluster_backward, two_cluster_forward, FpRatesSetup};
use mfpid_thermo::rates_from_samples;
use mfpid_thermo::trajectory::{simulate_two_cluster_observed, Direction};
use mfpid_thermo::TwoCluster;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-forward-backward",
    about: "Π, Φ, dS/dt of the two-cluster model forward and backward: closed form vs Fokker-Planck grid vs particle KDE",
    snapshot_skip: &[],
    run,
};

const HORIZON: f64 = 3.0;

fn run(ctx: &Ctx) -> Result<Outcome> {
    let sigma2s = [1.0, 0.1];
    let n_curve = if ctx.quick { 61 } else { 301 };
    let n_check = if ctx.quick { 7 } else { 13 };
    let n_particles = if ctx.quick { 2048 } else { 8192 };
    let steps = if ctx.quick { 600 } else { 1500 }; // EM steps on [0, T]
    let setup = FpRatesSetup {
        lo: -7.0,
        hi: 7.0,
        n_cells: if ctx.quick { 400 } else { 1000 },
        dt: 2e-3,
        diffusion: 1.0,
    };

    let mut table = Table::new(&[
        "sigma2",
        "direction",
        "t",
        "kind",
        "pi",
        "phi",
        "ds_dt",
        "pi_err",
        "phi_err",
    ]);
    let mut charts = Vec::new();
    let mut summary = Vec::new();
    let mut agree = (0usize, 0usize);
    for (mi, &s2) in sigma2s.iter().enumerate() {
        let model = TwoCluster::new(1.0, s2)?;
        let ts = model.speciation_time();
        // closed-form curves on a fine grid of forward times
        let tgrid: Vec<f64> = (0..n_curve)
            .map(|k| HORIZON * k as f64 / (n_curve - 1) as f64)
            .collect();
        let mut fw = Vec::new();
        let mut bw = Vec::new();
        for &t in &tgrid {
            let f = model.rates_forward(t)?;
            let b = model.rates_backward(t)?;
            table.push(row(
                s2, "forward", t, "closed", f.pi, f.phi, f.ds_dt, 0.0, 0.0,
            ));
            table.push(row(
                s2, "backward", t, "closed", b.pi, b.phi, b.ds_dt, 0.0, 0.0,
            ));
            fw.push((t, f));
            bw.push((t, b));
        }
        // minimum of the backward flow Φ* (golden-section refinement around the grid minimum)
        let (kmin, _) = bw
            .iter()
            .enumerate()
            .fold((0, f64::INFINITY), |(bi, bv), (i, (_, r))| {
                if r.phi < bv {
                    (i, r.phi)
                } else {
                    (bi, bv)
                }
            });
        let lo = tgrid[kmin.saturating_sub(1)];
        let hi = tgrid[(kmin + 1).min(n_curve - 1)];
        let t_phi_min = golden_min(
            |t| {
                model
                    .rates_backward(t)
                    .map(|r| r.phi)
                    .unwrap_or(f64::INFINITY)
            },
            lo,
            hi,
        );
        let phi_min = model.rates_backward(t_phi_min)?.phi;
        summary.push(format!(
            "sigma2 = {s2}: t_s = {ts:.5}; backward flow Φ* minimal at forward time t = {t_phi_min:.4} (τ = {:.4}), Φ* = {phi_min:.5}",
            HORIZON - t_phi_min
        ));

        // generic checks at a few forward times
        // on the EM step lattice, so particle snapshots are taken exactly there
        let h = HORIZON / steps as f64;
        let tcheck: Vec<f64> = (0..n_check)
            .map(|k| ((0.05 + (HORIZON - 0.05) * k as f64 / (n_check - 1) as f64) / h).round() * h)
            .collect();
        let grid_fw = two_cluster_forward(&model, &tcheck, &setup)?;
        let taus: Vec<f64> = tcheck.iter().rev().map(|t| HORIZON - t).collect();
        let grid_bw = two_cluster_backward(&model, HORIZON, &taus, &setup)?;
        // particles: snapshots of the simulated ensembles (all particles) at the check times
        let snap_fw = snapshots(
            &model,
            Direction::Forward,
            steps,
            n_particles,
            ctx.seed + mi as u64,
            &tcheck,
            h,
        )?;
        let snap_bw = snapshots(
            &model,
            Direction::Backward,
            steps,
            n_particles,
            ctx.seed + 100 + mi as u64,
            &taus,
            h,
        )?;
        for (k, &t) in tcheck.iter().enumerate() {
            let m = model.marginal(t)?;
            let exact_f = model.rates_forward(t)?;
            let exact_b = model.rates_backward(t)?;
            let kb = n_check - 1 - k;
            let gf = grid_fw[k];
            let gb = grid_bw[kb];
            let sf = rates_from_samples(&snap_fw[k], |x| (-x, -1.0), 1.0, None)?;
            let sb = rates_from_samples(
                &snap_bw[kb],
                |x| (m.backward_drift(x), 1.0 + 2.0 * m.score_dx(x)),
                1.0,
                None,
            )?;
            for (dir, kind, e, exact) in [
                ("forward", "grid", gf, exact_f),
                ("backward", "grid", gb, exact_b),
                ("forward", "samples", sf, exact_f),
                ("backward", "samples", sb, exact_b),
            ] {
                table.push(row(
                    s2,
                    dir,
                    t,
                    kind,
                    e.rates.pi,
                    e.rates.phi,
                    e.rates.ds_dt,
                    e.pi_err,
                    e.phi_err,
                ));
                agree.1 += 1;
                if (e.rates.pi - exact.pi).abs() <= 3.0 * e.pi_err
                    && (e.rates.phi - exact.phi).abs() <= 3.0 * e.phi_err.max(1e-12)
                {
                    agree.0 += 1;
                } else {
                    summary.push(format!(
                        "  outside 3 stated errors: sigma2={s2} {dir} {kind} t={t:.3}: Π {:.5}±{:.5} (exact {:.5}), Φ {:.5}±{:.5} (exact {:.5})",
                        e.rates.pi, e.pi_err, exact.pi, e.rates.phi, e.phi_err, exact.phi
                    ));
                }
            }
        }

        // figures: forward and backward vs forward time, t_s and the Φ* minimum marked
        for (dir, curve) in [("forward", &fw), ("backward", &bw)] {
            let ys: Vec<f64> = curve
                .iter()
                .flat_map(|(_, r)| [r.pi, r.phi, r.ds_dt])
                .filter(|v| v.is_finite())
                .collect();
            let (ymin, ymax) = (
                ys.iter().cloned().fold(f64::INFINITY, f64::min),
                ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            );
            let clip = |v: f64| v.clamp(ymin.max(-10.0), ymax.min(10.0));
            let mut c = Chart::new(
                format!("{dir}, μ = 1, σ² = {s2}"),
                "forward time t (backward: τ = T - t)",
                "rate",
            );
            c = c
                .with(
                    Series::new(
                        "Π",
                        curve.iter().map(|(t, r)| (*t, clip(r.pi))).collect(),
                        Mark::Line,
                    )
                    .color(0),
                )
                .with(
                    Series::new(
                        "Φ",
                        curve.iter().map(|(t, r)| (*t, clip(r.phi))).collect(),
                        Mark::Line,
                    )
                    .color(1),
                )
                .with(
                    Series::new(
                        "dS/dt",
                        curve.iter().map(|(t, r)| (*t, clip(r.ds_dt))).collect(),
                        Mark::Line,
                    )
                    .color(2),
                );
            let g = if dir == "forward" { &grid_fw } else { &grid_bw };
            let pts: Vec<(f64, f64)> = tcheck
                .iter()
                .enumerate()
                .map(|(k, &t)| {
                    (
                        t,
                        clip(if dir == "forward" {
                            g[k].rates.pi
                        } else {
                            g[n_check - 1 - k].rates.pi
                        }),
                    )
                })
                .collect();
            c = c.with(Series::new("Π (Fokker-Planck grid)", pts, Mark::Points).color(0));
            let yl = (ymin.max(-10.0), ymax.min(10.0));
            if ts > 0.0 && ts < HORIZON {
                c = c.with(
                    Series::new(
                        format!("t_s = {ts:.3}"),
                        vec![(ts, yl.0), (ts, yl.1)],
                        Mark::Dashed,
                    )
                    .color(4),
                );
            }
            if dir == "backward" {
                c = c.with(
                    Series::new(
                        format!("min Φ* at t = {t_phi_min:.3}"),
                        vec![(t_phi_min, yl.0), (t_phi_min, yl.1)],
                        Mark::Dashed,
                    )
                    .color(5),
                );
            }
            charts.push(c);
        }
    }
    plot::save(ctx.dir, "rates", &charts, 2)?;
    summary.insert(
        0,
        format!(
            "generic estimates (grid, samples) within 3 stated errors of the closed form: {} of {}",
            agree.0, agree.1
        ),
    );
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "mu": 1.0, "sigma2": sigma2s, "horizon": HORIZON, "curve_points": n_curve, "check_points": n_check,
            "fokker_planck": setup, "particles": n_particles, "em_steps": steps, "diffusion": 1.0,
            "sample_rates": "leave-one-out Gaussian KDE, Silverman bandwidth, Richardson over h and h/sqrt2; errors: 1 SE (8 sub-samples) + Richardson correction",
        }),
        summary,
    })
}

#[allow(clippy::too_many_arguments)]
fn row(
    s2: f64,
    dir: &str,
    t: f64,
    kind: &str,
    pi: f64,
    phi: f64,
    ds: f64,
    pe: f64,
    fe: f64,
) -> Vec<Cell> {
    vec![
        Cell::Num(s2),
        dir.into(),
        Cell::Num(t),
        kind.into(),
        Cell::Num(pi),
        Cell::Num(phi),
        Cell::Num(ds),
        Cell::Num(pe),
        Cell::Num(fe),
    ]
}

/// Simulate the ensemble and return the particle positions at the requested run times (which lie
/// on the step lattice `k h`, in increasing order).
fn snapshots(
    model: &TwoCluster,
    dir: Direction,
    steps: usize,
    n: usize,
    seed: u64,
    times: &[f64],
    h: f64,
) -> Result<Vec<Vec<f64>>> {
    let ks: Vec<usize> = times.iter().map(|&t| (t / h).round() as usize).collect();
    let mut snaps = Snapshots::at_steps(ks.clone());
    simulate_two_cluster_observed(model, dir, HORIZON, steps, n, seed, &mut [&mut snaps])?;
    if snaps.taken.len() != ks.len() {
        anyhow::bail!("expected {} snapshots, got {}", ks.len(), snaps.taken.len());
    }
    Ok(snaps.taken.into_iter().map(|s| s.x).collect())
}

fn golden_min(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..80 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if f(c) < f(d) {
            b = d;
        } else {
            a = c;
        }
    }
    0.5 * (a + b)
}
