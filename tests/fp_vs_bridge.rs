//! Workspace-level check across crates: the 1-D Fokker-Planck solver of `mfpid-pde`, driven by the
//! guided drift of `mfpid-bridge`, transports the bridge's analytic marginal `p*_{t0}` onto the
//! analytic `p*_t` at t in {0.25, 0.5, 0.75} (L1 < 1e-3 on a fine grid).

use mfpid::bridge::{Bridge, GaussianMixture, Protocol};
use mfpid::pde::{Boundary, FaceTable, FokkerPlanck1d, FpConfig, Grid1d, TimeScheme};

fn check(protocol: Protocol, label: &str) {
    let target =
        GaussianMixture::isotropic(1, vec![0.6, 0.4], vec![0.1, 1.5], vec![0.04, 0.09]).unwrap();
    let mut bridge = Bridge::new(&protocol, target).unwrap();
    let grid = Grid1d::new(-3.0, 5.0, 3200).unwrap();
    let (t0, dt): (f64, f64) = (0.05, 5e-4);
    let n_steps = ((0.75 - t0) / dt).round() as usize;
    let times: Vec<f64> = (0..=n_steps).map(|k| t0 + k as f64 * dt).collect();
    // face velocities u*(t_k, x_f), tabulated at the solver's step times
    let faces = grid.faces();
    let mut values = Vec::with_capacity(times.len() * faces.len());
    for &t in &times {
        for &x in &faces {
            values.push(bridge.drift_at(t, &[x], 0).unwrap()[0]);
        }
    }
    let table = FaceTable::new(times.clone(), faces.len(), values).unwrap();
    let analytic = |bridge: &Bridge<GaussianMixture>, t: f64| -> Vec<f64> {
        let m = bridge.marginal(t).unwrap();
        grid.sample(|x| m.log_pdf(&[x]).unwrap().exp())
    };
    let mut p = analytic(&bridge, t0);
    grid.normalize("p", &mut p).unwrap();
    let config = FpConfig {
        diffusion: 1.0,
        boundary: Boundary::ZeroFlux,
        scheme: TimeScheme::CrankNicolson,
        max_peclet: None,
    };
    let mut fp = FokkerPlanck1d::new(grid, config).unwrap();
    let mut k = 0;
    for t_check in [0.25, 0.5, 0.75] {
        while times[k] < t_check - 1e-12 {
            fp.step(&mut p, times[k], dt, &table).unwrap();
            k += 1;
        }
        let exact = analytic(&bridge, t_check);
        let l1 = grid.l1_distance(&p, &exact);
        let mass = grid.integrate(&p);
        eprintln!(
            "{label}: t = {t_check}: L1 = {l1:.2e}, mass - 1 = {:.1e}",
            mass - 1.0
        );
        assert!(l1 < 1e-3, "{label}: L1 {l1:.3e} at t = {t_check}");
        assert!((mass - 1.0).abs() < 1e-12, "{label}: mass {mass}");
        assert!(p.iter().all(|v| *v >= 0.0), "{label}: negative density");
    }
}

#[test]
fn fokker_planck_transports_the_analytic_marginal_adapid() {
    check(Protocol::geometric(1, 12.0, 0.65, 8).unwrap(), "AdaPID");
}

#[test]
fn fokker_planck_transports_the_analytic_marginal_gh_pid() {
    let p = Protocol::geometric(1, 12.0, 0.65, 8)
        .unwrap()
        .with_centre(&[3.0])
        .unwrap();
    check(p, "GH-PID nu = 3");
}
