//! End-to-end tests of the `mfpid` binary: every example config in quick mode, every documented bad
//! input (message and absence of partial output), NPY round trips, reproducibility, Ctrl-C.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mfpid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfpid"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------- the flag-driven `bridge`

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
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let xs: Vec<f64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(xs.len(), 4000);
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    // target mean 0.66, sd 0.73: 4 standard errors = 0.046, plus O(h) bias
    assert!((mean - 0.66).abs() < 0.06, "mean {mean}");
}

#[test]
fn bridge_bad_input_gives_one_line_and_no_file() {
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
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists() && !dir.path().join("s.csv.tmp").exists());
    }
}

// ---------------------------------------------------------------- help

#[test]
fn help_lists_every_subcommand_and_each_has_an_example() {
    let o = mfpid().arg("--help").output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for sub in [
        "validate", "sample", "fleet", "lqg", "thermo", "bridge", "info",
    ] {
        assert!(text.contains(sub), "--help lacks {sub}:\n{text}");
    }
    for sub in [
        vec!["validate"],
        vec!["sample"],
        vec!["fleet"],
        vec!["lqg"],
        vec!["thermo", "rates"],
        vec!["thermo", "ift"],
        vec!["thermo", "franz-parisi"],
        vec!["bridge"],
    ] {
        let o = mfpid().args(&sub).arg("--help").output().unwrap();
        assert!(o.status.success(), "{sub:?} --help failed");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("Example"),
            "{sub:?} --help has no example:\n{text}"
        );
        // every example command in the help names a file that exists
        for word in text
            .split_whitespace()
            .filter(|w| w.starts_with("examples/"))
        {
            assert!(
                repo_root().join(word).exists(),
                "{sub:?} --help names {word}"
            );
        }
    }
}

// ---------------------------------------------------------------- every example config

fn run_quick(args: &[&str], out: &Path) -> Output {
    mfpid()
        .current_dir(repo_root())
        .args(args)
        .args(["--quick", "--quiet", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn every_example_config_validates_and_runs_in_quick_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e == "toml").unwrap_or(false))
        .collect();
    configs.sort();
    assert!(
        configs.len() >= 6,
        "expected the example configs, found {configs:?}"
    );
    for cfg in configs {
        let name = cfg.file_stem().unwrap().to_string_lossy().to_string();
        let rel = format!("examples/{name}.toml");
        let v = mfpid()
            .current_dir(repo_root())
            .args(["validate", &rel])
            .output()
            .unwrap();
        assert!(v.status.success(), "validate {rel}: {}", stderr(&v));
        let text = String::from_utf8_lossy(&v.stdout);
        assert!(text.contains(": ok") && text.contains("cost"), "{text}");
        let sub = if name.starts_with("sample") {
            "sample"
        } else if name.starts_with("fleet") {
            "fleet"
        } else if name.starts_with("lqg") {
            "lqg"
        } else {
            panic!("example {name} has no subcommand prefix (sample-, fleet-, lqg-)")
        };
        let out = dir.path().join(&name);
        let o = run_quick(&[sub, &rel], &out);
        assert!(o.status.success(), "{sub} {rel}: {}", stderr(&o));
        let files = listing(&out);
        let expected: &[&str] = match sub {
            "sample" => &[
                "samples.npy",
                "samples.csv",
                "energy.csv",
                "moments.csv",
                "checks.csv",
                "summary.json",
                "run.json",
                "terminal.svg",
                "terminal.png",
                "energy.svg",
                "energy.png",
                "paths.svg",
                "paths.png",
            ],
            "fleet" => &[
                "table.csv",
                "table.json",
                "per_zone.csv",
                "subpopulations.csv",
                "power.csv",
                "mean_path.csv",
                "terminal.csv",
                "power.svg",
                "power.png",
                "energy.svg",
                "energy.png",
                "summary.json",
                "run.json",
            ],
            _ => &[
                "table.csv",
                "table.json",
                "trajectories.csv",
                "lqg.svg",
                "lqg.png",
                "summary.json",
                "run.json",
            ],
        };
        for f in expected {
            assert!(files.contains(&f.to_string()), "{rel}: no {f} in {files:?}");
        }
        // run.json records the config, the seed, versions and timings
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        for k in ["config", "seed", "versions", "timings"] {
            assert!(!run[k].is_null(), "{rel}: run.json lacks {k}");
        }
        assert_eq!(run["quick"], true);
        // nothing left next to the output directory
        assert!(
            listing(dir.path())
                .iter()
                .all(|n| !n.contains("mfpid-partial")),
            "{:?}",
            listing(dir.path())
        );
    }
}

#[test]
fn lqg_without_config_reproduces_the_spec_energies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lqg");
    let o = run_quick(&["lqg"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // the spec's adaptive-integrator values (tolerance 1e-11)
    for (i, want) in [7.60372, 10.46880, 10.81088].iter().enumerate() {
        let e = s["methods"][i]["energy"].as_f64().unwrap();
        assert!((e - want).abs() < 2e-5, "method {i}: {e} vs {want}");
        // the particle check is an independent estimate
        let sim = &s["methods"][i]["simulation"];
        let (se, st) = (
            sim["energy"].as_f64().unwrap(),
            sim["energy_stderr"].as_f64().unwrap(),
        );
        assert!(
            (se - e).abs() < 5.0 * st + 0.05 * e,
            "method {i}: sim {se} ± {st} vs {e}"
        );
    }
}

#[test]
fn thermo_diagnostics_write_their_tables() {
    let dir = tempfile::tempdir().unwrap();
    for (args, files) in [
        (
            vec!["thermo", "rates", "--mu", "1", "--sigma2", "1"],
            vec!["table.csv", "rates.svg", "rates.png"],
        ),
        (
            vec!["thermo", "ift", "--paths", "2000"],
            vec!["table.csv", "dft.csv", "ift.svg", "ift.png"],
        ),
        (
            vec!["thermo", "franz-parisi", "--pairs", "500"],
            vec!["table.csv", "franz_parisi.svg", "franz_parisi.png"],
        ),
    ] {
        let out = dir.path().join(args[1]);
        let o = run_quick(&args, &out);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let l = listing(&out);
        for f in files.iter().chain(&["summary.json", "run.json"]) {
            assert!(l.contains(&f.to_string()), "{args:?}: no {f} in {l:?}");
        }
    }
    let rates: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("rates/summary.json")).unwrap(),
    )
    .unwrap();
    // mu = sigma² = 1: t_s = ½ ln 2
    let ts = rates["speciation_time"].as_f64().unwrap();
    assert!((ts - 0.5 * 2f64.ln()).abs() < 1e-12, "{ts}");
    let ift: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("ift/summary.json")).unwrap(),
    )
    .unwrap();
    let m = ift["ift"]["ift_mean"].as_f64().unwrap();
    assert!((m - 1.0).abs() < 0.1, "IFT mean {m}");
}

// ---------------------------------------------------------------- bad inputs

const GOOD_TARGET: &str = "[target]\nweights = [0.6, 0.4]\nmeans = [0.1, 1.5]\nstd = [0.2, 0.3]\n";

/// Run `sample` (and `validate`) on `config` written to `dir/name.toml`; both must fail with one
/// line containing every needle, and leave no output directory and no staging directory.
fn assert_bad(name: &str, config: &str, needles: &[&str], extra: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for (f, text) in extra {
        std::fs::write(dir.path().join(f), text).unwrap();
    }
    let cfg = dir.path().join(format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let out = dir.path().join("out");
    for sub in ["validate", "sample"] {
        let mut c = mfpid();
        c.arg(sub).arg(&cfg).arg("--quick");
        // validate writes nothing and refuses --out
        if sub == "sample" {
            c.arg("--out").arg(&out);
        }
        let o = c.output().unwrap();
        assert!(!o.status.success(), "{name}: {sub} should fail");
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{name}: {sub}: {err}");
        assert!(err.starts_with("mfpid: error: "), "{err}");
        for n in needles {
            assert!(err.contains(n), "{name}: {sub}: missing {n:?} in\n{err}");
        }
        assert!(!out.exists(), "{name}: {sub} left {}", out.display());
        let left: Vec<String> = listing(dir.path())
            .into_iter()
            .filter(|n| n.contains("mfpid-partial"))
            .collect();
        assert!(left.is_empty(), "{name}: staging left: {left:?}");
    }
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    assert_bad(
        "malformed",
        "[run]\nparticles = 100\n[target\nmeans = [1.0]\n",
        &["malformed.toml:3:8: unclosed table, expected `]`"],
        &[],
    );
}

#[test]
fn unknown_field_lists_the_accepted_fields() {
    assert_bad(
        "unknown",
        &format!("[run]\nparticle = 100\n{GOOD_TARGET}"),
        &[
            "unknown.toml:2:1: run.particle:",
            "unknown field `particle`",
            "expected one of `particles`, `steps`, `scheme`, `eps`, `seed`",
        ],
        &[],
    );
    assert_bad(
        "unknown-kind",
        &format!("[protocol]\nkind = \"adaptive\"\n{GOOD_TARGET}"),
        &[
            "unknown-kind.toml:2:8: protocol.kind:",
            "unknown variant `adaptive`",
            "`pid`, `constant`, `geometric`, `piecewise`",
        ],
        &[],
    );
}

#[test]
fn wrong_type_names_the_expected_type() {
    assert_bad(
        "wrongtype",
        &format!("[run]\nparticles = \"many\"\n{GOOD_TARGET}"),
        &[
            "wrongtype.toml:2:13: run.particles:",
            "invalid type: string \"many\", expected usize",
        ],
        &[],
    );
}

#[test]
fn negative_variance_is_located() {
    assert_bad(
        "negvar",
        "[target]\nweights = [0.6, 0.4]\nmeans = [0.1, 1.5]\nvariance = [0.04, -0.09]\n",
        &[
            "negvar.toml:4:19: target.variance[1]:",
            "variance -0.09 is negative; a variance must be > 0",
        ],
        &[],
    );
}

#[test]
fn non_psd_covariance_is_located() {
    assert_bad(
        "nonpsd",
        "[target]\nmeans = [[0.0, 0.0]]\ncov = [[[1.0, 2.0], [2.0, 1.0]]]\n",
        &[
            "nonpsd.toml:3:8: target.cov[0]:",
            "not symmetric positive definite",
            "eigenvalues > 0",
        ],
        &[],
    );
}

#[test]
fn dimension_mismatch_is_located() {
    assert_bad(
        "dims",
        &format!("[start]\npoint = [1.0, 2.0]\n{GOOD_TARGET}"),
        &[
            "dims.toml:2:9: start.point:",
            "has 2 coordinates but the target has d = 1 (dimension mismatch)",
        ],
        &[],
    );
    assert_bad(
        "dims-means",
        "[target]\nmeans = [[0.0, 0.0], [1.0]]\nstd = [1.0, 1.0]\n",
        &[
            "dims-means.toml:2:22: target.means[1]:",
            "has 1 coordinates but target.means[0] has 2",
        ],
        &[],
    );
}

#[test]
fn missing_data_file_is_named() {
    assert_bad(
        "missing",
        "[target]\nfile = \"nowhere.csv\"\n",
        &[
            "missing.toml:2:8: target.file:",
            "nowhere.csv does not exist",
        ],
        &[],
    );
}

#[test]
fn nan_in_a_csv_names_line_and_column() {
    assert_bad(
        "nan",
        "[target]\nfile = \"points.csv\"\n",
        &["points.csv: line 4, column 2: value NaN is not finite"],
        &[("points.csv", "x,y\n1.0,2.0\n0.5,0.1\n3.0,NaN\n")],
    );
}

#[test]
fn unwritable_output_directory_fails_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ok.toml");
    std::fs::write(&cfg, GOOD_TARGET).unwrap();
    // a regular file where a directory is needed: fails even as root
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("out");
    let t0 = std::time::Instant::now();
    let o = mfpid()
        .arg("sample")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("cannot create output directory") && err.contains("file/out"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // the full-size run (20000 x 2500) never started
    assert!(t0.elapsed().as_secs_f64() < 2.0);
    assert_eq!(listing(dir.path()), vec!["file", "ok.toml"]);
    // an existing non-empty directory is refused without --force
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), "x").unwrap();
    let o = mfpid()
        .args(["sample", "--quick", "-q"])
        .arg(&cfg)
        .arg("--out")
        .arg(&taken)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(listing(&taken), vec!["keep.txt"]);
    // --force never deletes what the program did not write: a directory without its marker is
    // refused, one line naming what is there, and left as it was
    let o = mfpid()
        .args(["sample", "--quick", "-q", "--force"])
        .arg(&cfg)
        .arg("--out")
        .arg(&taken)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("refusing to replace") && err.contains("keep.txt"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(listing(&taken), vec!["keep.txt"]);
    // the program's own output (its run.json lists every file) is replaced with --force
    let own = dir.path().join("own");
    for force in [false, true] {
        let mut c = mfpid();
        c.args(["sample", "--quick", "-q"]);
        if force {
            c.arg("--force");
        }
        let o = c.arg(&cfg).arg("--out").arg(&own).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(listing(&own).contains(&"samples.npy".to_string()));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(own.join("run.json")).unwrap()).unwrap();
    let files: Vec<&str> = run["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"run.json") && files.contains(&"samples.npy"));
    // ... but not once a foreign file sits in it, e.g. the user's config copied there
    std::fs::copy(&cfg, own.join("my-config.toml")).unwrap();
    let o = mfpid()
        .args(["sample", "--quick", "-q", "--force"])
        .arg(&cfg)
        .arg("--out")
        .arg(&own)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("files mfpid did not write") && err.contains("my-config.toml"),
        "{err}"
    );
    assert!(own.join("my-config.toml").is_file() && own.join("samples.npy").is_file());
}

// ---------------------------------------------------------------- NPY round trip

/// Parse an NPY v1/v2 file per the format specification (independently of the writer crate):
/// returns (descr, fortran_order, shape, data).
fn read_npy_by_hand(bytes: &[u8]) -> (String, bool, Vec<usize>, Vec<f64>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => panic!("unknown NPY version {v}"),
    };
    assert_eq!((start + hlen) % 64, 0, "header not aligned to 64 bytes");
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.ends_with('\n'), "{header:?}");
    let field = |key: &str| -> String {
        let i = header
            .find(&format!("'{key}':"))
            .unwrap_or_else(|| panic!("{key} in {header}"));
        header[i + key.len() + 3..].trim_start().to_string()
    };
    let descr = field("descr");
    let descr = descr[1..descr[1..].find('\'').unwrap() + 1].to_string();
    let fortran = field("fortran_order").starts_with("True");
    let shape_s = field("shape");
    let shape: Vec<usize> = shape_s[1..shape_s.find(')').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data: Vec<f64> = bytes[start + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (descr, fortran, shape, data)
}

fn python_with_numpy() -> Option<PathBuf> {
    let candidates = [
        repo_root().join(".venv/bin/python"),
        PathBuf::from("python3"),
    ];
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn samples_npy_round_trip_with_shape_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[run]\nparticles = 300\nsteps = 100\n[target]\nmeans = [[0.0, 1.0], [2.0, -1.0]]\ndiag = [[0.1, 0.2], [0.3, 0.1]]\n[output]\ntrajectories = 5\nfigures = false\n",
    )
    .unwrap();
    let out = dir.path().join("o");
    let o = mfpid()
        .args(["sample", "-q"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (descr, fortran, shape, data) =
        read_npy_by_hand(&std::fs::read(out.join("samples.npy")).unwrap());
    assert_eq!(
        (descr.as_str(), fortran, shape.as_slice()),
        ("<f8", false, &[300, 2][..])
    );
    assert_eq!(data.len(), 600);
    // the CSV holds the same numbers (written with shortest round-trip formatting)
    let csv: Vec<f64> = std::fs::read_to_string(out.join("samples.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(csv, data);
    let (_, _, tshape, _) = read_npy_by_hand(&std::fs::read(out.join("trajectories.npy")).unwrap());
    assert_eq!(tshape.len(), 3);
    assert_eq!(&tshape[1..], &[5, 2]);
    match python_with_numpy() {
        Some(py) => {
            let script = format!(
                "import numpy as np; a = np.load(r'{}'); print(a.shape, a.dtype, repr(float(a.sum())))",
                out.join("samples.npy").display()
            );
            let o = Command::new(py).args(["-c", &script]).output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.starts_with("(300, 2) float64"), "{text}");
            let sum: f64 = text.split_whitespace().last().unwrap().parse().unwrap();
            let ours: f64 = data.iter().sum();
            assert!(
                (sum - ours).abs() <= 1e-9 * ours.abs().max(1.0),
                "{sum} vs {ours}"
            );
        }
        None => eprintln!("NumPy not available: NPY checked by the by-hand reader only"),
    }
}

#[test]
fn npy_targets_and_starts_are_read() {
    // write an NPY with the by-hand layout (not the program's writer) and use it as a target
    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<f64> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                (i / 2) as f64 * 0.1
            } else {
                1.0
            }
        })
        .collect();
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (20, 2), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in &pts {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(dir.path().join("t.npy"), bytes).unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[run]\nparticles = 500\nsteps = 200\n[target]\nfile = \"t.npy\"\n[output]\nfigures = false\n",
    )
    .unwrap();
    let out = dir.path().join("o");
    let o = mfpid()
        .args(["sample", "-q"])
        .arg(dir.path().join("c.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // every target point has y = 1: the bridge ends on the atoms
    let m = s["terminal_mean"][1].as_f64().unwrap();
    assert!((m - 1.0).abs() < 0.05, "{m}");
    let dist = s["mean_nearest_target_point_distance"].as_f64().unwrap();
    assert!(dist < 0.1, "{dist}");
}

// ---------------------------------------------------------------- reproducibility and Ctrl-C

#[test]
fn same_seed_same_samples_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!("[run]\nparticles = 1000\nsteps = 100\n[start.population]\nmeans = [3.0, 5.0]\nstd = [0.5, 0.5]\n{GOOD_TARGET}[output]\nfigures = false\n"),
    )
    .unwrap();
    let run = |name: &str, extra: &[&str]| -> Vec<u8> {
        let out = dir.path().join(name);
        let o = mfpid()
            .args(["sample", "-q"])
            .arg(&cfg)
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(out.join("samples.npy")).unwrap()
    };
    let a = run("a", &["--threads", "1", "--seed", "5"]);
    let b = run("b", &["--threads", "2", "--seed", "5"]);
    let c = run("c", &["--seed", "6"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// Start `mfpid SUBCOMMAND CONFIG` on a long run, send SIGINT once it has started, and check that
/// `settle_ms` later, and check that it exits with code 130 within `limit_s` seconds, says so, and leaves no output behind.
#[cfg(unix)]
fn interrupt_long_run(subcommand: &str, config_text: &str, settle_ms: u64, limit_s: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("long.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let out = dir.path().join("out");
    let child = mfpid()
        .arg(subcommand)
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait for the staging directory: the run has started
    let t0 = std::time::Instant::now();
    while !listing(dir.path())
        .iter()
        .any(|n| n.contains("mfpid-partial"))
    {
        assert!(t0.elapsed().as_secs() < 30, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(settle_ms));
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let t_kill = std::time::Instant::now();
    let o = child.wait_with_output().unwrap();
    // the run itself would take minutes; stopping must not wait for it
    assert!(
        t_kill.elapsed().as_secs() < limit_s,
        "took {:?} to stop",
        t_kill.elapsed()
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert!(!out.exists());
    assert_eq!(listing(dir.path()), vec!["long.toml"]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_and_leaves_nothing() {
    let text = format!("[run]\nparticles = 400000\nsteps = 5000\n{GOOD_TARGET}");
    interrupt_long_run("sample", &text, 200, 30);
}

/// A fleet run is stopped inside a method (the energy library polls the flag every step), not
/// only between methods: one method of 10^6 agents x 20000 steps would take many minutes.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_fleet_run_within_a_method() {
    let text = "[run]\nagents = 1000000\nsteps = 20000\n\
        [protocol]\nbeta0 = 12.0\ngamma = 0.65\npieces = 8\n\
        [fleet.p_in]\nmeans = [[1.6, 1.6]]\nstd = [0.5]\n\
        [fleet.p_tar]\nmeans = [[0.1, 0.1]]\nstd = [0.2]\n\
        [methods]\ncompare = [\"MF\"]\nbaseline = \"MF\"\n";
    // 1.5 s in, the first method is running (drawing 10^6 starts takes ~0.1 s)
    interrupt_long_run("fleet", text, 1500, 30);
}

// ---------------------------------------------------------------- debris of killed runs

#[test]
fn staging_left_by_a_killed_run_is_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ok.toml");
    std::fs::write(&cfg, GOOD_TARGET).unwrap();
    // what a run killed with SIGKILL leaves: its staging directory, named with its (gone) pid;
    // pid_max on Linux is at most 2^22, so no process 999999999 exists
    let stale = dir.path().join(".out.mfpid-partial-999999999");
    std::fs::create_dir_all(stale.join("figures")).unwrap();
    std::fs::write(stale.join("samples.npy"), "half-written").unwrap();
    let o = mfpid()
        .args(["sample", "--quick", "-q"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    if std::path::Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "stale staging directory still there");
    }
    assert_eq!(listing(dir.path()), vec!["ok.toml", "out"]);
}

/// Fleet settings and laws are validated once, by `mfpid-energy` (`Settings::validate`,
/// `Fleet::new`, which factorises each covariance once); the program only maps the library's field
/// to its TOML path.
#[test]
fn fleet_errors_come_from_the_library_with_their_toml_path() {
    let law = "[fleet.p_in]\nmeans = [[1.6, 1.6]]\nstd = [0.5]\n\
        [fleet.p_tar]\nmeans = [[0.1, 0.1]]\nstd = [0.2]\n\
        [methods]\ncompare = [\"MF\", \"IA0\"]\nbaseline = \"IA0\"\n";
    let cases = [
        ("[run]\nagents = 1\n", "run.agents: 1 must be >= 2"),
        ("[run]\neps = 0.7\n", "run.eps: 0.7 must be in (0, 0.5)"),
        ("[run]\nsteps = 3\n", "run.steps: 3 must be >= pieces"),
        (
            "[protocol]\ngamma = -1.0\n",
            "protocol.gamma: -1 must be finite and >= 0",
        ),
    ];
    for (extra, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("f.toml");
        std::fs::write(&cfg, format!("{extra}{law}")).unwrap();
        let o = mfpid().arg("validate").arg(&cfg).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra}: {err}");
        assert!(
            err.contains(needle),
            "{extra}: missing {needle:?} in\n{err}"
        );
    }
    // a full covariance that is not positive definite is located at its component
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("f.toml");
    std::fs::write(
        &cfg,
        "[fleet.p_in]\nmeans = [[1.6, 1.6]]\ncov = [[[1.0, 2.0], [2.0, 1.0]]]\n\
         [fleet.p_tar]\nmeans = [[0.1, 0.1]]\nstd = [0.2]\n\
         [methods]\ncompare = [\"MF\", \"IA0\"]\nbaseline = \"IA0\"\n",
    )
    .unwrap();
    let o = mfpid().arg("validate").arg(&cfg).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("fleet.p_in.cov[0]: not symmetric positive definite"),
        "{err}"
    );
}

// ---------------------------------------------------------------- --strict

/// A run whose checks against the analytic marginal fail (8 Euler steps from z = 5: a large
/// time-discretisation bias, seen by 40000 particles) warns, and with --strict exits with 3; the
/// outputs are written either way.
#[test]
fn failed_checks_warn_and_strict_exits_with_3() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("coarse.toml");
    std::fs::write(
        &cfg,
        format!("[run]\nparticles = 40000\nsteps = 8\n[start]\npoint = [5.0]\n{GOOD_TARGET}[output]\nfigures = false\n"),
    )
    .unwrap();
    for (strict, code) in [(false, 0), (true, 3)] {
        let out = dir.path().join(format!("out-{strict}"));
        let mut c = mfpid();
        c.args(["sample", "-q"]).arg(&cfg).arg("--out").arg(&out);
        if strict {
            c.arg("--strict");
        }
        let o = c.output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        let want = if strict {
            "mfpid: error: "
        } else {
            "mfpid: warning: "
        };
        assert!(
            err.starts_with(want) && err.contains("max |mean z-score|"),
            "{err}"
        );
        assert!(out.join("summary.json").is_file());
    }
    // the same bridge with enough steps passes its checks: no warning
    std::fs::write(
        &cfg,
        format!("[run]\nparticles = 40000\nsteps = 2000\n[start]\npoint = [5.0]\n{GOOD_TARGET}[output]\nfigures = false\n"),
    )
    .unwrap();
    let o = mfpid()
        .args(["sample", "-q", "--strict"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("fine"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

// ---------------------------------------------------------------- physical units

/// The physical example fleets: the console, table.csv, summary.json and energy.svg show the same
/// HVAC energy (kWh) and peak power (kW) savings with their standard errors, and the baseline's
/// savings are zero.
#[test]
fn physical_fleets_agree_across_console_table_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["fleet-physical", "fleet-physical-3zone"] {
        let out = dir.path().join(name);
        let o = mfpid()
            .current_dir(repo_root())
            .args([
                "fleet",
                &format!("examples/{name}.toml"),
                "--quick",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let console = String::from_utf8_lossy(&o.stdout).to_string();
        let table = std::fs::read_to_string(out.join("table.csv")).unwrap();
        let svg = std::fs::read_to_string(out.join("energy.svg")).unwrap();
        let mut lines = table.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        // the physical columns lead
        assert_eq!(
            &head[..5],
            &[
                "method",
                "hvac_kwh",
                "hvac_kwh_se",
                "hvac_saving_pct",
                "hvac_saving_se_pct"
            ]
        );
        let col = |row: &[&str], c: &str| -> f64 {
            row[head.iter().position(|h| *h == c).unwrap()]
                .parse()
                .unwrap()
        };
        for line in lines {
            let row: Vec<&str> = line.split(',').collect();
            let (m, kwh, se) = (row[0], col(&row, "hvac_kwh"), col(&row, "hvac_kwh_se"));
            let (sv, sv_se) = (
                col(&row, "hvac_saving_pct"),
                col(&row, "hvac_saving_se_pct"),
            );
            let (pk, pk_sv, pk_se) = (
                col(&row, "peak_kw"),
                col(&row, "peak_saving_pct"),
                col(&row, "peak_saving_se_pct"),
            );
            assert!(kwh > 0.0 && se > 0.0 && pk > 0.0, "{name} {m}: {line}");
            // console: the method's line holds the same numbers, rounded
            let cl = console
                .lines()
                .find(|l| l.split_whitespace().next() == Some(m))
                .unwrap_or_else(|| panic!("{name}: no console line for {m}:\n{console}"));
            assert!(cl.contains(&format!("{kwh:.3} ± {se:.3}")), "{name}: {cl}");
            if m == "IA0" {
                assert!(
                    sv == 0.0 && pk_sv == 0.0 && cl.contains("(baseline)"),
                    "{cl}"
                );
            } else {
                assert!(
                    cl.contains(&format!("{sv:.2} ± {sv_se:.2}")),
                    "{name}: {cl}"
                );
                assert!(
                    cl.contains(&format!("{pk_sv:.2} ± {pk_se:.2}")),
                    "{name}: {cl}"
                );
                // figure: the savings panel labels each method with both savings ± errors
                let label = format!("{m}: kWh {sv:.1}±{sv_se:.1}, peak {pk_sv:.1}±{pk_se:.1}");
                assert!(svg.contains(&label), "{name}: no {label:?} in energy.svg");
            }
            assert!(
                svg.contains(&format!("{m} {kwh:.3}±{se:.3}")),
                "{name}: {m} kWh label"
            );
        }
        // MF beats the baseline on peak power by many standard errors
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        let mf = &s["methods"][0]["physical"]["saving"];
        assert!(
            mf["peak_pct"].as_f64().unwrap() > 10.0 * mf["peak_se_pct"].as_f64().unwrap(),
            "{mf}"
        );
    }
}
