//! Ensemble runner: moments, reproducibility, agreement with the scheme formulas, typed errors.
use mfpid_sde::observe::{ControlEnergy, Histogram, Moments, Trajectories};
use mfpid_sde::rng::{BlockNormals, DOMAIN_INCREMENTS};
use mfpid_sde::{
    run, run_ode, scheme, DiagonalNoise, Drift, Ensemble, FnDrift, LinearDrift, Noise, OdeScheme,
    RunConfig, Scheme, SdeError, TimeGrid,
};
use rand::Rng;
use rand_distr::StandardNormal;
use std::sync::Arc;

/// OU `dx = -theta (x - mu) dt + sigma dW` from `x0`: exact mean and variance at t.
fn ou_exact(theta: f64, mu: f64, sigma: f64, x0: f64, t: f64) -> (f64, f64) {
    (
        mu + (x0 - mu) * (-theta * t).exp(),
        sigma * sigma * (1.0 - (-2.0 * theta * t).exp()) / (2.0 * theta),
    )
}

#[test]
fn ou_moments_match_exact_within_4_standard_errors() {
    let b = 100_000;
    let (theta, mu, sigma, x0) = (1.3, 0.5, 0.9, 2.0);
    let (m, v) = ou_exact(theta, mu, sigma, x0, 1.0);
    for (scheme, steps) in [
        (Scheme::ExactOu, 1),
        (Scheme::ExactOu, 10),
        (Scheme::Sra1, 100),
        (Scheme::Heun, 200),
    ] {
        let mut drift = LinearDrift {
            theta: vec![theta, theta],
            mu: vec![mu, mu],
        };
        let grid = TimeGrid::uniform(0.0, 1.0, steps).unwrap();
        let mut ens = Ensemble::filled(b, &[x0, x0]).unwrap();
        let mut mom = Moments::new(steps, true);
        run(
            &mut drift,
            &Noise::Scalar(sigma),
            &grid,
            &mut ens,
            &RunConfig::new(scheme, 11),
            &mut [&mut mom],
        )
        .unwrap();
        let rec = mom.last().unwrap();
        let cov = rec.cov.as_ref().unwrap();
        let se_mean = (v / b as f64).sqrt();
        let se_var = v * (2.0 / (b as f64 - 1.0)).sqrt();
        for j in 0..2 {
            assert!(
                (rec.mean[j] - m).abs() < 4.0 * se_mean,
                "{scheme:?} mean {} vs {m} (se {se_mean})",
                rec.mean[j]
            );
            assert!(
                (cov[j * 2 + j] - v).abs() < 4.0 * se_var,
                "{scheme:?} var {} vs {v} (se {se_var})",
                cov[j * 3]
            );
        }
        // independent coordinates: covariance within 4 se of 0 (se of a covariance ~ v / sqrt(B))
        assert!(
            cov[1].abs() < 4.0 * v / (b as f64).sqrt(),
            "{scheme:?} cov {}",
            cov[1]
        );
    }
}

/// A nonlinear drift that depends on the particle index, so chunk offsets are exercised.
fn wiggle() -> impl Drift {
    FnDrift::new(3, |t: f64, x: &[f64], o: &mut [f64]| {
        for j in 0..3 {
            o[j] = (x[j] * (1.0 + t)).sin() - 0.3 * x[(j + 1) % 3];
        }
    })
}

fn run_states(scheme: Scheme, threads: usize, chunk: usize) -> (Vec<f64>, f64) {
    let mut drift = wiggle();
    let grid = TimeGrid::uniform(0.0, 1.0, 50).unwrap();
    let mut ens = Ensemble::sample(1000, 3, 5, |r, x| {
        x.iter_mut().for_each(|v| *v = r.sample(StandardNormal))
    })
    .unwrap();
    let mut energy = ControlEnergy::new();
    let cfg = RunConfig {
        scheme,
        seed: 99,
        chunk_size: chunk,
        threads: Some(threads),
        ..RunConfig::default()
    };
    run(
        &mut drift,
        &Noise::Diagonal(vec![0.5, 1.0, 1.5]),
        &grid,
        &mut ens,
        &cfg,
        &mut [&mut energy],
    )
    .unwrap();
    (ens.into_vec(), energy.total())
}

#[test]
fn bit_identical_for_any_thread_count_and_chunk_size() {
    for scheme in [Scheme::EulerMaruyama, Scheme::Heun, Scheme::Sra1] {
        let (a, ea) = run_states(scheme, 1, 64);
        let (b, eb) = run_states(scheme, 2, 64);
        let (c, ec) = run_states(scheme, 2, 320);
        let (d, ed) = run_states(scheme, 1, 1024);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{scheme:?}: threads 1 vs 2 differ"
        );
        assert!(
            a.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{scheme:?}: chunk 64 vs 320 differ"
        );
        assert!(
            a.iter().zip(&d).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{scheme:?}: chunk 64 vs 1024 differ"
        );
        assert_eq!(ea.to_bits(), eb.to_bits());
        assert_eq!(ea.to_bits(), ec.to_bits());
        assert_eq!(ea.to_bits(), ed.to_bits());
        // and the seed matters
        assert_ne!(a, run_states_seed(scheme, 100));
    }
}

fn run_states_seed(scheme: Scheme, seed: u64) -> Vec<f64> {
    let mut drift = wiggle();
    let grid = TimeGrid::uniform(0.0, 1.0, 50).unwrap();
    let mut ens = Ensemble::sample(1000, 3, 5, |r, x| {
        x.iter_mut().for_each(|v| *v = r.sample(StandardNormal))
    })
    .unwrap();
    run(
        &mut drift,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(scheme, seed),
        &mut [],
    )
    .unwrap();
    ens.into_vec()
}

#[test]
fn runner_em_equals_the_formula_with_documented_streams() {
    // particle 70 lives in block 1 and is its 7th particle: at every step it takes the 7th of the
    // 64 normals block 1 draws (d = 1, one normal per particle per step). Particle 129 is the 2nd
    // of the last block, which has only 2 particles and draws 2 normals per step.
    let (b, steps, sigma) = (130, 20, 0.7);
    let mut drift = FnDrift::new(1, |t: f64, x: &[f64], o: &mut [f64]| {
        o[0] = -x[0] * x[0] * x[0] + t
    });
    let grid = TimeGrid::uniform(0.0, 1.0, steps).unwrap();
    let mut ens = Ensemble::filled(b, &[0.3]).unwrap();
    run(
        &mut drift,
        &Noise::Scalar(sigma),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 3),
        &mut [],
    )
    .unwrap();
    for (particle, block, size) in [(70, 1, 64), (129, 2, 2)] {
        let mut r = BlockNormals::new(3, DOMAIN_INCREMENTS, block);
        let mut x = 0.3;
        for n in 0..steps {
            let (t, h) = (grid.times()[n], grid.step(n));
            let mut mine = 0.0;
            for p in 0..size {
                let xi = r.next();
                if p == particle - 64 * block as usize {
                    mine = xi;
                }
            }
            x = x + (-x * x * x + t) * h + sigma * (h.sqrt() * mine);
        }
        assert_eq!(
            ens.particle(particle)[0].to_bits(),
            x.to_bits(),
            "{particle}"
        );
    }
}

#[test]
fn runner_sra1_equals_the_formula_with_documented_draws() {
    // SRA1 draws 2d normals per particle and step, (ξ1, ξ2) of coordinate j at 2j, 2j + 1
    // (`rng` module doc); particle 70 is the 7th of block 1, d = 2
    let (b, steps, sigma, d) = (130, 10, 0.6, 2);
    let bj = |t: f64, x: f64, j: usize| (1.0 + j as f64) * x.sin() - t;
    let mut drift = FnDrift::new(d, move |t: f64, x: &[f64], o: &mut [f64]| {
        for j in 0..2 {
            o[j] = bj(t, x[j], j);
        }
    });
    let grid = TimeGrid::uniform(0.0, 1.0, steps).unwrap();
    let mut ens = Ensemble::filled(b, &[0.3, -0.2]).unwrap();
    let cfg = RunConfig::new(Scheme::Sra1, 11);
    run(
        &mut drift,
        &Noise::Scalar(sigma),
        &grid,
        &mut ens,
        &cfg,
        &mut [],
    )
    .unwrap();
    let mut r = BlockNormals::new(11, DOMAIN_INCREMENTS, 1);
    let mut x = [0.3, -0.2];
    for n in 0..steps {
        let (t, h) = (grid.times()[n], grid.step(n));
        let mut z = vec![0.0; 64 * 2 * d];
        r.fill(&mut z);
        let mine = &z[6 * 2 * d..7 * 2 * d];
        for j in 0..d {
            let f0 = bj(t, x[j], j);
            let (dw, dz) = scheme::brownian_pair(h, mine[2 * j], mine[2 * j + 1]);
            let stage = scheme::sra1_stage(x[j], f0, sigma, dz, h);
            let f1 = bj(t + scheme::SRA1_C0_2 * h, stage, j);
            x[j] = scheme::sra1_update(x[j], f0, f1, sigma, sigma, dw, dz, h);
        }
    }
    for (j, (got, want)) in ens.particle(70).iter().zip(x).enumerate() {
        assert_eq!(got.to_bits(), want.to_bits(), "coord {j}");
    }
}

struct Gbm;
impl DiagonalNoise for Gbm {
    fn eval(&self, _t: f64, x: &[f64], g: &mut [f64], dg: &mut [f64]) {
        g[0] = 0.4 * x[0];
        dg[0] = 0.4;
    }
}

#[test]
fn milstein_gbm_mean_and_observers() {
    let b = 50_000;
    let mut drift = FnDrift::new(1, |_t: f64, x: &[f64], o: &mut [f64]| o[0] = 0.5 * x[0]);
    let grid = TimeGrid::uniform(0.0, 1.0, 100).unwrap();
    let mut ens = Ensemble::filled(b, &[1.0]).unwrap();
    let edges: Vec<f64> = (0..=40).map(|k| k as f64 * 0.1).collect();
    let mut hist = Histogram::new(0, edges, vec![0, 100]);
    let mut traj = Trajectories::new(vec![0, 5, 10_000_000], 10);
    let mut mom = Moments::new(100, false);
    let mut energy = ControlEnergy::new();
    let noise = Noise::DiagonalState(Arc::new(Gbm));
    run(
        &mut drift,
        &noise,
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::Milstein, 1),
        &mut [&mut hist, &mut traj, &mut mom, &mut energy],
    )
    .unwrap();
    let exact = 0.5f64.exp();
    let sd = (exact * exact * (0.16f64.exp() - 1.0)).sqrt();
    assert!((mom.last().unwrap().mean[0] - exact).abs() < 4.0 * sd / (b as f64).sqrt());
    assert_eq!(hist.records.len(), 2);
    assert_eq!(
        hist.records[0].2.iter().sum::<u64>(),
        b as u64,
        "all particles start at 1.0"
    );
    assert_eq!(traj.times.len(), 11);
    assert_eq!(
        traj.states[0].len(),
        2,
        "the out-of-range particle index is dropped"
    );
    // energy of u = 0.5 x: E = ∫ 0.25 E[x_t²] dt = 0.25 (e^{1.16} - 1) / 1.16
    let e_exact = 0.25 * (1.16f64.exp() - 1.0) / 1.16;
    assert!(
        (energy.total() - e_exact).abs() < 0.01 * e_exact + 4.0 * energy.stderr(),
        "{} vs {e_exact}",
        energy.total()
    );
    assert_eq!(energy.power.len(), 100);
}

#[test]
fn typed_errors_for_bad_input() {
    let grid = TimeGrid::uniform(0.0, 1.0, 10).unwrap();
    let mut ens = Ensemble::filled(10, &[0.0, 0.0]).unwrap();
    // dimension mismatch
    let mut d1 = LinearDrift::isotropic(3, 1.0, 0.0);
    let e = run(
        &mut d1,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::default(),
        &mut [],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            SdeError::DimensionMismatch {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    // NaN from a user drift: reported with step and particle
    let mut bad = FnDrift::new(2, |t: f64, x: &[f64], o: &mut [f64]| {
        o[0] = 0.0;
        o[1] = if t > 0.45 && x[0] > -100.0 {
            f64::NAN
        } else {
            0.0
        };
    });
    let e = run(
        &mut bad,
        &Noise::Scalar(0.0),
        &grid,
        &mut ens,
        &RunConfig::default(),
        &mut [],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            SdeError::NonFiniteDrift {
                step: 5,
                particle: 0,
                coord: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("step 5"));
    // unsupported combinations and bad config
    let mut lin = LinearDrift::isotropic(2, 1.0, 0.0);
    let state = Noise::DiagonalState(Arc::new(Gbm));
    assert!(matches!(
        run(
            &mut lin,
            &state,
            &grid,
            &mut ens,
            &RunConfig::new(Scheme::Sra1, 0),
            &mut []
        ),
        Err(SdeError::Unsupported { .. })
    ));
    let mut wig = FnDrift::new(2, |_t: f64, _x: &[f64], o: &mut [f64]| o.fill(0.0));
    assert!(matches!(
        run(
            &mut wig,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &RunConfig::new(Scheme::ExactOu, 0),
            &mut []
        ),
        Err(SdeError::Invalid {
            field: "scheme",
            ..
        })
    ));
    let cfg = RunConfig {
        chunk_size: 100,
        ..RunConfig::default()
    };
    assert!(matches!(
        run(
            &mut lin,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &cfg,
            &mut []
        ),
        Err(SdeError::Invalid {
            field: "chunk_size",
            ..
        })
    ));
    assert!(matches!(
        run(
            &mut lin,
            &Noise::Diagonal(vec![1.0]),
            &grid,
            &mut ens,
            &RunConfig::default(),
            &mut []
        ),
        Err(SdeError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        Ensemble::filled(0, &[1.0]),
        Err(SdeError::Empty { field: "particles" })
    ));
    assert!(matches!(
        Ensemble::from_vec(2, 1, vec![1.0, f64::NAN]),
        Err(SdeError::NonFinite { .. })
    ));
    // explosion is caught as a non-finite state
    let mut blow = FnDrift::new(2, |_t: f64, x: &[f64], o: &mut [f64]| {
        o[0] = x[0] * x[0] * 1e200 + 1e300;
        o[1] = 0.0;
    });
    let e = run(
        &mut blow,
        &Noise::Scalar(0.0),
        &grid,
        &mut ens,
        &RunConfig::default(),
        &mut [],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            SdeError::NonFiniteState { .. } | SdeError::NonFiniteDrift { .. }
        ),
        "{e}"
    );
    // ODE runner also validates
    let mut d3 = LinearDrift::isotropic(3, 1.0, 0.0);
    assert!(run_ode(
        &mut d3,
        &grid,
        &mut ens,
        OdeScheme::Rk4,
        &RunConfig::default(),
        &mut []
    )
    .is_err());
}

/// The stop flag: raised by an observer during step 7, it ends the SDE and the ODE runs at the
/// start of step 8 (before any work on it); a token that stays down changes nothing.
#[test]
fn cancel_token_stops_at_the_next_step() {
    use mfpid_sde::observe::{Observer, StepView};
    use mfpid_sde::{run_ode, CancelToken, OdeScheme, SdeError};

    struct RaiseAt(usize, CancelToken, usize);
    impl Observer for RaiseAt {
        fn observe(&mut self, v: &StepView<'_>) {
            self.2 = v.step;
            if v.step == self.0 {
                self.1.cancel();
            }
        }
    }
    let grid = TimeGrid::uniform(0.0, 1.0, 20).unwrap();
    let plain = {
        let mut ens = Ensemble::filled(128, &[1.0, -1.0]).unwrap();
        let cfg = RunConfig::new(Scheme::EulerMaruyama, 3);
        let mut drift = LinearDrift::isotropic(2, 1.0, 0.0);
        run(
            &mut drift,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &cfg,
            &mut [],
        )
        .unwrap();
        ens.into_vec()
    };
    let token = CancelToken::new();
    let cfg = RunConfig {
        cancel: Some(token.clone()),
        ..RunConfig::new(Scheme::EulerMaruyama, 3)
    };
    let mut ens = Ensemble::filled(128, &[1.0, -1.0]).unwrap();
    let mut drift = LinearDrift::isotropic(2, 1.0, 0.0);
    run(
        &mut drift,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &cfg,
        &mut [],
    )
    .unwrap();
    assert_eq!(ens.into_vec(), plain, "a lowered flag changes nothing");

    let mut obs = RaiseAt(7, token.clone(), 0);
    let mut ens = Ensemble::filled(128, &[1.0, -1.0]).unwrap();
    let r = run(
        &mut drift,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &cfg,
        &mut [&mut obs],
    );
    assert!(
        matches!(r, Err(SdeError::Cancelled { step: 8, .. })),
        "{r:?}"
    );
    assert_eq!(obs.2, 7);

    token.reset();
    let mut obs = RaiseAt(7, token.clone(), 0);
    let mut ens = Ensemble::filled(128, &[1.0, -1.0]).unwrap();
    let r = run_ode(
        &mut drift,
        &grid,
        &mut ens,
        OdeScheme::Rk4,
        &cfg,
        &mut [&mut obs],
    );
    assert!(
        matches!(r, Err(SdeError::Cancelled { step: 8, .. })),
        "{r:?}"
    );
}

/// A drift that depends on the particle's global index (so the block offsets of the fused pass are
/// exercised) and turns NaN at coordinate 1 of particles 700 and 130 from `t > 0.45` when `poison`.
struct Indexed {
    poison: bool,
}
impl Drift for Indexed {
    fn dim(&self) -> usize {
        3
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        for (i, (xp, op)) in x.chunks_exact(3).zip(out.chunks_exact_mut(3)).enumerate() {
            let p = first + i;
            for j in 0..3 {
                op[j] = (xp[j] * (1.0 + t)).sin() - 0.3 * xp[(j + 1) % 3] + 1e-3 * (p % 7) as f64;
            }
            if self.poison && t > 0.45 && (p == 700 || p == 130) {
                op[1] = f64::NAN;
            }
        }
    }
}

struct Sq;
impl DiagonalNoise for Sq {
    fn eval(&self, _t: f64, x: &[f64], g: &mut [f64], dg: &mut [f64]) {
        for j in 0..x.len() {
            g[j] = 0.3 + 0.1 * x[j].sin();
            dg[j] = 0.1 * x[j].cos();
        }
    }
}

struct Mixing;
impl mfpid_sde::MatrixNoise for Mixing {
    fn noise_dim(&self) -> usize {
        2
    }
    fn eval(&self, t: f64, x: &[f64], g: &mut [f64]) {
        for (k, gk) in g.iter_mut().enumerate() {
            *gk = 0.2 + 0.05 * (k as f64 + t) * x[k % 3].cos();
        }
    }
}

/// One run of [`Indexed`] (1000 particles, 50 steps) with a `Moments` observer, plus a
/// `ControlEnergy` (whose need of the stored drift array turns the fused update off) when `stored`.
fn indexed_run(
    scheme: Scheme,
    noise: &Noise,
    threads: usize,
    chunk: usize,
    stored: bool,
    poison: bool,
) -> (Result<(), SdeError>, Vec<f64>, Vec<f64>) {
    let grid = TimeGrid::uniform(0.0, 1.0, 50).unwrap();
    let mut ens = Ensemble::sample(1000, 3, 5, |r, x| {
        x.iter_mut().for_each(|v| *v = r.sample(StandardNormal))
    })
    .unwrap();
    let mut moments = Moments::new(10, true);
    let mut energy = ControlEnergy::new();
    let cfg = RunConfig {
        scheme,
        seed: 3,
        chunk_size: chunk,
        threads: Some(threads),
        ..RunConfig::default()
    };
    let mut obs: Vec<&mut dyn mfpid_sde::observe::Observer> = vec![&mut moments];
    if stored {
        obs.push(&mut energy);
    }
    let r = run(
        &mut Indexed { poison },
        noise,
        &grid,
        &mut ens,
        &cfg,
        &mut obs,
    )
    .map(|_| ());
    let m = moments
        .records
        .iter()
        .flat_map(|r| r.mean.iter().chain(r.cov.iter().flatten()).copied())
        .collect();
    (r, ens.into_vec(), m)
}

#[test]
fn fused_update_equals_the_stored_drift_pass() {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let noises = [
        (Scheme::EulerMaruyama, Noise::Diagonal(vec![0.5, 1.0, 1.5])),
        (Scheme::EulerMaruyama, Noise::Scalar(0.7)),
        (Scheme::EulerMaruyama, Noise::Matrix(Arc::new(Mixing))),
        (Scheme::Milstein, Noise::DiagonalState(Arc::new(Sq))),
    ];
    for (scheme, noise) in &noises {
        let (r, want, want_m) = indexed_run(*scheme, noise, 1, 256, true, false);
        r.unwrap();
        for (threads, chunk) in [(1, 64), (2, 64), (2, 320), (1, 1024)] {
            let (r, got, got_m) = indexed_run(*scheme, noise, threads, chunk, false, false);
            r.unwrap();
            assert_eq!(
                bits(&got),
                bits(&want),
                "{scheme:?} {noise:?} {threads} {chunk}"
            );
            assert_eq!(bits(&got_m), bits(&want_m), "{scheme:?} {noise:?} moments");
        }
    }
    // a non-finite drift: the same error (the first entry in particle order) either way
    let noise = Noise::Scalar(0.7);
    let (want, ..) = indexed_run(Scheme::EulerMaruyama, &noise, 1, 256, true, true);
    let want = want.unwrap_err();
    assert!(
        matches!(
            want,
            SdeError::NonFiniteDrift {
                step: 23,
                particle: 130,
                coord: 1,
                ..
            }
        ),
        "{want}"
    );
    for (threads, chunk) in [(1, 64), (2, 64), (2, 640)] {
        let (got, ..) = indexed_run(Scheme::EulerMaruyama, &noise, threads, chunk, false, true);
        assert_eq!(got.unwrap_err().to_string(), want.to_string());
    }
}
