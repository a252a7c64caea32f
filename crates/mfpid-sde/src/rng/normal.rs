//! Exact standard normals from Philox words by the Box-Muller transform
//! `(z0, z1) = r (cos theta, sin theta)`, `r = sqrt(-2 ln u1)`, `theta` uniform on the circle (Box &
//! Muller 1958), evaluated branch-free so that the lanes of a chunk vectorise:
//!
//! - `-2 ln u1`: exponent split `u1 = 2^k z`, `z` in `[sqrt(1/2), sqrt(2))`, and fdlibm's
//!   `ln z = 2 s + s^3 R(s^2)`, `s = (z - 1) / (z + 1)` (one division, a degree-6 polynomial);
//! - `theta`: drawn as one octant angle `x = pi/4 t`, `t` uniform in `[0, 1)`, mapped to all eight
//!   octants by a random swap of `(cos x, sin x)` and random signs of both coordinates (the eight
//!   symmetries of the square map `[0, pi/4)` onto the eight octants, once each), so `sin` and `cos`
//!   are two short minimax polynomials in `t^2` with no range reduction.
//!
//! One *chunk* is `L = LANES` Philox counters: lane `i` of chunk `c` uses counter `c L + i` and
//! yields `out[i] = z0`, `out[L + i] = z1`. The generic chunk kernel is compiled three times (no
//! target feature, AVX2, AVX-512) and dispatched at run time; all three evaluate the same IEEE
//! operations (`+ - * / sqrt`, fused multiply-adds written as `mul_add`, and bit operations) in the
//! same order, so their bits agree exactly with the one-counter reference [`box_muller_pair`].

// fdlibm's constants as published (a digit or two beyond f64)
#![allow(clippy::excessive_precision)]

use super::aes::{self, AesPath, RoundKeys};
use super::philox::{counter, lanes, philox4x32_10, PhiloxLanes};
use super::ziggurat;
use std::mem::MaybeUninit;

/// Philox counters per chunk.
pub const LANES: usize = 8;
/// Normals per chunk (two per counter).
pub const CHUNK: usize = 2 * LANES;

/// Bits of 1.0 (exponent 0x3FF, empty mantissa).
const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;
/// Mantissa mask (52 bits).
const MANT: u64 = (1 << 52) - 1;
/// Low 32 bits (one Philox word).
const LO: u64 = 0xFFFF_FFFF;
/// Mantissa of sqrt(2): `ln` reduces `x = 2^k m` with `m` in `[sqrt(2)/2, sqrt(2))`.
const SQRT2_MANT: u64 = 0x6_A09E_667F_3BCD;
/// `2^52`: `from_bits(bits(2^52) | n) - 2^52 = n` converts a small integer to `f64` with bit ops.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// Bits of sqrt(1/2), the lower end of the reduced range of [`neg_two_ln`].
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
/// Exponent bias of [`neg_two_ln`]'s `k`: `bits(u) - bits(sqrt(1/2)) + 64 2^52` has `k + 64` in its
/// top 12 bits, non-negative for `u >= 2^-64`.
const K_BIAS: u64 = 64;
const LN_SHIFT: u64 = (K_BIAS << 52).wrapping_sub(SQRT_HALF_BITS);
/// `-2 ln 2`.
const NEG_TWO_LN2: f64 = -2.0 * std::f64::consts::LN_2;

/// fdlibm `e_log.c`: `ln(1 + f) = 2s + s R(s^2)`, `s = f / (2 + f)`, `|s| <= 0.1716`; the
/// polynomial's error is below `2^-58.45`.
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
/// `LG1 / 2 .. LG7 / 2` (exact halves): `ln z / 2 = s + s^3 (LG1 + s^2 LG2 + ...) / 2`.
const HALF_LG: [f64; 7] = [
    LG1 / 2.0,
    LG2 / 2.0,
    LG3 / 2.0,
    LG4 / 2.0,
    LG5 / 2.0,
    LG6 / 2.0,
    LG7 / 2.0,
];

/// `sin(pi/4 t) = t P(t^2)` on `t` in `[0, 1]`: minimax for the relative error (Remez, 50 digits;
/// error `3.3e-18 = 2^-58.1` before rounding).
const SIN: [f64; 7] = [
    std::f64::consts::FRAC_PI_4, // the Remez fit rounds to pi/4
    -0.080_745_512_188_280_54,
    0.002_490_394_570_188_736_4,
    -3.657_620_415_845_639e-5,
    3.133_616_216_633_824e-7,
    -1.757_149_294_166_055_5e-9,
    6.877_100_845_840_143e-12,
];
/// `SIN[1..]`: `sin(pi/4 t) = SIN[0] t + t^3 (SIN[1] + t^2 SIN[2] + ...)`.
const SIN_TAIL: [f64; 6] = [SIN[1], SIN[2], SIN[3], SIN[4], SIN[5], SIN[6]];
/// `cos(pi/4 t) = 1 + t^2 Q(t^2)` on `t` in `[0, 1]`: minimax for the relative error of the cosine
/// (Remez, 50 digits; error `3.9e-20 = 2^-64.5` before rounding).
const COS: [f64; 7] = [
    -0.308_425_137_534_042_44,
    0.015_854_344_243_815_426,
    -3.259_918_869_267_589e-4,
    3.590_860_446_058_853e-6,
    -2.461_136_405_106_021e-8,
    1.150_051_188_783_662_9e-10,
    -3.858_155_553_609_160_7e-13,
];

/// `a b + c` rounded once (fused multiply-add): the same bits on every path, in hardware where the
/// path enables FMA and in the C library's exact `fma` otherwise.
#[inline(always)]
fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// `c[0] + x c[1] + ... + x^5 c[5]` by Horner's rule, one fused multiply-add per coefficient.
#[inline(always)]
fn horner6<const N: usize>(x: [f64; N], c: &[f64; 6]) -> [f64; N] {
    let mut p = [c[5]; N];
    for &ci in c[..5].iter().rev() {
        p = lanes(|i| fma(p[i], x[i], ci));
    }
    p
}

/// `c[0] + x c[1] + ... + x^6 c[6]` by Horner's rule, one fused multiply-add per coefficient.
#[inline(always)]
fn horner7<const N: usize>(x: [f64; N], c: &[f64; 7]) -> [f64; N] {
    let mut p = [c[6]; N];
    for &ci in c[..6].iter().rev() {
        p = lanes::<_, N>(|i| fma(p[i], x[i], ci));
    }
    p
}

/// `c[0] + x c[1] + ... + x^6 c[6]` by Estrin's scheme: pairs `c[2j] + x c[2j+1]` combined with
/// `x^2` and `x^4`, a dependency chain of four operations instead of Horner's six.
#[inline(always)]
fn estrin7<const N: usize>(x: [f64; N], c: &[f64; 7]) -> [f64; N] {
    let x2 = lanes::<_, N>(|i| x[i] * x[i]);
    let x4 = lanes::<_, N>(|i| x2[i] * x2[i]);
    let p01 = lanes::<_, N>(|i| fma(x[i], c[1], c[0]));
    let p23 = lanes::<_, N>(|i| fma(x[i], c[3], c[2]));
    let p45 = lanes::<_, N>(|i| fma(x[i], c[5], c[4]));
    let p0123 = lanes::<_, N>(|i| fma(x2[i], p23[i], p01[i]));
    let p456 = lanes::<_, N>(|i| fma(x2[i], c[6], p45[i]));
    lanes::<_, N>(|i| fma(x4[i], p456[i], p0123[i]))
}

/// Natural log of a positive normal `x`, fdlibm's formula without its special-case branches:
/// `x = 2^k (1 + f)`, `ln x = k ln2_hi - ((f^2/2 - (s (f^2/2 + R) + k ln2_lo)) - f)`. (The ziggurat's
/// slow path; Box-Muller uses the shorter [`neg_two_ln`].)
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

/// `-2 ln u` for `u` in `[2^-64, 1]` (Box-Muller's `r^2`), lane-wise: `u = 2^k z` with `z` in
/// `[sqrt(1/2), sqrt(2))` by integer operations on the bits (no branch), `ln z = 2 atanh s = 2 s +
/// s^3 R(s^2)` with `s = (z - 1) / (z + 1)` and fdlibm's `R`, then `r^2 = -2 k ln 2 - 4 (s + s^3 R /
/// 2)`. Within 2 ulp of `-2 ln u` by the C library (test `neg_two_ln_within_two_ulp_of_std`).
#[inline(always)]
pub(crate) fn neg_two_ln<const N: usize>(u: [f64; N]) -> [f64; N] {
    let t = lanes::<_, N>(|i| u[i].to_bits().wrapping_add(LN_SHIFT));
    // z = u 2^-k in [sqrt(1/2), sqrt(2)): the low 52 bits of t above sqrt(1/2)
    let z = lanes::<_, N>(|i| f64::from_bits((t[i] & MANT) + SQRT_HALF_BITS));
    let k =
        lanes::<_, N>(|i| f64::from_bits(TWO52.to_bits() | (t[i] >> 52)) - (TWO52 + K_BIAS as f64));
    // s = (z - 1) / (z + 1); z - 1 is exact (Sterbenz), so z + 1 is fdlibm's 2 + f
    let s = lanes::<_, N>(|i| (z[i] - 1.0) / (z[i] + 1.0));
    let w = lanes::<_, N>(|i| s[i] * s[i]);
    let sw = lanes::<_, N>(|i| s[i] * w[i]);
    // on the critical path (after the division, before the square root): Estrin
    let p = estrin7(w, &HALF_LG);
    // ln z / 2 = s + s^3 R(s^2) / 2
    let half_ln_z = lanes::<_, N>(|i| fma(sw[i], p[i], s[i]));
    let k2 = lanes::<_, N>(|i| k[i] * NEG_TWO_LN2);
    lanes::<_, N>(|i| fma(half_ln_z[i], -4.0, k2[i]))
}

/// `(cos x, sin x)` at `x = pi/4 t` for `t` in `[0, 1)`, lane-wise: two minimax polynomials in
/// `t^2`, no range reduction (the argument is already in the first octant). Within 1 ulp of the C
/// library's `cos`/`sin` (test `cos_sin_octant_within_one_ulp_of_std`).
#[inline(always)]
pub(crate) fn cos_sin_octant<const N: usize>(t: [f64; N]) -> ([f64; N], [f64; N]) {
    let w = lanes::<_, N>(|i| t[i] * t[i]);
    let tw = lanes::<_, N>(|i| t[i] * w[i]);
    let pc = horner7(w, &COS);
    let ps = horner6(w, &SIN_TAIL);
    let cos = lanes::<_, N>(|i| fma(w[i], pc[i], 1.0));
    // sin = S0 t + t^3 P(t^2): the leading product rounded once, inside the fused add
    let tail = lanes::<_, N>(|i| tw[i] * ps[i]);
    let sin = lanes::<_, N>(|i| fma(t[i], SIN[0], tail[i]));
    (cos, sin)
}

/// Box-Muller's radius `r = sqrt(-2 ln u1)`, `u1 = 1 - (a >> 12) 2^-52` in `(0, 1]` (so `ln u1` is
/// finite and `r <= sqrt(104 ln 2) = 8.49`), lane-wise.
#[inline(always)]
fn radius_lanes<const N: usize>(a: [u64; N]) -> [f64; N] {
    // 2 - (1 + m 2^-52) = 1 - m 2^-52, exact
    let u1 = lanes::<_, N>(|i| 2.0 - f64::from_bits(ONE_BITS | (a[i] >> 12)));
    let r2 = neg_two_ln(u1);
    lanes::<_, N>(|i| r2[i].sqrt())
}

/// Box-Muller's `(z0, z1) = r (cos theta, sin theta)` from the radius `r` and the words, lane-wise:
/// `t = (b >> 12) 2^-52` in `[0, 1)` is the octant angle `pi/4 t`, bit 1 of `a` swaps `(cos,
/// sin)` and bits 0 of `a` and `b` are the signs of `z0` and `z1`.
#[inline(always)]
fn rotate_lanes<const N: usize>(a: [u64; N], b: [u64; N], r: [f64; N]) -> ([f64; N], [f64; N]) {
    // (1 + m 2^-52) - 1 = m 2^-52, exact
    let t = lanes::<_, N>(|i| f64::from_bits(ONE_BITS | (b[i] >> 12)) - 1.0);
    let (c, s) = cos_sin_octant(t);
    // the swap reflects the octant about the diagonal (a select on the top bit: `vblendvpd`)
    let swap = lanes::<_, N>(|i| ((a[i] << 62) as i64) < 0);
    let x = lanes::<_, N>(|i| if swap[i] { s[i] } else { c[i] });
    let y = lanes::<_, N>(|i| if swap[i] { c[i] } else { s[i] });
    // the signs reflect about the axes (only the top bit of `a << 63`, `b << 63` can be set)
    let z0 = lanes::<_, N>(|i| f64::from_bits((r[i] * x[i]).to_bits() ^ (a[i] << 63)));
    let z1 = lanes::<_, N>(|i| f64::from_bits((r[i] * y[i]).to_bits() ^ (b[i] << 63)));
    (z0, z1)
}

/// Box-Muller on pairs of 64-bit words, lane-wise ([`radius_lanes`], [`rotate_lanes`]): returns
/// `(z0, z1)`, independent standard normals.
#[inline(always)]
fn box_muller_lanes<const N: usize>(a: [u64; N], b: [u64; N]) -> ([f64; N], [f64; N]) {
    rotate_lanes(a, b, radius_lanes(a))
}

/// Box-Muller on two 64-bit words (one lane of [`box_muller_lanes`]): returns `(z0, z1)`.
#[inline(always)]
pub fn box_muller_bits(a: u64, b: u64) -> (f64, f64) {
    let (z0, z1) = box_muller_lanes([a], [b]);
    (z0[0], z1[0])
}

/// The 64-bit words `(a, b) = (w0 + 2^32 w1, w2 + 2^32 w3)` of Philox words `w`, lane-wise, each
/// word in the low half of its `u64` (the high half ignored).
#[inline(always)]
fn join<const N: usize>(w: [[u64; N]; 4]) -> ([u64; N], [u64; N]) {
    (
        lanes::<_, N>(|i| (w[0][i] & LO) | (w[1][i] << 32)),
        lanes::<_, N>(|i| (w[2][i] & LO) | (w[3][i] << 32)),
    )
}

/// The two 64-bit words `(a, b) = (w0 + 2^32 w1, w2 + 2^32 w3)` of Philox counter `n` of `block`.
#[inline(always)]
pub fn words(key: [u32; 2], block: u64, n: u64) -> (u64, u64) {
    let (a, b) = join(philox4x32_10(counter(block, n), key).map(|w| [u64::from(w)]));
    (a[0], b[0])
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

/// Chunks per batch: the Philox words of a batch are computed first, into a buffer on the stack,
/// then transformed. Each of the two loops has short independent iterations, so the processor
/// overlaps consecutive iterations (Philox's ten dependent rounds, the division and square root of
/// Box-Muller) instead of waiting on one long dependency chain per chunk.
const BATCH: usize = 8;

/// The words of a batch.
type BatchWords = [MaybeUninit<ChunkWords>; BATCH];
/// The words `(a, b)` of one chunk.
type ChunkWords = [[u64; LANES]; 2];

/// The words `(a, b)` of the first `n` (at most [`BATCH`]) chunks of a batch whose first counter is
/// `(n_lo, n_hi)` (counters `n_lo + i`, no carry into `n_hi`), lane by lane, written into `ab`
/// (which is not zeroed first: at 1 kB a memset per `fill` was 4 % of a d = 1 Euler-Maruyama run).
#[inline(always)]
fn words_of<'w>(
    philox: &PhiloxLanes,
    n_lo: u64,
    ab: &'w mut BatchWords,
    n: usize,
) -> &'w [ChunkWords] {
    let ab = &mut ab[..n];
    for (j, ab) in ab.iter_mut().enumerate() {
        let n = n_lo + (j * LANES) as u64;
        let (a, b) = join(philox.words(lanes::<_, LANES>(|i| n + i as u64)));
        ab.write([a, b]);
    }
    // SAFETY: the loop wrote every one of the `n` entries, and `MaybeUninit<T>` has the layout of
    // `T`.
    unsafe { &*(ab as *const [MaybeUninit<ChunkWords>] as *const [ChunkWords]) }
}

/// Chunks into `out` (a whole number of chunks, at most [`BATCH`]) from `n_lo` by Box-Muller.
#[inline(always)]
fn batch_box_muller(philox: &PhiloxLanes, n_lo: u64, ab: &mut BatchWords, out: &mut [f64]) {
    let ab = words_of(philox, n_lo, ab, out.len() / CHUNK);
    for (o, [a, b]) in out.chunks_exact_mut(CHUNK).zip(ab.iter()) {
        let (z0, z1) = box_muller_lanes(*a, *b);
        o[..LANES].copy_from_slice(&z0);
        o[LANES..].copy_from_slice(&z1);
    }
}

/// As [`batch_box_muller`] by the ziggurat's fast path; rejected lanes are left NaN.
#[inline(always)]
fn batch_ziggurat_fast(philox: &PhiloxLanes, n_lo: u64, ab: &mut BatchWords, out: &mut [f64]) {
    let ab = words_of(philox, n_lo, ab, out.len() / CHUNK);
    for (o, [a, b]) in out.chunks_exact_mut(CHUNK).zip(ab.iter()) {
        for i in 0..LANES {
            o[i] = ziggurat::fast(a[i]);
            o[LANES + i] = ziggurat::fast(b[i]);
        }
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
    // runs of chunks sharing the high counter word n_hi (2^29 chunks each), whose Philox rounds
    // share their lane-invariant work
    let (mut c, mut rest) = (first, &mut *out);
    let mut ab: BatchWords = [MaybeUninit::uninit(); BATCH];
    while !rest.is_empty() {
        let n = c.wrapping_mul(LANES as u64);
        let run = ((1 << 32) - (n & LO)) / LANES as u64;
        let len = rest
            .len()
            .min(usize::try_from(run).unwrap_or(usize::MAX) * CHUNK);
        let (now, later) = rest.split_at_mut(len);
        let philox = PhiloxLanes::new(key, block, (n >> 32) as u32);
        for (j, o) in now.chunks_mut(BATCH * CHUNK).enumerate() {
            let n_lo = (n & LO) + (j * BATCH * LANES) as u64;
            match t {
                Transform::BoxMuller => batch_box_muller(&philox, n_lo, &mut ab, o),
                Transform::Ziggurat => batch_ziggurat_fast(&philox, n_lo, &mut ab, o),
            }
        }
        c = c.wrapping_add((len / CHUNK) as u64);
        rest = later;
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

/// The two normals of AES word pair `n` of `block` (the one-counter reference of the AES
/// Box-Muller generator): Box-Muller on words `2n`, `2n + 1`.
pub fn aes_box_muller_pair(rk: &RoundKeys, block: u64, n: u64) -> (f64, f64) {
    let [a, b] = aes::word_pair(rk, block, n);
    box_muller_bits(a, b)
}

/// Chunks `first, first + 1, ...` by Box-Muller on AES words, in the layout of the Philox chunks:
/// lane `i` of chunk `c` is word pair `c L + i`, whose normals go to `out[i]` and `out[L + i]`.
#[inline(always)]
fn aes_chunks_generic(aes: AesPath, rk: &RoundKeys, block: u64, first: u64, out: &mut [f64]) {
    let whole = out.len() / CHUNK * CHUNK;
    let mut buf = [MaybeUninit::<u64>::uninit(); BATCH * CHUNK];
    for (j, o) in out[..whole].chunks_mut(BATCH * CHUNK).enumerate() {
        let c = first.wrapping_add((j * BATCH) as u64);
        let words = &mut buf[..o.len()];
        // SAFETY: `u64` has no invalid bit patterns and `fill` writes before anything reads.
        let words = unsafe { &mut *(words as *mut [MaybeUninit<u64>] as *mut [u64]) };
        aes.fill(rk, block, c.wrapping_mul(LANES as u64), words);
        for (oc, wc) in o.chunks_exact_mut(CHUNK).zip(words.chunks_exact(CHUNK)) {
            let a = lanes::<_, LANES>(|i| wc[2 * i]);
            let b = lanes::<_, LANES>(|i| wc[2 * i + 1]);
            let (z0, z1) = box_muller_lanes(a, b);
            oc[..LANES].copy_from_slice(&z0);
            oc[LANES..].copy_from_slice(&z1);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn aes_chunks_avx2(aes: AesPath, rk: &RoundKeys, block: u64, first: u64, out: &mut [f64]) {
    aes_chunks_generic(aes, rk, block, first, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn aes_chunks_avx512(aes: AesPath, rk: &RoundKeys, block: u64, first: u64, out: &mut [f64]) {
    aes_chunks_generic(aes, rk, block, first, out)
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

    /// As [`fill_chunks`](Self::fill_chunks) by Box-Muller on AES words (`aes` picks the cipher's
    /// kernel; every choice gives the same bits).
    pub fn fill_aes_chunks(
        self,
        aes: AesPath,
        rk: &RoundKeys,
        block: u64,
        first: u64,
        out: &mut [f64],
    ) {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` checked the features the function is compiled for.
            Path::Avx512 if self.available() => unsafe {
                aes_chunks_avx512(aes, rk, block, first, out)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Path::Avx2 if self.available() => unsafe {
                aes_chunks_avx2(aes, rk, block, first, out)
            },
            _ => aes_chunks_generic(aes, rk, block, first, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg_two_ln1(u: f64) -> f64 {
        neg_two_ln([u])[0]
    }

    fn cos_sin_octant1(t: f64) -> (f64, f64) {
        let (c, s) = cos_sin_octant([t]);
        (c[0], s[0])
    }

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

    /// `u = 1 - m 2^-52` over every binade of `(0, 1]`: a dense run at the top of each binade,
    /// a strided sweep through it and its bottom.
    fn unit_grid() -> impl Iterator<Item = f64> {
        (0..52).flat_map(|e: i32| {
            let lo = 2f64.powi(-e - 1);
            let step = 2f64.powi(-e - 53); // ulp of the binade [2^-e-1, 2^-e)
            (0..20_000u64).map(move |i| {
                let x = match i % 3 {
                    0 => 2f64.powi(-e) - (i / 3 + 1) as f64 * step,
                    1 => lo + (i / 3) as f64 * step,
                    _ => lo + (i / 3) as f64 * (lo / 6667.0),
                };
                // the values Box-Muller can produce: multiples of 2^-52
                (x * 2f64.powi(52)).round() * 2f64.powi(-52)
            })
        })
    }

    #[test]
    fn neg_two_ln_within_two_ulp_of_std() {
        let (mut worst, mut n, mut exact) = (0, 0u64, 0u64);
        for u in unit_grid().filter(|&u| u > 0.0 && u <= 1.0) {
            let e = ulps(neg_two_ln1(u), -2.0 * u.ln());
            worst = worst.max(e);
            n += 1;
            exact += u64::from(e == 0);
        }
        eprintln!(
            "-2 ln u: worst {worst} ulp over {n} points, {:.1} % correctly rounded",
            100.0 * exact as f64 / n as f64
        );
        assert!(worst <= 2, "worst -2 ln u error {worst} ulp");
        assert_eq!(neg_two_ln1(1.0), 0.0);
        assert_eq!(neg_two_ln1(2f64.powi(-52)), 104.0 * std::f64::consts::LN_2);
        assert_eq!(neg_two_ln1(0.5), 2.0 * std::f64::consts::LN_2);
    }

    /// `(cos, sin)(pi/4 t)` to about 1e-19: the C library's `cos`/`sin` of the rounded angle `x`
    /// corrected to first order by the angle's rounding error `dx`.
    fn cos_sin_reference(t: f64) -> (f64, f64) {
        use std::f64::consts::FRAC_PI_4;
        // pi/4 - FRAC_PI_4
        const PI_4_LO: f64 = 3.061_616_997_868_383e-17;
        let x = FRAC_PI_4 * t;
        let dx = fma(FRAC_PI_4, t, -x) + PI_4_LO * t;
        let (s, c) = x.sin_cos();
        (c - s * dx, s + c * dx)
    }

    #[test]
    fn cos_sin_octant_within_one_ulp_of_std() {
        let (mut worst_c, mut worst_s) = (0, 0);
        let m = 1u64 << 21;
        for i in 0..m {
            // a dense grid of [0, 1) and a scrambled one (all mantissa bits in use)
            for t in [
                i as f64 / m as f64,
                (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12) as f64 * 2f64.powi(-52),
            ] {
                let (c, s) = cos_sin_octant1(t);
                let (rc, rs) = cos_sin_reference(t);
                worst_c = worst_c.max(ulps(c, rc));
                worst_s = worst_s.max(ulps(s, rs));
            }
        }
        eprintln!("cos(pi/4 t): worst {worst_c} ulp; sin(pi/4 t): worst {worst_s} ulp");
        assert!(
            worst_c <= 1 && worst_s <= 1,
            "cos {worst_c} ulp, sin {worst_s} ulp"
        );
        assert_eq!(cos_sin_octant1(0.0), (1.0, 0.0));
    }

    /// The pairs are jointly standard normal: the angle of `(z0, z1)` is uniform over 16 sectors
    /// (each octant split in two, so a wrong swap or sign shows) and independent of the radius,
    /// and `exp(-r^2/2)` is uniform (Kolmogorov-Smirnov).
    #[test]
    fn pairs_are_rotation_invariant() {
        let key = [0x0bad_cafe, 0x1234];
        let n = 1usize << 18;
        // sectors x {r < median, r >= median}; the median of r^2 ~ Exp(1/2) is 2 ln 2
        let mut cells = [[0u32; 2]; 16];
        let mut v = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let (z0, z1) = box_muller_pair(key, 3, i);
            let theta = z1.atan2(z0).rem_euclid(std::f64::consts::TAU);
            let sector = ((theta / std::f64::consts::TAU * 16.0) as usize).min(15);
            let r2 = z0 * z0 + z1 * z1;
            cells[sector][usize::from(r2 >= 2.0 * std::f64::consts::LN_2)] += 1;
            v.push((-r2 / 2.0).exp());
        }
        let expected = n as f64 / 32.0;
        let chi2: f64 = cells
            .iter()
            .flatten()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        // 31 degrees of freedom: 61.1 is the 0.001 critical value
        assert!(chi2 < 61.1, "angle x radius chi^2 = {chi2:.1} (31 dof)");
        v.sort_by(f64::total_cmp);
        let d = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                (x - i as f64 / n as f64)
                    .abs()
                    .max((x - (i + 1) as f64 / n as f64).abs())
            })
            .fold(0.0, f64::max);
        let ks = (n as f64).sqrt() * d;
        assert!(
            ks < 1.95,
            "exp(-r^2/2): sqrt(N) D = {ks:.3} (critical 1.95 at 0.001)"
        );
    }

    #[test]
    fn every_path_gives_the_reference_bits() {
        let key = [0xdead_beef, 0x0123_4567];
        let chunks = 37u64;
        // from chunk 12; across the carry into the high counter word (chunk 2^29, counter 2^32);
        // across the wrap of the 64-bit counter
        for first in [12u64, (1 << 29) - 5, (1 << 61) - 7] {
            let mut bm = vec![0.0; chunks as usize * CHUNK];
            let mut zig = vec![0.0; chunks as usize * CHUNK];
            for c in 0..chunks {
                let chunk = first.wrapping_add(c);
                let k = c as usize * CHUNK;
                for i in 0..LANES {
                    let n = chunk.wrapping_mul(LANES as u64).wrapping_add(i as u64);
                    (bm[k + i], bm[k + LANES + i]) = box_muller_pair(key, 5, n);
                }
                for j in 0..CHUNK {
                    zig[k + j] = ziggurat_normal(key, 5, chunk, j);
                }
            }
            assert!(zig.iter().all(|z| z.is_finite()));
            for (t, want) in [(Transform::BoxMuller, &bm), (Transform::Ziggurat, &zig)] {
                for path in [Path::Scalar, Path::Avx2, Path::Avx512] {
                    if !path.available() {
                        eprintln!("{path:?} not available on this CPU; skipped");
                        continue;
                    }
                    let mut got = vec![0.0; chunks as usize * CHUNK];
                    path.fill_chunks(t, key, 5, first, &mut got[..]);
                    let same = got
                        .iter()
                        .zip(want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{t:?} on {path:?} from chunk {first} differs from the reference"
                    );
                }
            }
        }
    }
}
