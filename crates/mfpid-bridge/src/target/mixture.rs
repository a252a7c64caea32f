//! Gaussian mixtures `sum_k pi_k N(m_k, Σ_k)`: the workspace's one mixture law (validation and the
//! Cholesky factor of each `Σ_k` done once, in [`GaussianMixture::new`]; sampling, log-density,
//! responsibilities, moments, coordinate marginals) and, through [`MixtureProbe`], a bridge target.

use mfpid_sde::Ensemble;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{check_k, fused, normalised_log_weights, DriftForm, Target};
use crate::error::{BridgeError, MixtureDefect, MixtureField, MixtureIndex, Result};
use crate::linalg::{
    chol_inverse, chol_log_det, cholesky_in_place, solve_lower_in_place, sym_matvec,
};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Component covariances of a mixture. The variant fixes the per-particle cost of the probe mean:
/// `O(K d)` for isotropic and diagonal, `O(K d^2)` for full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Covariance {
    /// `Σ_k = s_k I`: one variance `s_k > 0` per component (length `K`).
    Isotropic(Vec<f64>),
    /// `Σ_k = diag(s_k1..s_kd)`: row-major `K x d` variances, all `> 0`.
    Diagonal(Vec<f64>),
    /// Full symmetric positive-definite `Σ_k`: row-major `K x d x d`.
    Full(Vec<f64>),
}

/// Unvalidated serialised form of a [`GaussianMixture`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixtureSpec {
    /// Dimension `d`.
    pub d: usize,
    /// Unnormalised weights `pi_k` (length `K`).
    pub weights: Vec<f64>,
    /// Means `m_k`, row-major `K x d`.
    pub means: Vec<f64>,
    /// Covariances.
    pub covariance: Covariance,
}

/// A Gaussian mixture `sum_k pi_k N(m_k, Σ_k)` on `R^d`: a bridge's target, the closed-form
/// marginal `p*_t` of a bridge to a mixture, and the boundary laws `p_in`, `p_tar` of the
/// mean-field and demand-response crates.
///
/// The law is validated and each full `Σ_k` factorised (`Σ_k = L_k L_kᵀ`) once, in
/// [`GaussianMixture::new`]; sampling ([`GaussianMixture::sample`]), log-densities and
/// responsibilities reuse that factor. As a [`Target`], `prepare(K)` forms and factorises
/// `S_k = Σ_k + I/K` once per time step into a separate [`MixtureProbe`] state; the per-particle
/// probe mean then costs `O(K d)` (isotropic, diagonal) or `O(K d^2)` (full).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "MixtureSpec", into = "MixtureSpec")]
pub struct GaussianMixture {
    d: usize,
    n: usize,
    log_w: Vec<f64>,
    means: Vec<f64>,
    cov: Covariance,
    /// full: lower Cholesky factors L_k of Σ_k (K x d x d); otherwise empty (L_k = sqrt of the
    /// variances)
    chol: Vec<f64>,
    /// log det Σ_k
    log_det: Vec<f64>,
    /// per-time-step state of the bridge target (allocated by the first `prepare`)
    probe: Option<Box<MixtureProbe>>,
}

/// The per-time-step state of a [`GaussianMixture`] used as a bridge [`Target`]: the probe
/// precision `K_t` and the factorised `S_k = Σ_k + I/K_t`. Written by `prepare`, read by
/// `probe_mean`; not part of the law (ignored by equality, serialisation and the law's methods).
#[derive(Debug, Clone)]
pub struct MixtureProbe {
    k: f64,
    /// log pi_k - 1/2 log det S_k
    logc: Vec<f64>,
    /// S_k^{-1}: isotropic K (followed by the K gains `g_k = s_k S_k^{-1} = s_k / (s_k + 1/K)`
    /// and the K complements `1 - g_k = (1/K) / (s_k + 1/K)`), diagonal K x d (followed by the
    /// K x d gains `s_kj / (s_kj + 1/K)`), full K x d x d
    s_inv: Vec<f64>,
    buf_l: Vec<f64>,
    buf_t: Vec<f64>,
}

impl MixtureProbe {
    fn new(n: usize, d: usize, cov: &Covariance) -> Self {
        let (inv_len, full) = match cov {
            Covariance::Isotropic(_) => (3 * n, false),
            Covariance::Diagonal(_) => (2 * n * d, false),
            Covariance::Full(_) => (n * d * d, true),
        };
        Self {
            k: f64::NAN,
            logc: vec![0.0; n],
            s_inv: vec![0.0; inv_len],
            buf_l: if full { vec![0.0; d * d] } else { Vec::new() },
            buf_t: if full { vec![0.0; d * d] } else { Vec::new() },
        }
    }

    /// The probe precision `K_t` of the last `prepare`.
    pub fn k(&self) -> f64 {
        self.k
    }
}

impl MixtureSpec {
    /// Isotropic components `Σ_k = std_k² I`; `stds` (length `K`) are standard deviations.
    pub fn isotropic_std(d: usize, weights: Vec<f64>, means: Vec<f64>, stds: &[f64]) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Isotropic(stds.iter().map(|s| s * s).collect()),
        }
    }

    /// Diagonal components: `variances` row-major `K x d`.
    pub fn diagonal(d: usize, weights: Vec<f64>, means: Vec<f64>, variances: Vec<f64>) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Diagonal(variances),
        }
    }

    /// Full components: `covariances` row-major `K x d x d`.
    pub fn full(d: usize, weights: Vec<f64>, means: Vec<f64>, covariances: Vec<f64>) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Full(covariances),
        }
    }

    /// Zone-coupled components with the AR(1) correlation `Σ_k,ij = std_k² rho^|i-j|` (full).
    /// `rho` in `(-1, 1)` keeps `Σ_k` positive definite; other values are caught by validation.
    pub fn ar1(d: usize, weights: Vec<f64>, means: Vec<f64>, stds: &[f64], rho: f64) -> Self {
        let mut cov = Vec::with_capacity(stds.len() * d * d);
        for s in stds {
            for i in 0..d {
                for j in 0..d {
                    let lag = i.abs_diff(j) as i32;
                    cov.push(s * s * if lag == 0 { 1.0 } else { rho.powi(lag) });
                }
            }
        }
        Self::full(d, weights, means, cov)
    }

    /// Number of components `K`.
    pub fn components(&self) -> usize {
        self.weights.len()
    }
}

impl PartialEq for GaussianMixture {
    fn eq(&self, o: &Self) -> bool {
        self.d == o.d && self.log_w == o.log_w && self.means == o.means && self.cov == o.cov
    }
}

impl TryFrom<MixtureSpec> for GaussianMixture {
    type Error = BridgeError;
    fn try_from(s: MixtureSpec) -> Result<Self> {
        GaussianMixture::new(s.d, s.weights, s.means, s.covariance)
    }
}

impl From<GaussianMixture> for MixtureSpec {
    fn from(g: GaussianMixture) -> Self {
        MixtureSpec {
            d: g.d,
            weights: g.weights(),
            means: g.means,
            covariance: g.cov,
        }
    }
}

impl GaussianMixture {
    /// Build and validate a mixture: `weights` (length `K`, finite, `>= 0`, positive sum; they are
    /// normalised), `means` row-major `K x d`, covariances as in [`Covariance`].
    pub fn new(d: usize, weights: Vec<f64>, means: Vec<f64>, cov: Covariance) -> Result<Self> {
        if d == 0 {
            return Err(BridgeError::ZeroDimension { what: "mixture" });
        }
        let n = weights.len();
        if n == 0 {
            return Err(BridgeError::Empty {
                what: "mixture components",
            });
        }
        let log_w = normalised_log_weights(&weights).map_err(|(index, value, defect)| {
            BridgeError::InvalidMixture {
                field: MixtureField::Weights,
                index,
                value,
                defect,
            }
        })?;
        if means.len() != n * d {
            return Err(BridgeError::BadLength {
                what: "means",
                len: means.len(),
                expected: format!("K x d = {n} x {d}"),
            });
        }
        if let Some(i) = means.iter().position(|v| !v.is_finite()) {
            return Err(BridgeError::InvalidMixture {
                field: MixtureField::Means,
                index: MixtureIndex::Coordinate(i / d, i % d),
                value: means[i],
                defect: MixtureDefect::NotFinite,
            });
        }
        let mut chol = Vec::new();
        let mut log_det = vec![0.0; n];
        match &cov {
            Covariance::Isotropic(s) => {
                check_len("isotropic variances", s.len(), n, format!("K = {n}"))?;
                check_positive(s, 1)?;
                for k in 0..n {
                    log_det[k] = d as f64 * s[k].ln();
                }
            }
            Covariance::Diagonal(s) => {
                check_len(
                    "diagonal variances",
                    s.len(),
                    n * d,
                    format!("K x d = {n} x {d}"),
                )?;
                check_positive(s, d)?;
                for k in 0..n {
                    log_det[k] = s[k * d..(k + 1) * d].iter().map(|v| v.ln()).sum();
                }
            }
            Covariance::Full(s) => {
                check_len(
                    "full covariances",
                    s.len(),
                    n * d * d,
                    format!("K x d x d = {n} x {d} x {d}"),
                )?;
                if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                    let (k, r) = (i / (d * d), i % (d * d));
                    return Err(BridgeError::InvalidMixture {
                        field: MixtureField::Covariances,
                        index: MixtureIndex::Entry(k, r / d, r % d),
                        value: s[i],
                        defect: MixtureDefect::NotFinite,
                    });
                }
                chol = s.clone();
                for k in 0..n {
                    let m = &mut chol[k * d * d..(k + 1) * d * d];
                    for i in 0..d {
                        for j in 0..i {
                            let (a, b) = (m[i * d + j], m[j * d + i]);
                            if (a - b).abs() > 1e-12 * (a.abs() + b.abs()).max(1e-300) {
                                return Err(BridgeError::NotPositiveDefinite {
                                    component: k,
                                    reason: format!(
                                        "not symmetric: [{i},{j}] = {a} vs [{j},{i}] = {b}"
                                    ),
                                });
                            }
                        }
                    }
                    cholesky_in_place(m, d).map_err(|(j, p)| BridgeError::NotPositiveDefinite {
                        component: k,
                        reason: format!("Cholesky pivot {j} is {p}"),
                    })?;
                    log_det[k] = chol_log_det(m, d);
                }
            }
        }
        Ok(Self {
            d,
            n,
            log_w,
            means,
            cov,
            chol,
            log_det,
            probe: None,
        })
    }

    /// Isotropic mixture: `variances[k] = s_k`, `Σ_k = s_k I`.
    pub fn isotropic(
        d: usize,
        weights: Vec<f64>,
        means: Vec<f64>,
        variances: Vec<f64>,
    ) -> Result<Self> {
        Self::new(d, weights, means, Covariance::Isotropic(variances))
    }

    /// Diagonal mixture: `variances` row-major `K x d`.
    pub fn diagonal(
        d: usize,
        weights: Vec<f64>,
        means: Vec<f64>,
        variances: Vec<f64>,
    ) -> Result<Self> {
        Self::new(d, weights, means, Covariance::Diagonal(variances))
    }

    /// Full-covariance mixture: `covariances` row-major `K x d x d`.
    pub fn full(
        d: usize,
        weights: Vec<f64>,
        means: Vec<f64>,
        covariances: Vec<f64>,
    ) -> Result<Self> {
        Self::new(d, weights, means, Covariance::Full(covariances))
    }

    /// Number of components `K`.
    pub fn components(&self) -> usize {
        self.n
    }

    /// Normalised weights `pi_k`.
    pub fn weights(&self) -> Vec<f64> {
        self.log_w.iter().map(|l| l.exp()).collect()
    }

    /// Means, row-major `K x d`.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// Covariances as given.
    pub fn covariance_spec(&self) -> &Covariance {
        &self.cov
    }

    /// `Σ_k` as a dense row-major `d x d` matrix written into `out`.
    pub fn component_covariance(&self, k: usize, out: &mut [f64]) {
        let d = self.d;
        out.iter_mut().for_each(|x| *x = 0.0);
        match &self.cov {
            Covariance::Isotropic(s) => (0..d).for_each(|j| out[j * d + j] = s[k]),
            Covariance::Diagonal(s) => (0..d).for_each(|j| out[j * d + j] = s[k * d + j]),
            Covariance::Full(s) => out.copy_from_slice(&s[k * d * d..(k + 1) * d * d]),
        }
    }

    /// Mixture mean `sum_k pi_k m_k` (length `d`).
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.d];
        for (lw, mk) in self.log_w.iter().zip(self.means.chunks_exact(self.d)) {
            let w = lw.exp();
            m.iter_mut().zip(mk).for_each(|(a, b)| *a += w * b);
        }
        m
    }

    /// Mixture covariance `sum_k pi_k (Σ_k + m_k m_k^T) - mean mean^T` (row-major `d x d`).
    pub fn covariance(&self) -> Vec<f64> {
        let d = self.d;
        let mean = self.mean();
        let mut c = vec![0.0; d * d];
        let mut sk = vec![0.0; d * d];
        for k in 0..self.n {
            let w = self.log_w[k].exp();
            self.component_covariance(k, &mut sk);
            let mk = &self.means[k * d..(k + 1) * d];
            for i in 0..d {
                for j in 0..d {
                    c[i * d + j] += w * (sk[i * d + j] + mk[i] * mk[j]);
                }
            }
        }
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] -= mean[i] * mean[j];
            }
        }
        c
    }

    /// `log p(x)` (x of length `d`; a wrong length returns an error).
    pub fn log_pdf(&self, x: &[f64]) -> Result<f64> {
        self.check_point(x)?;
        let mut work = vec![0.0; self.d];
        let mut lse_max = f64::NEG_INFINITY;
        let mut terms = Vec::with_capacity(self.n);
        for k in 0..self.n {
            let l = self.log_w[k] + self.component_log_pdf(k, x, &mut work);
            lse_max = lse_max.max(l);
            terms.push(l);
        }
        let s: f64 = terms.iter().map(|l| (l - lse_max).exp()).sum();
        Ok(lse_max + s.ln())
    }

    /// Responsibilities `r_k(x) = pi_k N(x; m_k, Σ_k) / p(x)` of the components for one state `x`
    /// (length `d`), written into `out` (length `K`); `work` has length `d`. Wrong lengths are an
    /// error.
    pub fn responsibilities(&self, x: &[f64], out: &mut [f64], work: &mut [f64]) -> Result<()> {
        self.check_point(x)?;
        if out.len() != self.n || work.len() < self.d {
            return Err(BridgeError::BadLength {
                what: "responsibilities out / work",
                len: out.len(),
                expected: format!("out: K = {}, work: d = {}", self.n, self.d),
            });
        }
        let mut top = f64::NEG_INFINITY;
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.log_w[k] + self.component_log_pdf(k, x, work);
            top = top.max(*o);
        }
        let mut s = 0.0;
        for o in out.iter_mut() {
            *o = (*o - top).exp();
            s += *o;
        }
        out.iter_mut().for_each(|o| *o /= s);
        Ok(())
    }

    /// `log N(x; m_k, Σ_k) = -(log det Σ_k + (x - m_k)ᵀ Σ_k⁻¹ (x - m_k) + d log 2π) / 2`, with the
    /// factor of [`GaussianMixture::new`] for full `Σ_k`; `x` and `work` have length `d` (checked
    /// by the callers).
    fn component_log_pdf(&self, k: usize, x: &[f64], work: &mut [f64]) -> f64 {
        let d = self.d;
        let mk = &self.means[k * d..(k + 1) * d];
        let quad = match &self.cov {
            Covariance::Isotropic(s) => {
                x.iter()
                    .zip(mk)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    / s[k]
            }
            Covariance::Diagonal(s) => x
                .iter()
                .zip(mk)
                .zip(&s[k * d..(k + 1) * d])
                .map(|((a, b), v)| (a - b) * (a - b) / v)
                .sum::<f64>(),
            Covariance::Full(_) => {
                let buf = &mut work[..d];
                buf.iter_mut()
                    .zip(x.iter().zip(mk))
                    .for_each(|(o, (a, b))| *o = a - b);
                solve_lower_in_place(&self.chol[k * d * d..(k + 1) * d * d], d, buf);
                buf.iter().map(|v| v * v).sum::<f64>()
            }
        };
        -0.5 * (self.log_det[k] + quad + d as f64 * LN_2PI)
    }

    fn check_point(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.d {
            return Err(BridgeError::DimensionMismatch {
                what: "x",
                expected: self.d,
                found: x.len(),
            });
        }
        Ok(())
    }

    /// `x <- L_k x` in place for the factor `Σ_k = L_k L_kᵀ` (`x` of length `d`).
    fn apply_factor(&self, k: usize, x: &mut [f64]) {
        let d = self.d;
        match &self.cov {
            Covariance::Isotropic(s) => {
                let sd = s[k].sqrt();
                x.iter_mut().for_each(|v| *v *= sd);
            }
            Covariance::Diagonal(s) => x
                .iter_mut()
                .zip(&s[k * d..(k + 1) * d])
                .for_each(|(v, s)| *v *= s.sqrt()),
            Covariance::Full(_) => {
                let lk = &self.chol[k * d * d..(k + 1) * d * d];
                // lower-triangular product from the last row up: row i uses x_0..x_i, still unchanged
                for i in (0..d).rev() {
                    let mut acc = 0.0;
                    for j in 0..=i {
                        acc += lk[i * d + j] * x[j];
                    }
                    x[i] = acc;
                }
            }
        }
    }

    /// Draw `b` samples (row-major `b x d`) and the component each was drawn from, reproducibly
    /// from `seed` on the sde crate's block streams (independent of the thread count): per sample
    /// a uniform `u` picks the component `k` with `cum_{k-1} <= u < cum_k` (`cum` the cumulative
    /// normalised weights), then `x = L_k ξ + m_k` with `ξ ~ N(0, I)`.
    pub fn sample_with_components(&self, b: usize, seed: u64) -> Result<(Vec<f64>, Vec<usize>)> {
        self.sample_range_with_components(0, b, seed)
    }

    /// The samples `offset .. offset + b` of [`GaussianMixture::sample_with_components`] of a
    /// larger draw (one rank's shard of a population split across processes; `offset` a multiple
    /// of the sde crate's `RNG_BLOCK`): bit-identical to those rows of the whole draw, without
    /// drawing the others.
    pub fn sample_range_with_components(
        &self,
        offset: usize,
        b: usize,
        seed: u64,
    ) -> Result<(Vec<f64>, Vec<usize>)> {
        if b == 0 {
            return Err(BridgeError::Empty { what: "samples" });
        }
        let d = self.d;
        let cum: Vec<f64> = self
            .weights()
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        // one extra coordinate carries the component label through the reproducible sampler
        let ens = Ensemble::sample_range(offset, b, d + 1, seed, |rng, row| {
            let u: f64 = rng.random();
            let k = cum.partition_point(|&c| c <= u).min(cum.len() - 1);
            let x = &mut row[..d];
            for v in x.iter_mut() {
                *v = rng.sample(StandardNormal);
            }
            self.apply_factor(k, x);
            for (v, m) in x.iter_mut().zip(&self.means[k * d..(k + 1) * d]) {
                *v += m;
            }
            row[d] = k as f64;
        })
        // `Ensemble::sample_range` fails only for zero samples or zero dimension (both excluded
        // above) or an offset off the RNG block grid
        .map_err(|_| BridgeError::OutOfRange {
            what: "sample offset",
            value: offset as f64,
            range: "multiples of RNG_BLOCK (64)",
        })?;
        let raw = ens.into_vec();
        let mut x = Vec::with_capacity(b * d);
        let mut component = Vec::with_capacity(b);
        for row in raw.chunks_exact(d + 1) {
            x.extend_from_slice(&row[..d]);
            component.push(row[d] as usize);
        }
        Ok((x, component))
    }

    /// Draw `b` samples, row-major `b x d` (see [`GaussianMixture::sample_with_components`]).
    pub fn sample(&self, b: usize, seed: u64) -> Result<Vec<f64>> {
        Ok(self.sample_with_components(b, seed)?.0)
    }

    /// The samples `offset .. offset + b` of [`GaussianMixture::sample`] of a larger draw (see
    /// [`GaussianMixture::sample_range_with_components`]).
    pub fn sample_range(&self, offset: usize, b: usize, seed: u64) -> Result<Vec<f64>> {
        Ok(self.sample_range_with_components(offset, b, seed)?.0)
    }

    /// Variances `Σ_k,jj` of component `k` (length `d`).
    pub fn component_variances(&self, k: usize) -> Vec<f64> {
        let d = self.d;
        match &self.cov {
            Covariance::Isotropic(s) => vec![s[k]; d],
            Covariance::Diagonal(s) => s[k * d..(k + 1) * d].to_vec(),
            Covariance::Full(s) => (0..d).map(|j| s[k * d * d + j * d + j]).collect(),
        }
    }

    /// The marginal law of coordinate `j`: the one-dimensional mixture
    /// `sum_k pi_k N(m_kj, Σ_k,jj)` (`j < d`).
    pub fn coordinate_marginal(&self, j: usize) -> Result<GaussianMixture> {
        if j >= self.d {
            return Err(BridgeError::OutOfRange {
                what: "coordinate index",
                value: j as f64,
                range: "[0, d)",
            });
        }
        let means = (0..self.n).map(|k| self.means[k * self.d + j]).collect();
        let variances = (0..self.n)
            .map(|k| self.component_variances(k)[j])
            .collect();
        GaussianMixture::isotropic(1, self.weights(), means, variances)
    }
}

/// `q[c] = Σ_j (mu_j - m_cj)²` for the `q.len()` rows of `means` (row-major, `d` columns). Each sum
/// runs over `j` in order (the same rounding as a one-row loop); up to four rows share one sweep over
/// `mu`, so their add chains overlap instead of waiting on each other.
pub(super) fn squared_distances(mu: &[f64], means: &[f64], d: usize, q: &mut [f64]) {
    let mu = &mu[..d];
    let mut rows = means.chunks_exact(d);
    for qs in q.chunks_mut(4) {
        match qs {
            [q0, q1, q2, q3] => {
                let (Some(r0), Some(r1), Some(r2), Some(r3)) =
                    (rows.next(), rows.next(), rows.next(), rows.next())
                else {
                    return;
                };
                // scalar accumulators (kept in registers at every optimisation level)
                let (mut s0, mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0, 0.0);
                for ((&a, (&b0, &b1)), (&b2, &b3)) in
                    mu.iter().zip(r0.iter().zip(r1)).zip(r2.iter().zip(r3))
                {
                    let (e0, e1, e2, e3) = (a - b0, a - b1, a - b2, a - b3);
                    s0 += e0 * e0;
                    s1 += e1 * e1;
                    s2 += e2 * e2;
                    s3 += e3 * e3;
                }
                (*q0, *q1, *q2, *q3) = (s0, s1, s2, s3);
            }
            [q0, q1, rest @ ..] => {
                let (Some(r0), Some(r1)) = (rows.next(), rows.next()) else {
                    return;
                };
                let (mut s0, mut s1) = (0.0, 0.0);
                for (&a, (&b0, &b1)) in mu.iter().zip(r0.iter().zip(r1)) {
                    let (e0, e1) = (a - b0, a - b1);
                    s0 += e0 * e0;
                    s1 += e1 * e1;
                }
                (*q0, *q1) = (s0, s1);
                if let (Some(q2), Some(r2)) = (rest.first_mut(), rows.next()) {
                    *q2 = squared_distance(mu, r2);
                }
            }
            [q0] => {
                if let Some(r0) = rows.next() {
                    *q0 = squared_distance(mu, r0);
                }
            }
            [] => {}
        }
    }
}

/// `Σ_j (a_j - b_j)²`, summed over `j` in order.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut q = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        let dj = x - y;
        q += dj * dj;
    }
    q
}

fn check_len(what: &'static str, len: usize, want: usize, expected: String) -> Result<()> {
    if len != want {
        return Err(BridgeError::BadLength {
            what,
            len,
            expected,
        });
    }
    Ok(())
}

/// Variances of isotropic (`per = 1`: one per component) or diagonal (`per = d`) components:
/// finite and `> 0`.
fn check_positive(s: &[f64], per: usize) -> Result<()> {
    for (i, &v) in s.iter().enumerate() {
        let defect = if !v.is_finite() {
            MixtureDefect::NotFinite
        } else if v <= 0.0 {
            MixtureDefect::NotPositive
        } else {
            continue;
        };
        return Err(BridgeError::InvalidMixture {
            field: MixtureField::Variances,
            index: if per == 1 {
                MixtureIndex::Component(i)
            } else {
                MixtureIndex::Coordinate(i / per, i % per)
            },
            value: v,
            defect,
        });
    }
    Ok(())
}

impl Target for GaussianMixture {
    /// A clone (the mixture's parameters and its prepared factorisations).
    fn fork(&self) -> Option<Box<dyn Target>> {
        Some(Box::new(self.clone()))
    }

    fn dim(&self) -> usize {
        self.d
    }

    /// Form `S_k = Σ_k + I/K` and store `S_k^{-1}` and `log pi_k - 1/2 log det S_k` (O(K d^3) for
    /// full covariances, O(K d) otherwise), once per time step.
    fn prepare(&mut self, k: f64, _t: f64) -> Result<()> {
        check_k(k)?;
        let (n, d) = (self.n, self.d);
        let p: &mut MixtureProbe = self
            .probe
            .get_or_insert_with(|| Box::new(MixtureProbe::new(n, d, &self.cov)));
        p.k = k;
        let ik = 1.0 / k;
        match &self.cov {
            Covariance::Isotropic(s) => {
                for c in 0..n {
                    let sc = s[c] + ik;
                    p.s_inv[c] = 1.0 / sc;
                    p.s_inv[n + c] = s[c] * p.s_inv[c];
                    p.s_inv[2 * n + c] = ik * p.s_inv[c];
                    p.logc[c] = self.log_w[c] - 0.5 * d as f64 * sc.ln();
                }
            }
            Covariance::Diagonal(s) => {
                for c in 0..n {
                    let mut ld = 0.0;
                    for j in 0..d {
                        let sc = s[c * d + j] + ik;
                        p.s_inv[c * d + j] = 1.0 / sc;
                        p.s_inv[n * d + c * d + j] = s[c * d + j] * p.s_inv[c * d + j];
                        ld += sc.ln();
                    }
                    p.logc[c] = self.log_w[c] - 0.5 * ld;
                }
            }
            Covariance::Full(s) => {
                for c in 0..n {
                    let l = &mut p.buf_l;
                    l.copy_from_slice(&s[c * d * d..(c + 1) * d * d]);
                    for j in 0..d {
                        l[j * d + j] += ik;
                    }
                    cholesky_in_place(l, d).map_err(|(j, p)| BridgeError::NotPositiveDefinite {
                        component: c,
                        reason: format!("S_k = Σ_k + I/K: Cholesky pivot {j} is {p}"),
                    })?;
                    p.logc[c] = self.log_w[c] - 0.5 * chol_log_det(l, d);
                    chol_inverse(l, d, &mut p.buf_t, &mut p.s_inv[c * d * d..(c + 1) * d * d]);
                }
            }
        }
        Ok(())
    }

    fn work_len(&self) -> usize {
        self.n + self.n * self.d + 2 * self.d
    }

    /// The fused batch drift for isotropic and diagonal covariances (see `fused.rs`): the
    /// time-only constants of the last `prepare`, `O(K d)` arithmetic per particle; full
    /// covariances return `false` (per-particle path).
    fn drift_rows(
        &self,
        form: &DriftForm<'_>,
        x: &[f64],
        z: Option<&[f64]>,
        out: &mut [f64],
        work: &mut Vec<f64>,
    ) -> bool {
        let (n, d) = (self.n, self.d);
        let Some(p) = self.probe.as_deref() else {
            return false;
        };
        let step = match &self.cov {
            Covariance::Isotropic(_) => fused::Step::Iso(fused::IsoStep {
                logc: &p.logc,
                s_inv: &p.s_inv[..n],
                gain: &p.s_inv[n..2 * n],
                keep: &p.s_inv[2 * n..3 * n],
                means: &self.means,
            }),
            Covariance::Diagonal(_) => fused::Step::Diag(fused::DiagStep {
                logc: &p.logc,
                s_inv: &p.s_inv[..n * d],
                gain: &p.s_inv[n * d..2 * n * d],
                means: &self.means,
            }),
            Covariance::Full(_) => return false,
        };
        let wl = fused::work_len(n, d);
        if work.len() < wl {
            work.resize(wl, 0.0);
        }
        fused::drift_rows(&step, d, form, x, z, out, &mut work[..wl]);
        true
    }

    /// `ŷ = sum_k w_k m̃_k` with `w_k ∝ pi_k N(mu; m_k, S_k)` and
    /// `m̃_k = m_k + Σ_k S_k^{-1} (mu - m_k)` (computed as `mu - S_k^{-1}(mu - m_k)/K` for full Σ_k).
    ///
    /// Isotropic and diagonal covariances take two passes over the components (log-weights, then
    /// the weighted sum of `m̃_k` formed on the fly), skipping components whose weight relative to
    /// the largest is below `e^-40` (their contribution is below the rounding of the result, see
    /// `EXP_NEGLIGIBLE`); full covariances store `m̃_k` (the `O(d^2)` solve is needed for the
    /// weight anyway). Each sum is taken in the same order as forming every `m̃_k` and soft-max
    /// combining them, so the paths agree to rounding.
    fn probe_mean(&self, mu: &[f64], _particle: usize, out: &mut [f64], work: &mut [f64]) {
        let (d, n) = (self.d, self.n);
        let mu = &mu[..d];
        let out = &mut out[..d];
        let Some(p) = self.probe.as_deref() else {
            // not prepared: no probe precision yet
            out.iter_mut().for_each(|o| *o = f64::NAN);
            return;
        };
        let means = &self.means[..n * d];
        let (logw, rest) = work.split_at_mut(n);
        match &self.cov {
            Covariance::Isotropic(_) => {
                // log w_k = log c_k - |mu - m_k|² / (2 (s_k + 1/K)); the squared distances go in
                // logw first (several components per sweep over mu: independent add chains)
                squared_distances(mu, means, d, logw);
                let mut top = f64::NEG_INFINITY;
                let (s_inv, gain) = (&p.s_inv[..n], &p.s_inv[n..2 * n]);
                for (lw, (&lc, &si)) in logw.iter_mut().zip(p.logc.iter().zip(s_inv)) {
                    *lw = lc - 0.5 * (*lw * si);
                    top = top.max(*lw);
                }
                out.iter_mut().for_each(|o| *o = 0.0);
                let mut s = 0.0;
                for ((&lw, mc), &g) in logw.iter().zip(means.chunks_exact(d)).zip(gain) {
                    let Some(w) = super::relative_weight(lw - top) else {
                        continue;
                    };
                    s += w;
                    // m̃_k = m_k + s_k S_k^{-1} (mu - m_k)
                    for ((o, &a), &b) in out.iter_mut().zip(mu).zip(mc) {
                        *o += w * (b + g * (a - b));
                    }
                }
                let inv = 1.0 / s;
                out.iter_mut().for_each(|o| *o *= inv);
            }
            Covariance::Diagonal(var) => {
                let var = &var[..n * d];
                let s_inv = &p.s_inv[..n * d];
                let mut top = f64::NEG_INFINITY;
                for ((lw, mc), (&lc, si)) in logw
                    .iter_mut()
                    .zip(means.chunks_exact(d))
                    .zip(p.logc.iter().zip(s_inv.chunks_exact(d)))
                {
                    let mut q = 0.0;
                    for ((&a, &b), &sij) in mu.iter().zip(mc).zip(si) {
                        let dj = a - b;
                        q += dj * (sij * dj);
                    }
                    *lw = lc - 0.5 * q;
                    top = top.max(*lw);
                }
                out.iter_mut().for_each(|o| *o = 0.0);
                let mut s = 0.0;
                for ((&lw, mc), (si, sc)) in logw
                    .iter()
                    .zip(means.chunks_exact(d))
                    .zip(s_inv.chunks_exact(d).zip(var.chunks_exact(d)))
                {
                    let Some(w) = super::relative_weight(lw - top) else {
                        continue;
                    };
                    s += w;
                    for ((o, (&a, &b)), (&sij, &scj)) in
                        out.iter_mut().zip(mu.iter().zip(mc)).zip(si.iter().zip(sc))
                    {
                        *o += w * (b + scj * (sij * (a - b)));
                    }
                }
                let inv = 1.0 / s;
                out.iter_mut().for_each(|o| *o *= inv);
            }
            Covariance::Full(_) => {
                let (mt, rest) = rest.split_at_mut(n * d);
                let (delta, rest) = rest.split_at_mut(d);
                let v = &mut rest[..d];
                let ik = 1.0 / p.k;
                for c in 0..n {
                    let mc = &means[c * d..(c + 1) * d];
                    let mtc = &mut mt[c * d..(c + 1) * d];
                    for j in 0..d {
                        delta[j] = mu[j] - mc[j];
                    }
                    sym_matvec(&p.s_inv[c * d * d..(c + 1) * d * d], d, delta, v);
                    let mut q = 0.0;
                    for j in 0..d {
                        q += delta[j] * v[j];
                        mtc[j] = mu[j] - v[j] * ik;
                    }
                    logw[c] = p.logc[c] - 0.5 * q;
                }
                super::softmax_combine(logw, mt, d, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_d_full() -> GaussianMixture {
        GaussianMixture::full(
            2,
            vec![0.3, 0.7],
            vec![1.0, -1.0, -0.5, 2.0],
            vec![0.5, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.3],
        )
        .unwrap()
    }

    /// Brute force `E_q[y]` on a fine 2-D grid.
    fn brute(g: &GaussianMixture, mu: &[f64], k: f64) -> [f64; 2] {
        let (n, lo, hi) = (801, -8.0, 8.0);
        let h = (hi - lo) / (n - 1) as f64;
        let (mut z, mut m0, mut m1) = (0.0, 0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                let y = [lo + i as f64 * h, lo + j as f64 * h];
                let lq = g.log_pdf(&y).unwrap()
                    - 0.5 * k * ((y[0] - mu[0]).powi(2) + (y[1] - mu[1]).powi(2));
                let w = lq.exp();
                z += w;
                m0 += w * y[0];
                m1 += w * y[1];
            }
        }
        [m0 / z, m1 / z]
    }

    #[test]
    fn full_probe_mean_matches_quadrature() {
        let mut g = two_d_full();
        for &(k, mu) in &[(0.7, [0.3, 0.1]), (5.0, [2.0, -1.0]), (0.05, [10.0, 3.0])] {
            g.prepare(k, 0.5).unwrap();
            let mut out = [0.0; 2];
            let mut work = vec![0.0; g.work_len()];
            g.probe_mean(&mu, 0, &mut out, &mut work);
            let b = brute(&g, &mu, k);
            assert!(
                (out[0] - b[0]).abs() < 1e-8 && (out[1] - b[1]).abs() < 1e-8,
                "{out:?} {b:?}"
            );
        }
    }

    #[test]
    fn isotropic_diagonal_full_paths_agree() {
        let d = 3;
        let w = vec![1.0, 2.0, 0.5];
        let m = vec![0.0, 1.0, 2.0, -1.0, 0.5, 0.0, 3.0, 3.0, -2.0];
        let s = [0.4, 1.3, 0.2];
        let iso = GaussianMixture::isotropic(d, w.clone(), m.clone(), s.to_vec()).unwrap();
        let dia = GaussianMixture::diagonal(
            d,
            w.clone(),
            m.clone(),
            s.iter().flat_map(|&v| [v; 3]).collect(),
        )
        .unwrap();
        let mut full_s = vec![0.0; 3 * d * d];
        for c in 0..3 {
            for j in 0..d {
                full_s[c * d * d + j * d + j] = s[c];
            }
        }
        let ful = GaussianMixture::full(d, w, m, full_s).unwrap();
        let mu = [0.7, -0.2, 1.9];
        let mut res = Vec::new();
        let mut lp = Vec::new();
        for mut g in [iso, dia, ful] {
            g.prepare(1.7, 0.4).unwrap();
            let mut out = [0.0; 3];
            let mut work = vec![0.0; g.work_len()];
            g.probe_mean(&mu, 0, &mut out, &mut work);
            res.push(out);
            lp.push(g.log_pdf(&mu).unwrap());
        }
        for (r, l) in res[1..].iter().zip(&lp[1..]) {
            for j in 0..d {
                assert!((r[j] - res[0][j]).abs() < 1e-13);
            }
            assert!((l - lp[0]).abs() < 1e-13);
        }
    }

    /// Isotropic probe mean (components swept four, two or one at a time, negligible ones skipped)
    /// against the full-covariance path, for K = 1..7 and probes near and far from the means.
    #[test]
    fn isotropic_probe_mean_matches_full_for_any_k() {
        let d = 5;
        for n in 1..=7 {
            let w: Vec<f64> = (0..n).map(|c| 1.0 + c as f64).collect();
            let m: Vec<f64> = (0..n * d)
                .map(|i| ((i * 7919) % 13) as f64 * 0.3 - 1.5)
                .collect();
            let s: Vec<f64> = (0..n).map(|c| 0.2 + 0.15 * c as f64).collect();
            let mut full_s = vec![0.0; n * d * d];
            for c in 0..n {
                for j in 0..d {
                    full_s[c * d * d + j * d + j] = s[c];
                }
            }
            let mut iso = GaussianMixture::isotropic(d, w.clone(), m.clone(), s).unwrap();
            let mut ful = GaussianMixture::full(d, w, m, full_s).unwrap();
            for &(k, scale) in &[(0.8, 0.5), (40.0, 1.0), (1e4, 30.0)] {
                iso.prepare(k, 0.5).unwrap();
                ful.prepare(k, 0.5).unwrap();
                let mu: Vec<f64> = (0..d).map(|j| scale * (j as f64 - 1.7)).collect();
                let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
                let mut work = vec![0.0; ful.work_len()];
                iso.probe_mean(&mu, 0, &mut a, &mut work);
                ful.probe_mean(&mu, 0, &mut b, &mut work);
                for j in 0..d {
                    assert!(a[j].is_finite());
                    assert!(
                        (a[j] - b[j]).abs() < 1e-12 * (1.0 + b[j].abs()),
                        "K={n} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn log_pdf_normalised_and_moments() {
        let g = two_d_full();
        let (n, lo, hi) = (601, -7.0, 7.0);
        let h = (hi - lo) / (n - 1) as f64;
        let mut z = 0.0;
        let mut m = [0.0; 2];
        for i in 0..n {
            for j in 0..n {
                let y = [lo + i as f64 * h, lo + j as f64 * h];
                let p = g.log_pdf(&y).unwrap().exp() * h * h;
                z += p;
                m[0] += p * y[0];
                m[1] += p * y[1];
            }
        }
        assert!((z - 1.0).abs() < 1e-8);
        let mean = g.mean();
        assert!((m[0] - mean[0]).abs() < 1e-8 && (m[1] - mean[1]).abs() < 1e-8);
    }

    /// Samples reproduce the law (component frequencies, a full covariance), the draw is
    /// reproducible, and the labels match the component each sample came from.
    #[test]
    fn sampling_matches_the_law() {
        let g = two_d_full();
        let b = 40_000;
        let (x, comp) = g.sample_with_components(b, 5).unwrap();
        assert_eq!(x, g.sample(b, 5).unwrap());
        let p1 = comp.iter().filter(|&&k| k == 1).count() as f64 / b as f64;
        assert!((p1 - 0.7).abs() < 4.0 * (0.21f64 / b as f64).sqrt(), "{p1}");
        // component 1: mean (-0.5, 2), Σ = [[1, -0.3], [-0.3, 0.3]]
        let rows: Vec<&[f64]> = x
            .chunks_exact(2)
            .zip(&comp)
            .filter(|(_, &k)| k == 1)
            .map(|(r, _)| r)
            .collect();
        let n = rows.len() as f64;
        let m0 = rows.iter().map(|r| r[0]).sum::<f64>() / n;
        let m1 = rows.iter().map(|r| r[1]).sum::<f64>() / n;
        let c01 = rows.iter().map(|r| (r[0] - m0) * (r[1] - m1)).sum::<f64>() / (n - 1.0);
        assert!((m0 + 0.5).abs() < 4.0 / n.sqrt() && (m1 - 2.0).abs() < 4.0 / n.sqrt());
        assert!((c01 + 0.3).abs() < 4.0 * (2.0 / n).sqrt(), "{c01}");
        assert!(matches!(g.sample(0, 1), Err(BridgeError::Empty { .. })));
    }

    /// Responsibilities sum to one and equal `pi_k N_k(x) / p(x)`; the coordinate marginal carries
    /// the weights, the `j`-th means and the diagonal variances.
    #[test]
    fn responsibilities_and_marginals() {
        let g = two_d_full();
        let x = [0.4, 0.1];
        let (mut r, mut work) = ([0.0; 2], [0.0; 2]);
        g.responsibilities(&x, &mut r, &mut work).unwrap();
        assert!((r[0] + r[1] - 1.0).abs() < 1e-14);
        let only0 =
            GaussianMixture::full(2, vec![1.0], vec![1.0, -1.0], vec![0.5, 0.2, 0.2, 0.4]).unwrap();
        let n0 = only0.log_pdf(&x).unwrap().exp();
        assert!((r[0] - 0.3 * n0 / g.log_pdf(&x).unwrap().exp()).abs() < 1e-12);
        assert!(g.responsibilities(&x, &mut [0.0; 3], &mut work).is_err());
        let m1 = g.coordinate_marginal(1).unwrap();
        assert_eq!(m1.means(), &[-1.0, 2.0]);
        assert_eq!(m1.component_variances(1), vec![0.3]);
        assert!((m1.mean()[0] - g.mean()[1]).abs() < 1e-15);
        assert!((m1.covariance()[0] - g.covariance()[3]).abs() < 1e-14);
        assert!(g.coordinate_marginal(2).is_err());
    }

    #[test]
    fn bad_mixtures_are_typed_errors() {
        let e = GaussianMixture::full(2, vec![1.0], vec![0.0, 0.0], vec![1.0, 2.0, 2.0, 1.0]);
        assert!(matches!(
            e,
            Err(BridgeError::NotPositiveDefinite { component: 0, .. })
        ));
        let e = GaussianMixture::full(2, vec![1.0], vec![0.0, 0.0], vec![1.0, 0.5, 0.4, 1.0]);
        assert!(matches!(
            e,
            Err(BridgeError::NotPositiveDefinite { component: 0, .. })
        ));
        // each value error names the field, the component and the coordinate
        let invalid = |field, index, defect| {
            move |e: Result<GaussianMixture>| match e {
                Err(BridgeError::InvalidMixture {
                    field: f,
                    index: i,
                    defect: x,
                    ..
                }) => f == field && i == index && x == defect,
                _ => false,
            }
        };
        use MixtureDefect::*;
        use MixtureIndex::*;
        let e =
            GaussianMixture::diagonal(2, vec![1.0, 1.0], vec![0.0; 4], vec![1.0, 1.0, 1.0, 0.0]);
        assert!(invalid(
            MixtureField::Variances,
            Coordinate(1, 1),
            NotPositive
        )(e));
        let e = GaussianMixture::isotropic(1, vec![1.0, 1.0], vec![0.0, 1.0], vec![1.0, -2.0]);
        assert!(invalid(MixtureField::Variances, Component(1), NotPositive)(
            e
        ));
        let e =
            GaussianMixture::isotropic(1, vec![1.0, 1.0], vec![0.0, 1.0], vec![f64::INFINITY, 1.0]);
        assert!(invalid(MixtureField::Variances, Component(0), NotFinite)(e));
        let e = GaussianMixture::isotropic(
            2,
            vec![1.0, 1.0],
            vec![0.0, 1.0, 2.0, f64::NAN],
            vec![1.0, 1.0],
        );
        assert!(invalid(MixtureField::Means, Coordinate(1, 1), NotFinite)(e));
        let mut cov = vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        cov[6] = f64::NAN;
        let e = GaussianMixture::full(2, vec![1.0, 1.0], vec![0.0; 4], cov);
        assert!(invalid(
            MixtureField::Covariances,
            Entry(1, 1, 0),
            NotFinite
        )(e));
        let e = GaussianMixture::isotropic(1, vec![0.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]);
        assert!(invalid(MixtureField::Weights, Sum, NoPositiveSum)(
            e.clone()
        ));
        assert_eq!(
            e.unwrap_err().to_string(),
            "weights sum = 0 must be positive and finite (at least one weight must be > 0)"
        );
        let e = GaussianMixture::isotropic(1, vec![1.0, -0.5], vec![0.0, 1.0], vec![1.0, 1.0]);
        assert!(invalid(MixtureField::Weights, Component(1), Negative)(e));
        let e = GaussianMixture::isotropic(1, vec![f64::NAN], vec![0.0], vec![1.0]);
        assert!(invalid(MixtureField::Weights, Component(0), NotFinite)(e));
        let e = GaussianMixture::isotropic(2, vec![1.0], vec![0.0], vec![1.0]);
        assert!(matches!(
            e,
            Err(BridgeError::BadLength { what: "means", .. })
        ));
        let e = GaussianMixture::isotropic(1, vec![], vec![], vec![]);
        assert!(matches!(e, Err(BridgeError::Empty { .. })));
        let mut g = GaussianMixture::isotropic(1, vec![1.0], vec![0.0], vec![1.0]).unwrap();
        assert!(matches!(
            g.prepare(0.0, 0.5),
            Err(BridgeError::OutOfRange { .. })
        ));
        assert!(matches!(
            g.log_pdf(&[0.0, 1.0]),
            Err(BridgeError::DimensionMismatch { .. })
        ));
    }
}
