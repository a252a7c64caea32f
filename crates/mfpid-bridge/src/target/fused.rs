//! The fused bridge drift for Gaussian-mixture targets with isotropic (`Σ_k = s_k I`) or diagonal
//! covariances: for a batch of particles, the probe mean, the responsibilities and the drift in
//! `O(K d)` scalar arithmetic per particle, no allocation once warm, block by block of 64 particles
//! in passes that the compiler vectorises (the probe means of the block, the log-weights, the
//! soft-max and the per-particle scalars over the block's rows, the drift over its coordinates), with the AVX2 build of the same code where the CPU has it (same operations,
//! no fused multiply-add: bit-identical to the portable build).
//!
//! Per particle, with the time-only constants of [`IsoStep`] / [`DiagStep`]:
//!
//! ```text
//! mu   = (x_probe x + c_probe) / K + z_probe z                        (probe mean)
//! l_k  = log c_k - |mu - m_k|²_{S_k⁻¹} / 2,   w_k = exp(l_k - max l) / Σ exp(l - max l)
//! ŷ    = Σ_k w_k (m_k + G_k (mu - m_k)),      G_k = Σ_k S_k⁻¹ (the gain)
//! u    = -a x + c_drift + y_drift ŷ + z_drift z
//! ```
//!
//! For isotropic components `ŷ = (Σ_k w_k g_k) mu + Σ_k w_k (1 - g_k) m_k` with scalar gains
//! `g_k = s_k / (s_k + 1/K)` and `1 - g_k = (1/K) / (s_k + 1/K)` (formed without cancellation):
//! the drift is one scalar times `mu` plus a weighted sum of the means.

use super::{DriftForm, EXP_NEGLIGIBLE};

/// Rows per block: the log-weights of a block (`K x ROWS`) stay in L1 and the soft-max pass runs
/// over `ROWS` particles at a time.
const ROWS: usize = 64;

/// Time-only constants of an isotropic mixture at probe precision `K` (each length `n`, means
/// `n x d`).
pub(crate) struct IsoStep<'a> {
    /// `log pi_k - d/2 log(s_k + 1/K)`.
    pub logc: &'a [f64],
    /// `1/(s_k + 1/K)`.
    pub s_inv: &'a [f64],
    /// `g_k = s_k/(s_k + 1/K)`.
    pub gain: &'a [f64],
    /// `1 - g_k = (1/K)/(s_k + 1/K)`.
    pub keep: &'a [f64],
    /// Means, row-major `n x d`.
    pub means: &'a [f64],
}

/// Time-only constants of a diagonal mixture at probe precision `K` (`n x d` each but `logc`).
pub(crate) struct DiagStep<'a> {
    /// `log pi_k - 1/2 Σ_j log(s_kj + 1/K)` (length `n`).
    pub logc: &'a [f64],
    /// `1/(s_kj + 1/K)`.
    pub s_inv: &'a [f64],
    /// `s_kj/(s_kj + 1/K)`.
    pub gain: &'a [f64],
    /// Means.
    pub means: &'a [f64],
}

/// The covariance shape of a fused step.
pub(crate) enum Step<'a> {
    Iso(IsoStep<'a>),
    Diag(DiagStep<'a>),
}

impl Step<'_> {
    fn n(&self) -> usize {
        match self {
            Step::Iso(s) => s.logc.len(),
            Step::Diag(s) => s.logc.len(),
        }
    }
}

/// Scratch length of [`drift_rows`] for `n` components in dimension `d`.
pub(crate) fn work_len(n: usize, d: usize) -> usize {
    n * ROWS + 3 * ROWS + ROWS * d + d
}

/// The fused drift of every row of `x` (row-major, `d` columns) into `out`; `z` the starts: one
/// row per row of `x`, one row (length `d`) for every row, or `None` (the origin); `work` at least
/// [`work_len`] long.
pub(crate) fn drift_rows(
    step: &Step<'_>,
    d: usize,
    form: &DriftForm<'_>,
    x: &[f64],
    z: Option<&[f64]>,
    out: &mut [f64],
    work: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        unsafe { drift_rows_avx2(step, d, form, x, z, out, work) };
        return;
    }
    drift_rows_impl::<Portable>(step, d, form, x, z, out, work);
}

/// [`drift_rows_impl`] compiled for AVX2 (no FMA: the same roundings as the portable build).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn drift_rows_avx2(
    step: &Step<'_>,
    d: usize,
    form: &DriftForm<'_>,
    x: &[f64],
    z: Option<&[f64]>,
    out: &mut [f64],
    work: &mut [f64],
) {
    drift_rows_impl::<Avx2>(step, d, form, x, z, out, work);
}

/// [`drift_rows_dim`] with the dimension a compile-time constant for `d <= 4` (where the
/// per-particle loop overhead would otherwise dominate).
#[inline(always)]
fn drift_rows_impl<Q: SqDist>(
    step: &Step<'_>,
    d: usize,
    form: &DriftForm<'_>,
    x: &[f64],
    z: Option<&[f64]>,
    out: &mut [f64],
    work: &mut [f64],
) {
    match d {
        1 => drift_rows_dim::<Q, 1>(step, d, form, x, z, out, work),
        2 => drift_rows_dim::<Q, 2>(step, d, form, x, z, out, work),
        3 => drift_rows_dim::<Q, 3>(step, d, form, x, z, out, work),
        4 => drift_rows_dim::<Q, 4>(step, d, form, x, z, out, work),
        _ => drift_rows_dim::<Q, 0>(step, d, form, x, z, out, work),
    }
}

/// The three passes over blocks of [`ROWS`] particles; `D > 0` fixes `d = D`.
#[inline(always)]
fn drift_rows_dim<Q: SqDist, const D: usize>(
    step: &Step<'_>,
    d: usize,
    form: &DriftForm<'_>,
    x: &[f64],
    z: Option<&[f64]>,
    out: &mut [f64],
    work: &mut [f64],
) {
    let d = if D == 0 { d } else { D };
    let n = step.n();
    let (lw, rest) = work.split_at_mut(n * ROWS);
    let (top, rest) = rest.split_at_mut(ROWS);
    let (inv, rest) = rest.split_at_mut(ROWS);
    let (gy, rest) = rest.split_at_mut(ROWS);
    let (mub, rest) = rest.split_at_mut(ROWS * d);
    let zeros = &mut rest[..d];
    zeros.iter_mut().for_each(|v| *v = 0.0);
    let zeros = &*zeros;
    let form = &DriftForm {
        c_probe: &form.c_probe[..d],
        c_drift: &form.c_drift[..d],
        ..*form
    };
    let rows = x.len() / d;
    let starts = match z {
        // one start row per particle, or one row for every particle
        Some(z) if z.len() != d => Starts::Rows(z),
        Some(z) => Starts::Common(&z[..d]),
        None => Starts::Common(zeros),
    };
    let mut lo = 0;
    while lo < rows {
        let m = ROWS.min(rows - lo);
        let blk = Block {
            d,
            form,
            x: &x[lo * d..(lo + m) * d],
            z: starts.rows(lo, m, d),
        };
        let out = &mut out[lo * d..(lo + m) * d];
        blk.drift::<Q, D>(step, lw, top, inv, gy, &mut mub[..m * d], out);
        lo += m;
    }
}

/// The starts of a batch: one row per particle, or one row for all.
#[derive(Clone, Copy)]
enum Starts<'a> {
    Rows(&'a [f64]),
    Common(&'a [f64]),
}

impl<'a> Starts<'a> {
    /// The starts of rows `lo .. lo + m`.
    fn rows(self, lo: usize, m: usize, d: usize) -> Starts<'a> {
        match self {
            Starts::Rows(z) => Starts::Rows(&z[lo * d..(lo + m) * d]),
            Starts::Common(z) => Starts::Common(z),
        }
    }
}

/// One block of at most [`ROWS`] rows, each pass a loop over the whole block (over rows and
/// coordinates, or over rows for the per-row scalars), so that the passes vectorise for every `d`,
/// `d = 1` included. Bit-identical to the per-row formulas of the module docs evaluated in order
/// (test `blocks_match_the_row_formulas`).
struct Block<'a> {
    d: usize,
    form: &'a DriftForm<'a>,
    /// states, `m x d`
    x: &'a [f64],
    /// starts of the block's rows
    z: Starts<'a>,
}

impl Block<'_> {
    /// Start row `r`.
    #[inline(always)]
    fn z(&self, r: usize, d: usize) -> &[f64] {
        match self.z {
            Starts::Rows(z) => &z[r * d..(r + 1) * d],
            Starts::Common(z) => &z[..d],
        }
    }

    /// `mub = (x_probe x + c_probe) / K + z_probe z`, row by row.
    #[inline(always)]
    fn probe_means<const D: usize>(&self, mub: &mut [f64]) {
        let (d, f) = (if D == 0 { self.d } else { D }, self.form);
        let (cp, xp, ik, zp) = (&f.c_probe[..d], f.x_probe, f.inv_k, f.z_probe);
        for (r, (mr, xr)) in mub
            .chunks_exact_mut(d)
            .zip(self.x.chunks_exact(d))
            .enumerate()
        {
            let zr = self.z(r, d);
            for (((m, &x), &c), &z) in mr.iter_mut().zip(xr).zip(cp).zip(zr) {
                *m = (xp * x + c) * ik + zp * z;
            }
        }
    }

    /// The drift without the target's term, `-a x + c_drift + z_drift z`, plus `gy[r] mu` when
    /// `gy` is given, row by row.
    #[inline(always)]
    fn base<const D: usize>(&self, gy: Option<&[f64]>, mub: &[f64], out: &mut [f64]) {
        let (d, f) = (if D == 0 { self.d } else { D }, self.form);
        let (cd, a, zd) = (&f.c_drift[..d], f.a, f.z_drift);
        let rows = out.chunks_exact_mut(d).zip(self.x.chunks_exact(d));
        for (r, ((or, xr), mr)) in rows.zip(mub.chunks_exact(d)).enumerate() {
            let zr = self.z(r, d);
            let base = or.iter_mut().zip(xr).zip(cd).zip(zr);
            match gy {
                Some(gy) => {
                    let g = gy[r];
                    for ((((o, &x), &c), &z), &mu) in base.zip(mr) {
                        *o = (-a * x + c + zd * z) + g * mu;
                    }
                }
                None => {
                    for (((o, &x), &c), &z) in base {
                        *o = -a * x + c + zd * z;
                    }
                }
            }
        }
    }

    /// The isotropic drift of two components, `u = ((base + gy mu) + ck_0 m_0) + ck_1 m_1` entry
    /// by entry in one sweep over the rows: the additions of [`Self::base`] followed by the
    /// component loop, in their order (the same bits), without storing and reloading `u` between.
    #[inline(always)]
    fn iso_drift2<const D: usize>(
        &self,
        gy: &[f64],
        ck0: &[f64],
        ck1: &[f64],
        means: &[f64],
        mub: &[f64],
        out: &mut [f64],
    ) {
        let (d, f) = (if D == 0 { self.d } else { D }, self.form);
        let (cd, a, zd) = (&f.c_drift[..d], f.a, f.z_drift);
        let (m0, m1) = (&means[..d], &means[d..2 * d]);
        let rows = out.chunks_exact_mut(d).zip(self.x.chunks_exact(d));
        for (r, ((or, xr), mr)) in rows.zip(mub.chunks_exact(d)).enumerate() {
            let zr = self.z(r, d);
            let (g, k0, k1) = (gy[r], ck0[r], ck1[r]);
            let terms = or
                .iter_mut()
                .zip(xr)
                .zip(cd)
                .zip(zr)
                .zip(mr)
                .zip(m0)
                .zip(m1);
            for ((((((o, &x), &c), &z), &mu), &v0), &v1) in terms {
                *o = (((-a * x + c + zd * z) + g * mu) + k0 * v0) + k1 * v1;
            }
        }
    }

    /// The drift of the block into `out`: probe means, log-weights, soft-max, then the drift.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn drift<Q: SqDist, const D: usize>(
        &self,
        step: &Step<'_>,
        lw: &mut [f64],
        top: &mut [f64],
        inv: &mut [f64],
        gy: &mut [f64],
        mub: &mut [f64],
        out: &mut [f64],
    ) {
        let d = if D == 0 { self.d } else { D };
        let (n, m, yd) = (step.n(), mub.len() / d, self.form.y_drift);
        self.probe_means::<D>(mub);
        // log-weights, row r of component k at lw[k ROWS + r]:
        // l_k = log c_k - |mu - m_k|² / (2 (s_k + 1/K)) (isotropic),
        // l_k = log c_k - Σ_j (mu_j - m_kj)² / (2 (s_kj + 1/K)) (diagonal)
        for c in 0..n {
            let lwc = &mut lw[c * ROWS..c * ROWS + m];
            let rows = lwc.iter_mut().zip(mub.chunks_exact(d));
            match step {
                Step::Iso(s) => {
                    let (mc, lc, sc) = (&s.means[c * d..(c + 1) * d], s.logc[c], s.s_inv[c]);
                    for (l, mr) in rows {
                        *l = lc - 0.5 * (Q::sq_dist::<D>(mr, mc, None, d) * sc);
                    }
                }
                Step::Diag(s) => {
                    let (mc, lc) = (&s.means[c * d..(c + 1) * d], s.logc[c]);
                    let sc = &s.s_inv[c * d..(c + 1) * d];
                    for (l, mr) in rows {
                        *l = lc - 0.5 * Q::sq_dist::<D>(mr, mc, Some(sc), d);
                    }
                }
            }
        }
        // relative weights w_k = exp(l_k - max l) in place, inv = 1 / Σ_k w_k
        softmax_block(lw, n, m, top, inv);
        let inv = &inv[..m];
        match step {
            Step::Iso(s) => {
                // ŷ = (Σ w_k g_k) mu + Σ w_k (1 - g_k) m_k: per row gy = y_drift inv Σ_k w_k g_k,
                // and ck_k = y_drift inv w_k (1 - g_k) in place of w_k
                let gy = &mut gy[..m];
                gy.iter_mut().for_each(|g| *g = 0.0);
                for c in 0..n {
                    let gc = s.gain[c];
                    for (g, &w) in gy.iter_mut().zip(&lw[c * ROWS..c * ROWS + m]) {
                        *g += w * gc;
                    }
                }
                for (g, &v) in gy.iter_mut().zip(inv) {
                    *g *= yd * v;
                }
                for c in 0..n {
                    let kc = s.keep[c];
                    for (w, &v) in lw[c * ROWS..c * ROWS + m].iter_mut().zip(inv) {
                        *w = (yd * v) * (*w * kc);
                    }
                }
                // u = base + gy mu + Σ_k ck_k m_k
                if n == 2 && D != 1 {
                    // two components: the whole sum in one sweep over each row's coordinates
                    self.iso_drift2::<D>(gy, &lw[..ROWS], &lw[ROWS..2 * ROWS], s.means, mub, out);
                    return;
                }
                // component by component over the block's rows (each entry receives its terms in
                // the order k = 0, 1, ..; for d = 1 the loop over rows vectorises)
                self.base::<D>(Some(gy), mub, out);
                for c in 0..n {
                    let (kc, mc) = (&lw[c * ROWS..c * ROWS + m], &s.means[c * d..(c + 1) * d]);
                    if D == 1 {
                        let mv = mc[0];
                        for (o, &k) in out.iter_mut().zip(kc) {
                            *o += k * mv;
                        }
                    } else {
                        for (or, &k) in out.chunks_exact_mut(d).zip(kc) {
                            for (o, &mv) in or.iter_mut().zip(mc) {
                                *o += k * mv;
                            }
                        }
                    }
                }
            }
            Step::Diag(s) => {
                // ck_k = y_drift inv w_k; u = base + Σ_k ck_k (m_k + G_k (mu - m_k))
                for c in 0..n {
                    for (w, &v) in lw[c * ROWS..c * ROWS + m].iter_mut().zip(inv) {
                        *w *= yd * v;
                    }
                }
                self.base::<D>(None, mub, out);
                for (r, (or, mr)) in out.chunks_exact_mut(d).zip(mub.chunks_exact(d)).enumerate() {
                    for c in 0..n {
                        let k = lw[c * ROWS + r];
                        if k == 0.0 {
                            continue;
                        }
                        let (mc, gc) = (&s.means[c * d..(c + 1) * d], &s.gain[c * d..(c + 1) * d]);
                        for (((o, &mu), &mv), &g) in or.iter_mut().zip(mr).zip(mc).zip(gc) {
                            *o += k * (mv + g * (mu - mv));
                        }
                    }
                }
            }
        }
    }
}

/// `|mu - m|²` (`s_inv: None`) or `Σ_j s_inv_j (mu_j - m_j)²`, summed in four interleaved partial
/// sums (lane `j mod 4`) added pairwise at the end, `(a0 + a1) + (a2 + a3)`; each implementation
/// performs the same IEEE operations (no fused multiply-add), so their bits agree.
trait SqDist {
    fn sq_dist<const D: usize>(mu: &[f64], m: &[f64], s_inv: Option<&[f64]>, d: usize) -> f64;
}

/// The portable build (the compiler's vectorisation).
struct Portable;

impl SqDist for Portable {
    #[inline(always)]
    fn sq_dist<const D: usize>(mu: &[f64], m: &[f64], s_inv: Option<&[f64]>, d: usize) -> f64 {
        sq_dist_portable::<D>(mu, m, s_inv, d)
    }
}

/// The AVX2 build: the four partial sums in one 256-bit register (the compiler splits them into
/// scalar and 128-bit pieces otherwise).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl SqDist for Avx2 {
    #[inline(always)]
    fn sq_dist<const D: usize>(mu: &[f64], m: &[f64], s_inv: Option<&[f64]>, d: usize) -> f64 {
        let d = if D == 0 { d } else { D };
        if d < 4 {
            return sq_dist_portable::<D>(mu, m, s_inv, d);
        }
        // SAFETY: `Avx2` is used only by `drift_rows_avx2`, which runs only on CPUs with AVX2.
        unsafe { sq_dist_avx2(&mu[..d], &m[..d], s_inv.map(|w| &w[..d])) }
    }
}

/// [`SqDist`] with 256-bit vectors for the whole quadruples, then the portable tail and sum.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn sq_dist_avx2(mu: &[f64], m: &[f64], s_inv: Option<&[f64]>) -> f64 {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd,
        _mm256_sub_pd,
    };
    let d = mu.len().min(m.len());
    let full = d / 4 * 4;
    let (mq, _) = mu[..full].as_chunks::<4>();
    let (mm, _) = m[..full].as_chunks::<4>();
    let mut v = _mm256_setzero_pd();
    let mut acc = [0.0f64; 4];
    // SAFETY (loads, store): every pointer is a whole `[f64; 4]`
    unsafe {
        match s_inv {
            None => {
                for (a, b) in mq.iter().zip(mm) {
                    let e = _mm256_sub_pd(_mm256_loadu_pd(a.as_ptr()), _mm256_loadu_pd(b.as_ptr()));
                    v = _mm256_add_pd(v, _mm256_mul_pd(e, e));
                }
            }
            Some(si) => {
                let (sq, _) = si[..full].as_chunks::<4>();
                for ((a, b), w) in mq.iter().zip(mm).zip(sq) {
                    let e = _mm256_sub_pd(_mm256_loadu_pd(a.as_ptr()), _mm256_loadu_pd(b.as_ptr()));
                    v = _mm256_add_pd(
                        v,
                        _mm256_mul_pd(e, _mm256_mul_pd(_mm256_loadu_pd(w.as_ptr()), e)),
                    );
                }
            }
        }
        _mm256_storeu_pd(acc.as_mut_ptr(), v);
    }
    finish_sq_dist(acc, mu, m, s_inv, full, d)
}

/// The coordinates `full .. d` (after the whole quadruples) into the first lanes of the partial
/// sums `acc`, then the pairwise total `(a0 + a1) + (a2 + a3)`.
#[inline(always)]
fn finish_sq_dist(
    mut acc: [f64; 4],
    mu: &[f64],
    m: &[f64],
    s_inv: Option<&[f64]>,
    full: usize,
    d: usize,
) -> f64 {
    for (l, j) in (full..d).enumerate() {
        let e = mu[j] - m[j];
        acc[l] += match s_inv {
            None => e * e,
            Some(si) => e * (si[j] * e),
        };
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// [`SqDist`] as plain loops over arrays of four lanes.
#[inline(always)]
fn sq_dist_portable<const D: usize>(mu: &[f64], m: &[f64], s_inv: Option<&[f64]>, d: usize) -> f64 {
    let d = if D == 0 { d } else { D };
    let (mu, m) = (&mu[..d], &m[..d]);
    let full = d / 4 * 4;
    let mut acc = [0.0f64; 4];
    // whole quadruples as arrays (one vector each), then the tail into the first lanes
    let (mq, _) = mu[..full].as_chunks::<4>();
    let (mm, _) = m[..full].as_chunks::<4>();
    match s_inv {
        None => {
            for (a, b) in mq.iter().zip(mm) {
                let e: [f64; 4] = std::array::from_fn(|l| a[l] - b[l]);
                acc = std::array::from_fn(|l| acc[l] + e[l] * e[l]);
            }
        }
        Some(si) => {
            let (sq, _) = si[..full].as_chunks::<4>();
            for ((a, b), w) in mq.iter().zip(mm).zip(sq) {
                let e: [f64; 4] = std::array::from_fn(|l| a[l] - b[l]);
                acc = std::array::from_fn(|l| acc[l] + e[l] * (w[l] * e[l]));
            }
        }
    }
    finish_sq_dist(acc, mu, m, s_inv, full, d)
}

/// Soft-max over the components of `m` rows: `lw[k ROWS + r] <- exp(l_k - max_k l)` (zero below
/// [`EXP_NEGLIGIBLE`], as the per-particle path skips those components) and `inv[r] = 1 / Σ_k`.
#[inline(always)]
fn softmax_block(lw: &mut [f64], n: usize, m: usize, top: &mut [f64], inv: &mut [f64]) {
    let top = &mut top[..m];
    top.copy_from_slice(&lw[..m]);
    for c in 1..n {
        for (t, &l) in top.iter_mut().zip(&lw[c * ROWS..c * ROWS + m]) {
            *t = if l > *t { l } else { *t };
        }
    }
    let inv = &mut inv[..m];
    if n == 2 {
        // two components: the larger log-weight's `l - max l` is exactly 0 (weight exp(0) = 1),
        // so `e_0 + e_1` is the other one's exponent and one exponential per row gives both
        // weights with the bits of the general loop below (NaN in either stays NaN; log-weights
        // are never +inf: l_k = log c_k - (a sum of squares) / 2)
        let (l0, l1) = lw.split_at_mut(ROWS);
        for (((w0, w1), &t), s) in l0[..m]
            .iter_mut()
            .zip(&mut l1[..m])
            .zip(&*top)
            .zip(inv.iter_mut())
        {
            let (e0, e1) = (*w0 - t, *w1 - t);
            let y = exp_nonpositive(e0 + e1);
            *w0 = if e0 == 0.0 { 1.0 } else { y };
            *w1 = if e1 == 0.0 { 1.0 } else { y };
            *s = 1.0 / ((0.0 + *w0) + *w1);
        }
        return;
    }
    inv.iter_mut().for_each(|s| *s = 0.0);
    for c in 0..n {
        for ((l, &t), s) in lw[c * ROWS..c * ROWS + m]
            .iter_mut()
            .zip(&*top)
            .zip(inv.iter_mut())
        {
            let w = exp_nonpositive(*l - t);
            *l = w;
            *s += w;
        }
    }
    inv.iter_mut().for_each(|s| *s = 1.0 / *s);
}

/// `exp(e)` for `e <= 0`, branch-free (vectorisable): `0` below [`EXP_NEGLIGIBLE`] (the weights
/// the per-particle path skips), exactly `1` at `e = 0`, otherwise within 2 ulp of `f64::exp`
/// (Cody-Waite reduction `e = n ln 2 + r`, `|r| <= ln 2 / 2`, degree-13 Taylor polynomial whose
/// truncation error is below `4.2e-18`, scaling by `2^n` through the exponent bits). NaN in, NaN
/// out.
#[inline(always)]
pub(crate) fn exp_nonpositive(e: f64) -> f64 {
    // 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 11 trailing zero bits (k LN2_HI exact for |k| < 2^11)
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let x = if e < EXP_NEGLIGIBLE - 1.0 {
        EXP_NEGLIGIBLE - 1.0
    } else {
        e
    };
    let kd = x * std::f64::consts::LOG2_E + SHIFT;
    let k = kd - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // e^r = Σ_{i <= 13} r^i / i!
    let p = 1.0 / 479_001_600.0 + r * (1.0 / 6_227_020_800.0);
    let p = 1.0 / 39_916_800.0 + r * p;
    let p = 1.0 / 3_628_800.0 + r * p;
    let p = 1.0 / 362_880.0 + r * p;
    let p = 1.0 / 40_320.0 + r * p;
    let p = 1.0 / 5_040.0 + r * p;
    let p = 1.0 / 720.0 + r * p;
    let p = 1.0 / 120.0 + r * p;
    let p = 1.0 / 24.0 + r * p;
    let p = 1.0 / 6.0 + r * p;
    let p = 0.5 + r * p;
    let p = 1.0 + r * p;
    let p = 1.0 + r * p;
    // 2^k: k in [-59, 0] sits in the low bits of kd; shifted into the exponent field
    let scale = f64::from_bits(kd.to_bits().wrapping_add(1023) << 52);
    let y = p * scale;
    if e < EXP_NEGLIGIBLE {
        0.0
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_nonpositive_matches_std() {
        let mut worst = 0;
        for i in 0..400_001u64 {
            let e = -(i as f64) * 1e-4 - (i % 7) as f64 * 1.3e-9;
            if e < EXP_NEGLIGIBLE {
                assert_eq!(exp_nonpositive(e), 0.0);
            } else {
                worst = worst.max(ulps(exp_nonpositive(e), e.exp()));
            }
        }
        assert!(worst <= 2, "worst exp error {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-1000.0), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f64::NAN).is_nan());
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The module docs' per-particle formulas, one row at a time, in the kernel's order of
    /// operations (no fused multiply-add): the reference the block kernel must equal bit for bit.
    fn row_reference(
        step: &Step<'_>,
        d: usize,
        f: &DriftForm<'_>,
        x: &[f64],
        z: &[f64],
    ) -> Vec<f64> {
        let n = step.n();
        let mu: Vec<f64> = (0..d)
            .map(|j| (f.x_probe * x[j] + f.c_probe[j]) * f.inv_k + f.z_probe * z[j])
            .collect();
        let base = |j: usize| -f.a * x[j] + f.c_drift[j] + f.z_drift * z[j];
        // |mu - m|² (weighted), lanes j mod 4, (a0 + a1) + (a2 + a3)
        let q = |m: &[f64], w: Option<&[f64]>| {
            let mut acc = [0.0; 4];
            for j in 0..d {
                let e = mu[j] - m[j];
                acc[j % 4] += w.map_or(e * e, |w| e * (w[j] * e));
            }
            (acc[0] + acc[1]) + (acc[2] + acc[3])
        };
        let l: Vec<f64> = (0..n)
            .map(|c| match step {
                Step::Iso(s) => {
                    s.logc[c] - 0.5 * (q(&s.means[c * d..(c + 1) * d], None) * s.s_inv[c])
                }
                Step::Diag(s) => {
                    s.logc[c]
                        - 0.5
                            * q(
                                &s.means[c * d..(c + 1) * d],
                                Some(&s.s_inv[c * d..(c + 1) * d]),
                            )
                }
            })
            .collect();
        let top = l.iter().fold(l[0], |t, &v| if v > t { v } else { t });
        let w: Vec<f64> = l.iter().map(|&v| exp_nonpositive(v - top)).collect();
        let yw = f.y_drift * (1.0 / w.iter().fold(0.0, |s, v| s + v));
        (0..d)
            .map(|j| match step {
                Step::Iso(s) => {
                    let g = (0..n).fold(0.0, |g, c| g + w[c] * s.gain[c]);
                    let mut u = base(j) + (yw * g) * mu[j];
                    for c in 0..n {
                        u += (yw * (w[c] * s.keep[c])) * s.means[c * d + j];
                    }
                    u
                }
                Step::Diag(s) => {
                    let mut u = base(j);
                    for c in 0..n {
                        let k = yw * w[c];
                        if k != 0.0 {
                            let (m, g) = (s.means[c * d + j], s.gain[c * d + j]);
                            u += k * (m + g * (mu[j] - m));
                        }
                    }
                    u
                }
            })
            .collect()
    }

    /// The two-component soft-max (one exponential per row) against the general loop's formulas,
    /// bit for bit (NaN for NaN), on ties, signed zeros, NaN, -inf and weights below
    /// `EXP_NEGLIGIBLE`.
    #[test]
    fn two_component_softmax_matches_the_general_loop() {
        let v = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            -40.0,
            -800.0,
            3.0e-300,
            f64::NAN,
            f64::NEG_INFINITY,
        ];
        let pairs: Vec<(f64, f64)> = v
            .iter()
            .flat_map(|&a| v.iter().map(move |&b| (a, b)))
            .collect();
        for rows in pairs.chunks(ROWS) {
            let m = rows.len();
            let mut lw = vec![0.0; 2 * ROWS];
            for (r, &(a, b)) in rows.iter().enumerate() {
                (lw[r], lw[ROWS + r]) = (a, b);
            }
            let (mut top, mut inv) = (vec![0.0; ROWS], vec![0.0; ROWS]);
            softmax_block(&mut lw, 2, m, &mut top, &mut inv);
            for (r, &(a, b)) in rows.iter().enumerate() {
                let t = if b > a { b } else { a };
                let (w0, w1) = (exp_nonpositive(a - t), exp_nonpositive(b - t));
                let s = 1.0 / ((0.0 + w0) + w1);
                for (got, want) in [(lw[r], w0), (lw[ROWS + r], w1), (inv[r], s)] {
                    // bit for bit, NaN for NaN (x86 arithmetic does not keep NaN payloads)
                    let same = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
                    assert!(same, "l = ({a}, {b}): {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn blocks_match_the_row_formulas() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut checked = 0;
        for &d in &[1, 2, 3, 4, 5, 7, 8, 13, 32] {
            for &n in &[1, 2, 3, 5] {
                for starts in 0..3 {
                    let rows = rng.random_range(1..150);
                    let mut v = |len: usize, lo: f64, hi: f64| -> Vec<f64> {
                        (0..len).map(|_| rng.random_range(lo..hi)).collect()
                    };
                    let (means, s_inv, gain) =
                        (v(n * d, -2.0, 2.0), v(n * d, 0.5, 3.0), v(n * d, 0.0, 1.0));
                    let (logc, keep, c_probe, c_drift) = (
                        v(n, -3.0, 0.0),
                        v(n, 0.0, 1.0),
                        v(d, -1.0, 1.0),
                        v(d, -1.0, 1.0),
                    );
                    let x = v(rows * d, -3.0, 3.0);
                    // starts: the origin, one common row, or one row per particle
                    let z = match starts {
                        0 => None,
                        1 => Some(v(d, -1.0, 1.0)),
                        _ => Some(v(rows * d, -1.0, 1.0)),
                    };
                    let f = DriftForm {
                        x_probe: 0.7,
                        c_probe: &c_probe,
                        inv_k: 1.0 / 1.3,
                        z_probe: if starts == 0 { 0.0 } else { 0.4 },
                        a: 1.1,
                        c_drift: &c_drift,
                        y_drift: 0.9,
                        z_drift: -0.3,
                    };
                    let steps = [
                        Step::Iso(IsoStep {
                            logc: &logc,
                            s_inv: &s_inv[..n],
                            gain: &gain[..n],
                            keep: &keep,
                            means: &means,
                        }),
                        Step::Diag(DiagStep {
                            logc: &logc,
                            s_inv: &s_inv,
                            gain: &gain,
                            means: &means,
                        }),
                    ];
                    for step in &steps {
                        let mut out = vec![f64::NAN; rows * d];
                        let mut work = vec![0.0; work_len(n, d)];
                        drift_rows(step, d, &f, &x, z.as_deref(), &mut out, &mut work);
                        // the portable build (the one above is AVX2 where the CPU has it)
                        let mut portable = vec![f64::NAN; rows * d];
                        drift_rows_impl::<Portable>(
                            step,
                            d,
                            &f,
                            &x,
                            z.as_deref(),
                            &mut portable,
                            &mut work,
                        );
                        let same = out
                            .iter()
                            .zip(&portable)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "portable and dispatched builds differ: d {d} n {n} starts {starts}"
                        );
                        let zero = vec![0.0; d];
                        for r in 0..rows {
                            let zr = match &z {
                                None => &zero[..],
                                Some(z) if z.len() == d => &z[..],
                                Some(z) => &z[r * d..(r + 1) * d],
                            };
                            let want = row_reference(step, d, &f, &x[r * d..(r + 1) * d], zr);
                            for j in 0..d {
                                assert_eq!(
                                    out[r * d + j].to_bits(),
                                    want[j].to_bits(),
                                    "d {d} n {n} starts {starts} row {r} coord {j}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
