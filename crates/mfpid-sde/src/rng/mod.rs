//! Reproducible random streams: one counter-based stream per fixed block of particles.
//!
//! Particles are grouped in blocks of [`RNG_BLOCK`] consecutive global indices. Block `k` owns
//! stream `k` under a key derived from `(seed, domain)`. Compute chunks are whole numbers of
//! blocks, so the numbers a particle receives depend only on `(seed, domain, particle index,
//! step)`, never on the thread count, the chunk size or the rank's particle offset.
//!
//! - [`BlockNormals`]: standard normals of a block by a [`Generator`]; the runner's
//!   ([`DEFAULT_GENERATOR`]) is AES-128 counter-mode words ([`aes`]) through the 1024-layer
//!   ziggurat (module `ziggurat`): normal `n` of block `k` is word `n` of the block's AES stream
//!   through the fast path, or through its own slow path. The alternatives: AES words through
//!   Box-Muller, and Philox4x32-10 ([`philox`]) counters through Box-Muller ([`normal`]) or the
//!   256-layer ziggurat. Normal `n` of block `k` is a function of `(key, k, n)` alone, identical
//!   bit for bit on every instruction set.
//! - [`AesStream`]: the same AES words as an `RngCore`, for generic sampling: the generator
//!   [`crate::Ensemble::sample`] hands its closure ([`SampleRng`]); [`PhiloxStream`] likewise for
//!   Philox counters.
//! - [`stream`]: a ChaCha8 stream under the same `(seed, domain)` keying, for code outside the
//!   runner that wants a generic `rand` generator (convergence study, test data).
//!
//! # Order of the draws (the increments of [`crate::run`] and [`crate::run_lockstep`])
//!
//! Block `k` reads one [`BlockNormals`] sequence under `(seed, DOMAIN_INCREMENTS, k)` from its
//! start, step after step. At step `n` a block of `P` particles (`P = RNG_BLOCK`, fewer only in
//! the last block of the population) takes the next `P r` normals, particle after particle, `r`
//! consecutive normals per particle:
//!
//! | scheme and noise | `r` | particle's normals `ξ_0 .. ξ_{r-1}` |
//! |---|---|---|
//! | Euler-Maruyama, Milstein, Heun, exact OU (additive or diagonal noise) | `d` | `ξ_j` drives coordinate `j` |
//! | SRA1 | `2d` | `(ξ_{2j}, ξ_{2j+1})` give `(ΔW_j, ΔZ_j)` of coordinate `j` ([`crate::scheme::brownian_pair`]) |
//! | Euler-Maruyama with matrix noise `d x m` | `m` | `ξ_i` drives Brownian motion `i` |
//!
//! The runner draws a block's `P r` normals of the step with one [`BlockNormals::fill`]; `fill`
//! and [`BlockNormals::next`] read the same sequence, so a per-particle `next()` would give the
//! same bits. [`crate::run_lockstep`] draws exactly as Euler-Maruyama with additive noise does, so
//! each member equals its own [`crate::run`].
//!
//! Initial states ([`crate::Ensemble::sample`]): block `k` owns the [`AesStream`] of
//! `(aes_key(seed, DOMAIN_INITIAL), k)` and calls the sampling closure for its particles in
//! order.

pub mod aes;
pub mod normal;
pub mod philox;
mod ziggurat;
mod ziggurat_tables;
mod ziggurat_tables_1024;

pub use aes::{AesPath, AesStream, RoundKeys};
pub use normal::{Path, Transform};
pub use philox::PhiloxStream;

use normal::CHUNK;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Particles per random stream. Compute chunk sizes must be multiples of this.
pub const RNG_BLOCK: usize = 64;

/// Domain tag of the per-step Brownian increments.
pub const DOMAIN_INCREMENTS: u64 = 0x494e_4352; // "INCR"
/// Domain tag for sampling initial states ([`crate::Ensemble::sample`]).
pub const DOMAIN_INITIAL: u64 = 0x494e_4954; // "INIT"

/// SplitMix64 finaliser (Steele et al.), used only to expand a 64-bit seed into a 256-bit key.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The ChaCha8 stream number `stream` under the key derived from `(seed, domain)`.
///
/// ```
/// use rand::Rng;
/// let mut a = mfpid_sde::rng::stream(7, mfpid_sde::rng::DOMAIN_INCREMENTS, 3);
/// let mut b = mfpid_sde::rng::stream(7, mfpid_sde::rng::DOMAIN_INCREMENTS, 3);
/// assert_eq!(a.random::<u64>(), b.random::<u64>());
/// ```
pub fn stream(seed: u64, domain: u64, stream: u64) -> ChaCha8Rng {
    let mut state = seed ^ domain.rotate_left(32);
    let mut key = [0u8; 32];
    for w in key.chunks_exact_mut(8) {
        w.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// The normal sequences of all blocks covering global particles `offset .. offset + n` (offset a
/// multiple of [`RNG_BLOCK`]): block `offset / RNG_BLOCK + i` at index `i`.
pub(crate) fn block_normals(seed: u64, domain: u64, offset: usize, n: usize) -> Vec<BlockNormals> {
    let first = offset / RNG_BLOCK;
    let rk = round_keys(DEFAULT_GENERATOR, seed, domain);
    (0..n.div_ceil(RNG_BLOCK))
        .map(|k| BlockNormals::keyed(seed, domain, rk, (first + k) as u64))
        .collect()
}

/// The uniform generator [`crate::Ensemble::sample`] hands its closure (any `rand::Rng` use works).
pub type SampleRng = AesStream;

/// The uniform streams of all blocks covering global particles `offset .. offset + n` under
/// `(seed, domain)` (offset a multiple of [`RNG_BLOCK`]).
pub(crate) fn block_uniforms(seed: u64, domain: u64, offset: usize, n: usize) -> Vec<SampleRng> {
    let rk = aes_key(seed, domain);
    let first = offset / RNG_BLOCK;
    (0..n.div_ceil(RNG_BLOCK))
        .map(|k| AesStream::new(rk, (first + k) as u64))
        .collect()
}

/// The 64-bit Philox key of `(seed, domain)`: two SplitMix64 finalisations, so distinct pairs give
/// unrelated keys (collisions only by chance, 2^-64).
pub fn philox_key(seed: u64, domain: u64) -> [u32; 2] {
    let mut s = seed;
    let mut t = splitmix64(&mut s) ^ domain;
    let k = splitmix64(&mut t);
    [k as u32, (k >> 32) as u32]
}

/// The AES-128 round keys of `(seed, domain)`: the 128-bit key is two further SplitMix64 outputs
/// after the domain is mixed in, as for [`philox_key`].
pub fn aes_key(seed: u64, domain: u64) -> RoundKeys {
    let mut s = seed;
    let mut t = splitmix64(&mut s) ^ domain;
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&splitmix64(&mut t).to_le_bytes());
    key[8..].copy_from_slice(&splitmix64(&mut t).to_le_bytes());
    aes::expand_key(key)
}

/// The AES round keys a generator needs under `(seed, domain)` (none for Philox).
fn round_keys(gen: Generator, seed: u64, domain: u64) -> RoundKeys {
    match gen {
        Generator::AesZiggurat | Generator::AesBoxMuller => aes_key(seed, domain),
        Generator::Philox(_) => [[0; 16]; 11],
    }
}

/// A generator of standard normals: the uniform words and the transform that turns them into
/// normals (README "Generator" compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// AES-128 counter-mode words ([`aes`]) through the 256-layer ziggurat: normal `n` of a block
    /// is word `n` of its AES stream, through the fast path or its own slow path.
    AesZiggurat,
    /// AES-128 counter-mode words through the Box-Muller transform ([`normal`]'s chunk layout:
    /// word pair `n` plays the part of Philox counter `n`).
    AesBoxMuller,
    /// Philox4x32-10 counters ([`philox`]) through a transform ([`normal`]'s chunk layout).
    Philox(Transform),
}

/// The generator the runner uses (chosen by measurement, README "Generator").
pub const DEFAULT_GENERATOR: Generator = Generator::AesZiggurat;

/// Chunks buffered per block (256 normals, 2 KiB): refills are rare enough that `next` costs
/// little more than `fill`.
const BUF_CHUNKS: usize = 256usize.div_ceil(CHUNK);
const BUF: usize = BUF_CHUNKS * CHUNK;

/// Standard normals of one particle block: `z_n` for `n = 0, 1, ...` is normal `n` of block
/// `block` under the key of `(seed, domain)` by the [`Generator`]. [`next`](Self::next) and
/// [`fill`](Self::fill) consume the same sequence.
#[derive(Debug, Clone)]
pub struct BlockNormals {
    src: Source,
    /// next chunk to generate
    chunk: u64,
    buf: [f64; BUF],
    /// next unread entry of `buf` (`BUF`: empty)
    next: usize,
}

/// What a block's normals are a function of: the generator, its keys and the block; and the
/// instruction set that computes them.
#[derive(Debug, Clone)]
struct Source {
    gen: Generator,
    key: [u32; 2],
    rk: RoundKeys,
    block: u64,
    path: Path,
    /// the AES kernel and whether the ziggurat's fast path runs on AVX2 (from `path`)
    aes: AesPath,
    avx2: bool,
}

impl Source {
    /// Chunks `first, first + 1, ...` of the block's sequence into `out` (a whole number of
    /// chunks).
    fn chunks(&self, first: u64, out: &mut [f64]) {
        match self.gen {
            Generator::AesZiggurat => ziggurat::fill_aes(
                &self.rk,
                self.block,
                first.wrapping_mul(CHUNK as u64),
                self.aes,
                self.avx2,
                out,
            ),
            Generator::AesBoxMuller => {
                let path = if self.aes == AesPath::Soft {
                    Path::Scalar
                } else {
                    self.path
                };
                path.fill_aes_chunks(self.aes, &self.rk, self.block, first, out)
            }
            Generator::Philox(t) => self.path.fill_chunks(t, self.key, self.block, first, out),
        }
    }
}

impl BlockNormals {
    /// Block `block` under `(seed, domain)` by the [`DEFAULT_GENERATOR`], on the widest
    /// instruction set of this CPU.
    pub fn new(seed: u64, domain: u64, block: u64) -> Self {
        Self::with(seed, domain, block, DEFAULT_GENERATOR, Path::detect())
    }

    /// As [`new`](Self::new) with the AES round keys of `(seed, domain)` already expanded.
    fn keyed(seed: u64, domain: u64, rk: RoundKeys, block: u64) -> Self {
        Self::build(seed, domain, rk, block, DEFAULT_GENERATOR, Path::detect())
    }

    /// As [`new`](Self::new) with a given generator and [`Path`] (the bits depend on the
    /// generator, not on the path).
    pub fn with(seed: u64, domain: u64, block: u64, gen: Generator, path: Path) -> Self {
        Self::build(
            seed,
            domain,
            round_keys(gen, seed, domain),
            block,
            gen,
            path,
        )
    }

    fn build(
        seed: u64,
        domain: u64,
        rk: RoundKeys,
        block: u64,
        gen: Generator,
        path: Path,
    ) -> Self {
        let simd = path != Path::Scalar && path.available();
        Self {
            src: Source {
                gen,
                key: philox_key(seed, domain),
                rk,
                block,
                path,
                aes: if simd {
                    AesPath::detect()
                } else {
                    AesPath::Soft
                },
                avx2: simd && Path::Avx2.available(),
            },
            chunk: 0,
            buf: [0.0; BUF],
            next: BUF,
        }
    }

    fn refill(&mut self) {
        self.src.chunks(self.chunk, &mut self.buf);
        self.chunk = self.chunk.wrapping_add(BUF_CHUNKS as u64);
        self.next = 0;
    }

    /// The next normal of the block.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f64 {
        if self.next == BUF {
            self.refill();
        }
        let z = self.buf[self.next];
        self.next += 1;
        z
    }

    /// The next `out.len()` normals of the block, in order.
    pub fn fill(&mut self, out: &mut [f64]) {
        let have = (BUF - self.next).min(out.len());
        out[..have].copy_from_slice(&self.buf[self.next..self.next + have]);
        self.next += have;
        let rest = &mut out[have..];
        if rest.is_empty() {
            return;
        }
        // the buffer is empty here: whole chunks straight into `out`, the tail through the buffer
        let whole = rest.len() / CHUNK * CHUNK;
        let (body, tail) = rest.split_at_mut(whole);
        self.src.chunks(self.chunk, body);
        self.chunk = self.chunk.wrapping_add((whole / CHUNK) as u64);
        if !tail.is_empty() {
            self.refill();
            tail.copy_from_slice(&self.buf[..tail.len()]);
            self.next = tail.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_fill_read_one_sequence() {
        let mut a = BlockNormals::new(3, DOMAIN_INCREMENTS, 11);
        let want: Vec<f64> = (0..500).map(|_| a.next()).collect();
        for sizes in [&[1usize, 15, 16, 17, 64, 3, 100, 284][..], &[500], &[7; 72]] {
            let mut b = BlockNormals::new(3, DOMAIN_INCREMENTS, 11);
            let mut got = Vec::new();
            for &n in sizes {
                let mut o = vec![0.0; n];
                b.fill(&mut o);
                got.extend(o);
                if got.len() % 3 == 0 {
                    got.push(b.next());
                }
            }
            got.truncate(500);
            assert_eq!(got, want[..got.len()]);
        }
    }

    #[test]
    fn normal_n_is_the_reference_pair() {
        let (seed, block) = (99, 4);
        let key = philox_key(seed, DOMAIN_INITIAL);
        let philox = |t| Generator::Philox(t);
        let mut bm = BlockNormals::with(
            seed,
            DOMAIN_INITIAL,
            block,
            philox(Transform::BoxMuller),
            Path::Scalar,
        );
        let mut zig = BlockNormals::with(
            seed,
            DOMAIN_INITIAL,
            block,
            philox(Transform::Ziggurat),
            Path::detect(),
        );
        let rk = aes_key(seed, DOMAIN_INITIAL);
        let mut aes = [Path::Scalar, Path::detect()]
            .map(|p| BlockNormals::with(seed, DOMAIN_INITIAL, block, Generator::AesZiggurat, p));
        let mut abm = [Path::Scalar, Path::detect()]
            .map(|p| BlockNormals::with(seed, DOMAIN_INITIAL, block, Generator::AesBoxMuller, p));
        let mut rejected = 0;
        for n in 0..(500 * CHUNK) {
            let (c, j) = (n / CHUNK, n % CHUNK);
            let pair = (c * normal::LANES + j % normal::LANES) as u64;
            let (z0, z1) = normal::aes_box_muller_pair(&rk, block, pair);
            let want = if j < normal::LANES { z0 } else { z1 };
            for g in &mut abm {
                assert_eq!(g.next().to_bits(), want.to_bits());
            }
            let want = ziggurat::aes_normal(&rk, block, n as u64);
            let w = aes::word_pair(&rk, block, n as u64 / 2)[n % 2];
            rejected += usize::from(ziggurat::Z1024.fast(w).is_nan());
            for g in &mut aes {
                assert_eq!(g.next().to_bits(), want.to_bits());
            }
        }
        // the AES ziggurat's slow path was exercised (0.43 % of 8000 normals)
        assert!(rejected > 10, "{rejected}");
        for n in 0..(40 * CHUNK) {
            let (c, j) = (n / CHUNK, n % CHUNK);
            let lane = (c * normal::LANES + j % normal::LANES) as u64;
            let (z0, z1) = normal::box_muller_pair(key, block, lane);
            let want = if j < normal::LANES { z0 } else { z1 };
            assert_eq!(bm.next().to_bits(), want.to_bits());
            let want = normal::ziggurat_normal(key, block, c as u64, j);
            assert_eq!(zig.next().to_bits(), want.to_bits());
        }
    }

    #[test]
    fn aes_fill_equals_the_reference_on_every_path_and_across_batches() {
        let rk = aes_key(5, DOMAIN_INCREMENTS);
        for n0 in [0u64, 1000, (1 << 40) - 301] {
            let n0 = n0 & !1;
            let want: Vec<u64> = (0..600u64)
                .map(|k| ziggurat::aes_normal(&rk, 7, n0.wrapping_add(k)).to_bits())
                .collect();
            for aes in [AesPath::Soft, AesPath::AesNi, AesPath::Vaes] {
                for avx2 in [false, Path::Avx2.available()] {
                    if !aes.available() {
                        continue;
                    }
                    // lengths within a batch, across batches, and with a remainder of the quads
                    for len in [2usize, 18, 256, 600] {
                        let mut got = vec![0.0; len];
                        ziggurat::fill_aes(&rk, 7, n0, aes, avx2, &mut got);
                        let got: Vec<u64> = got.iter().map(|z| z.to_bits()).collect();
                        assert_eq!(got, want[..len], "{aes:?} avx2 {avx2} from {n0} len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn keys_differ_by_seed_domain_and_blocks_differ() {
        assert_ne!(
            philox_key(1, DOMAIN_INCREMENTS),
            philox_key(1, DOMAIN_INITIAL)
        );
        assert_ne!(
            philox_key(1, DOMAIN_INCREMENTS),
            philox_key(2, DOMAIN_INCREMENTS)
        );
        let a = BlockNormals::new(1, DOMAIN_INCREMENTS, 0).next();
        let b = BlockNormals::new(1, DOMAIN_INCREMENTS, 1).next();
        assert_ne!(a, b);
    }
}
