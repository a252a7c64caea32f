"""mfpid: mean-field path-integral diffusion from Python.

Laws (:class:`GaussianMixture`, :class:`Empirical`), protocols (:class:`Protocol`), bridge sampling
(:func:`sample_bridge`), demand-response fleets and the MF / IA(0) / IA(m̄) / custom-centre comparison
(:class:`Fleet`, :func:`compare`, :class:`ThermalLayer` for kW / °C / kWh), the LQG benchmark
(:func:`lqg`), the MF fixed point (:func:`quadratic_mf`), thermodynamic diagnostics
(:func:`two_cluster_rates`, :func:`two_cluster_ift`, :func:`franz_parisi`, :func:`cloning_curve`,
:func:`phase_diagram`) and the 1-D Fokker-Planck solver (:func:`fokker_planck_1d`).

Arrays in: float64, C-contiguous NumPy arrays are read in place; lists are converted; other arrays
(other dtypes, non-contiguous) raise :class:`DTypeError` / :class:`LayoutError`. Arrays out: NumPy,
read-only, in frozen result classes with ``to_dict()``. Runs release the GIL; Ctrl-C raises
KeyboardInterrupt; ``seed=`` and ``threads=`` give the Rust library's bit-reproducibility (results
do not depend on ``threads``). Errors derive from :class:`Error`; bad input raises
:class:`InvalidArgument` (a ValueError) whose message starts with the argument's name.
"""

import operator
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from . import _mfpid
from ._errors import (
    DTypeError,
    Error,
    InvalidArgument,
    LayoutError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ShapeError,
    SolverError,
)
from ._progress import reporter as _reporter
from ._results import (
    BridgeSample,
    CloningCurve,
    Comparison,
    EntropyRates,
    FokkerPlanck1d,
    FranzParisiCurve,
    IftResult,
    LqgResult,
    LqgSimulation,
    MethodRun,
    MfFixedPoint,
    PhaseDiagram,
    Physical,
    Subpopulations,
    TerminalLaw,
)

__version__: str = _mfpid.__version__

GaussianMixture = _mfpid.GaussianMixture
Empirical = _mfpid.Empirical
Protocol = _mfpid.Protocol
Fleet = _mfpid.Fleet
ThermalLayer = _mfpid.ThermalLayer
CelsiusLaw = _mfpid.CelsiusLaw


def _int(v: Any, name: str, minimum: int) -> int:
    """An integer argument >= minimum (bools and floats are refused)."""
    if isinstance(v, bool):
        raise InvalidArgument(f"{name}: expected an integer, got {v!r}", name)
    try:
        i = operator.index(v)
    except TypeError:
        raise InvalidArgument(f"{name}: expected an integer, got {v!r}", name) from None
    if i < minimum:
        raise InvalidArgument(f"{name}: must be >= {minimum}, got {i}", name)
    return i


def _threads(v: Optional[int]) -> Optional[int]:
    return None if v is None else _int(v, "threads", 1)


def _seed(v: Any) -> int:
    s = _int(v, "seed", 0)
    if s >= 2**64:
        raise InvalidArgument(f"seed: must be < 2**64, got {s}", "seed")
    return s


def _float(v: Any, name: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name}: expected a number, got {v!r}", name) from None


class Method:
    """A custom method for :func:`compare`: a named centre schedule ``nu``.

    ``centres`` is one centre of shape ``(d,)`` used on every protocol piece, or one per piece,
    shape ``(pieces, d)``. The built-in methods are the strings ``"MF"`` (mean field,
    ``nu_t = (1-t) m_in + t m_tar``), ``"IA0"`` (``nu = 0``) and ``"IAm"`` (``nu = m_tar``).
    """

    __slots__ = ("name", "centres")

    def __init__(self, name: str, centres: Any) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"name: expected a non-empty string, got {name!r}", "name")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "centres", centres)

    def __setattr__(self, *_: Any) -> None:
        raise AttributeError("Method is immutable")

    def __repr__(self) -> str:
        return f"Method({self.name!r}, centres={np.asarray(self.centres).tolist()!r})"


STANDARD_METHODS = ("MF", "IA0", "IAm")


def sample_bridge(
    protocol: Protocol,
    target: Union[GaussianMixture, Empirical],
    n: int,
    *,
    steps: int = 500,
    start: Optional[Any] = None,
    eps: float = 1e-3,
    snapshots: Optional[Sequence[float]] = None,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Any = False,
) -> BridgeSample:
    """Sample ``n`` paths of the bridge from ``start`` to ``target`` under ``protocol``.

    Euler-Maruyama with unit diffusion on ``steps`` steps aligned to the protocol's breaks, drift
    evaluated on ``[eps, 1 - eps]`` (as the ``mfpid sample`` program does).

    Args:
        protocol: the :class:`Protocol` (its ``d`` is the dimension).
        target: a :class:`GaussianMixture` or :class:`Empirical` law of dimension ``d``.
        n: number of samples (>= 1).
        steps: time steps (>= the protocol's pieces).
        start: ``None`` (the origin), one point ``(d,)``, or start points ``(m, d)``: sample ``i``
            starts at row ``i % m``.
        eps: time cut-off in ``(0, 0.5)``.
        snapshots: times in ``[0, 1]`` at which to keep every sample's state.
        seed: seed of the Brownian increments (same seed, same samples, for any ``threads``).
        threads: worker threads (``None``: all cores; results do not depend on it).
        progress: ``True`` for a progress bar (tqdm if installed), or a callable(fraction).

    Returns:
        :class:`BridgeSample`.
    """
    n = _int(n, "n", 1)
    steps = _int(steps, "steps", 1)
    with _reporter(progress, "bridge") as cb:
        d = _mfpid.sample_bridge(
            protocol, target, n, steps, start, _float(eps, "eps"),
            snapshots, _seed(seed), _threads(threads), cb,
        )
    return BridgeSample._from(d)


def compare(
    fleet: Fleet,
    methods: Iterable[Union[str, Method]] = STANDARD_METHODS,
    *,
    baseline: Optional[str] = None,
    agents: int = 4000,
    steps: int = 2500,
    eps: float = 1e-3,
    beta0: float = 12.0,
    gamma: float = 0.65,
    pieces: int = 8,
    mean_every: int = 0,
    subpop_power: bool = False,
    keep_final: bool = False,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Any = False,
) -> Comparison:
    """Compare methods on a fleet: one draw of ``agents`` agents from ``p_in`` and one Brownian
    seed shared by every method (common random numbers), each agent bridged to ``p_tar`` under
    ``beta_i = beta0 * gamma**i`` on ``pieces`` equal pieces with the method's centres.

    Args:
        fleet: the :class:`Fleet` (optionally physical, see :meth:`Fleet.physical`).
        methods: ``"MF"``, ``"IA0"``, ``"IAm"`` and/or :class:`Method` objects, run in this order.
        baseline: savings are against this method, which must be among ``methods``
            (``None``: ``"IA0"`` when it runs, otherwise the first method).
        agents: number of agents (>= 2: energies come with standard errors).
        steps: Euler-Maruyama steps on ``[0, 1]`` (>= ``pieces``).
        eps: drift time cut-off in ``(0, 0.5)``.
        beta0, gamma, pieces: the geometric protocol (the paper: 12, 0.65, 8).
        mean_every: record the fleet mean every this many steps (0: not recorded).
        subpop_power: record the power of each sub-population at every step.
        keep_final: keep all agents' terminal states (``MethodRun.final_states``).
        seed: seed of the agents' draw and of the noise.
        threads: worker threads (``None``: all cores; results do not depend on it).
        progress: ``True`` for a progress bar (tqdm if installed), or a callable(fraction).

    Returns:
        :class:`Comparison`; ``pandas.DataFrame(cmp.to_dict())`` is its table.

    Raises:
        InvalidArgument: bad settings or methods (the message names the argument).
        KeyboardInterrupt: on Ctrl-C (the run stops at its next time step).
    """
    ms = []
    for i, m in enumerate(methods):
        if isinstance(m, Method):
            ms.append((m.name, m.centres))
        elif isinstance(m, str):
            ms.append(m)
        else:
            raise DTypeError(
                f"methods[{i}]: expected 'MF', 'IA0', 'IAm' or mfpid.Method, got {m!r}", f"methods[{i}]"
            )
    with _reporter(progress, "fleet") as cb:
        d = _mfpid.compare(
            fleet, ms, baseline,
            _int(agents, "agents", 2), _int(steps, "steps", 1), _float(eps, "eps"),
            _float(beta0, "beta0"), _float(gamma, "gamma"), _int(pieces, "pieces", 1),
            _int(mean_every, "mean_every", 0), bool(subpop_power), bool(keep_final),
            _seed(seed), _threads(threads), cb,
        )
    return Comparison._from(d)


def lqg(
    k: Any,
    q: Any,
    m_tar: Any,
    sigma_tar: Any,
    *,
    x0: Optional[Any] = None,
    method: str = "MF",
    times: int = 101,
    particles: int = 0,
    steps: int = 1000,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Any = False,
) -> LqgResult:
    """The LQG benchmark: agents ``dx = (-K x + u) dt + dW`` from ``x0`` (default 0) to
    ``N(m_tar, sigma_tar)`` at ``t = 1`` with running cost ``|x - m̄_t|_Q^2`` and control ``|u|^2``.

    Args:
        k, q, sigma_tar: ``(d, d)`` matrices (``q`` symmetric PSD, ``sigma_tar`` SPD).
        m_tar: target mean ``(d,)``.
        x0: start point ``(d,)`` (default the origin).
        method: ``"MF"`` (m̄ = population mean), ``"IA0"`` (m̄ = 0), ``"IAm"`` (m̄ = m_tar).
        times: number of equally spaced output times on ``[0, 1]`` (>= 2).
        particles: if > 0, also simulate this many agents under the optimal feedback on ``steps``
            Euler-Maruyama steps (``result.simulation``).
        seed, threads, progress: as in :func:`compare`.

    Returns:
        :class:`LqgResult` (``energy`` is ``E(1)`` in closed form / by Riccati ODEs).
    """
    with _reporter(progress, "lqg") as cb:
        d = _mfpid.lqg(
            k, q, m_tar, sigma_tar, x0, str(method), _int(times, "times", 2),
            _int(particles, "particles", 0), _int(steps, "steps", 1), _seed(seed),
            _threads(threads), cb,
        )
    return LqgResult._from(d)


def quadratic_mf(
    protocol: Protocol,
    p_in: Union[GaussianMixture, Empirical],
    p_tar: Union[GaussianMixture, Empirical],
    *,
    particles: int = 4096,
    steps: int = 400,
    eps: float = 1e-3,
    solver: str = "anderson",
    tol: float = 1e-3,
    max_iter: int = 50,
    start_amplitude: float = 0.5,
    seed: int = 1,
    start_seed: int = 2,
    progress: Any = False,
) -> MfFixedPoint:
    """The mean-field fixed point of MF-PID with a quadratic interaction: find the centres ``nu``
    (one per protocol piece) with ``nu_i = E x(s_i)`` (the population mean at the piece midpoints)
    by particle simulation with common random numbers, solved by ``"picard"`` or ``"anderson"``
    iteration from the interpolant perturbed by ``start_amplitude * sin(2 pi s) Δm``; compared with
    the linear-interpolant theorem and the exact fixed point.

    Raises:
        SolverError: if the iteration does not converge within ``max_iter``.
    """
    with _reporter(progress, "mf fixed point") as cb:
        d = _mfpid.quadratic_mf(
            protocol, p_in, p_tar, _int(particles, "particles", 2), _int(steps, "steps", 1),
            _float(eps, "eps"), str(solver), _float(tol, "tol"), _int(max_iter, "max_iter", 1),
            _float(start_amplitude, "start_amplitude"), _seed(seed),
            _int(start_seed, "start_seed", 0), cb,
        )
    return MfFixedPoint._from(d)


def two_cluster_rates(mu: float, sigma2: float, times: Any, *, direction: str = "forward") -> EntropyRates:
    """Closed-form entropy rates of the two-cluster model ``p_0 = ½ N(μ, σ²) + ½ N(-μ, σ²)`` under
    OU noising ``dx = -x dt + sqrt(2) dW``: production ``pi``, flow ``phi``, ``ds_dt = pi - phi``
    and the entropy at ``times`` (``direction="backward"``: the generative process), with the
    speciation time and phase (0 symmetry breaking, 1 none, 2 unstable)."""
    return EntropyRates._from(
        _mfpid.two_cluster_rates(_float(mu, "mu"), _float(sigma2, "sigma2"), times, str(direction))
    )


def two_cluster_ift(
    mu: float,
    sigma2: float,
    *,
    direction: str = "forward",
    horizon: float = 1.0,
    steps: int = 100,
    paths: int = 1024,
    level: float = 0.99,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Any = False,
) -> IftResult:
    """Simulate ``paths`` trajectories of the two-cluster model and return per-path system, medium
    and total entropy changes and the integral fluctuation theorem ``<exp(-ΔS_tot)> = 1`` with a
    confidence interval at ``level``."""
    with _reporter(progress, "ift") as cb:
        d = _mfpid.two_cluster_ift(
            _float(mu, "mu"), _float(sigma2, "sigma2"), str(direction), _float(horizon, "horizon"),
            _int(steps, "steps", 1), _int(paths, "paths", 2), _float(level, "level"), _seed(seed),
            _threads(threads), cb,
        )
    return IftResult._from(d)


def franz_parisi(mu: float, sigma2: float, t: float, q: Any, *, pairs: int = 20000, seed: int = 0) -> FranzParisiCurve:
    """The Franz-Parisi potential ``V(q)`` of reverse diffusion at forward time ``t`` with its
    derivatives and Monte Carlo standard errors (``pairs`` samples), and its local minima."""
    return FranzParisiCurve._from(
        _mfpid.franz_parisi(
            _float(mu, "mu"), _float(sigma2, "sigma2"), _float(t, "t"), q, _int(pairs, "pairs", 2), _seed(seed)
        )
    )


def phase_diagram(mus: Any, sigmas: Any) -> PhaseDiagram:
    """The Yu & Huang speciation phase diagram on the grid ``mus x sigmas``: speciation time and
    phase code (0 symmetry breaking, 1 none, 2 unstable), arrays of shape ``(len(mus), len(sigmas))``."""
    return PhaseDiagram._from(_mfpid.phase_diagram(mus, sigmas))


def cloning_curve(
    d: int,
    sigma2: float,
    clone_times: Any,
    *,
    samples: int = 2000,
    dt: float = 0.01,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Any = False,
) -> CloningCurve:
    """Biroli et al.'s cloning experiment on ``½ N(+m, σ² I) + ½ N(-m, σ² I)`` in ``d`` dimensions:
    the fraction ``phi(t)`` of clone pairs split at forward time ``t`` that end in the same class,
    measured (with binomial standard error) and in theory."""
    with _reporter(progress, "cloning") as cb:
        r = _mfpid.cloning_curve(
            _int(d, "d", 1), _float(sigma2, "sigma2"), clone_times, _int(samples, "samples", 1),
            _float(dt, "dt"), _seed(seed), _threads(threads), cb,
        )
    return CloningCurve._from(r)


def fokker_planck_1d(
    p0: Any,
    lo: float,
    hi: float,
    drift: Any,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    steps: int = 100,
    drift_times: Optional[Any] = None,
    diffusion: float = 1.0,
    scheme: str = "crank_nicolson",
    boundary: str = "zero_flux",
    record_every: int = 0,
    progress: Any = False,
) -> FokkerPlanck1d:
    """Solve ``dp/dt = -(b p)' + (D/2) p''`` on ``n = len(p0)`` cells of ``[lo, hi]`` from ``t0``
    to ``t1`` in ``steps`` implicit steps (Scharfetter-Gummel fluxes; ``p0`` are cell averages).

    ``drift`` is the velocity at the ``n + 1`` cell faces: an array ``(n + 1,)`` (constant in time),
    an array ``(T, n + 1)`` with ``drift_times`` ``(T,)`` (linear in time between rows), or a
    callable: ``drift(x_faces)`` (constant) or, with ``drift_times``, ``drift(t, x_faces)``
    tabulated at those times. ``scheme``: ``"backward_euler"``, ``"crank_nicolson"``,
    ``"tr_bdf2"``; ``boundary``: ``"zero_flux"`` or ``"periodic"``. ``record_every > 0`` keeps the
    density every that many steps (``result.record``).
    """
    n = int(np.shape(p0)[0]) if np.ndim(p0) >= 1 else 0
    if callable(drift):
        lo_f, hi_f = _float(lo, "lo"), _float(hi, "hi")
        faces = np.linspace(lo_f, hi_f, n + 1) if n > 0 else np.zeros(0)
        if drift_times is None:
            drift = np.ascontiguousarray(drift(faces), dtype=np.float64)
        else:
            ts = np.asarray(drift_times, dtype=np.float64)
            drift = np.ascontiguousarray([drift(float(t), faces) for t in ts], dtype=np.float64)
    with _reporter(progress, "fokker-planck") as cb:
        d = _mfpid.fokker_planck_1d(
            p0, _float(lo, "lo"), _float(hi, "hi"), _float(t0, "t0"), _float(t1, "t1"),
            _int(steps, "steps", 1), drift, drift_times, _float(diffusion, "diffusion"),
            str(scheme), str(boundary), _int(record_every, "record_every", 0), cb,
        )
    return FokkerPlanck1d._from(d)


__all__ = [
    "__version__",
    "Error",
    "InvalidArgument",
    "ShapeError",
    "DTypeError",
    "LayoutError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "SolverError",
    "GaussianMixture",
    "Empirical",
    "Protocol",
    "Fleet",
    "ThermalLayer",
    "CelsiusLaw",
    "Method",
    "STANDARD_METHODS",
    "sample_bridge",
    "compare",
    "BridgeSample",
    "Comparison",
    "MethodRun",
    "Physical",
    "Subpopulations",
    "TerminalLaw",
    "lqg",
    "quadratic_mf",
    "two_cluster_rates",
    "two_cluster_ift",
    "franz_parisi",
    "phase_diagram",
    "cloning_curve",
    "fokker_planck_1d",
    "LqgResult",
    "LqgSimulation",
    "MfFixedPoint",
    "EntropyRates",
    "IftResult",
    "FranzParisiCurve",
    "PhaseDiagram",
    "CloningCurve",
    "FokkerPlanck1d",
]
