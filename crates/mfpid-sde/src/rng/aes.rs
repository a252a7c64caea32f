//! AES-128 in counter mode (FIPS-197; the counter-based "AESNI" generator of Salmon, Moraes, Dror,
//! Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011): word pair `n` of stream `block`
//! is `AES_k(n + 2^64 block)`, the 128-bit counter's bytes little-endian, the ciphertext's bytes read
//! as two little-endian `u64` (words `2n` and `2n + 1`). Any word is computed without the ones before
//! it, and the ten full rounds are a block cipher: no statistical test short of breaking AES can tell
//! the words from independent uniform ones.
//!
//! Three paths give the same bits (test `every_path_gives_the_reference_words`): the byte-wise
//! software cipher [`encrypt`] (the reference; any CPU), AES-NI (8 counters in flight) and VAES
//! (AVX2 registers, two counters per instruction, 16 in flight).

use rand_core::{impls, RngCore};
use std::borrow::Borrow;

/// The eleven round keys of AES-128 (FIPS-197 section 5.2), bytes in cipher order.
pub type RoundKeys = [[u8; 16]; 11];

/// The S-box of FIPS-197 (figure 7).
#[rustfmt::skip]
const SBOX: [u8; 256] = [
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
];

/// Round constants `x^(i-1)` in GF(2^8) (FIPS-197 section 5.2).
const RCON: [u8; 10] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

/// FIPS-197 key expansion of a 128-bit key: word `w_i = w_{i-4} ^ temp`, `temp = SubWord(RotWord(
/// w_{i-1})) ^ Rcon` every fourth word.
pub fn expand_key(key: [u8; 16]) -> RoundKeys {
    let mut w = [[0u8; 4]; 44];
    for (i, wi) in w.iter_mut().take(4).enumerate() {
        wi.copy_from_slice(&key[4 * i..4 * i + 4]);
    }
    for i in 4..44 {
        let mut t = w[i - 1];
        if i % 4 == 0 {
            t = [
                SBOX[t[1] as usize] ^ RCON[i / 4 - 1],
                SBOX[t[2] as usize],
                SBOX[t[3] as usize],
                SBOX[t[0] as usize],
            ];
        }
        w[i] = std::array::from_fn(|j| w[i - 4][j] ^ t[j]);
    }
    std::array::from_fn(|r| std::array::from_fn(|j| w[4 * r + j / 4][j % 4]))
}

/// Multiplication by `x` in GF(2^8) modulo `x^8 + x^4 + x^3 + x + 1`.
fn xtime(a: u8) -> u8 {
    (a << 1) ^ (0x1b * (a >> 7))
}

/// AES-128 encryption of one block, byte by byte (FIPS-197 section 5.1; state byte `r + 4c` is row
/// `r` of column `c`): the reference the vector paths are tested against, and the path of CPUs
/// without AES instructions.
pub fn encrypt(rk: &RoundKeys, input: [u8; 16]) -> [u8; 16] {
    let mut s: [u8; 16] = std::array::from_fn(|i| input[i] ^ rk[0][i]);
    for (r, k) in rk.iter().enumerate().skip(1) {
        // SubBytes and ShiftRows: row r of column c takes row r of column c + r
        let t: [u8; 16] = std::array::from_fn(|i| {
            let (row, col) = (i % 4, i / 4);
            SBOX[s[row + 4 * ((col + row) % 4)] as usize]
        });
        if r < 10 {
            // MixColumns: each column times 3x^3 + x^2 + x + 2
            for c in 0..4 {
                let a = [t[4 * c], t[4 * c + 1], t[4 * c + 2], t[4 * c + 3]];
                let all = a[0] ^ a[1] ^ a[2] ^ a[3];
                for j in 0..4 {
                    s[4 * c + j] = a[j] ^ all ^ xtime(a[j] ^ a[(j + 1) % 4]);
                }
            }
        } else {
            s = t;
        }
        for (b, kb) in s.iter_mut().zip(k) {
            *b ^= kb;
        }
    }
    s
}

/// The counter block of word pair `n` of stream `block`: `n + 2^64 block`, little-endian.
#[inline(always)]
fn counter(block: u64, n: u64) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[..8].copy_from_slice(&n.to_le_bytes());
    c[8..].copy_from_slice(&block.to_le_bytes());
    c
}

/// Words `2n` and `2n + 1` of stream `block` (the one-counter reference).
pub fn word_pair(rk: &RoundKeys, block: u64, n: u64) -> [u64; 2] {
    let c = encrypt(rk, counter(block, n));
    [
        u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
        u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
    ]
}

/// Instruction set of the counter-mode kernel; every path gives the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesPath {
    /// [`encrypt`], byte by byte.
    Soft,
    /// x86-64 AES-NI, one counter per instruction.
    AesNi,
    /// x86-64 VAES on AVX2 registers, two counters per instruction.
    Vaes,
}

impl AesPath {
    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            AesPath::Soft => true,
            #[cfg(target_arch = "x86_64")]
            AesPath::AesNi => std::arch::is_x86_feature_detected!("aes"),
            #[cfg(target_arch = "x86_64")]
            AesPath::Vaes => {
                std::arch::is_x86_feature_detected!("aes")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("vaes")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest available path.
    pub fn detect() -> Self {
        [AesPath::Vaes, AesPath::AesNi]
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(AesPath::Soft)
    }

    /// Word pair `n` of stream `block` (one counter; [`word_pair`] on this path).
    #[inline]
    pub fn pair(self, rk: &RoundKeys, block: u64, n: u64) -> [u64; 2] {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` checked the features the function is compiled for.
            AesPath::Vaes | AesPath::AesNi if self.available() => unsafe {
                x86::pair(rk, block, n)
            },
            _ => word_pair(rk, block, n),
        }
    }

    /// Word pairs `n0, n0 + 1, ...` of stream `block` into `out` (`out[2i], out[2i + 1]` = pair
    /// `n0 + i`; an odd last word is left untouched). A path this CPU lacks runs as `Soft`.
    pub fn fill(self, rk: &RoundKeys, block: u64, n0: u64, out: &mut [u64]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` checked the features the function is compiled for.
            AesPath::Vaes if self.available() => unsafe { x86::fill_vaes(rk, block, n0, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            AesPath::AesNi if self.available() => unsafe { x86::fill_aesni(rk, block, n0, out) },
            _ => {
                for (i, w) in out.chunks_exact_mut(2).enumerate() {
                    w.copy_from_slice(&word_pair(rk, block, n0.wrapping_add(i as u64)));
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::RoundKeys;
    use std::arch::x86_64::*;

    /// Counters in flight per iteration of the AES-NI kernel.
    const NI: usize = 8;
    /// AVX2 registers (two counters each) in flight per iteration of the VAES kernel.
    const V: usize = 8;

    #[target_feature(enable = "aes,sse2")]
    fn keys(rk: &RoundKeys) -> [__m128i; 11] {
        // SAFETY: each round key is 16 readable bytes; unaligned loads.
        std::array::from_fn(|r| unsafe { _mm_loadu_si128(rk[r].as_ptr().cast()) })
    }

    /// One block by AES-NI: ten rounds on the counter `(n, block)`.
    #[target_feature(enable = "aes,sse2")]
    fn one(k: &[__m128i; 11], block: u64, n: u64) -> __m128i {
        let mut s = _mm_xor_si128(_mm_set_epi64x(block as i64, n as i64), k[0]);
        for kr in &k[1..10] {
            s = _mm_aesenc_si128(s, *kr);
        }
        _mm_aesenclast_si128(s, k[10])
    }

    /// Store one block's two words at `out[0..2]`.
    #[target_feature(enable = "sse2")]
    fn store(s: __m128i, out: &mut [u64]) {
        assert!(out.len() >= 2);
        // SAFETY: 16 writable bytes checked above; unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), s) }
    }

    #[target_feature(enable = "aes,sse2")]
    pub(super) fn pair(rk: &RoundKeys, block: u64, n: u64) -> [u64; 2] {
        let mut w = [0u64; 2];
        store(one(&keys(rk), block, n), &mut w);
        w
    }

    #[target_feature(enable = "aes,sse2")]
    pub(super) fn fill_aesni(rk: &RoundKeys, block: u64, n0: u64, out: &mut [u64]) {
        let k = keys(rk);
        let mut n = n0;
        let mut groups = out.chunks_exact_mut(2 * NI);
        for o in &mut groups {
            let mut s: [__m128i; NI] = std::array::from_fn(|j| {
                _mm_xor_si128(
                    _mm_set_epi64x(block as i64, n.wrapping_add(j as u64) as i64),
                    k[0],
                )
            });
            for kr in &k[1..10] {
                for sj in &mut s {
                    *sj = _mm_aesenc_si128(*sj, *kr);
                }
            }
            for (j, sj) in s.iter().enumerate() {
                store(_mm_aesenclast_si128(*sj, k[10]), &mut o[2 * j..]);
            }
            n = n.wrapping_add(NI as u64);
        }
        for o in groups.into_remainder().chunks_exact_mut(2) {
            store(one(&k, block, n), o);
            n = n.wrapping_add(1);
        }
    }

    #[target_feature(enable = "aes,sse2,avx2,vaes")]
    pub(super) fn fill_vaes(rk: &RoundKeys, block: u64, n0: u64, out: &mut [u64]) {
        let k = keys(rk);
        let kv: [__m256i; 11] = std::array::from_fn(|r| _mm256_broadcastsi128_si256(k[r]));
        // register j holds counters n + 2j (low lane) and n + 2j + 1 (high lane); the 64-bit add
        // wraps the low word of each counter and leaves its block word alone
        let step = _mm256_set_epi64x(0, (2 * V) as i64, 0, (2 * V) as i64);
        let mut c: [__m256i; V] = std::array::from_fn(|j| {
            let a = n0.wrapping_add(2 * j as u64);
            _mm256_set_epi64x(
                block as i64,
                a.wrapping_add(1) as i64,
                block as i64,
                a as i64,
            )
        });
        let mut n = n0.wrapping_add((out.len() / (4 * V) * 2 * V) as u64);
        let mut groups = out.chunks_exact_mut(4 * V);
        for o in &mut groups {
            let mut s: [__m256i; V] = std::array::from_fn(|j| _mm256_xor_si256(c[j], kv[0]));
            for kr in &kv[1..10] {
                for sj in &mut s {
                    *sj = _mm256_aesenc_epi128(*sj, *kr);
                }
            }
            for (j, sj) in s.iter().enumerate() {
                let w = _mm256_aesenclast_epi128(*sj, kv[10]);
                // SAFETY: `o` has 4 V words, register j writes words 4j .. 4j + 4; unaligned.
                unsafe { _mm256_storeu_si256(o.as_mut_ptr().add(4 * j).cast(), w) };
            }
            for cj in &mut c {
                *cj = _mm256_add_epi64(*cj, step);
            }
        }
        for o in groups.into_remainder().chunks_exact_mut(2) {
            store(one(&k, block, n), o);
            n = n.wrapping_add(1);
        }
    }
}

/// The uniform words of one AES counter stream as an `RngCore`: `next_u64` returns words `0, 1,
/// 2, ...` of stream `block` under the round keys `rk` (from word `2 n` for [`at`](Self::at));
/// `next_u32` is the high half of the next word. `K` holds the keys: owned (`RoundKeys`, the
/// default) or borrowed (`&RoundKeys`, the ziggurat's auxiliary words).
#[derive(Debug, Clone)]
pub struct AesStream<K: Borrow<RoundKeys> = RoundKeys> {
    rk: K,
    path: AesPath,
    block: u64,
    /// next word pair to encrypt
    n: u64,
    pair: [u64; 2],
    /// next unread word of `pair` (2: none left)
    next: usize,
}

impl<K: Borrow<RoundKeys>> AesStream<K> {
    /// Stream `block` under `rk`, from its first word.
    pub fn new(rk: K, block: u64) -> Self {
        Self::at(rk, block, 0)
    }

    /// Stream `block` under `rk`, from word pair `n` (word `2 n`).
    pub fn at(rk: K, block: u64, n: u64) -> Self {
        Self::on(AesPath::detect(), rk, block, n)
    }

    /// As [`at`](Self::at) on a given path (same words on every path).
    pub fn on(path: AesPath, rk: K, block: u64, n: u64) -> Self {
        Self {
            rk,
            path,
            block,
            n,
            pair: [0; 2],
            next: 2,
        }
    }
}

impl<K: Borrow<RoundKeys>> RngCore for AesStream<K> {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        if self.next == 2 {
            self.pair = self.path.pair(self.rk.borrow(), self.block, self.n);
            self.n = self.n.wrapping_add(1);
            self.next = 0;
        }
        let w = self.pair[self.next];
        self.next += 1;
        w
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        impls::fill_bytes_via_next(self, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> [u8; 16] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
    }

    /// FIPS-197 appendix A.1 (key expansion) and appendix C.1 (AES-128 example vector), and the
    /// appendix B cipher example.
    #[test]
    fn known_answers() {
        let rk = expand_key(hex("2b7e151628aed2a6abf7158809cf4f3c"));
        assert_eq!(rk[10], hex("d014f9a8c9ee2589e13f0cc8b6630ca6"));
        assert_eq!(
            encrypt(&rk, hex("3243f6a8885a308d313198a2e0370734")),
            hex("3925841d02dc09fbdc118597196a0b32")
        );
        let rk = expand_key(hex("000102030405060708090a0b0c0d0e0f"));
        assert_eq!(
            encrypt(&rk, hex("00112233445566778899aabbccddeeff")),
            hex("69c4e0d86a7b0430d8cdb78070b4c55a")
        );
    }

    #[test]
    fn every_path_gives_the_reference_words() {
        let rk = expand_key(hex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
        for (block, n0) in [(3u64, 0u64), (u64::MAX >> 1, 12345), (7, u64::MAX - 9)] {
            // lengths covering whole VAES/AES-NI groups, remainders and an odd last word
            for len in [0usize, 2, 14, 32, 34, 66, 100, 131] {
                let want: Vec<u64> = (0..len / 2)
                    .flat_map(|i| word_pair(&rk, block, n0.wrapping_add(i as u64)))
                    .collect();
                for path in [AesPath::Soft, AesPath::AesNi, AesPath::Vaes] {
                    if !path.available() {
                        eprintln!("{path:?} not available on this CPU; skipped");
                        continue;
                    }
                    let mut got = vec![0u64; len];
                    path.fill(&rk, block, n0, &mut got);
                    assert_eq!(got[..len / 2 * 2], want[..], "{path:?} {block} {n0} {len}");
                }
            }
        }
    }

    #[test]
    fn stream_reads_words_in_counter_order() {
        let rk = expand_key([7; 16]);
        let mut s = AesStream::at(rk, 9, 4);
        let w: Vec<u64> = (0..4).map(|_| s.next_u64()).collect();
        assert_eq!(w[..2], word_pair(&rk, 9, 4));
        assert_eq!(w[2..], word_pair(&rk, 9, 5));
    }
}
