import numpy as np
import pytest

import mfpid


def test_mixture_attributes(mixture2d):
    g = mixture2d
    assert (g.d, g.components) == (2, 2)
    np.testing.assert_allclose(g.weights, [0.6, 0.4])
    assert g.means.shape == (2, 2) and g.means.dtype == np.float64
    np.testing.assert_allclose(g.covariances[1], 0.25 * np.eye(2))
    np.testing.assert_allclose(g.mean(), 0.6 * np.array([-1.0, 0.0]) + 0.4 * np.array([1.5, 1.0]))
    assert g.covariance().shape == (2, 2)


def test_mixture_log_pdf_matches_numpy():
    cov = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.2, 0.0], [0.0, 0.4]]])
    means = np.array([[0.0, 1.0], [2.0, -1.0]])
    g = mfpid.GaussianMixture([1.0, 3.0], means, cov=cov)
    x = np.array([[0.1, 0.2], [1.9, -0.8], [5.0, 5.0]])
    w = np.array([0.25, 0.75])
    ref = np.zeros(len(x))
    for k in range(2):
        diff = x - means[k]
        inv = np.linalg.inv(cov[k])
        q = np.einsum("ni,ij,nj->n", diff, inv, diff)
        ref += w[k] * np.exp(-0.5 * q) / (2 * np.pi * np.sqrt(np.linalg.det(cov[k])))
    np.testing.assert_allclose(g.log_pdf(x), np.log(ref), rtol=1e-12)


@pytest.mark.parametrize("kw", [{"std": [0.5, 1.0]}, {"variance": [0.25, 1.0]}, {"diag": [[0.25, 0.25], [1.0, 1.0]]}])
def test_mixture_spreads_agree(kw):
    g = mfpid.GaussianMixture([1, 1], [[0.0, 0.0], [1.0, 1.0]], **kw)
    np.testing.assert_allclose(g.covariances[0], 0.25 * np.eye(2))


def test_lists_are_accepted():
    g = mfpid.GaussianMixture([1.0], [[0.0]], std=[1.0])
    assert g.d == 1


def test_empirical():
    pts = np.random.default_rng(0).normal(size=(50, 3))
    e = mfpid.Empirical(pts)
    assert (len(e), e.d) == (50, 3)
    np.testing.assert_array_equal(e.points, pts)
    assert e.weights is None
    w = mfpid.Empirical(pts, weights=np.arange(1.0, 51.0))
    assert w.weights.shape == (50,)


def test_protocol():
    p = mfpid.Protocol.geometric(2, 12.0, 0.65, 8)
    assert (p.d, p.pieces) == (2, 8)
    np.testing.assert_allclose(p.breaks, np.linspace(0, 1, 9))
    np.testing.assert_allclose(p.betas, 12.0 * 0.65 ** np.arange(8))
    q = p.with_centres([1.0, 2.0])
    np.testing.assert_array_equal(q.centres, np.tile([1.0, 2.0], (8, 1)))
    np.testing.assert_array_equal(p.centres, np.zeros((8, 2)))  # frozen: p unchanged
    r = mfpid.Protocol.piecewise(1, [0.0, 0.5, 1.0], [1.0, 2.0])
    assert r.pieces == 2
    assert mfpid.Protocol.pid(3).betas.tolist() == [0.0]
    assert mfpid.Protocol.constant(1, 4.0).betas.tolist() == [4.0]


def test_results_are_frozen(mixture2d):
    p = mfpid.Protocol.geometric(2)
    s = mfpid.sample_bridge(p, mixture2d, 64, steps=40)
    with pytest.raises(Exception):
        s.energy = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.samples[0, 0] = 1.0  # read-only array
    d = s.to_dict()
    assert set(d) >= {"samples", "energy", "power", "snapshots"}
