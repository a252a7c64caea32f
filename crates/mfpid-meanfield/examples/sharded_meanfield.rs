//! The MF fixed point (quadratic interaction, Anderson and Picard) and a general-interaction
//! particle solve (Gaussian repulsion, binned `O(N)` kernels, Anderson) over MPI ranks (feature
//! `mpi`) or in one process (without it). Each rank draws and simulates only its shard of the
//! particles; every population statistic is a reproducible or exact integer sum over the ranks.
//! Rank 0 writes the fleet-wide results (`{:?}` of every number: shortest round-trip, so equal text
//! means equal bits) to `--out`, every rank `r` the bits of its particles' path potentials and
//! weights to `--out` + `.rank<r>` (their concatenation in rank order is the single-process file);
//! `scripts/mpi-test.sh` compares 1, 2, 3 ranks with the non-MPI build byte for byte.
//!
//! ```text
//! cargo run -p mfpid-meanfield --example sharded_meanfield -- --particles 2000 --out single.txt
//! cargo build -p mfpid-meanfield --features mpi --example sharded_meanfield
//! mpirun -np 3 target/debug/examples/sharded_meanfield --particles 2000 --out np3.txt
//! ```

use mfpid_bridge::{equal_breaks, GaussianMixture};
use mfpid_meanfield::{
    Anderson, Criterion, Executor, Interaction, Law, ParticleMf, ParticleMfConfig, Picard,
    QuadraticMf, QuadraticMfConfig, VmfEstimator,
};
use mfpid_sde::Communicator;
use std::fmt::Write as _;

type Error = Box<dyn std::error::Error>;

/// The transport: MPI with the feature, one process without.
#[cfg(feature = "mpi")]
type Transport = mfpid_sde::comm::mpi::MpiCommunicator;
#[cfg(not(feature = "mpi"))]
type Transport = mfpid_sde::SingleProcess;

fn transport() -> Result<Transport, Error> {
    #[cfg(feature = "mpi")]
    return Ok(mfpid_sde::comm::mpi::MpiCommunicator::init()?);
    #[cfg(not(feature = "mpi"))]
    Ok(mfpid_sde::SingleProcess)
}

fn mixture(w: Vec<f64>, m: Vec<f64>, v: Vec<f64>) -> Result<Law, Error> {
    Ok(Law::Mixture(GaussianMixture::isotropic(1, w, m, v)?))
}

fn hex(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:016x}", x.to_bits()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn body(comm: &dyn Communicator) -> Result<(), Error> {
    let (mut n, mut out) = (2000usize, None::<String>);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--particles" => n = val()?.parse()?,
            "--out" => out = Some(val()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let (mut global, mut local) = (String::new(), String::new());
    // the MF fixed point: bimodal start, Gaussian-mixture target, geometric beta on 8 pieces
    let p_in = mixture(vec![0.3, 0.7], vec![-2.0, 1.0], vec![0.09, 0.09])?;
    let p_tar = mixture(vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09])?;
    let beta = (0..8).map(|i| 12.0 * 0.65f64.powi(i)).collect();
    let mut cfg = QuadraticMfConfig::new(equal_breaks(8), beta);
    cfg.n_particles = n;
    cfg.n_steps = 200;
    let mut mf = QuadraticMf::new_on(cfg, p_in.clone(), p_tar.clone(), comm)?;
    let ex = Executor::new(1e-6, 80, Criterion::Step)?;
    for name in ["anderson", "picard"] {
        let nu0 = mf.perturbed_start(0.35)?;
        let sol = if name == "anderson" {
            mf.solve_on(&mut Anderson::default(), &ex, nu0, &mut [], comm)?
        } else {
            mf.solve_on(&mut Picard::default(), &ex, nu0, &mut [], comm)?
        };
        writeln!(global, "quadratic {name}: {sol:?}")?;
        if comm.rank() == 0 {
            eprintln!(
                "MF fixed point ({name}): {} iterations, max |nu - interpolant| / dm = {:.3e}",
                sol.outcome.iterations, sol.max_dev_over_dm
            );
        }
    }
    // the general-interaction particle solver: Gaussian repulsion, binned kernels
    let mut pcfg = ParticleMfConfig::new(n);
    pcfg.n_steps = 20;
    pcfg.start_bins = 8;
    pcfg.end_bins = 20;
    pcfg.estimator = VmfEstimator::Binned { bins: 40 };
    let p_in = mixture(vec![1.0], vec![-1.0], vec![0.16])?;
    let p_tar = mixture(vec![0.5, 0.5], vec![0.3, 1.7], vec![0.09, 0.09])?;
    let mut pm = ParticleMf::new_on(pcfg, &p_in, &p_tar, Interaction::gaussian(2.0, 0.5)?, comm)?;
    let pex = Executor::new(1e-6, 100, Criterion::Step)?;
    let o = pm.solve(&mut Anderson::default(), &pex, &mut [])?;
    let last = pm.times().len() - 1;
    // moments, ESS and energy are collectives: every rank calls each, in the same order
    let (mid, end) = (pm.moments(last / 2), pm.moments(last));
    let (ess, energy) = (pm.ess(), pm.energy());
    writeln!(
        global,
        "binned: {} iterations, history {:?}, residuals {:?}, moments {mid:?} {end:?}, ess {ess:?}, energy {energy:?}",
        o.iterations, o.history, o.residuals,
    )?;
    writeln!(local, "L {}\nweights {}", hex(&o.x), hex(pm.weights()))?;
    if comm.rank() == 0 {
        eprintln!(
            "binned particle solve: {} iterations, ess {:.0}, energy {:.6}",
            o.iterations, ess, energy
        );
    }
    if let Some(path) = out {
        std::fs::write(format!("{path}.rank{}", comm.rank()), local)?;
        if comm.rank() == 0 {
            std::fs::write(path, global)?;
        }
    }
    Ok(())
}

fn main() {
    let comm = match transport() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sharded_meanfield: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = body(&comm) {
        eprintln!("sharded_meanfield (rank {}): {e}", comm.rank());
        #[cfg(feature = "mpi")]
        comm.abort(1);
        #[cfg(not(feature = "mpi"))]
        std::process::exit(1);
    }
}
