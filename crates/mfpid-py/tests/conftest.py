"""Shared helpers of the mfpid test suite.

The identity checks against the Rust API and the `mfpid` program need a checkout with cargo; they
are skipped when cargo or the repository is not there (set MFPID_REQUIRE_RUST=1 to make that a
failure instead, as ci.sh does).
"""

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


def cargo(*args: str, timeout: float = 1800) -> str:
    """Run `cargo ARGS` at the repository root and return stdout."""
    _need_rust()
    r = subprocess.run(
        ["cargo", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if r.returncode != 0:
        raise AssertionError(f"cargo {' '.join(args)} failed:\n{r.stderr[-4000:]}")
    return r.stdout


def rust_fleet(agents: int, steps: int, seed: int, threads: int = 0) -> dict:
    """The guide's fleet compared by the Rust API (examples/fleet_rust.rs)."""
    out = cargo(
        "run", "-q", "-p", "mfpid-py", "--example", "fleet_rust", "--",
        str(agents), str(steps), str(seed), str(threads),
    )
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
