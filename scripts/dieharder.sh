#!/usr/bin/env bash
# Run Debian's dieharder battery (`dieharder -a`) on the uniform stream of the mfpid-sde
# generator (the Philox4x32-10 block stream, or with a third argument `aes` the AES-128 counter
# stream; raw words on stdin: `-g 200`).
# Not part of CI: it takes 30-60 minutes. Needs `apt-get install dieharder`.
# Usage: scripts/dieharder.sh [SEED] [BLOCK] [philox|aes] > crates/mfpid-sde/dieharder.txt
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dieharder >/dev/null || { echo "dieharder not found (apt-get install dieharder)" >&2; exit 1; }
cargo build --release -p mfpid-sde --example uniform_stream
bin=target/release/examples/uniform_stream
echo "# generator: mfpid-sde ${3:-philox} block stream, seed ${1:-42}, block ${2:-0}"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -m) dieharder $(dieharder -h 2>/dev/null | head -n 1 | tr -s ' ' || true)"
"$bin" "${1:-42}" "${2:-0}" "${3:-philox}" | dieharder -a -g 200
