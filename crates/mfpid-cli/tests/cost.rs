//! The cost estimator against measurement: every run records its memory estimate
//! (`memory_estimate_bytes`), its measured peak resident memory (`peak_rss_bytes`, `VmHWM`), its
//! time estimate (`time_estimate_s`, from a probe run) and its measured simulation time in
//! `run.json`. Small and large runs must agree within a factor 2 in memory; runs long enough to time
//! (over half a second) within a factor 2 in time.
use std::path::{Path, PathBuf};
use std::process::Command;

fn mfpid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfpid"))
}

struct Measured {
    name: &'static str,
    estimate: f64,
    peak: f64,
    time_estimate: f64,
    time: f64,
}

fn run(dir: &Path, name: &'static str, sub: &str, config: &str) -> Measured {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let out = dir.join(name);
    let o = mfpid()
        .args([sub, "-q"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    Measured {
        name,
        estimate: f(&run["memory_estimate_bytes"]),
        peak: f(&run["peak_rss_bytes"]),
        time_estimate: f(&run["time_estimate_s"]),
        time: f(&run["timings"]["simulate_s"]),
    }
}

#[test]
fn estimates_are_within_a_factor_two_of_measurement() {
    if !Path::new("/proc/self/status").exists() {
        return; // VmHWM is Linux's
    }
    let dir = tempfile::tempdir().unwrap();
    let tar1 = "[target]\nweights = [0.6, 0.4]\nmeans = [0.1, 1.5]\nstd = [0.2, 0.3]\n";
    // d = 3000, isotropic: O(B d) memory and time (no d x d covariance)
    let big_d: String = {
        let row = |v: f64| format!("[{}]", vec![format!("{v}"); 3000].join(", "));
        format!(
            "[run]\nparticles = 200\nsteps = 200\n[target]\nweights = [0.5, 0.5]\nmeans = [{}, {}]\nstd = [0.3, 0.5]\n[output]\nfigures = false\n",
            row(-1.0),
            row(1.0)
        )
    };
    let fleet_1e6 = "[run]\nagents = 1000000\nsteps = 16\n[protocol]\npieces = 8\n\
        [fleet.p_in]\nmeans = [[1.6, 1.6]]\nstd = [0.5]\n[fleet.p_tar]\nmeans = [[0.1, 0.1]]\nstd = [0.2]\n\
        [methods]\ncompare = [\"MF\"]\nbaseline = \"MF\"\n";
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let physical = std::fs::read_to_string(root.join("examples/fleet-physical-3zone.toml"))
        .unwrap()
        .replace("agents = 3000", "agents = 20000")
        .replace("steps = 1000", "steps = 200");
    let runs = [
        run(
            dir.path(),
            "small",
            "sample",
            &format!("[run]\nparticles = 2000\nsteps = 200\n{tar1}"),
        ),
        run(
            dir.path(),
            "population",
            "sample",
            &format!("[run]\nparticles = 200000\nsteps = 100\n[start.population]\nmeans = [3.0, 5.0]\nstd = [0.5, 0.5]\n{tar1}[output]\nfigures = false\n"),
        ),
        run(dir.path(), "d3000", "sample", &big_d),
        run(dir.path(), "fleet1e6", "fleet", fleet_1e6),
        run(dir.path(), "physical", "fleet", &physical),
    ];
    let mut report = String::new();
    for m in &runs {
        report.push_str(&format!(
            "{}: memory estimate {:.1} MiB, peak {:.1} MiB; time estimate {:.2} s, simulation {:.2} s\n",
            m.name,
            m.estimate / 1048576.0,
            m.peak / 1048576.0,
            m.time_estimate,
            m.time
        ));
    }
    eprintln!("{report}");
    for m in &runs {
        let r = m.estimate / m.peak;
        assert!(
            (0.5..=2.0).contains(&r),
            "{}: memory ratio {r}\n{report}",
            m.name
        );
        if m.time > 0.5 {
            let t = m.time_estimate / m.time;
            assert!(
                (0.5..=2.0).contains(&t),
                "{}: time ratio {t}\n{report}",
                m.name
            );
        }
    }
    // the d = 3000 sample runs in seconds (the full covariance would take minutes and GiBs)
    let d3000 = &runs[2];
    assert!(d3000.time < 20.0, "{report}");
}
