//! The one cost estimator of every subcommand: the memory a run will hold (a sum of named parts,
//! each tied to the config field or flag that sizes it) and its wall time, checked against the
//! machine's available memory before anything large is allocated.
//!
//! Sizes are computed in `f64` bytes, so a config asking for 10^19 particles gives a finite
//! estimate (and a refusal), never an overflow. A run is refused when its estimate exceeds the
//! limit: `--max-memory` when given, else `MemAvailable` of `/proc/meminfo`. The refusal names the
//! largest part and its field. `run.json` records the estimate and the measured peak resident
//! memory (`VmHWM` of `/proc/self/status`).

use crate::common::{human_bytes_f, human_num, Common};
use crate::error::{AppError, Result};

/// Resident memory of the program before any run-sized allocation (code, libraries, thread
/// stacks, the figure fonts), bytes; measured with `VmHWM` of tiny runs (about 6-8 MiB).
pub const BASE_BYTES: f64 = 7.0 * 1024.0 * 1024.0;

/// Batches of agents behind the physical standard errors (`mfpid_energy::hvac::MAX_BATCHES`).
pub const BATCHES: f64 = mfpid::energy::hvac::MAX_BATCHES as f64;

/// One named part of a run's memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The config field or flag that sizes it, e.g. `run.particles`.
    pub field: String,
    /// Its value, written for people (`20000`, `1e19`).
    pub value: String,
    /// What it holds, e.g. `ensemble and drift buffers (B x d)`.
    pub what: String,
    /// Bytes.
    pub bytes: f64,
}

/// Memory of one run (its time is estimated by a probe run of the subcommand, extrapolated with
/// [`extrapolate`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cost {
    /// The parts, in any order.
    pub parts: Vec<Part>,
}

impl Cost {
    /// An empty cost (the base resident memory is added by [`Cost::bytes`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `count` values of `width` bytes held because of `field = value`.
    pub fn add(
        &mut self,
        field: &str,
        value: f64,
        what: &str,
        count: f64,
        width: f64,
    ) -> &mut Self {
        self.parts.push(Part {
            field: field.to_string(),
            value: human_num(value),
            what: what.to_string(),
            bytes: count * width,
        });
        self
    }

    /// Add a data file of `len` bytes read into memory (at most 4 bytes per byte of the file).
    pub fn add_file(&mut self, field: &str, file: &str, len: f64) -> &mut Self {
        self.parts.push(Part {
            field: field.to_string(),
            value: format!("{file} ({})", human_bytes_f(len)),
            what: "the data file's values while it is read (up to 4 x its size)".to_string(),
            bytes: 4.0 * len,
        });
        self
    }

    /// Total bytes: the parts plus [`BASE_BYTES`].
    pub fn bytes(&self) -> f64 {
        BASE_BYTES + self.parts.iter().map(|p| p.bytes).sum::<f64>()
    }

    /// The largest part.
    pub fn largest(&self) -> Option<&Part> {
        self.parts.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes))
    }

    /// Total bytes as an integer for `run.json` (saturating).
    pub fn bytes_u64(&self) -> u64 {
        let b = self.bytes();
        if b >= u64::MAX as f64 {
            u64::MAX
        } else {
            b as u64
        }
    }

    /// Refuse the run when it needs more memory than the limit (`--max-memory`, else
    /// `MemAvailable`); the message names the largest part and its field.
    pub fn check(&self, common: &Common) -> Result<()> {
        let (limit, source) = match common.max_memory {
            Some(m) => (m as f64, "--max-memory"),
            None => match available_bytes() {
                Some(a) => (a as f64, "available memory (MemAvailable)"),
                None => return Ok(()),
            },
        };
        let need = self.bytes();
        if need <= limit {
            return Ok(());
        }
        let why = match self.largest() {
            Some(p) => format!(
                "; the largest part is {} ({}) from {} = {}: reduce it",
                p.what,
                human_bytes_f(p.bytes),
                p.field,
                p.value
            ),
            None => String::new(),
        };
        Err(AppError::Other(format!(
            "this run needs about {} of memory but the limit is {} ({source}){why}{}",
            human_bytes_f(need),
            human_bytes_f(limit),
            if common.max_memory.is_some() {
                ""
            } else {
                ", or raise the limit with --max-memory if swap will do"
            }
        )))
    }

    /// `memory about 12.3 MiB (largest: ensemble ..., run.particles = 20000)`.
    pub fn describe_memory(&self) -> String {
        match self.largest() {
            Some(p) if p.bytes > 0.0 => format!(
                "memory about {} (largest part: {}, {} from {} = {})",
                human_bytes_f(self.bytes()),
                p.what,
                human_bytes_f(p.bytes),
                p.field,
                p.value
            ),
            _ => format!("memory about {}", human_bytes_f(self.bytes())),
        }
    }
}

/// The fastest of `n` timings of a probe (a probe lasts milliseconds, so scheduling noise is
/// large and only ever adds time).
pub fn fastest(n: usize, mut probe: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..n.max(1) {
        best = best.min(probe()?);
    }
    Ok(best)
}

/// Extrapolate a probe: `probe_seconds` measured for `probe_units` units of work, the run has
/// `units` (particle-steps, agent-steps...).
pub fn extrapolate(probe_seconds: f64, probe_units: f64, units: f64) -> f64 {
    probe_seconds / probe_units.max(1.0) * units
}

/// `MemAvailable` of `/proc/meminfo`, bytes (None where there is no such file).
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

/// Peak resident memory of this process so far (`VmHWM` of `/proc/self/status`), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&text, "VmHWM:")
}

/// A `NAME:   1234 kB` line as bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// `--max-memory`: bytes, or a number with a unit `K`, `M`, `G`, `T` (powers of 1024; `KiB`,
/// `MB`, ... accepted alike).
pub fn parse_bytes(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| "expected a size such as 512M, 8G or 1073741824".to_string())?;
    let scale = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit {u:?}: use K, M, G or T")),
    };
    let b = v * scale;
    if !(b >= 1.0 && b < usize::MAX as f64) {
        return Err(format!(
            "must be at least 1 byte and at most {} bytes",
            human_num(usize::MAX as f64)
        ));
    }
    Ok(b as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_refusals_name_the_field() {
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("-1G").is_err() && parse_bytes("3X").is_err());
        let mut c = Cost::new();
        c.add("run.particles", 1e19, "ensemble", 1e19, 8.0).add(
            "run.steps",
            10.0,
            "energy trace",
            10.0,
            8.0,
        );
        assert!(c.bytes().is_finite() && c.bytes_u64() == u64::MAX);
        let common = Common {
            max_memory: Some(1 << 30),
            ..Common::default()
        };
        let e = c.check(&common).unwrap_err().to_string();
        assert!(e.contains("run.particles = 1e19"), "{e}");
        assert!(e.contains("limit is 1.00 GiB (--max-memory)"), "{e}");
        assert!(Cost::new().check(&common).is_ok());
    }

    #[test]
    fn proc_fields_are_read() {
        assert_eq!(
            kib_field(
                "MemTotal: 10 kB\nMemAvailable:    2048 kB\n",
                "MemAvailable:"
            ),
            Some(2048 * 1024)
        );
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes().unwrap() > 1024 * 1024);
            assert!(available_bytes().unwrap() > 0);
        }
    }
}
