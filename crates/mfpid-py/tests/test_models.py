"""LQG, MF fixed point, thermodynamics and the 1-D Fokker-Planck solver on small settings,
checked against the numbers of the Rust crates' own doc examples."""

import math

import numpy as np

import mfpid


def test_lqg_scalar_reference():
    # mfpid-meanfield's doc example: kappa = 0.6, q = 12, m_tar = 2, sigma_tar = 0.5
    r = mfpid.lqg([[0.6]], [[12.0]], [2.0], [[0.25]], method="MF", times=11)
    assert abs(r.energy - 7.60372) < 1e-5
    assert abs(r.sigma1[0, 0] - 0.25) < 1e-9
    assert r.mean.shape == (11, 1) and r.sigma.shape == (11, 1, 1)
    assert r.cumulative_energy[-1] == r.energy or abs(r.cumulative_energy[-1] - r.energy) < 1e-9
    assert r.simulation is None
    ia0 = mfpid.lqg([[0.6]], [[12.0]], [2.0], [[0.25]], method="IA0")
    assert ia0.energy > r.energy


def test_lqg_simulation_reproducible():
    a = mfpid.lqg(np.eye(2) * 0.5, np.eye(2), [1.0, -1.0], np.eye(2) * 0.3, particles=512, steps=100, seed=4, threads=1)
    b = mfpid.lqg(np.eye(2) * 0.5, np.eye(2), [1.0, -1.0], np.eye(2) * 0.3, particles=512, steps=100, seed=4, threads=2)
    assert a.simulation is not None
    assert a.simulation.energy == b.simulation.energy
    assert abs(a.simulation.energy - a.energy) < 5 * a.simulation.energy_stderr + 0.05 * a.energy


def test_quadratic_mf_fixed_point():
    p = mfpid.Protocol.geometric(1, 12.0, 0.65, 4)
    p_in = mfpid.GaussianMixture([1.0], [[-1.0]], std=[0.3])
    p_tar = mfpid.GaussianMixture([0.6, 0.4], [[0.1], [1.5]], std=[0.2, 0.3])
    r = mfpid.quadratic_mf(p, p_in, p_tar, particles=1024, steps=80, tol=1e-3, max_iter=40)
    assert r.centres.shape == (4, 1)
    assert r.iterations >= 1
    # the particle fixed point agrees with the exact fixed point within a few Monte Carlo errors
    assert np.all(np.abs(r.centres - r.exact_fixed_point) <= 5 * r.fixed_point_stderr + 1e-3)


def test_two_cluster_rates_and_speciation():
    r = mfpid.two_cluster_rates(1.0, 1.0, [0.25, 0.5, 1.0])
    np.testing.assert_allclose(r.ds_dt, r.pi - r.phi, atol=1e-15)
    assert np.all(r.pi > 0)
    assert abs(r.speciation_time - 0.5 * math.log(2)) < 1e-12
    b = mfpid.two_cluster_rates(1.0, 1.0, [0.5], direction="backward")
    assert b.pi.shape == (1,)


def test_ift():
    # mfpid-thermo's doc example: 512 forward paths, 100 steps, seed 7: the IFT holds
    r = mfpid.two_cluster_ift(1.0, 1.0, horizon=1.0, steps=100, paths=512, seed=7)
    assert r.ift_ci_low < 1.0 < r.ift_ci_high
    assert r.total.shape == (512,)
    r2 = mfpid.two_cluster_ift(1.0, 1.0, horizon=1.0, steps=100, paths=512, seed=7, threads=1)
    np.testing.assert_array_equal(r.total, r2.total)


def test_franz_parisi_phase_cloning():
    fp = mfpid.franz_parisi(1.0, 1.0, 0.3, np.linspace(0.1, 0.9, 7), pairs=2000, seed=1)
    assert fp.v.shape == (7,) and np.all(np.isfinite(fp.v))
    pd = mfpid.phase_diagram([0.5, 1.0, 2.0], [0.5, 1.0])
    assert pd.phase.shape == pd.speciation_time.shape == (3, 2)
    cc = mfpid.cloning_curve(2, 0.5, [0.2, 1.0], samples=200, dt=0.02, seed=0)
    assert cc.phi.shape == (2,) and np.all((0 <= cc.phi) & (cc.phi <= 1))


def test_fokker_planck_ou():
    # mfpid-pde's doc example: OU relaxation of N(2, 0.3^2) to t = 1
    n, lo, hi = 240, -6.0, 6.0
    h = (hi - lo) / n
    x = lo + h * (np.arange(n) + 0.5)
    p0 = np.exp(-((x - 2.0) ** 2) / 0.18)
    p0 /= p0.sum() * h
    r = mfpid.fokker_planck_1d(p0, lo, hi, lambda xf: -xf, steps=200, record_every=50)
    assert abs(r.mass - 1.0) < 1e-12
    assert abs(r.mean - 2.0 / math.e) < 1e-3
    assert np.all(r.p >= 0)
    np.testing.assert_allclose(r.x, x, atol=1e-12)
    assert r.record.shape == (5, n) and r.record_times[-1] == 1.0
    # a time table with one constant row gives the same density
    faces = np.linspace(lo, hi, n + 1)
    r2 = mfpid.fokker_planck_1d(p0, lo, hi, np.vstack([-faces, -faces]), drift_times=[0.0, 1.0], steps=200)
    np.testing.assert_allclose(r2.p, r.p, rtol=1e-12, atol=1e-15)
