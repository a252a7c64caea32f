//! Raw 32-bit words of a block stream on stdout, for `dieharder -g 200` (`scripts/dieharder.sh`).
//! Usage: `uniform_stream [SEED] [BLOCK] [philox|aes]` (defaults 42, 0, philox): the words of block
//! `BLOCK` under the increments key of `SEED`, in counter order, until stdout closes. `philox`:
//! Philox4x32-10's 32-bit words; `aes`: the AES-128 counter stream's 64-bit words, low half first.
use mfpid_sde::rng::{aes_key, philox_key, AesStream, PhiloxStream, DOMAIN_INCREMENTS};
use rand_core::RngCore;
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let block: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut rng: Box<dyn RngCore> = match args.next().as_deref() {
        None | Some("philox") => Box::new(PhiloxStream::new(
            philox_key(seed, DOMAIN_INCREMENTS),
            block,
        )),
        Some("aes") => Box::new(AesStream::new(aes_key(seed, DOMAIN_INCREMENTS), block)),
        Some(other) => {
            eprintln!("uniform_stream: unknown generator {other:?} (philox or aes)");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        for w in buf.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        if out.write_all(&buf).is_err() {
            return; // dieharder closed the pipe
        }
    }
}
