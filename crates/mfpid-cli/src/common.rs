//! What every subcommand shares: the global flags, the default output directory, and durations
//! and sizes written for people. This module imports no other module of the program.

use std::path::{Path, PathBuf};

/// Flags shared by all subcommands.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--quick`.
    pub quick: bool,
    /// `--force`.
    pub force: bool,
    /// `--strict`: a run whose own checks against the analytic law fail exits with status 3.
    pub strict: bool,
    /// `--max-memory` in bytes (default: the machine's available memory).
    pub max_memory: Option<usize>,
}

/// `out/<config stem>`.
pub fn default_out(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    PathBuf::from("out").join(stem)
}

/// `1.2 s`, `3 min 20 s`.
pub fn human_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// `12.3 MiB` of a byte count held as `f64`, up to EiB (`208.17 EiB` for 2.4e20 bytes).
pub fn human_bytes_f(b: f64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v >= 1e6 {
        format!("{} {}", human_num(v.round()), UNITS[u])
    } else if u >= 2 {
        format!("{v:.2} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count flag (`--particles`, `--steps`, `--threads`...): a whole number `>= 0`; negative values
/// reach this parser (rather than being taken for flags) and get a message that says what is wanted.
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v < 0 => Err("must be a whole number >= 0 (a count)".into()),
        Ok(v) => usize::try_from(v)
            .map_err(|_| format!("must be at most {}", human_num(usize::MAX as f64))),
        Err(_) => Err("not a whole number".into()),
    }
}

/// A seed flag: a whole number in `0 ..= 2^64 - 1`.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v < 0 => Err("a seed is a whole number >= 0".into()),
        Ok(v) => u64::try_from(v).map_err(|_| "a seed is at most 2^64 - 1".to_string()),
        Err(_) => Err("not a whole number".into()),
    }
}

/// A number as a person reads it: plain for ordinary magnitudes, `1.5e300` rather than 301
/// digits for huge or tiny ones.
pub fn human_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e9).contains(&a) {
        let s = format!("{v}");
        // at most 12 significant characters for ordinary values (0.1 + 0.2 prints 0.30000000000000004)
        if s.len() > 14 {
            let t = format!("{v:.10}");
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        // four significant digits at most: 2.6046e-78, 1e19
        let e = format!("{v:.3e}");
        match e.split_once('e') {
            Some((m, x)) if m.contains('.') => {
                format!("{}e{x}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(human_num(1e300), "1e300");
        assert_eq!(human_num(-2.5e-9), "-2.5e-9");
        assert_eq!(human_num(2.6045567772877235e-78), "2.605e-78");
        assert_eq!(human_num(0.65), "0.65");
        assert_eq!(human_num(0.1 + 0.2), "0.3");
        assert_eq!(human_num(4000.0), "4000");
        assert_eq!(human_num(f64::NAN), "NaN");
        assert_eq!(
            parse_count("-2"),
            Err("must be a whole number >= 0 (a count)".into())
        );
        assert_eq!(parse_count("12"), Ok(12));
        assert!(parse_seed("-1").is_err() && parse_seed("7") == Ok(7));
    }
}
