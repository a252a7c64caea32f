//! One population split over in-process ranks (threads, `comm::local`) gives bit-identical
//! observer results and final states to the single-process run, for 1, 2 and 3 ranks.

use mfpid_sde::comm::local::LocalRanks;
use mfpid_sde::observe::{ControlEnergy, Histogram, Moments, Observer};
use mfpid_sde::shard::shard;
use mfpid_sde::{
    run, run_with_comm, Communicator, Drift, Ensemble, Noise, RunConfig, Scheme, TimeGrid,
};
use rand::Rng;
use rand_distr::StandardNormal;

const B: usize = 1000; // not a multiple of 64: the last rank holds a partial block
const D: usize = 2;
const SEED: u64 = 11;

/// Everything a run reports, as bits.
#[derive(Debug, PartialEq)]
struct Outcome {
    moments: Vec<u64>,
    energy: Vec<u64>,
    hist: Vec<u64>,
    final_states: Vec<u64>,
    per_particle: Vec<u64>,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn initial(offset: usize, count: usize) -> Ensemble {
    Ensemble::sample_range(offset, count, D, SEED, |rng, x| {
        for v in x.iter_mut() {
            *v = 1.0 + rng.sample::<f64, _>(StandardNormal);
        }
    })
    .unwrap()
}

/// A nonlinear drift that also depends on the global particle index.
struct IndexedDrift;

impl Drift for IndexedDrift {
    fn dim(&self) -> usize {
        D
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        for (p, (xi, oi)) in x.chunks_exact(D).zip(out.chunks_exact_mut(D)).enumerate() {
            let y = ((first + p) as f64 * 0.01).cos();
            for (xv, o) in xi.iter().zip(oi.iter_mut()) {
                *o = (y - xv.sin()) * (1.0 + t);
            }
        }
    }
}

fn run_shard(
    offset: usize,
    count: usize,
    comm: Option<&dyn Communicator>,
) -> (Outcome, Vec<f64>, Vec<f64>) {
    let mut ens = initial(offset, count);
    let grid = TimeGrid::uniform(0.0, 1.0, 40).unwrap();
    let cfg = RunConfig::new(Scheme::Heun, SEED);
    let mut moments = Moments::new(7, true);
    let mut energy = ControlEnergy::new();
    let edges: Vec<f64> = (0..=30).map(|k| -1.0 + 0.1 * k as f64).collect();
    let mut hist = Histogram::new(1, edges, vec![0, 20, 40]);
    {
        let obs: &mut [&mut dyn Observer] = &mut [&mut moments, &mut energy, &mut hist];
        let mut f = IndexedDrift;
        match comm {
            Some(c) => run_with_comm(&mut f, &Noise::Scalar(0.7), &grid, &mut ens, &cfg, obs, c),
            None => run(&mut f, &Noise::Scalar(0.7), &grid, &mut ens, &cfg, obs),
        }
        .unwrap();
    }
    let mut m = Vec::new();
    for r in &moments.records {
        m.extend(bits(&r.mean));
        m.extend(bits(r.cov.as_ref().unwrap()));
    }
    let mut e = bits(&energy.power);
    e.extend(bits(&energy.cumulative));
    e.extend(bits(&energy.per_coord));
    let h = hist.records.iter().flat_map(|r| r.2.clone()).collect();
    let out = Outcome {
        moments: m,
        energy: e,
        hist: h,
        final_states: Vec::new(),
        per_particle: Vec::new(),
    };
    (out, ens.into_vec(), energy.per_particle)
}

#[test]
fn sharded_runs_are_bit_identical_to_the_single_process_run() {
    let (mut single, x, e) = run_shard(0, B, None);
    single.final_states = bits(&x);
    single.per_particle = bits(&e);
    for size in 1..=3 {
        let parts: Vec<(Outcome, Vec<f64>, Vec<f64>)> = LocalRanks::run(size, |comm, r| {
            let sh = shard(B, size, r).unwrap();
            run_shard(sh.offset, sh.count, Some(&comm))
        });
        let mut all_x = Vec::new();
        let mut all_e = Vec::new();
        for (r, (o, x, e)) in parts.iter().enumerate() {
            // every rank holds the same global reductions
            assert_eq!(o.moments, single.moments, "moments, np = {size}, rank {r}");
            assert_eq!(o.energy, single.energy, "energy, np = {size}, rank {r}");
            assert_eq!(o.hist, single.hist, "histogram, np = {size}, rank {r}");
            all_x.extend_from_slice(x);
            all_e.extend_from_slice(e);
        }
        assert_eq!(
            bits(&all_x),
            single.final_states,
            "final states, np = {size}"
        );
        assert_eq!(
            bits(&all_e),
            single.per_particle,
            "per-particle energies, np = {size}"
        );
    }
}
