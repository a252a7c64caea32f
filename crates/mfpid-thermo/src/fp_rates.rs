//! Generic entropy rates from a grid density evolved by `mfpid-pde`'s Fokker-Planck solver.
//!
//! The density of `dx = F(t, x) dt + sqrt(2D) dW` is evolved with [`mfpid_pde::FokkerPlanck1d`]
//! (Scharfetter-Gummel finite volumes, Crank-Nicolson; note the pde crate writes the noise as
//! `sqrt(D_pde) dW`, so `D_pde = 2D`) and [`crate::rates_on_grid`] is applied at each requested time.
//! The error estimate combines the quadrature/derivative estimate on the fine grid with a Richardson
//! estimate of the solver's own discretisation error, `|fine - coarse| / 3`, from a second run with
//! half the cells and twice the time step (both second-order).

use crate::error::{self, Result, ThermoError};
use crate::rates::{rates_on_grid, EntropyRates, RatesEstimate};
use crate::TwoCluster;
use mfpid_pde::{Boundary, FokkerPlanck1d, FpConfig, Grid1d, TimeScheme};
use serde::{Deserialize, Serialize};

/// Grid and time resolution of [`fokker_planck_rates`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FpRatesSetup {
    /// Left end of the domain (zero-flux wall).
    pub lo: f64,
    /// Right end of the domain.
    pub hi: f64,
    /// Cells of the fine grid (even, >= 16; the coarse run uses half).
    pub n_cells: usize,
    /// Largest time step of the fine run.
    pub dt: f64,
    /// Diffusion coefficient `D` of `dx = F dt + sqrt(2D) dW`.
    pub diffusion: f64,
}

fn evolve<F>(
    force: &F,
    p_init: &dyn Fn(f64) -> f64,
    t0: f64,
    times: &[f64],
    setup: &FpRatesSetup,
    n_cells: usize,
    dt: f64,
) -> Result<Vec<RatesEstimate>>
where
    F: Fn(f64, f64) -> f64,
{
    let grid = Grid1d::new(setup.lo, setup.hi, n_cells)?;
    let cfg = FpConfig {
        diffusion: 2.0 * setup.diffusion,
        boundary: Boundary::ZeroFlux,
        scheme: TimeScheme::CrankNicolson,
        max_peclet: None,
    };
    let mut fp = FokkerPlanck1d::new(grid, cfg)?;
    let x = grid.centers();
    let mut p = grid.sample(p_init);
    grid.normalize("p_init", &mut p)?;
    let drift = |t: f64, y: f64| force(t, y);
    let mut t = t0;
    let mut out = Vec::with_capacity(times.len());
    let mut f = vec![0.0; n_cells];
    for &tk in times {
        if tk > t {
            let steps = ((tk - t) / dt).ceil().max(1.0) as usize;
            fp.solve(&mut p, t, tk, steps, &drift)?;
            t = tk;
        }
        for (fi, &xi) in f.iter_mut().zip(&x) {
            *fi = force(tk, xi);
        }
        out.push(rates_on_grid(&x, &p, &f, None, setup.diffusion)?);
    }
    Ok(out)
}

/// Rates `Π, Φ, dS/dt` at each of `times` (sorted ascending, `>= t0`) for the density that starts
/// as `p_init` at `t0` and evolves under `dx = F(t, x) dt + sqrt(2D) dW` (`force(t, x) = F`).
///
/// Errors: invalid setup (`lo >= hi`, odd or too few cells, `dt <= 0`, `D <= 0`), unsorted times,
/// or a solver failure ([`ThermoError::Pde`]).
pub fn fokker_planck_rates<F, P>(
    force: F,
    p_init: P,
    t0: f64,
    times: &[f64],
    setup: &FpRatesSetup,
) -> Result<Vec<RatesEstimate>>
where
    F: Fn(f64, f64) -> f64,
    P: Fn(f64) -> f64,
{
    error::finite("t0", t0)?;
    error::positive("dt", setup.dt)?;
    error::positive("diffusion", setup.diffusion)?;
    if setup.n_cells < 16 || !setup.n_cells.is_multiple_of(2) {
        return Err(ThermoError::OutOfRange {
            what: "n_cells",
            value: setup.n_cells as f64,
            reason: "must be even and >= 16",
        });
    }
    let mut prev = t0;
    for &t in times {
        error::time_in("times", t, prev, f64::MAX)?;
        prev = t;
    }
    let fine = evolve(&force, &p_init, t0, times, setup, setup.n_cells, setup.dt)?;
    let coarse = evolve(
        &force,
        &p_init,
        t0,
        times,
        setup,
        setup.n_cells / 2,
        2.0 * setup.dt,
    )?;
    Ok(fine
        .iter()
        .zip(&coarse)
        .map(|(a, b)| {
            let (ra, rb) = (a.rates, b.rates);
            RatesEstimate {
                rates: EntropyRates {
                    pi: ra.pi,
                    phi: ra.phi,
                    ds_dt: ra.ds_dt,
                },
                pi_err: a.pi_err + (ra.pi - rb.pi).abs() / 3.0,
                phi_err: a.phi_err + (ra.phi - rb.phi).abs() / 3.0,
                ds_dt_err: a.ds_dt_err + (ra.ds_dt - rb.ds_dt).abs() / 3.0,
            }
        })
        .collect())
}

/// Forward-flow rates of the [`TwoCluster`] model at forward `times` from its grid density:
/// `dx = -x dt + sqrt(2D) dW` (the model's OU flow) started from the exact `p_0`.
pub fn two_cluster_forward(
    model: &TwoCluster,
    times: &[f64],
    setup: &FpRatesSetup,
) -> Result<Vec<RatesEstimate>> {
    let p0 = model.marginal(0.0)?;
    fokker_planck_rates(|_, x| -x, |x| p0.density(x), 0.0, times, setup)
}

/// Backward-flow rates of the [`TwoCluster`] model at reverse times `taus` (`τ = T - t`,
/// ascending): the grid density starts from the exact `p_T` and moves under the backward drift
/// `F*(x, τ)` of the marginal at forward time `T - τ`.
pub fn two_cluster_backward(
    model: &TwoCluster,
    horizon: f64,
    taus: &[f64],
    setup: &FpRatesSetup,
) -> Result<Vec<RatesEstimate>> {
    let pt = model.marginal(horizon)?;
    fokker_planck_rates(
        |tau, x| {
            model
                .marginal((horizon - tau).max(0.0))
                .map(|m| m.backward_drift(x))
                .unwrap_or(f64::NAN)
        },
        |x| pt.density(x),
        0.0,
        taus,
        setup,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forward and backward two-cluster rates from the Fokker-Planck density agree with the closed
    /// forms within the stated errors (σ² = 0.1 makes the early density and the late backward
    /// drift sharp).
    #[test]
    fn fokker_planck_rates_match_closed_form() {
        let model = TwoCluster::new(1.0, 0.1).unwrap();
        let horizon = 2.0;
        let setup = FpRatesSetup {
            lo: -7.0,
            hi: 7.0,
            n_cells: 700,
            dt: 2e-3,
            diffusion: 1.0,
        };
        let times = [0.05, 0.3, 1.0, 2.0];
        let fw = two_cluster_forward(&model, &times, &setup).unwrap();
        for (est, &t) in fw.iter().zip(&times) {
            let exact = model.rates_forward(t).unwrap();
            assert!(
                (est.rates.pi - exact.pi).abs() < 3.0 * est.pi_err,
                "fw t={t}: {est:?} vs {exact:?}"
            );
            assert!(
                (est.rates.phi - exact.phi).abs() < 3.0 * est.phi_err + 1e-9,
                "fw t={t}: {est:?} vs {exact:?}"
            );
            assert!(est.pi_err < 0.02 * (1.0 + exact.pi));
        }
        // backward in τ from the exact p_T; compare at τ = T - t
        let taus = [0.0, 1.0, 1.7, 1.95];
        let bw = two_cluster_backward(&model, horizon, &taus, &setup).unwrap();
        for (est, &tau) in bw.iter().zip(&taus) {
            let exact = model.rates_backward(horizon - tau).unwrap();
            assert!(
                (est.rates.pi - exact.pi).abs() < 3.0 * est.pi_err + 1e-9,
                "bw τ={tau}: {est:?} vs {exact:?}"
            );
            assert!(
                (est.rates.phi - exact.phi).abs() < 3.0 * est.phi_err + 1e-9,
                "bw τ={tau}: {est:?} vs {exact:?}"
            );
            assert!(est.pi_err < 0.02 * (1.0 + exact.pi));
        }
        assert!(matches!(
            two_cluster_forward(&model, &[1.0, 0.5], &setup),
            Err(ThermoError::TimeOutOfRange { .. })
        ));
    }
}
