//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011): a counter-based generator, `x = f_key(counter)` with a 128-bit counter, a 64-bit key
//! and ten rounds of `(hi, lo) = M * c` products and key bumps. Output `n` of a stream depends only
//! on `(key, counter = n)`, so any draw can be computed without the ones before it.
//!
//! [`philox4x32_10`] is written on one counter; the normal kernels call it lane by lane on
//! fixed-size arrays of counters, which the compiler vectorises (`vpmuludq` for the products).

use rand_core::{impls, RngCore};

/// Round multipliers `M0, M1` and key bumps `W0, W1` (the Random123 constants).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;
/// Number of rounds (the "-10" of Philox4x32-10, the Crush-resistant choice of the paper).
pub const ROUNDS: usize = 10;

/// `(hi, lo)` halves of the 64-bit product `a * b`.
#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32 round: `c' = (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0))`.
#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(M0, c[0]);
    let (hi1, lo1) = mulhilo(M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32-10 of one 128-bit counter (words little-endian) under a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for r in 0..ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// Low 32 bits of a `u64` lane (the Philox word it carries).
const LO: u64 = 0xFFFF_FFFF;

/// Philox4x32-10 of the counters `(n_lo, n_hi, block)` that share `(key, n_hi, block)`, written
/// for vector lanes: each word rides in the low half of a `u64` (the high half is garbage and
/// ignored), so a round's two products are one `vpmuludq` each and no shuffles are needed; and the
/// lane-invariant products of the first rounds (`M1 block_lo` in round 1, `M0 c0'` in round 2,
/// whose inputs do not depend on `n_lo`) are computed once, in [`new`](Self::new). The words equal
/// [`philox4x32_10`] exactly (test `lanes_equal_the_reference`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhiloxLanes {
    /// round keys `(k0 + r W0, k1 + r W1)`, `r = 0 .. ROUNDS`
    k: [[u64; 2]; ROUNDS],
    /// round 1: `c2' = hi(M0 n_lo) ^ c1`
    c1: u64,
    /// round 2: `c0'' = hi(M1 c2') ^ d`, `c2'' = lo(M0 n_lo) ^ e`
    d: u64,
    e: u64,
    /// round 3: `c2''' = hi(M0 c0'') ^ g` (`g = c3'' ^ k1`, `c3''` lane-invariant)
    g: u64,
}

impl PhiloxLanes {
    /// The invariant part of the counters `(n_lo, n_hi, block)` under `key`.
    pub(crate) fn new(key: [u32; 2], block: u64, n_hi: u32) -> Self {
        let mut k = [[0u64; 2]; ROUNDS];
        let mut kr = key;
        for (r, kk) in k.iter_mut().enumerate() {
            if r > 0 {
                kr = [kr[0].wrapping_add(W0), kr[1].wrapping_add(W1)];
            }
            *kk = [u64::from(kr[0]), u64::from(kr[1])];
        }
        let (block_lo, block_hi) = (block as u32, (block >> 32) as u32);
        // round 1: c' = (hi(M1 block_lo) ^ n_hi ^ k0, lo(M1 block_lo), hi(M0 n_lo) ^ block_hi ^ k1, lo(M0 n_lo))
        let (hi1, lo1) = mulhilo(M1, block_lo);
        let c0 = hi1 ^ n_hi ^ key[0];
        let c1 = u64::from(block_hi ^ key[1]);
        // round 2: c'' = (hi(M1 c2') ^ lo1 ^ k0, lo(M1 c2'), hi(M0 c0') ^ lo(M0 n_lo) ^ k1, lo(M0 c0'))
        let (hi0, lo0) = mulhilo(M0, c0);
        let d = u64::from(lo1) ^ k[1][0];
        let e = u64::from(hi0) ^ k[1][1];
        // round 3 reads c3'' = lo(M0 c0') only through c2''' = hi(M0 c0'') ^ c3'' ^ k1
        let g = u64::from(lo0) ^ k[2][1];
        Self { k, c1, d, e, g }
    }

    /// The four words of the counters `(n_lo[i], n_hi, block)`, lane by lane, each word in the low
    /// half of its `u64` (every step is one operation on all lanes, so the lanes vectorise and
    /// the vectors of one step are independent).
    #[inline(always)]
    pub(crate) fn words<const N: usize>(&self, n_lo: [u64; N]) -> [[u64; N]; 4] {
        let k = &self.k;
        // rounds 1 and 2: one product each, the other was hoisted
        let p = lanes::<_, N>(|i| u64::from(M0) * (n_lo[i] & LO));
        let c2 = lanes::<_, N>(|i| (p[i] >> 32) ^ self.c1);
        let q = lanes::<_, N>(|i| u64::from(M1) * (c2[i] & LO));
        let c0 = lanes::<_, N>(|i| (q[i] >> 32) ^ self.d);
        let c2 = lanes::<_, N>(|i| p[i] ^ self.e);
        // round 3: the invariant c3'' is folded into g
        let p0 = lanes::<_, N>(|i| u64::from(M0) * (c0[i] & LO));
        let p1 = lanes::<_, N>(|i| u64::from(M1) * (c2[i] & LO));
        let mut c = [
            lanes::<_, N>(|i| (p1[i] >> 32) ^ q[i] ^ k[2][0]),
            p1,
            lanes::<_, N>(|i| (p0[i] >> 32) ^ self.g),
            p0,
        ];
        for kr in &k[3..] {
            let p0 = lanes::<_, N>(|i| u64::from(M0) * (c[0][i] & LO));
            let p1 = lanes::<_, N>(|i| u64::from(M1) * (c[2][i] & LO));
            c = [
                // the key is xored in off the critical path (product, shift, one xor)
                lanes::<_, N>(|i| (p1[i] >> 32) ^ (c[1][i] ^ kr[0])),
                p1,
                lanes::<_, N>(|i| (p0[i] >> 32) ^ (c[3][i] ^ kr[1])),
                p0,
            ];
        }
        c
    }
}

/// `[f(0), f(1), ..., f(N - 1)]`: one lane-wise step of a kernel (a short loop that the compiler
/// unrolls and vectorises across the lanes).
#[inline(always)]
pub(crate) fn lanes<T: Copy + Default, const N: usize>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut out = [T::default(); N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(i);
    }
    out
}

/// The 128-bit counter of draw `n` of block `block`: words `(n_lo, n_hi, block_lo, block_hi)`.
#[inline(always)]
pub fn counter(block: u64, n: u64) -> [u32; 4] {
    [
        n as u32,
        (n >> 32) as u32,
        block as u32,
        (block >> 32) as u32,
    ]
}

/// A Philox4x32-10 stream of uniform words, `RngCore` for code that wants a generic generator
/// (initial-state sampling, the `dieharder` stream): call `n` yields the four words of
/// `philox4x32_10(counter(block, n), key)`, in word order.
#[derive(Debug, Clone)]
pub struct PhiloxStream {
    key: [u32; 2],
    block: u64,
    n: u64,
    words: [u32; 4],
    /// next unread word of `words` (4: none left)
    next: usize,
}

impl PhiloxStream {
    /// The stream of block `block` under `key`, from counter 0.
    pub fn new(key: [u32; 2], block: u64) -> Self {
        Self::at(key, block, 0)
    }

    /// The stream of block `block` under `key`, from counter `n`.
    pub fn at(key: [u32; 2], block: u64, n: u64) -> Self {
        Self {
            key,
            block,
            n,
            words: [0; 4],
            next: 4,
        }
    }
}

impl RngCore for PhiloxStream {
    fn next_u32(&mut self) -> u32 {
        if self.next == 4 {
            self.words = philox4x32_10(counter(self.block, self.n), self.key);
            self.n = self.n.wrapping_add(1);
            self.next = 0;
        }
        let w = self.words[self.next];
        self.next += 1;
        w
    }
    fn next_u64(&mut self) -> u64 {
        impls::next_u64_via_u32(self)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        impls::fill_bytes_via_next(self, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of Random123 (`kat_vectors`, philox4x32 10 rounds).
    #[test]
    fn known_answers() {
        let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in kat {
            assert_eq!(philox4x32_10(ctr, key), want);
        }
    }

    #[test]
    fn lanes_equal_the_reference() {
        let mut s = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            s ^ (s >> 29)
        };
        for _ in 0..2000 {
            let key = [next() as u32, next() as u32];
            let block = if next() % 2 == 0 {
                next() % 100
            } else {
                next()
            };
            let n = if next() % 2 == 0 {
                next() % 1000
            } else {
                next()
            };
            let lanes = PhiloxLanes::new(key, block, (n >> 32) as u32);
            let got = lanes.words([n & LO]).map(|w| w[0] as u32);
            assert_eq!(
                got,
                philox4x32_10(counter(block, n), key),
                "{key:?} {block} {n}"
            );
        }
    }

    #[test]
    fn stream_words_in_counter_order() {
        let mut s = PhiloxStream::new([5, 6], 9);
        let w: Vec<u32> = (0..8).map(|_| s.next_u32()).collect();
        assert_eq!(w[..4], philox4x32_10(counter(9, 0), [5, 6]));
        assert_eq!(w[4..], philox4x32_10(counter(9, 1), [5, 6]));
    }
}
