//! The demand-response example fleet (`examples/fleet-two-component.toml`: two sub-populations,
//! `d = 2`, methods MF, IA0, IAm and the constant centre "half") sharded over MPI ranks (feature
//! `mpi`) or run in one process (without it). Rank 0 writes every fleet-wide result as JSON
//! (`f64`s printed shortest-round-trip, so equal text means equal bits) to `--out`, and every rank
//! `r` the bits of its agents' energies and terminal states to `--out` + `.rank<r>` (their
//! concatenation in rank order is the single-process file); `scripts/mpi-test.sh` compares runs
//! with 1, 2, 3 ranks and the non-MPI build byte for byte.
//!
//! Each rank draws only its agents ([`Experiment::new_on`]) and each method runs through
//! [`Experiment::run_on`]: per step only the reductions of the observers cross ranks (`O(d)`
//! numbers), and the per-agent metrics (standard error, sub-population energies, terminal law,
//! the paired saving against IA0) are reproducible sums over the ranks, `O(K d)` numbers once per
//! run: nothing `O(agents)` crosses ranks. Without MPI the example also checks that its results
//! equal [`Experiment::run`] bit for bit.
//!
//! ```text
//! cargo run -p mfpid-energy --example sharded_fleet -- --agents 1000 --steps 400 --out single.json
//! cargo build -p mfpid-energy --features mpi --example sharded_fleet
//! mpirun -np 3 target/debug/examples/sharded_fleet --agents 1000 --steps 400 --out np3.json
//! ```

use mfpid_energy::{
    Centres, Experiment, Fleet, Law, Method, MethodRun, Recording, Saving, Settings, SubpopEnergy,
    TerminalLaw,
};
use mfpid_sde::Communicator;
use serde::Serialize;

type Error = Box<dyn std::error::Error>;

/// Record the fleet mean every this many steps (as `Recording::mean_every`).
const MEAN_EVERY: usize = 50;

/// What the example compares: the numbers of a [`mfpid_energy::MethodRun`] except wall time.
#[derive(Debug, Serialize, PartialEq)]
struct Outcome {
    method: String,
    centres: Vec<f64>,
    energy: f64,
    stderr: f64,
    energy_per_zone: Vec<f64>,
    peak_power: f64,
    times: Vec<f64>,
    power: Vec<f64>,
    subpopulations: Vec<SubpopEnergy>,
    terminal: TerminalLaw,
    mean_path: Vec<(f64, Vec<f64>)>,
    /// Paired saving against IA0 (filled in after every method ran).
    saving_vs_ia0: Option<Saving>,
}

/// This rank's agents' energies and terminal states of one method, as hex bits.
fn local_bits(r: &MethodRun) -> String {
    let hex = |v: &[f64]| -> String {
        v.iter()
            .map(|x| format!("{:016x}", x.to_bits()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{} per_agent {}\n{} final_states {}\n",
        r.method,
        hex(&r.per_agent),
        r.method,
        hex(r.final_states.as_deref().unwrap_or_default())
    )
}

/// The fleet of `examples/fleet-two-component.toml`.
fn fleet() -> mfpid_energy::Result<Fleet> {
    let p_in = Law::isotropic_std(2, vec![0.6, 0.4], vec![1.6, 1.6, 5.5, 5.5], &[0.5, 0.7]);
    let p_tar = Law::isotropic_std(2, vec![0.6, 0.4], vec![0.1, 0.1, 1.5, 1.5], &[0.2, 0.3]);
    Fleet::new(p_in, p_tar)
}

fn methods(pieces: usize) -> Vec<Method> {
    let half = [1.91, 1.91].repeat(pieces);
    vec![
        Method::mean_field(),
        Method::independent_zero(),
        Method::independent_target(),
        Method::new("half", Centres::Fixed(half)),
    ]
}

/// The transport: MPI with the feature, one process without.
struct Backend {
    #[cfg(feature = "mpi")]
    comm: mfpid_sde::comm::mpi::MpiCommunicator,
    #[cfg(not(feature = "mpi"))]
    comm: mfpid_sde::SingleProcess,
}

impl Backend {
    fn new() -> Result<Self, Error> {
        #[cfg(feature = "mpi")]
        let comm = mfpid_sde::comm::mpi::MpiCommunicator::init()?;
        #[cfg(not(feature = "mpi"))]
        let comm = mfpid_sde::SingleProcess;
        Ok(Self { comm })
    }
}

/// What the example compares, from a run (`keep_final` must be on).
fn outcome(r: &MethodRun) -> Outcome {
    Outcome {
        method: r.method.clone(),
        centres: r.centres.clone(),
        energy: r.energy,
        stderr: r.stderr,
        energy_per_zone: r.energy_per_zone.clone(),
        peak_power: r.peak_power,
        times: r.times.clone(),
        power: r.power.clone(),
        subpopulations: r.subpopulations.clone(),
        terminal: r.terminal.clone(),
        mean_path: r.mean_path.clone(),
        saving_vs_ia0: None,
    }
}

const RECORDING: Recording = Recording {
    mean_every: MEAN_EVERY,
    subpop_power: false,
    keep_final: true,
};

/// One method on this rank's shard ([`Experiment::run_on`]; the result on every rank).
fn run_method(be: &Backend, exp: &Experiment, method: &Method) -> Result<MethodRun, Error> {
    exp.run_on(method, RECORDING, &mut [], &be.comm)?
        .ok_or_else(|| "run_on returned no result".into())
}

/// Without MPI: the sharded path must reproduce `Experiment::run` exactly.
#[cfg(not(feature = "mpi"))]
fn check_against_experiment(exp: &Experiment, method: &Method, r: &MethodRun) -> Result<(), Error> {
    let expected = exp.run(method, RECORDING, &mut [])?;
    let bits = |o: &Outcome| serde_json::to_string(o).unwrap_or_default();
    if bits(&outcome(&expected)) != bits(&outcome(r)) || local_bits(&expected) != local_bits(r) {
        return Err(format!("{}: sharded path differs from Experiment::run", r.method).into());
    }
    Ok(())
}

fn body(be: &Backend) -> Result<(), Error> {
    let mut settings = Settings::paper(4000);
    let mut out: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--agents" => settings.agents = val()?.parse()?,
            "--steps" => settings.n_steps = val()?.parse()?,
            "--seed" => settings.seed = val()?.parse()?,
            "--out" => out = Some(val()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // every rank draws only its agents
    let exp = Experiment::new_on(fleet()?, settings, &be.comm)?;
    let mut runs = Vec::new();
    for m in methods(exp.settings().pieces) {
        let r = run_method(be, &exp, &m)?;
        #[cfg(not(feature = "mpi"))]
        check_against_experiment(&exp, &m, &r)?;
        runs.push(r);
    }
    // paired savings over the ranks (collective)
    let mut outcomes: Vec<Outcome> = runs.iter().map(outcome).collect();
    for (o, r) in outcomes.iter_mut().zip(&runs) {
        o.saving_vs_ia0 = Some(Saving::of_on(r, &runs[1], &be.comm)?);
    }
    if let Some(path) = &out {
        let local: String = runs.iter().map(local_bits).collect();
        std::fs::write(format!("{path}.rank{}", be.comm.rank()), local)?;
    }
    if be.comm.rank() == 0 {
        for o in &outcomes {
            eprintln!("{:>5}: energy {:.6} ± {:.6}", o.method, o.energy, o.stderr);
        }
        if let Some(path) = out {
            std::fs::write(path, serde_json::to_string(&outcomes)?)?;
        }
    }
    Ok(())
}

fn main() {
    let be = match Backend::new() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sharded_fleet: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = body(&be) {
        eprintln!("sharded_fleet (rank {}): {e}", be.comm.rank());
        #[cfg(feature = "mpi")]
        be.comm.abort(1);
        #[cfg(not(feature = "mpi"))]
        std::process::exit(1);
    }
}
