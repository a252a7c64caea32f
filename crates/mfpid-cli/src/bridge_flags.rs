//! `mfpid bridge`: a one-line 1-D bridge from flags (no config file), writing one CSV file.

use std::io::Write;
use std::path::{Path, PathBuf};

use mfpid::bridge::{Bridge, GaussianMixture, Protocol};
use mfpid::sde::observe::{ControlEnergy, Moments};
use mfpid::sde::{run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};

use crate::common::Common;
use crate::cost::Cost;
use crate::error::{AppError, LibContext, Result};
use crate::outdir::{self, Progress};

/// Flags of `mfpid bridge`.
#[derive(clap::Args, Debug)]
pub struct BridgeArgs {
    /// Target component WEIGHT:MEAN:STD (repeat for each component).
    #[arg(
        long = "target",
        required = true,
        value_name = "W:M:S",
        allow_hyphen_values = true
    )]
    pub target: Vec<String>,
    /// Start point z.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub start: f64,
    /// beta_0 of the geometric protocol beta_i = beta_0 gamma^i.
    #[arg(long, default_value_t = 12.0, allow_negative_numbers = true)]
    pub beta0: f64,
    /// gamma of the geometric protocol.
    #[arg(long, default_value_t = 0.65, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Number of equal protocol pieces.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
    pub pieces: usize,
    /// Particles.
    #[arg(long, default_value_t = 20_000, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
    pub particles: usize,
    /// Euler-Maruyama steps (aligned to the protocol breaks).
    #[arg(long, default_value_t = 2500, allow_negative_numbers = true, value_parser = crate::common::parse_count)]
    pub steps: usize,
}

fn parse_component(s: &str) -> Result<(f64, f64, f64)> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(AppError::Other(format!(
            "--target '{s}': expected WEIGHT:MEAN:STD"
        )));
    }
    let num = |p: &str, what: &str| -> Result<f64> {
        p.trim()
            .parse::<f64>()
            .map_err(|_| AppError::Other(format!("--target '{s}': {what} '{p}' is not a number")))
    };
    let (w, m, sd) = (
        num(parts[0], "weight")?,
        num(parts[1], "mean")?,
        num(parts[2], "std")?,
    );
    if !(sd > 0.0 && sd.is_finite()) {
        return Err(AppError::Other(format!(
            "--target '{s}': std must be positive and finite, got {}",
            crate::common::human_num(sd)
        )));
    }
    Ok((w, m, sd))
}

/// Run `mfpid bridge`; `--out` is a CSV file here (one column `x`), written atomically.
pub fn cmd(a: &BridgeArgs, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let comps: Vec<(f64, f64, f64)> = a
        .target
        .iter()
        .map(|s| parse_component(s))
        .collect::<Result<_>>()?;
    let weights = comps.iter().map(|c| c.0).collect();
    let means = comps.iter().map(|c| c.1).collect();
    let vars = comps.iter().map(|c| c.2 * c.2).collect();
    let (particles, steps) = if common.quick {
        (a.particles.min(2000), a.steps.min(400).max(a.pieces))
    } else {
        (a.particles, a.steps)
    };
    let mut cost = Cost::new();
    cost.add(
        "--particles",
        particles as f64,
        "particles, drift and noise (particles x 4)",
        particles as f64 * 4.0,
        8.0,
    )
    .add(
        "--steps",
        steps as f64,
        "time grid and energy traces (steps x 4)",
        steps as f64 * 4.0,
        8.0,
    )
    .add(
        "--pieces",
        a.pieces as f64,
        "protocol pieces and coefficients (pieces x 12)",
        a.pieces as f64 * 12.0,
        8.0,
    );
    cost.check(common)?;
    let protocol = Protocol::geometric(1, a.beta0, a.gamma, a.pieces).ctx("protocol")?;
    let mixture = GaussianMixture::isotropic(1, weights, means, vars).ctx("target")?;
    let mut bridge = Bridge::new(&protocol, mixture)
        .and_then(|b| b.with_start(&[a.start]))
        .ctx("bridge")?;
    let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), steps).ctx("time grid")?;
    let mut ens = Ensemble::filled(particles, &[a.start]).ctx("ensemble")?;
    let (mut moments, mut energy) = (Moments::new(steps, true), ControlEnergy::new());
    let bar = outdir::progress(common.quiet, "bridge");
    let cfg = RunConfig {
        threads: common.threads,
        cancel: Some(outdir::cancel_token()),
        ..RunConfig::new(Scheme::EulerMaruyama, common.seed.unwrap_or(0))
    };
    run(
        &mut bridge,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &cfg,
        &mut [
            &mut moments,
            &mut energy,
            &mut Progress::new(&bar, 0.0, 1.0),
        ],
    )
    .map_err(|e| outdir::map_run_error(e, "running the bridge"))?;
    bar.finish_and_clear();
    let last = moments
        .last()
        .ok_or_else(|| AppError::Other("no moments recorded".into()))?;
    let var = last.cov.as_ref().map(|c| c[0]).unwrap_or(f64::NAN);
    if !common.quiet {
        println!(
            "terminal mean {:.5}  variance {:.5}  control energy {:.4} ± {:.4}",
            last.mean[0],
            var,
            energy.total(),
            energy.stderr()
        );
    }
    if let Some(path) = out {
        write_atomic(&path, ens.as_slice())?;
        if !common.quiet {
            println!("wrote {particles} samples to {}", path.display());
        }
    }
    Ok(())
}

/// Write the samples to `path.csv.tmp` and rename, so a failure never leaves a half-written file.
fn write_atomic(path: &Path, xs: &[f64]) -> Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e| AppError::Io {
            what,
            path: p,
            source: e,
        }
    };
    outdir::register(&tmp);
    let result = (|| -> Result<()> {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tmp).map_err(io("cannot create", &tmp))?,
        );
        writeln!(f, "x").map_err(io("cannot write", &tmp))?;
        for x in xs {
            writeln!(f, "{x}").map_err(io("cannot write", &tmp))?;
        }
        f.flush().map_err(io("cannot write", &tmp))?;
        Ok(())
    })();
    let done = match result {
        // a signal during the write: the file is not put in place
        Ok(()) if outdir::cancelled() => Err(AppError::Interrupted),
        Ok(()) => std::fs::rename(&tmp, path).map_err(io("cannot write", path)),
        Err(e) => Err(e),
    };
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outdir::unregister(&tmp);
    done
}
