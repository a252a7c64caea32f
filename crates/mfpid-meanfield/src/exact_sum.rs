//! Exact reductions over ranks for the particle solver's binned kernels: grouped sums on a
//! fixed-point grid (integers, so any split of the particles over ranks and any order gives the
//! same bits) and exact order statistics by bisection on the `f64` order, with `O(groups)` memory
//! and messages, independent of the number of particles.
//!
//! Grouped sums: group `g` has a known bound `|t| < 2^e_g` on its terms (e.g. `exp(v - max) <= 1`,
//! or `w_i f <= max_j w_j`); each term is rounded to the grid `2^(e_g - F)`, `F =`
//! [`FRACTION_BITS`] (`N_i = round(t_i 2^(F - e_g))`, `|N_i| <= 2^F`), the integers are summed in
//! `i128` (exact for up to `2^46` terms), sent as three `i64` limbs of [`DIGIT_BITS`] bits, and the
//! total is converted to `f64` once. Error: at most `n 2^(e_g - F - 1)` for `n` terms, i.e.
//! `n 2^-81` relative to the bound: far below the `f64` rounding of the result.

use mfpid_sde::Communicator;

/// Fraction bits `F` of the grid below each group's bound.
pub(crate) const FRACTION_BITS: i32 = 80;
/// Bits per limb of the integer all-reduce.
pub(crate) const DIGIT_BITS: u32 = 40;
const DIGIT_MASK: i128 = (1 << DIGIT_BITS) - 1;

/// The smallest `e` with `m < 2^e` for finite `m >= 0` (`-1022` for zero or subnormal `m`).
pub(crate) fn exponent_above(m: f64) -> i32 {
    let biased = ((m.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        -1022
    } else {
        biased - 1022
    }
}

/// `t 2^k` for `|t| < 2^e`, `k = F - e`, exactly (two power-of-two factors, each normal).
fn scale(t: f64, e: i32) -> f64 {
    if e > 0 {
        t * 2f64.powi(-e) * 2f64.powi(FRACTION_BITS)
    } else {
        t * 2f64.powi(FRACTION_BITS) * 2f64.powi(-e)
    }
}

/// Sums of terms in groups, exact on each group's grid (see the module docs).
pub(crate) struct GridSums {
    exps: Vec<i32>,
    acc: Vec<i128>,
}

impl GridSums {
    /// Groups with term bounds `|t| < 2^exps[g]`.
    pub(crate) fn new(exps: Vec<i32>) -> Self {
        let acc = vec![0; exps.len()];
        Self { exps, acc }
    }

    /// Add term `t` (`|t| < 2^e_g`, finite) to group `g`.
    #[inline]
    pub(crate) fn add(&mut self, g: usize, t: f64) {
        self.acc[g] += scale(t, self.exps[g]).round() as i128;
    }

    /// The sums over every rank's terms (collective: one `i64` all-reduce of `3 x groups`).
    pub(crate) fn reduce(self, comm: &dyn Communicator) -> Vec<f64> {
        let mut limbs: Vec<i64> = self
            .acc
            .iter()
            .flat_map(|&n| {
                [
                    (n & DIGIT_MASK) as i64,
                    ((n >> DIGIT_BITS) & DIGIT_MASK) as i64,
                    (n >> (2 * DIGIT_BITS)) as i64,
                ]
            })
            .collect();
        comm.all_reduce_sum_i64(&mut limbs);
        limbs
            .chunks_exact(3)
            .zip(&self.exps)
            .map(|(l, &e)| {
                let n = l[0] as i128
                    + ((l[1] as i128) << DIGIT_BITS)
                    + ((l[2] as i128) << (2 * DIGIT_BITS));
                // back from the grid: n 2^(e - F), in two exact power-of-two steps
                (n as f64) * 2f64.powi(-FRACTION_BITS) * 2f64.powi(e)
            })
            .collect()
    }
}

/// Key of `x` in the total order of `f64::total_cmp`, as an unsigned integer.
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// The order statistics `v_(q)` (0-based, in `f64::total_cmp` order) of the values of every rank
/// (`local` this rank's values), for each `q` in `wanted` (each `< total`): exactly the entries
/// `sorted[q]` of the single-process sort. Bisection on the 64-bit order key: 64 collectives of
/// `wanted.len()` integers, `O(local log local)` work, nothing `O(total)` sent.
pub(crate) fn order_statistics(
    comm: &dyn Communicator,
    local: &[f64],
    wanted: &[usize],
) -> Vec<f64> {
    let mut keys: Vec<u64> = local.iter().map(|&x| key(x)).collect();
    keys.sort_unstable();
    let mut lo = vec![0u64; wanted.len()];
    let mut hi = vec![u64::MAX; wanted.len()];
    let mut counts = vec![0i64; wanted.len()];
    for _ in 0..64 {
        // the smallest key K with #{keys <= K} >= q + 1 lies in [lo, hi]
        for (c, (&l, &h)) in counts.iter_mut().zip(lo.iter().zip(&hi)) {
            let mid = l + (h - l) / 2;
            *c = keys.partition_point(|&k| k <= mid) as i64;
        }
        comm.all_reduce_sum_i64(&mut counts);
        for (((l, h), &c), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&counts).zip(wanted) {
            let mid = *l + (*h - *l) / 2;
            if c > q as i64 {
                *h = mid;
            } else {
                *l = mid.saturating_add(1).min(*h);
            }
        }
    }
    lo.into_iter().map(unkey).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfpid_sde::comm::local::LocalRanks;
    use mfpid_sde::SingleProcess;

    #[test]
    fn keys_follow_total_cmp() {
        let mut v = vec![3.5, -0.0, 0.0, -1e300, 1e-310, -2.0, f64::INFINITY, 7.0];
        let mut by_key = v.clone();
        by_key.sort_by_key(|&x| key(x));
        v.sort_by(f64::total_cmp);
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            by_key.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        for x in v {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn order_statistics_match_a_sort_over_ranks() {
        let v: Vec<f64> = (0..1000)
            .map(|i| {
                ((i * 7919 % 1009) as f64 - 500.0) * 0.37 + if i % 7 == 0 { 0.0 } else { -0.0 }
            })
            .collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let wanted = [0, 1, 499, 500, 998, 999];
        let expect: Vec<u64> = wanted.iter().map(|&q| sorted[q].to_bits()).collect();
        let one = order_statistics(&SingleProcess, &v, &wanted);
        assert_eq!(one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), expect);
        let parts = [&v[..100], &v[100..640], &v[640..]];
        LocalRanks::run(3, |comm, r| {
            let got = order_statistics(&comm, parts[r], &wanted);
            assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), expect);
        });
    }

    #[test]
    fn grid_sums_are_split_invariant_and_accurate() {
        let t: Vec<f64> = (0..5000)
            .map(|i| ((i as f64) * 0.731).sin().abs())
            .collect();
        let sum_of = |comm: &dyn Communicator, part: &[f64]| {
            let mut g = GridSums::new(vec![1, 1]);
            for (i, &x) in part.iter().enumerate() {
                g.add(i % 2, x);
            }
            g.reduce(comm)
        };
        let one = sum_of(&SingleProcess, &t);
        let serial: f64 = t.iter().step_by(2).sum();
        assert!(
            (one[0] - serial).abs() < 1e-10 * serial,
            "{} vs {serial}",
            one[0]
        );
        // split at an even index so the group of each term is the same
        let parts = [&t[..1234], &t[1234..]];
        LocalRanks::run(2, |comm, r| assert_eq!(sum_of(&comm, parts[r]), one));
        assert_eq!(exponent_above(1.0), 1);
        assert_eq!(exponent_above(0.75), 0);
    }
}
