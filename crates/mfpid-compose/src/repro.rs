//! The MNIST experiments behind the `compose-mnist` and `compose-unconditional` reproduction entries,
//! as library functions (the xtask entries only format their output).

use crate::compose::{
    eval_features, frechet_distance, frozen_score, MnistCmadConfig, MnistProblem, RunOutput, Steer,
};
use crate::error::Result;
use crate::idx::{Mnist, N_TEST, PIXELS};
use crate::nn::{self, ScoreNetConfig};
use crate::vp::VpSchedule;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Settings of `compose-mnist`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MnistRunConfig {
    /// Target digits.
    pub digits: Vec<usize>,
    /// Agent counts.
    pub n_agents: Vec<usize>,
    /// Samples per row.
    pub n_samples: usize,
    /// Reverse Euler-Maruyama steps when sampling.
    pub sample_steps: usize,
    /// CDPS guidance weight (reference 100).
    pub cdps_w: f64,
    /// Further CDPS weights, each an extra row `cdps_w<w>` (for comparisons at matched control energy).
    #[serde(default)]
    pub cdps_extra_w: Vec<f64>,
    /// Add a row `optimal_is`: the optimally tilted path measure estimated by importance weighting
    /// of the base samples, weights `exp(-N (Phi(Y_0) + running) / lambda)` (self-normalised; its
    /// `control_energy` is `J* - E*[cost]` = `(lambda/N) KL(P* | P_base)`, its Fréchet distance NaN).
    #[serde(default)]
    pub optimal_is: bool,
    /// CMAD-joint settings (CMAD-fictitious uses the same with `fictitious_inner`).
    pub cmad: MnistCmadConfig,
    /// Optimiser steps per agent turn of CMAD-fictitious.
    pub fictitious_inner: usize,
    /// Seed of the sampling noise.
    pub seed: u64,
}

impl MnistRunConfig {
    /// The protocol of the spec: digits 0, 3, 9; N = 2, 3; 1024 samples; 250 sampling steps; plus
    /// CDPS at weights 0.3, 1, 3 (matched control energy) and the importance-weighted optimum.
    pub fn full(seed: u64) -> Self {
        Self {
            digits: vec![0, 3, 9],
            n_agents: vec![2, 3],
            n_samples: 1024,
            sample_steps: 250,
            cdps_w: 100.0,
            cdps_extra_w: vec![0.3, 1.0, 3.0],
            optimal_is: true,
            cmad: MnistCmadConfig {
                iters: 300,
                ..MnistCmadConfig::default()
            },
            fictitious_inner: 10,
            seed,
        }
    }

    /// Quick settings (a few training iterations, 16 samples, 25 sampling steps).
    pub fn quick(seed: u64) -> Self {
        Self {
            digits: vec![0],
            n_agents: vec![2],
            n_samples: 16,
            sample_steps: 25,
            cdps_w: 100.0,
            cdps_extra_w: Vec::new(),
            optimal_is: false,
            cmad: MnistCmadConfig {
                batch: 4,
                iters: 2,
                hidden: 64,
                ..MnistCmadConfig::default()
            },
            fictitious_inner: 1,
            seed,
        }
    }
}

/// One row of the `compose-mnist` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MnistRow {
    /// Target digit.
    pub digit: usize,
    /// Number of agents.
    pub n_agents: usize,
    /// `base`, `cdps`, `cmad_joint` or `cmad_fictitious`.
    pub method: String,
    /// Fraction of samples the objective classifier labels `digit`.
    pub acc_objective: f64,
    /// Fraction of samples the evaluation classifier labels `digit`.
    pub acc_eval: f64,
    /// Mean `Phi(Y_0)` (cross-entropy + seam).
    pub terminal_loss: f64,
    /// Mean seam penalty.
    pub seam: f64,
    /// Fréchet distance to the real test images of `digit` in the evaluation classifier's features.
    pub frechet: f64,
    /// Mean control energy `(lambda/N) sum beta |u|^2 dt / 2` on the sampling grid.
    pub control_energy: f64,
    /// Wall time of training plus sampling, seconds.
    pub wall_s: f64,
    /// Final CMAD training loss (NaN for methods without training).
    pub train_loss: f64,
}

/// Generated images of one row (for image grids).
pub struct RowImages {
    /// `digit_nagents_method`.
    pub name: String,
    /// `n x 784` in `[-1, 1]`.
    pub images: Vec<f32>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Run `compose-mnist` with the shipped networks (`weights`: their directory, `None` for the default).
pub fn compose_mnist(
    cfg: &MnistRunConfig,
    weights: Option<&Path>,
) -> Result<(Vec<MnistRow>, Vec<RowImages>)> {
    let wp = |k: nn::ModelKind| weights.map(|d| d.join(k.file_name()));
    let score_vars = nn::load_score(wp(nn::ModelKind::Score).as_deref())?;
    let score = frozen_score(&score_vars.vars, ScoreNetConfig::default())?;
    let objective = nn::load_objective(wp(nn::ModelKind::Objective).as_deref())?;
    let eval = nn::load_eval(wp(nn::ModelKind::Eval).as_deref())?;
    let data = Mnist::load(&Mnist::default_dir())?;
    let (_, test) = data.split(N_TEST)?;
    let test_x = test.images_pm1();
    let mut rows = Vec::new();
    let mut grids = Vec::new();
    for &digit in &cfg.digits {
        let real: Vec<f32> = test
            .indices_of(digit as u8)
            .iter()
            .flat_map(|&i| test_x[i * PIXELS..(i + 1) * PIXELS].iter().copied())
            .collect();
        let real_f = eval_features(&eval.model, &real)?;
        for &n in &cfg.n_agents {
            let problem = MnistProblem::new(&score, &objective.model, digit, n)?;
            let mut methods: Vec<String> = ["base", "cdps", "cmad_joint", "cmad_fictitious"]
                .iter()
                .map(|m| m.to_string())
                .collect();
            methods.extend(cfg.cdps_extra_w.iter().map(|w| format!("cdps_w{w}")));
            for (mi, method) in methods.iter().enumerate() {
                let method = method.as_str();
                let t0 = Instant::now();
                let (out, train_loss): (RunOutput, f64) = match method {
                    _ if mi >= 4 => (
                        problem.sample(
                            &Steer::Cdps {
                                w: cfg.cdps_extra_w[mi - 4],
                            },
                            cfg.n_samples,
                            cfg.sample_steps,
                            cfg.seed,
                        )?,
                        f64::NAN,
                    ),
                    "base" => (
                        problem.sample(&Steer::Base, cfg.n_samples, cfg.sample_steps, cfg.seed)?,
                        f64::NAN,
                    ),
                    "cdps" => (
                        problem.sample(
                            &Steer::Cdps { w: cfg.cdps_w },
                            cfg.n_samples,
                            cfg.sample_steps,
                            cfg.seed,
                        )?,
                        f64::NAN,
                    ),
                    _ => {
                        let mut c = cfg.cmad;
                        if method == "cmad_fictitious" {
                            c.fictitious_inner = Some(cfg.fictitious_inner);
                        }
                        let (controls, hist) = problem.train(&c)?;
                        let tail = &hist[hist.len().saturating_sub(10)..];
                        (
                            problem.sample(
                                &Steer::Cmad(&controls),
                                cfg.n_samples,
                                cfg.sample_steps,
                                cfg.seed,
                            )?,
                            mean(tail),
                        )
                    }
                };
                let wall_s = t0.elapsed().as_secs_f64();
                let (pred_o, _) = nn::classify(&objective.model, &out.images)?;
                let (pred_e, _) = nn::classify(&eval.model, &out.images)?;
                let acc = |p: &[u8]| {
                    p.iter().filter(|&&c| c as usize == digit).count() as f64
                        / p.len().max(1) as f64
                };
                let frechet =
                    frechet_distance(&eval_features(&eval.model, &out.images)?, &real_f, 128)?;
                rows.push(MnistRow {
                    digit,
                    n_agents: n,
                    method: method.into(),
                    acc_objective: acc(&pred_o),
                    acc_eval: acc(&pred_e),
                    terminal_loss: mean(&out.terminal),
                    seam: mean(&out.seam),
                    frechet,
                    control_energy: mean(&out.energy),
                    wall_s,
                    train_loss,
                });
                if method == "base" && cfg.optimal_is {
                    rows.push(optimal_row(&problem, &out, digit, n, &pred_o, &pred_e));
                }
                let show = out.images[..out.images.len().min(64 * PIXELS)].to_vec();
                grids.push(RowImages {
                    name: format!("digit{digit}_n{n}_{method}"),
                    images: show,
                });
            }
        }
    }
    Ok((rows, grids))
}

/// The `optimal_is` row from base samples `out` (see [`MnistRunConfig::optimal_is`]); `train_loss`
/// holds the effective sample size of the weights.
fn optimal_row(
    problem: &MnistProblem<'_>,
    out: &RunOutput,
    digit: usize,
    n: usize,
    pred_o: &[u8],
    pred_e: &[u8],
) -> MnistRow {
    let lam = problem.lambda / n as f64; // lambda' = lambda / N
    let cost: Vec<f64> = out
        .terminal
        .iter()
        .zip(&out.running)
        .map(|(a, b)| a + b)
        .collect();
    let cmin = cost.iter().copied().fold(f64::INFINITY, f64::min);
    let w: Vec<f64> = cost.iter().map(|c| (-(c - cmin) / lam).exp()).collect();
    let sw: f64 = w.iter().sum();
    let wmean = |v: &[f64]| v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let hit = |p: &[u8]| -> Vec<f64> {
        p.iter()
            .map(|&c| if c as usize == digit { 1.0 } else { 0.0 })
            .collect()
    };
    let j_star = cmin - lam * (sw / w.len() as f64).ln();
    let ess = sw * sw / w.iter().map(|x| x * x).sum::<f64>();
    MnistRow {
        digit,
        n_agents: n,
        method: "optimal_is".into(),
        acc_objective: wmean(&hit(pred_o)),
        acc_eval: wmean(&hit(pred_e)),
        terminal_loss: wmean(&out.terminal),
        seam: wmean(&out.seam),
        frechet: f64::NAN,
        control_energy: j_star - wmean(&cost),
        wall_s: 0.0,
        train_loss: ess,
    }
}

/// Result of `compose-unconditional`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnconditionalResult {
    /// Samples per evaluation-classifier class.
    pub counts: [usize; 10],
    /// Mean evaluation-classifier confidence of the samples of each class (NaN when none).
    pub mean_confidence: [f64; 10],
    /// Fraction of samples with confidence > 0.9.
    pub frac_confident: f64,
    /// Objective classifier test accuracy (1,000 held-out digits).
    pub objective_test_acc: f64,
    /// Evaluation classifier test accuracy.
    pub eval_test_acc: f64,
    /// Number of samples.
    pub n: usize,
    /// Reverse steps.
    pub steps: usize,
}

/// Sample the score network unconditionally and classify with the evaluation classifier; also the
/// classifiers' test accuracies. Returns the result and the images.
pub fn compose_unconditional(
    n: usize,
    steps: usize,
    seed: u64,
    weights: Option<&Path>,
) -> Result<(UnconditionalResult, Vec<f32>)> {
    let wp = |k: nn::ModelKind| weights.map(|d| d.join(k.file_name()));
    let score = nn::load_score(wp(nn::ModelKind::Score).as_deref())?;
    let objective = nn::load_objective(wp(nn::ModelKind::Objective).as_deref())?;
    let eval = nn::load_eval(wp(nn::ModelKind::Eval).as_deref())?;
    let data = Mnist::load(&Mnist::default_dir())?;
    let (_, test) = data.split(N_TEST)?;
    let tx = test.images_pm1();
    let objective_test_acc = nn::accuracy(&objective.model, &tx, &test.labels)?;
    let eval_test_acc = nn::accuracy(&eval.model, &tx, &test.labels)?;
    let mut images = Vec::with_capacity(n * PIXELS);
    for (k, start) in (0..n).step_by(256).enumerate() {
        let b = (n - start).min(256);
        images.extend(nn::sample_unconditional(
            &score.model,
            &VpSchedule::default(),
            b,
            steps,
            seed + k as u64,
        )?);
    }
    let (pred, conf) = nn::classify(&eval.model, &images)?;
    let mut counts = [0usize; 10];
    let mut csum = [0.0f64; 10];
    for (&p, &c) in pred.iter().zip(&conf) {
        counts[p as usize] += 1;
        csum[p as usize] += c;
    }
    let mean_confidence = std::array::from_fn(|k| {
        if counts[k] > 0 {
            csum[k] / counts[k] as f64
        } else {
            f64::NAN
        }
    });
    let frac_confident = conf.iter().filter(|&&c| c > 0.9).count() as f64 / n.max(1) as f64;
    Ok((
        UnconditionalResult {
            counts,
            mean_confidence,
            frac_confident,
            objective_test_acc,
            eval_test_acc,
            n,
            steps,
        },
        images,
    ))
}

/// Environment variable that makes the MNIST entries retrain the three networks (reference settings)
/// and overwrite the shipped weights before running: `MFPID_COMPOSE_RETRAIN=1`.
pub const RETRAIN_ENV: &str = "MFPID_COMPOSE_RETRAIN";

/// True when [`RETRAIN_ENV`] is set to a non-empty value other than `0`.
pub fn retrain_requested() -> bool {
    std::env::var(RETRAIN_ENV)
        .map(|v| !v.is_empty() && v != "0")
        .unwrap_or(false)
}

/// Retrain the objective classifier, the evaluation classifier and the score network on the fixed
/// train split and write them into `dir` (the shipped directory is [`nn::weights_dir`]).
/// `quick`: 20 optimiser steps each (a smoke test of the pipeline, useless networks); otherwise
/// the reference settings of [`nn::TrainConfig::reference`] (the same as the three
/// `--example train` commands). Returns the classifiers' test accuracies.
pub fn retrain_all(
    quick: bool,
    dir: &Path,
    mut progress: impl FnMut(&str, usize, f64),
) -> Result<(f64, f64)> {
    let data = Mnist::load(&Mnist::default_dir())?;
    let (train, test) = data.split(N_TEST)?;
    let (xtr, xte) = (train.images_pm1(), test.images_pm1());
    let cfg_of = |k: nn::ModelKind| {
        let mut c = nn::TrainConfig::reference(k);
        if quick {
            c.steps = 20;
            c.batch = c.batch.min(64);
        }
        c
    };
    let cfg = cfg_of(nn::ModelKind::Objective);
    let m = nn::fresh_objective(cfg.seed)?;
    nn::train_classifier(&m, &xtr, &train.labels, &cfg, |s, l| {
        progress("objective", s, l)
    })?;
    let acc_o = nn::accuracy(&m.model, &xte, &test.labels)?;
    nn::save(&m, &dir.join(nn::ModelKind::Objective.file_name()))?;
    let cfg = cfg_of(nn::ModelKind::Eval);
    let m = nn::fresh_eval(cfg.seed)?;
    nn::train_classifier(&m, &xtr, &train.labels, &cfg, |s, l| progress("eval", s, l))?;
    let acc_e = nn::accuracy(&m.model, &xte, &test.labels)?;
    nn::save(&m, &dir.join(nn::ModelKind::Eval.file_name()))?;
    let cfg = cfg_of(nn::ModelKind::Score);
    let net = ScoreNetConfig::default();
    let pca = nn::Pca::fit(&xtr, net.latent)?;
    let m = nn::fresh_score(cfg.seed, net, Some(&pca))?;
    nn::train_score(&m, &xtr, &VpSchedule::default(), &cfg, None, |s, l| {
        progress("score", s, l)
    })?;
    nn::save(&m, &dir.join(nn::ModelKind::Score.file_name()))?;
    Ok((acc_o, acc_e))
}

/// What the MNIST entries do for `--retrain`: retrain once per process (the first call; later calls
/// return the same directory) and return the directory the entry must load its networks from.
/// Full mode overwrites the shipped weights; quick mode trains throw-away networks into
/// `quick_dir` and leaves the shipped files alone.
pub fn retrain_for_entry(
    quick: bool,
    quick_dir: &Path,
    progress: impl FnMut(&str, usize, f64),
) -> Result<std::path::PathBuf> {
    static DONE: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let mut done = DONE
        .lock()
        .map_err(|_| crate::ComposeError::NonFinite("poisoned retrain lock".into()))?;
    if let Some(d) = done.as_ref() {
        if !quick {
            return Ok(d.clone());
        }
    }
    let dir = if quick {
        quick_dir.to_path_buf()
    } else {
        nn::weights_dir()
    };
    retrain_all(quick, &dir, progress)?;
    if !quick {
        *done = Some(dir.clone());
    }
    Ok(dir)
}
