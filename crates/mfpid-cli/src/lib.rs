//! The `mfpid` program: run bridges, LQG benchmarks, thermodynamic diagnostics and demand-response
//! fleets from TOML config files, writing CSV / JSON tables, NPY arrays and SVG / PNG figures into
//! an output directory that appears only when the run succeeded.
//!
//! The binary (`src/main.rs`) calls [`main_exit_code`]; [`check_config`] runs the parse, check and
//! plan of one subcommand's config from a string without simulating anything (the fuzz targets
//! call it).

mod bridge_flags;
mod common;
mod config;
mod cost;
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
    #[arg(long, global = true, allow_negative_numbers = true, value_parser = common::parse_seed)]
    seed: Option<u64>,
    /// Worker threads (default: all cores, or RAYON_NUM_THREADS). Results do not depend on it.
    #[arg(long, global = true, allow_negative_numbers = true, value_parser = common::parse_count)]
    threads: Option<usize>,
    /// Print nothing but errors; no progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Output directory (default out/<config name>); for `bridge`, the CSV file to write.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Small settings for a fast smoke run: caps particles and steps (sample, bridge, lqg checks),
    /// agents and steps (fleet), paths, pairs and points (thermo); refused by `info`.
    #[arg(long, global = true)]
    quick: bool,
    /// Exit with status 3 when the run's own checks against the analytic law fail (the outputs
    /// are still written; without it the failure is a warning).
    #[arg(long, global = true)]
    strict: bool,
    /// Refuse runs whose estimated memory exceeds this size (e.g. 512M, 8G; default: the
    /// machine's available memory).
    #[arg(long, global = true, value_name = "SIZE", value_parser = cost::parse_bytes)]
    max_memory: Option<usize>,
    /// Replace an existing output directory, only if mfpid wrote it (its run.json lists every file).
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

/// Run the program on the process's arguments and return its exit status: 0 success, 1 bad input
/// or a failed run, 2 usage error, 3 checks failed under `--strict`, 130 / 143 / 129 after SIGINT /
/// SIGTERM / SIGHUP.
pub fn main_exit_code() -> i32 {
    outdir::install_signal_handlers();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    match real_main(cli) {
        Ok(()) => 0,
        Err(e) => {
            // under MPI only rank 0 speaks (every rank exits with the same status)
            if ranks::speaks() {
                eprintln!("mfpid: error: {e}");
            }
            e.exit_code()
        }
    }
}

/// Print a command-line error in the program's one-line style (`mfpid: error: ...`, status 2);
/// `--help` and `--version` print as usual (status 0).
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return 0;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let usage = e
                .render()
                .to_string()
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage: ").map(str::to_string))
                .unwrap_or_else(|| "mfpid <COMMAND>".into());
            eprintln!("mfpid: error: a subcommand is required; usage: {usage}; see `mfpid --help`");
            return 2;
        }
        _ => {}
    }
    eprintln!("mfpid: error: {}", one_line(&e.render().to_string()));
    2
}

/// Clap's multi-line message as one line: the error, its tip, and the usage.
fn one_line(text: &str) -> String {
    let mut parts = Vec::new();
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(m) = l.strip_prefix("error: ") {
            parts.push(m.to_string());
        } else if let Some(t) = l.strip_prefix("tip: ") {
            parts.push(t.to_string());
        } else if let Some(u) = l.strip_prefix("Usage: ") {
            parts.push(format!("usage: {u}"));
        } else if l.starts_with("For more information") {
            continue;
        } else if parts.is_empty() {
            parts.push(l.to_string());
        } else {
            // continuation lines (a list of possible values...)
            if let Some(last) = parts.last_mut() {
                last.push(' ');
                last.push_str(l);
            }
        }
    }
    parts.push("see `mfpid --help`".into());
    parts.join("; ")
}

/// Parse, check and plan a config of subcommand `kind` (`"sample"`, `"fleet"` or `"lqg"`) given as
/// TOML text, without running anything: `Ok(())` when `mfpid KIND` would start the run, else the
/// one-line message the program would print. Data files named by the config are resolved relative
/// to the current directory.
pub fn check_config(kind: &str, text: &str) -> std::result::Result<(), String> {
    let src = Source::from_str(&format!("{kind}.toml"), text);
    let common = Common::default();
    let r = match kind {
        "sample" => sample::plan(&src, &common).map(|_| ()),
        "fleet" => fleet::check(&src, &common),
        "lqg" => lqg::check(&src, &common),
        other => {
            return Err(format!(
                "unknown config kind {other:?}: expected sample, fleet or lqg"
            ))
        }
    };
    r.map_err(|e| e.to_string())
}

/// `mfpid validate` on a config given as TOML text (kind recognised by its tables, cost estimated
/// by a short probe run): the lines it would print after `ok`, or its one-line message. Data files
/// are resolved relative to the current directory.
pub fn validate_config(text: &str) -> std::result::Result<Vec<String>, String> {
    validate_source(&Source::from_str("config.toml", text), &Common::default())
        .map_err(|e| e.to_string())
}

/// The point reader of `mfpid sample` (`target.file`, `start.file`): CSV or, by extension, NPY.
pub use data::{read_points, Points};

fn real_main(cli: Cli) -> Result<()> {
    let common = Common {
        seed: cli.seed,
        threads: cli.threads,
        quiet: cli.quiet,
        quick: cli.quick,
        force: cli.force,
        strict: cli.strict,
        max_memory: cli.max_memory,
    };
    if let Some(n) = cli.threads {
        if n == 0 || n > MAX_THREADS {
            return Err(AppError::Other(format!(
                "--threads {n}: must be between 1 and {MAX_THREADS}"
            )));
        }
        // observers and our own parallel loops use the global pool
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    // only `fleet` and `sample` share their work over MPI ranks; `info` and `validate` write nothing
    let single = match &cli.cmd {
        Cmd::Lqg { .. } => Some("lqg"),
        Cmd::Thermo(_) => Some("thermo"),
        Cmd::Bridge(_) => Some("bridge"),
        Cmd::Info | Cmd::Validate { .. } | Cmd::Fleet { .. } | Cmd::Sample { .. } => None,
    };
    if let Some(command) = single {
        ranks::single_task(command)?;
    }
    // flags a subcommand cannot honour are refused, not ignored
    let refuse = |flag: &str, sub: &str, why: &str| {
        Err(AppError::Usage(format!(
            "{flag} has no effect on `mfpid {sub}` ({why}); leave it out"
        )))
    };
    match &cli.cmd {
        Cmd::Info if cli.quick => return refuse("--quick", "info", "it runs nothing"),
        Cmd::Info if cli.out.is_some() => return refuse("--out", "info", "it writes nothing"),
        Cmd::Info if cli.force => return refuse("--force", "info", "it writes nothing"),
        Cmd::Validate { .. } if cli.out.is_some() => {
            return refuse("--out", "validate", "it writes nothing")
        }
        Cmd::Validate { .. } if cli.force => {
            return refuse("--force", "validate", "it writes nothing")
        }
        Cmd::Sample { config } => expect_kind(config, "sample")?,
        Cmd::Fleet { config } => expect_kind(config, "fleet")?,
        Cmd::Lqg {
            config: Some(config),
        } => expect_kind(config, "lqg")?,
        _ => {}
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

/// Most worker threads `--threads` accepts.
const MAX_THREADS: usize = 1024;

/// The subcommands whose tables a config has: `[target]` is `sample`'s, `[fleet]` `fleet`'s,
/// `[lqg]` `lqg`'s.
fn config_kinds(src: &Source) -> Result<Vec<&'static str>> {
    let keys = src.top_level_keys()?;
    let has = |k: &str| keys.iter().any(|x| x == k);
    Ok([("target", "sample"), ("fleet", "fleet"), ("lqg", "lqg")]
        .iter()
        .filter(|(k, _)| has(k))
        .map(|(_, c)| *c)
        .collect())
}

/// A config given to the wrong subcommand is a usage error that names the right one. Files that
/// cannot be read or parsed are left to the subcommand, which reports them with their place.
fn expect_kind(path: &Path, want: &str) -> Result<()> {
    let Ok(src) = Source::load(path) else {
        return Ok(());
    };
    let Ok(kinds) = config_kinds(&src) else {
        return Ok(());
    };
    match kinds.as_slice() {
        [k] if *k != want => {
            let table = match *k {
                "sample" => "[target]",
                "fleet" => "[fleet]",
                _ => "[lqg]",
            };
            let a = |k: &str| if k == "lqg" { "an" } else { "a" };
            Err(AppError::Usage(format!(
                "{}: this is {} {k} config (it has a {table} table), not {} {want} config: run `mfpid {k} {}`",
                path.display(),
                a(k),
                a(want),
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

/// `mfpid validate` of one config: the kind of config from its tables, then that subcommand's
/// parse, check, plan and cost estimate; the lines `validate` prints after `ok`.
fn validate_source(src: &Source, common: &Common) -> Result<Vec<String>> {
    let kinds = config_kinds(src)?;
    Ok(match kinds.as_slice() {
        ["sample"] => sample::validate(src, common)?,
        ["fleet"] => fleet::validate(src, common)?,
        ["lqg"] => lqg::validate(src, common)?,
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
    })
}

fn validate(path: &Path, common: &Common) -> Result<()> {
    let lines = validate_source(&Source::load(path)?, common)?;
    println!("{}: ok", path.display());
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_config_plans_without_running() {
        let target = "[target]\nmeans = [0.1, 1.5]\nstd = [0.2, 0.3]\n";
        assert_eq!(check_config("sample", target), Ok(()));
        let e = check_config("fleet", target).unwrap_err();
        assert!(e.contains("fleet"), "{e}");
        assert!(check_config("lqg", "[lqg]\nm_tar = [1.0]\n").is_ok());
        assert!(check_config("sample", "[target\n")
            .unwrap_err()
            .contains("sample.toml:1"));
        assert!(check_config("thermo", "").is_err());
        // a size that would need more memory than any machine is refused, not attempted
        let huge =
            "[run]\nparticles = 10000000000000000000\n[target]\nmeans = [0.0]\nstd = [1.0]\n";
        assert!(check_config("sample", huge)
            .unwrap_err()
            .contains("run.particles"));
    }
}
