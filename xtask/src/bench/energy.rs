//! `cargo xtask bench energy`: the full demand-response d-sweep (B-nd, d = 1..32, MF / IA(0) /
//! IA(m̄), 4000 agents, 2500 steps) with mfpid-energy — the methods in lockstep (one draw of each
//! increment for the three), and side by side the separate runs of the earlier design, the MF
//! column alone and in-run threading — against a vectorised NumPy implementation of the same
//! algorithm (`xtask/bench/dr_sweep.py`, lockstep too) run on the same machine in the same
//! invocation, and against the published wall times of the reference (PyTorch) code.

use crate::bench::{cpu_seconds, python};
use crate::table::{Cell, Table};
use anyhow::{bail, Context, Result};
use mfpid_energy::scenario::{self, D_SWEEP, PUBLISHED_D_SWEEP};
use mfpid_energy::{Comparison, Experiment, Method, MethodRun, Recording, Settings};
use std::path::Path;
use std::time::Instant;

const AGENTS: usize = 4000;
const STEPS: usize = 2500;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// One timed run: one `d`, the methods it ran (`"MF"`, or `"MF+IA0+IAm"` in lockstep).
struct Run {
    d: usize,
    methods: String,
    seconds: f64,
}

/// One whole sweep of an implementation.
struct Sweep {
    name: String,
    threads: usize,
    wall: f64,
    cpu: f64,
    runs: Vec<Run>,
}

/// How the sweep uses the threads.
#[derive(Clone, Copy)]
enum Mode {
    /// Each d's three methods in one single-threaded lockstep run, runs spread over rayon's pool
    /// (`Comparison::run_batch`).
    LockstepBatch,
    /// Each (d, method) its own single-threaded run (same common random numbers, three draws of
    /// every increment), spread over the pool: the design before lockstep.
    SeparateBatch,
    /// The MF column alone, spread over the pool.
    MfBatch,
    /// Each d's lockstep run after the other, each using `n` threads inside.
    Sequential(usize),
}

fn settings(threads: Option<usize>) -> Settings {
    let mut s = Settings::paper(AGENTS)
        .with_steps(STEPS)
        .with_seed(20251122);
    s.threads = threads;
    s
}

/// Energies per (d, method), to check that every mode computes the same numbers.
type Energies = Vec<(usize, String, f64)>;

/// The design before lockstep: every (d, method) its own single-threaded `Experiment::run` (three
/// draws of every increment), the 18 runs spread over rayon's pool heaviest first, as
/// `Comparison::run_batch` scheduled them then.
fn separate_batch() -> Result<Vec<Comparison>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let methods = Method::standard();
    let exps = D_SWEEP
        .iter()
        .map(|&d| {
            Ok(Experiment::new(
                scenario::b_nd(d)?.fleet,
                settings(Some(1)),
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut pairs: Vec<(usize, usize)> = (0..exps.len())
        .flat_map(|j| (0..methods.len()).map(move |m| (j, m)))
        .collect();
    pairs.sort_by_key(|&(j, m)| (std::cmp::Reverse(D_SWEEP[j]), j, m));
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<mfpid_energy::Result<MethodRun>>>> =
        Mutex::new((0..pairs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..rayon::current_num_threads() {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(j, m)) = pairs.get(k) else { break };
                let r = exps[j].run(&methods[m], Recording::default(), &mut []);
                done.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(r);
            });
        }
    });
    let mut out: Vec<Comparison> = exps
        .iter()
        .map(|_| Comparison { runs: Vec::new() })
        .collect();
    let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut by_pair: Vec<((usize, usize), MethodRun)> = Vec::new();
    for (&p, r) in pairs.iter().zip(done) {
        if let Some(r) = r {
            by_pair.push((p, r?));
        }
    }
    by_pair.sort_by_key(|&(p, _)| p);
    for ((j, _), r) in by_pair {
        out[j].runs.push(r);
    }
    Ok(out)
}

/// One full sweep.
fn rust_sweep(name: &str, threads: usize, mode: Mode) -> Result<(Sweep, Energies)> {
    let jobs = || {
        D_SWEEP
            .iter()
            .map(|&d| Ok((scenario::b_nd(d)?.fleet, settings(None))))
            .collect::<Result<Vec<_>>>()
    };
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut cmps: Vec<Vec<Comparison>> = Vec::new();
    match mode {
        Mode::LockstepBatch => {
            cmps.push(Comparison::run_batch(
                jobs()?,
                &Method::standard(),
                Recording::default(),
            )?);
        }
        Mode::SeparateBatch => cmps.push(separate_batch()?),
        Mode::MfBatch => {
            cmps.push(Comparison::run_batch(
                jobs()?,
                &[Method::mean_field()],
                Recording::default(),
            )?);
        }
        Mode::Sequential(n) => {
            let mut v = Vec::new();
            for &d in &D_SWEEP {
                let fleet = scenario::b_nd(d)?.fleet;
                v.push(Comparison::run(
                    fleet,
                    settings(Some(n)),
                    &Method::standard(),
                    Recording::default(),
                )?);
            }
            cmps.push(v);
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let (mut runs, mut energies) = (Vec::new(), Vec::new());
    let lockstep = !matches!(mode, Mode::SeparateBatch);
    for batch in cmps {
        for (d, cmp) in D_SWEEP.into_iter().zip(batch) {
            if lockstep {
                let names: Vec<&str> = cmp.runs.iter().map(|r| r.method.as_str()).collect();
                runs.push(Run {
                    d,
                    methods: names.join("+"),
                    seconds: cmp.runs.first().map_or(f64::NAN, |r| r.wall_s),
                });
            } else {
                runs.extend(cmp.runs.iter().map(|r| Run {
                    d,
                    methods: r.method.clone(),
                    seconds: r.wall_s,
                }));
            }
            for r in &cmp.runs {
                energies.push((d, r.method.clone(), r.energy));
            }
        }
    }
    energies.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let sweep = Sweep {
        name: name.into(),
        threads,
        wall,
        cpu,
        runs,
    };
    Ok((sweep, energies))
}

/// Run the benchmark and write `out/bench-energy/table.csv` (one row per timed run) and
/// `out/bench-energy.csv` (`implementation,threads,seconds`, one row per whole d-sweep, wall time).
pub fn run(out: &Path, numpy: bool) -> Result<()> {
    let all = rayon::current_num_threads();
    println!(
        "demand-response d-sweep: d = {D_SWEEP:?} x (MF, IA0, IAm), B = {AGENTS}, {STEPS} steps; {all} threads available; load average at start {}",
        load_average()
    );
    let mut modes = vec![
        ("mfpid-energy lockstep batch", all, Mode::LockstepBatch),
        ("mfpid-energy separate batch", all, Mode::SeparateBatch),
        ("mfpid-energy MF column batch", all, Mode::MfBatch),
    ];
    if all > 1 {
        modes.push(("mfpid-energy lockstep parallel", all, Mode::Sequential(all)));
    }
    modes.push(("mfpid-energy lockstep 1 thread", 1, Mode::Sequential(1)));
    let mut sweeps = Vec::new();
    let mut reference: Option<Energies> = None;
    for (name, th, mode) in modes {
        let (sweep, energies) = rust_sweep(name, th, mode)?;
        println!(
            "{name}, {th} thread(s): whole sweep {:.2} s wall, {:.2} s CPU",
            sweep.wall, sweep.cpu
        );
        // every mode must compute the same energies as the first (lockstep), bit for bit
        if let Some(want) = &reference {
            let same = energies
                .iter()
                .all(|e| want.iter().any(|w| w.0 == e.0 && w.1 == e.1 && w.2 == e.2));
            println!("  energies bit-identical to the lockstep batch: {same}");
            if !same {
                bail!("{name}: energies differ from the lockstep batch");
            }
        } else {
            reference = Some(energies);
        }
        sweeps.push(sweep);
    }
    if numpy {
        let py = python::numpy_python()?;
        let ds: Vec<String> = D_SWEEP.iter().map(|d| d.to_string()).collect();
        let v = python::run_script(
            &py,
            "dr_sweep.py",
            &[
                AGENTS.to_string(),
                STEPS.to_string(),
                ds.join(","),
                "MF,IA0,IAm".into(),
                "lockstep".into(),
            ],
        )?;
        let mut runs = Vec::new();
        let mut cpu = 0.0;
        for r in v["runs"].as_array().context("numpy runs")? {
            runs.push(Run {
                d: r["d"].as_u64().unwrap_or(0) as usize,
                methods: r["methods"].as_str().unwrap_or("?").to_string(),
                seconds: r["seconds"].as_f64().unwrap_or(f64::NAN),
            });
            cpu += r["cpu_seconds"].as_f64().unwrap_or(f64::NAN);
        }
        let wall: f64 = runs.iter().map(|r| r.seconds).sum();
        println!(
            "numpy {} (lockstep): whole sweep {wall:.2} s in the runs, {cpu:.2} s CPU",
            v["numpy"].as_str().unwrap_or("?")
        );
        sweeps.push(Sweep {
            name: "numpy lockstep".into(),
            threads: 1,
            wall,
            cpu,
            runs,
        });
    }
    let np = sweeps.iter().find(|s| s.name.starts_with("numpy"));
    let np_run = |d: usize, methods: &str| {
        np.and_then(|s| s.runs.iter().find(|r| r.d == d && r.methods == methods))
            .map_or(f64::NAN, |r| r.seconds)
    };
    let mut table = Table::new(&[
        "d",
        "methods",
        "implementation",
        "threads",
        "seconds",
        "speedup_vs_numpy",
        "speedup_vs_reference",
    ]);
    println!("| d | methods | implementation | threads | seconds | x NumPy | x reference (MF) |");
    println!("|---|---|---|---|---|---|---|");
    for s in &sweeps {
        for r in &s.runs {
            let reference = if r.methods == "MF" {
                scenario::published(r.d).map_or(f64::NAN, |p| p.mf_wall_s)
            } else {
                f64::NAN
            };
            let (x_np, x_ref) = (np_run(r.d, &r.methods) / r.seconds, reference / r.seconds);
            println!(
                "| {} | {} | {} | {} | {:.3} | {x_np:.1} | {x_ref:.0} |",
                r.d, r.methods, s.name, s.threads, r.seconds
            );
            table.push(vec![
                Cell::from(r.d),
                Cell::from(r.methods.as_str()),
                Cell::from(s.name.as_str()),
                Cell::from(s.threads),
                Cell::Num(r.seconds),
                Cell::Num(x_np),
                Cell::Num(x_ref),
            ]);
        }
    }
    let ref_mf: f64 = PUBLISHED_D_SWEEP.iter().map(|p| p.mf_wall_s).sum();
    let (np_total, np_cpu) = np.map_or((f64::NAN, f64::NAN), |s| (s.wall, s.cpu));
    println!("\nwhole sweep (18 method runs; per-run seconds above are single-threaded in the batch modes):");
    for s in &sweeps {
        println!(
            "  {:<31} {} thread(s): {:8.2} s wall, {:8.2} s CPU, {:.1}x NumPy (wall), {:.1}x NumPy (CPU)",
            s.name,
            s.threads,
            s.wall,
            s.cpu,
            np_total / s.wall,
            np_cpu / s.cpu
        );
    }
    let mf = sweeps
        .iter()
        .find(|s| s.name.contains("MF column"))
        .map_or(f64::NAN, |s| s.wall);
    println!(
        "  reference (PyTorch, published): {ref_mf:.1} s for the MF column alone; ours {mf:.2} s wall for the MF column ({:.0}x)",
        ref_mf / mf
    );
    println!("load average at the end {}", load_average());
    let mut summary = Table::new(&["implementation", "threads", "seconds"]);
    for s in &sweeps {
        summary.push(vec![
            Cell::from(s.name.as_str()),
            Cell::from(s.threads),
            Cell::Num(s.wall),
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
