//! The demand-response example fleet (`examples/fleet-two-component.toml`: two sub-populations,
//! `d = 2`, methods MF, IA0, IAm and the constant centre "half") sharded over MPI ranks (feature
//! `mpi`) or run in one process (without it). Rank 0 writes every result as JSON (`f64`s printed
//! shortest-round-trip, so equal text means equal bits); `scripts/mpi-test.sh` compares runs with
//! 1, 2, 3 ranks and the non-MPI build byte for byte.
//!
//! Each method runs through [`Experiment::run_on`]: per step only the reductions of the observers
//! cross ranks (`O(d)` numbers); the per-agent energies and terminal states are gathered to rank 0
//! once at the end, where the per-agent metrics (standard error, sub-population energies, terminal
//! law) are computed as in [`Experiment::run`]. Without MPI the example also checks that its
//! results equal [`Experiment::run`] bit for bit.
//!
//! ```text
//! cargo run -p mfpid-energy --example sharded_fleet -- --agents 1000 --steps 400 --out single.json
//! cargo build -p mfpid-energy --features mpi --example sharded_fleet
//! mpirun -np 3 target/debug/examples/sharded_fleet --agents 1000 --steps 400 --out np3.json
//! ```

use mfpid_energy::{
    Centres, Experiment, Fleet, Law, Method, MethodRun, Recording, Settings, SubpopEnergy,
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
    per_agent: Vec<f64>,
    subpopulations: Vec<SubpopEnergy>,
    terminal: TerminalLaw,
    mean_path: Vec<(f64, Vec<f64>)>,
    final_states: Vec<f64>,
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
fn outcome(r: MethodRun) -> Outcome {
    Outcome {
        method: r.method,
        centres: r.centres,
        energy: r.energy,
        stderr: r.stderr,
        energy_per_zone: r.energy_per_zone,
        peak_power: r.peak_power,
        times: r.times,
        power: r.power,
        per_agent: r.per_agent,
        subpopulations: r.subpopulations,
        terminal: r.terminal,
        mean_path: r.mean_path,
        final_states: r.final_states.unwrap_or_default(),
    }
}

const RECORDING: Recording = Recording {
    mean_every: MEAN_EVERY,
    subpop_power: false,
    keep_final: true,
};

/// One method on this rank's shard ([`Experiment::run_on`]); the full outcome on rank 0.
fn run_method(be: &Backend, exp: &Experiment, method: &Method) -> Result<Option<Outcome>, Error> {
    Ok(exp
        .run_on(method, RECORDING, &mut [], &be.comm)?
        .map(outcome))
}

/// Without MPI: the sharded path must reproduce `Experiment::run` exactly.
#[cfg(not(feature = "mpi"))]
fn check_against_experiment(exp: &Experiment, method: &Method, o: &Outcome) -> Result<(), Error> {
    let expected = outcome(exp.run(method, RECORDING, &mut [])?);
    let bits = |o: &Outcome| serde_json::to_string(o).unwrap_or_default();
    if bits(&expected) != bits(o) {
        return Err(format!("{}: sharded path differs from Experiment::run", o.method).into());
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
    let exp = Experiment::new(fleet()?, settings)?;
    let mut outcomes = Vec::new();
    for m in methods(exp.settings().pieces) {
        if let Some(o) = run_method(be, &exp, &m)? {
            #[cfg(not(feature = "mpi"))]
            check_against_experiment(&exp, &m, &o)?;
            outcomes.push(o);
        }
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
