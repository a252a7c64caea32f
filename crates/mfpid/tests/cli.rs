//! End-to-end tests of the `mfpid` binary.
use std::process::Command;

fn mfpid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfpid"))
}

#[test]
fn bridge_writes_samples_with_the_target_mean() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let o = mfpid()
        .args([
            "bridge",
            "--target",
            "0.6:0.1:0.2",
            "--target",
            "0.4:1.5:0.3",
            "--start",
            "5",
            "--particles",
            "4000",
            "--steps",
            "800",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let xs: Vec<f64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(xs.len(), 4000);
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    // target mean 0.66, sd 0.73: 4 standard errors = 0.046, plus O(h) bias
    assert!((mean - 0.66).abs() < 0.06, "mean {mean}");
}

#[test]
fn bad_input_gives_one_line_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    for (args, needle) in [
        (
            vec!["bridge", "--target", "0.6:0.1"],
            "expected WEIGHT:MEAN:STD",
        ),
        (
            vec!["bridge", "--target", "0.6:x:0.2"],
            "mean 'x' is not a number",
        ),
        (
            vec!["bridge", "--target", "0.6:0.1:-0.2"],
            "std must be positive",
        ),
        (
            vec![
                "bridge",
                "--target",
                "0.6:0.1:0.2",
                "--target",
                "0.4:1:0.1",
                "--particles",
                "0",
            ],
            "particles",
        ),
        (vec!["bridge", "--target", "0:0.1:0.2"], "weight"),
    ] {
        let o = mfpid().args(&args).arg("--out").arg(&out).output().unwrap();
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists() && !dir.path().join("s.csv.tmp").exists());
    }
}
