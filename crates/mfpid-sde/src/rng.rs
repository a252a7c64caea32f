//! Reproducible random streams: one counter-based ChaCha8 stream per fixed block of particles.
//!
//! Particles are grouped in blocks of [`RNG_BLOCK`] consecutive global indices. Block `k` owns the
//! ChaCha8 stream number `k` under a key derived from `(seed, domain)`; within a step the block draws
//! its particles' normals in particle order. Compute chunks are whole numbers of blocks, so the
//! numbers a particle receives depend only on `(seed, domain, particle index, step)`, never on the
//! thread count or the chunk size.

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

/// The streams of all blocks covering global particles `offset .. offset + n` (offset must be a
/// multiple of [`RNG_BLOCK`]).
pub(crate) fn block_streams(seed: u64, domain: u64, offset: usize, n: usize) -> Vec<ChaCha8Rng> {
    let first = offset / RNG_BLOCK;
    let blocks = n.div_ceil(RNG_BLOCK);
    (0..blocks)
        .map(|k| stream(seed, domain, (first + k) as u64))
        .collect()
}
