import numpy as np
import pytest

import mfpid


def test_sample_bridge_shapes_and_energy(mixture2d):
    p = mfpid.Protocol.geometric(2)
    s = mfpid.sample_bridge(p, mixture2d, 512, steps=200, snapshots=[0.0, 0.5, 1.0], seed=3)
    assert s.samples.shape == (512, 2)
    assert s.times.shape == s.power.shape == (200,)
    assert s.energy > 0 and s.energy_stderr > 0
    np.testing.assert_allclose(s.energy, np.sum(np.diff(np.append(s.times, 1.0)) * s.power), rtol=1e-12)
    assert s.snapshots.shape == (3, 512, 2)
    np.testing.assert_array_equal(s.snapshots[0], np.zeros((512, 2)))  # start at the origin
    np.testing.assert_array_equal(s.snapshots[2], s.samples)
    # the terminal law is the target: mean close to the mixture mean
    assert np.all(np.abs(s.samples.mean(axis=0) - mixture2d.mean()) < 0.15)


def test_same_seed_same_samples_any_threads(mixture2d):
    p = mfpid.Protocol.geometric(2)
    a = mfpid.sample_bridge(p, mixture2d, 700, steps=64, seed=11, threads=1)
    b = mfpid.sample_bridge(p, mixture2d, 700, steps=64, seed=11, threads=2)
    c = mfpid.sample_bridge(p, mixture2d, 700, steps=64, seed=11)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.samples, c.samples)
    assert a.energy == b.energy == c.energy
    d = mfpid.sample_bridge(p, mixture2d, 700, steps=64, seed=12)
    assert not np.array_equal(a.samples, d.samples)


def test_empirical_target_and_starts():
    pts = np.array([[-2.0], [2.0]])
    p = mfpid.Protocol.pid(1)
    s = mfpid.sample_bridge(p, mfpid.Empirical(pts), 400, steps=400, start=[[0.0], [1.0]], seed=0)
    assert s.samples.shape == (400, 1)
    # a bridge to two points ends (up to the eps cut-off) near one of them
    assert np.all(np.min(np.abs(s.samples - pts.T), axis=1) < 0.3)


def test_progress_callable(mixture2d):
    seen = []
    mfpid.sample_bridge(mfpid.Protocol.geometric(2), mixture2d, 256, steps=50, progress=seen.append)
    assert seen and seen[-1] == 1.0


def test_progress_text_bar(mixture2d, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    mfpid.sample_bridge(mfpid.Protocol.geometric(2), mixture2d, 128, steps=20, progress=True)
    assert "100%" in capsys.readouterr().err
