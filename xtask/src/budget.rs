//! Planning weights for the progress line of `cargo xtask reproduce`: the expected full-settings wall
//! time of each entry on the project's 2-core machine. They only scale the estimate of the time left
//! (the estimate is rescaled by the measured/expected ratio of the entries already run); an entry
//! missing here counts as [`DEFAULT_S`].

/// Expected seconds of an entry not listed in [`EXPECTED_FULL_S`].
pub const DEFAULT_S: f64 = 20.0;

/// `(entry, expected full-settings seconds)`. Sources: mf-theorem, thermo-speciation and mf-general
/// are the dev-profile times quoted in issue 18 (the release profile `cargo xtask` uses is faster);
/// compose-exact is the full run recorded in the README (2,249 s); the others are earlier
/// sessions' rough figures, not a recorded full run. Entries not listed count as [`DEFAULT_S`],
/// and the progress line says how many of the remaining entries have a time here.
pub const EXPECTED_FULL_S: &[(&str, f64)] = &[
    ("sde-convergence", 20.0),
    ("pde-convergence", 30.0),
    ("thermo-speciation", 127.0),
    ("thermo-mnist-speciation", 60.0),
    ("mf-theorem", 405.0),
    ("mf-general", 124.0),
    // two start conventions in lockstep: 2 x 0.75 x the 13 s of one convention run separately
    ("dr-d-sweep", 20.0),
    ("dr-k-sweep", 8.0),
    ("dr-heatmap", 8.0),
    ("dr-physical", 5.0),
    ("compose-exact", 2249.0),
    ("compose-mnist", 600.0),
    ("compose-unconditional", 120.0),
];

/// Expected seconds of `name` at full settings.
pub fn expected_s(name: &str) -> f64 {
    recorded_s(name).unwrap_or(DEFAULT_S)
}

/// The recorded full-settings seconds of `name`, if [`EXPECTED_FULL_S`] lists it.
pub fn recorded_s(name: &str) -> Option<f64> {
    EXPECTED_FULL_S
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// Estimated seconds left: the expected time of the entries still to run, rescaled by how the
/// finished entries compared with their expectation (`done` = pairs of name and measured seconds).
pub fn seconds_left<'a>(done: &[(&str, f64)], remaining: impl IntoIterator<Item = &'a str>) -> f64 {
    let expected_done: f64 = done.iter().map(|(n, _)| expected_s(n)).sum();
    let measured_done: f64 = done.iter().map(|(_, s)| s).sum();
    let ratio = if expected_done > 0.0 {
        measured_done / expected_done
    } else {
        1.0
    };
    ratio * remaining.into_iter().map(expected_s).sum::<f64>()
}

/// Where an estimate of the time left comes from, for the progress line: how many of the
/// `remaining` entries have a recorded time (the others count as [`DEFAULT_S`]) and the scale
/// factor measured/expected of the finished entries.
pub fn basis<'a>(done: &[(&str, f64)], remaining: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = remaining.into_iter().collect();
    let recorded = names.iter().filter(|n| recorded_s(n).is_some()).count();
    let expected_done: f64 = done.iter().map(|(n, _)| expected_s(n)).sum();
    let measured_done: f64 = done.iter().map(|(_, s)| s).sum();
    let ratio = if expected_done > 0.0 {
        measured_done / expected_done
    } else {
        1.0
    };
    format!(
        "{recorded} of {} remaining entries with a recorded full-settings time in xtask/src/budget.rs, the others {DEFAULT_S:.0} s each; x{ratio:.2} as the finished entries ran",
        names.len()
    )
}

/// `1h02m`, `3m05s` or `12.3s`.
pub fn human(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    let t = s.round() as u64;
    if t >= 3600 {
        format!("{}h{:02}m", t / 3600, (t % 3600) / 60)
    } else if t >= 60 {
        format!("{}m{:02}s", t / 60, t % 60)
    } else {
        format!("{s:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_rescales_by_measured_ratio() {
        // nothing run yet: the plain expectation
        assert_eq!(seconds_left(&[], ["dr-d-sweep", "dr-k-sweep"]), 28.0);
        // the first entry took twice its expectation: the rest is expected to as well
        let left = seconds_left(&[("mf-general", 248.0)], ["dr-d-sweep"]);
        assert!((left - 40.0).abs() < 1e-12);
        assert_eq!(seconds_left(&[("mf-general", 1.0)], []), 0.0);
    }

    /// Every name of the table is a registered entry (a renamed entry would silently count as
    /// `DEFAULT_S`), listed once.
    #[test]
    fn table_names_are_entries() {
        for (i, (name, s)) in EXPECTED_FULL_S.iter().enumerate() {
            assert!(
                crate::entries::find(name).is_some(),
                "{name} is not an entry"
            );
            assert!(*s > 0.0);
            assert!(
                EXPECTED_FULL_S[..i].iter().all(|(n, _)| n != name),
                "{name} twice"
            );
        }
        let b = basis(&[("dr-d-sweep", 40.0)], ["dr-k-sweep", "bridge-moments"]);
        assert!(b.starts_with("1 of 2 remaining"), "{b}");
        assert!(b.ends_with("x2.00 as the finished entries ran"), "{b}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(12.34), "12.3s");
        assert_eq!(human(185.0), "3m05s");
        assert_eq!(human(3720.0), "1h02m");
        assert_eq!(human(f64::NAN), "?");
    }
}
