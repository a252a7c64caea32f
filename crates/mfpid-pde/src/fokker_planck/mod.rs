//! Kolmogorov-Fokker-Planck equation `dp/dt = -div(b p) + (D/2) Laplacian p (- V p)` by
//! conservative finite volumes with the Scharfetter-Gummel flux of [`crate::flux`]: exact mass
//! conservation, exact discrete Gibbs states, positivity with backward Euler.
//!
//! - `one_d`: [`FokkerPlanck1d`] (Thomas / cyclic tridiagonal solves), [`gibbs_state`],
//!   [`cell_peclet`];
//! - `two_d`: [`FokkerPlanck2d`] (split line solves).
//!
//! Both step in time with [`crate::stepping`].

mod one_d;
mod two_d;

pub use one_d::{cell_peclet, gibbs_state, FokkerPlanck1d};
pub use two_d::FokkerPlanck2d;
