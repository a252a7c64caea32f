//! Fitted strong/weak/ODE orders within ±0.15 of theory.
use xtask::studies::sde::{fit_orders, ode_errors, sde_errors, StudyConfig, GROUPS, ODE_GROUPS};

#[test]
fn fitted_orders_match_theory() {
    let pts = sde_errors(&StudyConfig::quick(2024));
    let mut fitted = fit_orders(&pts, GROUPS);
    let ode = ode_errors((3, 7)).unwrap();
    fitted.extend(fit_orders(&ode, ODE_GROUPS));
    for p in pts.iter().chain(&ode) {
        eprintln!(
            "{:>15} {:>4} {:>6} h={:.5} err={:.3e} se={:.1e}",
            p.scheme, p.problem, p.kind, p.h, p.error, p.stderr
        );
    }
    for f in &fitted {
        eprintln!(
            "{:>15} {:>4} {:>6} order {:.3} (theory {})",
            f.scheme, f.problem, f.kind, f.order, f.expected
        );
    }
    assert_eq!(fitted.len(), GROUPS.len() + ODE_GROUPS.len());
    for f in &fitted {
        assert!(
            (f.order - f.expected).abs() <= 0.15,
            "{} {} {}: fitted order {:.3}, theory {}",
            f.scheme,
            f.problem,
            f.kind,
            f.order,
            f.expected
        );
    }
}
