"""Behaviour around runs: GIL released, Ctrl-C -> KeyboardInterrupt within a second, docs."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mfpid
from conftest import guide_fleet


def test_gil_released_during_run():
    fleet = guide_fleet()
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    try:
        t0 = time.perf_counter()
        mfpid.compare(fleet, ["MF"], agents=2000, steps=400)
        dt = time.perf_counter() - t0
    finally:
        done.set()
        t.join()
    # the counting thread ran during the Rust run (about one tick per ms)
    assert len(ticks) > 0.2 * dt * 1000


@pytest.fixture
def sigint_handled():
    """Python's own SIGINT handler for the test. A process started in the background by a
    non-interactive shell (`nohup ... &`) inherits SIGINT ignored; Python then leaves it ignored,
    and neither Ctrl-C nor `_thread.interrupt_main` reaches it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sigint_default():
    # in the child, before Python starts: SIGINT not ignored, so Python installs its handler
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_keyboard_interrupt_in_process(sigint_handled):
    import _thread

    fleet = guide_fleet()
    timer = threading.Timer(0.5, _thread.interrupt_main)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        mfpid.compare(fleet, agents=200_000, steps=2500)
    assert time.perf_counter() - t0 < 0.5 + 1.0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_subprocess():
    code = textwrap.dedent(
        """
        import sys, mfpid
        g = mfpid.GaussianMixture([0.6, 0.4], [[1.6, 1.6], [5.5, 5.5]], std=[0.5, 0.7])
        h = mfpid.GaussianMixture([0.6, 0.4], [[0.1, 0.1], [1.5, 1.5]], std=[0.2, 0.3])
        print("ready", flush=True)
        try:
            mfpid.compare(mfpid.Fleet(g, h), agents=200000, steps=2500)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        """
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=30)
    elapsed = time.perf_counter() - t0
    assert rc == 3 and "interrupted" in p.stdout.read()
    assert elapsed < 1.0, elapsed


def test_public_api_documented():
    for name in mfpid.__all__:
        obj = getattr(mfpid, name)
        if callable(obj) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_stubs_shipped():
    here = os.path.dirname(mfpid.__file__)
    assert os.path.exists(os.path.join(here, "_mfpid.pyi"))
    assert os.path.exists(os.path.join(here, "py.typed"))
