//! Reproducible sums of block partials across ranks: the result depends only on the multiset of
//! block partials, never on how the blocks are split over ranks and threads or in which order they
//! are added.
//!
//! A floating-point left fold `((p_0 + p_1) + p_2) + ...` cannot be split across ranks bit-identically,
//! so the partials are summed exactly on a fixed-point grid instead (per component `j`):
//!
//! 1. `M_j = max_k |p_kj|` over all blocks of all ranks (an exact all-reduce `max`);
//! 2. `e_j` = the smallest integer with `M_j < 2^e_j`; every partial is rounded to the grid of
//!    spacing `2^(e_j - F)`, `F =` [`FRACTION_BITS`]: `N_kj = round(p_kj 2^(F - e_j))`, `|N_kj| < 2^F`;
//! 3. the integers are summed exactly (associative), as [`LIMBS`] signed 64-bit limbs of
//!    [`DIGIT_BITS`]-bit digits so that one integer all-reduce over ranks cannot overflow;
//! 4. `S_j = sum_k N_kj` is converted to `f64` once (round to nearest) and scaled by `2^(e_j - F)`.
//!
//! Error: each partial moves by at most `2^(e_j - F - 1) <= 2^-F M_j`, so
//! `|result - sum_k p_kj| <= K 2^-F M_j + ulp(result)/2` for `K` blocks: with `F = 72` this is far
//! below the error of the serial `f64` fold (`~ K 2^-53 M_j`). Exactness of the integer sums holds
//! for up to [`MAX_BLOCKS`] blocks (`2^39`, i.e. `3.5e13` particles).
//!
//! Components whose partials include a non-finite value (overflowed sums) fall back to an `f64`
//! all-reduce of the local sums: `NaN`/`±inf` outcomes do not depend on the order.

use crate::comm::Communicator;
use rayon::prelude::*;

/// Fraction bits `F` of the fixed-point grid below the exponent of the largest partial.
pub const FRACTION_BITS: i32 = 72;
/// Bits per limb digit.
pub const DIGIT_BITS: u32 = 24;
/// Limbs per component: `N = l_0 + l_1 2^24 + l_2 2^48` with `l_0, l_1 in [0, 2^24)` and the
/// signed top limb `l_2 = N >> 48 in [-2^24, 2^24)`.
pub const LIMBS: usize = 3;
/// Largest number of blocks (over all ranks) for which the limb sums cannot overflow `i64`:
/// `K 2^24 < 2^63`.
pub const MAX_BLOCKS: usize = 1 << 39;

#[cfg(test)]
const DIGIT_MASK: i128 = (1 << DIGIT_BITS) - 1;

/// `out[j] = sum_k partials[k * width + j]` over the blocks `k` of every rank, reproducibly (see the
/// module docs). Collective: every rank calls it with the same `width`; a rank may hold no blocks.
/// Costs two all-reduces: `width` `f64` maxima and `LIMBS * width` `i64` sums.
pub fn reproducible_sum(comm: &dyn Communicator, partials: &[f64], width: usize, out: &mut [f64]) {
    assert_eq!(out.len(), width, "reproducible_sum: out.len() != width");
    assert!(
        width > 0 && partials.len().is_multiple_of(width),
        "reproducible_sum: partials are not whole blocks of `width`"
    );
    // 1. global max |p| per component (NaN counts as +inf so it reaches the fallback)
    let mut max_abs = local_max_abs(partials, width);
    comm.all_reduce_max(&mut max_abs);
    // 2.-3. local limb sums on the global grid
    let exps: Vec<i32> = max_abs.iter().map(|&m| exponent_above(m)).collect();
    let mut limbs = local_limb_sums(partials, width, &exps, &max_abs);
    comm.all_reduce_sum_i64(&mut limbs);
    // 4. back to f64, once per component
    for (j, o) in out.iter_mut().enumerate() {
        *o = if max_abs[j] == 0.0 {
            0.0
        } else {
            let n = combine_limbs(&limbs[j * LIMBS..(j + 1) * LIMBS]);
            ldexp(n as f64, exps[j] - FRACTION_BITS)
        };
    }
    // non-finite components: an f64 all-reduce of local sums (every rank sees the same max_abs,
    // so every rank takes this branch together)
    if max_abs.iter().any(|m| !m.is_finite()) {
        let mut plain = vec![0.0; width];
        for block in partials.chunks_exact(width) {
            for (s, p) in plain.iter_mut().zip(block) {
                *s += p;
            }
        }
        comm.all_reduce_sum(&mut plain);
        for ((o, m), s) in out.iter_mut().zip(&max_abs).zip(plain) {
            if !m.is_finite() {
                *o = s;
            }
        }
    }
}

/// `max_k |p_kj|` per component, with NaN mapped to `+inf` (exact, so any order gives the same).
fn local_max_abs(partials: &[f64], width: usize) -> Vec<f64> {
    partials
        .par_chunks_exact(width)
        .fold(
            || vec![0.0f64; width],
            |mut m, block| {
                for (mj, p) in m.iter_mut().zip(block) {
                    let a = if p.is_nan() { f64::INFINITY } else { p.abs() };
                    *mj = mj.max(a);
                }
                m
            },
        )
        .reduce(
            || vec![0.0f64; width],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x = x.max(y));
                a
            },
        )
}

/// Exact integer sums `sum_k N_kj` as limbs (row-major `width x LIMBS`); integer addition is
/// associative, so the parallel reduction order does not matter.
fn local_limb_sums(partials: &[f64], width: usize, exps: &[i32], max_abs: &[f64]) -> Vec<i64> {
    let zero = || vec![0i64; width * LIMBS];
    partials
        .par_chunks_exact(width)
        .fold(zero, |mut acc, block| {
            for (j, &p) in block.iter().enumerate() {
                if !max_abs[j].is_finite() || max_abs[j] == 0.0 {
                    continue;
                }
                for (a, l) in acc[j * LIMBS..(j + 1) * LIMBS]
                    .iter_mut()
                    .zip(grid_limbs(p, exps[j]))
                {
                    *a += l;
                }
            }
            acc
        })
        .reduce(zero, |mut a, b| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            a
        })
}

/// The limbs `N = l_0 + l_1 2^24 + l_2 2^48` (low digits in `[0, 2^24)`, signed top limb) of
/// `N = round(p 2^(F - e))`, `|N| < 2^F` when `|p| < 2^e`, in `f64` arithmetic that is exact here
/// (the same limbs as [`split_limbs`]`(`[`to_grid`]`)` without 128-bit integers): `N` is an
/// integer-valued `f64`; scaling by powers of two, `floor`, and the subtraction of the part above a
/// digit (an integer below `2^48`, so representable) lose nothing.
#[inline]
fn grid_limbs(p: f64, e: i32) -> [i64; LIMBS] {
    const DIGIT: f64 = (1u64 << DIGIT_BITS) as f64;
    const TWO_DIGITS: f64 = DIGIT * DIGIT;
    let n = round_half_away(ldexp(p, FRACTION_BITS - e));
    let top = floor_small(n * (1.0 / TWO_DIGITS));
    let rest = n - top as f64 * TWO_DIGITS;
    let mid = floor_small(rest * (1.0 / DIGIT));
    let low = rest - mid as f64 * DIGIT;
    [low as i64, mid, top]
}

/// `floor(v)` for `|v| < 2^62` by a truncating conversion (one instruction; `f64::floor` is a C
/// library call on baseline x86-64).
#[inline(always)]
fn floor_small(v: f64) -> i64 {
    let t = v as i64;
    t - i64::from((t as f64) > v)
}

/// `f64::round` (halves away from zero) without the C library call: values of magnitude `2^52`
/// and above are integers already; below, the truncation `t` and the exact fraction `v - t`.
#[inline(always)]
fn round_half_away(v: f64) -> f64 {
    const INTEGRAL: f64 = (1u64 << 52) as f64;
    // NaN and infinities, and every value of magnitude 2^52 or more, are their own rounding
    if v.is_nan() || v.abs() >= INTEGRAL {
        return v;
    }
    let t = (v as i64) as f64;
    let f = v - t;
    if f >= 0.5 {
        t + 1.0
    } else if f <= -0.5 {
        t - 1.0
    } else {
        // keep the sign of a zero result (as `round` does: round(-0.3) = -0.0)
        t.copysign(v)
    }
}

/// `N = round(p 2^(F - e))` as an integer, `|N| < 2^F` when `|p| < 2^e` (the reference of
/// [`grid_limbs`]).
#[cfg(test)]
fn to_grid(p: f64, e: i32) -> i128 {
    // scaling by a power of two is exact here (the result only grows, or shrinks to a value whose
    // lost bits are below the rounding point anyway)
    ldexp(p, FRACTION_BITS - e).round() as i128
}

/// `N = l_0 + l_1 2^24 + l_2 2^48`, low digits in `[0, 2^24)`, signed top limb.
#[cfg(test)]
fn split_limbs(n: i128) -> [i64; LIMBS] {
    [
        (n & DIGIT_MASK) as i64,
        ((n >> DIGIT_BITS) & DIGIT_MASK) as i64,
        (n >> (2 * DIGIT_BITS)) as i64,
    ]
}

/// `sum_l limbs[l] 2^(24 l)`; fits `i128` for up to [`MAX_BLOCKS`] blocks (`< 2^(39 + 72)`).
fn combine_limbs(limbs: &[i64]) -> i128 {
    limbs
        .iter()
        .enumerate()
        .map(|(l, &v)| (v as i128) << (DIGIT_BITS as usize * l))
        .sum()
}

/// The smallest `e` with `m < 2^e` for finite `m >= 0` (`-1022` for subnormal or zero `m`).
fn exponent_above(m: f64) -> i32 {
    let biased = ((m.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        -1022
    } else {
        biased - 1022
    }
}

/// `x 2^k`, in steps that keep each factor a normal power of two.
fn ldexp(mut x: f64, mut k: i32) -> f64 {
    while k > 1023 {
        x *= pow2(1023);
        k -= 1023;
    }
    while k < -1022 {
        x *= pow2(-1022);
        k += 1022;
    }
    x * pow2(k)
}

/// `2^k` for `-1022 <= k <= 1023`.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_is_f64_round() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let specials = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            1e300,
            -1e300,
            f64::INFINITY,
            5e-324,
        ];
        for v in specials {
            let (got, want) = (round_half_away(v), v.round());
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{v:e}"
            );
        }
        for _ in 0..200_000 {
            let v: f64 = rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-5..60));
            assert_eq!(round_half_away(v).to_bits(), v.round().to_bits(), "{v:e}");
        }
    }

    #[test]
    fn grid_limbs_equal_the_integer_split() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut checked = 0;
        for _ in 0..200_000 {
            // a partial below 2^e of any magnitude, sign and grid offset (halves included)
            let e = rng.random_range(-1000..1000);
            let frac: f64 = match rng.random_range(0..4) {
                0 => rng.random_range(-1.0..1.0),
                1 => (rng.random_range(-(1i64 << 40)..(1i64 << 40)) as f64 + 0.5) * 2f64.powi(-40),
                2 => rng.random_range(-1e-12..1e-12),
                _ => 1.0 - f64::EPSILON / 2.0 * rng.random_range(1.0..4.0),
            };
            let p = ldexp(frac, e);
            let want = split_limbs(to_grid(p, e));
            assert_eq!(grid_limbs(p, e), want, "p = {p:e}, e = {e}");
            checked += 1;
        }
        for p in [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.75, f64::MIN_POSITIVE] {
            assert_eq!(grid_limbs(p, 1), split_limbs(to_grid(p, 1)), "{p}");
        }
        assert_eq!(checked, 200_000);
    }
    use crate::comm::local::LocalRanks;
    use crate::comm::SingleProcess;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn sum1(p: &[f64], width: usize) -> Vec<f64> {
        let mut out = vec![0.0; width];
        reproducible_sum(&SingleProcess, p, width, &mut out);
        out
    }

    /// Neumaier-compensated sum in `f64`-pairs (reference for accuracy).
    fn compensated(v: &[f64]) -> f64 {
        let (mut s, mut c) = (0.0f64, 0.0f64);
        for &x in v {
            let t = s + x;
            c += if s.abs() >= x.abs() {
                (s - t) + x
            } else {
                (x - t) + s
            };
            s = t;
        }
        s + c
    }

    fn data(n: usize, seed: u64, spread: f64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let m: f64 = rng.random::<f64>() - 0.5;
                m * 10f64.powf(spread * (rng.random::<f64>() - 0.5))
            })
            .collect()
    }

    /// Split `p` (whole blocks of `width`) at `cuts` over threads-as-ranks; every rank's result.
    fn sum_split(p: &[f64], width: usize, cuts: &[usize]) -> Vec<Vec<f64>> {
        let size = cuts.len() + 1;
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(p.len() / width);
        LocalRanks::run(size, |comm, r| {
            let (lo, hi) = (bounds[r] * width, bounds[r + 1] * width);
            let mut out = vec![0.0; width];
            reproducible_sum(&comm, &p[lo..hi], width, &mut out);
            out
        })
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn permutation_invariant() {
        let width = 3;
        let mut p = data(3 * 1000, 1, 12.0);
        let reference = bits(&sum1(&p, width));
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..5 {
            // shuffle whole blocks (rows)
            let k = p.len() / width;
            for i in (1..k).rev() {
                let j = rng.random_range(0..=i);
                for c in 0..width {
                    p.swap(i * width + c, j * width + c);
                }
            }
            assert_eq!(bits(&sum1(&p, width)), reference);
        }
    }

    #[test]
    fn split_invariant_over_ranks() {
        let width = 2;
        let p = data(2 * 777, 3, 8.0);
        let reference = bits(&sum1(&p, width));
        for cuts in [
            vec![],
            vec![1],
            vec![400],
            vec![0, 776],
            vec![100, 101, 500],
        ] {
            for out in sum_split(&p, width, &cuts) {
                assert_eq!(bits(&out), reference, "cuts {cuts:?}");
            }
        }
    }

    #[test]
    fn accurate_against_a_compensated_sum() {
        // heavy cancellation over 16 decades: compare with a compensated sum
        for seed in 0..20 {
            let p = data(5000, 10 + seed, 16.0);
            let exact = compensated(&p);
            let got = sum1(&p, 1)[0];
            let max = p.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            // bound from the module docs: K 2^-72 M + half an ulp of the result
            let bound = 5000.0 * max * 2f64.powi(-72) + exact.abs() * f64::EPSILON;
            assert!(
                (got - exact).abs() <= bound,
                "seed {seed}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn exact_for_representable_sums_and_edge_magnitudes() {
        // integers are exact; tiny and huge magnitudes keep their scale
        assert_eq!(sum1(&[1.0, 2.0, 3.0, -0.5], 1), vec![5.5]);
        assert_eq!(sum1(&[0.0, 0.0], 1), vec![0.0]);
        assert_eq!(sum1(&[1e-310, 1e-310], 1), vec![2e-310]);
        assert_eq!(sum1(&[1e300, 1e300, -1e300], 1), vec![1e300]);
        assert_eq!(sum1(&[f64::MAX, -f64::MAX / 2.0], 1), vec![f64::MAX / 2.0]);
        let v = sum1(&[3.0e-200, 1.0e-200], 1)[0];
        assert!((v - 4.0e-200).abs() <= 4.0e-200 * f64::EPSILON);
    }

    #[test]
    fn non_finite_partials_fall_back_per_component() {
        let p = [1.0, f64::INFINITY, 2.0, 1.0];
        assert_eq!(sum1(&p, 2), vec![3.0, f64::INFINITY]);
        let p = [1.0, f64::NAN, 2.0, 1.0];
        let s = sum1(&p, 2);
        assert_eq!(s[0], 3.0);
        assert!(s[1].is_nan());
        let split = sum_split(&[f64::INFINITY, 1.0, -f64::INFINITY], 1, &[1]);
        assert!(split.iter().all(|s| s[0].is_nan()));
    }

    #[test]
    fn limbs_round_trip() {
        for n in [
            0i128,
            1,
            -1,
            (1 << 72) - 1,
            -(1 << 72) + 1,
            123_456_789_012_345_678_901,
        ] {
            assert_eq!(combine_limbs(&split_limbs(n)), n);
        }
        assert_eq!(exponent_above(1.0), 1);
        assert_eq!(exponent_above(0.75), 0);
        assert_eq!(ldexp(3.0, 1100), 3.0 * 2f64.powi(1000) * 2f64.powi(100));
    }
}
