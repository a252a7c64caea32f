//! Quick mode of the MNIST pipeline on the shipped weights, and the errors for missing/corrupt files.

use mfpid_compose::compose::{frozen_score, MnistCmadConfig, MnistProblem, Steer};
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
    // w = 100 guidance drives the objective loss down relative to unguided sampling
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
    let obj = nn::load_objective(None).unwrap();
    let p = MnistProblem::new(&score, &obj.model, 3, 3).unwrap();
    let cfg = MnistCmadConfig {
        batch: 2,
        k_steps: 5,
        iters: 0,
        hidden: 16,
        ..Default::default()
    };
    let (c0, h0) = p.train(&cfg).unwrap();
    assert!(h0.is_empty());
    let base = p.sample(&Steer::Base, 3, 5, 9).unwrap();
    let zero = p.sample(&Steer::Cmad(&c0), 3, 5, 9).unwrap();
    assert_eq!(
        base.images, zero.images,
        "zero-initialised control must not move the samples"
    );
    assert!(zero.energy.iter().all(|&e| e == 0.0));
    let (c1, h1) = p
        .train(&MnistCmadConfig {
            iters: 2,
            lr: 1e-2,
            ..cfg
        })
        .unwrap();
    assert_eq!(h1.len(), 2);
    let moved = p.sample(&Steer::Cmad(&c1), 3, 5, 9).unwrap();
    assert!(moved.energy.iter().all(|&e| e > 0.0));
    let (_, hf) = p
        .train(&MnistCmadConfig {
            iters: 3,
            fictitious_inner: Some(1),
            ..cfg
        })
        .unwrap();
    assert_eq!(hf.len(), 3);
    assert!(MnistProblem::new(&score, &obj.model, 10, 2).is_err());
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
            && e.to_string().contains("--example train -- eval")
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
