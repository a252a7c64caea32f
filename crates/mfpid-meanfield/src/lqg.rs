//! The LQG benchmark: linear base drift, quadratic running cost around a centre `m̄_t`, Gaussian
//! target, solved by a matrix Riccati equation and linear moment ODEs.
//!
//! Agents follow `dx = (-K x + u) dt + dW`, `x_0 = z` (the spec: `z = 0`), with running cost
//! `|u|²/2 + (x - m̄_t)ᵀ Q (x - m̄_t)/2` and the hard terminal law `x_1 ~ N(m_tar, Σ_tar)`. The
//! optimal control is affine, `u = -(S_t x + s_t)`, with
//!
//! ```text
//! dS/dt = Kᵀ S + S K + S² - Q                 (scalar: S² + 2κS - q)
//! ds/dt = (Kᵀ + S) s + Q m̄_t                  (scalar: q m̄ + (κ + S) s)
//! dm/dt = -(K + S) m - s,   m_0 = z, m_1 = m_tar
//! dΣ/dt = -(K + S) Σ - Σ (K + S)ᵀ + I,  Σ_0 = 0
//! P_t = tr(S Σ S) + |S m + s|²,   E(t) = ∫_0^t P dt
//! ```
//!
//! `S` is fixed by the terminal covariance. By Cole-Hopf the marginal is `p_t = φ_t φ̂_t` with
//! `φ = e^{-J}` of precision `S` and `φ̂` (the forward factor from the Dirac start) of precision
//! `R`, so `Σ_t⁻¹ = S_t + R_t`. `W = R⁻¹` solves the forward Riccati
//! `dW/dt = I - K W - W Kᵀ - W Q W`, `W_0 = 0`, hence `S_1 = Σ_tar⁻¹ - W_1⁻¹`, and `S` is
//! integrated backward from there (both Riccati equations by mfpid-pde's packed DP5).
//!
//! Methods: MF (`m̄ = m`, self-consistent; for symmetric `K`, `m'' = K² m`, so
//! `m_t = sinh(K t) sinh(K)⁻¹ m_tar` from `z = 0`), IA0 (`m̄ ≡ 0`) and IA-target
//! (`m̄ ≡ m_tar`). In every method `(m, s)` solve a linear two-point problem, so shooting on `s_0`
//! is exact with `d + 1` integrations (`m_1` is affine in `s_0`).

use mfpid_pde::riccati::{solve_riccati, unpack, ConstantRiccati, RiccatiSolution};
use mfpid_pde::{dopri5, Dopri5Options, OdeSolution};
use mfpid_sde::observe::{blocked_sum, mean_stderr, Observer, StepView};
use mfpid_sde::{run, Drift, DriftError, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};

/// How the centre `m̄_t` of the running cost is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LqgMethod {
    /// Mean field: `m̄_t = m_t`, the population mean (self-consistent).
    MeanField,
    /// Independent agents aiming at the origin: `m̄ ≡ 0`.
    IndependentZero,
    /// Independent agents aiming at the target mean: `m̄ ≡ m_tar`.
    IndependentTarget,
}

impl LqgMethod {
    /// Name used in tables: `MF`, `IA0`, `IA-target`.
    pub fn label(&self) -> &'static str {
        match self {
            LqgMethod::MeanField => "MF",
            LqgMethod::IndependentZero => "IA0",
            LqgMethod::IndependentTarget => "IA-target",
        }
    }
    /// All three methods.
    pub const ALL: [LqgMethod; 3] = [
        LqgMethod::MeanField,
        LqgMethod::IndependentZero,
        LqgMethod::IndependentTarget,
    ];
}

/// The scalar benchmark in closed form (`d = 1`, `z = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScalarLqg {
    /// `κ` (1/time): base drift `-κ x`.
    pub kappa: f64,
    /// `q` (1/time²): running-cost stiffness.
    pub q: f64,
    /// Target mean.
    pub m_tar: f64,
    /// Target standard deviation.
    pub sigma_tar: f64,
}

impl ScalarLqg {
    /// The spec's reference parameters `κ = 0.6, q = 12, m_tar = 2, σ_tar = 0.5`.
    pub fn reference() -> Self {
        Self {
            kappa: 0.6,
            q: 12.0,
            m_tar: 2.0,
            sigma_tar: 0.5,
        }
    }
    /// `Δ = sqrt(κ² + q)`.
    pub fn delta(&self) -> f64 {
        (self.kappa * self.kappa + self.q).sqrt()
    }
    /// `ρ = (2Δσ² + e^{-2Δ} - 1) / (2Δσ² e^{-2Δ} + e^{-2Δ} - 1)` (fixes `Σ_1 = σ_tar²`).
    pub fn rho(&self) -> f64 {
        let d = self.delta();
        let s2 = self.sigma_tar * self.sigma_tar;
        let e = (-2.0 * d).exp();
        (2.0 * d * s2 + e - 1.0) / (2.0 * d * s2 * e + e - 1.0)
    }
    /// `S_t = -κ + Δ (1 + ρ e^{2Δ(t-1)}) / (1 - ρ e^{2Δ(t-1)})`.
    pub fn s(&self, t: f64) -> f64 {
        let d = self.delta();
        let e = self.rho() * (2.0 * d * (t - 1.0)).exp();
        -self.kappa + d * (1.0 + e) / (1.0 - e)
    }
    /// MF mean `m_t = m_tar sinh(κ t)/sinh κ` (`κ = 0`: `m_tar t`).
    pub fn mf_mean(&self, t: f64) -> f64 {
        if self.kappa == 0.0 {
            self.m_tar * t
        } else {
            self.m_tar * (self.kappa * t).sinh() / self.kappa.sinh()
        }
    }
    /// MF `s_0 = -m'(0) - (κ + S_0) m_0 = -m_tar κ / sinh κ`.
    pub fn mf_s0(&self) -> f64 {
        if self.kappa == 0.0 {
            -self.m_tar
        } else {
            -self.m_tar * self.kappa / self.kappa.sinh()
        }
    }
    /// The matrix configuration of the same problem.
    pub fn config(&self) -> Result<LqgConfig> {
        LqgConfig::new(
            DMatrix::from_element(1, 1, self.kappa),
            DMatrix::from_element(1, 1, self.q),
            vec![self.m_tar],
            DMatrix::from_element(1, 1, self.sigma_tar * self.sigma_tar),
        )
    }
}

/// Configuration of the matrix benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct LqgConfig {
    /// `K` (`d x d`): base drift `f(x) = -K x`.
    pub k: DMatrix<f64>,
    /// `Q` (`d x d`, symmetric positive semi-definite): running-cost stiffness.
    pub q: DMatrix<f64>,
    /// Target mean (length `d`).
    pub m_tar: Vec<f64>,
    /// Target covariance (`d x d`, symmetric positive definite).
    pub sigma_tar: DMatrix<f64>,
    /// Start point `z` (length `d`; the spec: 0).
    pub x0: Vec<f64>,
    /// Integrator tolerances (default `rtol = 1e-12`, `atol = 1e-13`).
    pub opts: Dopri5Options,
}

fn check_square(what: &'static str, m: &DMatrix<f64>, d: usize) -> Result<()> {
    if m.nrows() != d || m.ncols() != d {
        return Err(MeanFieldError::BadLength {
            what,
            len: m.len(),
            expected: format!("{d} x {d}"),
        });
    }
    check_finite(what, m.as_slice())
}

fn check_sym(what: &'static str, m: &DMatrix<f64>) -> Result<()> {
    let asym = (m - m.transpose()).amax();
    if asym > 1e-12 * m.amax().max(1.0) {
        return Err(MeanFieldError::OutOfRange {
            what,
            value: asym,
            range: "symmetric matrices (value is max |M - Mᵀ|)",
        });
    }
    Ok(())
}

impl LqgConfig {
    /// Validated configuration from `x0 = 0`.
    pub fn new(
        k: DMatrix<f64>,
        q: DMatrix<f64>,
        m_tar: Vec<f64>,
        sigma_tar: DMatrix<f64>,
    ) -> Result<Self> {
        let d = m_tar.len();
        if d == 0 {
            return Err(MeanFieldError::ZeroDimension { what: "m_tar" });
        }
        check_finite("m_tar", &m_tar)?;
        check_square("K", &k, d)?;
        check_square("Q", &q, d)?;
        check_square("sigma_tar", &sigma_tar, d)?;
        check_sym("Q", &q)?;
        check_sym("sigma_tar", &sigma_tar)?;
        let min_q = q.clone().symmetric_eigenvalues().min();
        if min_q < -1e-12 * q.amax().max(1.0) {
            return Err(MeanFieldError::OutOfRange {
                what: "smallest eigenvalue of Q",
                value: min_q,
                range: "[0, inf) (Q must be positive semi-definite)",
            });
        }
        if sigma_tar.clone().cholesky().is_none() {
            return Err(MeanFieldError::OutOfRange {
                what: "smallest eigenvalue of sigma_tar",
                value: sigma_tar.clone().symmetric_eigenvalues().min(),
                range: "(0, inf) (the target covariance must be positive definite)",
            });
        }
        Ok(Self {
            k,
            q,
            m_tar,
            sigma_tar,
            x0: vec![0.0; d],
            opts: Dopri5Options {
                rtol: 1e-12,
                atol: 1e-13,
                ..Default::default()
            },
        })
    }

    /// As [`LqgConfig::new`] from row-major slices (`K`, `Q`, `Σ_tar` of length `d²`).
    pub fn from_rows(k: &[f64], q: &[f64], m_tar: Vec<f64>, sigma_tar: &[f64]) -> Result<Self> {
        let d = m_tar.len();
        for (what, v) in [("K", k), ("Q", q), ("sigma_tar", sigma_tar)] {
            if v.len() != d * d {
                return Err(MeanFieldError::BadLength {
                    what,
                    len: v.len(),
                    expected: format!("d² = {}", d * d),
                });
            }
        }
        Self::new(
            DMatrix::from_row_slice(d, d, k),
            DMatrix::from_row_slice(d, d, q),
            m_tar,
            DMatrix::from_row_slice(d, d, sigma_tar),
        )
    }

    /// Start from `x0` instead of the origin.
    pub fn with_start(mut self, x0: Vec<f64>) -> Result<Self> {
        if x0.len() != self.m_tar.len() {
            return Err(MeanFieldError::BadLength {
                what: "x0",
                len: x0.len(),
                expected: format!("d = {}", self.m_tar.len()),
            });
        }
        check_finite("x0", &x0)?;
        self.x0 = x0;
        Ok(self)
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.m_tar.len()
    }
}

/// The solved Riccati part of the benchmark (shared by the three methods).
#[derive(Debug, Clone)]
pub struct Lqg {
    config: LqgConfig,
    /// `S` on `[0, 1]`, integrated backward from `S_1`.
    s_sol: RiccatiSolution,
    /// `W = R⁻¹` on `[0, 1]` from `W_0 = 0`.
    w_sol: RiccatiSolution,
}

impl Lqg {
    /// Solve the two Riccati equations.
    pub fn new(config: LqgConfig) -> Result<Self> {
        let d = config.dim();
        let eye = DMatrix::<f64>::identity(d, d);
        // dW/dt = W A + Aᵀ W - W B W + Q' with A = -Kᵀ, B = Q, Q' = I
        let w_coef = ConstantRiccati::new(-config.k.transpose(), config.q.clone(), eye.clone())?;
        let w_sol = solve_riccati(&w_coef, 0.0, &DMatrix::zeros(d, d), 1.0, &config.opts)?;
        let w1 = w_sol.s_end();
        let r1 = w1.clone().try_inverse().ok_or(MeanFieldError::OutOfRange {
            what: "det W_1",
            value: w1.determinant(),
            range: "nonzero",
        })?;
        let sig_inv = config
            .sigma_tar
            .clone()
            .try_inverse()
            .ok_or(MeanFieldError::OutOfRange {
                what: "det sigma_tar",
                value: config.sigma_tar.determinant(),
                range: "nonzero",
            })?;
        let mut s1 = sig_inv - r1;
        s1 = 0.5 * (&s1 + s1.transpose());
        // dS/dt = S A + Aᵀ S - S B S + Q' with A = K, B = -I, Q' = -Q
        let s_coef = ConstantRiccati::new(config.k.clone(), -eye, -config.q.clone())?;
        let s_sol = solve_riccati(&s_coef, 1.0, &s1, 0.0, &config.opts)?;
        Ok(Self {
            config,
            s_sol,
            w_sol,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LqgConfig {
        &self.config
    }

    /// `S_t` (`d x d`).
    pub fn s_at(&self, t: f64) -> Result<DMatrix<f64>> {
        Ok(self.s_sol.eval(t)?)
    }

    /// `W_t = R_t⁻¹`, the covariance of the forward factor from the Dirac start.
    pub fn w_at(&self, t: f64) -> Result<DMatrix<f64>> {
        Ok(self.w_sol.eval(t)?)
    }

    /// Integrate `[Σ (d², column-major), m, s, E]` from `s_0` for `method`.
    fn integrate(&self, method: LqgMethod, s0: &[f64]) -> Result<OdeSolution> {
        let d = self.config.dim();
        let k = &self.config.k;
        let q = &self.config.q;
        let m_tar = DVector::from_column_slice(&self.config.m_tar);
        let packed = d * (d + 1) / 2;
        let ode = self.s_sol.ode();
        let mut sp = vec![0.0; packed];
        let mut s = DMatrix::<f64>::zeros(d, d);
        let mut ks = DMatrix::<f64>::zeros(d, d);
        let eye = DMatrix::<f64>::identity(d, d);
        let n = d * d + 2 * d + 1;
        let mut y0 = vec![0.0; n];
        y0[d * d..d * d + d].copy_from_slice(&self.config.x0);
        y0[d * d + d..d * d + 2 * d].copy_from_slice(s0);
        let rhs = |t: f64, y: &[f64], dy: &mut [f64]| {
            // S_t from the dense output of the backward Riccati solve (t inside [0, 1])
            if ode.eval(t.clamp(0.0, 1.0), &mut sp).is_err() {
                dy.iter_mut().for_each(|v| *v = f64::NAN);
                return;
            }
            unpack(&sp, &mut s);
            ks.copy_from(k);
            ks += &s; // K + S
            let sig = DMatrix::from_column_slice(d, d, &y[..d * d]);
            let m = DVector::from_column_slice(&y[d * d..d * d + d]);
            let sv = DVector::from_column_slice(&y[d * d + d..d * d + 2 * d]);
            let dsig = -(&ks * &sig) - &sig * ks.transpose() + &eye;
            let dm = -(&ks * &m) - &sv;
            let mbar = match method {
                LqgMethod::MeanField => m.clone(),
                LqgMethod::IndependentZero => DVector::zeros(d),
                LqgMethod::IndependentTarget => m_tar.clone(),
            };
            let ds = (k.transpose() + &s) * &sv + q * mbar;
            let ss = &s * &sig * &s;
            let u = &s * &m + &sv;
            dy[..d * d].copy_from_slice(dsig.as_slice());
            dy[d * d..d * d + d].copy_from_slice(dm.as_slice());
            dy[d * d + d..d * d + 2 * d].copy_from_slice(ds.as_slice());
            dy[n - 1] = ss.trace() + u.norm_squared();
        };
        Ok(dopri5(rhs, 0.0, &y0, 1.0, &self.config.opts)?)
    }

    /// Solve `method`: shooting on `s_0` (exact: `m_1` is affine in `s_0`), then the full moment
    /// and energy trajectory.
    pub fn solve(&self, method: LqgMethod) -> Result<LqgSolution> {
        let d = self.config.dim();
        let mi = d * d;
        let base = self.integrate(method, &vec![0.0; d])?;
        let m_base = DVector::from_column_slice(&base.y_end()[mi..mi + d]);
        let mut jac = DMatrix::<f64>::zeros(d, d);
        for j in 0..d {
            let mut e = vec![0.0; d];
            e[j] = 1.0;
            let sol = self.integrate(method, &e)?;
            for i in 0..d {
                jac[(i, j)] = sol.y_end()[mi + i] - m_base[i];
            }
        }
        let rhs = DVector::from_column_slice(&self.config.m_tar) - m_base;
        let s0 = jac
            .clone()
            .lu()
            .solve(&rhs)
            .ok_or(MeanFieldError::OutOfRange {
                what: "det dm_1/ds_0 (shooting)",
                value: jac.determinant(),
                range: "nonzero",
            })?;
        let traj = self.integrate(method, s0.as_slice())?;
        Ok(LqgSolution {
            method,
            d,
            s0: s0.as_slice().to_vec(),
            traj,
            lqg: self.clone(),
        })
    }
}

/// One method's solution: `s_0` and the dense trajectory of `Σ, m, s, E`.
#[derive(Debug, Clone)]
pub struct LqgSolution {
    /// The method.
    pub method: LqgMethod,
    d: usize,
    /// `s_0` (length `d`).
    pub s0: Vec<f64>,
    traj: OdeSolution,
    lqg: Lqg,
}

/// Moments and control quantities at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LqgPoint {
    /// Time.
    pub t: f64,
    /// Mean `m_t` (length `d`).
    pub m: Vec<f64>,
    /// `s_t` (length `d`).
    pub s: Vec<f64>,
    /// Covariance `Σ_t`, row-major `d x d`.
    pub sigma: Vec<f64>,
    /// `S_t`, row-major `d x d`.
    pub s_mat: Vec<f64>,
    /// Power `P_t = tr(S Σ S) + |S m + s|²`.
    pub power: f64,
    /// Cumulative control energy `E(t)` (no factor ½).
    pub energy: f64,
}

impl LqgSolution {
    /// Everything at time `t` in `[0, 1]` (dense output).
    pub fn at(&self, t: f64) -> Result<LqgPoint> {
        let d = self.d;
        let mut y = vec![0.0; d * d + 2 * d + 1];
        self.traj.eval(t, &mut y)?;
        let s = self.lqg.s_at(t)?;
        let sig = DMatrix::from_column_slice(d, d, &y[..d * d]);
        let m = DVector::from_column_slice(&y[d * d..d * d + d]);
        let sv = DVector::from_column_slice(&y[d * d + d..d * d + 2 * d]);
        let power = (&s * &sig * &s).trace() + (&s * &m + &sv).norm_squared();
        Ok(LqgPoint {
            t,
            m: m.as_slice().to_vec(),
            s: sv.as_slice().to_vec(),
            sigma: sig.transpose().as_slice().to_vec(),
            s_mat: s.transpose().as_slice().to_vec(),
            power,
            energy: y[d * d + 2 * d],
        })
    }

    /// `E(1)`.
    pub fn energy1(&self) -> f64 {
        self.traj.y_end()[self.d * self.d + 2 * self.d]
    }

    /// `Σ_1`, row-major `d x d`.
    pub fn sigma1(&self) -> Vec<f64> {
        let d = self.d;
        DMatrix::from_column_slice(d, d, &self.traj.y_end()[..d * d])
            .transpose()
            .as_slice()
            .to_vec()
    }

    /// `max_t P_t` over `n + 1` equally spaced times.
    pub fn peak_power(&self, n: usize) -> Result<f64> {
        let mut best = f64::NEG_INFINITY;
        for k in 0..=n.max(1) {
            best = best.max(self.at(k as f64 / n.max(1) as f64)?.power);
        }
        Ok(best)
    }

    /// Simulate `n_particles` agents under the feedback `u = -(S x + s)` with Euler-Maruyama on a
    /// uniform grid of `n_steps`; returns the control energy (with standard error) and terminal
    /// moments.
    pub fn simulate(&self, n_particles: usize, n_steps: usize, seed: u64) -> Result<LqgSimulation> {
        let d = self.d;
        let mut drift = LqgDrift::new(self)?;
        let grid = TimeGrid::uniform(0.0, 1.0, n_steps)?;
        let mut ens = Ensemble::filled(n_particles, &self.lqg.config.x0)?;
        let mut energy = FeedbackEnergy::new(self.lqg.config.k.clone());
        let mut mom = mfpid_sde::observe::Moments::new(n_steps, true);
        run(
            &mut drift,
            &Noise::Scalar(1.0),
            &grid,
            &mut ens,
            &RunConfig::new(Scheme::EulerMaruyama, seed),
            &mut [&mut energy, &mut mom],
        )?;
        let last = mom.last().ok_or(MeanFieldError::Empty {
            what: "moment records",
        })?;
        let _ = d;
        Ok(LqgSimulation {
            energy: energy.total(),
            energy_stderr: energy.stderr(),
            mean1: last.mean.clone(),
            cov1: last.cov.clone().unwrap_or_default(),
            times: energy.times.clone(),
            power: energy.power.clone(),
        })
    }
}

/// Particle estimates of an [`LqgSolution`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LqgSimulation {
    /// `E(1) = sum_n h_n mean |u|²`.
    pub energy: f64,
    /// Its standard error (over particles).
    pub energy_stderr: f64,
    /// Terminal mean.
    pub mean1: Vec<f64>,
    /// Terminal covariance, row-major.
    pub cov1: Vec<f64>,
    /// Grid times of the power trace.
    pub times: Vec<f64>,
    /// Power `mean |u|²` per step.
    pub power: Vec<f64>,
}

/// The closed-loop drift `-K x - (S_t x + s_t)` (time-only work in `prepare`).
struct LqgDrift<'a> {
    sol: &'a LqgSolution,
    d: usize,
    /// `K + S_t`, row-major
    ks: Vec<f64>,
    s_vec: Vec<f64>,
    y: Vec<f64>,
    sp: Vec<f64>,
    s: DMatrix<f64>,
}

impl<'a> LqgDrift<'a> {
    fn new(sol: &'a LqgSolution) -> Result<Self> {
        let d = sol.d;
        Ok(Self {
            sol,
            d,
            ks: vec![0.0; d * d],
            s_vec: vec![0.0; d],
            y: vec![0.0; d * d + 2 * d + 1],
            sp: vec![0.0; d * (d + 1) / 2],
            s: DMatrix::zeros(d, d),
        })
    }
}

impl Drift for LqgDrift<'_> {
    fn dim(&self) -> usize {
        self.d
    }
    fn prepare(&mut self, t: f64) -> std::result::Result<(), DriftError> {
        let d = self.d;
        let t = t.clamp(0.0, 1.0);
        self.sol.lqg.s_sol.ode().eval(t, &mut self.sp)?;
        unpack(&self.sp, &mut self.s);
        self.sol.traj.eval(t, &mut self.y)?;
        self.s_vec
            .copy_from_slice(&self.y[d * d + d..d * d + 2 * d]);
        let k = &self.sol.lqg.config.k;
        for i in 0..d {
            for j in 0..d {
                self.ks[i * d + j] = k[(i, j)] + self.s[(i, j)];
            }
        }
        Ok(())
    }
    #[allow(clippy::needless_range_loop)] // dense d x d product, row-major
    fn eval(&self, _t: f64, _first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
        let d = self.d;
        for (xi, oi) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            for i in 0..d {
                let mut v = -self.s_vec[i];
                for j in 0..d {
                    v -= self.ks[i * d + j] * xi[j];
                }
                oi[i] = v;
            }
        }
    }
}

/// Control energy of a run whose drift is `b = f(x) + u` with base drift `f(x) = -K x`:
/// `E = sum_n h_n mean_i |b_i + K x_i|²` (left sum, no factor ½), with per-particle energies for
/// the standard error.
#[derive(Debug, Clone)]
pub struct FeedbackEnergy {
    k: DMatrix<f64>,
    /// Grid times of the power trace.
    pub times: Vec<f64>,
    /// Power `P_n = mean_i |u_i|²`.
    pub power: Vec<f64>,
    /// Energy per particle.
    pub per_particle: Vec<f64>,
    partials: Vec<f64>,
    buf: Vec<f64>,
    total: f64,
}

impl FeedbackEnergy {
    /// For base drift `-K x`.
    pub fn new(k: DMatrix<f64>) -> Self {
        Self {
            k,
            times: Vec::new(),
            power: Vec::new(),
            per_particle: Vec::new(),
            partials: Vec::new(),
            buf: vec![0.0],
            total: 0.0,
        }
    }
    /// `E(1)`.
    pub fn total(&self) -> f64 {
        self.total
    }
    /// Standard error of the mean per-particle energy.
    pub fn stderr(&self) -> f64 {
        mean_stderr(&self.per_particle).1
    }
}

impl Observer for FeedbackEnergy {
    fn start(&mut self, _grid: &TimeGrid, n: usize, _d: usize) {
        self.times.clear();
        self.power.clear();
        self.per_particle = vec![0.0; n];
        self.total = 0.0;
    }
    fn observe(&mut self, v: &StepView<'_>) {
        let Some(b) = v.drift else { return };
        let (d, x, h) = (v.dim, v.x, v.h);
        let k = &self.k;
        let u2 = |i: usize| -> f64 {
            let mut s = 0.0;
            for a in 0..d {
                let mut u = b[i * d + a];
                for c in 0..d {
                    u += k[(a, c)] * x[i * d + c];
                }
                s += u * u;
            }
            s
        };
        self.per_particle
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, e)| *e += h * u2(i));
        blocked_sum(
            v.comm,
            v.n_particles(),
            1,
            &mut self.partials,
            &mut self.buf,
            |i, acc| {
                acc[0] += u2(i);
            },
        );
        let p = self.buf[0] / v.total_particles as f64;
        self.times.push(v.t);
        self.power.push(p);
        self.total += h * p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_reference_numbers() {
        let sc = ScalarLqg::reference();
        assert!((sc.delta() - 3.515679).abs() < 5e-7, "Delta {}", sc.delta());
        assert!((sc.rho() + 0.760577).abs() < 5e-7, "rho {}", sc.rho());
        let lqg = Lqg::new(sc.config().unwrap()).unwrap();
        // the Cole-Hopf S_1 and the backward Riccati reproduce the closed-form S_t
        for k in 0..=20 {
            let t = k as f64 / 20.0;
            let s = lqg.s_at(t).unwrap()[(0, 0)];
            assert!((s - sc.s(t)).abs() < 1e-9, "S({t}) = {s} vs {}", sc.s(t));
        }
        let expect = [
            (LqgMethod::MeanField, sc.mf_s0(), 7.60372),
            (LqgMethod::IndependentZero, -0.418421, 10.46880),
            (LqgMethod::IndependentTarget, -6.850825, 10.81088),
        ];
        for (method, s0, e1) in expect {
            let sol = lqg.solve(method).unwrap();
            eprintln!(
                "{}: s0 = {:.8}, E(1) = {:.8}, Sigma_1 = {:.10}, peak {:.5}",
                method.label(),
                sol.s0[0],
                sol.energy1(),
                sol.sigma1()[0],
                sol.peak_power(1000).unwrap()
            );
            assert!(
                (sol.s0[0] - s0).abs() < 5e-7,
                "{} s0 {}",
                method.label(),
                sol.s0[0]
            );
            assert!(
                (sol.energy1() - e1).abs() < 5e-6,
                "{} E(1) {}",
                method.label(),
                sol.energy1()
            );
            assert!((sol.sigma1()[0] - 0.25).abs() < 1e-9);
            let end = sol.at(1.0).unwrap();
            assert!((end.m[0] - 2.0).abs() < 1e-9);
            // the power trace integrates to E(1) (trapezoid on a fine grid)
            let n = 4000;
            let mut e = 0.0;
            let mut prev = sol.at(0.0).unwrap().power;
            for k in 1..=n {
                let p = sol.at(k as f64 / n as f64).unwrap().power;
                e += 0.5 * (p + prev) / n as f64;
                prev = p;
            }
            assert!((e - sol.energy1()).abs() < 1e-5, "{e} vs {}", sol.energy1());
            if method == LqgMethod::MeanField {
                for k in 1..10 {
                    let t = k as f64 / 10.0;
                    let m = sol.at(t).unwrap().m[0];
                    assert!((m - sc.mf_mean(t)).abs() < 1e-9, "MF mean at {t}");
                }
            }
        }
    }

    fn sym(d: usize, v: &[f64]) -> DMatrix<f64> {
        DMatrix::from_row_slice(d, d, v)
    }

    fn two_d() -> LqgConfig {
        LqgConfig::new(
            sym(2, &[0.6, 0.2, 0.2, 0.3]),
            sym(2, &[12.0, 2.0, 2.0, 6.0]),
            vec![2.0, -1.0],
            sym(2, &[0.25, 0.05, 0.05, 0.16]),
        )
        .unwrap()
    }

    #[test]
    fn matrix_reduces_to_scalar_problems_when_decoupled() {
        let a = ScalarLqg::reference();
        let b = ScalarLqg {
            kappa: 0.2,
            q: 5.0,
            m_tar: -1.0,
            sigma_tar: 0.7,
        };
        let cfg = LqgConfig::new(
            sym(2, &[a.kappa, 0.0, 0.0, b.kappa]),
            sym(2, &[a.q, 0.0, 0.0, b.q]),
            vec![a.m_tar, b.m_tar],
            sym(2, &[0.25, 0.0, 0.0, 0.49]),
        )
        .unwrap();
        let lqg = Lqg::new(cfg).unwrap();
        let la = Lqg::new(a.config().unwrap()).unwrap();
        let lb = Lqg::new(b.config().unwrap()).unwrap();
        for m in LqgMethod::ALL {
            let e2 = lqg.solve(m).unwrap().energy1();
            let e = la.solve(m).unwrap().energy1() + lb.solve(m).unwrap().energy1();
            assert!((e2 - e).abs() < 1e-8, "{}: {e2} vs {e}", m.label());
        }
    }

    #[test]
    fn matrix_two_d_moments_and_mf_closed_form() {
        let cfg = two_d();
        let k = cfg.k.clone();
        let lqg = Lqg::new(cfg).unwrap();
        let eig = k.clone().symmetric_eigen();
        let sinh_k = |t: f64| {
            let dvals = eig.eigenvalues.map(|l| (l * t).sinh());
            &eig.eigenvectors * DMatrix::from_diagonal(&dvals) * eig.eigenvectors.transpose()
        };
        let inv1 = sinh_k(1.0).try_inverse().unwrap();
        let mt = DVector::from_column_slice(&[2.0, -1.0]);
        for m in LqgMethod::ALL {
            let sol = lqg.solve(m).unwrap();
            let s1 = sol.sigma1();
            for (a, b) in s1.iter().zip([0.25, 0.05, 0.05, 0.16]) {
                assert!((a - b).abs() < 1e-9, "{}: Sigma_1 {s1:?}", m.label());
            }
            let end = sol.at(1.0).unwrap();
            assert!((end.m[0] - 2.0).abs() < 1e-9 && (end.m[1] + 1.0).abs() < 1e-9);
            if m == LqgMethod::MeanField {
                for j in 1..10 {
                    let t = j as f64 / 10.0;
                    let exact = sinh_k(t) * &inv1 * &mt;
                    let got = sol.at(t).unwrap().m;
                    assert!((got[0] - exact[0]).abs() < 1e-9 && (got[1] - exact[1]).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn particles_match_closed_form_energy_within_4_stderr() {
        let lqg1 = Lqg::new(ScalarLqg::reference().config().unwrap()).unwrap();
        let lqg2 = Lqg::new(two_d()).unwrap();
        for (lqg, name) in [(&lqg1, "d=1"), (&lqg2, "d=2")] {
            for m in LqgMethod::ALL {
                let sol = lqg.solve(m).unwrap();
                let sim = sol.simulate(4096, 800, 11).unwrap();
                let z = (sim.energy - sol.energy1()) / sim.energy_stderr;
                eprintln!(
                    "{name} {}: E_sim = {:.4} ± {:.4}, E(1) = {:.5}, z = {z:.2}",
                    m.label(),
                    sim.energy,
                    sim.energy_stderr,
                    sol.energy1()
                );
                assert!(z.abs() < 4.0, "{name} {}: z = {z}", m.label());
                let d = lqg.config().dim();
                for j in 0..d {
                    let se = (sim.cov1[j * d + j] / 4096.0).sqrt();
                    assert!((sim.mean1[j] - lqg.config().m_tar[j]).abs() < 4.0 * se);
                }
            }
        }
    }

    #[test]
    fn bad_configuration_rejected() {
        let one = |v: f64| DMatrix::from_element(1, 1, v);
        assert!(LqgConfig::new(one(0.6), one(-1.0), vec![1.0], one(0.25)).is_err());
        assert!(LqgConfig::new(one(0.6), one(1.0), vec![1.0], one(-0.25)).is_err());
        assert!(LqgConfig::new(one(0.6), one(1.0), vec![f64::NAN], one(0.25)).is_err());
        assert!(LqgConfig::new(one(0.6), one(1.0), vec![], one(0.25)).is_err());
        assert!(LqgConfig::new(
            sym(2, &[1.0, 0.0, 0.0, 1.0]),
            one(1.0),
            vec![1.0],
            one(0.25)
        )
        .is_err());
        assert!(LqgConfig::new(
            sym(2, &[1.0, 0.0, 0.0, 1.0]),
            sym(2, &[1.0, 0.5, 0.0, 1.0]),
            vec![1.0, 0.0],
            sym(2, &[1.0, 0.0, 0.0, 1.0])
        )
        .is_err());
    }
}
