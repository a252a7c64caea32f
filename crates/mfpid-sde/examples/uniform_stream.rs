//! Raw 32-bit words of the Philox4x32-10 block stream on stdout, for `dieharder -g 200`
//! (`scripts/dieharder.sh`). Usage: `uniform_stream [SEED] [BLOCK]` (defaults 42 and 0): the words
//! of block `BLOCK` under the increments key of `SEED`, in counter order, until stdout closes.
use mfpid_sde::rng::{philox_key, PhiloxStream, DOMAIN_INCREMENTS};
use rand_core::RngCore;
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let block: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut rng = PhiloxStream::new(philox_key(seed, DOMAIN_INCREMENTS), block);
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        for w in buf.chunks_exact_mut(4) {
            w.copy_from_slice(&rng.next_u32().to_le_bytes());
        }
        if out.write_all(&buf).is_err() {
            return; // dieharder closed the pipe
        }
    }
}
