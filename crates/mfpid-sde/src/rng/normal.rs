//! Exact standard normals from Philox words by the Box-Muller transform
//! `z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), r = sqrt(-2 ln u1)` (Box & Muller 1958), with `ln`,
//! `sin` and `cos` evaluated branch-free by the fdlibm polynomials (error below one ulp on the
//! reduced ranges), so `L` lanes vectorise.
//!
//! One *chunk* is `L = LANES` Philox counters: lane `i` of chunk `c` uses counter `c L + i` and
//! yields `out[i] = z0`, `out[L + i] = z1`. The generic chunk kernel is compiled three times (no
//! target feature, AVX2, AVX-512) and dispatched at run time; all three evaluate the same IEEE
//! operations (`+ - * / sqrt` and bit operations, no fused multiply-add) in the same order, so their
//! bits agree exactly with the one-counter reference [`box_muller_pair`].

// fdlibm's constants as published (a digit or two beyond f64)
#![allow(clippy::excessive_precision)]

use super::philox::{counter, philox4x32_10};
use super::ziggurat;

/// Philox counters per chunk.
pub const LANES: usize = 8;
/// Normals per chunk (two per counter).
pub const CHUNK: usize = 2 * LANES;

/// Bits of 1.0 (exponent 0x3FF, empty mantissa).
const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;
/// Mantissa mask (52 bits).
const MANT: u64 = (1 << 52) - 1;
/// Mantissa of sqrt(2): `ln` reduces `x = 2^k m` with `m` in `[sqrt(2)/2, sqrt(2))`.
const SQRT2_MANT: u64 = 0x6_A09E_667F_3BCD;
/// `2^52`: `from_bits(bits(2^52) | n) - 2^52 = n` converts a small integer to `f64` with bit ops.
const TWO52: f64 = 4_503_599_627_370_496.0;

/// fdlibm `e_log.c`: `ln(1 + f) = 2s + s R(s^2)`, `s = f / (2 + f)`.
const LG1: f64 = 6.666_666_666_666_735e-1;
const LG2: f64 = 3.999_999_999_940_942e-1;
const LG3: f64 = 2.857_142_874_366_239e-1;
const LG4: f64 = 2.222_219_843_214_978_4e-1;
const LG5: f64 = 1.818_357_216_161_805e-1;
const LG6: f64 = 1.531_383_769_920_937_3e-1;
const LG7: f64 = 1.479_819_860_511_658_6e-1;
/// `ln 2` split so that `k ln2_hi` is exact for `|k| < 2^11`.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// fdlibm `k_sin.c`: `sin x = x + x^3 (S1 + x^2 P(x^2))` on `|x| <= pi/4`.
const S1: f64 = -1.666_666_666_666_663_2e-1;
const S2: f64 = 8.333_333_333_322_49e-3;
const S3: f64 = -1.984_126_982_985_795e-4;
const S4: f64 = 2.755_731_370_707_006_8e-6;
const S5: f64 = -2.505_076_025_340_686_3e-8;
const S6: f64 = 1.589_690_995_211_55e-10;
/// fdlibm `k_cos.c`: `cos x = 1 - x^2/2 + x^4 Q(x^2)` on `|x| <= pi/4`.
const C1: f64 = 4.166_666_666_666_660_2e-2;
const C2: f64 = -1.388_888_888_887_411e-3;
const C3: f64 = 2.480_158_728_947_673e-5;
const C4: f64 = -2.755_731_435_139_066_3e-7;
const C5: f64 = 2.087_572_321_298_175e-9;
const C6: f64 = -1.135_964_755_778_819_5e-11;

/// `a b + c` rounded once (fused multiply-add): the same bits on every path, in hardware where the
/// path enables FMA and in the C library's exact `fma` otherwise.
#[inline(always)]
fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// Natural log of a positive normal `x`, fdlibm's formula without its special-case branches:
/// `x = 2^k (1 + f)`, `ln x = k ln2_hi - ((f^2/2 - (s (f^2/2 + R) + k ln2_lo)) - f)`.
#[inline(always)]
pub(crate) fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let (e, m) = (bits >> 52, bits & MANT);
    // c = 1 when the mantissa is at least sqrt(2): halve it and raise the exponent
    let c = (m + ((1 << 52) - SQRT2_MANT)) >> 52;
    let f = f64::from_bits(m | ((0x3FF - c) << 52)) - 1.0;
    let k = f64::from_bits(TWO52.to_bits() | (e + c)) - (TWO52 + 1023.0);
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * fma(w, fma(w, LG6, LG4), LG2);
    let t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    fma(k, LN2_HI, f - (hfsq - fma(s, hfsq + r, k * LN2_LO)))
}

/// `(sin x, cos x)` for `|x| <= pi/4` (fdlibm kernels with zero tail).
#[inline(always)]
pub(crate) fn sincos_kernel(x: f64) -> (f64, f64) {
    let z = x * x;
    let v = z * x;
    let rs = fma(z, fma(z, fma(z, fma(z, S6, S5), S4), S3), S2);
    let sin = fma(v, fma(z, rs, S1), x);
    let rc = z * fma(z, fma(z, fma(z, fma(z, fma(z, C6, C5), C4), C3), C2), C1);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let cos = w + fma(z, rc, (1.0 - w) - hz);
    (sin, cos)
}

/// `(cos 2 pi u, sin 2 pi u)` for `u = m 2^-52`, `m` a 52-bit integer. Writing `4u = q + r` with
/// `q` the nearest integer and `r` in `[-1/2, 1/2)` (exact bit operations), the angle is
/// `q pi/2 + r pi/2`: the kernel evaluates `r pi/2`, the quadrant `q mod 4` swaps and negates.
#[inline(always)]
pub(crate) fn cos_sin_turn(m: u64) -> (f64, f64) {
    let shifted = m + (1 << 49);
    let q = (shifted >> 50) & 3;
    // 1 + frac 2^-50 in [1, 2), minus 3/2: r in [-1/2, 1/2), exact
    let r = f64::from_bits(ONE_BITS | ((shifted & ((1 << 50) - 1)) << 2)) - 1.5;
    let (s, c) = sincos_kernel(r * std::f64::consts::FRAC_PI_2);
    let (sb, cb) = (s.to_bits(), c.to_bits());
    // quadrant q: (cos, sin) = (c, s), (-s, c), (-c, -s), (s, -c)
    let swap = 0u64.wrapping_sub(q & 1);
    let neg_cos = ((q ^ (q >> 1)) & 1) << 63;
    let neg_sin = (q >> 1) << 63;
    let cos = f64::from_bits(((sb & swap) | (cb & !swap)) ^ neg_cos);
    let sin = f64::from_bits(((cb & swap) | (sb & !swap)) ^ neg_sin);
    (cos, sin)
}

/// Box-Muller on two 64-bit words: `u1 = 1 - (a >> 12) 2^-52` in `(0, 1]` (so `ln u1` is finite,
/// `|z| <= sqrt(104 ln 2) = 8.49`), `u2 = (b >> 12) 2^-52` in `[0, 1)`; returns `(z0, z1)`.
#[inline(always)]
pub fn box_muller_bits(a: u64, b: u64) -> (f64, f64) {
    // 2 - (1 + m 2^-52) = 1 - m 2^-52, exact
    let u1 = 2.0 - f64::from_bits(ONE_BITS | (a >> 12));
    let r = (-2.0 * ln(u1)).sqrt();
    let (c, s) = cos_sin_turn(b >> 12);
    (r * c, r * s)
}

/// The two 64-bit words `(a, b) = (w0 + 2^32 w1, w2 + 2^32 w3)` of Philox counter `n` of `block`.
#[inline(always)]
pub fn words(key: [u32; 2], block: u64, n: u64) -> (u64, u64) {
    let w = philox4x32_10(counter(block, n), key);
    let a = u64::from(w[0]) | (u64::from(w[1]) << 32);
    let b = u64::from(w[2]) | (u64::from(w[3]) << 32);
    (a, b)
}

/// The two normals of Philox counter `n` of `block` under `key` (the one-counter reference).
#[inline(always)]
pub fn box_muller_pair(key: [u32; 2], block: u64, n: u64) -> (f64, f64) {
    let (a, b) = words(key, block, n);
    box_muller_bits(a, b)
}

/// Normal number `j` (`< CHUNK`) of chunk `c` by the ziggurat: the word of lane `j mod L` (`a`
/// for `j < L`, `b` after), through the fast path, else the slow path (the one-normal reference).
pub fn ziggurat_normal(key: [u32; 2], block: u64, c: u64, j: usize) -> f64 {
    let n = c
        .wrapping_mul(LANES as u64)
        .wrapping_add((j % LANES) as u64);
    let (a, b) = words(key, block, n);
    let w = if j < LANES { a } else { b };
    let z = ziggurat::fast(w);
    if z.is_nan() {
        let index = c.wrapping_mul(CHUNK as u64).wrapping_add(j as u64);
        ziggurat::slow(key, block, index, w)
    } else {
        z
    }
}

/// Normal transform of the Philox words; each gives the same bits on every [`Path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Box-Muller with polynomial `ln`, `sin`, `cos` (two normals per counter, no rejection).
    BoxMuller,
    /// 256-layer ziggurat: vectorised fast path, scalar slow path for the ~1 % rejected lanes.
    Ziggurat,
}

/// Chunk `c` of the block stream into `out` by Box-Muller (lane-wise, vectorisable).
#[inline(always)]
fn chunk_box_muller(key: [u32; 2], block: u64, c: u64, out: &mut [f64; CHUNK]) {
    let (z0, z1) = out.split_at_mut(LANES);
    let n0 = c.wrapping_mul(LANES as u64);
    for i in 0..LANES {
        (z0[i], z1[i]) = box_muller_pair(key, block, n0.wrapping_add(i as u64));
    }
}

/// Chunk `c` by the ziggurat's fast path, lane-wise; rejected lanes are left NaN.
#[inline(always)]
fn chunk_ziggurat_fast(key: [u32; 2], block: u64, c: u64, out: &mut [f64; CHUNK]) {
    let (z0, z1) = out.split_at_mut(LANES);
    let n0 = c.wrapping_mul(LANES as u64);
    for i in 0..LANES {
        let (a, b) = words(key, block, n0.wrapping_add(i as u64));
        (z0[i], z1[i]) = (ziggurat::fast(a), ziggurat::fast(b));
    }
}

/// Replace the NaN lanes of chunks `first, first + 1, ...` by the slow path (out of line: rare).
#[inline(never)]
#[cold]
fn ziggurat_fixup(key: [u32; 2], block: u64, first: u64, out: &mut [f64]) {
    for (k, z) in out.iter_mut().enumerate() {
        if z.is_nan() {
            let c = first.wrapping_add((k / CHUNK) as u64);
            *z = ziggurat_normal(key, block, c, k % CHUNK);
        }
    }
}

#[inline(always)]
fn chunks_generic(t: Transform, key: [u32; 2], block: u64, first: u64, out: &mut [f64]) {
    let whole = out.len() / CHUNK * CHUNK;
    let out = &mut out[..whole];
    for (c, o) in out.chunks_exact_mut(CHUNK).enumerate() {
        let o: &mut [f64; CHUNK] = o.try_into().expect("chunks_exact yields CHUNK");
        let c = first.wrapping_add(c as u64);
        match t {
            Transform::BoxMuller => chunk_box_muller(key, block, c, o),
            Transform::Ziggurat => chunk_ziggurat_fast(key, block, c, o),
        }
    }
    if t == Transform::Ziggurat {
        let mut rejected = false;
        for z in out.iter() {
            rejected |= z.is_nan();
        }
        if rejected {
            ziggurat_fixup(key, block, first, out);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chunks_avx2(t: Transform, key: [u32; 2], block: u64, first: u64, out: &mut [f64]) {
    chunks_generic(t, key, block, first, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn chunks_avx512(t: Transform, key: [u32; 2], block: u64, first: u64, out: &mut [f64]) {
    chunks_generic(t, key, block, first, out)
}

/// Instruction set the chunk kernel runs on; every path gives the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The generic kernel at the crate's baseline target (SSE2 on x86-64; any architecture).
    Scalar,
    /// x86-64 AVX2 and FMA (4 doubles per vector).
    Avx2,
    /// x86-64 AVX-512F/DQ/VL (8 doubles per vector).
    Avx512,
}

impl Path {
    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest available path.
    pub fn detect() -> Self {
        [Path::Avx512, Path::Avx2]
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(Path::Scalar)
    }

    /// Chunks `first, first + 1, ...` of the block stream into `out` (its length a multiple of
    /// [`CHUNK`]; a shorter tail is left untouched). A path this CPU lacks runs as `Scalar`.
    pub fn fill_chunks(self, t: Transform, key: [u32; 2], block: u64, first: u64, out: &mut [f64]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` checked the features the function is compiled for.
            Path::Avx512 if self.available() => unsafe { chunks_avx512(t, key, block, first, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Path::Avx2 if self.available() => unsafe { chunks_avx2(t, key, block, first, out) },
            _ => chunks_generic(t, key, block, first, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn ln_within_one_ulp_of_std() {
        let mut worst = 0;
        for i in 1..200_000u64 {
            // (0, 1] on a log-spread grid plus the top of the range
            let x = if i % 2 == 0 {
                (-(i as f64) * 1e-4).exp()
            } else {
                1.0 - i as f64 * 2f64.powi(-52) * 1e5
            };
            if x > 0.0 {
                worst = worst.max(ulps(ln(x), x.ln()));
            }
        }
        assert!(worst <= 1, "worst ln error {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2f64.powi(-52)), -52.0 * std::f64::consts::LN_2);
    }

    #[test]
    fn cos_sin_turn_matches_std() {
        let mut worst = 0.0f64;
        for i in 0..100_003u64 {
            let m = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12;
            let (c, s) = cos_sin_turn(m);
            let t = std::f64::consts::TAU * (m as f64 * 2f64.powi(-52));
            worst = worst.max((c - t.cos()).abs()).max((s - t.sin()).abs());
        }
        // absolute error: the angle itself carries ~1e-16 rounding near 2 pi
        assert!(worst < 2e-15, "worst sincos error {worst}");
        assert_eq!(cos_sin_turn(0), (1.0, 0.0));
        let (c, s) = cos_sin_turn(1 << 50); // u = 1/4
        assert!(c.abs() < 1e-16 && s == 1.0);
    }

    #[test]
    fn every_path_gives_the_reference_bits() {
        let key = [0xdead_beef, 0x0123_4567];
        let chunks = 37;
        let mut bm = vec![0.0; chunks * CHUNK];
        let mut zig = vec![0.0; chunks * CHUNK];
        for c in 0..chunks {
            let o = &mut bm[c * CHUNK..(c + 1) * CHUNK];
            for i in 0..LANES {
                (o[i], o[LANES + i]) = box_muller_pair(key, 5, ((12 + c) * LANES + i) as u64);
            }
            for j in 0..CHUNK {
                zig[c * CHUNK + j] = ziggurat_normal(key, 5, (12 + c) as u64, j);
            }
        }
        assert!(zig.iter().all(|z| z.is_finite()));
        for (t, want) in [(Transform::BoxMuller, &bm), (Transform::Ziggurat, &zig)] {
            for path in [Path::Scalar, Path::Avx2, Path::Avx512] {
                if !path.available() {
                    eprintln!("{path:?} not available on this CPU; skipped");
                    continue;
                }
                let mut got = vec![0.0; chunks * CHUNK];
                path.fill_chunks(t, key, 5, 12, &mut got[..]);
                let same = got
                    .iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{t:?} on {path:?} differs from the reference");
            }
        }
    }
}
