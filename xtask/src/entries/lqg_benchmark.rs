//! `lqg-benchmark`: the mean-field LQG benchmark (κ = 0.6, q = 12, m_tar = 2, σ_tar = 0.5, x_0 = 0):
//! MF, IA0 and IA-target by the matrix Riccati / linear-ODE system (DP5 at rtol 1e-12), each
//! checked against a particle simulation of its feedback `u = -(S x + s)`; plus the d = 2 matrix
//! version against particles. Rows `<method>` are the ODE values, rows `<method> particles` the
//! simulation (s0 is the one used; sigma1, energy1, peak_power are estimated from the particles).

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_meanfield::{Lqg, LqgConfig, LqgMethod, ScalarLqg};

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "lqg-benchmark",
    about: "mean-field LQG benchmark: MF vs IA0 vs IA-target by Riccati/linear ODEs, s0, Sigma_1, E(1), peak power, particle checks (d = 1, 2)",
    snapshot_skip: &[],
    run,
};

fn run(ctx: &Ctx) -> Result<Outcome> {
    let (n, steps) = if ctx.quick {
        (4000, 500)
    } else {
        (100_000, 2000)
    };
    let sc = ScalarLqg::reference();
    let lqg = Lqg::new(sc.config()?)?;
    let mut table = Table::new(&["method", "s0", "sigma1", "energy1", "peak_power"]);
    let mut summary = vec![format!(
        "kappa = {}, q = {}, m_tar = {}, sigma_tar = {}: Delta = {:.6}, rho = {:.6}; particles: {n}, Euler-Maruyama {steps} steps",
        sc.kappa, sc.q, sc.m_tar, sc.sigma_tar, sc.delta(), sc.rho()
    )];
    let mut c_mean = Chart::new("mean m_t (lines: ODE; points: MF closed form)", "t", "m_t");
    let mut c_pow = Chart::new("power P(t) (lines: ODE, points: particles)", "t", "P");
    let mut c_en = Chart::new("energy E(t) (lines: ODE, points: particles)", "t", "E");
    let grid_pts = 200;
    for (ci, m) in LqgMethod::ALL.iter().enumerate() {
        let sol = lqg.solve(*m)?;
        let peak = sol.peak_power(2000)?;
        table.push(vec![
            m.label().into(),
            Cell::Num(sol.s0[0]),
            Cell::Num(sol.sigma1()[0]),
            Cell::Num(sol.energy1()),
            Cell::Num(peak),
        ]);
        let sim = sol.simulate(n, steps, ctx.seed.wrapping_add(ci as u64))?;
        let z = (sim.energy - sol.energy1()) / sim.energy_stderr;
        table.push(vec![
            format!("{} particles", m.label()).into(),
            Cell::Num(sol.s0[0]),
            Cell::Num(sim.cov1[0]),
            Cell::Num(sim.energy),
            Cell::Num(sim.power.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        ]);
        summary.push(format!(
            "{:<9}: s0 = {:+.6}, Sigma_1 = {:.10}, E(1) = {:.6} (particles {:.4} ± {:.4}, z = {z:+.2}), peak P = {peak:.4}",
            m.label(),
            sol.s0[0],
            sol.sigma1()[0],
            sol.energy1(),
            sim.energy,
            sim.energy_stderr
        ));
        let mut mean = Vec::new();
        let mut pow = Vec::new();
        let mut en = Vec::new();
        for k in 0..=grid_pts {
            let t = k as f64 / grid_pts as f64;
            let p = sol.at(t)?;
            mean.push((t, p.m[0]));
            pow.push((t, p.power));
            en.push((t, p.energy));
        }
        c_mean = c_mean.with(Series::new(m.label(), mean, Mark::Line).color(ci));
        c_pow = c_pow.with(Series::new(m.label(), pow, Mark::Line).color(ci));
        c_en = c_en.with(Series::new(m.label(), en, Mark::Line).color(ci));
        // particle power trace (every few steps) and cumulative energy
        let stride = (steps / 40).max(1);
        let mut cum = 0.0;
        let mut ppts = Vec::new();
        let mut epts = Vec::new();
        for (k, (t, p)) in sim.times.iter().zip(&sim.power).enumerate() {
            let h = if k + 1 < sim.times.len() {
                sim.times[k + 1] - t
            } else {
                1.0 - t
            };
            if k % stride == 0 {
                ppts.push((*t, *p));
                epts.push((*t, cum));
            }
            cum += h * p;
        }
        epts.push((1.0, cum));
        c_pow = c_pow.with(Series::new("", ppts, Mark::Points).color(ci));
        c_en = c_en.with(Series::new("", epts, Mark::Points).color(ci));
        if *m == LqgMethod::MeanField {
            let closed: Vec<(f64, f64)> = (0..=20)
                .map(|k| {
                    let t = k as f64 / 20.0;
                    (t, sc.mf_mean(t))
                })
                .collect();
            c_mean = c_mean.with(Series::new("MF closed form", closed, Mark::Points).color(ci));
        }
    }
    summary.push(
        "spec (adaptive 1e-11): E(1) = 7.60372 (MF), 10.46880 (IA0), 10.81088 (IA-target); s0 IA0 = -0.418421, IA-target = -6.850825".into(),
    );

    // d = 2: coupled K, Q, full target covariance
    let cfg2 = LqgConfig::from_rows(
        &[0.6, 0.2, 0.2, 0.3],
        &[12.0, 2.0, 2.0, 6.0],
        vec![2.0, -1.0],
        &[0.25, 0.05, 0.05, 0.16],
    )?;
    let lqg2 = Lqg::new(cfg2)?;
    let mut d2 = Vec::new();
    for (ci, m) in LqgMethod::ALL.iter().enumerate() {
        let sol = lqg2.solve(*m)?;
        let sim = sol.simulate(n, steps, ctx.seed.wrapping_add(10 + ci as u64))?;
        let z = (sim.energy - sol.energy1()) / sim.energy_stderr;
        summary.push(format!(
            "d = 2 {:<9}: s0 = [{:+.5}, {:+.5}], E(1) = {:.6} (particles {:.4} ± {:.4}, z = {z:+.2}), Sigma_1 = {:?}",
            m.label(),
            sol.s0[0],
            sol.s0[1],
            sol.energy1(),
            sim.energy,
            sim.energy_stderr,
            sol.sigma1().iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>()
        ));
        d2.push(serde_json::json!({
            "method": m.label(), "s0": sol.s0, "energy1": sol.energy1(),
            "energy1_particles": sim.energy, "stderr": sim.energy_stderr, "sigma1": sol.sigma1(),
        }));
    }
    plot::save(ctx.dir, "lqg", &[c_mean, c_pow, c_en], 3)?;
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "kappa": sc.kappa, "q": sc.q, "m_tar": sc.m_tar, "sigma_tar": sc.sigma_tar,
            "integrator": "mfpid-pde dopri5, rtol 1e-12, atol 1e-13",
            "particles": n, "steps": steps, "scheme": "Euler-Maruyama",
            "d2": { "K": [[0.6, 0.2], [0.2, 0.3]], "Q": [[12.0, 2.0], [2.0, 6.0]],
                    "m_tar": [2.0, -1.0], "Sigma_tar": [[0.25, 0.05], [0.05, 0.16]], "results": d2 },
        }),
        summary,
    })
}
