//! Single-threaded timing of the B-nd d-sweep (profiling aid; `perf record` friendly).
//!
//! `cargo run --release -p mfpid-energy --example sweep_timing -- [d,d,..] [agents] [steps]
//! [separate|lockstep]` prints, per d and method, the energy to full precision and the wall time of
//! the run (`lockstep`: the three methods of each d in one lockstep run, one wall time for the three;
//! the energies are the same either way).

use mfpid_energy::{scenario, Experiment, Method, Recording, Settings};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ds: Vec<usize> = match args.get(1) {
        Some(s) => s.split(',').map(|v| v.parse()).collect::<Result<_, _>>()?,
        None => scenario::D_SWEEP.to_vec(),
    };
    let agents: usize = args.get(2).map_or(Ok(4000), |s| s.parse())?;
    let steps: usize = args.get(3).map_or(Ok(2500), |s| s.parse())?;
    let lockstep = args.get(4).is_some_and(|s| s == "lockstep");
    let t_all = Instant::now();
    for d in ds {
        let mut settings = Settings::paper(agents)
            .with_steps(steps)
            .with_seed(20251122);
        settings.threads = Some(1);
        let exp = Experiment::new(scenario::b_nd(d)?.fleet, settings)?;
        let runs = if lockstep {
            exp.run_all(&Method::standard(), Recording::default())?
        } else {
            Method::standard()
                .iter()
                .map(|m| exp.run(m, Recording::default(), &mut []))
                .collect::<Result<Vec<_>, _>>()?
        };
        for r in runs {
            println!(
                "d={d:2} {:5} E={:.17e} se={:.6e} {:.3} s",
                r.method, r.energy, r.stderr, r.wall_s
            );
        }
    }
    println!("total {:.3} s", t_all.elapsed().as_secs_f64());
    Ok(())
}
