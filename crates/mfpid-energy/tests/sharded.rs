//! One fleet over several ranks ([`Experiment::run_on`] with in-process ranks, `comm::local`):
//! bit-identical to [`Experiment::run`] for 1, 2 and 3 ranks, and the bytes each rank sends per
//! time step are `O(d)`: the same for 1000 and 4000 agents and for 1 and 2 ranks, linear in `d`.

use mfpid_energy::{scenario, Experiment, Method, MethodRun, Recording, Saving, Settings};
use mfpid_sde::comm::local::LocalRanks;
use mfpid_sde::comm::{Counted, Traffic};
use mfpid_sde::observe::{Observer, StepView};
use mfpid_sde::Communicator;

const REC: Recording = Recording {
    mean_every: 1,
    subpop_power: true,
    keep_final: true,
};

/// Everything a run reports except its wall time and its rank-local vectors, as JSON (shortest
/// round-trip floats: equal text means equal bits), and the bits of the rank-local per-agent
/// energies and terminal states (their concatenation over the ranks is the single-process vector).
fn fingerprint(r: &MethodRun) -> (String, Vec<u64>, Vec<u64>) {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("wall_s");
    v.as_object_mut().unwrap().remove("per_agent");
    let x1 = r.final_states.as_ref().unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect();
    (v.to_string(), bits(&r.per_agent), bits(x1))
}

/// What one rank of a run reports: its result, its traffic per time step (steps 1 .. N-1, i.e.
/// between the observations of consecutive steps) and its traffic after the last time step (the
/// once-per-run metrics).
type RankRun = (MethodRun, Vec<Traffic>, Traffic);

/// Run `method` on a fleet of `d` zones and `agents` agents over `size` in-process ranks, each
/// rank drawing only its agents ([`Experiment::new_on`]).
fn run_ranks(d: usize, agents: usize, method: &Method, size: usize) -> Vec<RankRun> {
    LocalRanks::run(size, |rank, _| {
        let comm = Counted::new(rank);
        let fleet = scenario::b_nd(d).unwrap().fleet;
        let settings = Settings::paper(agents).with_steps(40);
        let exp = Experiment::new_on(fleet, settings, &comm).unwrap();
        assert_eq!(exp.agents().local_len(), exp.shard().count);
        let mut probe = Probe {
            comm: &comm,
            marks: Vec::new(),
        };
        let out = exp.run_on(method, REC, &mut [&mut probe], &comm).unwrap();
        let once = comm.traffic() - *probe.marks.last().unwrap();
        // the last mark is the final state (no drift, fewer reductions): drop it
        let m = &probe.marks[..probe.marks.len() - 1];
        let steps = m.windows(2).map(|w| w[1] - w[0]).collect();
        (out.expect("every rank holds the result"), steps, once)
    })
}

/// Reads the rank's traffic after the other observers at every grid time.
struct Probe<'a, C: Communicator> {
    comm: &'a Counted<C>,
    marks: Vec<Traffic>,
}

impl<C: Communicator> Observer for Probe<'_, C> {
    fn observe(&mut self, _v: &StepView<'_>) {
        self.marks.push(self.comm.traffic());
    }
}

fn experiment(d: usize, agents: usize) -> Experiment {
    let fleet = scenario::b_nd(d).unwrap().fleet;
    Experiment::new(fleet, Settings::paper(agents).with_steps(40)).unwrap()
}

#[test]
fn sharded_fleet_is_bit_identical_to_one_process() {
    // 1000 agents: 16 blocks, the last one partial
    let exp = experiment(2, 1000);
    let singles: Vec<MethodRun> = Method::standard()
        .iter()
        .map(|m| exp.run(m, REC, &mut []).unwrap())
        .collect();
    for size in 1..=3 {
        let mut per_method = Vec::new();
        for (method, single) in Method::standard().iter().zip(&singles) {
            let (json, e, x1) = fingerprint(single);
            let runs = run_ranks(2, 1000, method, size);
            for (r, (run, _, _)) in runs.iter().enumerate() {
                assert!(
                    fingerprint(run).0 == json,
                    "{} over {size} ranks, rank {r}",
                    method.name
                );
            }
            let cat = |k: usize| -> Vec<u64> {
                runs.iter()
                    .flat_map(|(run, _, _)| {
                        let f = fingerprint(run);
                        if k == 0 {
                            f.1
                        } else {
                            f.2
                        }
                    })
                    .collect()
            };
            assert_eq!(
                cat(0),
                e,
                "per-agent energies of {} over {size} ranks",
                method.name
            );
            assert_eq!(
                cat(1),
                x1,
                "terminal states of {} over {size} ranks",
                method.name
            );
            per_method.push(runs);
        }
        // paired savings over the ranks (each rank holds its agents' energies)
        let single = Saving::of(&singles[0], &singles[1]).unwrap();
        LocalRanks::run(size, |comm, r| {
            let (a, b) = (&per_method[0][r].0, &per_method[1][r].0);
            let got = Saving::of_on(a, b, &comm).unwrap();
            assert_eq!(format!("{got:?}"), format!("{single:?}"), "{size} ranks");
            if size > 1 {
                // rank-local energies are refused by the single-process saving
                assert!(Saving::of(a, b).is_err());
            }
        });
    }
}

#[test]
fn bytes_per_step_are_o_d_and_independent_of_the_agents() {
    let method = Method::mean_field();
    let dims = [1usize, 2, 4, 8];
    let mut per_d = Vec::new();
    for &d in &dims {
        let mut seen: Option<Traffic> = None;
        let mut seen_once: Option<Traffic> = None;
        for agents in [1000, 4000] {
            for size in [1, 2] {
                let runs = run_ranks(d, agents, &method, size);
                for (r, (_, steps, once)) in runs.iter().enumerate() {
                    // once per run (terminal law, energy stderr, sub-populations): O(K d), the
                    // same for every fleet size and rank count
                    let first = *seen_once.get_or_insert(*once);
                    assert_eq!(
                        *once, first,
                        "once per run: d {d}, B {agents}, np {size}, rank {r}"
                    );
                    assert_eq!(steps.len(), 39, "d {d}, B {agents}, rank {r}");
                    for t in steps {
                        let first = *seen.get_or_insert(*t);
                        assert_eq!(*t, first, "d {d}, B {agents}, np {size}, rank {r}");
                    }
                }
            }
        }
        let t = seen.unwrap();
        let once = seen_once.unwrap();
        eprintln!(
            "d = {d}: {} collectives, {} bytes per rank per step; once per run {} collectives, {} bytes",
            t.collectives, t.bytes, once.collectives, once.bytes
        );
        per_d.push(t.bytes);
    }
    // linear in d: bytes = a + b d with b > 0 (the same increment per added dimension)
    let slope = per_d[1] - per_d[0];
    assert!(slope > 0);
    for (k, &d) in dims.iter().enumerate() {
        assert_eq!(per_d[k], per_d[0] + slope * (d as u64 - 1), "d = {d}");
        // and exactly the count of `reduce::reproducible_sum`: 32 w bytes per reduction of w
        // numbers (8 w for the maxima, 24 w for three i64 limbs); the reductions per step are
        // the power per zone (d), the fleet mean (d) and the power per sub-population (K = 2)
        assert_eq!(per_d[k], 32 * (2 * d as u64 + 2), "d = {d}");
    }
}
