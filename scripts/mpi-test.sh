#!/usr/bin/env bash
# MPI bit-identity test (issue 15): one population sharded over `mpirun -np N` ranks, N = 1 2 3,
# must give byte-identical results to the non-MPI build:
#   - mfpid-sde example sharded_ensemble: OU (exact step) and Brownian-bridge (Euler-Maruyama)
#     ensembles: means, covariances, control energies, histograms, final states, per-particle
#     energies (hex bits of every f64);
#   - mfpid-energy example sharded_fleet: the demand-response fleet of
#     examples/fleet-two-component.toml, methods MF, IA0, IAm, half (JSON, shortest round-trip
#     floats); its non-MPI run also checks itself against Experiment::run.
#
#   scripts/mpi-test.sh          # needs mpirun (Debian: openmpi-bin libopenmpi-dev) and libclang-dev
#   NP_LIST="2 3" scripts/mpi-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NP_LIST=${NP_LIST:-"1 2 3"}
ENSEMBLE_ARGS=${ENSEMBLE_ARGS:-"--agents 5000 --dim 3 --steps 60"}
FLEET_ARGS=${FLEET_ARGS:-""} # default: the settings of examples/fleet-two-component.toml (4000 agents, 2500 steps)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v mpirun >/dev/null || {
    echo "mpi-test: mpirun not found (apt-get install openmpi-bin libopenmpi-dev libclang-dev)" >&2
    exit 2
}

fail=0
# compare PACKAGE EXAMPLE ARGS: the plain build is the reference; both builds write the same
# binary path, so each runs right after it is built
compare() {
    local pkg=$1 ex=$2 args=$3 exe=target/debug/examples/$2
    cargo build -q -p "$pkg" --example "$ex"
    # shellcheck disable=SC2086
    "$exe" $args --out "$tmp/$ex.single"
    cargo build -q -p "$pkg" --features mpi --example "$ex"
    for np in $NP_LIST; do
        # shellcheck disable=SC2086
        mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$np" \
            -x RAYON_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none \
            "$exe" $args --out "$tmp/$ex.np$np"
        if cmp -s "$tmp/$ex.single" "$tmp/$ex.np$np"; then
            echo "mpi-test: $ex np = $np: identical to the non-MPI build ($(wc -c <"$tmp/$ex.single") bytes)"
        else
            echo "mpi-test: $ex np = $np: DIFFERS from the non-MPI build" >&2
            fail=1
        fi
    done
}

compare mfpid-sde sharded_ensemble "$ENSEMBLE_ARGS"
compare mfpid-energy sharded_fleet "$FLEET_ARGS"
exit $fail
