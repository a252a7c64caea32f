//! `cargo xtask reproduce [NAME ...] [--quick] [--retrain] [--out DIR] [--seed S]`,
//! `cargo xtask bench sde|energy|fleet`, `cargo xtask train <score|objective|eval|controls>`,
//! `cargo xtask list`.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use xtask::budget;
use xtask::entries::{find, ENTRIES};
use xtask::reproduce::{run_entry_with, RunOptions};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "mfpid project runner: reproduce the papers' tables and figures, run benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// parsed once per process: the size of the `train` variant's options does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Regenerate tables and figures into OUT/NAME/ (all registered entries when no NAME is given).
    Reproduce {
        /// Entries to run (see `cargo xtask list`).
        names: Vec<String>,
        /// Small settings that run in seconds.
        #[arg(long)]
        quick: bool,
        /// Output directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Base seed.
        #[arg(long, default_value_t = 20251122)]
        seed: u64,
        /// Retrain the networks that entries otherwise load from shipped weights (the compose-mnist
        /// and compose-unconditional networks) and overwrite those weights before running.
        #[arg(long)]
        retrain: bool,
    },
    /// List the registered entries.
    List,
    /// Train the composition's networks: score, objective, eval or controls (resumable).
    Train(xtask::train::TrainArgs),
    /// Benchmarks measured side by side with reference implementations.
    Bench {
        /// Which benchmark: `sde`, `energy` or `fleet`.
        what: String,
        /// Steps per run (default: sde 1000, fleet 2500; `--quick`: sde 50, fleet 250).
        #[arg(long)]
        steps: Option<usize>,
        /// Particles per run (default: sde 100000, fleet 10^6).
        #[arg(long)]
        particles: Option<usize>,
        /// Smoke size, to check the harness end to end (sde: 8192 particles, 50 steps; fleet: 20000
        /// agents, 250 steps); its times are not the benchmark's.
        #[arg(long)]
        quick: bool,
        /// Output directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Skip the NumPy comparison.
        #[arg(long)]
        no_numpy: bool,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Train(args) => xtask::train::run(&args),
        Cmd::List => {
            for e in ENTRIES {
                println!("{:<28} {}", e.name, e.about);
            }
            Ok(())
        }
        Cmd::Reproduce {
            names,
            quick,
            out,
            seed,
            retrain,
        } => {
            let selected: Vec<_> = if names.is_empty() {
                ENTRIES.iter().collect()
            } else {
                let mut v = Vec::new();
                for n in &names {
                    match find(n) {
                        Some(e) => v.push(e),
                        None => bail!(
                            "unknown entry '{n}'; `cargo xtask list` shows the registered ones"
                        ),
                    }
                }
                v
            };
            let mut failed = Vec::new();
            let mut done: Vec<(&str, f64)> = Vec::new();
            let (n, t_all) = (selected.len(), std::time::Instant::now());
            let mode = if quick { " (quick)" } else { "" };
            for (i, e) in selected.iter().enumerate() {
                println!("== [{}/{n}] {}{mode}", i + 1, e.name);
                let t0 = std::time::Instant::now();
                match run_entry_with(
                    e,
                    &out,
                    &RunOptions {
                        quick,
                        seed,
                        retrain,
                    },
                ) {
                    Ok(finished) => {
                        for line in &finished.outcome.summary {
                            println!("   {line}");
                        }
                        println!("   -> {}", finished.dir.display());
                    }
                    Err(err) => {
                        eprintln!("   FAILED: {err:#}");
                        failed.push(e.name);
                    }
                }
                let took = t0.elapsed().as_secs_f64();
                done.push((e.name, took));
                let rest = || selected[i + 1..].iter().map(|e| e.name);
                let left = budget::seconds_left(&done, rest());
                println!(
                    "   {} took {}; elapsed {}, about {} left ({})",
                    e.name,
                    budget::human(took),
                    budget::human(t_all.elapsed().as_secs_f64()),
                    budget::human(left),
                    budget::basis(&done, rest())
                );
            }
            println!(
                "all {n} entries in {}",
                budget::human(t_all.elapsed().as_secs_f64())
            );
            if !failed.is_empty() {
                bail!(
                    "{} entr{} failed: {}",
                    failed.len(),
                    if failed.len() == 1 { "y" } else { "ies" },
                    failed.join(", ")
                );
            }
            Ok(())
        }
        Cmd::Bench {
            what,
            steps,
            particles,
            quick,
            out,
            no_numpy,
        } => match what.as_str() {
            "sde" => {
                use xtask::bench::sde::{FULL, QUICK};
                let (n, b) = if quick { QUICK } else { FULL };
                xtask::bench::sde::run(&out, steps.unwrap_or(n), particles.unwrap_or(b), !no_numpy)
            }
            "energy" => xtask::bench::energy::run(&out, !no_numpy),
            "fleet" => {
                use xtask::bench::fleet::{FULL, QUICK};
                let (b, d, n) = if quick { QUICK } else { FULL };
                xtask::bench::fleet::run(&out, (particles.unwrap_or(b), d, steps.unwrap_or(n)))
            }
            other => bail!("unknown benchmark '{other}' (available: sde, energy, fleet)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduce_parses_retrain() {
        let cli = Cli::try_parse_from([
            "cargo xtask",
            "reproduce",
            "compose-unconditional",
            "--retrain",
            "--quick",
        ])
        .expect("parses");
        match cli.cmd {
            Cmd::Reproduce {
                retrain,
                quick,
                names,
                ..
            } => {
                assert!(retrain && quick);
                assert_eq!(names, ["compose-unconditional"]);
            }
            _ => panic!("wrong subcommand"),
        }
        let cli = Cli::try_parse_from(["cargo xtask", "reproduce"]).expect("parses");
        assert!(matches!(cli.cmd, Cmd::Reproduce { retrain: false, .. }));
        let cli = Cli::try_parse_from([
            "cargo xtask",
            "train",
            "controls",
            "--digit",
            "3",
            "--agents",
            "2",
            "--variant",
            "joint",
            "--max-steps",
            "5",
        ])
        .expect("parses");
        match cli.cmd {
            Cmd::Train(a) => {
                assert_eq!(
                    (a.what.as_str(), a.digit, a.agents),
                    ("controls", Some(3), Some(2))
                );
                assert_eq!(a.max_steps, Some(5));
            }
            _ => panic!("wrong subcommand"),
        }
    }
}
