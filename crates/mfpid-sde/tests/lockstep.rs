//! Lockstep runs: every member equals its own `run` bit for bit (same seed), for any thread count,
//! chunk size and particle offset; typed errors for members that cannot step together.
use mfpid_sde::observe::{ControlEnergy, Moments, Observer};
use mfpid_sde::{
    run, run_lockstep, CancelToken, Drift, Ensemble, FnDrift, LinearDrift, Member, Noise,
    RunConfig, Scheme, SdeError, TimeGrid,
};
use rand::Rng;
use std::sync::Arc;

const D: usize = 3;

/// Three different drifts: two linear, one nonlinear and time-dependent.
fn drifts() -> Vec<Box<dyn Drift>> {
    vec![
        Box::new(LinearDrift::isotropic(D, 0.7, 0.0)),
        Box::new(LinearDrift {
            theta: vec![2.0, 0.5, 1.0],
            mu: vec![1.0, -1.0, 0.5],
        }),
        Box::new(FnDrift::new(D, |t: f64, x: &[f64], o: &mut [f64]| {
            for (oj, xj) in o.iter_mut().zip(x) {
                *oj = (1.0 + t) * xj.sin() - 0.3 * xj;
            }
        })),
    ]
}

/// A start ensemble of `b` particles (not a multiple of 64) at `offset`.
fn start(b: usize, offset: usize) -> Ensemble {
    Ensemble::sample_range(offset, b, D, 5, |rng, x| {
        for v in x.iter_mut() {
            *v = rng.random::<f64>() * 2.0 - 1.0;
        }
    })
    .unwrap()
}

/// Final states, energy trace, per-particle energies and moments of one member.
type Outcome = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, String);

fn outcome(ens: &Ensemble, e: &ControlEnergy, m: &Moments) -> Outcome {
    (
        ens.as_slice().to_vec(),
        e.power.clone(),
        e.per_particle.clone(),
        e.per_coord.clone(),
        format!("{:?}", m.records),
    )
}

fn separate(noise: &Noise, grid: &TimeGrid, cfg: &RunConfig, b: usize, off: usize) -> Vec<Outcome> {
    drifts()
        .into_iter()
        .map(|mut drift| {
            let mut ens = start(b, off);
            let (mut e, mut m) = (ControlEnergy::new(), Moments::new(7, true));
            run(
                &mut drift,
                noise,
                grid,
                &mut ens,
                cfg,
                &mut [&mut e, &mut m],
            )
            .unwrap();
            outcome(&ens, &e, &m)
        })
        .collect()
}

fn lockstep(noise: &Noise, grid: &TimeGrid, cfg: &RunConfig, b: usize, off: usize) -> Vec<Outcome> {
    let mut ds = drifts();
    let mut ens: Vec<Ensemble> = (0..ds.len()).map(|_| start(b, off)).collect();
    let mut es: Vec<ControlEnergy> = (0..ds.len()).map(|_| ControlEnergy::new()).collect();
    let mut ms: Vec<Moments> = (0..ds.len()).map(|_| Moments::new(7, true)).collect();
    {
        let mut members: Vec<Member<'_>> = ds
            .iter_mut()
            .zip(ens.iter_mut())
            .zip(es.iter_mut().zip(ms.iter_mut()))
            .map(|((d, x), (e, m))| Member {
                drift: &mut **d,
                ens: x,
                observers: vec![e as &mut dyn Observer, m],
            })
            .collect();
        let s = run_lockstep(&mut members, noise, grid, cfg).unwrap();
        assert_eq!(s.steps, grid.n_steps());
    }
    ens.iter()
        .zip(es.iter().zip(&ms))
        .map(|(x, (e, m))| outcome(x, e, m))
        .collect()
}

#[test]
fn members_equal_separate_runs_bit_for_bit() {
    let grid = TimeGrid::uniform(0.0, 1.0, 40).unwrap();
    let time_noise = Noise::ScalarTime(Arc::new(|t: f64| 0.5 + t));
    for (noise, b, off) in [
        (Noise::Scalar(0.8), 1000, 0),
        (Noise::Diagonal(vec![0.3, 1.0, 2.0]), 333, 128),
        (time_noise, 200, 64),
    ] {
        let base = RunConfig::new(Scheme::EulerMaruyama, 17);
        let want = separate(&noise, &grid, &base, b, off);
        for (threads, chunk) in [(Some(1), 64), (Some(3), 128), (None, 256)] {
            let cfg = RunConfig {
                threads,
                chunk_size: chunk,
                ..base.clone()
            };
            let got = lockstep(&noise, &grid, &cfg, b, off);
            assert_eq!(got, want, "{noise:?}, {threads:?} threads, chunk {chunk}");
        }
    }
}

#[test]
fn members_that_cannot_step_together_are_typed_errors() {
    let grid = TimeGrid::uniform(0.0, 1.0, 4).unwrap();
    let cfg = RunConfig::new(Scheme::EulerMaruyama, 1);
    let noise = Noise::Scalar(1.0);
    let (mut a, mut b) = (drifts().remove(0), drifts().remove(1));
    let (mut x, mut y) = (start(100, 0), start(101, 0));
    let r = run_lockstep(
        &mut [
            Member {
                drift: &mut *a,
                ens: &mut x,
                observers: vec![],
            },
            Member {
                drift: &mut *b,
                ens: &mut y,
                observers: vec![],
            },
        ],
        &noise,
        &grid,
        &cfg,
    );
    assert!(
        matches!(
            r,
            Err(SdeError::Invalid {
                field: "lockstep members",
                ..
            })
        ),
        "{r:?}"
    );
    assert!(matches!(
        run_lockstep(&mut [], &noise, &grid, &cfg),
        Err(SdeError::Empty { .. })
    ));
    let heun = RunConfig::new(Scheme::Heun, 1);
    let r = run_lockstep(
        &mut [Member {
            drift: &mut *a,
            ens: &mut x,
            observers: vec![],
        }],
        &noise,
        &grid,
        &heun,
    );
    assert!(matches!(r, Err(SdeError::Unsupported { .. })), "{r:?}");
    let stop = CancelToken::new();
    stop.cancel();
    let cancelled = RunConfig {
        cancel: Some(stop),
        ..cfg
    };
    let r = run_lockstep(
        &mut [Member {
            drift: &mut *a,
            ens: &mut x,
            observers: vec![],
        }],
        &noise,
        &grid,
        &cancelled,
    );
    assert!(
        matches!(r, Err(SdeError::Cancelled { step: 0, .. })),
        "{r:?}"
    );
}

/// A finite drift that carries one state entry past the largest double: both `run` and
/// `run_lockstep` (whose Euler-Maruyama update checks the finiteness of what it writes) stop at
/// the first step with `NonFiniteState` naming that particle and coordinate.
#[test]
fn a_state_that_overflows_is_a_typed_error() {
    let grid = TimeGrid::uniform(0.0, 1.0, 4).unwrap();
    let noise = Noise::Scalar(0.0);
    // b(x) = x, finite everywhere; x + b h = 1.25 x overflows for x = 1.5e308 (h = 0.25)
    let grow = || FnDrift::new(D, |_t: f64, x: &[f64], o: &mut [f64]| o.copy_from_slice(x));
    let (b, hot) = (300, 130 * D + 2);
    let start_hot = || {
        let mut v = vec![0.5; b * D];
        v[hot] = 1.5e308;
        Ensemble::from_vec(b, D, v).unwrap()
    };
    let want = |r: Result<_, SdeError>| match r {
        Err(SdeError::NonFiniteState {
            step: 0,
            particle,
            coord,
            value,
            ..
        }) => {
            assert_eq!((particle, coord), (hot / D, hot % D));
            assert_eq!(value, f64::INFINITY);
        }
        other => panic!("{other:?}"),
    };
    for threads in [Some(1), Some(2)] {
        let cfg = RunConfig {
            threads,
            ..RunConfig::new(Scheme::EulerMaruyama, 3)
        };
        let (mut f, mut x) = (grow(), start_hot());
        want(run(&mut f, &noise, &grid, &mut x, &cfg, &mut []).map(drop));
        let (mut f, mut g) = (grow(), drifts().remove(0));
        let (mut x, mut y) = (start_hot(), start(b, 0));
        let r = run_lockstep(
            &mut [
                Member {
                    drift: &mut f,
                    ens: &mut x,
                    observers: vec![],
                },
                Member {
                    drift: &mut *g,
                    ens: &mut y,
                    observers: vec![],
                },
            ],
            &noise,
            &grid,
            &cfg,
        );
        want(r.map(drop));
    }
}
