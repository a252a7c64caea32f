//! The IDX reader (MNIST container): any byte string is an array or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfpid_compose::idx::parse_idx;

fuzz_target!(|data: &[u8]| {
    match parse_idx(data) {
        Ok(a) => {
            // the payload is exactly the product of the header's dimensions
            assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
            assert_eq!(4 + 4 * a.dims.len() + a.data.len(), data.len());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
