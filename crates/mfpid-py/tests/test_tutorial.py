"""Executes the ```python code blocks of docs/python.md in order, in one namespace."""

import os
import re
from pathlib import Path

import pytest

from conftest import REPO

DOC = REPO / "docs" / "python.md"


def blocks():
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_tutorial_runs(tmp_path, monkeypatch):
    if not DOC.exists():
        pytest.skip("docs/python.md not in this checkout")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    code = blocks()
    assert code, "no python blocks in docs/python.md"
    ns: dict = {"__name__": "__tutorial__"}
    for i, b in enumerate(code):
        try:
            exec(compile(b, f"docs/python.md block {i + 1}", "exec"), ns)
        except Exception as e:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"docs/python.md block {i + 1} failed: {e!r}\n{b}") from e
    assert (tmp_path / "fleet-comparison.png").exists()
