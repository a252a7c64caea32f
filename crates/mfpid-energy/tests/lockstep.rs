//! Lockstep comparison: `Experiment::run_all` steps every method together on one draw of the
//! increments, and each method's result is bit-identical to running that method on its own with
//! the same common random numbers (`mfpid_sde::run` with the same seed), for any thread count.
//! Also the start convention (`Start::Eps`: grid from `t = eps`).

use mfpid_bridge::Bridge;
use mfpid_energy::{scenario, Centres, Experiment, Method, Recording, Settings, Start};
use mfpid_sde::observe::{ControlEnergy, Moments};
use mfpid_sde::{run, Ensemble, Noise, RunConfig, Scheme};

fn methods() -> Vec<Method> {
    let mut m = Method::standard();
    m.push(Method::new("half", Centres::Fixed(vec![1.0; 8 * 3])));
    m
}

/// One method run alone through the plain runner: final states, per-agent energies, power trace,
/// fleet-mean path, energy.
type Alone = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<(f64, Vec<f64>)>, f64);

fn alone(exp: &Experiment, m: &Method) -> Alone {
    let s = exp.settings();
    let mut bridge = Bridge::new(&exp.protocol(m).unwrap(), exp.fleet().p_tar().clone())
        .unwrap()
        .with_eps(s.eps)
        .unwrap()
        .with_starts(exp.agents().x.clone())
        .unwrap();
    let (b, d) = (exp.agents().len(), exp.fleet().dim());
    let mut ens = Ensemble::from_vec(b, d, exp.agents().x.clone()).unwrap();
    let cfg = RunConfig {
        scheme: Scheme::EulerMaruyama,
        seed: s.seed,
        threads: Some(1),
        ..RunConfig::default()
    };
    let (mut e, mut mom) = (ControlEnergy::new(), Moments::new(10, false));
    run(
        &mut bridge,
        &Noise::Scalar(1.0),
        exp.grid(),
        &mut ens,
        &cfg,
        &mut [&mut e, &mut mom],
    )
    .unwrap();
    let path = mom.records.into_iter().map(|r| (r.t, r.mean)).collect();
    let total = e.total();
    (ens.into_vec(), e.per_particle, e.power, path, total)
}

#[test]
fn lockstep_equals_separate_runs_per_method() {
    let rec = Recording {
        mean_every: 10,
        subpop_power: false,
        keep_final: true,
    };
    for start in [Start::Zero, Start::Eps] {
        let want: Vec<_> = {
            let s = Settings::paper(300).with_steps(80).with_start(start);
            let exp = Experiment::new(scenario::b_nd(3).unwrap().fleet, s).unwrap();
            methods().iter().map(|m| alone(&exp, m)).collect()
        };
        for threads in [Some(1), Some(2), None] {
            let mut s = Settings::paper(300).with_steps(80).with_start(start);
            s.threads = threads;
            let exp = Experiment::new(scenario::b_nd(3).unwrap().fleet, s).unwrap();
            let runs = exp.run_all(&methods(), rec).unwrap();
            assert_eq!(runs.len(), 4);
            for (r, (x1, per_agent, power, path, energy)) in runs.iter().zip(&want) {
                assert_eq!(r.final_states.as_ref(), Some(x1), "{} {start:?}", r.method);
                assert_eq!(&r.per_agent, per_agent);
                assert_eq!(&r.power, power);
                assert_eq!(&r.mean_path, path);
                assert_eq!(r.energy, *energy);
            }
            // a single run is the lockstep run of one method
            let one = exp.run(&methods()[2], rec, &mut []).unwrap();
            assert_eq!(one.per_agent, runs[2].per_agent);
            assert_eq!(one.final_states, runs[2].final_states);
        }
    }
}

/// `Start::Eps` starts the grid at `t = eps` with the agents' own states, keeps the step count and
/// the protocol breaks, and changes the numbers (the `[0, eps]` increment is not simulated).
#[test]
fn start_eps_grid() {
    let fleet = scenario::b_nd(2).unwrap().fleet;
    let zero = Experiment::new(fleet.clone(), Settings::paper(128).with_steps(200)).unwrap();
    let s = Settings::paper(128).with_steps(200).with_start(Start::Eps);
    let eps = Experiment::new(fleet, s.clone()).unwrap();
    assert_eq!(zero.grid().times()[0], 0.0);
    assert_eq!(eps.grid().times()[0], s.eps);
    assert_eq!(eps.grid().n_steps(), 200);
    for b in &eps.breaks()[1..] {
        assert!(eps.grid().times().contains(b), "break {b}");
    }
    assert_eq!(zero.agents(), eps.agents());
    let (a, b) = (
        zero.run(&Method::mean_field(), Recording::default(), &mut [])
            .unwrap(),
        eps.run(&Method::mean_field(), Recording::default(), &mut [])
            .unwrap(),
    );
    assert_ne!(a.energy, b.energy);
    assert_eq!(b.times[0], s.eps);
    assert_eq!(b.cumulative_energy()[0], (s.eps, 0.0));
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""start":"eps""#), "{json}");
    // settings written before the option existed read as the default
    let old = json.replace(r#","start":"eps""#, "");
    let back: Settings = serde_json::from_str(&old).unwrap();
    assert_eq!(back.start, Start::Zero);
}

/// `run_all_observed`: observer `k` watches method `k` (its own energy trace), methods beyond the
/// list have none.
#[test]
fn observers_watch_their_own_method() {
    let exp = Experiment::new(
        scenario::b_nd(2).unwrap().fleet,
        Settings::paper(200).with_steps(60),
    )
    .unwrap();
    let mut es = [ControlEnergy::new(), ControlEnergy::new()];
    let [a, b] = &mut es;
    let watch: Vec<Vec<&mut dyn mfpid_sde::observe::Observer>> = vec![vec![a], vec![b]];
    let runs = exp
        .run_all_observed(&Method::standard(), Recording::default(), watch)
        .unwrap();
    assert_eq!(runs.len(), 3);
    for (e, r) in es.iter().zip(&runs) {
        assert_eq!(e.total(), r.energy, "{}", r.method);
    }
    assert_ne!(es[0].total(), es[1].total());
}

/// An observer that reads the whole drift array and has no block form (forces the stored pass).
struct Peek(usize);

impl mfpid_sde::observe::Observer for Peek {
    fn observe(&mut self, v: &mfpid_sde::observe::StepView<'_>) {
        self.0 += usize::from(v.drift.is_some());
    }
}

/// The built-in observers (control energy, power per sub-population) have block forms, so a run
/// whose extra observers need no drift takes the fused pass (drift evaluated chunk by chunk in the
/// update); an extra observer that needs the whole drift array forces the stored pass. Both give
/// the same bits in every result field, for any thread count. Without the mean path (whose
/// observer reads the whole states) the fused pass also goes in time tiles (the bridges fork and
/// the built-in observers tile).
#[test]
fn fused_and_stored_passes_give_the_same_results() {
    for mean_every in [5, 0] {
        fused_and_stored_agree(Recording {
            mean_every,
            subpop_power: true,
            keep_final: true,
        });
    }
}

fn fused_and_stored_agree(rec: Recording) {
    let json = |mut runs: Vec<mfpid_energy::MethodRun>| {
        runs.iter_mut().for_each(|r| r.wall_s = 0.0);
        serde_json::to_string(&runs).unwrap()
    };
    for threads in [Some(1), Some(2)] {
        let mut s = Settings::paper(333).with_steps(50);
        s.threads = threads;
        let exp = Experiment::new(scenario::b_nd(3).unwrap().fleet, s).unwrap();
        let fused = json(exp.run_all(&methods(), rec).unwrap());
        let mut peeks: Vec<Peek> = (0..4).map(|_| Peek(0)).collect();
        let watch: Vec<Vec<&mut dyn mfpid_sde::observe::Observer>> = peeks
            .iter_mut()
            .map(|e| vec![e as &mut dyn mfpid_sde::observe::Observer])
            .collect();
        let stored = json(exp.run_all_observed(&methods(), rec, watch).unwrap());
        assert_eq!(fused, stored, "{threads:?} threads");
        assert!(fused.contains("subpop_power"));
        assert!(peeks.iter().all(|p| p.0 == 50));
    }
}
