//! `mfpid fleet` configs: parse, check and plan (no run) of any TOML text; never a panic.
#![no_main]

#[path = "config_common.rs"]
mod config_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config_common::check("fleet", data));
