//! Exact standard normals by the ziggurat (Marsaglia & Tsang 2000, in Doornik's 2005 form, the
//! algorithm of `rand_distr`), split so that the common case vectorises: the *fast path*
//! (probability ~0.99) is a table lookup, a product and a comparison on one 64-bit word; a rejected
//! lane is marked NaN and finished by the scalar *slow path* (wedge and tail), which draws its
//! extra uniforms from an auxiliary counter region owned by that normal alone. Normal `n` of a
//! block is therefore a function of `(key, block, n)` only, as on the Box-Muller path.
//!
//! Two word sources: Philox counters through the 256 layers of `rand_distr` ([`Z256`];
//! [`super::normal`]'s chunk layout, rejected lanes marked NaN and fixed afterwards) and AES
//! counters through 1024 layers ([`Z1024`], fast path rejecting 0.43 % instead of 1.5 %;
//! [`fill_aes`]: normal `n` of a block is word `n` of its AES stream, the fast path written for
//! AVX2 with a scalar twin of the same bits).

use super::aes::{AesPath, AesStream, RoundKeys};
use super::normal::ln;
use super::philox::PhiloxStream;
use super::{ziggurat_tables, ziggurat_tables_1024};
use rand_core::RngCore;
use std::mem::MaybeUninit;

/// Bits of 2.0: `from_bits(TWO_BITS | m) - 3` is `u = m 2^-51 - 1` in `[-1, 1)` for a 52-bit `m`.
const TWO_BITS: u64 = 0x4000_0000_0000_0000;
/// Auxiliary counters per normal: normal `n` owns counters `n 2^8 .. (n + 1) 2^8` of the
/// auxiliary region (more are needed with probability below `10^-100`).
const AUX_SHIFT: u32 = 8;
/// Top bit of the counter's block word marks the auxiliary region (blocks stay below `2^63`).
const AUX_BLOCK: u64 = 1 << 63;

/// The tables of a ziggurat of `L - 1` layers (a power of two): right edges `x`, densities `f`,
/// tail start `r` (layout of `ziggurat_tables.rs`).
pub(crate) struct Layers<const L: usize> {
    x: [f64; L],
    f: [f64; L],
    r: f64,
}

/// The 256 layers of `rand_distr` (Philox words).
pub(crate) static Z256: Layers<257> = Layers {
    x: ziggurat_tables::X,
    f: ziggurat_tables::F,
    r: ziggurat_tables::R,
};

/// 1024 layers (AES words).
pub(crate) static Z1024: Layers<1025> = Layers {
    x: ziggurat_tables_1024::X,
    f: ziggurat_tables_1024::F,
    r: ziggurat_tables_1024::R,
};

impl<const L: usize> Layers<L> {
    /// Layer `i` (low bits), `u` in `[-1, 1)` (top 52 bits) and `x = u X[i]` of a word.
    #[inline(always)]
    fn layer_point(&self, w: u64) -> (usize, f64, f64) {
        let i = (w & (L as u64 - 2)) as usize;
        let u = f64::from_bits(TWO_BITS | (w >> 12)) - 3.0;
        (i, u, u * self.x[i])
    }

    /// Fast path: `x = u X[i]` when `|x| < X[i + 1]` (inside layer `i`'s rectangle), else NaN.
    #[inline(always)]
    pub(crate) fn fast(&self, w: u64) -> f64 {
        let (i, _, x) = self.layer_point(w);
        if x.abs() < self.x[i + 1] {
            x
        } else {
            f64::NAN
        }
    }

    /// Slow path of a normal whose fast path rejected word `w`, its extra uniforms from `aux`: the
    /// wedge test `F[i+1] + (F[i] - F[i+1]) U < exp(-x^2/2)` (compared in logs), the tail beyond
    /// `R` for the base layer (Marsaglia 1964: `x = -ln U1 / R`, accept when `-2 ln U2 >= x^2`),
    /// and a fresh word on rejection.
    #[inline(always)]
    fn slow_with(&self, mut w: u64, aux: &mut impl RngCore) -> f64 {
        loop {
            let (i, u, x) = self.layer_point(w);
            if x.abs() < self.x[i + 1] {
                return x;
            }
            if i == 0 {
                return self.tail(u, aux);
            }
            let y = self.f[i + 1] + (self.f[i] - self.f[i + 1]) * unit(aux.next_u64());
            if ln(y) < -0.5 * x * x {
                return x;
            }
            w = aux.next_u64();
        }
    }

    /// A normal beyond `R` with the sign of `u`.
    fn tail(&self, u: f64, aux: &mut impl RngCore) -> f64 {
        let r = self.r;
        loop {
            let x = ln(open01(aux.next_u64())) / r;
            let y = ln(open01(aux.next_u64()));
            if -2.0 * y >= x * x {
                return if u < 0.0 { x - r } else { r - x };
            }
        }
    }
}

/// [`Z256`]'s fast path (the Philox ziggurat's).
#[inline(always)]
pub(crate) fn fast(w: u64) -> f64 {
    Z256.fast(w)
}

/// Uniform in `[0, 1)` from the top 53 bits.
fn unit(w: u64) -> f64 {
    (w >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `(0, 1)` from the top 53 bits.
fn open01(w: u64) -> f64 {
    ((w >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Slow path of normal `n` of `block` on Philox words ([`Layers::slow_with`] on [`Z256`]), whose
/// fast path rejected word `w`.
pub(crate) fn slow(key: [u32; 2], block: u64, n: u64, w: u64) -> f64 {
    Z256.slow_with(
        w,
        &mut PhiloxStream::at(key, block | AUX_BLOCK, n << AUX_SHIFT),
    )
}

/// As [`slow`] on AES words: normal `n` owns word pairs `n 2^7 .. (n + 1) 2^7` (`2^8` words) of the
/// auxiliary stream `block + 2^63`.
#[inline(always)]
pub(crate) fn slow_aes(aes: AesPath, rk: &RoundKeys, block: u64, n: u64, w: u64) -> f64 {
    let aux = n << (AUX_SHIFT - 1);
    Z1024.slow_with(w, &mut AesStream::on(aes, rk, block | AUX_BLOCK, aux))
}

/// [`slow_aes`] out of line (the baseline target's code).
#[cold]
#[inline(never)]
fn slow_aes_cold(aes: AesPath, rk: &RoundKeys, block: u64, n: u64, w: u64) -> f64 {
    slow_aes(aes, rk, block, n, w)
}

/// Normal `n` of stream `block` by the ziggurat on AES words (the one-normal reference of
/// [`fill_aes`]).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn aes_normal(rk: &RoundKeys, block: u64, n: u64) -> f64 {
    let w = super::aes::word_pair(rk, block, n >> 1)[(n & 1) as usize];
    let z = Z1024.fast(w);
    if z.is_nan() {
        slow_aes_cold(AesPath::Soft, rk, block, n, w)
    } else {
        z
    }
}

/// Words per batch of [`fill_aes`]: encrypted into a buffer on the stack (2 KiB, in L1), then
/// transformed.
const BATCH: usize = 256;

/// Normals `n0, n0 + 1, ...` (`n0` even) of stream `block` into `out` (even length) by the
/// ziggurat on AES words: word `n` through the fast path, else [`slow_aes`]. `aes` picks the
/// cipher's kernel, `avx2` the fast path's; every choice gives the same bits.
pub(crate) fn fill_aes(
    rk: &RoundKeys,
    block: u64,
    n0: u64,
    aes: AesPath,
    avx2: bool,
    out: &mut [f64],
) {
    // whole word pairs: `fill` writes every word the transform reads
    assert!(
        n0.is_multiple_of(2) && out.len().is_multiple_of(2),
        "fill_aes: whole word pairs"
    );
    let mut buf = [MaybeUninit::<u64>::uninit(); BATCH];
    for (j, o) in out.chunks_mut(BATCH).enumerate() {
        let n = n0.wrapping_add((j * BATCH) as u64);
        let words = &mut buf[..o.len()];
        // SAFETY: `u64` has no invalid bit patterns, and `fill` writes all of `words` (an even
        // number, asserted above) before anything reads them.
        let words = unsafe { &mut *(words as *mut [MaybeUninit<u64>] as *mut [u64]) };
        aes.fill(rk, block, n >> 1, words);
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the caller checked AVX2.
            unsafe { x86::fast_fill(aes, rk, block, n, words, o) };
            continue;
        }
        let _ = avx2;
        for (k, (z, &w)) in o.iter_mut().zip(words.iter()).enumerate() {
            *z = Z1024.fast(w);
            if z.is_nan() {
                *z = slow_aes_cold(aes, rk, block, n.wrapping_add(k as u64), w);
            }
        }
    }
}

/// `(X[i], X[i + 1])` of [`Z1024`]: one 16-byte load gives a layer's point scale and its
/// acceptance bound.
static XX: [[f64; 2]; 1024] = {
    let x = &ziggurat_tables_1024::X;
    let mut t = [[0.0; 2]; 1024];
    let mut i = 0;
    while i < 1024 {
        t[i] = [x[i], x[i + 1]];
        i += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{slow_aes, AesPath, RoundKeys, TWO_BITS, XX};
    use std::arch::x86_64::*;

    /// The fast path on 4 words per step, the same operations as [`super::Layers::fast`] on
    /// [`super::Z1024`] (`u` by bit operations and one exact subtraction, one product, one
    /// comparison). The rejected lanes of
    /// 16 steps are collected in a bitmap without branches, then finished by [`slow_aes`] in place.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn fast_fill(
        aes: AesPath,
        rk: &RoundKeys,
        block: u64,
        n0: u64,
        words: &[u64],
        out: &mut [f64],
    ) {
        let two = _mm256_set1_epi64x(TWO_BITS as i64);
        let three = _mm256_set1_pd(3.0);
        let abs = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let whole = words.len() / 64 * 64;
        for (g, (wg, og)) in words[..whole]
            .chunks_exact(64)
            .zip(out.chunks_exact_mut(64))
            .enumerate()
        {
            let mut rejected = 0u64;
            for (q, (w, o)) in wg.chunks_exact(4).zip(og.chunks_exact_mut(4)).enumerate() {
                // SAFETY: `w` has 4 words, `o` 4 doubles; unaligned loads and stores.
                let v = unsafe { _mm256_loadu_si256(w.as_ptr().cast()) };
                let u = _mm256_sub_pd(
                    _mm256_castsi256_pd(_mm256_or_si256(two, _mm256_srli_epi64::<12>(v))),
                    three,
                );
                // the layer index is the word's low 10 bits, read from memory (little-endian) as
                // 16 bits: a plain load, where the compiler would otherwise extract it from the
                // vector
                let row = |l: usize| {
                    // SAFETY: bytes 0-1 of word `l` are readable; the index is below 1024; a
                    // 16-byte row of `XX`.
                    unsafe {
                        let i = std::ptr::read_volatile(w.as_ptr().add(l).cast::<u16>()) & 0x3FF;
                        _mm_loadu_pd(XX.get_unchecked(i as usize).as_ptr())
                    }
                };
                // (X[i0], X[i0 + 1], X[i2], X[i2 + 1]) and the same for lanes 1 and 3
                let a = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(row(0)), row(2));
                let b = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(row(1)), row(3));
                let x = _mm256_mul_pd(u, _mm256_unpacklo_pd(a, b));
                let bound = _mm256_unpackhi_pd(a, b);
                // SAFETY: as above.
                unsafe { _mm256_storeu_pd(o.as_mut_ptr(), x) };
                let bad = _mm256_cmp_pd::<_CMP_GE_OQ>(_mm256_and_pd(x, abs), bound);
                rejected |= (_mm256_movemask_pd(bad) as u64) << (4 * q);
            }
            while rejected != 0 {
                let k = rejected.trailing_zeros() as usize;
                rejected &= rejected - 1;
                let n = n0.wrapping_add((64 * g + k) as u64);
                og[k] = slow(aes, rk, block, n, wg[k]);
            }
        }
        for k in whole..words.len() {
            let z = super::Z1024.fast(words[k]);
            out[k] = if z.is_nan() {
                slow(aes, rk, block, n0.wrapping_add(k as u64), words[k])
            } else {
                z
            };
        }
    }

    /// [`slow_aes`] compiled with FMA (its `mul_add`s in hardware; the same bits).
    #[target_feature(enable = "avx2,fma")]
    #[inline(never)]
    fn slow(aes: AesPath, rk: &RoundKeys, block: u64, n: u64, w: u64) -> f64 {
        slow_aes(aes, rk, block, n, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layers ordered, densities `exp(-x^2/2)`, and every layer of the same area `v` (the base
    /// strip: rectangle `r f(r)` plus the tail; layer `i >= 1`: `X[i] (F[i+1] - F[i])`).
    fn check_layers<const L: usize>(z: &Layers<L>, rel: f64) {
        let n = L - 1;
        let (x, f, r) = (&z.x, &z.f, z.r);
        assert_eq!(x[1], r);
        assert_eq!(x[n], 0.0);
        assert_eq!(f[n], 1.0);
        let tail = (std::f64::consts::PI / 2.0).sqrt()
            * statrs::function::erf::erfc(r / std::f64::consts::SQRT_2);
        let v = r * (-0.5 * r * r).exp() + tail;
        assert!((x[0] * f[1] - v).abs() < rel * v, "base strip");
        for i in 0..n {
            assert!(x[i] > x[i + 1] && f[i] < f[i + 1]);
            assert!((f[i] - (-0.5 * x[i] * x[i]).exp()).abs() < 1e-15);
            if i >= 1 {
                let area = x[i] * (f[i + 1] - f[i]);
                assert!((area - v).abs() < rel * v, "layer {i}: area {area} vs {v}");
            }
        }
    }

    #[test]
    fn tables_are_equal_area_ziggurats() {
        // rand_distr's 256 layers were generated from v rounded to 12 digits
        check_layers(&Z256, 1e-9);
        // ours: each f64 is the nearest to the exact value (60-digit solution)
        check_layers(&Z1024, 1e-11);
    }

    /// The fraction of words the fast path accepts, `mean_i X[i+1] / X[i]`.
    #[test]
    fn more_layers_reject_less() {
        let acc = |x: &[f64]| {
            let n = x.len() - 1;
            (0..n).map(|i| x[i + 1] / x[i]).sum::<f64>() / n as f64
        };
        let (r256, r1024) = (1.0 - acc(&Z256.x), 1.0 - acc(&Z1024.x));
        assert!((r256 - 0.0149).abs() < 1e-3, "{r256}");
        assert!((r1024 - 0.00428).abs() < 1e-4, "{r1024}");
    }

    #[test]
    fn slow_path_agrees_with_fast_path_and_covers_tail_and_wedge() {
        let key = [1, 2];
        // a word the fast path accepts is returned unchanged by the slow path
        let w = ((1u64 << 51) + 5) << 12 | 7; // u near 0
        assert_eq!(slow(key, 0, 0, w), fast(w));
        // base layer, |u| near 1: tail, beyond R, with the sign of u
        let tail_w = ((1u64 << 52) - 1) << 12; // layer 0
        let z = slow(key, 0, 1, tail_w);
        assert!(z > Z256.r, "{z}");
        assert!(fast(tail_w).is_nan());
        // top layer: every point is outside the empty rectangle, the wedge decides
        let top = (3u64 << 50) << 12 | 255;
        assert!(fast(top).is_nan());
        assert!(slow(key, 0, 2, top).is_finite());
    }
}
