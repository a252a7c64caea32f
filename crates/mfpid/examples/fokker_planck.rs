//! Solve the Fokker-Planck equation `dp/dt = d/dx (x p) + ½ d²p/dx²` (the OU process
//! `dx = -x dt + dW`) from a two-component Gaussian mixture, and compare with the exact solution
//! (each component keeps its Gaussian shape: mean `m e^{-t}`, variance `v e^{-2t} + (1 - e^{-2t})/2`)
//! on three grids to show second-order convergence in space.
//!
//! ```sh
//! cargo run -p mfpid --example fokker_planck
//! ```

use mfpid::pde::{Boundary, FokkerPlanck1d, FpConfig, Grid1d, TimeScheme};

/// The two-component mixture `0.6 N(-2, 0.3²) + 0.4 N(2.5, 0.5²)` transported to time `t`.
fn exact(x: f64, t: f64) -> f64 {
    let comp = |w: f64, m: f64, v: f64| {
        let mt = m * (-t).exp();
        let vt = v * (-2.0 * t).exp() + 0.5 * (1.0 - (-2.0 * t).exp());
        w * (-(x - mt).powi(2) / (2.0 * vt)).exp() / (2.0 * std::f64::consts::PI * vt).sqrt()
    };
    comp(0.6, -2.0, 0.09) + comp(0.4, 2.5, 0.25)
}

fn main() -> Result<(), mfpid::Error> {
    let t_end = 0.5;
    println!("  nx    L1 error at t = {t_end}   mass - 1");
    for nx in [100, 200, 400] {
        let grid = Grid1d::new(-6.0, 6.0, nx)?;
        let config = FpConfig {
            diffusion: 1.0,
            boundary: Boundary::ZeroFlux,
            scheme: TimeScheme::CrankNicolson,
            max_peclet: None,
        };
        let mut fp = FokkerPlanck1d::new(grid, config)?;
        let mut p = grid.sample(|x| exact(x, 0.0));
        grid.normalize("p", &mut p)?;
        // drift b(t, x) = -x as a closure; 4 nx time steps keep the time error below the space error
        fp.solve(&mut p, 0.0, t_end, 4 * nx, &|_t: f64, x: f64| -x)?;
        let q = grid.sample(|x| exact(x, t_end));
        println!(
            "{nx:5}    {:.3e}              {:.1e}",
            grid.l1_distance(&p, &q),
            grid.integrate(&p) - 1.0
        );
    }
    Ok(())
}
