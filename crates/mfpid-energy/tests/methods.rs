//! Method-level facts on reduced settings: the paper's savings, the linear-interpolant theorem
//! (the MF fleet mean moves on the straight line), consistency of the energy decompositions, and
//! reproducibility across thread counts.

use mfpid_energy::{scenario, Experiment, Method, Recording, Saving, Settings};
use mfpid_sde::observe::Moments;

/// Savings of MF against IA(0) and IA(m̄) within 1 percentage point of the published ones, at
/// the paper's fleet size and a coarser grid (the savings move by < 0.2 points from 600 to 2500
/// steps; the full-settings comparison is the `dr-d-sweep` entry). The paired standard error of a
/// saving is about 0.17 points, so 1 point is a ~6 sigma band, not a loose tolerance.
#[test]
fn savings_match_published() {
    for d in [1, 2] {
        let s = scenario::b_nd(d).unwrap();
        let exp = Experiment::new(s.fleet, Settings::paper(s.agents).with_steps(600)).unwrap();
        let runs = exp
            .run_all(&Method::standard(), &Recording::default())
            .unwrap();
        let p = scenario::published(d).unwrap();
        let vs0 = Saving::of(&runs[0], &runs[1]).unwrap();
        let vsm = Saving::of(&runs[0], &runs[2]).unwrap();
        assert!(
            vs0.stderr_pct < 0.25 && vsm.stderr_pct < 0.25,
            "{vs0:?} {vsm:?}"
        );
        assert!(
            (vs0.pct - p.saving_ia0_pct).abs() < 1.0,
            "d = {d}: {vs0:?} vs {}",
            p.saving_ia0_pct
        );
        assert!(
            (vsm.pct - p.saving_iam_pct()).abs() < 1.0,
            "d = {d}: {vsm:?} vs {}",
            p.saving_iam_pct()
        );
    }
}

/// Linear-interpolant theorem: under MF the fleet mean follows `(1-t) m̄_in + t m̄_tar` within the
/// Monte Carlo error (4 standard errors, with the recorded covariance), while IA(0) leaves it.
#[test]
fn mean_field_mean_is_the_straight_line() {
    let d = 2;
    let s = scenario::b_nd(d).unwrap();
    let (m_in, m_tar) = (s.fleet.mean_in(), s.fleet.mean_tar());
    let b = 4000;
    let exp = Experiment::new(s.fleet, Settings::paper(b).with_steps(800)).unwrap();
    let mut dev = Vec::new();
    for m in [Method::mean_field(), Method::independent_zero()] {
        let mut mom = Moments::new(50, true);
        exp.run(&m, &Recording::default(), &mut [&mut mom]).unwrap();
        let mut max_z: f64 = 0.0;
        let mut max_abs: f64 = 0.0;
        for r in &mom.records {
            let cov = r.cov.as_ref().unwrap();
            for j in 0..d {
                let line = (1.0 - r.t) * m_in[j] + r.t * m_tar[j];
                let se = (cov[j * d + j] / b as f64).sqrt();
                let e = (r.mean[j] - line).abs();
                max_abs = max_abs.max(e);
                if r.t > 0.0 {
                    max_z = max_z.max(e / se);
                }
            }
        }
        dev.push((m.name.clone(), max_z, max_abs));
    }
    assert!(dev[0].1 < 4.0, "MF mean leaves the line: {dev:?}");
    assert!(dev[1].2 > 0.3, "IA(0) should not follow the line: {dev:?}");
}

/// The per-zone and per-sub-population energies add up to the total; results do not depend on
/// the thread count; shares sum to 100 %.
#[test]
fn decompositions_and_reproducibility() {
    let s = scenario::one_d(scenario::OneD::B).unwrap();
    let mut set = Settings::paper(1000).with_steps(300);
    set.threads = Some(1);
    let rec = Recording {
        mean_every: 10,
        subpop_power: true,
        keep_final: true,
    };
    let r1 = Experiment::new(s.fleet.clone(), set.clone())
        .unwrap()
        .run(&Method::mean_field(), &rec, &mut [])
        .unwrap();
    set.threads = Some(2);
    let r2 = Experiment::new(s.fleet, set)
        .unwrap()
        .run(&Method::mean_field(), &rec, &mut [])
        .unwrap();
    assert_eq!(r1.energy, r2.energy);
    assert_eq!(r1.final_states, r2.final_states);
    assert_eq!(r1.per_agent, r2.per_agent);
    let zones: f64 = r1.energy_per_zone.iter().sum();
    assert!((zones - r1.energy).abs() < 1e-12 * r1.energy);
    let shares: f64 = r1.subpopulations.iter().map(|g| g.share_pct).sum();
    assert!((shares - 100.0).abs() < 1e-9);
    let weighted: f64 = r1
        .subpopulations
        .iter()
        .map(|g| g.agents as f64 * g.energy)
        .sum::<f64>()
        / 1000.0;
    assert!((weighted - r1.energy).abs() < 1e-9 * r1.energy);
    // the group power traces integrate to the group energies
    let power = r1.subpop_power.as_ref().unwrap();
    for (g, p) in r1.subpopulations.iter().zip(power) {
        let e: f64 = p
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let t1 = r1.times.get(n + 1).copied().unwrap_or(1.0);
                (t1 - r1.times[n]) * p
            })
            .sum();
        assert!(
            (e - g.energy).abs() < 1e-9 * g.energy,
            "{e} vs {}",
            g.energy
        );
    }
    assert_eq!(r1.mean_path.last().map(|m| m.0), Some(1.0));
}

/// Batched scheduling (one single-threaded run per rayon task) gives the same numbers as running
/// each comparison on its own.
#[test]
fn batch_equals_sequential() {
    use mfpid_energy::Comparison;
    let jobs: Vec<_> = [1, 3]
        .iter()
        .map(|&d| {
            (
                scenario::b_nd(d).unwrap().fleet,
                Settings::paper(256).with_steps(100),
            )
        })
        .collect();
    let methods = Method::standard();
    let batch = Comparison::run_batch(jobs.clone(), &methods, &Recording::default()).unwrap();
    for ((fleet, settings), b) in jobs.into_iter().zip(&batch) {
        let seq = Comparison::run(fleet, settings, &methods, &Recording::default()).unwrap();
        for (x, y) in seq.runs.iter().zip(&b.runs) {
            assert_eq!(x.method, y.method);
            assert_eq!(x.energy, y.energy);
            assert_eq!(x.per_agent, y.per_agent);
        }
    }
}

/// The stop flag: a flag that stays down changes nothing (same energies to the bit); a flag raised
/// during step 10 (by an observer, so deterministically) ends the run at the next step with
/// `EnergyError::Cancelled`, and a raised flag stops a batch.
#[test]
fn cancellation_flag() {
    use mfpid_energy::{Comparison, EnergyError, RunOptions};
    use mfpid_sde::observe::{Observer, StepView};
    use mfpid_sde::CancelToken;

    struct RaiseAt {
        step: usize,
        flag: CancelToken,
        seen: usize,
    }
    impl Observer for RaiseAt {
        fn observe(&mut self, v: &StepView<'_>) {
            self.seen = v.step;
            if v.step == self.step {
                self.flag.cancel();
            }
        }
    }

    let exp = Experiment::new(
        scenario::b_nd(2).unwrap().fleet,
        Settings::paper(128).with_steps(60),
    )
    .unwrap();
    let m = Method::mean_field();
    let rec = Recording::default();
    let plain = exp.run(&m, &rec, &mut []).unwrap();
    let flag = CancelToken::new();
    let opts = RunOptions::from(rec).with_cancel(flag.clone());
    let same = exp.run(&m, &opts, &mut []).unwrap();
    assert_eq!(plain.energy, same.energy);
    assert_eq!(plain.per_agent, same.per_agent);

    let mut obs = RaiseAt {
        step: 10,
        flag: flag.clone(),
        seen: 0,
    };
    let r = exp.run(&m, &opts, &mut [&mut obs]);
    assert!(matches!(r, Err(EnergyError::Cancelled)), "{r:?}");
    assert_eq!(obs.seen, 10);

    let jobs = vec![(
        scenario::b_nd(1).unwrap().fleet,
        Settings::paper(64).with_steps(20),
    )];
    let r = Comparison::run_batch(jobs, &Method::standard(), &opts);
    assert!(matches!(r, Err(EnergyError::Cancelled)));
}
