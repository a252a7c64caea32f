//! Targets `p_tar` behind one trait: the guided drift needs only the probe mean
//! `ŷ = E_q[y]` of the probe law `q(y) ∝ p_tar(y) N(y; mu, I/K)`.

mod empirical;
mod energy;
mod fused;
mod mixture;

pub use empirical::Empirical;
pub use energy::EnergyTarget;
pub use mixture::{Covariance, GaussianMixture, MixtureProbe, MixtureSpec};

use crate::error::{BridgeError, MixtureDefect, MixtureIndex, Result};

/// A terminal law `p_tar` on `R^d`, seen through its probe mean.
///
/// Protocol per time step (the bridge drift follows it):
/// 1. [`Target::prepare`] is called serially once with the probe precision `K_t > 0`; all
///    time-only work (e.g. factorising `S_k = Σ_k + I/K_t`) belongs here;
/// 2. [`Target::probe_mean`] is then called concurrently, once per particle, with a work slice of
///    length [`Target::work_len`].
pub trait Target: Send + Sync {
    /// Dimension `d`.
    fn dim(&self) -> usize;

    /// Time-only precomputation for probe precision `k = K_t` (> 0, finite) at time `t`.
    fn prepare(&mut self, k: f64, t: f64) -> Result<()>;

    /// Length of the work slice [`Target::probe_mean`] needs.
    fn work_len(&self) -> usize;

    /// Write `ŷ = E_q[y]`, `q(y) ∝ p_tar(y) N(y; mu, I/K)`, for probe mean `mu` (length `d`) into
    /// `out` (length `d`). `particle` is the global particle index (used by stochastic targets to
    /// pick a reproducible random stream). Uses the `k` of the last [`Target::prepare`].
    fn probe_mean(&self, mu: &[f64], particle: usize, out: &mut [f64], work: &mut [f64]);

    /// Optional fused path for a batch of particles: write the drift
    /// `u_i = -a⁻ x_i + θx + b⁻ ŷ(mu_i) + z_drift z_i` with `mu_i = (b⁻ x_i + Θ)/K + z_probe z_i`
    /// (see [`DriftForm`]) for the rows of `x` (row-major, `d` columns) into `out`, starts `z` one
    /// row per row of `x`, or one row of length `d` for every row (`None`: the origin). `work` is scratch the target may resize. Returns
    /// `false`, writing nothing, when the target has no fused path (the default): the bridge then
    /// calls [`Target::probe_mean`] per particle. A fused path must agree with the per-particle
    /// one to rounding; it may not use `particle`-dependent randomness.
    fn drift_rows(
        &self,
        form: &DriftForm<'_>,
        x: &[f64],
        z: Option<&[f64]>,
        out: &mut [f64],
        work: &mut Vec<f64>,
    ) -> bool {
        let _ = (form, x, z, out, work);
        false
    }

    /// An independent copy, [prepared](Self::prepare) separately from this one (default `None`).
    /// A bridge on a target with copies [forks](mfpid_sde::Drift::fork), which lets a lockstep
    /// run take several steps of a chunk while it is in cache.
    fn fork(&self) -> Option<Box<dyn Target>> {
        None
    }
}

/// The bridge drift at one prepared time as two affine maps around the probe mean (time-only
/// coefficients, the same for every particle):
///
/// ```text
/// mu = (x_probe x + c_probe) inv_k + z_probe z,   u = -a x + c_drift + y_drift ŷ(mu) + z_drift z
/// ```
///
/// with `x_probe = b⁻`, `c_probe = Θ`, `inv_k = 1/K`, `a = a⁻`, `c_drift = θx`, `y_drift = b⁻`.
#[derive(Debug, Clone, Copy)]
pub struct DriftForm<'a> {
    /// `b⁻`: coefficient of `x` in the probe mean (before the factor `1/K`).
    pub x_probe: f64,
    /// `Θ = θy - θ⁺_1` (length `d`): constant of the probe mean (before the factor `1/K`).
    pub c_probe: &'a [f64],
    /// `1/K`.
    pub inv_k: f64,
    /// Coefficient of the start `z` in the probe mean.
    pub z_probe: f64,
    /// `a⁻`: the drift has `-a⁻ x`.
    pub a: f64,
    /// `θx` (length `d`): constant of the drift.
    pub c_drift: &'a [f64],
    /// `b⁻`: coefficient of `ŷ` in the drift.
    pub y_drift: f64,
    /// Coefficient of the start `z` in the drift.
    pub z_drift: f64,
}

impl<T: Target + ?Sized> Target for Box<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn prepare(&mut self, k: f64, t: f64) -> Result<()> {
        (**self).prepare(k, t)
    }
    fn work_len(&self) -> usize {
        (**self).work_len()
    }
    fn probe_mean(&self, mu: &[f64], particle: usize, out: &mut [f64], work: &mut [f64]) {
        (**self).probe_mean(mu, particle, out, work)
    }
    fn drift_rows(
        &self,
        form: &DriftForm<'_>,
        x: &[f64],
        z: Option<&[f64]>,
        out: &mut [f64],
        work: &mut Vec<f64>,
    ) -> bool {
        (**self).drift_rows(form, x, z, out, work)
    }
    fn fork(&self) -> Option<Box<dyn Target>> {
        (**self).fork()
    }
}

/// Validate a probe precision.
pub(crate) fn check_k(k: f64) -> Result<()> {
    if k > 0.0 && k.is_finite() {
        Ok(())
    } else {
        Err(BridgeError::OutOfRange {
            what: "probe precision K_t",
            value: k,
            range: "(0, inf)",
        })
    }
}

/// Validate weights: finite, `>= 0`, positive finite sum. Returns the normalised log-weights, or
/// the first defect: its entry (`Sum` for the sum), the value and what is wrong. Each target maps
/// the defect to its own error.
pub(crate) fn normalised_log_weights(
    w: &[f64],
) -> std::result::Result<Vec<f64>, (MixtureIndex, f64, MixtureDefect)> {
    if let Some(k) = w.iter().position(|x| !x.is_finite()) {
        return Err((MixtureIndex::Component(k), w[k], MixtureDefect::NotFinite));
    }
    if let Some(k) = w.iter().position(|&x| x < 0.0) {
        return Err((MixtureIndex::Component(k), w[k], MixtureDefect::Negative));
    }
    let sum: f64 = w.iter().sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return Err((MixtureIndex::Sum, sum, MixtureDefect::NoPositiveSum));
    }
    Ok(w.iter().map(|x| (x / sum).ln()).collect())
}

/// Components whose log-weight lies more than 40 below the largest are skipped in the soft-max
/// sums. Their weight relative to the largest is below `e^-40 ≈ 4.2e-18 < 2^-54`, so adding it to
/// the weight sum (`>= 1`) cannot change that sum in f64, and its share of the weighted mean is at
/// most `4.2e-18 |m̃_k|` in absolute terms, below the rounding of the mean itself except where a
/// coordinate of the mean is itself within ~1e-17 of zero. Below `-745.13` `exp` underflows to
/// exactly `0` anyway (and takes libm's slow underflow path, which the skip avoids); the cut at
/// `-40` also saves the regular `exp` calls on components that cannot matter.
pub(crate) const EXP_NEGLIGIBLE: f64 = -40.0;

/// `exp(e)` for a log-weight difference `e = l - max(l) <= 0`, with the two shortcuts used by the
/// softmax loops: `None` for a negligible component (`e < EXP_NEGLIGIBLE`: skip it), `1` at the
/// maximum (`exp(0) = 1` exactly). NaN stays NaN. The exponential is the fused drift's
/// [`fused::exp_nonpositive`] (within 2 ulp of `f64::exp`, branch-free), so every soft-max of the
/// crate uses the same one.
#[inline]
pub(crate) fn relative_weight(e: f64) -> Option<f64> {
    if e < EXP_NEGLIGIBLE {
        None
    } else {
        Some(fused::exp_nonpositive(e))
    }
}

/// Softmax-combine: given log-weights `l` (length n) and rows `rows` (n x d), write the weighted
/// mean into `out`. Entries with `l = -inf`, or more than 40 below the maximum (weight below
/// `4.2e-18` of the largest, see [`EXP_NEGLIGIBLE`]), get zero weight. `l` is left holding the
/// relative weights `exp(l - max l)`.
pub(crate) fn softmax_combine(l: &mut [f64], rows: &[f64], d: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
        unsafe { softmax_combine_avx512(l, rows, d, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        unsafe { softmax_combine_avx2(l, rows, d, out) };
        return;
    }
    softmax_combine_impl(l, rows, d, out);
}

/// [`softmax_combine_impl`] compiled for AVX2 (the exponentials four at a time; the same
/// operations, no fused multiply-add: the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_combine_avx2(l: &mut [f64], rows: &[f64], d: usize, out: &mut [f64]) {
    softmax_combine_impl(l, rows, d, out);
}

/// [`softmax_combine_impl`] compiled for AVX-512F (eight at a time; the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_combine_avx512(l: &mut [f64], rows: &[f64], d: usize, out: &mut [f64]) {
    softmax_combine_impl(l, rows, d, out);
}

/// The body of [`softmax_combine`].
#[inline(always)]
fn softmax_combine_impl(l: &mut [f64], rows: &[f64], d: usize, out: &mut [f64]) {
    let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // the relative weights in place, in one loop that vectorises (zero for the negligible ones,
    // which are then skipped as by `relative_weight`)
    for li in l.iter_mut() {
        *li = fused::exp_nonpositive(*li - m);
    }
    let s = match d {
        // small d: the sums in a local array (registers), the same additions in the same order
        1 => weighted_rows_in::<1>(l, rows, out),
        2 => weighted_rows_in::<2>(l, rows, out),
        3 => weighted_rows_in::<3>(l, rows, out),
        4 => weighted_rows_in::<4>(l, rows, out),
        _ => weighted_rows(l, rows, d, out),
    };
    let inv = 1.0 / s;
    out.iter_mut().for_each(|o| *o *= inv);
}

/// `acc = Σ_i w_i row_i` over the rows with `w_i != 0` (rows of `d` numbers, in order), and
/// `Σ_i w_i`: [`softmax_combine`]'s loop.
#[inline(always)]
fn weighted_rows(w: &[f64], rows: &[f64], d: usize, acc: &mut [f64]) -> f64 {
    acc.iter_mut().for_each(|a| *a = 0.0);
    let mut s = 0.0;
    for (&wi, row) in w.iter().zip(rows.chunks_exact(d)) {
        if wi == 0.0 {
            continue;
        }
        s += wi;
        for (a, r) in acc.iter_mut().zip(row) {
            *a += wi * r;
        }
    }
    s
}

/// [`weighted_rows`] for `d = D` into a local array (kept in registers instead of a load, add and
/// store of `out` per row), then copied to `out`.
#[inline(always)]
fn weighted_rows_in<const D: usize>(w: &[f64], rows: &[f64], out: &mut [f64]) -> f64 {
    let mut acc = [0.0f64; D];
    let s = weighted_rows(w, rows, D, &mut acc);
    out[..D].copy_from_slice(&acc);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The dispatched soft-max (AVX-512F, AVX2 or portable, whichever the CPU has; register sums
    /// for d <= 4) gives the bits of the plain loop: weights in order, rows in order, negligible
    /// ones skipped.
    #[test]
    fn softmax_combine_matches_the_plain_loop() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for d in 1..=6 {
            for n in [1usize, 7, 64, 333] {
                let rows: Vec<f64> = (0..n * d)
                    .map(|_| rng.random::<f64>() * 8.0 - 4.0)
                    .collect();
                // log-weights spread over 100 units: some negligible, some -inf
                let l0: Vec<f64> = (0..n)
                    .map(|i| {
                        if i % 17 == 5 {
                            f64::NEG_INFINITY
                        } else {
                            -100.0 * rng.random::<f64>()
                        }
                    })
                    .collect();
                let (mut l, mut out) = (l0.clone(), vec![f64::NAN; d]);
                softmax_combine(&mut l, &rows, d, &mut out);
                // the plain loop
                let m = l0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = l0.iter().map(|&v| fused::exp_nonpositive(v - m)).collect();
                let (mut want, mut s) = (vec![0.0; d], 0.0);
                for (&wi, row) in w.iter().zip(rows.chunks_exact(d)) {
                    if wi == 0.0 {
                        continue;
                    }
                    s += wi;
                    for (o, r) in want.iter_mut().zip(row) {
                        *o += wi * r;
                    }
                }
                want.iter_mut().for_each(|o| *o *= 1.0 / s);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(&want), "d = {d}, n = {n}");
                assert_eq!(bits(&l), bits(&w), "weights, d = {d}, n = {n}");
            }
        }
    }
}
