//! Quick mode of the MNIST pipeline on the shipped weights, and the errors for missing/corrupt files.

use mfpid_compose::cmad::{CmadConfig, CmadVariant};
use mfpid_compose::compose::{
    controls_file_name, controls_train_command, frozen_score, load_controls, ControlConfig,
    MnistProblem, Steer, TrainOptions,
};
use mfpid_compose::nn::{self, ModelKind, ScoreNetConfig};
use mfpid_compose::repro::{compose_mnist, MnistRunConfig};
use mfpid_compose::ComposeError;

#[test]
fn quick_mode_runs_and_cdps_steers_toward_the_digit() {
    let t0 = std::time::Instant::now();
    let (rows, grids) = compose_mnist(&MnistRunConfig::quick(1), None).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(grids.len(), 4);
    for r in &rows {
        assert!(
            r.terminal_loss.is_finite() && r.frechet.is_finite() && r.control_energy.is_finite(),
            "{r:?}"
        );
        assert!((0.0..=1.0).contains(&r.acc_objective) && (0.0..=1.0).contains(&r.acc_eval));
        eprintln!("{r:?}");
    }
    let get = |m: &str| rows.iter().find(|r| r.method == m).unwrap();
    assert_eq!(get("base").control_energy, 0.0);
    assert!(get("cdps").control_energy > 0.0);
    // guidance at the reference weight (w = 100/64 per sample) drives the objective loss down
    // relative to unguided sampling
    assert!(
        get("cdps").terminal_loss < get("base").terminal_loss,
        "{:?} vs {:?}",
        get("cdps"),
        get("base")
    );
    assert!(
        t0.elapsed().as_secs_f64() < 60.0,
        "quick mode took {:?}",
        t0.elapsed()
    );
}

#[test]
fn untrained_cmad_control_is_zero_and_training_changes_it() {
    let sv = nn::load_score(None).unwrap();
    let score = frozen_score(&sv.vars, ScoreNetConfig::default()).unwrap();
    let pca = nn::pca_of(&sv.vars).unwrap();
    let obj = nn::load_objective(None).unwrap();
    let mut p = MnistProblem::new(&score, &obj.model, 3, 3).unwrap();
    p.train_steps = 5;
    let cfg = CmadConfig {
        batch: 2,
        iters: 0,
        lr: 1e-4,
        clip: 1.0,
        hidden: 16,
        variant: CmadVariant::Joint,
        seed: 3,
    };
    for control in [ControlConfig::pixel(16), ControlConfig::pca(16, 8)] {
        let (c0, h0) = p.train(&cfg, control, pca.as_ref()).unwrap();
        assert!(h0.is_empty());
        let base = p.sample(&Steer::Base, 3, 5, 9).unwrap();
        let zero = p.sample(&Steer::Cmad(&c0), 3, 5, 9).unwrap();
        assert_eq!(
            base.images, zero.images,
            "zero-initialised control must not move the samples"
        );
        assert!(zero.energy.iter().all(|&e| e == 0.0));
        let (c1, h1) = p
            .train(
                &CmadConfig {
                    iters: 2,
                    lr: 1e-2,
                    ..cfg
                },
                control,
                pca.as_ref(),
            )
            .unwrap();
        assert_eq!(h1.len(), 2);
        let moved = p.sample(&Steer::Cmad(&c1), 3, 5, 9).unwrap();
        assert!(moved.energy.iter().all(|&e| e > 0.0));
    }
    // fictitious: 2 rounds of 3 agents x 1 step
    let (_, hf) = p
        .train(&cfg.fictitious(2, 1), ControlConfig::pixel(16), None)
        .unwrap();
    assert_eq!(hf.len(), 6);
    assert!(MnistProblem::new(&score, &obj.model, 10, 2).is_err());
    // the PCA variant without a basis is refused with the field named
    let e = p
        .train(&cfg, ControlConfig::pca(16, 8), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("control latent"), "{e}");
}

#[test]
fn control_training_resumes_exactly_and_files_name_their_command() {
    let dir = std::env::temp_dir().join(format!("mfpid-compose-ctl-{}", std::process::id()));
    let sv = nn::load_score(None).unwrap();
    let score = frozen_score(&sv.vars, ScoreNetConfig::default()).unwrap();
    let pca = nn::pca_of(&sv.vars).unwrap();
    let obj = nn::load_objective(None).unwrap();
    let mut p = MnistProblem::new(&score, &obj.model, 0, 2).unwrap();
    p.train_steps = 4;
    let cfg = CmadConfig {
        batch: 2,
        iters: 3,
        lr: 1e-2,
        clip: 1.0,
        hidden: 8,
        variant: CmadVariant::Joint,
        seed: 5,
    };
    let control = ControlConfig::pca(8, 4);
    let hint = controls_train_command(0, 2, "cmad_joint");
    let file = dir.join(controls_file_name(0, 2, "cmad_joint"));
    let opts = |max: Option<usize>, path: &std::path::Path| TrainOptions {
        checkpoint: Some(path.to_path_buf()),
        checkpoint_every: 1,
        resume: true,
        max_steps: max,
        hint: hint.clone(),
    };
    // uninterrupted: 3 steps
    let whole = dir.join("whole.safetensors");
    let (_, r_whole) = p
        .train_with(&cfg, control, pca.as_ref(), &opts(None, &whole), |_| {})
        .unwrap();
    assert!(r_whole.finished() && r_whole.history.len() == 3);
    // 1 step, then resumed for the other 2: the same losses and parameters
    let (_, r1) = p
        .train_with(&cfg, control, pca.as_ref(), &opts(Some(1), &file), |_| {})
        .unwrap();
    assert!(!r1.finished() && r1.done == 1);
    let mut seen = Vec::new();
    let (_, r2) = p
        .train_with(&cfg, control, pca.as_ref(), &opts(None, &file), |r| {
            seen.push(r.done)
        })
        .unwrap();
    assert_eq!(seen, [2, 3], "progress after every step");
    assert_eq!(r2.history, r_whole.history);
    let (a, _, _) = load_controls(&whole, &hint).unwrap();
    let (b, _, rb) = load_controls(&file, &hint).unwrap();
    assert!(rb.finished());
    for (va, vb) in a.vars.iter().zip(&b.vars) {
        for (x, y) in nn::trainable_vars(va)
            .unwrap()
            .iter()
            .zip(nn::trainable_vars(vb).unwrap())
        {
            let (x, y) = (
                x.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                y.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            );
            assert_eq!(x, y);
        }
    }
    // a missing or corrupt controls file names the file and the training command
    let missing = dir.join(controls_file_name(9, 3, "cmad_fictitious"));
    let e = load_controls(&missing, &controls_train_command(9, 3, "cmad_fictitious"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, ComposeError::Io { .. }), "{msg}");
    assert!(
        msg.contains("controls_d9_n3_cmad_fictitious.safetensors")
            && msg.contains("cargo xtask train controls --digit 9 --agents 3 --variant fictitious"),
        "{msg}"
    );
    std::fs::write(&missing, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let e = load_controls(&missing, &controls_train_command(9, 3, "cmad_fictitious"))
        .err()
        .unwrap();
    assert!(matches!(e, ComposeError::Weights { .. }), "{e}");
    assert!(e.to_string().contains("cargo xtask train controls"), "{e}");
    // compose-mnist with a directory that lacks the controls fails up front with the command
    let mut cfgm = MnistRunConfig::quick(1);
    cfgm.controls = mfpid_compose::repro::ControlSource::Files(dir.join("none"));
    let e = compose_mnist(&cfgm, None).err().unwrap().to_string();
    assert!(
        e.contains("controls_d0_n2_cmad_joint.safetensors")
            && e.contains("cargo xtask train controls --digit 0 --agents 2 --variant joint")
            && !e.contains("shared/"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_or_corrupt_weights_name_the_file_and_the_command() {
    let dir = std::env::temp_dir().join(format!("mfpid-compose-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nope.safetensors");
    let e = nn::load_objective(Some(&missing)).unwrap_err();
    assert!(matches!(e, ComposeError::Io { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("nope.safetensors") && msg.contains(&ModelKind::Objective.train_command()),
        "{msg}"
    );
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let e = nn::load_eval(Some(&corrupt)).unwrap_err();
    assert!(matches!(e, ComposeError::Weights { .. }), "{e}");
    assert!(
        e.to_string().contains("corrupt.safetensors")
            && e.to_string().contains("cargo xtask train eval")
    );
    // a valid file of the wrong network: missing tensors are reported, not panicked on
    let e = nn::load_score(Some(&ModelKind::Objective.default_path())).unwrap_err();
    assert!(matches!(e, ComposeError::Weights { .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quick_retrain_writes_usable_networks_and_leaves_the_shipped_ones() {
    let dir = std::env::temp_dir().join(format!("mfpid-compose-retrain-{}", std::process::id()));
    let shipped = |k: ModelKind| std::fs::read(k.default_path()).unwrap_or_default();
    let before: Vec<Vec<u8>> = [ModelKind::Score, ModelKind::Objective, ModelKind::Eval]
        .into_iter()
        .map(shipped)
        .collect();
    let mut seen = Vec::new();
    let d = mfpid_compose::repro::retrain_for_entry(true, &dir, |net, _, _| {
        if !seen.contains(&net.to_string()) {
            seen.push(net.to_string());
        }
    })
    .unwrap();
    assert_eq!(d, dir);
    assert_eq!(seen, ["objective", "eval", "score"]);
    let (r, images) = mfpid_compose::repro::compose_unconditional(8, 5, 1, Some(&dir)).unwrap();
    assert_eq!(images.len(), 8 * 784);
    assert_eq!(r.counts.iter().sum::<usize>(), 8);
    let after: Vec<Vec<u8>> = [ModelKind::Score, ModelKind::Objective, ModelKind::Eval]
        .into_iter()
        .map(shipped)
        .collect();
    assert!(
        before == after,
        "quick retraining must not touch the shipped weights"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
