#!/usr/bin/env bash
# Coverage-guided fuzzing of the inputs mfpid reads, with libFuzzer (libfuzzer-sys) on the stable
# toolchain: the targets are built by plain `cargo build` with LLVM's SanitizerCoverage passes
# (stable -C flags; no cargo-fuzz, no nightly, no -Zsanitizer).
#
#   fuzz.sh build                  build every target (target/<triple>/release/<name>)
#   fuzz.sh smoke [MUTATIONS]      each target: the first 64 inputs of its committed corpus, then MUTATIONS
#                                  (default 200) inputs mutated with a fixed seed (deterministic); fails on a crash
#   fuzz.sh run TARGET SECONDS     one campaign: new inputs go to target/work/TARGET, the committed
#                                  corpus is read only; then merged (only inputs adding coverage) into corpus/TARGET
#   fuzz.sh list                   the target names
# FUZZ_NO_BUILD=1 skips the build (a campaign running beside an edit).
set -euo pipefail
cd "$(dirname "$0")"
triple=$(rustc -vV | sed -n 's/^host: //p')
bin=target/$triple/release
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mfpid-fuzz$')
# libFuzzer's coverage instrumentation; --cfg fuzzing as cargo-fuzz sets it; overflow and debug
# assertions on, as in the tests
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cdebug-assertions -Coverflow-checks"
# limits that turn a runaway allocation or a hang into a reported failure
limits=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)

# the config targets mutate with the TOML keys and values of docs/config-reference.md
dict() { case $1 in config_*) echo -dict=toml.dict ;; esac; }

build() {
    if [ -n "${FUZZ_NO_BUILD:-}" ]; then return; fi
    # --target keeps RUSTFLAGS off build scripts and proc macros (which must not be instrumented)
    # not --locked: a dependency added to the crates under test updates this lock file
    cargo build --release --bins --target "$triple"
}

case "${1:-}" in
build) build ;;
list) echo "$targets" ;;
smoke)
    mutations=${2:-200}
    # the fuzz crate is outside the workspace, so the workspace's `cargo fmt --check` skips it
    cargo fmt --check
    build
    for t in $targets; do
        # deterministic and bounded: the first 64 corpus inputs (by name) and `mutations` inputs
        # mutated from them with a fixed seed. CI must not fail on a new random find, and a config
        # input runs a probe (about 0.1 s), so the whole corpus would take minutes; campaigns
        # (`fuzz.sh run`) are where new inputs are looked for.
        work=target/work/$t-smoke
        rm -rf "$work"
        mkdir -p "$work"
        # (a glob is sorted; no pipe, whose early close would stop the script under pipefail)
        files=("corpus/$t"/*)
        cp "${files[@]:0:64}" "$work/"
        log=target/work/$t.log
        runs=$(( ${#files[@]} < 64 ? ${#files[@]} + mutations : 64 + mutations ))
        if "$bin/$t" "${limits[@]}" $(dict "$t") -seed=1 -runs="$runs" -print_final_stats=1 \
            -artifact_prefix="target/work/$t-" "$work" >"$log" 2>&1; then
            echo "fuzz smoke: $t: $(grep -h '^Done' "$log")"
        else
            tail -n 30 "$log"
            echo "fuzz smoke: $t FAILED (input saved as target/work/$t-*)"
            exit 1
        fi
    done
    ;;
run)
    t=$2 secs=$3
    build
    mkdir -p "target/work/$t" artifacts
    "$bin/$t" "${limits[@]}" $(dict "$t") -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t-" "target/work/$t" "corpus/$t"
    "$bin/$t" "${limits[@]}" -merge=1 "corpus/$t" "target/work/$t"
    ;;
*) sed -n '2,12p' "$0"; exit 2 ;;
esac
