//! The guide's example fleet (`examples/fleet-two-component.toml`) compared from Rust, printed as
//! JSON: the reference for the Python package's identity tests (`tests/test_fleet.py`) and the
//! Rust side of the overhead measurement (`bench/overhead.py`).
//!
//! ```text
//! cargo run --release -p mfpid-py --example fleet_rust -- [agents] [steps] [seed] [threads] [repeats]
//! ```
//! defaults 4000 2500 0 all 1; `threads` = 0 means rayon's global pool. Prints one JSON object:
//! per method the energy, standard error, saving against IA0, per-zone and per-sub-population
//! energies, and `wall_s` (each repeat's wall time of the whole comparison: setup + 4 methods).

use std::time::Instant;

use mfpid_energy::{Centres, Experiment, Fleet, Law, Method, Recording, Saving, Settings};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .map(|s| s.parse().expect("arguments are non-negative integers"))
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (agents, steps, seed, threads, repeats) =
        (arg(1, 4000), arg(2, 2500), arg(3, 0), arg(4, 0), arg(5, 1));
    // the TOML's laws: `std = [...]` gives isotropic covariances std²
    let law = |means: Vec<f64>, std: [f64; 2]| Law {
        d: 2,
        weights: vec![0.6, 0.4],
        means,
        covariance: mfpid_bridge::Covariance::Isotropic(std.iter().map(|s| s * s).collect()),
    };
    let fleet = Fleet::new(
        law(vec![1.6, 1.6, 5.5, 5.5], [0.5, 0.7]),
        law(vec![0.1, 0.1, 1.5, 1.5], [0.2, 0.3]),
    )?;
    let settings = Settings {
        agents: agents as usize,
        n_steps: steps as usize,
        eps: 1e-3,
        beta_0: 12.0,
        gamma: 0.65,
        pieces: 8,
        seed,
        threads: (threads > 0).then_some(threads as usize),
        start: Default::default(),
    };
    let methods = vec![
        Method::mean_field(),
        Method::independent_zero(),
        Method::independent_target(),
        Method::new("half", Centres::Fixed([1.91, 1.91].repeat(8))),
    ];
    let mut walls = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        let exp = Experiment::new(fleet.clone(), settings.clone())?;
        runs = exp.run_all(&methods, Recording::default())?;
        walls.push(t0.elapsed().as_secs_f64());
    }
    let base = runs
        .iter()
        .find(|r| r.method == "IA0")
        .ok_or("no IA0 run")?;
    let mut out = Vec::new();
    for r in &runs {
        let s = (r.method != "IA0")
            .then(|| Saving::of(r, base))
            .transpose()?;
        out.push(serde_json::json!({
            "method": r.method,
            "energy": r.energy,
            "stderr": r.stderr,
            "saving_pct": s.map(|s| s.pct),
            "saving_stderr_pct": s.map(|s| s.stderr_pct),
            "energy_per_zone": r.energy_per_zone,
            "peak_power": r.peak_power,
            "subpop_energy": r.subpopulations.iter().map(|p| p.energy).collect::<Vec<_>>(),
            "terminal_max_weight_error": r.terminal.max_weight_error(),
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "agents": agents, "steps": steps, "seed": seed, "threads": threads,
            "runs": out, "wall_s": walls,
        })
    );
    Ok(())
}
