#!/usr/bin/env bash
# MPI bit-identity test (issue 15): one population sharded over `mpirun -np N` ranks, N = 1 2 3,
# must give byte-identical results to the non-MPI build:
#   - mfpid-sde example sharded_ensemble: OU (exact step) and Brownian-bridge (Euler-Maruyama)
#     ensembles: means, covariances, control energies, histograms, final states, per-particle
#     energies (hex bits of every f64);
#   - mfpid-energy example sharded_fleet: the demand-response fleet of
#     examples/fleet-two-component.toml, methods MF, IA0, IAm, half (JSON, shortest round-trip
#     floats, paired savings against IA0); each rank draws only its agents and nothing O(agents)
#     crosses ranks, so every rank writes its agents' energies and terminal states to OUT.rank<r>
#     and their concatenation in rank order must equal the single-process file; its non-MPI run
#     also checks itself against Experiment::run;
#   - mfpid-meanfield example sharded_meanfield: the MF fixed point (quadratic interaction,
#     Anderson and Picard: iterates, fixed point, every reported number) and a general-interaction
#     particle solve with the binned O(N) kernels (Gaussian repulsion, Anderson), rank files as
#     above (path potentials and weights);
#   - the program: `mfpid fleet` on examples/fleet-two-component.toml (MF, IA0, IAm, half; every
#     CSV / JSON table and every figure of the output directory, byte for byte, except run.json and
#     the wall-time column `wall_s`), and run.json records the ranks;
#   - the program: `mfpid sample` on examples/sample-mixture-2d.toml (a sampled start population,
#     a full-covariance mixture target, recorded paths: samples / starts / paths NPY and CSV,
#     moments, energy, checks, summary and every figure, byte for byte, except run.json), and
#     run.json records the ranks;
#   - failures: a rank-0-only failure (an existing --out) and a config error end every rank
#     non-zero with one message and no output directory (fleet and sample); the non-MPI build
#     (fleet and sample), and a subcommand other than fleet and sample, refuse to run as several
#     MPI tasks.
# Not covered: the exact O(N^2) estimator of the particle solver (refused over several ranks).
#
#   scripts/mpi-test.sh          # needs mpirun (Debian: openmpi-bin libopenmpi-dev) and libclang-dev
#   NP_LIST="2 3" scripts/mpi-test.sh
#   CLI_ARGS="" scripts/mpi-test.sh   # the fleet at full size (default: --quick, 1000 agents, 400 steps)
set -euo pipefail
cd "$(dirname "$0")/.."

NP_LIST=${NP_LIST:-"1 2 3"}
ENSEMBLE_ARGS=${ENSEMBLE_ARGS:-"--agents 5000 --dim 3 --steps 60"}
FLEET_ARGS=${FLEET_ARGS:-""} # default: the settings of examples/fleet-two-component.toml (4000 agents, 2500 steps)
MEANFIELD_ARGS=${MEANFIELD_ARGS:-"--particles 2000"}
CLI_CONFIG=${CLI_CONFIG:-examples/fleet-two-component.toml}
CLI_ARGS=${CLI_ARGS:-"--quick"}
SAMPLE_CONFIG=${SAMPLE_CONFIG:-examples/sample-mixture-2d.toml}
SAMPLE_ARGS=${SAMPLE_ARGS:-"--quick"} # 2000 particles, 400 steps
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v mpirun >/dev/null || {
    echo "mpi-test: mpirun not found (apt-get install openmpi-bin libopenmpi-dev libclang-dev)" >&2
    exit 2
}

fail=0
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none
    -x RAYON_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none)
# the programs, copied into $tmp/plain and $tmp/mpi (both builds write the same paths). Plain: as
# `cargo test --workspace` builds them (the README's test command, which builds every example and
# program; a no-op right after it, as in CI). MPI: the four packages in one build, so that every
# dependency is compiled once, with one feature set (a build per package resolved the features of
# each package's dependencies alone and compiled them again)
EXAMPLES="sharded_ensemble sharded_fleet sharded_meanfield"
build() {
    mkdir -p "$tmp/plain" "$tmp/mpi"
    cargo test -q --workspace --no-run
    for ex in $EXAMPLES; do cp target/debug/examples/$ex "$tmp/plain/"; done
    cp target/debug/mfpid "$tmp/plain/"
    # shellcheck disable=SC2046
    cargo build -q -p mfpid-sde -p mfpid-energy -p mfpid-meanfield -p mfpid-cli \
        --features "mfpid-sde/mpi mfpid-energy/mpi mfpid-meanfield/mpi mfpid-cli/mpi" \
        $(printf -- '--example %s ' $EXAMPLES) --bin mfpid
    for ex in $EXAMPLES; do cp target/debug/examples/$ex "$tmp/mpi/"; done
    cp target/debug/mfpid "$tmp/mpi/"
}

# compare EXAMPLE ARGS: the plain build is the reference
compare() {
    local ex=$1 args=$2 nps=${3:-$NP_LIST} exe=$tmp/mpi/$1
    # shellcheck disable=SC2086
    "$tmp/plain/$ex" $args --out "$tmp/$ex.single"
    for np in $nps; do
        # shellcheck disable=SC2086
        timeout 600 "${MPIRUN[@]}" -np "$np" "$exe" $args --out "$tmp/$ex.np$np" || true
        if cmp -s "$tmp/$ex.single" "$tmp/$ex.np$np"; then
            echo "mpi-test: $ex np = $np: identical to the non-MPI build ($(wc -c <"$tmp/$ex.single") bytes)"
        else
            echo "mpi-test: $ex np = $np: DIFFERS from the non-MPI build" >&2
            fail=1
        fi
        # rank-local files (lines `KEY... VALUES`, this rank's particles): each line's values
        # concatenated over the ranks in rank order must be the single-process line, bit for bit
        if [ -e "$tmp/$ex.single.rank0" ]; then
            if n=$(merged_ranks "$tmp/$ex.single.rank0" "$tmp/$ex.np$np" "$np"); then
                echo "mpi-test: $ex np = $np: rank files identical to the non-MPI build ($n)"
            else
                echo "mpi-test: $ex np = $np: rank files DIFFER from the non-MPI build: $n" >&2
                fail=1
            fi
        fi
    done
}

# merged_ranks SINGLE PREFIX NP: the lines of PREFIX.rank0 .. PREFIX.rank(NP-1), each a key (the
# words before the first hex value) and hex f64 bits, merged by key in rank order, equal SINGLE's
merged_ranks() {
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
single, prefix, np_ = sys.argv[1], sys.argv[2], int(sys.argv[3])
def parse(path):
    out = {}
    for line in open(path):
        words = line.split()
        k = next((i for i, w in enumerate(words) if re.fullmatch(r"[0-9a-f]{16}", w)), len(words))
        out.setdefault(" ".join(words[:k]), []).extend(words[k:])
    return out
want = parse(single)
got = {}
for r in range(np_):
    for k, v in parse(f"{prefix}.rank{r}").items():
        got.setdefault(k, []).extend(v)
if got != want:
    bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    sys.exit(f"keys differ: {bad}")
print(f"{sum(map(len, want.values()))} values in {len(want)} lines")
PY
}

# same_outputs A B: the two output directories hold the same files with the same bytes, except
# run.json (timings) and the wall-time column / key `wall_s` of the CSV / JSON tables
same_outputs() {
    python3 - "$1" "$2" <<'PY'
import csv, io, json, os, sys
a, b = sys.argv[1], sys.argv[2]
def files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
fa, fb = files(a), files(b)
if fa != fb:
    sys.exit(f"file lists differ: {sorted(set(fa) ^ set(fb))}")
def drop_wall(v):
    if isinstance(v, dict):
        return {k: drop_wall(x) for k, x in v.items() if k != "wall_s"}
    if isinstance(v, list):
        return [drop_wall(x) for x in v]
    return v
def content(path):
    raw = open(path, "rb").read()
    if path.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(raw.decode())))
        if rows and "wall_s" in rows[0]:
            k = rows[0].index("wall_s")
            return [r[:k] + r[k + 1:] for r in rows]
    if path.endswith(".json"):
        return json.dumps(drop_wall(json.loads(raw)), sort_keys=True)
    return raw
bad = [f for f in fa if f != "run.json" and content(os.path.join(a, f)) != content(os.path.join(b, f))]
if bad:
    sys.exit(f"differ: {bad}")
print(f"{len(fa) - 1} files")
PY
}

# refused EXE WHAT ARGS...: `mpirun -np 2 EXE ARGS` (a build of mfpid) fails on every task and writes nothing (its
# --out is the last argument)
refused() {
    local exe=$1 what=$2 rc=0
    shift 2
    "${MPIRUN[@]}" -np 2 "$exe" "$@" >"$tmp/refused.out" 2>&1 || rc=$?
    if [ $rc -ne 0 ] && grep -q "MPI tasks" "$tmp/refused.out" && [ ! -e "${*: -1}" ]; then
        echo "mpi-test: $what under mpirun -np 2: refused (exit $rc), no output"
    else
        echo "mpi-test: $what under mpirun -np 2: not refused (exit $rc):" >&2
        cat "$tmp/refused.out" >&2
        fail=1
    fi
}

# the program: one population over np ranks against the non-MPI build, then the failure paths
cli() {
    local exe=$tmp/plain/mfpid
    # shellcheck disable=SC2086
    "$exe" fleet "$CLI_CONFIG" $CLI_ARGS --quiet --out "$tmp/cli.single"
    # shellcheck disable=SC2086
    "$exe" sample "$SAMPLE_CONFIG" $SAMPLE_ARGS --quiet --out "$tmp/sample.single"
    # the non-MPI build under mpirun refuses (each task would run the whole population)
    refused "$exe" "non-MPI build" fleet "$CLI_CONFIG" --quick --quiet --out "$tmp/refused.fleet"
    refused "$exe" "non-MPI build (sample)" sample "$SAMPLE_CONFIG" --quick --quiet --out "$tmp/refused.sample"
    exe=$tmp/mpi/mfpid
    local np cmd ref cfg args size n
    for np in $NP_LIST; do
        for cmd in fleet sample; do
            if [ $cmd = fleet ]; then
                ref=cli cfg=$CLI_CONFIG args=$CLI_ARGS
            else
                ref=sample cfg=$SAMPLE_CONFIG args=$SAMPLE_ARGS
            fi
            # shellcheck disable=SC2086
            timeout 600 "${MPIRUN[@]}" -np "$np" "$exe" $cmd "$cfg" $args --quiet --out "$tmp/$ref.np$np" || true
            size=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ranks"]["size"])' "$tmp/$ref.np$np/run.json" 2>/dev/null || echo none)
            if [ "$size" != "$np" ]; then
                echo "mpi-test: mfpid $cmd np = $np: run.json records $size ranks" >&2
                fail=1
            elif n=$(same_outputs "$tmp/$ref.single" "$tmp/$ref.np$np"); then
                echo "mpi-test: mfpid $cmd np = $np: identical to the non-MPI build ($n)"
            else
                echo "mpi-test: mfpid $cmd np = $np: DIFFERS from the non-MPI build: $n" >&2
                fail=1
            fi
        done
    done
    # a subcommand that does not share its work over ranks refuses under mpirun
    refused "$exe" "lqg" lqg --quiet --out "$tmp/refused.lqg"
    # failing on rank 0 only (its --out exists), and on every rank (no such config): every rank
    # exits non-zero, one message, no output directory
    mkdir -p "$tmp/taken" && touch "$tmp/taken/keep"
    local case args
    for cmd in fleet sample; do
        [ $cmd = fleet ] && cfg=$CLI_CONFIG || cfg=$SAMPLE_CONFIG
        for case in taken missing; do
            if [ $case = taken ]; then
                args=($cmd "$cfg" --quick --quiet --out "$tmp/taken")
            else
                args=($cmd "$tmp/missing.toml" --quiet --out "$tmp/fail.$case")
            fi
            local rc=0
            "${MPIRUN[@]}" -np 2 "$exe" "${args[@]}" >"$tmp/fail.out" 2>&1 || rc=$?
            local msgs
            msgs=$(grep -c '^mfpid: error' "$tmp/fail.out" || true)
            if [ $rc -ne 0 ] && [ "$msgs" = 1 ] && [ ! -e "$tmp/fail.$case" ] &&
                [ "$(ls -A "$tmp/taken")" = keep ] && ! ls -d "$tmp"/.*mfpid-partial* >/dev/null 2>&1; then
                echo "mpi-test: mfpid $cmd failing ($case) on np = 2: exit $rc, one message, no output"
            else
                echo "mpi-test: mfpid $cmd failing ($case) on np = 2: exit $rc, $msgs messages:" >&2
                cat "$tmp/fail.out" >&2
                fail=1
            fi
        done
    done
}

build
compare sharded_ensemble "$ENSEMBLE_ARGS"
compare sharded_fleet "$FLEET_ARGS"
compare sharded_meanfield "$MEANFIELD_ARGS"
cli
exit $fail
