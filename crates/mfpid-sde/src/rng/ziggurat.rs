//! Exact standard normals by the 256-layer ziggurat (Marsaglia & Tsang 2000, in Doornik's 2005
//! form, the algorithm of `rand_distr`), split so that the common case vectorises: the *fast path*
//! (probability ~0.99) is a table lookup, a product and a comparison on one 64-bit word; a rejected
//! lane is marked NaN and finished by the scalar *slow path* (wedge and tail), which draws its
//! extra uniforms from an auxiliary Philox counter region owned by that normal alone. Normal `n` of
//! a block is therefore a function of `(key, block, n)` only, as on the Box-Muller path.

use super::normal::ln;
use super::philox::PhiloxStream;
use super::ziggurat_tables::{F, R, X};
use rand_core::RngCore;

/// Bits of 2.0: `from_bits(TWO_BITS | m) - 3` is `u = m 2^-51 - 1` in `[-1, 1)` for a 52-bit `m`.
const TWO_BITS: u64 = 0x4000_0000_0000_0000;
/// Auxiliary counters per normal: normal `n` owns counters `n 2^8 .. (n + 1) 2^8` of the
/// auxiliary region (more are needed with probability below `10^-100`).
const AUX_SHIFT: u32 = 8;
/// Top bit of the counter's block word marks the auxiliary region (blocks stay below `2^63`).
const AUX_BLOCK: u64 = 1 << 63;

/// Layer `i` (low 8 bits), `u` in `[-1, 1)` (top 52 bits) and `x = u X[i]` of a word.
#[inline(always)]
fn layer_point(w: u64) -> (usize, f64, f64) {
    let i = (w & 0xFF) as usize;
    let u = f64::from_bits(TWO_BITS | (w >> 12)) - 3.0;
    (i, u, u * X[i])
}

/// Fast path: `x = u X[i]` when `|x| < X[i + 1]` (inside layer `i`'s rectangle), else NaN.
#[inline(always)]
pub(crate) fn fast(w: u64) -> f64 {
    let (i, _, x) = layer_point(w);
    if x.abs() < X[i + 1] {
        x
    } else {
        f64::NAN
    }
}

/// Uniform in `[0, 1)` from the top 53 bits.
fn unit(w: u64) -> f64 {
    (w >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `(0, 1)` from the top 53 bits.
fn open01(w: u64) -> f64 {
    ((w >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Slow path of normal `n` of `block`, whose fast path rejected word `w`: the wedge test
/// `F[i+1] + (F[i] - F[i+1]) U < exp(-x^2/2)` (compared in logs), the tail beyond `R` for the
/// base layer (Marsaglia 1964: `x = -ln U1 / R`, accept when `-2 ln U2 >= x^2`), and a fresh
/// word on rejection.
pub(crate) fn slow(key: [u32; 2], block: u64, n: u64, mut w: u64) -> f64 {
    let mut aux = PhiloxStream::at(key, block | AUX_BLOCK, n << AUX_SHIFT);
    loop {
        let (i, u, x) = layer_point(w);
        if x.abs() < X[i + 1] {
            return x;
        }
        if i == 0 {
            return tail(u, &mut aux);
        }
        let y = F[i + 1] + (F[i] - F[i + 1]) * unit(aux.next_u64());
        if ln(y) < -0.5 * x * x {
            return x;
        }
        w = aux.next_u64();
    }
}

/// A normal beyond `R` with the sign of `u`.
fn tail(u: f64, aux: &mut PhiloxStream) -> f64 {
    loop {
        let x = ln(open01(aux.next_u64())) / R;
        let y = ln(open01(aux.next_u64()));
        if -2.0 * y >= x * x {
            return if u < 0.0 { x - R } else { R - x };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_the_256_layer_ziggurat() {
        assert_eq!(X[1], R);
        assert_eq!(X[256], 0.0);
        assert_eq!(F[256], 1.0);
        for i in 0..256 {
            assert!(X[i] > X[i + 1] && F[i] < F[i + 1]);
            assert!((F[i] - (-0.5 * X[i] * X[i]).exp()).abs() < 1e-15);
        }
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
        assert!(z > R, "{z}");
        assert!(fast(tail_w).is_nan());
        // top layer: every point is outside the empty rectangle, the wedge decides
        let top = (3u64 << 50) << 12 | 255;
        assert!(fast(top).is_nan());
        assert!(slow(key, 0, 2, top).is_finite());
    }
}
