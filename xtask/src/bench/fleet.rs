//! `cargo xtask bench fleet`: one large fleet (B-nd, 10^6 agents, d = 32, 2500 steps, MF) through
//! `Experiment::run`: wall time, peak resident memory and particle-steps per second.
//!
//! Memory by design: the run streams (observers reduce every step, block by block inside the fused
//! update; nothing per step is stored but the fleet's power, one number), so it holds three `B x d`
//! arrays of doubles — the sampled agents, the bridge's copy of the starts, the moving states — the
//! per-chunk buffers (one block's normals and the drift's scratch per 512-agent chunk) and `O(B)`
//! per-agent numbers (energies, labels): 3 x 244 MiB + ~130 MiB at 10^6 agents and d = 32 (866 MiB
//! measured), under the 1.5 GiB budget.

use crate::bench::cpu_seconds;
use crate::table::{Cell, Table};
use anyhow::Result;
use mfpid_energy::{scenario, Experiment, Method, Recording, Settings};
use std::path::Path;
use std::time::Instant;

/// The size: 10^6 agents, d = 32, 2500 steps.
pub const FULL: (usize, usize, usize) = (1_000_000, 32, 2500);
/// The smoke size for CI.
pub const QUICK: (usize, usize, usize) = (20_000, 32, 250);

/// Peak resident set size of this process so far (VmHWM of `/proc/self/status`), MiB; NaN where
/// unavailable.
pub fn peak_mib() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return f64::NAN;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Run the benchmark with `agents` agents, `d` zones and `steps` steps; write
/// `out/bench-fleet.csv` (`agents,d,steps,seconds,peak_mib`).
pub fn run(out: &Path, (agents, d, steps): (usize, usize, usize)) -> Result<()> {
    let threads = rayon::current_num_threads();
    println!(
        "fleet: B-nd, {agents} agents, d = {d}, {steps} steps, MF; {threads} threads; peak memory before {:.0} MiB",
        peak_mib()
    );
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let settings = Settings::paper(agents)
        .with_steps(steps)
        .with_seed(20251122);
    let exp = Experiment::new(scenario::b_nd(d)?.fleet, settings)?;
    let setup = t0.elapsed().as_secs_f64();
    let r = exp.run(&Method::mean_field(), Recording::default(), &mut [])?;
    let (seconds, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let peak = peak_mib();
    let rate = (agents * steps) as f64 / seconds;
    println!(
        "  {seconds:.1} s wall, {cpu:.1} s CPU ({setup:.1} s wall sampling the agents, {:.1} s the run), peak memory {peak:.0} MiB, {rate:.3e} particle-steps/s ({:.3e} coordinate-steps/s) in wall time",
        r.wall_s,
        rate * d as f64
    );
    println!(
        "  E(1)/d = {:.4} ± {:.4}, terminal weight error {:.4}",
        r.energy / d as f64,
        r.stderr / d as f64,
        r.terminal.max_weight_error()
    );
    let mut t = Table::new(&["agents", "d", "steps", "seconds", "peak_mib"]);
    t.push(vec![
        Cell::from(agents),
        Cell::from(d),
        Cell::from(steps),
        Cell::Num(seconds),
        Cell::Num(peak),
    ]);
    std::fs::create_dir_all(out)?;
    let path = out.join("bench-fleet.csv");
    t.write_csv(&path)?;
    println!("-> {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny fleet writes `bench-fleet.csv` with the columns and a measured peak memory.
    #[test]
    fn writes_the_csv() {
        let dir = std::env::temp_dir().join(format!("mfpid-bench-fleet-{}", std::process::id()));
        run(&dir, (640, 4, 16)).unwrap();
        let text = std::fs::read_to_string(dir.join("bench-fleet.csv")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("agents,d,steps,seconds,peak_mib"));
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(row[..3], ["640", "4", "16"]);
        let peak: f64 = row[4].parse().unwrap();
        assert!(peak > 1.0 && peak < 4096.0, "{peak}");
    }
}
