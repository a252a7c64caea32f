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
    fn stream_words_in_counter_order() {
        let mut s = PhiloxStream::new([5, 6], 9);
        let w: Vec<u32> = (0..8).map(|_| s.next_u32()).collect();
        assert_eq!(w[..4], philox4x32_10(counter(9, 0), [5, 6]));
        assert_eq!(w[4..], philox4x32_10(counter(9, 1), [5, 6]));
    }
}
