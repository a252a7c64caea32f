#!/usr/bin/env bash
# Weak and strong scaling of `mpirun -np N mfpid fleet` (issue 15), one rank per core and one
# thread per rank. Prints a Markdown table: wall time of the simulation (rank 0's `simulate` lap
# in run.json), the seconds rank 0 spent inside collectives (waits for the other ranks included)
# and their share, bytes rank 0 sent per time step (the per-step reductions, plus the once-per-run
# metric sums spread over the steps: O(K d) numbers per run, nothing O(agents) is gathered), the
# CPU seconds of the slowest rank
# (/usr/bin/time; the whole process) and the throughput in agent-steps per second of wall time per
# rank and per CPU second (the second is what a dedicated core delivers on a loaded machine).
#
#   scripts/mpi-scaling.sh                      # d = 2 and d = 32, np = 1 2
#   DIMS="32" PER_RANK=20000 STEPS=500 NP_LIST="1 2 4" scripts/mpi-scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DIMS=${DIMS:-"2 32"}
NP_LIST=${NP_LIST:-"1 2"}
PER_RANK=${PER_RANK:-20000} # weak scaling: agents per rank; strong scaling: PER_RANK x max(np) in all
STEPS=${STEPS:-500}
exe=target/release/mfpid
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build -q --release -p mfpid-cli --features mpi
max_np=$(echo "$NP_LIST" | tr ' ' '\n' | sort -n | tail -1)

# config D AGENTS: the two-sub-population fleet of examples/fleet-two-component.toml in D zones,
# methods MF and IA0
config() {
    python3 - "$1" "$2" "$STEPS" <<'PY'
import sys
d, agents, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
row = lambda v: "[" + ", ".join([str(v)] * d) + "]"
print(f"""name = "scaling d = {d}"
[run]
agents = {agents}
steps = {steps}
seed = 0
[protocol]
beta0 = 12.0
gamma = 0.65
pieces = 8
[fleet.p_in]
weights = [0.6, 0.4]
means = [{row(1.6)}, {row(5.5)}]
std = [0.5, 0.7]
[fleet.p_tar]
weights = [0.6, 0.4]
means = [{row(0.1)}, {row(1.5)}]
std = [0.2, 0.3]
[methods]
compare = ["MF", "IA0"]
baseline = "IA0"
""")
PY
}

echo "| scaling | d | ranks | agents | steps x methods | wall (s) | in collectives (s) | comm share | bytes/step/rank | CPU s/rank | agent-steps/s/rank (wall) | agent-steps per CPU s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for d in $DIMS; do
    for kind in weak strong; do
        for np in $NP_LIST; do
            if [ $kind = weak ]; then agents=$((PER_RANK * np)); else agents=$((PER_RANK * max_np)); fi
            config "$d" "$agents" >"$tmp/fleet.toml"
            rm -f "$tmp"/cpu.*
            # each rank's CPU seconds (user + system) from /usr/bin/time
            mpirun --allow-run-as-root --oversubscribe --bind-to core -np "$np" \
                -x RAYON_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none \
                sh -c '/usr/bin/time -f "%U %S" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$tmp/cpu" \
                "$exe" fleet "$tmp/fleet.toml" --quiet --force --out "$tmp/out"
            python3 - "$tmp" "$kind" "$d" "$np" "$agents" "$STEPS" <<'PY'
import glob, json, sys
tmp = sys.argv[1]
r = json.load(open(f"{tmp}/out/run.json"))
kind, d, np_, agents, steps = sys.argv[2], *map(int, sys.argv[3:])
wall = r["timings"]["simulate_s"]
ranks = r["ranks"]
assert ranks["size"] == np_, ranks
methods = 2
comm = ranks["rank0_comm_s"]
# every byte rank 0 sent (per-step reductions, the once-per-run metric sums, the agreement of
# errors), per step of each method
per_step = ranks["rank0_bytes_sent"] / (steps * methods)
cpu = [sum(map(float, open(f).read().split()[-2:])) for f in glob.glob(f"{tmp}/cpu.*")]
assert len(cpu) == np_, cpu
work = agents * steps * methods
print(f"| {kind} | {d} | {np_} | {agents} | {steps} x {methods} | {wall:.2f} | {comm:.3f} | {100 * comm / wall:.1f} % | {per_step:.0f} | {max(cpu):.2f} | {work / np_ / wall:.3g} | {work / sum(cpu):.3g} |")
PY
        done
    done
done
