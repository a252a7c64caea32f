//! The guided optimal drift `u*(t, x; z)` of a path-integral diffusion bridge.

use std::sync::Arc;

use mfpid_sde::{Drift, DriftError};

use crate::coefficients::{Backward, Coefficients};
use crate::error::{check_finite, BridgeError, Result};
use crate::protocol::Protocol;
use crate::target::{DriftForm, Target};

/// Default time cut-off: the drift is evaluated on `[eps, 1 - eps]`.
pub const DEFAULT_EPS: f64 = 1e-3;

/// A path-integral diffusion bridge: protocol coefficients (precomputed), a target and start
/// points, exposing the optimal drift
///
/// ```text
/// u*(t, x; z) = -a⁻ (x - z) + θx(nu - z) + b⁻ (ŷ - z),   ŷ = E_q[y],
/// q(y) ∝ p_tar(y) N(y; mu, I/K_t),   mu = z + (b⁻ (x - z) + θy(nu - z) - θ⁺_1(nu - z)) / K_t
/// ```
///
/// for `dx = u dt + dW` (unit diffusion). With `θ(nu - z) = θ(nu) - λ z` this is
/// `u = -a⁻ x + θx + b⁻ ŷ + (a⁻ - λx - b⁻) z` and
/// `mu = (b⁻ x + Θ + (K - b⁻ - λy + λ⁺_1) z) / K`, `Θ = θy - θ⁺_1`: O(d) extra work per particle.
///
/// As an [`mfpid_sde::Drift`]: `prepare(t)` clamps `t` into `[eps, 1 - eps]`, evaluates the
/// coefficients there and lets the target do its per-step work (e.g. factorise `S_k`); `eval` then
/// computes the drift of each particle with start `z_i`, where particle `i` (global index) uses start
/// row `(i - starts_offset) mod n_starts` (one row = a common start; no rows = the origin; the
/// offset is non-zero when one rank holds only its shard's starts, see [`Bridge::with_starts_at`]).
#[derive(Debug, Clone)]
pub struct Bridge<T> {
    coeffs: Coefficients,
    target: T,
    eps: f64,
    /// shared by the bridge's [forks](Drift::fork)
    starts: Arc<Vec<f64>>,
    /// Global index of the particle of start row 0.
    starts_offset: usize,
    // ---- state of the last `prepare` ----
    prepared: f64,
    bw: Backward,
    inv_k: f64,
    /// `(K - b⁻ - λy + λ⁺_1)/K`: coefficient of `z` in the probe mean
    z_probe: f64,
    /// `a⁻ - λx - b⁻`: coefficient of `z` in the drift
    z_drift: f64,
    /// use the target's fused batch drift ([`Target::drift_rows`]) where it has one
    fused: bool,
}

impl<T: Target> Bridge<T> {
    /// A bridge from the origin for `protocol` to `target` (same dimension), `eps` = [`DEFAULT_EPS`].
    pub fn new(protocol: &Protocol, target: T) -> Result<Self> {
        if target.dim() != protocol.dim() {
            return Err(BridgeError::DimensionMismatch {
                what: "target",
                expected: protocol.dim(),
                found: target.dim(),
            });
        }
        Ok(Self {
            coeffs: Coefficients::new(protocol),
            target,
            eps: DEFAULT_EPS,
            starts: Arc::new(Vec::new()),
            starts_offset: 0,
            prepared: f64::NAN,
            bw: Backward::default(),
            inv_k: f64::NAN,
            z_probe: f64::NAN,
            z_drift: f64::NAN,
            fused: true,
        })
    }

    /// Whether [`Drift::eval`] may use the target's fused batch drift ([`Target::drift_rows`],
    /// e.g. isotropic and diagonal Gaussian mixtures; the default) or always takes the
    /// per-particle path. The two agree to rounding (about 1e-15 relative), not bit for bit.
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
    }

    /// Set the time cut-off `eps` in `(0, 0.5)`.
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        if !(eps > 0.0 && eps < 0.5) {
            return Err(BridgeError::OutOfRange {
                what: "eps",
                value: eps,
                range: "(0, 0.5)",
            });
        }
        self.eps = eps;
        self.prepared = f64::NAN;
        Ok(self)
    }

    /// One common start point `z` (length `d`) for every particle.
    pub fn with_start(self, z: &[f64]) -> Result<Self> {
        if z.len() != self.dim() {
            return Err(BridgeError::DimensionMismatch {
                what: "start point",
                expected: self.dim(),
                found: z.len(),
            });
        }
        self.with_starts(z.to_vec())
    }

    /// Per-particle start points, row-major `n x d` (`n >= 1`); particle `i` uses row `i mod n`.
    pub fn with_starts(mut self, starts: Vec<f64>) -> Result<Self> {
        let d = self.dim();
        if starts.is_empty() {
            return Err(BridgeError::Empty {
                what: "start points",
            });
        }
        if !starts.len().is_multiple_of(d) {
            return Err(BridgeError::BadLength {
                what: "start points",
                len: starts.len(),
                expected: format!("a multiple of d = {d}"),
            });
        }
        check_finite("start points", &starts)?;
        self.starts = Arc::new(starts);
        self.starts_offset = 0;
        Ok(self)
    }

    /// The start points of the global particles `offset .. offset + n` only (row-major `n x d`,
    /// e.g. one rank's shard of a population split across processes): particle `i` uses row
    /// `i - offset`, so a rank needs no memory for the other ranks' starts.
    pub fn with_starts_at(self, offset: usize, starts: Vec<f64>) -> Result<Self> {
        let mut b = self.with_starts(starts)?;
        b.starts_offset = offset;
        Ok(b)
    }

    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.coeffs.dim()
    }

    /// The precomputed coefficients.
    pub fn coefficients(&self) -> &Coefficients {
        &self.coeffs
    }

    /// The protocol.
    pub fn protocol(&self) -> &Protocol {
        self.coeffs.protocol()
    }

    /// The target.
    pub fn target(&self) -> &T {
        &self.target
    }

    /// The time cut-off `eps`.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Start points, row-major `n x d` (empty: every particle starts at the origin).
    pub fn starts(&self) -> &[f64] {
        &self.starts
    }

    /// Number of start rows (0 for the origin).
    pub fn n_starts(&self) -> usize {
        self.starts.len() / self.dim()
    }

    /// The start point of global particle `i` (`None` for the origin).
    pub fn start_of(&self, i: usize) -> Option<&[f64]> {
        let n = self.n_starts();
        if n == 0 {
            return None;
        }
        let d = self.dim();
        let r = i.checked_sub(self.starts_offset).unwrap_or(i) % n;
        Some(&self.starts[r * d..(r + 1) * d])
    }

    /// The evaluation time used for `t`: `t` clamped into `[eps, 1 - eps]`.
    pub fn clamp_time(&self, t: f64) -> f64 {
        t.clamp(self.eps, 1.0 - self.eps)
    }

    /// Per-step work for time `t` (clamped into `[eps, 1 - eps]`): coefficients, `K_t`, and the
    /// target's factorisations. Called by [`Drift::prepare`].
    pub fn prepare_time(&mut self, t: f64) -> Result<()> {
        if !t.is_finite() {
            return Err(BridgeError::TimeOutOfDomain {
                t,
                domain: "finite times",
            });
        }
        let te = self.clamp_time(t);
        self.coeffs.backward_into(te, &mut self.bw)?;
        let k = self.bw.k;
        self.target.prepare(k, te)?;
        self.inv_k = 1.0 / k;
        let b = self.bw.b_minus;
        self.z_probe = (k - b - self.bw.lambda_y + self.coeffs.lambda_plus_1()) * self.inv_k;
        self.z_drift = self.bw.a_minus - self.bw.lambda_x - b;
        self.prepared = te;
        Ok(())
    }

    /// The drift at the prepared time as affine maps around the probe mean (see [`DriftForm`]).
    pub fn form(&self) -> DriftForm<'_> {
        DriftForm {
            x_probe: self.bw.b_minus,
            c_probe: &self.bw.theta_probe,
            inv_k: self.inv_k,
            z_probe: self.z_probe,
            a: self.bw.a_minus,
            c_drift: &self.bw.theta_x,
            y_drift: self.bw.b_minus,
            z_drift: self.z_drift,
        }
    }

    /// The backward coefficients of the last [`Bridge::prepare_time`].
    pub fn prepared(&self) -> &Backward {
        &self.bw
    }

    /// Work slice length for [`Bridge::drift_one`].
    pub fn work_len(&self) -> usize {
        2 * self.dim() + self.target.work_len()
    }

    /// `u*(t, x; z_i)` for one particle with global index `particle` at the prepared time
    /// (`x`, `out` of length `d`; `work` of length [`Bridge::work_len`]).
    #[inline]
    pub fn drift_one(&self, x: &[f64], particle: usize, out: &mut [f64], work: &mut [f64]) {
        self.drift_from(x, self.start_of(particle), particle, out, work);
    }

    /// `u*(t, x; z)` for one particle with start `z` (`None`: the origin) at the prepared time.
    #[inline]
    fn drift_from(
        &self,
        x: &[f64],
        z: Option<&[f64]>,
        particle: usize,
        out: &mut [f64],
        work: &mut [f64],
    ) {
        let d = self.dim();
        let (x, out) = (&x[..d], &mut out[..d]);
        let (mu, rest) = work.split_at_mut(d);
        let (yhat, tw) = rest.split_at_mut(d);
        let (a, b, ik) = (self.bw.a_minus, self.bw.b_minus, self.inv_k);
        let (tx, tp) = (&self.bw.theta_x[..d], &self.bw.theta_probe[..d]);
        // probe mean mu = (b⁻ x + Θ)/K (+ z_probe z)
        match z {
            None => {
                for ((m, &xj), &tj) in mu.iter_mut().zip(x).zip(tp) {
                    *m = (b * xj + tj) * ik;
                }
            }
            Some(z) => {
                let zp = self.z_probe;
                for ((m, &xj), (&tj, &zj)) in mu.iter_mut().zip(x).zip(tp.iter().zip(&z[..d])) {
                    *m = (b * xj + tj) * ik + zp * zj;
                }
            }
        }
        self.target.probe_mean(mu, particle, yhat, tw);
        // u = -a⁻ x + θx + b⁻ ŷ (+ z_drift z)
        match z {
            None => {
                for ((o, &xj), (&tj, &yj)) in out.iter_mut().zip(x).zip(tx.iter().zip(&*yhat)) {
                    *o = -a * xj + tj + b * yj;
                }
            }
            Some(z) => {
                let zd = self.z_drift;
                for (((o, &xj), (&tj, &yj)), &zj) in out
                    .iter_mut()
                    .zip(x)
                    .zip(tx.iter().zip(&*yhat))
                    .zip(&z[..d])
                {
                    *o = -a * xj + tj + b * yj + zd * zj;
                }
            }
        }
    }

    /// Convenience: prepare `t` and return `u*(t, x; z_particle)` (allocates; for tests and probes).
    pub fn drift_at(&mut self, t: f64, x: &[f64], particle: usize) -> Result<Vec<f64>> {
        if x.len() != self.dim() {
            return Err(BridgeError::DimensionMismatch {
                what: "x",
                expected: self.dim(),
                found: x.len(),
            });
        }
        self.prepare_time(t)?;
        let mut out = vec![0.0; self.dim()];
        let mut work = vec![0.0; self.work_len()];
        self.drift_one(x, particle, &mut out, &mut work);
        Ok(out)
    }
}

impl<T: Target> Drift for Bridge<T> {
    fn dim(&self) -> usize {
        self.coeffs.dim()
    }

    fn prepare(&mut self, t: f64) -> std::result::Result<(), DriftError> {
        self.prepare_time(t).map_err(|e| Box::new(e) as DriftError)
    }

    /// A copy on the target's [fork](Target::fork), sharing the starts.
    fn fork(&self) -> Option<Box<dyn Drift>> {
        let target = self.target.fork()?;
        Some(Box::new(Bridge {
            coeffs: self.coeffs.clone(),
            target,
            eps: self.eps,
            starts: Arc::clone(&self.starts),
            starts_offset: self.starts_offset,
            prepared: self.prepared,
            bw: self.bw.clone(),
            inv_k: self.inv_k,
            z_probe: self.z_probe,
            z_drift: self.z_drift,
            fused: self.fused,
        }))
    }

    /// Batch drift. If `t` (clamped) is not the prepared time, writes NaN (the runner then reports a
    /// non-finite drift) instead of silently using stale coefficients.
    fn eval(&self, t: f64, first: usize, x: &[f64], out: &mut [f64], scratch: &mut Vec<f64>) {
        let d = self.dim();
        if self.clamp_time(t) != self.prepared {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            return;
        }
        let n = self.n_starts();
        let count = x.len() / d;
        if self.fused {
            // the target's batch path: the chunk's starts are contiguous rows (or the origin)
            let z = if n == 0 {
                Some(None)
            } else if n == 1 {
                // one common start
                Some(Some(&self.starts[..d]))
            } else if first >= self.starts_offset && first - self.starts_offset + count <= n {
                // particle i uses start row i - offset (a rank holding only its shard's starts)
                let r0 = first - self.starts_offset;
                Some(Some(&self.starts[r0 * d..(r0 + count) * d]))
            } else {
                None
            };
            if let Some(z) = z {
                if self.target.drift_rows(&self.form(), x, z, out, scratch) {
                    return;
                }
            }
        }
        let wl = self.work_len();
        if scratch.len() < wl {
            scratch.resize(wl, 0.0);
        }
        let work = &mut scratch[..wl];
        let rows = x.chunks_exact(d).zip(out.chunks_exact_mut(d));
        if n == 0 {
            for (p, (xi, oi)) in rows.enumerate() {
                self.drift_from(xi, None, first + p, oi, work);
            }
        } else if first >= self.starts_offset && first - self.starts_offset + count <= n {
            // particle i uses start row i - offset: the chunk's rows are contiguous (no `mod n`)
            let r0 = first - self.starts_offset;
            let zs = self.starts[r0 * d..(r0 + count) * d].chunks_exact(d);
            for (p, ((xi, oi), zi)) in rows.zip(zs).enumerate() {
                self.drift_from(xi, Some(zi), first + p, oi, work);
            }
        } else {
            for (p, (xi, oi)) in rows.enumerate() {
                self.drift_one(xi, first + p, oi, work);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::GaussianMixture;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random mixture of `n` components in dimension `d`: isotropic or diagonal.
    fn random_mixture(rng: &mut ChaCha8Rng, d: usize, n: usize, diagonal: bool) -> GaussianMixture {
        let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.05..1.0)).collect();
        let m: Vec<f64> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        if diagonal {
            let s = (0..n * d).map(|_| rng.random_range(0.01..2.0)).collect();
            GaussianMixture::diagonal(d, w, m, s).unwrap()
        } else {
            let s = (0..n).map(|_| rng.random_range(0.01..2.0)).collect();
            GaussianMixture::isotropic(d, w, m, s).unwrap()
        }
    }

    /// Largest `|l_k|` of the probe log-weights `l_k = log pi_k - 1/2 Σ_j (log S_kj +
    /// (mu_j - m_kj)² / S_kj)`, `S_kj = s_kj + 1/K`, of one row: any summation order leaves
    /// them an absolute error of about `d ε max|l|`, which the soft-max carries into the drift.
    fn max_log_weight(g: &GaussianMixture, k: f64, mu: &[f64]) -> f64 {
        let d = mu.len();
        let w = g.weights();
        (0..g.components())
            .map(|c| {
                let var = g.component_variances(c);
                let m = &g.means()[c * d..(c + 1) * d];
                let mut l = w[c].ln();
                for j in 0..d {
                    let s = var[j] + 1.0 / k;
                    l -= 0.5 * (s.ln() + (mu[j] - m[j]).powi(2) / s);
                }
                l.abs()
            })
            .fold(0.0, f64::max)
    }

    /// The fused batch drift of isotropic and diagonal mixtures equals the per-particle path to
    /// 1e-12 relative to the size of the drift's terms, `|Δu| <= 1e-12 (1 + |u| + a⁻|x| +
    /// |z_drift| |z|)` for `t >= 0.2` (near `t = 1` the terms `-a⁻ x` and `b⁻ ŷ`,
    /// `a⁻ ≈ b⁻ ≈ 1/(1 - t)`, cancel to a small `u`), and at all times with that bound times the
    /// soft-max's condition `max(1, d ε max_k |l_k| / 1e-12)`: random targets
    /// (K = 1..6, d = 1..33), random protocols with centres, per-particle starts, one common start
    /// and the origin,
    /// chunks at several offsets, particles near and far from the components, times across
    /// `[0, 1)` including both cut-offs. At the start cut-off `t = eps` the probe precision `K` is
    /// about 1e-4, the log-weights reach 1e5..1e7 (`|mu|² K / 2` with `|mu| ~ |x| / K`), and
    /// their rounding in either summation order (about `d ε |l|`) is that much larger.
    #[test]
    fn fused_drift_matches_per_particle_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(18);
        let (mut worst_late, mut worst_scaled) = (0.0f64, 0.0f64);
        let mut checked = 0usize;
        for case in 0..48 {
            let d = [1, 2, 3, 4, 7, 8, 16, 33][case % 8];
            let n = 1 + case % 6;
            let diagonal = case % 2 == 1;
            let target = random_mixture(&mut rng, d, n, diagonal);
            let pieces = 1 + case % 5;
            let nu: Vec<f64> = (0..pieces * d)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            let protocol = Protocol::geometric(d, rng.random_range(0.0..20.0), 0.7, pieces)
                .unwrap()
                .with_centres(nu)
                .unwrap();
            let b = 150;
            let starts: Vec<f64> = (0..b * d).map(|_| rng.random_range(-4.0..4.0)).collect();
            let scale = [0.5, 3.0, 30.0][case % 3];
            let x: Vec<f64> = (0..b * d)
                .map(|_| scale * rng.random_range(-1.0..1.0))
                .collect();
            for with_starts in [0, 1, 2] {
                let mut fast = Bridge::new(&protocol, target.clone()).unwrap();
                if with_starts == 1 {
                    fast = fast.with_starts(starts.clone()).unwrap();
                } else if with_starts == 2 {
                    // one common start for every particle
                    fast = fast.with_start(&starts[..d]).unwrap();
                }
                let mut slow = fast.clone().with_fused(false);
                for t in [0.0, 0.001, 0.2, 0.5, 0.77, 0.99, 0.9995] {
                    fast.prepare(t).unwrap();
                    slow.prepare(t).unwrap();
                    let k = slow.prepared().k;
                    // chunks [0, 70) and [70, 150): several 64-row blocks and a short tail
                    for (lo, hi) in [(0, 70), (70, b)] {
                        let xs = &x[lo * d..hi * d];
                        let (mut uf, mut us) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
                        let mut scratch = Vec::new();
                        fast.eval(t, lo, xs, &mut uf, &mut scratch);
                        slow.eval(t, lo, xs, &mut us, &mut scratch);
                        for (p, (row_f, row_s)) in
                            uf.chunks_exact(d).zip(us.chunks_exact(d)).enumerate()
                        {
                            let f = fast.form();
                            let xi = &xs[p * d..(p + 1) * d];
                            let z = fast.start_of(lo + p);
                            let mu: Vec<f64> = (0..d)
                                .map(|j| {
                                    (f.x_probe * xi[j] + f.c_probe[j]) * f.inv_k
                                        + z.map_or(0.0, |z| f.z_probe * z[j])
                                })
                                .collect();
                            let cond = (d as f64 * f64::EPSILON * max_log_weight(&target, k, &mu)
                                / 1e-12)
                                .max(1.0);
                            // the size of the drift's terms: near t = 1 the terms -a⁻ x and b⁻ ŷ
                            // (a⁻ ≈ b⁻ ≈ 1/(1 - t)) cancel to a small u
                            let l2 = |v: &[f64]| v.iter().map(|v| v * v).sum::<f64>().sqrt();
                            let norm = l2(row_s)
                                + f.a * l2(xi)
                                + z.map_or(0.0, |z| f.z_drift.abs() * l2(z));
                            for (a, b) in row_f.iter().zip(row_s) {
                                assert!(a.is_finite() && b.is_finite());
                                let rel = (a - b).abs() / (1.0 + norm);
                                if t >= 0.2 {
                                    worst_late = worst_late.max(rel);
                                }
                                worst_scaled = worst_scaled.max(rel / cond);
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        eprintln!("fused vs per-particle: {checked} coordinates, worst {worst_late:e} (t >= 0.2), {worst_scaled:e} over the condition");
        assert!(checked > 100_000);
        assert!(
            worst_late < 1e-12,
            "t >= 0.2: worst relative difference {worst_late:e}"
        );
        assert!(
            worst_scaled < 1e-12,
            "worst relative difference over the condition {worst_scaled:e}"
        );
    }

    /// A chunk whose starts wrap around (`i mod n`) takes the per-particle path; a full mixture
    /// has no fused path; both still give the drift of `drift_one`.
    #[test]
    fn unfused_cases_fall_back() {
        let target = GaussianMixture::full(
            2,
            vec![0.3, 0.7],
            vec![1.0, -1.0, -0.5, 2.0],
            vec![0.5, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.3],
        )
        .unwrap();
        let protocol = Protocol::geometric(2, 12.0, 0.65, 4).unwrap();
        for (target, starts) in [
            (target, vec![0.1, 0.2, 0.3, 0.4]),
            (
                GaussianMixture::isotropic(
                    2,
                    vec![1.0, 2.0],
                    vec![0.0, 1.0, 2.0, 3.0],
                    vec![0.1, 0.3],
                )
                .unwrap(),
                vec![0.1, 0.2, 0.3, 0.4],
            ),
        ] {
            let mut br = Bridge::new(&protocol, target)
                .unwrap()
                .with_starts(starts)
                .unwrap();
            br.prepare(0.3).unwrap();
            let x = [0.5, -0.5, 1.0, 2.0, -1.0, 0.0];
            let mut out = [0.0; 6];
            br.eval(0.3, 1, &x, &mut out, &mut Vec::new());
            let mut work = vec![0.0; br.work_len()];
            for (p, (xi, oi)) in x.chunks_exact(2).zip(out.chunks_exact(2)).enumerate() {
                let mut want = [0.0; 2];
                br.drift_one(xi, 1 + p, &mut want, &mut work);
                assert_eq!(oi, want);
            }
        }
    }
}
