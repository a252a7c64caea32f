//! Symmetric matrix Riccati equation
//! `dS/dt = S A(t) + A(t)^T S - S B(t) S + Q(t)` (`B`, `Q` symmetric, `S` symmetric `d x d`),
//! integrated forward or backward from `S(t_start)`.
//!
//! Two solvers:
//! - [`solve_riccati`]: Dormand-Prince 5(4) on the packed upper triangle (`d(d+1)/2` unknowns), so
//!   the iterate is symmetric by construction; any time-dependent coefficients; dense output.
//! - [`solve_riccati_mobius`]: structure-preserving for constant coefficients. With
//!   `S = Y X^{-1}` the pair solves the linear Hamiltonian system
//!   `X' = -A X + B Y`, `Y' = Q X + A^T Y` (matrix `H = [[-A, B], [Q, A^T]]`, `J H` symmetric), so
//!   each step is the exact symplectic map `exp(H dt)` applied to `(I, S_k)` (a matrix Möbius
//!   transformation): no truncation error, only the matrix exponential's rounding.
//!
//! Scalar example (the LQG benchmark of the mean-field spec): `dS/dt = S^2 + 2 kappa S - q` is
//! `A = kappa`, `B = -1`, `Q = -q`.

use nalgebra::DMatrix;

use crate::error::{check_finite, PdeError, Result};
use crate::ode::{dopri5, Dopri5Options, OdeSolution};

/// Coefficients `A(t)`, `B(t)`, `Q(t)` of the Riccati equation.
pub trait RiccatiCoefficients {
    /// Dimension `d` of `S`.
    fn dim(&self) -> usize;
    /// Write `A(t)`, `B(t)`, `Q(t)` (each `d x d`; `B`, `Q` symmetric).
    fn eval(&self, t: f64, a: &mut DMatrix<f64>, b: &mut DMatrix<f64>, q: &mut DMatrix<f64>);
}

/// Time-independent coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantRiccati {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    q: DMatrix<f64>,
}

impl ConstantRiccati {
    /// Validate shapes (all `d x d`), finiteness and the symmetry of `B` and `Q`.
    pub fn new(a: DMatrix<f64>, b: DMatrix<f64>, q: DMatrix<f64>) -> Result<Self> {
        let d = a.nrows();
        for (what, m) in [("A", &a), ("B", &b), ("Q", &q)] {
            if m.nrows() != d || m.ncols() != d {
                return Err(PdeError::DimensionMismatch {
                    what,
                    expected: d * d,
                    found: m.nrows() * m.ncols(),
                });
            }
            check_finite(what, m.as_slice())?;
        }
        check_symmetric("B", &b)?;
        check_symmetric("Q", &q)?;
        Ok(Self { a, b, q })
    }
    /// Scalar equation `dS/dt = 2 a S - b S^2 + q`.
    pub fn scalar(a: f64, b: f64, q: f64) -> Result<Self> {
        Self::new(
            DMatrix::from_element(1, 1, a),
            DMatrix::from_element(1, 1, b),
            DMatrix::from_element(1, 1, q),
        )
    }
    /// `A`.
    pub fn a(&self) -> &DMatrix<f64> {
        &self.a
    }
    /// `B`.
    pub fn b(&self) -> &DMatrix<f64> {
        &self.b
    }
    /// `Q`.
    pub fn q(&self) -> &DMatrix<f64> {
        &self.q
    }
}

impl RiccatiCoefficients for ConstantRiccati {
    fn dim(&self) -> usize {
        self.a.nrows()
    }
    fn eval(&self, _t: f64, a: &mut DMatrix<f64>, b: &mut DMatrix<f64>, q: &mut DMatrix<f64>) {
        a.copy_from(&self.a);
        b.copy_from(&self.b);
        q.copy_from(&self.q);
    }
}

/// Time-dependent coefficients given by a closure `f(t, A, B, Q)` that fills the three matrices.
pub struct TimeVaryingRiccati<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(f64, &mut DMatrix<f64>, &mut DMatrix<f64>, &mut DMatrix<f64>)> TimeVaryingRiccati<F> {
    /// Wrap a closure for a `dim x dim` problem.
    pub fn new(dim: usize, f: F) -> Result<Self> {
        if dim == 0 {
            return Err(PdeError::OutOfRange {
                what: "dim",
                value: 0.0,
                reason: "must be >= 1",
            });
        }
        Ok(Self { dim, f })
    }
}

impl<F: Fn(f64, &mut DMatrix<f64>, &mut DMatrix<f64>, &mut DMatrix<f64>)> RiccatiCoefficients
    for TimeVaryingRiccati<F>
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, a: &mut DMatrix<f64>, b: &mut DMatrix<f64>, q: &mut DMatrix<f64>) {
        (self.f)(t, a, b, q)
    }
}

/// The initial value `S(t_start)`: `d x d`, finite, symmetric.
fn check_start(d: usize, s_start: &DMatrix<f64>) -> Result<()> {
    if s_start.nrows() != d || s_start.ncols() != d {
        return Err(PdeError::DimensionMismatch {
            what: "s_start",
            expected: d * d,
            found: s_start.nrows() * s_start.ncols(),
        });
    }
    check_finite("s_start", s_start.as_slice())?;
    check_symmetric("s_start", s_start)
}

fn check_symmetric(what: &'static str, m: &DMatrix<f64>) -> Result<()> {
    let scale = m.amax().max(1.0);
    for i in 0..m.nrows() {
        for j in 0..i {
            let asym = (m[(i, j)] - m[(j, i)]).abs();
            if asym > 1e-12 * scale {
                return Err(PdeError::OutOfRange {
                    what,
                    value: asym,
                    reason: "must be symmetric (value is |M_ij - M_ji|)",
                });
            }
        }
    }
    Ok(())
}

/// Pack the upper triangle of the symmetric `s` row by row into `out` (`d (d + 1) / 2` values),
/// the state layout of the Riccati solvers.
pub fn pack(s: &DMatrix<f64>, out: &mut [f64]) {
    let d = s.nrows();
    let mut k = 0;
    for i in 0..d {
        for j in i..d {
            out[k] = s[(i, j)];
            k += 1;
        }
    }
}

/// Inverse of [`pack`]: fill the symmetric `s` from its packed upper triangle `v`.
pub fn unpack(v: &[f64], s: &mut DMatrix<f64>) {
    let d = s.nrows();
    let mut k = 0;
    for i in 0..d {
        for j in i..d {
            s[(i, j)] = v[k];
            s[(j, i)] = v[k];
            k += 1;
        }
    }
}

/// Dense solution of [`solve_riccati`].
#[derive(Debug, Clone)]
pub struct RiccatiSolution {
    dim: usize,
    ode: OdeSolution,
}

impl RiccatiSolution {
    /// `S(t)` for any `t` in the integration interval (dense output).
    pub fn eval(&self, t: f64) -> Result<DMatrix<f64>> {
        let mut v = vec![0.0; self.ode.dim()];
        self.ode.eval(t, &mut v)?;
        let mut s = DMatrix::zeros(self.dim, self.dim);
        unpack(&v, &mut s);
        Ok(s)
    }
    /// `S` at the end of the interval.
    pub fn s_end(&self) -> DMatrix<f64> {
        let mut s = DMatrix::zeros(self.dim, self.dim);
        unpack(self.ode.y_end(), &mut s);
        s
    }
    /// The underlying ODE solution (packed upper triangle, row by row).
    pub fn ode(&self) -> &OdeSolution {
        &self.ode
    }
}

/// Integrate the Riccati equation from `(t_start, s_start)` to `t_end` (either direction) with
/// Dormand-Prince 5(4) on the packed upper triangle. `s_start` must be symmetric.
pub fn solve_riccati(
    coeffs: &impl RiccatiCoefficients,
    t_start: f64,
    s_start: &DMatrix<f64>,
    t_end: f64,
    opts: &Dopri5Options,
) -> Result<RiccatiSolution> {
    let d = coeffs.dim();
    check_start(d, s_start)?;
    let m = d * (d + 1) / 2;
    let mut y0 = vec![0.0; m];
    pack(s_start, &mut y0);
    let mut s = DMatrix::zeros(d, d);
    let mut a = DMatrix::zeros(d, d);
    let mut b = DMatrix::zeros(d, d);
    let mut q = DMatrix::zeros(d, d);
    let mut sa = DMatrix::zeros(d, d);
    let mut sb = DMatrix::zeros(d, d);
    let mut r = DMatrix::zeros(d, d);
    let rhs = |t: f64, y: &[f64], dy: &mut [f64]| {
        unpack(y, &mut s);
        coeffs.eval(t, &mut a, &mut b, &mut q);
        sa.gemm(1.0, &s, &a, 0.0); // S A
        sb.gemm(1.0, &s, &b, 0.0); // S B
                                   // Q + S A + A^T S, using A^T S = (S A)^T for symmetric S (no temporaries)
        for i in 0..d {
            for j in 0..d {
                r[(i, j)] = q[(i, j)] + sa[(i, j)] + sa[(j, i)];
            }
        }
        r.gemm(-1.0, &sb, &s, 1.0); // - S B S
        pack(&r, dy);
    };
    let ode = dopri5(rhs, t_start, &y0, t_end, opts)?;
    Ok(RiccatiSolution { dim: d, ode })
}

/// Structure-preserving solver for constant coefficients: `n_steps` exact symplectic (Möbius)
/// steps from `(t_start, s_start)` to `t_end` (either direction). Returns the `n_steps + 1`
/// pairs `(t_k, S(t_k))`. Fails with [`PdeError::Singular`] if `S` escapes to infinity.
pub fn solve_riccati_mobius(
    coeffs: &ConstantRiccati,
    t_start: f64,
    s_start: &DMatrix<f64>,
    t_end: f64,
    n_steps: usize,
) -> Result<Vec<(f64, DMatrix<f64>)>> {
    let d = coeffs.dim();
    check_start(d, s_start)?;
    check_finite("t_start, t_end", &[t_start, t_end])?;
    if n_steps == 0 {
        return Err(PdeError::OutOfRange {
            what: "n_steps",
            value: 0.0,
            reason: "must be >= 1",
        });
    }
    let dt = (t_end - t_start) / n_steps as f64;
    // H = [[-A, B], [Q, A^T]]
    let mut h = DMatrix::zeros(2 * d, 2 * d);
    h.view_mut((0, 0), (d, d)).copy_from(&(-coeffs.a()));
    h.view_mut((0, d), (d, d)).copy_from(coeffs.b());
    h.view_mut((d, 0), (d, d)).copy_from(coeffs.q());
    h.view_mut((d, d), (d, d))
        .copy_from(&coeffs.a().transpose());
    let phi = (h * dt).exp();
    check_finite("exp(H dt)", phi.as_slice())?;
    let mut out = Vec::with_capacity(n_steps + 1);
    let mut s = s_start.clone();
    out.push((t_start, s.clone()));
    let mut xy = DMatrix::zeros(2 * d, d);
    let mut iy = DMatrix::zeros(2 * d, d);
    for k in 0..n_steps {
        iy.view_mut((0, 0), (d, d)).fill_with_identity();
        iy.view_mut((d, 0), (d, d)).copy_from(&s);
        xy.gemm(1.0, &phi, &iy, 0.0);
        let x = xy.view((0, 0), (d, d)).clone_owned();
        let y = xy.view((d, 0), (d, d)).clone_owned();
        let t = t_start + (k + 1) as f64 * dt;
        // S = Y X^{-1}  <=>  X^T S^T = Y^T
        let lu = x.transpose().lu();
        let st = lu.solve(&y.transpose()).ok_or(PdeError::Singular {
            what: "Möbius step X",
            t,
        })?;
        s = 0.5 * (&st + st.transpose());
        check_finite("S", s.as_slice()).map_err(|_| PdeError::Singular {
            what: "Möbius step X",
            t,
        })?;
        out.push((t, s.clone()));
    }
    Ok(out)
}
