//! Print the convergence table (`solver,problem,nx,nt,error,order`) as CSV.
//! `cargo run -p mfpid-pde --release --example convergence [-- full]`
use mfpid_pde::study::{convergence_study, StudyLevel};

fn main() -> Result<(), mfpid_pde::PdeError> {
    let level = if std::env::args().any(|a| a == "full") {
        StudyLevel::Full
    } else {
        StudyLevel::Quick
    };
    let start = std::time::Instant::now();
    let rows = convergence_study(level)?;
    println!("solver,problem,nx,nt,error,order");
    for r in rows {
        let order = r.order.map(|o| format!("{o:.3}")).unwrap_or_default();
        println!(
            "{},{},{},{},{:.6e},{}",
            r.solver, r.problem, r.nx, r.nt, r.error, order
        );
    }
    eprintln!("elapsed {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
