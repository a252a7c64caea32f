//! Planning weights for the progress line of `cargo xtask reproduce`: the expected full-settings wall
//! time of each entry on the project's 2-core machine. They only scale the estimate of the time left
//! (the estimate is rescaled by the measured/expected ratio of the entries already run); an entry
//! missing here counts as [`DEFAULT_S`].

/// Expected seconds of an entry not listed in [`EXPECTED_FULL_S`].
pub const DEFAULT_S: f64 = 20.0;

/// `(entry, expected full-settings seconds)`. Source: the full `cargo xtask reproduce` run of
/// 2026-12-07 16:37 UTC (release profile, idle 2-core Intel Xeon; README "Results"; mf-theorem from
/// the 17:40 run, after the faster soft-max), except
/// compose-mnist (not run yet: a guess). Entries not
/// listed count as [`DEFAULT_S`], and the progress line says how many of the remaining entries have
/// a time here.
pub const EXPECTED_FULL_S: &[(&str, f64)] = &[
    ("sde-convergence", 14.3),
    ("pde-convergence", 4.0),
    ("thermo-forward-backward", 20.2),
    ("thermo-fluctuation", 0.9),
    ("thermo-franz-parisi", 11.5),
    ("thermo-phase-diagram", 0.05),
    ("thermo-speciation", 66.0),
    ("thermo-mnist-speciation", 30.7),
    ("thermo-collapse", 6.1),
    ("thermo-bridges", 5.5),
    ("bridge-terminal", 1.5),
    ("bridge-snapshots", 1.5),
    ("bridge-moments", 0.9),
    ("lqg-benchmark", 10.4),
    ("mf-theorem", 184.0),
    ("mf-general", 106.0),
    ("dr-d-sweep", 6.5),
    ("dr-k-sweep", 3.5),
    ("dr-ar-coupling", 9.2),
    ("dr-heatmap", 1.0),
    ("dr-1d-scenarios", 0.4),
    ("dr-physical", 2.1),
    ("compose-exact", 50.5),
    ("compose-mnist", 600.0),
    ("compose-unconditional", 47.1),
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
    // `+ 0.0` turns the -0.0 of an empty sum into 0.0 (printed "0.0s", not "-0.0s")
    let s = s + 0.0;
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
        let (a, b) = (expected_s("dr-d-sweep"), expected_s("dr-k-sweep"));
        // nothing run yet: the plain expectation
        assert_eq!(seconds_left(&[], ["dr-d-sweep", "dr-k-sweep"]), a + b);
        // the first entry took twice its expectation: the rest is expected to as well
        let twice = 2.0 * expected_s("mf-general");
        let left = seconds_left(&[("mf-general", twice)], ["dr-d-sweep"]);
        assert!((left - 2.0 * a).abs() < 1e-12);
        assert_eq!(seconds_left(&[("mf-general", 106.0)], []), 0.0);
        // an unlisted name counts as the default
        assert_eq!(seconds_left(&[], ["no-such-entry"]), DEFAULT_S);
        // nothing left prints as zero, not "-0.0s" (the empty sum is -0.0)
        assert_eq!(human(seconds_left(&[("mf-general", 106.0)], [])), "0.0s");
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
        let twice = 2.0 * expected_s("dr-d-sweep");
        let b = basis(&[("dr-d-sweep", twice)], ["dr-k-sweep", "no-such-entry"]);
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
