//! Reproducible random streams: one counter-based stream per fixed block of particles.
//!
//! Particles are grouped in blocks of [`RNG_BLOCK`] consecutive global indices. Block `k` owns
//! stream `k` under a key derived from `(seed, domain)`. Compute chunks are whole numbers of
//! blocks, so the numbers a particle receives depend only on `(seed, domain, particle index,
//! step)`, never on the thread count, the chunk size or the rank's particle offset.
//!
//! - [`BlockNormals`]: standard normals of a block, Philox4x32-10 ([`philox`]) counters through
//!   the vectorised Box-Muller transform ([`normal`]); normal `n` of block `k` is a function of
//!   `(key, k, n)` alone, identical bit for bit on every instruction set.
//! - [`PhiloxStream`]: the same counters as uniform words (`RngCore`), for generic sampling; the
//!   generator [`crate::Ensemble::sample`] hands its closure ([`SampleRng`]).
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
//! Initial states ([`crate::Ensemble::sample`]): block `k` owns the [`PhiloxStream`] of
//! `(philox_key(seed, DOMAIN_INITIAL), k)` and calls the sampling closure for its particles in
//! order.

pub mod aes;
pub mod normal;
pub mod philox;
mod ziggurat;
mod ziggurat_tables;

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
    (0..n.div_ceil(RNG_BLOCK))
        .map(|k| BlockNormals::new(seed, domain, (first + k) as u64))
        .collect()
}

/// The uniform generator [`crate::Ensemble::sample`] hands its closure (any `rand::Rng` use works).
pub type SampleRng = PhiloxStream;

/// The uniform streams of all blocks covering global particles `offset .. offset + n` under
/// `(seed, domain)` (offset a multiple of [`RNG_BLOCK`]).
pub(crate) fn block_uniforms(seed: u64, domain: u64, offset: usize, n: usize) -> Vec<SampleRng> {
    let key = philox_key(seed, domain);
    let first = offset / RNG_BLOCK;
    (0..n.div_ceil(RNG_BLOCK))
        .map(|k| PhiloxStream::new(key, (first + k) as u64))
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

/// The transform the runner uses (chosen by measurement, README "Generator").
pub const DEFAULT_TRANSFORM: Transform = Transform::BoxMuller;

/// Chunks buffered per block (256 normals, 2 KiB): refills are rare enough that `next` costs
/// little more than `fill`.
const BUF_CHUNKS: usize = 256usize.div_ceil(CHUNK);
const BUF: usize = BUF_CHUNKS * CHUNK;

/// Standard normals of one particle block: `z_n` for `n = 0, 1, ...` is the Box-Muller normal of
/// Philox counter `n / 2` (layout in [`normal`]) of block `block` under the key of
/// `(seed, domain)`. [`next`](Self::next) and [`fill`](Self::fill) consume the same sequence.
#[derive(Debug, Clone)]
pub struct BlockNormals {
    key: [u32; 2],
    block: u64,
    transform: Transform,
    path: Path,
    /// next chunk to generate
    chunk: u64,
    buf: [f64; BUF],
    /// next unread entry of `buf` (`BUF`: empty)
    next: usize,
}

impl BlockNormals {
    /// Block `block` under `(seed, domain)` by the [`DEFAULT_TRANSFORM`], on the widest
    /// instruction set of this CPU.
    pub fn new(seed: u64, domain: u64, block: u64) -> Self {
        Self::with(seed, domain, block, DEFAULT_TRANSFORM, Path::detect())
    }

    /// As [`new`](Self::new) with a given transform and [`Path`] (the bits depend on the
    /// transform, not on the path).
    pub fn with(seed: u64, domain: u64, block: u64, transform: Transform, path: Path) -> Self {
        Self {
            key: philox_key(seed, domain),
            block,
            transform,
            path,
            chunk: 0,
            buf: [0.0; BUF],
            next: BUF,
        }
    }

    fn refill(&mut self) {
        self.path.fill_chunks(
            self.transform,
            self.key,
            self.block,
            self.chunk,
            &mut self.buf,
        );
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
        self.path
            .fill_chunks(self.transform, self.key, self.block, self.chunk, body);
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
        let mut bm = BlockNormals::with(
            seed,
            DOMAIN_INITIAL,
            block,
            Transform::BoxMuller,
            Path::Scalar,
        );
        let mut zig = BlockNormals::with(
            seed,
            DOMAIN_INITIAL,
            block,
            Transform::Ziggurat,
            Path::detect(),
        );
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
