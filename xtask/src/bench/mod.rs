//! Benchmarks run by `cargo xtask bench NAME`, each measured side by side with its reference.

pub mod energy;
pub mod fleet;
pub mod python;
pub mod sde;

/// CPU seconds (user + system, all threads) of this process so far, from `/proc/self/stat`
/// (NaN where unavailable). Clock ticks are 100 per second on Linux.
pub fn cpu_seconds() -> f64 {
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
