//! One fleet over several ranks ([`Experiment::run_on`] with in-process ranks, `comm::local`):
//! bit-identical to [`Experiment::run`] for 1, 2 and 3 ranks, and the bytes each rank sends per
//! time step are `O(d)`: the same for 1000 and 4000 agents and for 1 and 2 ranks, linear in `d`.

use mfpid_energy::{scenario, Experiment, Method, MethodRun, Recording, Settings};
use mfpid_sde::comm::local::LocalRanks;
use mfpid_sde::comm::{Counted, Traffic};
use mfpid_sde::observe::{Observer, StepView};
use mfpid_sde::Communicator;

const REC: Recording = Recording {
    mean_every: 1,
    subpop_power: true,
    keep_final: true,
};

/// Everything a run reports except its wall time, as JSON (shortest round-trip floats: equal
/// text means equal bits), plus the terminal states' bits.
fn fingerprint(r: &MethodRun) -> (String, Vec<u64>) {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("wall_s");
    let x1 = r.final_states.as_ref().unwrap();
    (v.to_string(), x1.iter().map(|x| x.to_bits()).collect())
}

/// Run `method` on `size` in-process ranks; rank 0's result and each rank's communicator traffic
/// per time step (steps 1 .. N-1, i.e. between the observations of consecutive steps).
fn run_ranks(
    exp: &Experiment,
    method: &Method,
    size: usize,
) -> (Option<MethodRun>, Vec<Vec<Traffic>>) {
    let ranks = LocalRanks::new(size);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..size)
            .map(|r| {
                let comm = Counted::new(ranks.rank(r));
                s.spawn(move || {
                    let mut probe = Probe {
                        comm: &comm,
                        marks: Vec::new(),
                    };
                    let out = exp.run_on(method, REC, &mut [&mut probe], &comm).unwrap();
                    // the last mark is the final state (no drift, fewer reductions): drop it
                    let m = &probe.marks[..probe.marks.len() - 1];
                    let steps = m.windows(2).map(|w| w[1] - w[0]).collect();
                    (out, steps)
                })
            })
            .collect();
        let mut first = None;
        let mut traffic = Vec::new();
        for (r, h) in hs.into_iter().enumerate() {
            let (out, steps) = h.join().unwrap();
            assert_eq!(out.is_some(), r == 0, "only rank 0 holds the result");
            first = first.or(out);
            traffic.push(steps);
        }
        (first, traffic)
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
    for method in Method::standard() {
        let single = fingerprint(&exp.run(&method, REC, &mut []).unwrap());
        for size in 1..=3 {
            let (r, _) = run_ranks(&exp, &method, size);
            assert_eq!(
                fingerprint(&r.unwrap()),
                single,
                "{} over {size} ranks",
                method.name
            );
        }
    }
}

#[test]
fn bytes_per_step_are_o_d_and_independent_of_the_agents() {
    let method = Method::mean_field();
    let dims = [1usize, 2, 4, 8];
    let mut per_d = Vec::new();
    for &d in &dims {
        let mut seen: Option<Traffic> = None;
        for agents in [1000, 4000] {
            for size in [1, 2] {
                let (_, traffic) = run_ranks(&experiment(d, agents), &method, size);
                for (r, steps) in traffic.iter().enumerate() {
                    assert_eq!(steps.len(), 39, "d {d}, B {agents}, rank {r}");
                    for t in steps {
                        let first = *seen.get_or_insert(*t);
                        assert_eq!(*t, first, "d {d}, B {agents}, np {size}, rank {r}");
                    }
                }
            }
        }
        let t = seen.unwrap();
        eprintln!(
            "d = {d}: {} collectives, {} bytes per rank per step",
            t.collectives, t.bytes
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
