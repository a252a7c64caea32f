"""Shared helpers of the mfpid test suite.

The identity checks against the Rust API and the `mfpid` program need a checkout with cargo; they
are skipped when cargo or the repository is not there (set MFPID_REQUIRE_RUST=1 to make that a
failure instead, as ci.sh does).
"""

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mfpid

REPO = Path(__file__).resolve().parents[3]
GUIDE_FLEET = REPO / "examples" / "fleet-two-component.toml"


def _need_rust() -> None:
    ok = shutil.which("cargo") is not None and (REPO / "Cargo.toml").exists() and GUIDE_FLEET.exists()
    if not ok:
        if os.environ.get("MFPID_REQUIRE_RUST") == "1":
            pytest.fail("cargo or the repository checkout is missing (MFPID_REQUIRE_RUST=1)")
        pytest.skip("needs cargo and the repository checkout")


def _run(argv: list, timeout: float) -> str:
    r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed:\n{r.stderr[-4000:]}")
    return r.stdout


@functools.lru_cache(maxsize=None)
def _debug_dir() -> Path:
    """The workspace's `target/debug`, brought up to date by `cargo test --workspace --no-run`.

    That is the build of the README's test command (a no-op after it, as in CI), which also builds
    every example and program. `cargo run -p PACKAGE` would resolve the features of that package's
    dependencies alone, which differ from the workspace's, and rebuild them (about 4 minutes).
    """
    _need_rust()
    _run(["cargo", "test", "--workspace", "--no-run", "-q"], timeout=3600)
    meta = json.loads(_run(["cargo", "metadata", "--format-version", "1", "--no-deps"], timeout=600))
    return Path(meta["target_directory"]) / "debug"


def built(name: str, *args: str, timeout: float = 1800) -> str:
    """Run the workspace program or example `name` (`mfpid`, `examples/fleet_rust`) with `args` at
    the repository root and return its stdout."""
    return _run([str(_debug_dir() / name), *args], timeout=timeout)


def rust_fleet(agents: int, steps: int, seed: int, threads: int = 0) -> dict:
    """The guide's fleet compared by the Rust API (examples/fleet_rust.rs)."""
    out = built("examples/fleet_rust", str(agents), str(steps), str(seed), str(threads))
    return json.loads(out)


def guide_fleet() -> "mfpid.Fleet":
    """The fleet of examples/fleet-two-component.toml."""
    p_in = mfpid.GaussianMixture([0.6, 0.4], [[1.6, 1.6], [5.5, 5.5]], std=[0.5, 0.7])
    p_tar = mfpid.GaussianMixture([0.6, 0.4], [[0.1, 0.1], [1.5, 1.5]], std=[0.2, 0.3])
    return mfpid.Fleet(p_in, p_tar)


GUIDE_METHODS = ["MF", "IA0", "IAm", mfpid.Method("half", [1.91, 1.91])]


@pytest.fixture
def fleet() -> "mfpid.Fleet":
    return guide_fleet()


@pytest.fixture
def mixture2d() -> "mfpid.GaussianMixture":
    return mfpid.GaussianMixture([0.6, 0.4], np.array([[-1.0, 0.0], [1.5, 1.0]]), std=[0.3, 0.5])
