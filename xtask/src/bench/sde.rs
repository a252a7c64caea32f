//! `cargo xtask bench sde`: Euler-Maruyama throughput on d-dimensional OU against NumPy and against
//! the cost of drawing the Gaussian increments alone with the runner's generator (AES-128 counter
//! words through the 1024-layer ziggurat, `rng::BlockNormals::fill`).

use crate::bench::python;
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_sde::rng::{BlockNormals, DOMAIN_INCREMENTS, RNG_BLOCK};
use mfpid_sde::{Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid};
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

/// The floor: the runner's own generator alone, one [`BlockNormals`] per 64-particle block drawing
/// its `64 d` normals of each step with one `fill` (`rng::DEFAULT_GENERATOR`, the draws of the
/// EM step without the update), into a `B x d` buffer.
fn normals_seconds(b: usize, d: usize, steps: usize, threads: usize) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut buf = vec![0.0f64; b * d];
    let mut rngs: Vec<_> = (0..b.div_ceil(RNG_BLOCK))
        .map(|k| BlockNormals::new(1, DOMAIN_INCREMENTS, k as u64))
        .collect();
    let t0 = Instant::now();
    pool.install(|| {
        for _ in 0..steps {
            buf.par_chunks_mut(RNG_BLOCK * d)
                .zip(rngs.par_iter_mut())
                .for_each(|(c, r)| r.fill(c));
        }
    });
    let s = t0.elapsed().as_secs_f64();
    std::hint::black_box(&buf);
    Ok(s)
}

/// Default size: `(steps, particles)`.
pub const FULL: (usize, usize) = (1000, 100_000);
/// Smoke size (`--quick`): checks the harness end to end in seconds; its times mean little.
pub const QUICK: (usize, usize) = (50, 8192);
/// Thread counts of the mfpid-sde rows (the normals floor is also timed on each).
pub const THREADS: [usize; 2] = [1, 2];

/// Run the benchmark and write `out/bench-sde/table.csv` (every column), `out/bench-sde.md` (the
/// Markdown table printed) and `out/bench-sde.csv` (`d,implementation,threads,seconds`, the
/// machine-readable summary other tools read). Rows per `d` in 1, 8, 32: NumPy (one thread), and on
/// 1 and 2 threads the normals floor and mfpid-sde EM.
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
    let mut md = vec![
        format!("EM on d-dim OU, B = {b}, {steps} steps; {all} threads available; floor: AES-128 CTR + 1024-layer ziggurat `fill`"),
        String::new(),
        "| d | implementation | threads | seconds | particle-steps/s | x NumPy | / normals floor |".into(),
        "|---|---|---|---|---|---|---|".into(),
    ];
    for l in &md {
        println!("{l}");
    }
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
        for threads in THREADS {
            let floor = normals_seconds(b, d, steps, threads)?;
            let em = em_seconds(b, d, steps, threads)?;
            rows.push(("normals floor (AES ziggurat)".into(), threads, floor, floor));
            rows.push(("mfpid-sde EM".into(), threads, em, floor));
        }
        for (name, threads, s, floor) in rows {
            let speed = np_s / s;
            let vs_floor = s / floor;
            let line = format!(
                "| {d} | {name} | {threads} | {s:.3} | {:.3e} | {speed:.2} | {vs_floor:.2} |",
                ps / s
            );
            println!("{line}");
            md.push(line);
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
    md.push(String::new());
    std::fs::write(out.join("bench-sde.md"), md.join("\n"))?;
    println!(
        "-> {}, {} and {}",
        dir.join("table.csv").display(),
        out.join("bench-sde.csv").display(),
        out.join("bench-sde.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny run (no NumPy) writes `bench-sde.csv` with the columns: floor and EM for
    /// d = 1, 8, 32 on 1 and 2 threads, and the Markdown table.
    #[test]
    fn writes_the_csv() {
        let dir = std::env::temp_dir().join(format!("mfpid-bench-sde-{}", std::process::id()));
        run(&dir, 3, 130, false).unwrap();
        let text = std::fs::read_to_string(dir.join("bench-sde.csv")).unwrap();
        let md = std::fs::read_to_string(dir.join("bench-sde.md")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("d,implementation,threads,seconds"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 3 * 2 * THREADS.len());
        for d in ["1", "8", "32"] {
            for t in ["1", "2"] {
                for name in ["normals floor (AES ziggurat)", "mfpid-sde EM"] {
                    let row = rows.iter().find(|r| r[..3] == [d, name, t]);
                    let s: f64 = row.unwrap_or_else(|| panic!("{d} {name} {t}"))[3]
                        .parse()
                        .unwrap();
                    assert!(s > 0.0 && s.is_finite(), "{d} {name} {t}: {s}");
                }
            }
        }
        assert_eq!(
            md.lines().filter(|l| l.starts_with("| ")).count(),
            1 + rows.len()
        );
    }
}
