//! `bridge-moments`: particle mean and variance of 1-D bridges against the analytic marginal
//! `p*_t` (its mean `x̄*_t` and variance) over time, with the deviations in standard errors.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::observe::Moments;
use mfpid_sde::{Ensemble, Noise, RunConfig, Scheme, TimeGrid};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "bridge-moments",
    about: "particle mean/variance of AdaPID and GH-PID bridges vs the analytic x̄*_t and Var p*_t over time",
    snapshot_skip: &[],
    run,
};

/// Mean, variance and fourth central moment of a 1-D Gaussian mixture.
fn moments_1d(m: &GaussianMixture) -> (f64, f64, f64) {
    let w = m.weights();
    let mean = m.mean()[0];
    let (mut var, mut mu4) = (0.0, 0.0);
    for (k, wk) in w.iter().enumerate() {
        let mut s = [0.0];
        m.component_covariance(k, &mut s);
        let dk = m.means()[k] - mean;
        var += wk * (s[0] + dk * dk);
        mu4 += wk * (dk.powi(4) + 6.0 * dk * dk * s[0] + 3.0 * s[0] * s[0]);
    }
    (mean, var, mu4)
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (n, steps, every) = if ctx.quick {
        (2000, 400, 40)
    } else {
        (20_000, 2500, 50)
    };
    let target = GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
    let cases = [
        ("AdaPID", 0.0, 0.0),
        ("GH-PID", 5.0, 3.0),
        ("GH-PID", 0.0, 3.0),
    ];
    let mut table = Table::new(&[
        "protocol",
        "z",
        "nu",
        "t",
        "mean",
        "xbar",
        "var",
        "var_analytic",
        "z_mean",
        "z_var",
    ]);
    let mut summary = vec![format!(
        "target 0.6 N(0.1, 0.2²) + 0.4 N(1.5, 0.3²); beta_i = 12·0.65^i on 8 pieces; {n} particles, {steps} steps; z_* = deviation in standard errors"
    )];
    let mut c_mean = Chart::new("mean: particles (points) vs x̄*_t (lines)", "t", "mean");
    let mut c_var = Chart::new(
        "variance: particles (points) vs Var p*_t (lines)",
        "t",
        "variance",
    );
    let mut c_z = Chart::new("deviation in standard errors", "t", "z");
    for (ci, &(name, z, nu)) in cases.iter().enumerate() {
        let p = Protocol::geometric(1, 12.0, 0.65, 8)?.with_centre(&[nu])?;
        let mut b = Bridge::new(&p, target.clone())?.with_start(&[z])?;
        let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), steps)?;
        let mut ens = Ensemble::filled(n, &[z])?;
        let mut mom = Moments::new(every, true);
        let cfg = RunConfig::new(Scheme::EulerMaruyama, ctx.seed.wrapping_add(ci as u64));
        mfpid_sde::run(
            &mut b,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &cfg,
            &mut [&mut mom],
        )?;
        let label = format!("{name} z={z} nu={nu}");
        let (mut pm, mut pv, mut zm_s, mut zv_s) = (vec![], vec![], vec![], vec![]);
        let mut worst: f64 = 0.0;
        for r in &mom.records {
            if r.t <= 0.0 {
                continue;
            }
            let (xbar, var_a, mu4) = moments_1d(&b.marginal(r.t)?);
            let var = r.cov.as_ref().map(|c| c[0]).unwrap_or(f64::NAN);
            let zm = (r.mean[0] - xbar) / (var_a / n as f64).sqrt();
            let zv = (var - var_a) / ((mu4 - var_a * var_a) / n as f64).sqrt();
            worst = worst.max(zm.abs()).max(zv.abs());
            table.push(vec![
                name.into(),
                Cell::Num(z),
                Cell::Num(nu),
                Cell::Num(r.t),
                Cell::Num(r.mean[0]),
                Cell::Num(xbar),
                Cell::Num(var),
                Cell::Num(var_a),
                Cell::Num(zm),
                Cell::Num(zv),
            ]);
            pm.push((r.t, r.mean[0]));
            pv.push((r.t, var));
            zm_s.push((r.t, zm));
            zv_s.push((r.t, zv));
        }
        let fine: Vec<f64> = (1..=200).map(|k| k as f64 / 200.0).collect();
        let mut am = Vec::new();
        let mut av = Vec::new();
        for &t in &fine {
            let (m, v, _) = moments_1d(&b.marginal(t)?);
            am.push((t, m));
            av.push((t, v));
        }
        c_mean = c_mean
            .with(Series::new(label.clone(), pm, Mark::Points).color(ci))
            .with(Series::new("", am, Mark::Line).color(ci));
        c_var = c_var
            .with(Series::new(label.clone(), pv, Mark::Points).color(ci))
            .with(Series::new("", av, Mark::Line).color(ci));
        c_z = c_z
            .with(Series::new(format!("{label} mean"), zm_s, Mark::LinePoints).color(ci))
            .with(Series::new(format!("{label} var"), zv_s, Mark::Dashed).color(ci));
        summary.push(format!(
            "{label}: largest |deviation| over {} times = {worst:.2} standard errors",
            mom.records.len() - 1
        ));
    }
    plot::save(ctx.dir, "moments", &[c_mean, c_var, c_z], 3)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "particles": n, "steps": steps, "record_every": every, "eps": 1e-3,
            "scheme": "euler-maruyama", "beta": "12*0.65^i, i = 0..7",
            "cases": cases.iter().map(|c| serde_json::json!({"protocol": c.0, "z": c.1, "nu": c.2})).collect::<Vec<_>>(),
        }),
        summary,
    })
}
