//! The control energy's per-block sums: `Σ_i u_ij²` per coordinate over a block's particles (in
//! particle order) and `h Σ_j u_ij²` per particle (in coordinate order), the additions of
//! [`crate::observe::ControlEnergy`], arranged so that several particles' sums run side by side.

/// One block's power terms: `acc_j += Σ_i u_ij²` (agents in order) and `e_i += h Σ_j u_ij²`
/// (coordinates in order): eight agents at a time on AVX2 where `d` is a multiple of 4, the rest
/// four at a time, so that the agents' sums run side by side instead of one dependent chain (the
/// same additions in the same order: the same bits).
#[inline]
pub(crate) fn power_block(acc: &mut [f64], e: &mut [f64], u: &[f64], d: usize, h: f64) {
    let acc = &mut acc[..d];
    let done = power_octets(acc, e, u, d, h);
    power_rows(acc, &mut e[done..], &u[done * d..], d, h);
}

/// [`power_block`] on whole groups of eight agents with AVX2 (`d` a multiple of 4); returns how many
/// agents it took (0 without AVX2 or for other `d`).
#[inline]
fn power_octets(acc: &mut [f64], e: &mut [f64], u: &[f64], d: usize, h: f64) -> usize {
    #[cfg(target_arch = "x86_64")]
    if d.is_multiple_of(4) && d > 0 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        return unsafe { power_octets_avx2(acc, e, u, d, h) };
    }
    let _ = (acc, e, u, d, h);
    0
}

/// Eight agents' rows at a time, four coordinates at a time: the squares `q_i = u_i ⊙ u_i` of the
/// eight rows go into `acc` in agent order (`(((acc + q_0) + q_1) + ..) + q_7`), and, transposed
/// to one lane per agent, into each agent's running sum in coordinate order — the additions of
/// [`power_rows`], with 8 independent chains in two registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn power_octets_avx2(acc: &mut [f64], e: &mut [f64], u: &[f64], d: usize, h: f64) -> usize {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_permute2f128_pd,
        _mm256_setzero_pd, _mm256_storeu_pd, _mm256_unpackhi_pd, _mm256_unpacklo_pd,
    };
    /// `s + T_0 + T_1 + T_2 + T_3` (in that order) with `T_j` lane `i` = `q[i]` lane `j`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn add_transposed(s: __m256d, q: &[__m256d]) -> __m256d {
        let (lo01, hi01) = (
            _mm256_unpacklo_pd(q[0], q[1]),
            _mm256_unpackhi_pd(q[0], q[1]),
        );
        let (lo23, hi23) = (
            _mm256_unpacklo_pd(q[2], q[3]),
            _mm256_unpackhi_pd(q[2], q[3]),
        );
        let t0 = _mm256_permute2f128_pd::<0x20>(lo01, lo23);
        let t1 = _mm256_permute2f128_pd::<0x20>(hi01, hi23);
        let t2 = _mm256_permute2f128_pd::<0x31>(lo01, lo23);
        let t3 = _mm256_permute2f128_pd::<0x31>(hi01, hi23);
        _mm256_add_pd(
            _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(s, t0), t1), t2),
            t3,
        )
    }
    let (accq, _) = acc.as_chunks_mut::<4>();
    let octets = e.chunks_exact_mut(8).zip(u.chunks_exact(8 * d));
    let mut done = 0;
    for (eo, uo) in octets {
        let rows: [&[[f64; 4]]; 8] =
            std::array::from_fn(|i| uo[i * d..(i + 1) * d].as_chunks::<4>().0);
        let (mut sa, mut sb) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for (jq, aq) in accq.iter_mut().enumerate() {
            // SAFETY (loads, store): every pointer is a whole `[f64; 4]`
            let q: [__m256d; 8] = std::array::from_fn(|i| {
                let v = unsafe { _mm256_loadu_pd(rows[i][jq].as_ptr()) };
                _mm256_mul_pd(v, v)
            });
            let mut a = unsafe { _mm256_loadu_pd(aq.as_ptr()) };
            for qi in q {
                a = _mm256_add_pd(a, qi);
            }
            unsafe { _mm256_storeu_pd(aq.as_mut_ptr(), a) };
            sa = add_transposed(sa, &q[..4]);
            sb = add_transposed(sb, &q[4..]);
        }
        let mut s = [0.0; 8];
        // SAFETY: two stores of four lanes into eight doubles
        unsafe {
            _mm256_storeu_pd(s.as_mut_ptr(), sa);
            _mm256_storeu_pd(s.as_mut_ptr().add(4), sb);
        }
        for (ei, si) in eo.iter_mut().zip(s) {
            *ei += h * si;
        }
        done += 8;
    }
    done
}

/// [`power_block`] four agents at a time, then one at a time.
#[inline]
fn power_rows(acc: &mut [f64], e: &mut [f64], u: &[f64], d: usize, h: f64) {
    let mut quads = e.chunks_exact_mut(4).zip(u.chunks_exact(4 * d));
    for (eq, uq) in &mut quads {
        let (u0, rest) = uq.split_at(d);
        let (u1, rest) = rest.split_at(d);
        let (u2, u3) = rest.split_at(d);
        let mut s = [0.0; 4];
        for (j, a) in acc.iter_mut().enumerate() {
            let q = [u0[j] * u0[j], u1[j] * u1[j], u2[j] * u2[j], u3[j] * u3[j]];
            *a = (((*a + q[0]) + q[1]) + q[2]) + q[3];
            for (s, q) in s.iter_mut().zip(q) {
                *s += q;
            }
        }
        for (e, s) in eq.iter_mut().zip(s) {
            *e += h * s;
        }
    }
    let n = e.len() / 4 * 4;
    for (ei, ui) in e[n..].iter_mut().zip(u[n * d..].chunks_exact(d)) {
        let mut s = 0.0;
        for (a, &w) in acc.iter_mut().zip(ui) {
            let q = w * w;
            *a += q;
            s += q;
        }
        *ei += h * s;
    }
}

#[cfg(test)]
mod tests {
    use super::{power_block, power_rows};

    /// The eight-agent AVX2 path and the portable rows give the same bits, for `d` multiple of 4
    /// or not and blocks of any length (the runner's last block may be short).
    #[test]
    fn power_block_matches_the_portable_rows() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut next = || rng.random_range(-4.0..4.0);
        for d in [1, 3, 4, 5, 8, 12, 32] {
            for rows in [64, 61, 9, 8, 3] {
                let u: Vec<f64> = (0..rows * d).map(|_| next()).collect();
                let acc0: Vec<f64> = (0..d).map(|_| next().abs()).collect();
                let e0: Vec<f64> = (0..rows).map(|_| next().abs()).collect();
                let (mut acc, mut e) = (acc0.clone(), e0.clone());
                power_block(&mut acc, &mut e, &u, d, 0.37);
                let (mut acc_r, mut e_r) = (acc0, e0);
                power_rows(&mut acc_r, &mut e_r, &u, d, 0.37);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&acc), bits(&acc_r), "acc, d = {d}, rows = {rows}");
                assert_eq!(bits(&e), bits(&e_r), "e, d = {d}, rows = {rows}");
            }
        }
    }
}
