//! `cargo xtask bench sde`: Euler-Maruyama throughput on d-dimensional OU against NumPy and against
//! the cost of drawing the Gaussian increments alone.

use crate::bench::python;
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_sde::rng::{stream, DOMAIN_INCREMENTS, RNG_BLOCK};
use mfpid_sde::{Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

fn em_seconds(b: usize, d: usize, steps: usize, threads: usize) -> Result<f64> {
    let mut drift = LinearDrift::isotropic(d, 1.0, 0.0);
    let grid = TimeGrid::uniform(0.0, 1.0, steps)?;
    let mut ens = Ensemble::filled(b, &vec![0.0; d])?;
    let cfg = RunConfig {
        scheme: Scheme::EulerMaruyama,
        seed: 1,
        chunk_size: 256,
        threads: Some(threads),
        ..RunConfig::default()
    };
    let t0 = Instant::now();
    mfpid_sde::run(
        &mut drift,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &cfg,
        &mut [],
    )?;
    Ok(t0.elapsed().as_secs_f64())
}

/// The floor: the same per-block ChaCha8 streams drawing `B x d` standard normals per step into a buffer.
fn normals_seconds(b: usize, d: usize, steps: usize, threads: usize) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut buf = vec![0.0f64; b * d];
    let mut rngs: Vec<_> = (0..b.div_ceil(RNG_BLOCK))
        .map(|k| stream(1, DOMAIN_INCREMENTS, k as u64))
        .collect();
    let t0 = Instant::now();
    pool.install(|| {
        for _ in 0..steps {
            buf.par_chunks_mut(RNG_BLOCK * d)
                .zip(rngs.par_iter_mut())
                .for_each(|(c, r)| {
                    for v in c.iter_mut() {
                        *v = r.sample(StandardNormal);
                    }
                });
        }
    });
    let s = t0.elapsed().as_secs_f64();
    std::hint::black_box(&buf);
    Ok(s)
}

/// Run the benchmark and write `out/bench-sde/table.csv` (every column) and `out/bench-sde.csv`
/// (`d,implementation,threads,seconds`, the machine-readable summary other tools read).
pub fn run(out: &Path, steps: usize, b: usize, numpy: bool) -> Result<()> {
    let all = rayon::current_num_threads();
    let py = if numpy {
        Some(python::numpy_python()?)
    } else {
        None
    };
    let mut summary = Table::new(&["d", "implementation", "threads", "seconds"]);
    let mut table = Table::new(&[
        "d",
        "implementation",
        "threads",
        "seconds",
        "particle_steps_per_s",
        "speedup_vs_numpy",
        "cost_vs_normals_floor",
    ]);
    println!("EM on d-dim OU, B = {b}, {steps} steps; {all} threads available");
    println!(
        "| d | implementation | threads | seconds | particle-steps/s | x NumPy | / normals floor |"
    );
    println!("|---|---|---|---|---|---|---|");
    for d in [1usize, 8, 32] {
        let ps = (b * steps) as f64;
        let mut np_s = f64::NAN;
        let mut rows: Vec<(String, usize, f64, f64)> = Vec::new();
        if let Some(py) = &py {
            let v = python::run_script(
                py,
                "em_ou.py",
                &[b.to_string(), d.to_string(), steps.to_string()],
            )?;
            np_s = v["em_s"].as_f64().unwrap_or(f64::NAN);
            let np_floor = v["normals_s"].as_f64().unwrap_or(f64::NAN);
            rows.push(("numpy".into(), 1, np_s, np_floor));
        }
        for threads in [1, all] {
            let floor = normals_seconds(b, d, steps, threads)?;
            let em = em_seconds(b, d, steps, threads)?;
            rows.push(("normals-only (floor)".into(), threads, floor, floor));
            rows.push(("mfpid-sde EM".into(), threads, em, floor));
            if all == 1 {
                break;
            }
        }
        for (name, threads, s, floor) in rows {
            let speed = np_s / s;
            let vs_floor = s / floor;
            println!(
                "| {d} | {name} | {threads} | {s:.3} | {:.3e} | {speed:.2} | {vs_floor:.2} |",
                ps / s
            );
            summary.push(vec![
                Cell::from(d),
                Cell::from(name.as_str()),
                Cell::from(threads),
                Cell::Num(s),
            ]);
            table.push(vec![
                Cell::from(d),
                Cell::from(name),
                Cell::from(threads),
                Cell::Num(s),
                Cell::Num(ps / s),
                Cell::Num(speed),
                Cell::Num(vs_floor),
            ]);
        }
    }
    let dir = out.join("bench-sde");
    std::fs::create_dir_all(&dir)?;
    table.write_csv(&dir.join("table.csv"))?;
    summary.write_csv(&out.join("bench-sde.csv"))?;
    println!(
        "-> {} and {}",
        dir.join("table.csv").display(),
        out.join("bench-sde.csv").display()
    );
    Ok(())
}
