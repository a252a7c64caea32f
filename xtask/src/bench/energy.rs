//! `cargo xtask bench energy`: the full demand-response d-sweep (B-nd, d = 1..32, MF / IA(0) /
//! IA(m̄), 4000 agents, 2500 steps) with mfpid-energy, against a vectorised NumPy implementation of
//! the same algorithm (`xtask/bench/dr_sweep.py`) run on the same machine in the same invocation,
//! and against the published wall times of the reference (PyTorch) code.

use crate::bench::python;
use crate::table::{Cell, Table};
use anyhow::{Context, Result};
use mfpid_energy::scenario::{self, D_SWEEP, PUBLISHED_D_SWEEP};
use mfpid_energy::{Comparison, Method, Recording, Settings};
use std::path::Path;
use std::time::Instant;

const AGENTS: usize = 4000;
const STEPS: usize = 2500;

/// CPU seconds (user + system, all threads) of this process so far, from `/proc/self/stat`
/// (NaN where unavailable). Clock ticks are 100 per second on Linux.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

struct Row {
    d: usize,
    method: String,
    seconds: f64,
    energy_per_zone: f64,
    stderr_per_zone: f64,
}

/// How the 18 runs of the sweep use the threads.
#[derive(Clone, Copy)]
enum Mode {
    /// One single-threaded run per thread, runs spread over rayon's pool (`Comparison::run_batch`).
    Batch,
    /// Runs one after the other, each using `n` threads inside.
    Sequential(usize),
}

/// One full sweep; returns per-run rows, total wall and CPU seconds.
fn rust_sweep(mode: Mode) -> Result<(Vec<Row>, f64, f64)> {
    let methods = Method::standard();
    let settings = |threads| {
        let mut s = Settings::paper(AGENTS)
            .with_steps(STEPS)
            .with_seed(20251122);
        s.threads = threads;
        s
    };
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let cmps = match mode {
        Mode::Batch => {
            let jobs = D_SWEEP
                .iter()
                .map(|&d| Ok((scenario::b_nd(d)?.fleet, settings(None))))
                .collect::<Result<Vec<_>>>()?;
            Comparison::run_batch(jobs, &methods, &Recording::default())?
        }
        Mode::Sequential(n) => D_SWEEP
            .iter()
            .map(|&d| {
                let fleet = scenario::b_nd(d)?.fleet;
                Ok(Comparison::run(
                    fleet,
                    settings(Some(n)),
                    &methods,
                    &Recording::default(),
                )?)
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let mut rows = Vec::new();
    for (d, cmp) in D_SWEEP.into_iter().zip(cmps) {
        for r in cmp.runs {
            rows.push(Row {
                d,
                method: r.method.clone(),
                seconds: r.wall_s,
                energy_per_zone: r.energy / d as f64,
                stderr_per_zone: r.stderr / d as f64,
            });
        }
    }
    Ok((rows, wall, cpu))
}

/// Run the benchmark and write `out/bench-energy/table.csv` (one row per method run) and
/// `out/bench-energy.csv` (`implementation,threads,seconds`, one row per whole d-sweep, wall time).
pub fn run(out: &Path, numpy: bool) -> Result<()> {
    let all = rayon::current_num_threads();
    println!(
        "demand-response d-sweep: d = {D_SWEEP:?} x (MF, IA0, IAm), B = {AGENTS}, {STEPS} steps; {all} threads available; load average at start {}",
        load_average()
    );
    let mut table = Table::new(&[
        "d",
        "method",
        "implementation",
        "threads",
        "seconds",
        "energy_per_zone",
        "stderr_per_zone",
        "speedup_vs_numpy",
        "speedup_vs_reference",
    ]);
    let mut totals: Vec<(String, usize, f64, f64)> = Vec::new();
    let mut runs: Vec<(String, usize, Vec<Row>)> = Vec::new();
    let mut modes = vec![("mfpid-energy batch", all, Mode::Batch)];
    if all > 1 {
        modes.push(("mfpid-energy parallel runs", all, Mode::Sequential(all)));
        modes.push(("mfpid-energy 1 thread", 1, Mode::Sequential(1)));
    }
    for (name, th, mode) in modes {
        let (rows, wall, cpu) = rust_sweep(mode)?;
        println!("{name}, {th} thread(s): whole sweep {wall:.2} s wall, {cpu:.2} s CPU");
        totals.push((name.into(), th, wall, cpu));
        runs.push((name.into(), th, rows));
    }
    let mut np_by_key = std::collections::HashMap::new();
    if numpy {
        let py = python::numpy_python()?;
        let ds: Vec<String> = D_SWEEP.iter().map(|d| d.to_string()).collect();
        let t0 = Instant::now();
        let v = python::run_script(
            &py,
            "dr_sweep.py",
            &[AGENTS.to_string(), STEPS.to_string(), ds.join(",")],
        )?;
        let wall = t0.elapsed().as_secs_f64();
        let mut rows = Vec::new();
        let mut cpu = 0.0;
        for r in v["rows"].as_array().context("numpy rows")? {
            let row = Row {
                d: r["d"].as_u64().unwrap_or(0) as usize,
                method: r["method"].as_str().unwrap_or("?").to_string(),
                seconds: r["seconds"].as_f64().unwrap_or(f64::NAN),
                energy_per_zone: r["energy_per_zone"].as_f64().unwrap_or(f64::NAN),
                stderr_per_zone: r["stderr_per_zone"].as_f64().unwrap_or(f64::NAN),
            };
            cpu += r["cpu_seconds"].as_f64().unwrap_or(f64::NAN);
            np_by_key.insert((row.d, row.method.clone()), row.seconds);
            rows.push(row);
        }
        let np_sum: f64 = rows.iter().map(|r| r.seconds).sum();
        println!(
            "numpy {}: whole sweep {np_sum:.2} s in the runs ({wall:.2} s with start-up), {cpu:.2} s CPU",
            v["numpy"].as_str().unwrap_or("?")
        );
        totals.push(("numpy".into(), 1, np_sum, cpu));
        runs.push(("numpy".into(), 1, rows));
    }
    println!(
        "| d | method | implementation | threads | seconds | E/d ± se | x NumPy | x reference |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (imp, th, rows) in &runs {
        for r in rows {
            let np = np_by_key
                .get(&(r.d, r.method.clone()))
                .copied()
                .unwrap_or(f64::NAN);
            let reference = if r.method == "MF" {
                scenario::published(r.d).map_or(f64::NAN, |p| p.mf_wall_s)
            } else {
                f64::NAN
            };
            let (x_np, x_ref) = (np / r.seconds, reference / r.seconds);
            println!(
                "| {} | {} | {imp} | {th} | {:.3} | {:.3} ± {:.3} | {x_np:.1} | {x_ref:.0} |",
                r.d, r.method, r.seconds, r.energy_per_zone, r.stderr_per_zone
            );
            table.push(vec![
                Cell::from(r.d),
                Cell::from(r.method.as_str()),
                Cell::from(imp.as_str()),
                Cell::from(*th),
                Cell::Num(r.seconds),
                Cell::Num(r.energy_per_zone),
                Cell::Num(r.stderr_per_zone),
                Cell::Num(x_np),
                Cell::Num(x_ref),
            ]);
        }
    }
    let ref_mf: f64 = PUBLISHED_D_SWEEP.iter().map(|p| p.mf_wall_s).sum();
    let np = totals.iter().find(|t| t.0 == "numpy");
    let (np_total, np_cpu) = np.map_or((f64::NAN, f64::NAN), |t| (t.2, t.3));
    println!("\nwhole sweep (18 runs; per-run seconds above are single-threaded in batch mode):");
    for (imp, th, wall, cpu) in &totals {
        println!(
            "  {imp:<27} {th} thread(s): {wall:8.2} s wall, {cpu:8.2} s CPU, {:.1}x NumPy (wall), {:.1}x NumPy (CPU)",
            np_total / wall,
            np_cpu / cpu
        );
    }
    let mf_ours: f64 = runs
        .first()
        .map(|(_, _, rows)| {
            rows.iter()
                .filter(|r| r.method == "MF")
                .map(|r| r.seconds)
                .sum()
        })
        .unwrap_or(f64::NAN);
    println!(
        "  reference (PyTorch, published): {ref_mf:.1} s for the MF column alone; ours {mf_ours:.2} s for the MF column ({:.0}x)",
        ref_mf / mf_ours
    );
    println!("load average at the end {}", load_average());
    let mut summary = Table::new(&["implementation", "threads", "seconds"]);
    for (imp, th, wall, _) in &totals {
        summary.push(vec![
            Cell::from(imp.as_str()),
            Cell::from(*th),
            Cell::Num(*wall),
        ]);
    }
    let dir = out.join("bench-energy");
    std::fs::create_dir_all(&dir)?;
    table.write_csv(&dir.join("table.csv"))?;
    summary.write_csv(&out.join("bench-energy.csv"))?;
    println!(
        "-> {} and {}",
        dir.join("table.csv").display(),
        out.join("bench-energy.csv").display()
    );
    Ok(())
}
