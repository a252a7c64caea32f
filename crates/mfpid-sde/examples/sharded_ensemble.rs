//! One population sharded over MPI ranks (feature `mpi`) or run in one process (without it); rank 0
//! writes every result as the hex bits of its `f64`s, so runs with any number of ranks and the
//! non-MPI build can be compared byte for byte (`scripts/mpi-test.sh`).
//!
//! ```text
//! cargo run --release -p mfpid-sde --example sharded_ensemble -- --out single.txt
//! cargo build --release -p mfpid-sde --features mpi --example sharded_ensemble
//! mpirun -np 3 target/release/examples/sharded_ensemble --out np3.txt
//! ```
//!
//! Two runs on the same `B x d` population: (a) an Ornstein-Uhlenbeck ensemble with the exact OU
//! step (mean, covariance, control energy, histogram); (b) a Brownian bridge `dx = (y_i - x)/(1 - t)
//! dt + dW` to per-particle targets `y_i = sin(i + j)` (global index `i`) with Euler-Maruyama. The
//! final states and per-particle energies are gathered to rank 0. With `--traffic`, rank 0 prints
//! the collectives and bytes it sent per time step.

use std::fmt::Write as _;

use mfpid_sde::comm::Counted;
use mfpid_sde::observe::{ControlEnergy, Histogram, Moments, Observer, StepView};
use mfpid_sde::shard::{shard, Shard};
use mfpid_sde::{
    run_with_comm, Communicator, Drift, Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid,
};
use rand::Rng;
use rand_distr::StandardNormal;

type Error = Box<dyn std::error::Error>;

struct Args {
    agents: usize,
    dim: usize,
    steps: usize,
    seed: u64,
    covariance: bool,
    traffic: bool,
    out: Option<String>,
}

fn parse() -> Result<Args, Error> {
    let mut a = Args {
        agents: 10_000,
        dim: 3,
        steps: 100,
        seed: 7,
        covariance: true,
        traffic: false,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--agents" => a.agents = val()?.parse()?,
            "--dim" => a.dim = val()?.parse()?,
            "--steps" => a.steps = val()?.parse()?,
            "--seed" => a.seed = val()?.parse()?,
            "--out" => a.out = Some(val()?),
            "--no-cov" => a.covariance = false,
            "--traffic" => a.traffic = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// Brownian bridge drift to the per-particle targets `y_ij = sin(i + j)`.
struct Bridge {
    d: usize,
}

impl Drift for Bridge {
    fn dim(&self) -> usize {
        self.d
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        for (p, (xi, oi)) in x
            .chunks_exact(self.d)
            .zip(out.chunks_exact_mut(self.d))
            .enumerate()
        {
            for (j, (xv, o)) in xi.iter().zip(oi.iter_mut()).enumerate() {
                let y = ((first + p + j) as f64).sin();
                *o = (y - xv) / (1.0 - t);
            }
        }
    }
}

/// Records what this rank sent during each step (placed after the other observers).
struct TrafficProbe<'a> {
    read: &'a (dyn Fn() -> (u64, u64) + Sync),
    marks: Vec<(u64, u64)>,
}

impl Observer for TrafficProbe<'_> {
    fn observe(&mut self, _v: &StepView<'_>) {
        self.marks.push((self.read)());
    }
}

/// The transport: MPI with the feature, one process without; counted either way.
struct Backend {
    #[cfg(feature = "mpi")]
    comm: Counted<mfpid_sde::comm::mpi::MpiCommunicator>,
    #[cfg(not(feature = "mpi"))]
    comm: Counted<mfpid_sde::SingleProcess>,
}

impl Backend {
    fn new() -> Result<Self, Error> {
        #[cfg(feature = "mpi")]
        let comm = mfpid_sde::comm::mpi::MpiCommunicator::init()?;
        #[cfg(not(feature = "mpi"))]
        let comm = mfpid_sde::SingleProcess;
        Ok(Self {
            comm: Counted::new(comm),
        })
    }
    fn gather(&self, local: &[f64]) -> Result<Option<Vec<f64>>, Error> {
        Ok(self.comm.gather_to_root(local)?)
    }
    fn traffic(&self) -> (u64, u64) {
        let t = self.comm.traffic();
        (t.collectives, t.bytes)
    }
}

fn hex(out: &mut String, name: &str, v: &[f64]) {
    let _ = write!(out, "{name}");
    for x in v {
        let _ = write!(out, " {:016x}", x.to_bits());
    }
    out.push('\n');
}

fn main() {
    let backend = match Backend::new() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sharded_ensemble: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = body(&backend) {
        eprintln!("sharded_ensemble (rank {}): {e}", backend.comm.rank());
        #[cfg(feature = "mpi")]
        backend.comm.inner().abort(1);
        #[cfg(not(feature = "mpi"))]
        std::process::exit(1);
    }
}

fn body(be: &Backend) -> Result<(), Error> {
    let a = parse()?;
    let comm: &dyn Communicator = &be.comm;
    let mine: Shard = shard(a.agents, comm.size(), comm.rank())?;
    let d = a.dim;
    let x0 = |offset: usize, count: usize| {
        Ensemble::sample_range(offset, count, d, a.seed, |rng, x| {
            for (j, v) in x.iter_mut().enumerate() {
                let z: f64 = rng.sample(StandardNormal);
                *v = 1.0 + 0.1 * j as f64 + 0.5 * z;
            }
        })
    };
    let mut out = String::new();
    let read = || be.traffic();
    let mut per_step: Vec<(u64, u64)> = Vec::new();

    // (a) OU, exact step
    let mut ens = x0(mine.offset, mine.count)?;
    let mut drift = LinearDrift::isotropic(d, 1.0, 0.25);
    let grid = TimeGrid::uniform(0.0, 1.0, a.steps)?;
    let cfg = RunConfig::new(Scheme::ExactOu, a.seed);
    let mut moments = Moments::new(10, a.covariance);
    let mut energy = ControlEnergy::new();
    let edges: Vec<f64> = (0..=40).map(|k| -2.0 + 0.1 * k as f64).collect();
    let mut hist = Histogram::new(0, edges, vec![0, a.steps / 2, a.steps]);
    let mut probe = TrafficProbe {
        read: &read,
        marks: Vec::new(),
    };
    {
        let mut obs: Vec<&mut dyn Observer> = vec![&mut moments, &mut energy, &mut hist];
        if a.traffic {
            obs.push(&mut probe);
        }
        run_with_comm(
            &mut drift,
            &Noise::Scalar(0.8),
            &grid,
            &mut ens,
            &cfg,
            &mut obs,
            comm,
        )?;
    }
    per_step.extend(
        probe
            .marks
            .windows(2)
            .map(|w| (w[1].0 - w[0].0, w[1].1 - w[0].1)),
    );
    for r in &moments.records {
        hex(&mut out, &format!("ou.mean[{}]", r.step), &r.mean);
        if let Some(c) = &r.cov {
            hex(&mut out, &format!("ou.cov[{}]", r.step), c);
        }
    }
    hex(&mut out, "ou.power", &energy.power);
    hex(&mut out, "ou.cumulative", &energy.cumulative);
    hex(&mut out, "ou.energy_per_coord", &energy.per_coord);
    for (step, _, counts) in &hist.records {
        let c: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        hex(&mut out, &format!("ou.hist[{step}]"), &c);
    }
    let ou_final = be.gather(ens.as_slice())?;
    let ou_energy = be.gather(&energy.per_particle)?;

    // (b) Brownian bridge, Euler-Maruyama, per-particle targets by global index
    let mut ens = x0(mine.offset, mine.count)?;
    let grid = TimeGrid::uniform(0.0, 0.99, a.steps)?;
    let cfg = RunConfig::new(Scheme::EulerMaruyama, a.seed + 1);
    let mut moments = Moments::new(5, a.covariance);
    let mut energy = ControlEnergy::new();
    run_with_comm(
        &mut Bridge { d },
        &Noise::Scalar(0.3),
        &grid,
        &mut ens,
        &cfg,
        &mut [&mut moments, &mut energy],
        comm,
    )?;
    for r in &moments.records {
        hex(&mut out, &format!("bridge.mean[{}]", r.step), &r.mean);
        if let Some(c) = &r.cov {
            hex(&mut out, &format!("bridge.cov[{}]", r.step), c);
        }
    }
    hex(&mut out, "bridge.power", &energy.power);
    hex(&mut out, "bridge.energy_per_coord", &energy.per_coord);
    let br_final = be.gather(ens.as_slice())?;
    let br_energy = be.gather(&energy.per_particle)?;

    if comm.rank() != 0 {
        return Ok(());
    }
    for (name, v) in [
        ("ou.final_states", ou_final),
        ("ou.energy_per_particle", ou_energy),
        ("bridge.final_states", br_final),
        ("bridge.energy_per_particle", br_energy),
    ] {
        hex(&mut out, name, &v.ok_or("rank 0 got no gather")?);
    }
    if let Some(path) = &a.out {
        std::fs::write(path, &out)?;
    }
    eprintln!(
        "ranks {} agents {} d {} steps {}: OU mean[0] {:.6}, energy {:.6}",
        comm.size(),
        a.agents,
        d,
        a.steps,
        moments.last().map_or(f64::NAN, |r| r.mean[0]),
        energy.total()
    );
    if a.traffic && !per_step.is_empty() {
        let n = per_step.len() as f64;
        let coll = per_step.iter().map(|t| t.0).sum::<u64>() as f64 / n;
        let bytes = per_step.iter().map(|t| t.1).sum::<u64>() as f64 / n;
        let max = per_step.iter().map(|t| t.1).max().unwrap_or(0);
        println!(
            "traffic ranks={} agents={} d={} cov={} steps={}: per step {coll:.2} collectives, {bytes:.1} bytes mean, {max} bytes max (rank 0 payload)",
            comm.size(),
            a.agents,
            d,
            a.covariance,
            per_step.len()
        );
    }
    Ok(())
}
