//! Print the `compose-exact` table (`--full` for the reproduction settings, quick otherwise).
//!
//! ```text
//! cargo run --release -p mfpid-compose --example exact_table -- --full
//! ```

use mfpid_compose::exact::{compare, exact_table_csv, ExactProblem, ExactRunConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|a| a == "--full");
    let cfg = if full {
        ExactRunConfig::full()
    } else {
        ExactRunConfig::quick()
    };
    let t0 = std::time::Instant::now();
    let rows = compare(&ExactProblem::reference()?, &cfg)?;
    print!("{}", exact_table_csv(&rows));
    for r in &rows {
        eprintln!(
            "{:<18} running {:.4} ess {:.0}",
            r.method, r.est.running, r.est.ess
        );
    }
    eprintln!("{:.1} s with {cfg:?}", t0.elapsed().as_secs_f64());
    Ok(())
}
