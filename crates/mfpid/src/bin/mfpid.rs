//! The `mfpid` command-line program.

use clap::{Parser, Subcommand};
use mfpid::bridge::{Bridge, GaussianMixture, Protocol};
use mfpid::sde::observe::{ControlEnergy, Moments};
use mfpid::sde::{run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "mfpid",
    version,
    about = "Mean-field path-integral diffusion: bridges, fleets and diagnostics"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the version and the enabled components.
    Info,
    /// Bridge particles from a start point to a 1-D Gaussian-mixture target (AdaPID, geometric beta).
    ///
    /// Example: mfpid bridge --target 0.6:0.1:0.2 --target 0.4:1.5:0.3 --start 5 --out samples.csv
    Bridge {
        /// Target component WEIGHT:MEAN:STD (repeat for each component).
        #[arg(long = "target", required = true, value_name = "W:M:S")]
        target: Vec<String>,
        /// Start point z.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        start: f64,
        /// beta_0 of the geometric protocol beta_i = beta_0 gamma^i.
        #[arg(long, default_value_t = 12.0)]
        beta0: f64,
        /// gamma of the geometric protocol.
        #[arg(long, default_value_t = 0.65)]
        gamma: f64,
        /// Number of equal protocol pieces.
        #[arg(long, default_value_t = 8)]
        pieces: usize,
        /// Particles.
        #[arg(long, default_value_t = 20_000)]
        particles: usize,
        /// Euler-Maruyama steps (aligned to the protocol breaks).
        #[arg(long, default_value_t = 2500)]
        steps: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the terminal samples as CSV (one column `x`), atomically.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("mfpid: error: {e}");
        std::process::exit(1);
    }
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn parse_component(s: &str) -> BoxResult<(f64, f64, f64)> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(format!("--target '{s}': expected WEIGHT:MEAN:STD").into());
    }
    let num = |p: &str, what: &str| -> BoxResult<f64> {
        p.trim()
            .parse::<f64>()
            .map_err(|_| format!("--target '{s}': {what} '{p}' is not a number").into())
    };
    let (w, m, sd) = (
        num(parts[0], "weight")?,
        num(parts[1], "mean")?,
        num(parts[2], "std")?,
    );
    if !(sd > 0.0 && sd.is_finite()) {
        return Err(format!("--target '{s}': std must be positive and finite, got {sd}").into());
    }
    Ok((w, m, sd))
}

fn real_main() -> BoxResult<()> {
    match Cli::parse().cmd {
        Cmd::Info => {
            println!("mfpid {}", env!("CARGO_PKG_VERSION"));
            println!(
                "components: sde{}{}{}",
                if cfg!(feature = "pde") { ", pde" } else { "" },
                if cfg!(feature = "bridge") {
                    ", bridge"
                } else {
                    ""
                },
                if cfg!(feature = "thermo") {
                    ", thermo"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Cmd::Bridge {
            target,
            start,
            beta0,
            gamma,
            pieces,
            particles,
            steps,
            seed,
            out,
        } => {
            let comps: Vec<(f64, f64, f64)> = target
                .iter()
                .map(|s| parse_component(s))
                .collect::<BoxResult<_>>()?;
            let weights = comps.iter().map(|c| c.0).collect();
            let means = comps.iter().map(|c| c.1).collect();
            let vars = comps.iter().map(|c| c.2 * c.2).collect();
            let protocol =
                Protocol::geometric(1, beta0, gamma, pieces).map_err(mfpid::Error::from)?;
            let mixture =
                GaussianMixture::isotropic(1, weights, means, vars).map_err(mfpid::Error::from)?;
            let mut bridge = Bridge::new(&protocol, mixture)
                .and_then(|b| b.with_start(&[start]))
                .map_err(mfpid::Error::from)?;
            let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), steps)
                .map_err(mfpid::Error::from)?;
            let mut ens = Ensemble::filled(particles, &[start]).map_err(mfpid::Error::from)?;
            let (mut moments, mut energy) = (Moments::new(steps, true), ControlEnergy::new());
            run(
                &mut bridge,
                &Noise::Scalar(1.0),
                &grid,
                &mut ens,
                &RunConfig::new(Scheme::EulerMaruyama, seed),
                &mut [&mut moments, &mut energy],
            )
            .map_err(mfpid::Error::from)?;
            let last = moments.last().ok_or("no moments recorded")?;
            let var = last.cov.as_ref().map(|c| c[0]).unwrap_or(f64::NAN);
            println!(
                "terminal mean {:.5}  variance {:.5}  control energy {:.4} ± {:.4}",
                last.mean[0],
                var,
                energy.total(),
                energy.stderr()
            );
            if let Some(path) = out {
                write_atomic(&path, ens.as_slice())?;
                println!("wrote {} samples to {}", particles, path.display());
            }
            Ok(())
        }
    }
}

/// Write the samples to `path.tmp` and rename, so a failure never leaves a half-written file.
fn write_atomic(path: &std::path::Path, xs: &[f64]) -> BoxResult<()> {
    let tmp = path.with_extension("csv.tmp");
    let result = (|| -> BoxResult<()> {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?,
        );
        writeln!(f, "x")?;
        for x in xs {
            writeln!(f, "{x}")?;
        }
        f.flush()?;
        Ok(())
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()).into()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
