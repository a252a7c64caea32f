//! Grid and ODE solvers for diffusion control problems: the PDE layer of mfpid.
//!
//! Laid out by equation, each with its 1-D and 2-D solvers:
//! - [`fokker_planck`]: Kolmogorov-Fokker-Planck `dp/dt = -div(b p) + (D/2) Laplacian p` by
//!   conservative finite volumes with the Scharfetter-Gummel (exponentially fitted) flux of
//!   [`flux`]: exact mass conservation, exact discrete Gibbs states, positivity with backward
//!   Euler.
//! - [`feynman_kac`]: backward Kolmogorov / Feynman-Kac `-dphi/dt = b phi' + (D/2) phi'' - V phi`
//!   with the exact discrete adjoint of the Fokker-Planck operator.
//! - [`hjb`]: nonlinear HJB `-dJ/dt = b J' - |J'|^2/2 + (D/2) J'' + V` by a monotone upwind
//!   scheme, feedback `u = -J'`.
//! - [`schrodinger`]: the Schrödinger system `p0 = phi_0 phi_hat_0`, `p1 = phi_1 phi_hat_1` by
//!   Fortet/Sinkhorn iteration (log-domain kernels in 1-D, PDE propagation in 2-D), returning
//!   `p_t` and the optimal drift.
//!
//! Shared by them:
//! - [`grid`]: uniform cell-centred grids in 1-D and 2-D, [`Boundary`] conditions;
//! - [`drift`]: drifts at cell faces ([`Drift1d`], [`Drift2d`]) and potentials;
//! - [`flux`]: the Scharfetter-Gummel flux and the assembly of the three-point line operator;
//! - [`stepping`]: the one time-stepping module (backward Euler, Crank-Nicolson and TR-BDF2 line
//!   steps; Lie/Strang split sweeps in 2-D).
//!
//! Also: [`entropy`], the exact discrete entropy balance `dS/dt = Pi - Phi` of the fitted scheme;
//! [`ode`], adaptive Dormand-Prince 5(4) with dense output; [`riccati`], symmetric matrix
//! Riccati equations (packed DP5 and a structure-preserving symplectic Möbius solver).
//!
//! Conventions: `f64` throughout; time `t` in the units of the drift; diffusion `D` is the
//! variance rate of the noise (`dx = b dt + sqrt(D) dW`); densities are cell averages with mass
//! `h * sum(p)`. Failures are [`PdeError`] values naming the offending field; nothing panics on
//! bad input.
//!
//! # Example: Ornstein-Uhlenbeck relaxation
//! ```
//! use mfpid_pde::{FokkerPlanck1d, FpConfig, Grid1d, TimeScheme, Boundary};
//!
//! # fn main() -> Result<(), mfpid_pde::PdeError> {
//! let grid = Grid1d::new(-6.0, 6.0, 240)?;
//! let config = FpConfig { diffusion: 1.0, boundary: Boundary::ZeroFlux,
//!                         scheme: TimeScheme::CrankNicolson, max_peclet: None };
//! let mut fp = FokkerPlanck1d::new(grid, config)?;
//! // start from N(2, 0.3^2); drift b(t, x) = -x given as a closure
//! let mut p = grid.sample(|x| (-(x - 2.0).powi(2) / 0.18).exp());
//! grid.normalize("p", &mut p)?;
//! fp.solve(&mut p, 0.0, 1.0, 200, &|_t: f64, x: f64| -x)?;
//! // exact: N(2/e, 0.09/e^2 + (1 - e^-2)/2)
//! assert!((grid.integrate(&p) - 1.0).abs() < 1e-12);
//! assert!((grid.mean(&p) - 2.0 * (-1.0f64).exp()).abs() < 1e-3);
//! assert!(p.iter().all(|v| *v >= 0.0));
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod drift;
pub mod entropy;
pub mod error;
pub mod feynman_kac;
pub mod flux;
pub mod fokker_planck;
pub mod grid;
pub mod hjb;
pub mod ode;
pub mod riccati;
pub mod schrodinger;
pub mod stepping;
mod tridiag;

pub use drift::{
    potential_faces, Drift1d, Drift2d, FaceField2d, FaceTable, Potential, Potential2d,
    TabulateError, ZeroDrift,
};
pub use entropy::{entropy_rates, EntropyBalance, EntropyRates};
pub use error::{PdeError, Result};
pub use feynman_kac::{FeynmanKac1d, FeynmanKac2d};
pub use fokker_planck::{cell_peclet, gibbs_state, FokkerPlanck1d, FokkerPlanck2d};
pub use grid::{Boundary, Grid1d, Grid2d};
pub use hjb::{feedback_control, Hjb1d, Hjb2d, HjbConfig};
pub use ode::{dopri5, Dopri5Options, OdeSolution};
pub use riccati::{
    solve_riccati, solve_riccati_mobius, ConstantRiccati, RiccatiCoefficients, RiccatiSolution,
    TimeVaryingRiccati,
};
pub use schrodinger::{
    solve_schrodinger, solve_schrodinger_2d, Schrodinger2dConfig, Schrodinger2dSolution,
    SchrodingerConfig, SchrodingerSolution,
};
pub use stepping::{FpConfig, FpConfig2d, Splitting, TimeScheme};
