//! The `mfpid` binary: see the library crate (`src/lib.rs`).

fn main() {
    std::process::exit(mfpid_cli::main_exit_code());
}
