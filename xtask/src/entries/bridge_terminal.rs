//! `bridge-terminal`: the terminal law of AdaPID / GH-PID bridges from starts z in {0, 5} with
//! centres nu in {0, 3} (the spec's acceptance case), with control energies.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::observe::ControlEnergy;
use mfpid_sde::{Ensemble, Noise, RunConfig, Scheme, TimeGrid};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "bridge-terminal",
    about: "terminal mean/variance/mass above 0.8 and control energy of AdaPID/GH-PID bridges from z in {0,5}, nu in {0,3} (spec acceptance case)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (n, steps) = if ctx.quick {
        (1000, 500)
    } else {
        (20_000, 2500)
    };
    let target = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
    let mut table = Table::new(&["z", "nu", "mean", "var", "mass_above_0.8", "energy"]);
    let mut summary = vec![format!(
        "target 0.6 N(0.1, 0.2²) + 0.4 N(1.5, 0.3²) (exact mean 0.66, var 0.5304, mass above 0.8 0.3962); beta_i = 12·0.65^i on 8 equal pieces; {steps} break-aligned Euler-Maruyama steps, {n} particles, eps = 1e-3"
    )];
    let edges: Vec<f64> = (0..=48).map(|i| -1.0 + i as f64 * 0.075).collect();
    let pdf: Vec<(f64, f64)> = (0..=240)
        .map(|i| {
            let x = -1.0 + i as f64 * 0.015;
            (x, target.log_pdf(&[x]).map(|l| l.exp()).unwrap_or(f64::NAN))
        })
        .collect();
    let mut charts = Vec::new();
    for (i, &(z, nu)) in [(0.0, 0.0), (0.0, 3.0), (5.0, 0.0), (5.0, 3.0)]
        .iter()
        .enumerate()
    {
        let p = Protocol::geometric(1, 12.0, 0.65, 8)?.with_centre(&[nu])?;
        let mut b = Bridge::new(&p, target.clone())?.with_start(&[z])?;
        let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), steps)?;
        let mut ens = Ensemble::filled(n, &[z])?;
        let mut energy = ControlEnergy::new();
        let cfg = RunConfig::new(Scheme::EulerMaruyama, ctx.seed.wrapping_add(i as u64));
        mfpid_sde::run(
            &mut b,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &cfg,
            &mut [&mut energy],
        )?;
        let x = ens.as_slice();
        let nf = x.len() as f64;
        let mean = x.iter().sum::<f64>() / nf;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (nf - 1.0);
        let mass = x.iter().filter(|&&v| v > 0.8).count() as f64 / nf;
        let ok = (mean - 0.66).abs() <= 0.01
            && (var - 0.530).abs() <= 0.006
            && (mass - 0.40).abs() <= 0.01;
        summary.push(format!(
            "z = {z}, nu = {nu}: mean {mean:.4}, var {var:.4}, mass>0.8 {mass:.4}, energy {:.3} ± {:.3}; spec bands (0.66±0.01, 0.530±0.006, 0.40±0.01 at 20000 particles): {}",
            energy.total(),
            energy.stderr(),
            if ok { "inside" } else { "OUTSIDE" }
        ));
        table.push(vec![
            Cell::Num(z),
            Cell::Num(nu),
            Cell::Num(mean),
            Cell::Num(var),
            Cell::Num(mass),
            Cell::Num(energy.total()),
        ]);
        // histogram density of the terminal particles against the target
        let bins = edges.len() - 1;
        let w = edges[1] - edges[0];
        let mut counts = vec![0.0; bins];
        for &v in x {
            if v >= edges[0] && v < edges[bins] {
                counts[((v - edges[0]) / w) as usize % bins] += 1.0;
            }
        }
        let hist: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(k, c)| (edges[k] + 0.5 * w, c / (nf * w)))
            .collect();
        charts.push(
            Chart::new(format!("x_1 from z = {z}, nu = {nu}"), "x", "density")
                .with(Series::new("particles", hist, Mark::LinePoints).color(0))
                .with(Series::new("p_tar", pdf.clone(), Mark::Line).color(1)),
        );
    }
    plot::save(ctx.dir, "terminal", &charts, 2)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "particles": n, "steps": steps, "eps": 1e-3, "scheme": "euler-maruyama",
            "beta": "12*0.65^i, i = 0..7, equal pieces",
            "target": {"weights": [0.6, 0.4], "means": [0.1, 1.5], "sd": [0.2, 0.3]},
            "seeds": "seed + case index",
        }),
        summary,
    })
}
