//! Implicit steps of one line of cells: `x' = A(t) x (+ wall sources)` with the
//! Scharfetter-Gummel generator `L` of [`crate::flux::assemble_line`], `A = L - V` forward
//! (Fokker-Planck with killing) or `A = L^T - V` backward (Feynman-Kac, the exact discrete
//! adjoint). Theta steps `(I - theta dt A) x_new = (I + (1 - theta) dt A) x` (backward Euler
//! `theta = 1`, Crank-Nicolson `theta = 1/2`) and TR-BDF2; tridiagonal or cyclic solves.

use crate::drift::{Drift1d, Potential};
use crate::error::{check_finite, check_len, check_positive, PdeError, Result};
use crate::flux::{add_apply, assemble_line};
use crate::grid::{Boundary, Grid1d};
use crate::tridiag::{solve_shifted, solve_shifted_cyclic};

use super::{FpConfig, TimeScheme, TRBDF2_GAMMA as GAMMA};

/// Implicit stepper of one line for forward (Fokker-Planck, `A = L - V`) and backward
/// (Feynman-Kac, `A = L^T - V`) three-point evolutions. All scratch is allocated once.
#[derive(Debug, Clone)]
pub(crate) struct LineStepper {
    pub(crate) grid: Grid1d,
    pub(crate) eps: f64,
    pub(crate) bc: Boundary,
    pub(crate) scheme: TimeScheme,
    pub(crate) max_peclet: Option<f64>,
    faces: Vec<f64>,
    centers: Vec<f64>,
    pub(crate) b: Vec<f64>,
    ops: [[Vec<f64>; 4]; 2],
    rhs: Vec<f64>,
    cp: Vec<f64>,
    z: Vec<f64>,
    stage: Vec<f64>,
}

impl LineStepper {
    /// Validate `config` (diffusion, Péclet bound, Dirichlet values) and allocate all scratch.
    pub(crate) fn new(grid: Grid1d, config: &FpConfig) -> Result<Self> {
        let FpConfig {
            diffusion,
            boundary: bc,
            scheme,
            max_peclet,
        } = *config;
        check_positive("diffusion", diffusion)?;
        if let Some(l) = max_peclet {
            check_positive("max_peclet", l)?;
        }
        if let Boundary::Dirichlet { left, right } = bc {
            check_finite("Dirichlet values", &[left, right])?;
        }
        let n = grid.n();
        let v = || vec![0.0; n];
        Ok(Self {
            grid,
            eps: 0.5 * diffusion,
            bc,
            scheme,
            max_peclet,
            faces: grid.faces(),
            centers: grid.centers(),
            b: vec![0.0; n + 1],
            ops: [[v(), v(), v(), v()], [v(), v(), v(), v()]],
            rhs: v(),
            cp: v(),
            z: v(),
            stage: v(),
        })
    }

    /// Assemble operator set `which` at time `t`.
    fn assemble(
        &mut self,
        which: usize,
        t: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        drift.face_velocities(t, &self.faces, &mut self.b)?;
        check_finite("face velocity", &self.b)?;
        let h = self.grid.h();
        let [lo, di, up, src] = &mut self.ops[which];
        assemble_line(
            &self.b,
            self.eps,
            h,
            self.bc,
            self.max_peclet,
            lo,
            di,
            up,
            src,
        )?;
        let n = di.len();
        if transpose {
            self.cp.copy_from_slice(up);
            // (L^T)_{i,i+1} = L_{i+1,i}, (L^T)_{i,i-1} = L_{i-1,i} (indices mod n)
            for (i, u) in up.iter_mut().enumerate() {
                *u = lo[(i + 1) % n];
            }
            for (i, l) in lo.iter_mut().enumerate() {
                *l = self.cp[(i + n - 1) % n];
            }
        }
        if let Some(v) = kill {
            for (i, d) in di.iter_mut().enumerate() {
                let vi = v(t, self.centers[i]);
                if !vi.is_finite() {
                    return Err(PdeError::NonFinite {
                        what: "potential V(t, x)",
                        index: i,
                        value: vi,
                    });
                }
                *d -= vi;
            }
        }
        Ok(())
    }

    fn solve_implicit(&mut self, c: f64, x: &mut [f64]) {
        let [lo, di, up, _] = &self.ops[1];
        if self.bc == Boundary::Periodic {
            solve_shifted_cyclic(c, lo, di, up, x, &mut self.cp, &mut self.z);
        } else {
            solve_shifted(c, lo, di, up, x, &mut self.cp);
        }
    }

    /// One theta step `(I - theta dt A(t_imp)) x_new = x + (1 - theta) dt A(t_exp) x` (+ sources).
    #[allow(clippy::too_many_arguments)]
    fn theta_step(
        &mut self,
        x: &mut [f64],
        theta: f64,
        dt: f64,
        t_exp: f64,
        t_imp: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        self.rhs.copy_from_slice(x);
        // a time-independent operator is assembled once and used for both halves
        let frozen = kill.is_none() && drift.time_independent();
        if frozen {
            self.assemble(1, t_imp, drift, kill, transpose)?;
        }
        if theta < 1.0 {
            let which = if frozen {
                1
            } else {
                self.assemble(0, t_exp, drift, kill, transpose)?;
                0
            };
            let [lo, di, up, src] = &self.ops[which];
            add_apply((1.0 - theta) * dt, lo, di, up, src, x, &mut self.rhs);
        }
        if !frozen {
            self.assemble(1, t_imp, drift, kill, transpose)?;
        }
        for (r, s) in self.rhs.iter_mut().zip(&self.ops[1][3]) {
            *r += theta * dt * s;
        }
        x.copy_from_slice(&self.rhs);
        self.solve_implicit(theta * dt, x);
        Ok(())
    }

    /// Advance `x` from `t_from` by `dt > 0` towards `t_to = t_from ± dt` with the configured scheme.
    pub(crate) fn step(
        &mut self,
        x: &mut [f64],
        t_from: f64,
        t_to: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<()> {
        check_len("state", x.len(), self.grid.n())?;
        let dt = (t_to - t_from).abs();
        check_positive("dt", dt)?;
        match self.scheme {
            TimeScheme::BackwardEuler => {
                self.theta_step(x, 1.0, dt, t_from, t_to, drift, kill, transpose)
            }
            TimeScheme::CrankNicolson => {
                self.theta_step(x, 0.5, dt, t_from, t_to, drift, kill, transpose)
            }
            TimeScheme::TrBdf2 => {
                let t_mid = t_from + GAMMA * (t_to - t_from);
                self.stage.copy_from_slice(x);
                self.theta_step(x, 0.5, GAMMA * dt, t_from, t_mid, drift, kill, transpose)?;
                let w = 1.0 / (GAMMA * (2.0 - GAMMA));
                let w0 = (1.0 - GAMMA) * (1.0 - GAMMA) * w;
                let c = (1.0 - GAMMA) / (2.0 - GAMMA) * dt;
                if !(kill.is_none() && drift.time_independent()) {
                    self.assemble(1, t_to, drift, kill, transpose)?;
                }
                for ((xi, si), src) in x.iter_mut().zip(&self.stage).zip(&self.ops[1][3]) {
                    *xi = w * *xi - w0 * si + c * src;
                }
                self.solve_implicit(c, x);
                Ok(())
            }
        }
    }

    /// Largest `dt` for which the explicit half of CN / TR-BDF2 has non-negative coefficients
    /// with the operator at time `t`: `dt <= 1 / ((1 - theta) max_i |A_ii|)`.
    pub(crate) fn positivity_dt_limit(
        &mut self,
        t: f64,
        drift: &(impl Drift1d + ?Sized),
        kill: Option<Potential<'_>>,
        transpose: bool,
    ) -> Result<f64> {
        self.assemble(0, t, drift, kill, transpose)?;
        let dmax = self.ops[0][1].iter().fold(0.0f64, |m, d| m.max(d.abs()));
        Ok(match self.scheme {
            TimeScheme::BackwardEuler => f64::INFINITY,
            TimeScheme::CrankNicolson => 2.0 / dmax,
            TimeScheme::TrBdf2 => 2.0 / (GAMMA * dmax),
        })
    }
}
