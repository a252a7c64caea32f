//! Gaussian-mixture targets `p_tar = sum_k pi_k N(m_k, Σ_k)`.

use serde::{Deserialize, Serialize};

use super::{check_k, normalised_log_weights, Target};
use crate::error::{check_finite, BridgeError, Result};
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A Gaussian mixture `sum_k pi_k N(m_k, Σ_k)` on `R^d`, used as a bridge target and as the
/// closed-form marginal `p*_t` of a bridge to a mixture.
///
/// As a [`Target`], `prepare(K)` forms and factorises `S_k = Σ_k + I/K` once per time step; the
/// per-particle probe mean then costs `O(K d)` (isotropic, diagonal) or `O(K d^2)` (full).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "MixtureSpec", into = "MixtureSpec")]
pub struct GaussianMixture {
    d: usize,
    n: usize,
    log_w: Vec<f64>,
    means: Vec<f64>,
    cov: Covariance,
    /// full: lower Cholesky factors of Σ_k (K x d x d); otherwise empty
    chol: Vec<f64>,
    /// log det Σ_k
    log_det: Vec<f64>,
    // ---- per-time state (prepare) ----
    k: f64,
    /// log pi_k - 1/2 log det S_k
    logc: Vec<f64>,
    /// S_k^{-1}: isotropic K (followed by the K gains `s_k S_k^{-1} = s_k / (s_k + 1/K)`),
    /// diagonal K x d, full K x d x d
    s_inv: Vec<f64>,
    buf_l: Vec<f64>,
    buf_t: Vec<f64>,
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
        let log_w = normalised_log_weights(&weights)?;
        if means.len() != n * d {
            return Err(BridgeError::BadLength {
                what: "means",
                len: means.len(),
                expected: format!("K x d = {n} x {d}"),
            });
        }
        check_finite("means", &means)?;
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
                check_finite("full covariances", s)?;
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
        let inv_len = match &cov {
            Covariance::Isotropic(_) => 2 * n,
            Covariance::Diagonal(_) => n * d,
            Covariance::Full(_) => n * d * d,
        };
        let full = matches!(cov, Covariance::Full(_));
        Ok(Self {
            d,
            n,
            log_w,
            means,
            cov,
            chol,
            log_det,
            k: f64::NAN,
            logc: vec![0.0; n],
            s_inv: vec![0.0; inv_len],
            buf_l: if full { vec![0.0; d * d] } else { Vec::new() },
            buf_t: if full { vec![0.0; d * d] } else { Vec::new() },
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
        let d = self.d;
        if x.len() != d {
            return Err(BridgeError::DimensionMismatch {
                what: "x",
                expected: d,
                found: x.len(),
            });
        }
        let mut buf = vec![0.0; d];
        let mut lse_max = f64::NEG_INFINITY;
        let mut terms = Vec::with_capacity(self.n);
        for k in 0..self.n {
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
                    buf.iter_mut()
                        .zip(x.iter().zip(mk))
                        .for_each(|(o, (a, b))| *o = a - b);
                    solve_lower_in_place(&self.chol[k * d * d..(k + 1) * d * d], d, &mut buf);
                    buf.iter().map(|v| v * v).sum::<f64>()
                }
            };
            let l = self.log_w[k] - 0.5 * (self.log_det[k] + quad + d as f64 * LN_2PI);
            lse_max = lse_max.max(l);
            terms.push(l);
        }
        let s: f64 = terms.iter().map(|l| (l - lse_max).exp()).sum();
        Ok(lse_max + s.ln())
    }
}

/// `q[c] = Σ_j (mu_j - m_cj)²` for the `q.len()` rows of `means` (row-major, `d` columns). Each sum
/// runs over `j` in order (the same rounding as a one-row loop); up to four rows share one sweep over
/// `mu`, so their add chains overlap instead of waiting on each other.
fn squared_distances(mu: &[f64], means: &[f64], d: usize, q: &mut [f64]) {
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

fn check_positive(s: &[f64], per: usize) -> Result<()> {
    for (i, &v) in s.iter().enumerate() {
        if !(v > 0.0 && v.is_finite()) {
            return Err(BridgeError::NotPositiveDefinite {
                component: i / per,
                reason: format!(
                    "variance {v} at index {} is not positive and finite",
                    i % per
                ),
            });
        }
    }
    Ok(())
}

impl Target for GaussianMixture {
    fn dim(&self) -> usize {
        self.d
    }

    /// Form `S_k = Σ_k + I/K` and store `S_k^{-1}` and `log pi_k - 1/2 log det S_k` (O(K d^3) for
    /// full covariances, O(K d) otherwise), once per time step.
    fn prepare(&mut self, k: f64, _t: f64) -> Result<()> {
        check_k(k)?;
        self.k = k;
        let d = self.d;
        let ik = 1.0 / k;
        match &self.cov {
            Covariance::Isotropic(s) => {
                for c in 0..self.n {
                    let sc = s[c] + ik;
                    self.s_inv[c] = 1.0 / sc;
                    self.s_inv[self.n + c] = s[c] * self.s_inv[c];
                    self.logc[c] = self.log_w[c] - 0.5 * d as f64 * sc.ln();
                }
            }
            Covariance::Diagonal(s) => {
                for c in 0..self.n {
                    let mut ld = 0.0;
                    for j in 0..d {
                        let sc = s[c * d + j] + ik;
                        self.s_inv[c * d + j] = 1.0 / sc;
                        ld += sc.ln();
                    }
                    self.logc[c] = self.log_w[c] - 0.5 * ld;
                }
            }
            Covariance::Full(s) => {
                for c in 0..self.n {
                    let l = &mut self.buf_l;
                    l.copy_from_slice(&s[c * d * d..(c + 1) * d * d]);
                    for j in 0..d {
                        l[j * d + j] += ik;
                    }
                    cholesky_in_place(l, d).map_err(|(j, p)| BridgeError::NotPositiveDefinite {
                        component: c,
                        reason: format!("S_k = Σ_k + I/K: Cholesky pivot {j} is {p}"),
                    })?;
                    self.logc[c] = self.log_w[c] - 0.5 * chol_log_det(l, d);
                    chol_inverse(
                        l,
                        d,
                        &mut self.buf_t,
                        &mut self.s_inv[c * d * d..(c + 1) * d * d],
                    );
                }
            }
        }
        Ok(())
    }

    fn work_len(&self) -> usize {
        self.n + self.n * self.d + 2 * self.d
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
        let means = &self.means[..n * d];
        let (logw, rest) = work.split_at_mut(n);
        match &self.cov {
            Covariance::Isotropic(_) => {
                // log w_k = log c_k - |mu - m_k|² / (2 (s_k + 1/K)); the squared distances go in
                // logw first (several components per sweep over mu: independent add chains)
                squared_distances(mu, means, d, logw);
                let mut top = f64::NEG_INFINITY;
                let (s_inv, gain) = self.s_inv.split_at(n);
                for (lw, (&lc, &si)) in logw.iter_mut().zip(self.logc.iter().zip(s_inv)) {
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
                let s_inv = &self.s_inv[..n * d];
                let mut top = f64::NEG_INFINITY;
                for ((lw, mc), (&lc, si)) in logw
                    .iter_mut()
                    .zip(means.chunks_exact(d))
                    .zip(self.logc.iter().zip(s_inv.chunks_exact(d)))
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
                let ik = 1.0 / self.k;
                for c in 0..n {
                    let mc = &means[c * d..(c + 1) * d];
                    let mtc = &mut mt[c * d..(c + 1) * d];
                    for j in 0..d {
                        delta[j] = mu[j] - mc[j];
                    }
                    sym_matvec(&self.s_inv[c * d * d..(c + 1) * d * d], d, delta, v);
                    let mut q = 0.0;
                    for j in 0..d {
                        q += delta[j] * v[j];
                        mtc[j] = mu[j] - v[j] * ik;
                    }
                    logw[c] = self.logc[c] - 0.5 * q;
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
        let e = GaussianMixture::diagonal(1, vec![1.0, 1.0], vec![0.0, 1.0], vec![1.0, 0.0]);
        assert!(matches!(
            e,
            Err(BridgeError::NotPositiveDefinite { component: 1, .. })
        ));
        let e = GaussianMixture::isotropic(1, vec![0.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]);
        assert!(matches!(e, Err(BridgeError::BadWeights { .. })));
        let e = GaussianMixture::isotropic(1, vec![1.0, -0.5], vec![0.0, 1.0], vec![1.0, 1.0]);
        assert!(matches!(e, Err(BridgeError::BadWeights { .. })));
        let e = GaussianMixture::isotropic(1, vec![f64::NAN], vec![0.0], vec![1.0]);
        assert!(matches!(e, Err(BridgeError::BadWeights { .. })));
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
