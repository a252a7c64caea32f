//! The fused bridge drift for Gaussian-mixture targets with isotropic (`Σ_k = s_k I`) or diagonal
//! covariances: for a batch of particles, the probe mean, the responsibilities and the drift in
//! `O(K d)` scalar arithmetic per particle, no allocation once warm, in three passes that the
//! compiler vectorises (over coordinates, then over particles for the soft-max, then over
//! coordinates again), with the AVX2 build of the same code where the CPU has it (same operations,
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
    n * ROWS + 2 * ROWS + 2 * d + n
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
    drift_rows_impl(step, d, form, x, z, out, work);
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
    drift_rows_impl(step, d, form, x, z, out, work);
}

/// One row's inputs: state, start (zeros for the origin) and the affine form.
#[derive(Clone, Copy)]
struct Row<'a> {
    x: &'a [f64],
    z: &'a [f64],
    form: &'a DriftForm<'a>,
}

impl Row<'_> {
    /// Probe mean coordinate `mu_j = (x_probe x_j + c_probe_j) / K + z_probe z_j`.
    #[inline(always)]
    fn mu(&self, j: usize) -> f64 {
        (self.form.x_probe * self.x[j] + self.form.c_probe[j]) * self.form.inv_k
            + self.form.z_probe * self.z[j]
    }

    /// Drift without the target's term: `-a x_j + c_drift_j + z_drift z_j`.
    #[inline(always)]
    fn base(&self, j: usize) -> f64 {
        -self.form.a * self.x[j] + self.form.c_drift[j] + self.form.z_drift * self.z[j]
    }
}

/// [`drift_rows_dim`] with the dimension a compile-time constant for `d <= 4` (where the
/// per-particle loop overhead would otherwise dominate).
#[inline(always)]
fn drift_rows_impl(
    step: &Step<'_>,
    d: usize,
    form: &DriftForm<'_>,
    x: &[f64],
    z: Option<&[f64]>,
    out: &mut [f64],
    work: &mut [f64],
) {
    match d {
        1 => drift_rows_dim::<1>(step, d, form, x, z, out, work),
        2 => drift_rows_dim::<2>(step, d, form, x, z, out, work),
        3 => drift_rows_dim::<3>(step, d, form, x, z, out, work),
        4 => drift_rows_dim::<4>(step, d, form, x, z, out, work),
        _ => drift_rows_dim::<0>(step, d, form, x, z, out, work),
    }
}

/// The three passes over blocks of [`ROWS`] particles; `D > 0` fixes `d = D`.
#[inline(always)]
fn drift_rows_dim<const D: usize>(
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
    let (zeros, rest) = rest.split_at_mut(d);
    let (mu, rest) = rest.split_at_mut(d);
    let q = &mut rest[..n];
    zeros.iter_mut().for_each(|v| *v = 0.0);
    let zeros = &*zeros;
    let form = &DriftForm {
        c_probe: &form.c_probe[..d],
        c_drift: &form.c_drift[..d],
        ..*form
    };
    let rows = x.len() / d;
    // one start row for every particle (stride 0) or one per particle
    let zs = z.map_or(0, |z| if z.len() == d { 0 } else { d });
    let row = |i: usize| Row {
        x: &x[i * d..(i + 1) * d],
        z: z.map_or(zeros, |z| &z[i * zs..i * zs + d]),
        form,
    };
    let mut lo = 0;
    while lo < rows {
        let m = ROWS.min(rows - lo);
        // pass 1: log-weights l_k of each row (row r of component k at lw[k ROWS + r])
        for r in 0..m {
            let rw = row(lo + r);
            match step {
                Step::Iso(s) => {
                    quad_forms(rw, s.means, None, d, q);
                    for c in 0..n {
                        lw[c * ROWS + r] = s.logc[c] - 0.5 * (q[c] * s.s_inv[c]);
                    }
                }
                Step::Diag(s) => {
                    quad_forms(rw, s.means, Some(s.s_inv), d, q);
                    for c in 0..n {
                        lw[c * ROWS + r] = s.logc[c] - 0.5 * q[c];
                    }
                }
            }
        }
        // pass 2 (over rows): relative weights exp(l_k - max l) in place, 1 / their sum
        softmax_block(lw, n, m, top, inv);
        // pass 3: the drift of each row, u = base + y_drift ŷ
        for r in 0..m {
            let rw = row(lo + r);
            let or = &mut out[(lo + r) * d..(lo + r + 1) * d];
            let yw = form.y_drift * inv[r];
            match step {
                Step::Iso(s) => {
                    // ŷ = (Σ w_k g_k) mu + Σ w_k (1 - g_k) m_k: q holds y_drift w_k (1 - g_k)
                    let mut g = 0.0;
                    for c in 0..n {
                        let w = lw[c * ROWS + r];
                        g += w * s.gain[c];
                        q[c] = yw * (w * s.keep[c]);
                    }
                    iso_drift(rw, yw * g, s.means, q, d, or);
                }
                Step::Diag(s) => {
                    for c in 0..n {
                        q[c] = yw * lw[c * ROWS + r];
                    }
                    diag_drift(rw, s.means, s.gain, q, d, mu, or);
                }
            }
        }
        lo += m;
    }
}

/// `q_k = |mu - m_k|²` (`s_inv: None`) or `Σ_j s_inv_kj (mu_j - m_kj)²` for every component,
/// components four at a time in one sweep over the coordinates, each sum in four interleaved
/// partial sums (lanes `j mod 4`, vectorisable) added pairwise at the end.
#[inline(always)]
fn quad_forms(rw: Row<'_>, means: &[f64], s_inv: Option<&[f64]>, d: usize, q: &mut [f64]) {
    let n = q.len();
    let mut c = 0;
    while c < n {
        match n - c {
            1 => quad_group::<1>(rw, means, s_inv, d, c, &mut q[c..]),
            2 => quad_group::<2>(rw, means, s_inv, d, c, &mut q[c..]),
            3 => quad_group::<3>(rw, means, s_inv, d, c, &mut q[c..]),
            _ => quad_group::<4>(rw, means, s_inv, d, c, &mut q[c..]),
        }
        c += 4;
    }
}

#[inline(always)]
fn quad_group<const N: usize>(
    rw: Row<'_>,
    means: &[f64],
    s_inv: Option<&[f64]>,
    d: usize,
    c0: usize,
    q: &mut [f64],
) {
    let m: [&[f64]; N] = std::array::from_fn(|c| &means[(c0 + c) * d..(c0 + c + 1) * d]);
    let si: [&[f64]; N] =
        std::array::from_fn(|c| s_inv.map_or(&[][..], |s| &s[(c0 + c) * d..(c0 + c + 1) * d]));
    let mut acc = [[0.0f64; 4]; N];
    let full = d / 4 * 4;
    let mut j = 0;
    while j < full {
        let mu: [f64; 4] = std::array::from_fn(|l| rw.mu(j + l));
        for c in 0..N {
            for l in 0..4 {
                let e = mu[l] - m[c][j + l];
                acc[c][l] += match s_inv {
                    None => e * e,
                    Some(_) => e * (si[c][j + l] * e),
                };
            }
        }
        j += 4;
    }
    for (l, j) in (full..d).enumerate() {
        let mu = rw.mu(j);
        for c in 0..N {
            let e = mu - m[c][j];
            acc[c][l] += match s_inv {
                None => e * e,
                Some(_) => e * (si[c][j] * e),
            };
        }
    }
    for c in 0..N {
        q[c] = (acc[c][0] + acc[c][1]) + (acc[c][2] + acc[c][3]);
    }
}

/// Isotropic drift of one row: `u_j = base_j + gy mu_j + Σ_k ck_k m_kj`.
#[inline(always)]
fn iso_drift(rw: Row<'_>, gy: f64, means: &[f64], ck: &[f64], d: usize, out: &mut [f64]) {
    let n = ck.len();
    match n {
        1 => iso_group::<1>(rw, gy, means, ck, d, 0, true, out),
        2 => iso_group::<2>(rw, gy, means, ck, d, 0, true, out),
        3 => iso_group::<3>(rw, gy, means, ck, d, 0, true, out),
        _ => {
            iso_group::<4>(rw, gy, means, ck, d, 0, true, out);
            let mut c = 4;
            while c < n {
                match n - c {
                    1 => iso_group::<1>(rw, gy, means, ck, d, c, false, out),
                    2 => iso_group::<2>(rw, gy, means, ck, d, c, false, out),
                    3 => iso_group::<3>(rw, gy, means, ck, d, c, false, out),
                    _ => iso_group::<4>(rw, gy, means, ck, d, c, false, out),
                }
                c += 4;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn iso_group<const N: usize>(
    rw: Row<'_>,
    gy: f64,
    means: &[f64],
    ck: &[f64],
    d: usize,
    c0: usize,
    first: bool,
    out: &mut [f64],
) {
    let m: [&[f64]; N] = std::array::from_fn(|c| &means[(c0 + c) * d..(c0 + c + 1) * d]);
    let k: [f64; N] = std::array::from_fn(|c| ck[c0 + c]);
    let out = &mut out[..d];
    if first {
        for j in 0..d {
            let mut u = rw.base(j) + gy * rw.mu(j);
            for c in 0..N {
                u += k[c] * m[c][j];
            }
            out[j] = u;
        }
    } else {
        for j in 0..d {
            let mut u = out[j];
            for c in 0..N {
                u += k[c] * m[c][j];
            }
            out[j] = u;
        }
    }
}

/// Diagonal drift of one row: `u_j = base_j + Σ_k ck_k (m_kj + G_kj (mu_j - m_kj))`.
#[inline(always)]
fn diag_drift(
    rw: Row<'_>,
    means: &[f64],
    gain: &[f64],
    ck: &[f64],
    d: usize,
    mu: &mut [f64],
    out: &mut [f64],
) {
    let (mu, out) = (&mut mu[..d], &mut out[..d]);
    for j in 0..d {
        mu[j] = rw.mu(j);
        out[j] = rw.base(j);
    }
    for (c, &k) in ck.iter().enumerate() {
        if k == 0.0 {
            continue;
        }
        let (mc, gc) = (&means[c * d..(c + 1) * d], &gain[c * d..(c + 1) * d]);
        for j in 0..d {
            out[j] += k * (mc[j] + gc[j] * (mu[j] - mc[j]));
        }
    }
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
