//! `thermo-speciation`: Biroli et al. cloning curves φ(t) for the d-dimensional two-cluster mixture
//! (|m|² = d, σ² = 1) with the exact score, d in {256, 1024, 4096}, against the theory curve, with
//! the speciation time t_S = ½ ln Λ from the data covariance's top eigenvalue.

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_thermo::speciation::{
    biroli_speciation_time, cloning_curve, cloning_phi_theory, crossing_time,
    top_covariance_eigenvalue, CloningConfig,
};
use rand::Rng;
use rand_distr::StandardNormal;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-speciation",
    about: "cloning curves φ(t) vs t/t_S for d = 256, 1024, 4096 with the theory curve and φ(t_S) ≈ 0.7753",
    snapshot_skip: &[],
    run,
};

/// φ(t_S) quoted by the spec (the quadrature value in the large-d limit is 0.77520).
const PHI_TS: f64 = 0.7753;

fn run(ctx: &Ctx) -> Result<Outcome> {
    let dims = [256usize, 1024, 4096];
    let samples: [usize; 3] = if ctx.quick {
        [192, 96, 48]
    } else {
        [4000, 2000, 1000]
    };
    let ratios: Vec<f64> = if ctx.quick {
        (0..=6).map(|k| 0.7 + 0.1 * k as f64).collect()
    } else {
        (0..=16).map(|k| 0.6 + 0.05 * k as f64).collect()
    };
    let n_data = if ctx.quick { 400 } else { 4000 };
    let dt = 0.02;
    let mut table = Table::new(&["d", "t_over_tS", "phi", "phi_se", "phi_theory"]);
    let mut summary = Vec::new();
    let mut c = Chart::new("speciation by cloning", "t / t_S", "φ(t)");
    let mut records = Vec::new();
    for (i, (&d, &n)) in dims.iter().zip(samples.iter()).enumerate() {
        // t_S from the sample covariance of n_data points of the mixture (population value d + 1)
        let mut rng = mfpid_sde::rng::stream(ctx.seed, 0x5350_4543, d as u64); // domain "SPEC"
        let mut data = Vec::with_capacity(n_data * d);
        for _ in 0..n_data {
            let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
            for _ in 0..d {
                data.push(s + rng.sample::<f64, _>(StandardNormal));
            }
        }
        let lam = top_covariance_eigenvalue(&data, n_data, d)?;
        drop(data);
        let ts_data = biroli_speciation_time(lam)?;
        let ts = biroli_speciation_time(d as f64 + 1.0)?;
        let cfg = CloningConfig {
            d,
            sigma2: 1.0,
            clone_times: ratios.iter().map(|r| r * ts).collect(),
            n_samples: n,
            dt,
            seed: ctx.seed + i as u64,
        };
        let pts = cloning_curve(&cfg)?;
        for p in &pts {
            table.push(vec![
                Cell::Int(d as i64),
                Cell::Num(p.t / ts),
                Cell::Num(p.phi),
                Cell::Num(p.phi_se),
                Cell::Num(p.phi_theory),
            ]);
        }
        let xs: Vec<f64> = pts.iter().map(|p| p.t / ts).collect();
        let phis: Vec<f64> = pts.iter().map(|p| p.phi).collect();
        let theo: Vec<f64> = pts.iter().map(|p| p.phi_theory).collect();
        let cross = crossing_time(&xs, &phis, PHI_TS).ok();
        let cross_th = crossing_time(&xs, &theo, PHI_TS).ok();
        // error of the crossing from the binomial error and the local slope of the theory curve
        let slope = {
            let h = 0.01;
            let a = cloning_phi_theory((d as f64).sqrt(), 1.0, (1.0 - h) * ts)?;
            let b = cloning_phi_theory((d as f64).sqrt(), 1.0, (1.0 + h) * ts)?;
            (b - a) / (2.0 * h)
        };
        let se_cross = (PHI_TS * (1.0 - PHI_TS) / n as f64).sqrt() / slope.abs();
        let phi_at_ts = cloning_phi_theory((d as f64).sqrt(), 1.0, ts)?;
        summary.push(format!(
            "d = {d}: Λ (sample covariance, {n_data} points) = {lam:.2} (population d + 1 = {}), t_S = ½ ln Λ = {ts_data:.4} (½ ln(d+1) = {ts:.4}); {n} samples: φ crosses {PHI_TS} at t/t_S = {} ± {se_cross:.3} (theory curve: {}); φ_theory(t_S) = {phi_at_ts:.4}",
            d + 1,
            cross.map(|v| format!("{v:.3}")).unwrap_or_else(|| "none".into()),
            cross_th.map(|v| format!("{v:.3}")).unwrap_or_else(|| "none".into()),
        ));
        if i == dims.len() - 1 {
            summary.push(match cross {
                Some(v) if (v - 1.0).abs() <= 0.05 => format!("largest d = {d}: crossing at t/t_S = {v:.3}, within 0.05 of 1"),
                Some(v) => format!("largest d = {d}: crossing at t/t_S = {v:.3}, NOT within 0.05 of 1 (crossing SE {se_cross:.3})"),
                None => format!("largest d = {d}: no crossing of {PHI_TS} in the sampled range"),
            });
        }
        records.push(serde_json::json!({ "d": d, "n_samples": n, "lambda_sample": lam, "t_S": ts, "t_S_data": ts_data, "crossing": cross, "crossing_se": se_cross, "crossing_theory": cross_th }));
        c = c.with(
            Series::new(
                format!("d = {d}"),
                xs.iter().cloned().zip(phis.iter().cloned()).collect(),
                Mark::LinePoints,
            )
            .color(i),
        );
        if i == dims.len() - 1 {
            let fine: Vec<(f64, f64)> = (0..=80)
                .map(|k| {
                    let r = 0.5 + k as f64 / 80.0;
                    (
                        r,
                        cloning_phi_theory((d as f64).sqrt(), 1.0, r * ts).unwrap_or(f64::NAN),
                    )
                })
                .collect();
            c = c.with(Series::new("theory (d = 4096)", fine, Mark::Dashed).color(5));
        }
    }
    c = c.with(
        Series::new(
            "φ = 0.7753",
            vec![(0.5, PHI_TS), (1.5, PHI_TS)],
            Mark::Dashed,
        )
        .color(6),
    );
    plot::save(ctx.dir, "speciation", &[c], 1)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "sigma2": 1.0, "m": "(1, ..., 1)", "dims": dims, "samples": samples, "t_over_tS": ratios,
            "dt": dt, "scheme": "Euler-Maruyama, exact score, start exactly from p_T at the largest clone time",
            "classes": "sign of m·x at t = 0", "runs": records,
        }),
        summary,
    })
}
