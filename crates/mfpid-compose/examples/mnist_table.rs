//! Run the MNIST composition for chosen settings and print the `compose-mnist` table.
//!
//! ```text
//! cargo run --release -p mfpid-compose --example mnist_table -- [--full] [--digits 0,3,9] [--agents 2,3]
//!     [--samples N] [--steps S] [--iters I] [--batch B] [--lr LR] [--hidden H] [--fict-inner M]
//!     [--cdps-extra W1,W2,..] [--optimal-is] [--weights DIR] [--grids DIR]
//! ```
//! Without `--full` it starts from the quick settings.

use mfpid_compose::repro::{compose_mnist, MnistRunConfig};

fn list(s: &str) -> Result<Vec<usize>, std::num::ParseIntError> {
    s.split(',').map(str::parse).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = if args.iter().any(|a| a == "--full") {
        MnistRunConfig::full(1)
    } else {
        MnistRunConfig::quick(1)
    };
    let mut grids = None;
    let mut weights = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--full" => {}
            "--digits" => cfg.digits = list(val()?)?,
            "--agents" => cfg.n_agents = list(val()?)?,
            "--samples" => cfg.n_samples = val()?.parse()?,
            "--steps" => cfg.sample_steps = val()?.parse()?,
            "--iters" => cfg.cmad.iters = val()?.parse()?,
            "--batch" => cfg.cmad.batch = val()?.parse()?,
            "--lr" => cfg.cmad.lr = val()?.parse()?,
            "--optimal-is" => cfg.optimal_is = true,
            "--hidden" => cfg.cmad.hidden = val()?.parse()?,
            "--fict-inner" => cfg.fictitious_inner = val()?.parse()?,
            "--cdps-extra" => {
                cfg.cdps_extra_w = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--weights" => weights = Some(std::path::PathBuf::from(val()?)),
            "--grids" => grids = Some(std::path::PathBuf::from(val()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    eprintln!("{cfg:?}");
    println!("digit,n_agents,method,acc_objective,acc_eval,terminal_loss,seam,frechet,control_energy,wall_s,train_loss");
    let mut imgs = Vec::new();
    // one configuration at a time, so that rows appear as they finish
    for &digit in &cfg.digits {
        for &n in &cfg.n_agents {
            let one = MnistRunConfig {
                digits: vec![digit],
                n_agents: vec![n],
                ..cfg.clone()
            };
            let (rows, im) = compose_mnist(&one, weights.as_deref())?;
            imgs.extend(im);
            for r in &rows {
                println!(
                    "{},{},{},{:.4},{:.4},{:.4},{:.4},{:.2},{:.4},{:.1},{:.4}",
                    r.digit,
                    r.n_agents,
                    r.method,
                    r.acc_objective,
                    r.acc_eval,
                    r.terminal_loss,
                    r.seam,
                    r.frechet,
                    r.control_energy,
                    r.wall_s,
                    r.train_loss
                );
            }
        }
    }
    if let Some(dir) = grids {
        std::fs::create_dir_all(&dir)?;
        for g in &imgs {
            mfpid_compose::image::save_grid(&dir.join(format!("{}.png", g.name)), &g.images, 8)?;
        }
    }
    Ok(())
}
