//! The cost estimator against measurement: every run records its memory estimate
//! (`memory_estimate_bytes`), its measured peak resident memory (`peak_rss_bytes`, `VmHWM`), its
//! time estimate (`time_estimate_s`, from a probe run) and its measured simulation time in
//! `run.json`. Small and large runs (up to d = 3000 and 10^6 agents) must agree within a factor 2
//! in memory; runs long enough to time (over half a second) within a factor 2 in time, on a machine
//! idle enough to time (1-minute load average below the core count). With `--nocapture` the test
//! prints one table row per case: estimated and measured time and memory and their ratios
//! (`cargo test -p mfpid-cli --release --test cost -- --nocapture`).
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
    // times are compared only on a machine idle enough to time: a 1-minute load average below
    // the number of cores (a shared, overloaded machine slows a run by more than 2x by itself),
    // and only for runs long enough to time (over half a second)
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::INFINITY);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let timeable = load < cores;
    let mib = |b: f64| b / 1048576.0;
    let mut report = format!(
        "estimate against measurement (load average {load} on {cores} cores: times {}compared)\n\
         {:<11} {:>10} {:>10} {:>7}   {:>11} {:>11} {:>7}\n",
        if timeable { "" } else { "NOT " },
        "case",
        "est. s",
        "meas. s",
        "ratio",
        "est. MiB",
        "peak MiB",
        "ratio"
    );
    let mut failures = Vec::new();
    for m in &runs {
        let rm = m.estimate / m.peak;
        let rt = m.time_estimate / m.time;
        let time_checked = timeable && m.time > 0.5;
        report.push_str(&format!(
            "{:<11} {:>10.2} {:>10.2} {:>7}   {:>11.1} {:>11.1} {:>7.2}\n",
            m.name,
            m.time_estimate,
            m.time,
            if time_checked {
                format!("{rt:.2}")
            } else {
                format!("({rt:.2})")
            },
            mib(m.estimate),
            mib(m.peak),
            rm
        ));
        if !(0.5..=2.0).contains(&rm) {
            failures.push(format!("{}: memory ratio {rm:.2}", m.name));
        }
        if time_checked && !(0.5..=2.0).contains(&rt) {
            failures.push(format!("{}: time ratio {rt:.2}", m.name));
        }
    }
    report.push_str(
        "ratio = estimate / measurement, must lie in [0.5, 2]; a time ratio in parentheses is not \
         checked (run under 0.5 s, or a loaded machine)\n",
    );
    eprintln!("{report}");
    assert!(failures.is_empty(), "{}\n{report}", failures.join("; "));
    // the d = 3000 sample runs in seconds (the full covariance would take minutes and GiBs)
    let d3000 = &runs[2];
    assert!(d3000.time < 20.0, "{report}");
}
