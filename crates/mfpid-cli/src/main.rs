//! The `mfpid` program: run bridges, LQG benchmarks, thermodynamic diagnostics and demand-response
//! fleets from TOML config files, writing CSV / JSON tables, NPY arrays and SVG / PNG figures into
//! an output directory that appears only when the run succeeded.

mod bridge_flags;
mod common;
mod config;
mod data;
mod error;
mod fleet;
mod lqg;
mod mixture;
mod outdir;
mod ranks;
mod sample;
mod thermo;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::common::Common;
use crate::config::Source;
use crate::error::{AppError, Result};

const AFTER_HELP: &str = "\
Examples:
  mfpid validate examples/sample-mixture-1d.toml   check a config and estimate its cost
  mfpid sample examples/sample-mixture-1d.toml     bridge particles to a Gaussian mixture
  mfpid sample examples/sample-mixture-2d.toml --quick --out /tmp/mix2d
  mfpid fleet examples/fleet-two-component.toml    demand-response: MF vs IA(0) vs IA(m)
  mfpid lqg                                        the LQG benchmark (reference parameters)
  mfpid thermo rates --mu 1 --sigma2 1             entropy rates of the two-cluster model

Outputs go to --out (default out/<config name>), written atomically: a failed or interrupted run
leaves nothing behind. The guide is docs/guide.md; every config field is listed in
docs/config-reference.md.";

#[derive(Parser)]
#[command(
    name = "mfpid",
    version,
    about = "Mean-field path-integral diffusion: bridges, fleets and diagnostics from config files",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Seed for every random stream (overrides the config's `run.seed`).
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Worker threads (default: all cores, or RAYON_NUM_THREADS). Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Print nothing but errors; no progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Output directory (default out/<config name>); for `bridge`, the CSV file to write.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Small settings for a fast smoke run (caps particles, steps and fleet sizes).
    #[arg(long, global = true)]
    quick: bool,
    /// Replace an existing output directory.
    #[arg(long, global = true)]
    force: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the version and the enabled components.
    Info,
    /// Parse and check a config, print what would run and its estimated cost; writes nothing.
    ///
    /// The kind of config is recognised by its tables: `[target]` for `sample`, `[fleet]` for
    /// `fleet`, `[lqg]` for `lqg`.
    #[command(after_help = "Example:\n  mfpid validate examples/sample-mixture-1d.toml")]
    Validate {
        /// The config file (TOML).
        config: PathBuf,
    },
    /// Bridge particles to a target (Gaussian mixture or data file) and write terminal samples,
    /// paths, energy and checks against the analytic marginal.
    ///
    /// Writes samples.npy / samples.csv (B x d), energy.csv, moments.csv, checks.csv,
    /// summary.json, run.json and figures (terminal, marginals, energy, paths, scatter for d >= 2);
    /// trajectories.npy (T x n x d) and trajectories.csv when [output] trajectories > 0.
    #[command(
        after_help = "Examples:\n  mfpid sample examples/sample-mixture-1d.toml\n  mfpid sample examples/sample-from-csv.toml --seed 3 --out runs/csv"
    )]
    Sample {
        /// The config file (TOML).
        config: PathBuf,
    },
    /// A demand-response fleet: methods MF / IA(0) / IA(m) (or your own centres), energies, savings,
    /// per-zone and per-sub-population tables, figures.
    #[command(after_help = "Example:\n  mfpid fleet examples/fleet-two-component.toml")]
    Fleet {
        /// The config file (TOML).
        config: PathBuf,
    },
    /// The LQG thermostatic benchmark (MF, IA0, IA-target): closed-form Riccati solution, power and
    /// energy; the reference parameters when no config is given.
    #[command(after_help = "Examples:\n  mfpid lqg\n  mfpid lqg examples/lqg-2d.toml")]
    Lqg {
        /// Optional config file (TOML) with an [lqg] table.
        config: Option<PathBuf>,
    },
    /// Thermodynamic diagnostics of the two-cluster model (Yu & Huang).
    #[command(subcommand)]
    Thermo(thermo::ThermoCmd),
    /// A quick 1-D bridge from flags (no config file); --out is a CSV file.
    ///
    /// Example: mfpid bridge --target 0.6:0.1:0.2 --target 0.4:1.5:0.3 --start 5 --out samples.csv
    Bridge(bridge_flags::BridgeArgs),
}

fn main() {
    let cli = Cli::parse();
    outdir::install_ctrlc();
    if let Err(e) = real_main(cli) {
        if ranks::speaks() {
            eprintln!("mfpid: error: {e}");
        }
        std::process::exit(e.exit_code());
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let common = Common {
        seed: cli.seed,
        threads: cli.threads,
        quiet: cli.quiet,
        quick: cli.quick,
        force: cli.force,
    };
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(AppError::Other("--threads must be >= 1".into()));
        }
        // observers and our own parallel loops use the global pool
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    // only `fleet` shares its work over MPI ranks; `info` and `validate` write nothing
    let single = match &cli.cmd {
        Cmd::Sample { .. } => Some("sample"),
        Cmd::Lqg { .. } => Some("lqg"),
        Cmd::Thermo(_) => Some("thermo"),
        Cmd::Bridge(_) => Some("bridge"),
        Cmd::Info | Cmd::Validate { .. } | Cmd::Fleet { .. } => None,
    };
    if let Some(command) = single {
        ranks::single_task(command)?;
    }
    match cli.cmd {
        Cmd::Info => {
            println!("mfpid {}", env!("CARGO_PKG_VERSION"));
            println!("components: sde, pde, bridge, thermo, meanfield, energy");
            println!("subcommands: validate, sample, fleet, lqg, thermo, bridge");
            Ok(())
        }
        Cmd::Validate { config } => validate(&config, &common),
        Cmd::Sample { config } => sample::cmd(&config, cli.out, &common),
        Cmd::Fleet { config } => fleet::cmd(&config, cli.out, &common),
        Cmd::Lqg { config } => lqg::cmd(config.as_deref(), cli.out, &common),
        Cmd::Thermo(t) => thermo::cmd(&t, cli.out, &common),
        Cmd::Bridge(a) => bridge_flags::cmd(&a, cli.out, &common),
    }
}

fn validate(path: &Path, common: &Common) -> Result<()> {
    let src = Source::load(path)?;
    let keys = src.top_level_keys()?;
    let has = |k: &str| keys.iter().any(|x| x == k);
    let kinds: Vec<&str> = [("target", "sample"), ("fleet", "fleet"), ("lqg", "lqg")]
        .iter()
        .filter(|(k, _)| has(k))
        .map(|(_, c)| *c)
        .collect();
    let lines = match kinds.as_slice() {
        ["sample"] => sample::validate(&src, common)?,
        ["fleet"] => fleet::validate(&src, common)?,
        ["lqg"] => lqg::validate(&src, common)?,
        [] => {
            return Err(src
                .error(
                    "",
                    "cannot tell which subcommand this config is for: a `sample` config has a [target] table, a `fleet` config a [fleet] table, an `lqg` config an [lqg] table",
                )
                .into())
        }
        many => {
            return Err(src
                .error(
                    "",
                    format!(
                        "mixes the tables of several subcommands ({}); use one config per run",
                        many.join(", ")
                    ),
                )
                .into())
        }
    };
    println!("{}: ok", path.display());
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
