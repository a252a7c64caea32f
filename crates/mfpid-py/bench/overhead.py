"""Overhead of the Python package against the Rust API on the guide's fleet (4000 agents, d = 2,
2500 steps, methods MF, IA0, IAm and the custom centre "half").

Run on an idle machine, from the repository root, with the package installed in release mode
(`pip install ./crates/mfpid-py`):

    python crates/mfpid-py/bench/overhead.py [--repeats 5] [--threads N]

The Rust side is `cargo run --release -p mfpid-py --example fleet_rust` (same settings, same seed,
the whole comparison timed inside the process: setup + 4 methods); the Python side times
`mfpid.compare(...)` around the call. Both report the median of the repeats; the script prints
the ratio and checks that the energies are identical. The acceptance bar is Python within 5 %.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import mfpid

REPO = Path(__file__).resolve().parents[3]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--agents", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    a = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "mfpid-py", "--example", "fleet_rust"], cwd=REPO, check=True)
    exe = REPO / "target" / "release" / "examples" / "fleet_rust"
    out = subprocess.run(
        [str(exe), str(a.agents), str(a.steps), "0", str(a.threads), str(a.repeats)],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    rust = json.loads(out)

    p_in = mfpid.GaussianMixture([0.6, 0.4], [[1.6, 1.6], [5.5, 5.5]], std=[0.5, 0.7])
    p_tar = mfpid.GaussianMixture([0.6, 0.4], [[0.1, 0.1], [1.5, 1.5]], std=[0.2, 0.3])
    fleet = mfpid.Fleet(p_in, p_tar)
    methods = ["MF", "IA0", "IAm", mfpid.Method("half", [1.91, 1.91])]
    threads = a.threads or None
    walls = []
    cmp = None
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        cmp = mfpid.compare(fleet, methods, agents=a.agents, steps=a.steps, seed=0, threads=threads)
        walls.append(time.perf_counter() - t0)

    same = all(r["energy"] == p.energy for r, p in zip(rust["runs"], cmp.runs))
    t_rust, t_py = statistics.median(rust["wall_s"]), statistics.median(walls)
    ratio = t_py / t_rust
    print(f"settings: {a.agents} agents, d = 2, {a.steps} steps, 4 methods, threads = {a.threads or 'all'}, {a.repeats} repeats")
    print(f"rust   median {t_rust:.3f} s  (all: {', '.join(f'{w:.3f}' for w in rust['wall_s'])})")
    print(f"python median {t_py:.3f} s  (all: {', '.join(f'{w:.3f}' for w in walls)})")
    print(f"python / rust = {ratio:.4f}  ({100 * (ratio - 1):+.2f} %)   energies identical: {same}")
    return 0 if same and ratio <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
