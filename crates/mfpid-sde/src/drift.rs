//! The drift seam: `b(t, x)` evaluated on a batch of particles into a caller-owned buffer.

/// Error a user drift may return from [`Drift::prepare`]; boxed so any crate's typed error fits.
pub type DriftError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A drift `b(t, x): [0, T] x R^d -> R^d` evaluated on batches of particles.
///
/// Conventions:
/// - states are stored row-major, `n x d` (particle `i`, coordinate `j` at `x[i * d + j]`);
/// - [`Drift::prepare`] is called once, serially, for every distinct evaluation time `t` before any
///   [`Drift::eval`] at that `t`. Put all time-only work there (coefficients, factorisations shared
///   by every particle); `eval` is then called concurrently from several threads on disjoint batches;
/// - `first` is the global index of the first particle of the batch, so a drift may depend on
///   per-particle data (e.g. each particle's own start point);
/// - `scratch` is a per-batch buffer owned by the runner and kept across steps: resize it as needed
///   (amortised, no allocation once warm).
///
/// # Example
/// ```
/// use mfpid_sde::Drift;
/// /// Ornstein-Uhlenbeck drift `b(t, x) = -theta x` in `d` dimensions.
/// struct Ou { d: usize, theta: f64 }
/// impl Drift for Ou {
///     fn dim(&self) -> usize { self.d }
///     fn eval(&self, _t: f64, _first: usize, x: &[f64], out: &mut [f64], _s: &mut Vec<f64>) {
///         for (o, xi) in out.iter_mut().zip(x) { *o = -self.theta * xi; }
///     }
/// }
/// let ou = Ou { d: 2, theta: 1.5 };
/// let mut out = [0.0; 4];
/// ou.eval(0.0, 0, &[1.0, 2.0, 3.0, 4.0], &mut out, &mut Vec::new());
/// assert_eq!(out, [-1.5, -3.0, -4.5, -6.0]);
/// ```
pub trait Drift: Send + Sync {
    /// State dimension `d`.
    fn dim(&self) -> usize;

    /// Time-only precomputation for evaluation time `t`; called serially before `eval` at `t`.
    fn prepare(&mut self, t: f64) -> Result<(), DriftError> {
        let _ = t;
        Ok(())
    }

    /// Write `b(t, x_i)` for the `n = x.len() / d` particles `first .. first + n` into `out` (`n x d`).
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], scratch: &mut Vec<f64>);

    /// If this drift is a [`LinearDrift`], expose it (enables [`crate::Scheme::ExactOu`]).
    fn as_linear(&self) -> Option<&LinearDrift> {
        None
    }

    /// An independent copy that can be [prepared](Self::prepare) for another time while this one
    /// keeps its own (default `None`: no copies). With copies, a lockstep run takes several steps
    /// of a chunk while it is in cache ([`crate::RunConfig::tile_steps`]): copy `s` is prepared for
    /// the tile's step `s`, and must then evaluate what this drift would after the same `prepare`.
    fn fork(&self) -> Option<Box<dyn Drift>> {
        None
    }
}

impl<D: Drift + ?Sized> Drift for &mut D {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn as_linear(&self) -> Option<&LinearDrift> {
        (**self).as_linear()
    }
    fn fork(&self) -> Option<Box<dyn Drift>> {
        (**self).fork()
    }
    fn prepare(&mut self, t: f64) -> Result<(), DriftError> {
        (**self).prepare(t)
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], scratch: &mut Vec<f64>) {
        (**self).eval(t, first, x, out, scratch)
    }
}

impl<D: Drift + ?Sized> Drift for Box<D> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn as_linear(&self) -> Option<&LinearDrift> {
        (**self).as_linear()
    }
    fn fork(&self) -> Option<Box<dyn Drift>> {
        (**self).fork()
    }
    fn prepare(&mut self, t: f64) -> Result<(), DriftError> {
        (**self).prepare(t)
    }
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], scratch: &mut Vec<f64>) {
        (**self).eval(t, first, x, out, scratch)
    }
}

/// A drift from a per-particle closure `f(t, x_i, out_i)` (`x_i`, `out_i` of length `d`).
pub struct FnDrift<F> {
    d: usize,
    f: F,
}

impl<F> FnDrift<F>
where
    F: Fn(f64, &[f64], &mut [f64]) + Send + Sync,
{
    /// Wrap `f` as a drift in `d` dimensions.
    pub fn new(d: usize, f: F) -> Self {
        Self { d, f }
    }
}

impl<F> Drift for FnDrift<F>
where
    F: Fn(f64, &[f64], &mut [f64]) + Send + Sync,
{
    fn dim(&self) -> usize {
        self.d
    }
    fn eval(&self, t: f64, _first: usize, x: &[f64], out: &mut [f64], _scratch: &mut Vec<f64>) {
        for (xi, oi) in x.chunks_exact(self.d).zip(out.chunks_exact_mut(self.d)) {
            (self.f)(t, xi, oi);
        }
    }
}

/// Linear (Ornstein-Uhlenbeck) drift `b(t, x)_j = -theta_j (x_j - mu_j)`, diagonal in coordinates.
///
/// This is the drift for which [`crate::Scheme::ExactOu`] is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearDrift {
    /// Mean-reversion rates `theta_j` (1/time), length `d`.
    pub theta: Vec<f64>,
    /// Long-run means `mu_j`, length `d`.
    pub mu: Vec<f64>,
}

impl LinearDrift {
    /// Isotropic OU drift `-theta (x - mu 1)` in `d` dimensions.
    pub fn isotropic(d: usize, theta: f64, mu: f64) -> Self {
        Self {
            theta: vec![theta; d],
            mu: vec![mu; d],
        }
    }
}

impl Drift for LinearDrift {
    fn dim(&self) -> usize {
        self.theta.len()
    }
    fn eval(&self, _t: f64, _first: usize, x: &[f64], out: &mut [f64], _scratch: &mut Vec<f64>) {
        let d = self.theta.len();
        // b_j = -theta_j (x_j - mu_j); isotropic (every theta_j, mu_j the same): one flat loop
        // that vectorises for any d (the same operations)
        if let (Some(theta), Some(mu)) = (
            crate::runner::uniform(&self.theta),
            crate::runner::uniform(&self.mu),
        ) {
            for (o, &xv) in out.iter_mut().zip(x) {
                *o = -theta * (xv - mu);
            }
            return;
        }
        for (xi, oi) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            for j in 0..d {
                oi[j] = -self.theta[j] * (xi[j] - self.mu[j]);
            }
        }
    }
    fn as_linear(&self) -> Option<&LinearDrift> {
        Some(self)
    }
    fn fork(&self) -> Option<Box<dyn Drift>> {
        Some(Box::new(self.clone()))
    }
}
