//! `thermo-mnist-speciation`: the speciation time of the project's own MNIST score network, (a) from
//! the data covariance's top eigenvalue and (b) measured by cloning (Biroli et al.; spec
//! `thermodynamics.md`, "apply the same estimators to the project's own samplers").
//!
//! (a) Biroli's `t_S = ½ ln Λ` is an Ornstein-Uhlenbeck time, `x_s = e^{-s} x_0 + sqrt(1 - e^{-2s}) z`.
//! The VP forward process has `alpha_t = e^{-½∫β}` in place of `e^{-s}`, so the VP speciation time
//! solves `alpha_t² Λ = 1` (signal variance along the top principal direction equal to the noise).
//! `Λ` is the top eigenvalue of the covariance of the training images in the network's `[-1, 1]`
//! scaling.
//!
//! (b) Reference trajectories run the network's reverse SDE (mfpid-sde runner, [`ScoreDrift`]) from
//! `t = 1` to a split time `t_k`; there each state is cloned twice and both clones finish to
//! `t = 1e-3` with independent noise; the evaluation CNN classifies both. `φ(t_k)` = fraction of
//! pairs ending in the same class. `φ → 1` as `t_k → 0` and `φ → Σ_c p_c²` (chance agreement) as
//! `t_k → 1`; the measured speciation time is where `φ` crosses the midpoint `(1 + Σ_c p_c²) / 2`
//! (the two-class `φ(t_S) ≈ 0.7753` of the Gaussian model has no ten-class analogue).

use super::{Ctx, Entry, Outcome};
use crate::plot::{self, Chart, Mark, Series};
use crate::table::{Cell, Table};
use anyhow::{Context, Result};
use mfpid_compose::idx::{Mnist, PIXELS};
use mfpid_compose::nn::{classify, load_eval, load_score, ScoreDrift};
use mfpid_compose::vp::VpSchedule;
use mfpid_sde::{run as run_sde, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use mfpid_thermo::speciation::{crossing_time, top_covariance_eigenvalue};
use rand::Rng;
use rand_distr::StandardNormal;
use std::sync::Arc;

/// Registry entry.
pub const ENTRY: Entry = Entry {
    name: "thermo-mnist-speciation",
    about: "speciation time of the MNIST score network: alpha_t² Λ = 1 from the data covariance vs cloning (same-class fraction of clone pairs)",
    // φ depends on f32 network arithmetic (CPU-specific gemm kernels): pin the times only
    snapshot_skip: &["phi", "phi_se", "pairs_same"],
    run,
};

/// Last reverse time: the samplers of mfpid-compose stop at `t = 1e-3`.
const T_END: f64 = 1e-3;

/// VP time `t` with `alpha_t² Λ = 1`, by bisection on `(0, 1)` (`alpha_t` decreases in `t`).
fn vp_speciation_time(sched: &VpSchedule, lambda: f64) -> Result<f64> {
    let f = |t: f64| sched.alpha(t).powi(2) * lambda - 1.0;
    anyhow::ensure!(
        f(0.0) > 0.0 && f(1.0) < 0.0,
        "alpha_t² Λ = 1 has no root in (0, 1) for Λ = {lambda}"
    );
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    // split times (VP time t, descending: the reverse process visits them in this order)
    let (pairs, steps, split_t): (usize, usize, Vec<f64>) = if ctx.quick {
        (16, 40, vec![0.8, 0.5, 0.2])
    } else {
        (
            128,
            200,
            vec![
                0.9, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.2, 0.1,
            ],
        )
    };
    let sched = VpSchedule::default();

    // (a) Λ of the training images in [-1, 1]
    let (train, _) = Mnist::load(&Mnist::default_dir())?.split(1000)?;
    let images: Vec<f64> = train.images_pm1().iter().map(|&v| v as f64).collect();
    let lambda = top_covariance_eigenvalue(&images, train.len(), PIXELS)?;
    drop(images);
    let t_s = vp_speciation_time(&sched, lambda)?;
    let s_ou = 0.5 * lambda.ln();

    // (b) cloning with the shipped networks
    let score = load_score(None)?;
    let eval = load_eval(None)?;
    let noise = Noise::ScalarTime(Arc::new(move |s: f64| sched.beta(1.0 - s).sqrt()));
    // uniform step h in the runner's time s = 1 - t on [0, 1 - T_END]; a segment gets round(len / h) steps
    let h = (1.0 - T_END) / steps as f64;
    let segment = |ens: &mut Ensemble, s0: f64, s1: f64, seed: u64| -> Result<()> {
        let n = (((s1 - s0) / h).round() as usize).max(1);
        let grid = TimeGrid::uniform(s0, s1, n)?;
        let mut drift = ScoreDrift::new(&score.model, sched);
        let ran = run_sde(
            &mut drift,
            &noise,
            &grid,
            ens,
            &RunConfig::new(Scheme::EulerMaruyama, seed),
            &mut [],
        );
        drift.finish()?;
        ran?;
        Ok(())
    };
    let mut refs = Ensemble::sample(pairs, PIXELS, ctx.seed, |rng, x| {
        for v in x.iter_mut() {
            *v = rng.sample(StandardNormal);
        }
    })?;
    let mut table = Table::new(&["t", "t_over_tS", "phi", "phi_se", "pairs_same"]);
    let mut curve = Vec::new();
    let mut end_classes: Vec<u8> = Vec::new();
    let mut s_prev = 0.0;
    for (k, &t) in split_t.iter().enumerate() {
        let s_k = 1.0 - t;
        segment(&mut refs, s_prev, s_k, ctx.seed ^ (0x5245_4600 + k as u64))
            .with_context(|| format!("reference trajectories to t = {t}"))?;
        s_prev = s_k;
        let mut classes = Vec::with_capacity(2);
        for c in 0..2u64 {
            let mut clone = refs.clone();
            let seed = ctx.seed ^ ((0x434c_4f00 + 2 * k as u64 + c) << 8);
            segment(&mut clone, s_k, 1.0 - T_END, seed)
                .with_context(|| format!("clone {c} from t = {t}"))?;
            let x: Vec<f32> = clone.as_slice().iter().map(|&v| v as f32).collect();
            classes.push(classify(&eval.model, &x)?.0);
        }
        let same = classes[0]
            .iter()
            .zip(&classes[1])
            .filter(|(a, b)| a == b)
            .count();
        let phi = same as f64 / pairs as f64;
        let phi_se = (phi * (1.0 - phi) / pairs as f64).sqrt();
        table.push(vec![
            Cell::Num(t),
            Cell::Num(t / t_s),
            Cell::Num(phi),
            Cell::Num(phi_se),
            same.into(),
        ]);
        curve.push((t, phi, phi_se));
        end_classes.extend(classes.concat());
    }
    // chance agreement Σ_c p_c² from the class frequencies of all finished clones
    let mut counts = [0usize; 10];
    for &c in &end_classes {
        counts[c as usize % 10] += 1;
    }
    let n_end = end_classes.len().max(1) as f64;
    let phi_chance: f64 = counts.iter().map(|&c| (c as f64 / n_end).powi(2)).sum();
    let phi_mid = 0.5 * (1.0 + phi_chance);
    // crossing_time wants ascending t with φ decreasing
    let (ts, phis): (Vec<f64>, Vec<f64>) = curve.iter().rev().map(|&(t, p, _)| (t, p)).unzip();
    let t_cross = crossing_time(&ts, &phis, phi_mid).ok();

    let chart = Chart::new(
        "MNIST score network: speciation by cloning",
        "VP time t",
        "φ(t) (same eval class)",
    )
    .with(Series::new(
        "cloning",
        plot::xy(&ts, &phis),
        Mark::LinePoints,
    ))
    .with(
        Series::new(
            "t_S (alpha² Λ = 1)",
            vec![(t_s, 0.0), (t_s, 1.0)],
            Mark::Dashed,
        )
        .color(3),
    )
    .with(
        Series::new(
            "midpoint (1 + Σp²)/2",
            vec![(0.0, phi_mid), (1.0, phi_mid)],
            Mark::Dashed,
        )
        .color(5),
    );
    plot::save(ctx.dir, "speciation", &[chart], 1)?;

    let summary = vec![
        format!(
            "data covariance (9000 training images in [-1, 1]): Λ = {lambda:.3}; Biroli OU time ½ ln Λ = {s_ou:.4}; VP speciation time (alpha_t² Λ = 1) t_S = {t_s:.4}"
        ),
        format!(
            "cloning ({pairs} pairs per split, {steps} reverse Euler-Maruyama steps on [1e-3, 1], eval CNN): chance agreement Σp² = {phi_chance:.3}, midpoint {phi_mid:.3} crossed at t = {} (t/t_S = {})",
            t_cross.map(|v| format!("{v:.3}")).unwrap_or_else(|| "none".into()),
            t_cross.map(|v| format!("{:.3}", v / t_s)).unwrap_or_else(|| "-".into()),
        ),
        format!("end-class histogram of the clones: {counts:?}"),
    ];
    Ok(Outcome {
        table,
        config: serde_json::json!({
            "pairs": pairs, "steps": steps, "t_end": T_END, "split_t": split_t,
            "schedule": {"beta_min": sched.beta_min, "beta_max": sched.beta_max},
            "networks": ["weights/score (shipped)", "weights/eval_cnn (shipped)"],
            "lambda": lambda, "t_S": t_s, "ou_t_S": s_ou, "phi_chance": phi_chance,
            "phi_mid": phi_mid, "t_cross": t_cross, "end_class_counts": counts,
        }),
        summary,
    })
}
