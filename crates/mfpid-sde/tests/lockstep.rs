//! Lockstep runs: every member equals its own `run` bit for bit (same seed), for any thread count,
//! chunk size and particle offset; typed errors for members that cannot step together.
use mfpid_sde::observe::{ControlEnergy, Moments, Observer, StepView};
use mfpid_sde::{
    run, run_lockstep, CancelToken, Drift, Ensemble, FnDrift, LinearDrift, Member, Noise,
    RunConfig, Scheme, SdeError, TimeGrid,
};
use rand::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    lockstep_with(noise, grid, cfg, (b, off), None, false).0
}

/// [`lockstep`] with member `unwatched`'s energy observer left out and, with `stored`, a
/// drift-reading observer on member 1 (which forces the stored pass); also how many drift arrays
/// that observer saw.
fn lockstep_with(
    noise: &Noise,
    grid: &TimeGrid,
    cfg: &RunConfig,
    (b, off): (usize, usize),
    unwatched: Option<usize>,
    stored: bool,
) -> (Vec<Outcome>, usize) {
    let mut ds = drifts();
    let mut ens: Vec<Ensemble> = (0..ds.len()).map(|_| start(b, off)).collect();
    let mut es: Vec<ControlEnergy> = (0..ds.len()).map(|_| ControlEnergy::new()).collect();
    let mut ms: Vec<Moments> = (0..ds.len()).map(|_| Moments::new(7, true)).collect();
    let mut peek = Peek(0);
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
        if let Some(k) = unwatched {
            members[k].observers.remove(0);
        }
        if stored {
            members[1].observers.push(&mut peek);
        }
        let s = run_lockstep(&mut members, noise, grid, cfg).unwrap();
        assert_eq!(s.steps, grid.n_steps());
    }
    let outcomes = ens
        .iter()
        .zip(es.iter().zip(&ms))
        .map(|(x, (e, m))| outcome(x, e, m))
        .collect();
    (outcomes, peek.0)
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
    // one member, alone
    let mut one = |cfg: &RunConfig| {
        run_lockstep(
            &mut [Member {
                drift: &mut *a,
                ens: &mut x,
                observers: vec![],
            }],
            &noise,
            &grid,
            cfg,
        )
    };
    // a tile of no steps, for a lockstep run and for `run`
    let no_tile = RunConfig {
        tile_steps: 0,
        ..cfg.clone()
    };
    let r = one(&no_tile);
    let tile_error = |r: &Result<_, SdeError>| {
        matches!(
            r,
            Err(SdeError::Invalid {
                field: "tile_steps",
                ..
            })
        )
    };
    assert!(tile_error(&r), "{r:?}");
    let heun = RunConfig::new(Scheme::Heun, 1);
    let r = one(&heun);
    assert!(matches!(r, Err(SdeError::Unsupported { .. })), "{r:?}");
    let stop = CancelToken::new();
    stop.cancel();
    let cancelled = RunConfig {
        cancel: Some(stop),
        ..cfg
    };
    let r = one(&cancelled);
    assert!(
        matches!(r, Err(SdeError::Cancelled { step: 0, .. })),
        "{r:?}"
    );
    let r = run(&mut *a, &noise, &grid, &mut x, &no_tile, &mut []);
    assert!(tile_error(&r), "{r:?}");
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

/// An observer that reads the whole drift array and has no block form: a lockstep run with it
/// stores the drift (`B x d` per member) instead of taking the fused pass.
struct Peek(usize);

impl Observer for Peek {
    fn observe(&mut self, v: &StepView<'_>) {
        self.0 += usize::from(v.drift.is_some());
    }
}

/// Members whose observers all have a block form (`ControlEnergy`) or need no drift (`Moments`)
/// take the fused pass — each chunk's drifts evaluated in the update, the observers fed block by
/// block — and one observer that reads the whole drift array forces the stored pass; both equal
/// the separate runs (stored drift) bit for bit, for any thread count, chunk size and offset, with
/// the energy observer on some members only.
#[test]
fn fused_and_stored_passes_equal_separate_runs() {
    let grid = TimeGrid::uniform(0.0, 1.0, 40).unwrap();
    for (noise, b, off) in [
        (Noise::Scalar(0.8), 1000, 0),
        (Noise::Diagonal(vec![0.3, 1.0, 2.0]), 333, 128),
    ] {
        let base = RunConfig::new(Scheme::EulerMaruyama, 17);
        let want = separate(&noise, &grid, &base, b, off);
        for ((threads, chunk), stored) in [(Some(1), 64), (Some(3), 128), (None, 256)]
            .into_iter()
            .flat_map(|c| [(c, false), (c, true)])
        {
            let cfg = RunConfig {
                threads,
                chunk_size: chunk,
                ..base.clone()
            };
            // the last member watched by its moments only
            let (got, peeked) = lockstep_with(&noise, &grid, &cfg, (b, off), Some(2), stored);
            assert_eq!(peeked, if stored { grid.n_steps() } else { 0 });
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                let at = format!("member {k}, {threads:?} threads, chunk {chunk}, stored {stored}");
                if k < 2 {
                    assert_eq!(g, w, "{at}");
                } else {
                    assert_eq!((&g.0, &g.4), (&w.0, &w.4), "states and moments of {at}");
                    assert!(g.1.is_empty(), "{at}");
                }
            }
        }
    }
}

/// A drift that turns non-finite names the same entry whether the drift is stored or evaluated in
/// the fused pass (where it is checked only for chunks whose update wrote a non-finite state): the
/// first one in member, then particle order, also when a later member's entry comes first in the
/// same work group.
#[test]
fn a_non_finite_drift_is_the_same_typed_error_fused_or_stored() {
    let grid = TimeGrid::uniform(0.0, 1.0, 5).unwrap();
    let noise = Noise::Scalar(0.5);
    let b = 700;
    // (threads, member 0's bad (particle, coord), member 1's); with one thread the 11 chunks of
    // 64 form groups of 3, so particles 10 and 150 (chunks 0 and 2) share a group
    for (threads, bad0, bad1) in [(2, (555, 1), (130, 2)), (1, (150, 0), (10, 2))] {
        let cfg = RunConfig {
            threads: Some(threads),
            chunk_size: 64,
            ..RunConfig::new(Scheme::EulerMaruyama, 9)
        };
        // step by step (tile 1 and the stored pass) and in tiles of 3 and 8 steps (the bad
        // step 2 inside the first tile)
        for (stored, tile) in [(false, 1), (false, 3), (false, 8), (true, 8)] {
            let cfg = RunConfig {
                tile_steps: tile,
                ..cfg.clone()
            };
            let mut f0 = Poisoned {
                p: bad0.0,
                j: bad0.1,
            };
            let mut f1 = Poisoned {
                p: bad1.0,
                j: bad1.1,
            };
            let (mut x0, mut x1) = (start(b, 0), start(b, 0));
            let mut peek = Peek(0);
            let observers: Vec<&mut dyn Observer> = if stored { vec![&mut peek] } else { vec![] };
            let r = run_lockstep(
                &mut [
                    Member {
                        drift: &mut f0,
                        ens: &mut x0,
                        observers: vec![],
                    },
                    Member {
                        drift: &mut f1,
                        ens: &mut x1,
                        observers,
                    },
                ],
                &noise,
                &grid,
                &cfg,
            );
            // member 0's entry comes first although member 1's particle index is smaller
            match r {
                Err(SdeError::NonFiniteDrift {
                    step: 2,
                    particle,
                    coord,
                    ..
                }) if (particle, coord) == bad0 => {}
                other => panic!("{threads} threads, stored {stored}, tile {tile}: {other:?}"),
            }
        }
    }
}

/// `b(t, x) = -x`, NaN at `t` in (0.3, 0.5) for particle `p`, coordinate `j`.
#[derive(Clone)]
struct Poisoned {
    p: usize,
    j: usize,
}

impl Drift for Poisoned {
    fn dim(&self) -> usize {
        D
    }
    fn fork(&self) -> Option<Box<dyn Drift>> {
        Some(Box::new(self.clone()))
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        for (r, (xr, or)) in x.chunks_exact(D).zip(out.chunks_exact_mut(D)).enumerate() {
            for (o, v) in or.iter_mut().zip(xr) {
                *o = -v;
            }
            if t > 0.3 && t < 0.5 && first + r == self.p {
                or[self.j] = f64::NAN;
            }
        }
    }
}

/// An observer that offers its block form at the start but not at every step: the run goes on,
/// and a step without it closes with zero partials (power 0) instead of stale ones.
#[test]
fn an_observer_that_stops_offering_blocks_gets_zero_partials() {
    struct Flaky {
        inner: ControlEnergy,
        calls: usize,
    }
    impl Observer for Flaky {
        fn start(&mut self, grid: &TimeGrid, n: usize, d: usize) {
            self.inner.start(grid, n, d);
        }
        fn observe(&mut self, v: &StepView<'_>) {
            self.inner.observe(v);
        }
        fn blocks(&mut self) -> Option<mfpid_sde::observe::Blocks<'_>> {
            self.calls += 1;
            // the planning call and then steps 0, 2, 4, ...
            if self.calls == 1 || self.calls.is_multiple_of(2) {
                self.inner.blocks()
            } else {
                None
            }
        }
        fn finish_blocks(&mut self, sums: &mfpid_sde::observe::BlockSums<'_>) {
            self.inner.finish_blocks(sums);
        }
    }
    let grid = TimeGrid::uniform(0.0, 1.0, 6).unwrap();
    let mut drift = LinearDrift::isotropic(D, 1.0, 0.5);
    let mut x = start(200, 0);
    let mut o = Flaky {
        inner: ControlEnergy::new(),
        calls: 0,
    };
    run_lockstep(
        &mut [Member {
            drift: &mut drift,
            ens: &mut x,
            observers: vec![&mut o],
        }],
        &Noise::Scalar(0.3),
        &grid,
        &RunConfig::new(Scheme::EulerMaruyama, 4),
    )
    .unwrap();
    let p = &o.inner.power;
    assert_eq!(p.len(), 6);
    for (n, pn) in p.iter().enumerate() {
        assert_eq!(*pn == 0.0, !n.is_multiple_of(2), "step {n}: {pn}");
    }
}

/// `b(t, x) = -(1 + t_p) x + sin(7 t_p)` with `t_p` the time of its last `prepare` (so a copy used
/// at the wrong step gives other bits), or `b = x` with `grow`; its prepare failing from
/// `fail_from` on; counts its forks.
#[derive(Clone)]
struct Prepared {
    t: f64,
    fail_from: f64,
    grow: bool,
    forks: Arc<AtomicUsize>,
}

impl Prepared {
    fn new(fail_from: f64) -> Self {
        Self {
            t: f64::NAN,
            fail_from,
            grow: false,
            forks: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Drift for Prepared {
    fn dim(&self) -> usize {
        D
    }
    fn prepare(&mut self, t: f64) -> Result<(), mfpid_sde::DriftError> {
        if t >= self.fail_from {
            return Err(format!("no coefficients at t = {t}").into());
        }
        self.t = t;
        Ok(())
    }
    fn eval(&self, _t: f64, _first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        for (o, v) in out.iter_mut().zip(x) {
            *o = if self.grow {
                *v
            } else {
                -(1.0 + self.t) * v + (7.0 * self.t).sin()
            };
        }
    }
    fn fork(&self) -> Option<Box<dyn Drift>> {
        self.forks.fetch_add(1, Ordering::Relaxed);
        Some(Box::new(self.clone()))
    }
}

/// Time tiles: with drifts that fork and observers that tile (`ControlEnergy`, `Moments` without
/// the covariance, whose records must also agree), each chunk takes
/// `tile_steps` steps before the next; every member's states, power trace and per-particle
/// energies equal a separate step-by-step `run` bit for bit, for tiles that do and do not divide
/// the 40 steps, one longer than the run, any thread count, chunk size and offset; the drifts are
/// left prepared for the last step, as step by step.
#[test]
fn time_tiles_equal_step_by_step_runs() {
    let grid = TimeGrid::uniform(0.0, 1.0, 40).unwrap();
    let noise = Noise::Diagonal(vec![0.3, 1.0, 2.0]);
    let members = || -> Vec<Box<dyn Drift>> {
        vec![
            Box::new(Prepared::new(2.0)),
            Box::new(LinearDrift {
                theta: vec![2.0, 0.5, 1.0],
                mu: vec![1.0, -1.0, 0.5],
            }),
        ]
    };
    let (b, off) = (333, 128);
    let base = RunConfig::new(Scheme::EulerMaruyama, 17);
    // `run` step by step (the runner's own pass), each member alone
    let separate = |cfg: &RunConfig| -> Vec<_> {
        members()
            .into_iter()
            .map(|mut drift| {
                let (mut ens, mut e) = (start(b, off), ControlEnergy::new());
                let mut m = Moments::new(6, false);
                run(
                    &mut drift,
                    &noise,
                    &grid,
                    &mut ens,
                    cfg,
                    &mut [&mut e, &mut m],
                )
                .unwrap();
                (
                    ens.as_slice().to_vec(),
                    e.power,
                    e.per_particle,
                    e.per_coord,
                    format!("{:?}", m.records),
                )
            })
            .collect()
    };
    let want = separate(&RunConfig {
        tile_steps: 1,
        ..base.clone()
    });
    for (tile, threads, chunk) in [
        (1, Some(1), 64),
        (3, Some(1), 64),
        (8, Some(3), 128),
        (8, None, 256),
        (64, Some(2), 64),
    ] {
        let cfg = RunConfig {
            threads,
            chunk_size: chunk,
            tile_steps: tile,
            ..base.clone()
        };
        let mut first = Prepared::new(2.0);
        let forks = Arc::clone(&first.forks);
        let mut second = members().remove(1);
        let mut ens = [start(b, off), start(b, off)];
        let mut es = [ControlEnergy::new(), ControlEnergy::new()];
        let mut ms = [Moments::new(6, false), Moments::new(6, false)];
        let [x0, x1] = &mut ens;
        let [e0, e1] = &mut es;
        let [m0, m1] = &mut ms;
        run_lockstep(
            &mut [
                Member {
                    drift: &mut first,
                    ens: x0,
                    observers: vec![e0, m0],
                },
                Member {
                    drift: &mut *second,
                    ens: x1,
                    observers: vec![e1, m1],
                },
            ],
            &noise,
            &grid,
            &cfg,
        )
        .unwrap();
        let at = format!("tile {tile}, {threads:?} threads, chunk {chunk}");
        // `run` in tiles (a lockstep run of one member)
        assert_eq!(separate(&cfg), want, "run, {at}");
        // one copy per step of a tile when tiled, none step by step
        let tiled = if tile > 1 { tile } else { 0 };
        assert_eq!(forks.load(Ordering::Relaxed), tiled, "{at}");
        assert_eq!(first.t, grid.times()[39], "{at}");
        for (k, (((x, e), m), w)) in ens.iter().zip(&es).zip(&ms).zip(&want).enumerate() {
            let got = (
                x.as_slice().to_vec(),
                e.power.clone(),
                e.per_particle.clone(),
            );
            assert_eq!(
                got,
                (w.0.clone(), w.1.clone(), w.2.clone()),
                "member {k}, {at}"
            );
            assert_eq!(e.per_coord, w.3, "member {k}, {at}");
            assert_eq!(format!("{:?}", m.records), w.4, "member {k}, {at}");
        }
    }
}

/// A step inside a tile that fails is the step-by-step run's error, and the observers hold the
/// steps before it: a preparation failing at step 13 (`t = 0.65`, inside the tile of steps
/// 8..16), and a state overflowing at step 2 (inside the first tile).
#[test]
fn a_failure_inside_a_tile_is_the_step_by_step_error() {
    let grid = TimeGrid::uniform(0.0, 1.0, 20).unwrap();
    let noise = Noise::Scalar(0.5);
    let outcome = |tile: usize, fail_from: f64, hot: bool| {
        let cfg = RunConfig {
            tile_steps: tile,
            threads: Some(2),
            chunk_size: 64,
            ..RunConfig::new(Scheme::EulerMaruyama, 5)
        };
        let mut f = Prepared::new(fail_from);
        let mut x = start(500, 0);
        if hot {
            // with b = x (finite) the state grows by 1.05 a step (h = 0.05): 1.6e308 overflows
            // at step 2
            f.grow = true;
            x.as_mut_slice()[300 * D + 1] = 1.6e308;
        }
        let mut e = ControlEnergy::new();
        let r = run_lockstep(
            &mut [Member {
                drift: &mut f,
                ens: &mut x,
                observers: vec![&mut e],
            }],
            &noise,
            &grid,
            &cfg,
        );
        (format!("{r:?}"), e.power)
    };
    // the error, and the steps observed: before a failed preparation, up to a failed update
    let prepare = "Err(Prepare { t: 0.65,";
    let state = "Err(NonFiniteState { step: 2, t: 0.15000000000000002, particle: 300, coord: 1, value: inf })";
    for (fail_from, hot, err, steps) in [(0.65, false, prepare, 13), (2.0, true, state, 3)] {
        let (want, power) = outcome(1, fail_from, hot);
        assert!(want.starts_with(err), "{want}");
        assert_eq!(power.len(), steps);
        for tile in [3, 8] {
            let (got, p) = outcome(tile, fail_from, hot);
            assert_eq!(got, want, "tile {tile}");
            assert_eq!(p, power, "tile {tile}");
        }
    }
}
