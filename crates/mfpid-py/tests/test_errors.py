"""Bad arguments raise the documented exception, naming the argument; nothing crashes."""

import numpy as np
import pytest

import mfpid

W, M, S = [0.6, 0.4], np.array([[0.0, 0.0], [1.0, 1.0]]), [0.5, 0.7]


def check(exc_info, cls, argument):
    e = exc_info.value
    assert isinstance(e, cls) and isinstance(e, mfpid.Error)
    assert e.argument == argument, (e.argument, str(e))
    assert str(e).startswith(argument), str(e)


def raises(cls, argument, f, *a, **k):
    with pytest.raises(cls) as ei:
        f(*a, **k)
    check(ei, cls, argument)
    return ei.value


def test_hierarchy():
    assert issubclass(mfpid.InvalidArgument, ValueError)
    for c in (mfpid.ShapeError, mfpid.DTypeError, mfpid.LayoutError, mfpid.NonFiniteError, mfpid.NotPositiveDefiniteError):
        assert issubclass(c, mfpid.InvalidArgument)
    assert issubclass(mfpid.DTypeError, TypeError)
    assert issubclass(mfpid.SolverError, mfpid.Error) and not issubclass(mfpid.SolverError, ValueError)


def test_wrong_shapes():
    raises(mfpid.ShapeError, "means", mfpid.GaussianMixture, W, [0.0, 1.0], std=S)
    raises(mfpid.ShapeError, "weights", mfpid.GaussianMixture, [1.0, 2.0, 3.0], M, std=S)
    raises(mfpid.ShapeError, "std", mfpid.GaussianMixture, W, M, std=[1.0])
    raises(mfpid.ShapeError, "diag", mfpid.GaussianMixture, W, M, diag=np.ones((2, 3)))
    raises(mfpid.ShapeError, "cov", mfpid.GaussianMixture, W, M, cov=np.ones((2, 3, 3)))
    raises(mfpid.ShapeError, "points", mfpid.Empirical, np.ones(4))
    g = mfpid.GaussianMixture(W, M, std=S)
    raises(mfpid.ShapeError, "x", g.log_pdf, np.ones((3, 3)))
    p = mfpid.Protocol.geometric(2)
    raises(mfpid.ShapeError, "centres", p.with_centres, np.ones(3))
    raises(mfpid.ShapeError, "start", mfpid.sample_bridge, p, g, 10, start=np.ones(5))


def test_nan_and_inf():
    e = raises(mfpid.NonFiniteError, "means", mfpid.GaussianMixture, W, [[0.0, np.nan], [1.0, 1.0]], std=S)
    assert "means[0, 1]" in str(e)
    raises(mfpid.NonFiniteError, "std", mfpid.GaussianMixture, W, M, std=[np.inf, 1.0])
    raises(mfpid.NonFiniteError, "points", mfpid.Empirical, [[np.nan]])
    raises(mfpid.NonFiniteError, "beta", mfpid.Protocol.constant, 1, float("nan"))


def test_negative_sizes(fleet):
    g = mfpid.GaussianMixture(W, M, std=S)
    p = mfpid.Protocol.geometric(2)
    raises(mfpid.InvalidArgument, "n", mfpid.sample_bridge, p, g, -5)
    raises(mfpid.InvalidArgument, "steps", mfpid.sample_bridge, p, g, 10, steps=0)
    raises(mfpid.InvalidArgument, "agents", mfpid.compare, fleet, agents=-1)
    raises(mfpid.InvalidArgument, "pieces", mfpid.compare, fleet, pieces=0)
    raises(mfpid.InvalidArgument, "threads", mfpid.compare, fleet, threads=0)
    raises(mfpid.InvalidArgument, "seed", mfpid.compare, fleet, seed=-3)
    raises(mfpid.InvalidArgument, "d", mfpid.Protocol.geometric, 0)
    raises(mfpid.InvalidArgument, "std", mfpid.GaussianMixture, W, M, std=[-0.5, 0.7])
    raises(mfpid.InvalidArgument, "weights", mfpid.GaussianMixture, [-0.6, 0.4], M, std=S)
    raises(mfpid.InvalidArgument, "agents", mfpid.compare, fleet, agents=2.5)


def test_non_psd_covariance():
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    raises(mfpid.NotPositiveDefiniteError, "cov", mfpid.GaussianMixture, W, M, cov=bad)
    raises(
        mfpid.NotPositiveDefiniteError, "sigma_tar", mfpid.lqg,
        np.eye(2), np.eye(2), [0.0, 0.0], np.array([[1.0, 2.0], [2.0, 1.0]]),
    )


def test_wrong_dtypes():
    raises(mfpid.DTypeError, "means", mfpid.GaussianMixture, W, M.astype(np.int64), std=S)
    raises(mfpid.DTypeError, "weights", mfpid.GaussianMixture, np.array(W, dtype=np.float32), M, std=S)
    raises(mfpid.DTypeError, "means", mfpid.GaussianMixture, W, [["a", "b"], ["c", "d"]], std=S)
    raises(mfpid.DTypeError, "target", mfpid.sample_bridge, mfpid.Protocol.pid(1), "not a law", 10)
    raises(mfpid.DTypeError, "p_in", mfpid.Fleet, "x", mfpid.GaussianMixture([1.0], [[0.0]], std=[1.0]))
    # the messages say how to convert
    e = raises(mfpid.DTypeError, "means", mfpid.GaussianMixture, W, M.astype(np.int32), std=S)
    assert "float64" in str(e)


def test_non_contiguous_arrays():
    big = np.zeros((2, 4))
    raises(mfpid.LayoutError, "means", mfpid.GaussianMixture, W, big[:, ::2], std=S)
    pts = np.random.default_rng(0).normal(size=(3, 5))
    raises(mfpid.LayoutError, "points", mfpid.Empirical, pts.T)
    # a contiguous copy is accepted
    mfpid.Empirical(np.ascontiguousarray(pts.T))


def test_method_errors(fleet):
    raises(mfpid.InvalidArgument, "methods[1]", mfpid.compare, fleet, ["MF", "XYZ"])
    raises(mfpid.InvalidArgument, "baseline", mfpid.compare, fleet, ["MF", "IAm"], baseline="IA0")
    raises(mfpid.InvalidArgument, "q", mfpid.franz_parisi, 1.0, 1.0, 0.3, [-0.5])
    raises(mfpid.InvalidArgument, "methods[1]", mfpid.compare, fleet, ["MF", "MF"])
    raises(mfpid.ShapeError, "methods[1].centres", mfpid.compare, fleet, ["IA0", mfpid.Method("c", [1.0, 2.0, 3.0])])
    raises(mfpid.DTypeError, "methods[0]", mfpid.compare, fleet, [42])
    raises(mfpid.InvalidArgument, "eps", mfpid.compare, fleet, eps=0.7)


def test_dimension_mismatch():
    a = mfpid.GaussianMixture([1.0], [[0.0, 0.0]], std=[1.0])
    b = mfpid.GaussianMixture([1.0], [[0.0, 0.0, 0.0]], std=[1.0])
    raises(mfpid.ShapeError, "p_tar", mfpid.Fleet, a, b)


def test_other_functions():
    raises(mfpid.InvalidArgument, "method", mfpid.lqg, np.eye(1), np.eye(1), [1.0], np.eye(1), method="XX")
    raises(mfpid.ShapeError, "k", mfpid.lqg, np.eye(2), np.eye(1), [1.0], np.eye(1))
    raises(mfpid.InvalidArgument, "sigma2", mfpid.two_cluster_rates, 1.0, -1.0, [0.5])
    raises(mfpid.InvalidArgument, "direction", mfpid.two_cluster_rates, 1.0, 1.0, [0.5], direction="up")
    raises(mfpid.ShapeError, "drift", mfpid.fokker_planck_1d, np.ones(10), -1.0, 1.0, np.zeros(5))
    raises(mfpid.InvalidArgument, "scheme", mfpid.fokker_planck_1d, np.ones(10), -1.0, 1.0, np.zeros(11), scheme="rk4")
