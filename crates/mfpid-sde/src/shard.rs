//! Sharding one global ensemble over ranks: rank `r` owns a contiguous range of whole RNG blocks.
//!
//! Because a rank's particles are whole blocks of [`RNG_BLOCK`] at their global indices, every
//! random stream (initial states, increments) and every block partial of a reduction is the same
//! as in the single-process run; with [`crate::reduce::reproducible_sum`] the results are
//! bit-identical for any number of ranks.

use crate::error::SdeError;
use crate::rng::RNG_BLOCK;

/// The particles `offset .. offset + count` of a global population of `total` owned by one rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Global index of the rank's first particle (a multiple of [`RNG_BLOCK`]).
    pub offset: usize,
    /// Number of particles on the rank (`>= 1`).
    pub count: usize,
    /// Global population size.
    pub total: usize,
}

impl Shard {
    /// The rank's rows of a global row-major `total x d` buffer.
    pub fn rows<'a, T>(&self, global: &'a [T], d: usize) -> &'a [T] {
        &global[self.offset * d..(self.offset + self.count) * d]
    }
}

/// The shard of `rank` among `size` ranks: the `K = ceil(total / 64)` blocks are split into
/// contiguous runs of `floor(K / size)` or one more (the first `K mod size` ranks get one more).
///
/// ```
/// use mfpid_sde::shard::shard;
/// let parts: Vec<_> = (0..3).map(|r| shard(1000, 3, r).unwrap()).collect();
/// assert_eq!(parts.iter().map(|s| s.count).sum::<usize>(), 1000);
/// assert_eq!((parts[1].offset, parts[2].offset), (384, 704));
/// ```
pub fn shard(total: usize, size: usize, rank: usize) -> Result<Shard, SdeError> {
    if total == 0 {
        return Err(SdeError::Empty { field: "particles" });
    }
    if size == 0 || rank >= size {
        return Err(SdeError::Invalid {
            field: "rank",
            value: format!("{rank} of {size}"),
            reason: "needs 0 <= rank < size",
        });
    }
    let blocks = total.div_ceil(RNG_BLOCK);
    if blocks < size {
        return Err(SdeError::Invalid {
            field: "ranks",
            value: size.to_string(),
            reason: "more ranks than blocks of 64 particles: every rank needs at least one block",
        });
    }
    let (q, rem) = (blocks / size, blocks % size);
    let first_block = rank * q + rank.min(rem);
    let n_blocks = q + usize::from(rank < rem);
    let offset = first_block * RNG_BLOCK;
    let end = ((first_block + n_blocks) * RNG_BLOCK).min(total);
    Ok(Shard {
        offset,
        count: end - offset,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_population_in_whole_blocks() {
        for total in [1usize, 63, 64, 65, 1000, 4096, 100_001] {
            for size in 1..=5 {
                if total.div_ceil(RNG_BLOCK) < size {
                    assert!(shard(total, size, 0).is_err());
                    continue;
                }
                let mut next = 0;
                for r in 0..size {
                    let s = shard(total, size, r).unwrap();
                    assert_eq!(s.offset, next);
                    assert!(s.offset.is_multiple_of(RNG_BLOCK) && s.count >= 1);
                    next += s.count;
                }
                assert_eq!(next, total);
            }
        }
        assert!(shard(0, 1, 0).is_err());
        assert!(shard(100, 2, 2).is_err());
    }
}
