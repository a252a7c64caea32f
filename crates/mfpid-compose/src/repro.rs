//! The MNIST experiments behind the `compose-mnist` and `compose-unconditional` reproduction entries,
//! as library functions (the xtask entries only format their output).

use crate::cmad::{CmadConfig, CmadVariant};
use crate::compose::{
    controls_dir, controls_file_name, controls_train_command, frozen_score, load_controls,
    ControlConfig, ControlRecord, Controls, MnistProblem, RunOutput, Steer, TrainOptions,
};
use crate::error::{ComposeError, Result};
use crate::frechet::{eval_features, frechet_distance};
use crate::idx::{Mnist, N_TEST, PIXELS};
use crate::nn::{self, ScoreNetConfig};
use crate::vp::VpSchedule;
use crate::weights::ObjectiveWeights;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where `compose-mnist` gets its CMAD controls from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlSource {
    /// Finished controls files `controls_d<digit>_n<N>_<method>.safetensors` in this directory
    /// (made by `cargo xtask train controls`).
    Files(PathBuf),
    /// Controls files in this directory in whatever state their training is (finished or not):
    /// for watching a training run (`cargo xtask train controls --eval N`), never for results.
    /// A missing file skips its row.
    Checkpoint(PathBuf),
    /// Trained in the process (quick mode: a smoke test, not a result).
    Train {
        /// CMAD-joint settings.
        joint: CmadConfig,
        /// CMAD-fictitious settings.
        fictitious: CmadConfig,
        /// Network shape.
        control: ControlConfig,
    },
}

/// The reference CMAD settings (spec "Solvers") for `n` agents: batch 16 (N = 2) or 8 (N >= 3),
/// Adam 1e-4, clip 1.0 per agent; joint 1000 steps, fictitious 300 rounds of 5 steps per agent.
pub fn reference_cmad(n: usize, variant: &str) -> Result<CmadConfig> {
    let joint = CmadConfig {
        batch: if n <= 2 { 16 } else { 8 },
        iters: 1000,
        lr: 1e-4,
        clip: 1.0,
        hidden: 256,
        variant: CmadVariant::Joint,
        seed: 3,
    };
    match variant {
        "joint" | "cmad_joint" => Ok(joint),
        "fictitious" | "cmad_fictitious" => Ok(joint.fictitious(300, 5)),
        other => Err(crate::error::invalid(
            "variant",
            other,
            "must be joint or fictitious",
        )),
    }
}

/// The control network of the shipped controls: an MLP of width 256 on the score network's first
/// 96 principal directions ([`ControlConfig::pca`]).
pub fn reference_control() -> ControlConfig {
    ControlConfig::pca(256, 96)
}

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
    /// `lambda`, `gamma` and the reference CDPS weight (row `cdps`), with their convention.
    pub weights: ObjectiveWeights,
    /// The CDPS sweep: one row `cdps_w<w>` per weight (per sample, this crate's convention).
    pub cdps_sweep: Vec<f64>,
    /// Add a row `optimal_is`: the optimally tilted path measure estimated by importance weighting
    /// of the base samples, weights `exp(-N (Phi(Y_0) + running) / lambda)` (self-normalised; its
    /// `control_energy` is `J* - E*[cost]` = `(lambda/N) KL(P* | P_base)`, its Fréchet distance NaN).
    pub optimal_is: bool,
    /// Where the CMAD controls come from.
    pub controls: ControlSource,
    /// Seed of the sampling noise.
    pub seed: u64,
}

impl MnistRunConfig {
    /// The protocol of the spec: digits 0, 3, 9; N = 2, 3; 1024 samples; 500 sampling steps; the
    /// reference weights; the CDPS sweep 0.3, 1, 3, 10, 100; the importance-weighted optimum; the
    /// shipped controls.
    pub fn full(seed: u64) -> Self {
        Self {
            digits: vec![0, 3, 9],
            n_agents: vec![2, 3],
            n_samples: 1024,
            sample_steps: 500,
            weights: ObjectiveWeights::mnist_reference(),
            cdps_sweep: vec![0.3, 1.0, 3.0, 10.0, 100.0],
            optimal_is: true,
            controls: ControlSource::Files(controls_dir()),
            seed,
        }
    }

    /// Quick settings (controls trained for 2 steps in the process, 16 samples, 25 sampling steps).
    pub fn quick(seed: u64) -> Self {
        let joint = CmadConfig {
            batch: 4,
            iters: 2,
            lr: 1e-4,
            clip: 1.0,
            hidden: 32,
            variant: CmadVariant::Joint,
            seed: 3,
        };
        Self {
            digits: vec![0],
            n_agents: vec![2],
            n_samples: 16,
            sample_steps: 25,
            weights: ObjectiveWeights::mnist_reference(),
            cdps_sweep: Vec::new(),
            optimal_is: false,
            controls: ControlSource::Train {
                joint,
                fictitious: joint.fictitious(1, 1),
                control: ControlConfig::pca(32, 16),
            },
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
    /// `base`, `optimal_is`, `cdps`, `cdps_w<w>`, `cmad_joint` or `cmad_fictitious`.
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
    /// Wall time of sampling (plus training for in-process controls), seconds.
    pub wall_s: f64,
    /// Mean `J = energy + running + terminal` of the samples (for `optimal_is`: the estimate of `J*`).
    pub j: f64,
    /// Effective sample size of the importance weights (`optimal_is`; the sample count otherwise).
    pub ess: f64,
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

/// The finished controls of `(digit, n, method)` from `dir` (errors name the file and the command
/// that trains it; an unfinished file is refused).
pub fn shipped_controls(
    dir: &Path,
    digit: usize,
    n: usize,
    method: &str,
) -> Result<(Controls, ControlRecord)> {
    let path = dir.join(controls_file_name(digit, n, method));
    let hint = controls_train_command(digit, n, method);
    let (c, _, r) = load_controls(&path, &hint)?;
    if !r.finished() || r.digit != digit || r.n_agents != n || r.cmad.method() != method {
        return Err(ComposeError::Weights {
            path,
            detail: format!(
                "controls for digit {} N {} {} trained {}/{} steps (need finished {method} controls for digit {digit} N {n})",
                r.digit,
                r.n_agents,
                r.cmad.method(),
                r.done,
                r.total
            ),
            hint,
        });
    }
    Ok((c, r))
}

/// Run `compose-mnist` with the shipped networks (`weights`: their directory, `None` for the default).
pub fn compose_mnist(
    cfg: &MnistRunConfig,
    weights: Option<&Path>,
) -> Result<(Vec<MnistRow>, Vec<RowImages>)> {
    let wp = |k: nn::ModelKind| weights.map(|d| d.join(k.file_name()));
    let score_vars = nn::load_score(wp(nn::ModelKind::Score).as_deref())?;
    let score = frozen_score(&score_vars.vars, ScoreNetConfig::default())?;
    let pca = nn::pca_of(&score_vars.vars)?;
    let objective = nn::load_objective(wp(nn::ModelKind::Objective).as_deref())?;
    let eval = nn::load_eval(wp(nn::ModelKind::Eval).as_deref())?;
    let data = Mnist::load(&Mnist::default_dir())?;
    let (_, test) = data.split(N_TEST)?;
    let test_x = test.images_pm1();
    // fail before any sampling when a controls file is missing or unfinished
    if let ControlSource::Files(dir) = &cfg.controls {
        for &digit in &cfg.digits {
            for &n in &cfg.n_agents {
                for m in ["cmad_joint", "cmad_fictitious"] {
                    shipped_controls(dir, digit, n, m)?;
                }
            }
        }
    }
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
            let mut problem = MnistProblem::new(&score, &objective.model, digit, n)?;
            problem.weights = cfg.weights;
            let mut methods: Vec<(String, Option<f64>)> = vec![
                ("base".into(), None),
                ("cdps".into(), Some(cfg.weights.w_cdps)),
            ];
            methods.extend(
                cfg.cdps_sweep
                    .iter()
                    .map(|&w| (format!("cdps_w{w}"), Some(w))),
            );
            methods.push(("cmad_joint".into(), None));
            methods.push(("cmad_fictitious".into(), None));
            for (method, w) in &methods {
                let method = method.as_str();
                let t0 = Instant::now();
                let sample = |steer: &Steer<'_>| {
                    problem.sample(steer, cfg.n_samples, cfg.sample_steps, cfg.seed)
                };
                let out: RunOutput = match (method, w) {
                    ("base", _) => sample(&Steer::Base)?,
                    (_, Some(w)) => sample(&Steer::Cdps { w: *w })?,
                    _ => {
                        let controls = match &cfg.controls {
                            ControlSource::Files(dir) => shipped_controls(dir, digit, n, method)?.0,
                            ControlSource::Checkpoint(dir) => {
                                let path = dir.join(controls_file_name(digit, n, method));
                                if !path.exists() {
                                    continue;
                                }
                                let hint = controls_train_command(digit, n, method);
                                load_controls(&path, &hint)?.0
                            }
                            ControlSource::Train {
                                joint,
                                fictitious,
                                control,
                            } => {
                                let c = if method == "cmad_joint" {
                                    joint
                                } else {
                                    fictitious
                                };
                                problem.train(c, *control, pca.as_ref())?.0
                            }
                        };
                        sample(&Steer::Cmad(&controls))?
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
                let j = mean(&out.energy) + mean(&out.running) + mean(&out.terminal);
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
                    j,
                    ess: cfg.n_samples as f64,
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

/// The `optimal_is` row from base samples `out` (see [`MnistRunConfig::optimal_is`]).
fn optimal_row(
    problem: &MnistProblem<'_>,
    out: &RunOutput,
    digit: usize,
    n: usize,
    pred_o: &[u8],
    pred_e: &[u8],
) -> MnistRow {
    let lam = problem.weights.lambda / n as f64; // lambda' = lambda / N
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
        j: j_star,
        ess,
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

/// What training one shipped network produced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Test accuracy on the 1,000 held-out digits (classifiers; NaN for the score network).
    pub test_accuracy: f64,
    /// Mean training loss at the end.
    pub final_loss: f64,
    /// Optimiser steps run.
    pub steps: usize,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// Train one of the three shipped networks on the fixed train split and write it to `out`.
/// `score_net` is the score network's shape (ignored for the classifiers); `init` continues from a
/// file of the same network; with `cfg.checkpoint_every > 0` the score run writes `out` periodically.
pub fn train_network(
    kind: nn::ModelKind,
    cfg: &nn::TrainConfig,
    score_net: ScoreNetConfig,
    init: Option<&Path>,
    out: &Path,
    progress: impl FnMut(usize, f64),
) -> Result<TrainReport> {
    let t0 = Instant::now();
    let data = Mnist::load(&Mnist::default_dir())?;
    let (train, test) = data.split(N_TEST)?;
    let (xtr, xte) = (train.images_pm1(), test.images_pm1());
    let (test_accuracy, final_loss, steps) = match kind {
        nn::ModelKind::Objective => {
            let mut m = nn::fresh_objective(cfg.seed)?;
            if let Some(p) = init {
                nn::load_into(&mut m, kind, p)?;
            }
            let l = nn::train_classifier(&m, &xtr, &train.labels, cfg, progress)?;
            nn::save(&m, out)?;
            (nn::accuracy(&m.model, &xte, &test.labels)?, l, cfg.steps)
        }
        nn::ModelKind::Eval => {
            let mut m = nn::fresh_eval(cfg.seed)?;
            if let Some(p) = init {
                nn::load_into(&mut m, kind, p)?;
            }
            let l = nn::train_classifier(&m, &xtr, &train.labels, cfg, progress)?;
            nn::save(&m, out)?;
            (nn::accuracy(&m.model, &xte, &test.labels)?, l, cfg.steps)
        }
        nn::ModelKind::Score => {
            let pca = if score_net.latent > 0 {
                Some(nn::Pca::fit(&xtr, score_net.latent)?)
            } else {
                None
            };
            let mut m = nn::fresh_score(cfg.seed, score_net, pca.as_ref())?;
            if let Some(p) = init {
                nn::load_into(&mut m, kind, p)?;
            }
            let (l, steps) =
                nn::train_score(&m, &xtr, &VpSchedule::default(), cfg, Some(out), progress)?;
            nn::save(&m, out)?;
            (f64::NAN, l, steps)
        }
    };
    Ok(TrainReport {
        test_accuracy,
        final_loss,
        steps,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// Retrain the objective classifier, the evaluation classifier and the score network on the fixed
/// train split and write them into `dir` (the shipped directory is [`nn::weights_dir`]).
/// `quick`: 20 optimiser steps each (a smoke test of the pipeline, useless networks); otherwise
/// the reference settings of [`nn::TrainConfig::reference`] (the same as `cargo xtask train
/// <objective|eval|score>`). Returns the classifiers' test accuracies.
pub fn retrain_all(
    quick: bool,
    dir: &Path,
    mut progress: impl FnMut(&str, usize, f64),
) -> Result<(f64, f64)> {
    let mut acc = [f64::NAN; 2];
    for (k, kind) in [
        nn::ModelKind::Objective,
        nn::ModelKind::Eval,
        nn::ModelKind::Score,
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = nn::TrainConfig::reference(kind);
        if quick {
            c.steps = 20;
            c.batch = c.batch.min(64);
        }
        let r = train_network(
            kind,
            &c,
            ScoreNetConfig::default(),
            None,
            &dir.join(kind.file_name()),
            |s, l| progress(kind.name(), s, l),
        )?;
        if k < 2 {
            acc[k] = r.test_accuracy;
        }
    }
    Ok((acc[0], acc[1]))
}

/// Train (or resume) the CMAD controls of `(digit, n, cfg.method())` against the shipped (or
/// `weights`) score network and objective classifier, writing `out` every `opts.checkpoint_every`
/// steps; `progress` gets the record after every step.
pub fn train_controls(
    digit: usize,
    n: usize,
    cfg: &CmadConfig,
    control: ControlConfig,
    weights: Option<&Path>,
    opts: &TrainOptions,
    progress: impl FnMut(&ControlRecord),
) -> Result<ControlRecord> {
    let wp = |k: nn::ModelKind| weights.map(|d| d.join(k.file_name()));
    let score_vars = nn::load_score(wp(nn::ModelKind::Score).as_deref())?;
    let score = frozen_score(&score_vars.vars, ScoreNetConfig::default())?;
    let pca = nn::pca_of(&score_vars.vars)?;
    let objective = nn::load_objective(wp(nn::ModelKind::Objective).as_deref())?;
    let problem = MnistProblem::new(&score, &objective.model, digit, n)?;
    let (_, record) = problem.train_with(cfg, control, pca.as_ref(), opts, progress)?;
    Ok(record)
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
