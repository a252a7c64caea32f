#!/usr/bin/env bash
# Build the `mfpid` wheel in a fresh virtual environment, install it, run its pytest suite.
# Usage (from anywhere): crates/mfpid-py/ci.sh [VENV_DIR]   (default: a temporary directory)
# Needs python3 (>= 3.9) with venv, a Rust toolchain, and network access to PyPI for maturin,
# numpy, pytest and matplotlib (the tutorial's plots). The identity tests against the Rust API and
# the `mfpid` program run cargo from the repository root (MFPID_REQUIRE_RUST=1: they must run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$here" pytest matplotlib
cd "$here"
MFPID_REQUIRE_RUST=1 MPLBACKEND=Agg "$venv/bin/python" -m pytest -q tests
