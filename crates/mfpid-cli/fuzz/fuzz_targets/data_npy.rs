//! The NPY point reader of `mfpid sample` (`target.file`, `start.file`): any byte string is a
//! consistent `n x d` array of finite values or an error naming the file; never a panic.
#![no_main]

#[path = "data_common.rs"]
mod data_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| data_common::check("npy", data));
