//! The MF fixed point over several ranks ([`QuadraticMf::solve_on`] with in-process ranks,
//! `mfpid_sde::comm::local`): each rank simulates its shard of whole RNG blocks and the midpoint
//! means go through the communicator's reproducible sum, so the iterates, the fixed point and
//! every reported number are bit-identical for 1, 2 and 3 ranks and the single-process solve
//! (Picard and Anderson). The bytes one evaluation of `F` sends are independent of `N`.

use mfpid_bridge::{equal_breaks, GaussianMixture};
use mfpid_meanfield::{
    Anderson, Criterion, Executor, FixedPointSolver, IterateTrace, Law, MfSolution, Picard,
    QuadraticMf, QuadraticMfConfig,
};
use mfpid_sde::comm::local::LocalRanks;
use mfpid_sde::comm::{Counted, Traffic};
use mfpid_sde::SingleProcess;

fn laws(d: usize) -> (Law, Law) {
    if d == 1 {
        let p_in = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.3, 0.7], vec![-2.0, 1.0], vec![0.09, 0.09])
                .unwrap(),
        );
        // a point cloud: the systematic resampling path of the sharded draw
        let pts = (0..24).map(|j| 2.0 + 0.1 * j as f64).collect();
        (p_in, Law::points(1, pts).unwrap())
    } else {
        let p_in = Law::Mixture(
            GaussianMixture::isotropic(2, vec![1.0], vec![-1.0, 0.5], vec![0.2]).unwrap(),
        );
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(
                2,
                vec![0.5, 0.5],
                vec![1.0, 0.0, 0.0, -1.0],
                vec![0.1, 0.1],
            )
            .unwrap(),
        );
        (p_in, p_tar)
    }
}

fn config(n: usize) -> QuadraticMfConfig {
    let beta = (0..4).map(|i| 12.0 * 0.65f64.powi(i)).collect();
    let mut cfg = QuadraticMfConfig::new(equal_breaks(4), beta);
    cfg.n_particles = n;
    cfg.n_steps = 40;
    cfg
}

fn solver(name: &str) -> Box<dyn FixedPointSolver> {
    match name {
        "picard" => Box::new(Picard::default()),
        _ => Box::new(Anderson::new(3, 0.5, 1e-10).unwrap()),
    }
}

/// Everything the solve reports and every iterate, as text: `{:?}` prints the shortest
/// round-trip form of each `f64`, so equal text means equal bits.
fn fingerprint(sol: &MfSolution, trace: &IterateTrace) -> String {
    format!("{sol:?}\n{:?}", trace.iterates)
}

fn solve_one(d: usize, n: usize, name: &str) -> String {
    let (p_in, p_tar) = laws(d);
    let mut mf = QuadraticMf::new(config(n), p_in, p_tar).unwrap();
    let nu0 = mf.perturbed_start(0.35).unwrap();
    let ex = Executor::new(1e-6, 60, Criterion::Step).unwrap();
    let mut trace = IterateTrace::default();
    let sol = mf
        .solve(&mut *solver(name), &ex, nu0, &mut [&mut trace])
        .unwrap();
    assert!(sol.outcome.iterations >= 3, "{}", sol.outcome.iterations);
    fingerprint(&sol, &trace)
}

/// Every rank's fingerprint of the solve over `size` in-process ranks.
fn solve_ranks(d: usize, n: usize, name: &str, size: usize) -> Vec<String> {
    LocalRanks::run(size, |comm, _| {
        let (p_in, p_tar) = laws(d);
        let mut mf = QuadraticMf::new_on(config(n), p_in, p_tar, &comm).unwrap();
        assert!(mf.shard().count < n || size == 1);
        let nu0 = mf.perturbed_start(0.35).unwrap();
        let ex = Executor::new(1e-6, 60, Criterion::Step).unwrap();
        let mut trace = IterateTrace::default();
        let sol = mf
            .solve_on(&mut *solver(name), &ex, nu0, &mut [&mut trace], &comm)
            .unwrap();
        fingerprint(&sol, &trace)
    })
}

#[test]
fn sharded_fixed_point_is_bit_identical_to_one_process() {
    // 1000 particles: 16 RNG blocks, the last one partial; 3 ranks hold 6, 5 and 5 blocks
    for (d, name) in [(1, "picard"), (1, "anderson"), (2, "anderson")] {
        let one = solve_one(d, 1000, name);
        for size in 1..=3 {
            for (r, got) in solve_ranks(d, 1000, name, size).iter().enumerate() {
                assert!(
                    *got == one,
                    "d = {d}, {name}, {size} ranks, rank {r}: differs from the single-process solve"
                );
            }
        }
    }
}

#[test]
fn sharded_start_mean_and_wrong_communicator() {
    let (p_in, p_tar) = laws(1);
    let one = QuadraticMf::new(config(700), p_in.clone(), p_tar.clone()).unwrap();
    let reference = one.start_mean(&SingleProcess).unwrap();
    LocalRanks::run(2, |comm, _| {
        let mf = QuadraticMf::new_on(config(700), p_in.clone(), p_tar.clone(), &comm).unwrap();
        // the shard's starts are the single-process rows
        assert_eq!(mf.start_mean(&comm).unwrap(), reference);
        // a problem built for two ranks refuses a single-process evaluation
        assert!(mf.simulate(&[0.0; 4]).is_err());
    });
    let shard = |r: usize| {
        let comm = LocalRanks::new(2);
        let c = comm.rank(r);
        // building needs no collective: rows only
        QuadraticMf::new_on(config(700), p_in.clone(), p_tar.clone(), &c)
            .unwrap()
            .starts()
            .to_vec()
    };
    let all: Vec<f64> = [shard(0), shard(1)].concat();
    assert_eq!(all, one.starts());
}

/// Bytes rank 0 sends in one evaluation of `F` (one particle simulation) on `size` ranks.
fn bytes_per_evaluation(n: usize, size: usize) -> Traffic {
    let rank0 = LocalRanks::run(size, |rank, _| {
        let comm = Counted::new(rank);
        let (p_in, p_tar) = laws(2);
        let mf = QuadraticMf::new_on(config(n), p_in, p_tar, &comm).unwrap();
        let nu = mf.interpolant().unwrap();
        let before = comm.traffic();
        mf.simulate_on(&nu, &comm).unwrap();
        comm.traffic() - before
    });
    rank0[0]
}

#[test]
fn bytes_per_evaluation_are_independent_of_the_particles() {
    let small = bytes_per_evaluation(1000, 2);
    let large = bytes_per_evaluation(4000, 2);
    assert_eq!(small, large);
    assert_eq!(small, bytes_per_evaluation(1000, 3));
    // O(steps d + (M d)^2): 40 steps of d = 2, M = 4 midpoints
    eprintln!("bytes per evaluation of F (d = 2, M = 4, 40 steps): {small:?}");
    assert!(small.bytes < 40_000, "{small:?}");
}

// ---- the general-interaction particle solver with the binned O(N) kernels ----

use mfpid_meanfield::{Interaction, ParticleMf, ParticleMfConfig, VmfEstimator};

fn particle_case(d: usize) -> (ParticleMfConfig, Law, Law, Interaction) {
    let mut cfg = ParticleMfConfig::new(1000);
    cfg.n_steps = 10;
    if d == 1 {
        cfg.start_bins = 6;
        cfg.end_bins = 12;
        cfg.estimator = VmfEstimator::Binned { bins: 30 };
        let p_in =
            Law::Mixture(GaussianMixture::isotropic(1, vec![1.0], vec![-1.0], vec![0.16]).unwrap());
        let p_tar = Law::Mixture(
            GaussianMixture::isotropic(1, vec![0.5, 0.5], vec![0.3, 1.7], vec![0.09, 0.09])
                .unwrap(),
        );
        (cfg, p_in, p_tar, Interaction::gaussian(2.0, 0.5).unwrap())
    } else {
        cfg.end_bins = 5;
        cfg.estimator = VmfEstimator::Binned { bins: 12 };
        let (p_in, p_tar) = laws(2);
        (cfg, p_in, p_tar, Interaction::congestion(0.5).unwrap())
    }
}

/// `(global numbers, this rank's path potentials and weights)`: the first is the same on every
/// rank, the second concatenates over the ranks to the single-process vectors.
fn particle_solve(pm: &mut ParticleMf<'_>, name: &str) -> (String, Vec<u64>) {
    let ex = Executor::new(1e-6, 40, Criterion::Step).unwrap();
    let out = pm.solve(&mut *solver(name), &ex, &mut []).unwrap();
    assert!(out.iterations >= 3, "{}", out.iterations);
    let last = pm.times().len() - 1;
    let global = format!(
        "{} {:?} {:?} {:?} {:?} {} {} {:?}",
        out.iterations,
        out.history,
        out.residuals,
        pm.moments(last / 2),
        pm.moments(last),
        pm.ess(),
        pm.energy(),
        pm.density_at(last / 2, &vec![0.25; 3 * pm.dim_state()], 0.3),
    );
    let local = out
        .x
        .iter()
        .chain(&out.fx)
        .chain(pm.weights())
        .map(|v| v.to_bits())
        .collect();
    (global, local)
}

#[test]
fn sharded_binned_particle_solver_is_bit_identical_to_one_process() {
    for (d, name) in [(1, "anderson"), (1, "picard"), (2, "anderson")] {
        let (cfg, p_in, p_tar, inter) = particle_case(d);
        let mut pm = ParticleMf::new(cfg.clone(), &p_in, &p_tar, inter.clone()).unwrap();
        let (global, local) = particle_solve(&mut pm, name);
        for size in 1..=3 {
            let parts: Vec<(String, Vec<u64>)> = LocalRanks::run(size, |comm, _| {
                let mut pm =
                    ParticleMf::new_on(cfg.clone(), &p_in, &p_tar, inter.clone(), &comm).unwrap();
                particle_solve(&mut pm, name)
            });
            for (r, (g, _)) in parts.iter().enumerate() {
                assert!(
                    *g == global,
                    "d = {d}, {name}, {size} ranks, rank {r}:\n{g}\nvs\n{global}"
                );
            }
            // x, F(x) and weights are rank-local: compare their concatenations
            let n = cfg.n_particles;
            let cat = |k: usize| -> Vec<u64> {
                parts
                    .iter()
                    .flat_map(|(_, l)| {
                        let m = l.len() / 3;
                        l[k * m..(k + 1) * m].to_vec()
                    })
                    .collect()
            };
            for k in 0..3 {
                assert_eq!(
                    cat(k),
                    local[k * n..(k + 1) * n],
                    "d = {d}, {name}, {size} ranks, part {k}"
                );
            }
        }
    }
}

#[test]
fn exact_estimator_is_refused_over_several_ranks() {
    let (mut cfg, p_in, p_tar, inter) = particle_case(1);
    cfg.estimator = VmfEstimator::Exact;
    LocalRanks::run(2, |comm, _| {
        assert!(ParticleMf::new_on(cfg.clone(), &p_in, &p_tar, inter.clone(), &comm).is_err())
    });
}

/// Bytes rank 0 sends in one evaluation of the particle map (weight fitting and `V^MF` at every
/// time) on 2 ranks.
fn particle_bytes(n: usize) -> Traffic {
    let rank0 = LocalRanks::run(2, |rank, _| {
        let comm = Counted::new(rank);
        let (mut cfg, p_in, p_tar, inter) = particle_case(1);
        cfg.n_particles = n;
        let mut pm = ParticleMf::new_on(cfg, &p_in, &p_tar, inter, &comm).unwrap();
        let l = vec![0.0; pm.shard().count];
        let before = comm.traffic();
        pm.fit_weights(&l).unwrap();
        let v = pm.path_potentials();
        assert_eq!(v.len(), pm.shard().count);
        comm.traffic() - before
    });
    rank0[0]
}

#[test]
fn particle_map_bytes_are_independent_of_the_particles() {
    let small = particle_bytes(1000);
    let large = particle_bytes(4000);
    eprintln!("bytes per particle-map evaluation (1-D, 30 bins, 12 end bins, 11 times), N = 1000: {small:?}, N = 4000: {large:?}");
    // the IPF may take a different number of sweeps for other N: compare per collective
    assert!(small.bytes / small.collectives <= 8 * 3 * 30 + 64);
    assert!(large.bytes / large.collectives <= 8 * 3 * 30 + 64);
}
