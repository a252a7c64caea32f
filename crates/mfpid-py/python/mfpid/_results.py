"""Result classes: small frozen dataclasses whose array attributes are read-only NumPy arrays.

Each has ``to_dict()`` (plain dict, nested results as dicts) so that pandas users can write
``pandas.DataFrame(result.to_dict())`` where the fields are columns of equal length, e.g. for
:meth:`Comparison.to_dict` (one row per method).
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np


def _ro(x: Any) -> Any:
    """Freeze arrays (read-only view) and recurse into nothing else."""
    if isinstance(x, np.ndarray):
        x.setflags(write=False)
    return x


def _as_dict(obj: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            v = v.to_dict()
        elif isinstance(v, tuple) and v and dataclasses.is_dataclass(v[0]):
            v = [r.to_dict() for r in v]
        out[f.name] = v
    return out


class _Result:
    def to_dict(self) -> Dict[str, Any]:
        """Fields as a plain dict (nested results as dicts, arrays as NumPy arrays)."""
        return _as_dict(self)

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _ro(v) for k, v in d.items() if k in names})


@dataclass(frozen=True)
class BridgeSample(_Result):
    """Samples of a bridge run (:func:`mfpid.sample_bridge`).

    ``samples`` (n, d) are the states at ``t = 1``; ``times``/``power`` the grid times ``t_0..t_{N-1}``
    and the power ``mean_i |u_i|^2``; ``energy = sum_n h_n power_n`` (no factor 1/2) with its standard
    error over samples; ``snapshots`` (S, n, d) the states at ``snapshot_times`` (the grid times
    closest to the requested ones, ascending).
    """

    samples: np.ndarray
    times: np.ndarray
    power: np.ndarray
    cumulative_energy: np.ndarray
    energy: float
    energy_stderr: float
    energy_per_coord: np.ndarray
    energy_per_sample: np.ndarray
    snapshot_times_requested: np.ndarray
    snapshot_times: np.ndarray
    snapshots: np.ndarray
    seed: int
    steps: int


@dataclass(frozen=True)
class Subpopulations(_Result):
    """Energy per sub-population (component of ``p_in``): one entry per component."""

    component: Tuple[int, ...]
    agents: Tuple[int, ...]
    energy: np.ndarray
    stderr: np.ndarray
    share_pct: np.ndarray

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Subpopulations":
        return cls(
            component=tuple(d["component"]),
            agents=tuple(d["agents"]),
            energy=_ro(d["energy"]),
            stderr=_ro(d["stderr"]),
            share_pct=_ro(d["share_pct"]),
        )


@dataclass(frozen=True)
class TerminalLaw(_Result):
    """The agents' law at ``t = 1`` against ``p_tar``: per component weight, mean, variance with
    standard errors (arrays (K,) or (K, d)), and the worst errors."""

    weights: np.ndarray
    weight_stderr: np.ndarray
    target_weights: np.ndarray
    means: np.ndarray
    mean_stderr: np.ndarray
    target_means: np.ndarray
    variances: np.ndarray
    variance_stderr: np.ndarray
    target_variances: np.ndarray
    max_weight_error: float
    max_mean_error: float


@dataclass(frozen=True)
class Physical(_Result):
    """The run in physical units through the RC thermal layer (per building): kWh totals,
    ``effort_kw2h`` (control effort in kW^2 h), and traces against ``minutes``: net, cooling,
    heating and control power (kW, one value per step: ``minutes[:-1]``) and the mean zone
    temperature (°C, at every ``minutes`` including the end)."""

    effort_kw2h: float
    control_kwh: float
    cooling_kwh: float
    heating_kwh: float
    net_kwh: float
    peak_cooling_kw: float
    minutes: np.ndarray
    net_kw: np.ndarray
    cooling_kw: np.ndarray
    heating_kw: np.ndarray
    control_kw: np.ndarray
    mean_temp_c: np.ndarray


@dataclass(frozen=True)
class MethodRun(_Result):
    """One method on one fleet: energy ``E(1)`` with standard error, saving against the
    comparison's baseline (``None`` for the baseline itself), per-zone and per-sub-population
    energies, the power trace, the terminal law, optional recordings and physical units."""

    method: str
    d: int
    agents: int
    centres: np.ndarray
    energy: float
    stderr: float
    saving_pct: Optional[float]
    saving_stderr_pct: Optional[float]
    energy_per_zone: np.ndarray
    peak_power: float
    times: np.ndarray
    power: np.ndarray
    energy_per_agent: np.ndarray
    subpopulations: Subpopulations
    subpop_power: Optional[np.ndarray]
    terminal: TerminalLaw
    mean_path_times: np.ndarray
    mean_path: np.ndarray
    final_states: Optional[np.ndarray]
    wall_s: float
    physical: Optional[Physical]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "MethodRun":
        d = dict(d)
        d["subpopulations"] = Subpopulations._from(d["subpopulations"])
        d["terminal"] = TerminalLaw._from(d["terminal"])
        if d.get("physical") is not None:
            d["physical"] = Physical._from(d["physical"])
        return super()._from(d)


_TABLE = ("energy", "stderr", "saving_pct", "saving_stderr_pct", "peak_power", "wall_s")
_PHYS = ("effort_kw2h", "control_kwh", "cooling_kwh", "heating_kwh", "net_kwh", "peak_cooling_kw")


@dataclass(frozen=True)
class Comparison(_Result):
    """Methods compared on one fleet (same agents, same noise). ``runs`` in the order given;
    ``to_dict()`` is a table with one row per method (``pandas.DataFrame(cmp.to_dict())``);
    ``run(name)`` gives one :class:`MethodRun`."""

    runs: Tuple[MethodRun, ...]
    baseline: str
    settings: Dict[str, Any]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Comparison":
        return cls(
            runs=tuple(MethodRun._from(r) for r in d["runs"]),
            baseline=d["baseline"],
            settings=dict(d["settings"]),
        )

    @property
    def methods(self) -> Tuple[str, ...]:
        """Method names in run order."""
        return tuple(r.method for r in self.runs)

    def run(self, name: str) -> MethodRun:
        """The run of method ``name`` (KeyError if absent)."""
        for r in self.runs:
            if r.method == name:
                return r
        raise KeyError(f"no run of method {name!r} (methods: {', '.join(self.methods)})")

    def to_dict(self) -> Dict[str, Any]:
        """One row per method: name, energy, stderr, saving (pct and stderr, 0 for the baseline as
        in the ``mfpid fleet`` table), peak power, wall time, and kWh columns for physical fleets."""
        t: Dict[str, Any] = {"method": [r.method for r in self.runs]}
        for k in _TABLE:
            col = [getattr(r, k) for r in self.runs]
            if k.startswith("saving"):
                col = [0.0 if v is None else v for v in col]
            t[k] = np.asarray(col, dtype=np.float64)
        if self.runs and self.runs[0].physical is not None:
            for k in _PHYS:
                t[k] = np.asarray([getattr(r.physical, k) for r in self.runs], dtype=np.float64)
        return t

    def to_full_dict(self) -> Dict[str, Any]:
        """Everything, nested: ``{"runs": [run.to_dict() ...], "baseline": ..., "settings": ...}``."""
        return _as_dict(self)


@dataclass(frozen=True)
class LqgSimulation(_Result):
    """Agents simulated under the optimal LQG feedback: energy with standard error, terminal
    moments, power trace."""

    energy: float
    energy_stderr: float
    mean1: np.ndarray
    cov1: np.ndarray
    times: np.ndarray
    power: np.ndarray


@dataclass(frozen=True)
class LqgResult(_Result):
    """One method of the LQG benchmark: ``energy`` = ``E(1)``, ``sigma1`` = ``Σ_1``, ``s0``, and at
    ``times``: ``mean`` (T, d), ``s`` (T, d), ``sigma`` (T, d, d), ``s_matrix`` (T, d, d), ``power``
    and ``cumulative_energy`` (T,). ``simulation`` when particles were asked for."""

    method: str
    d: int
    energy: float
    sigma1: np.ndarray
    s0: np.ndarray
    times: np.ndarray
    mean: np.ndarray
    s: np.ndarray
    sigma: np.ndarray
    s_matrix: np.ndarray
    power: np.ndarray
    cumulative_energy: np.ndarray
    simulation: Optional[LqgSimulation]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "LqgResult":
        d = dict(d)
        if d.get("simulation") is not None:
            d["simulation"] = LqgSimulation._from(d["simulation"])
        return super()._from(d)


@dataclass(frozen=True)
class MfFixedPoint(_Result):
    """The MF fixed point: ``centres`` (M, d) against the theorem's ``interpolant`` and the
    ``exact_fixed_point``, with Monte Carlo standard errors, iteration history and the energy at
    the converged centres."""

    centres: np.ndarray
    interpolant: np.ndarray
    exact_fixed_point: np.ndarray
    fixed_point_stderr: np.ndarray
    iterations: int
    solver: str
    steps_history: np.ndarray
    residuals: np.ndarray
    max_dev_over_dm: float
    max_z_interpolant: float
    within_3_fp_errors: bool
    energy: float
    energy_stderr: float
    midpoint_means: np.ndarray
    terminal_mean: np.ndarray


@dataclass(frozen=True)
class EntropyRates(_Result):
    """Entropy production ``pi``, flow ``phi``, ``ds_dt = pi - phi`` and entropy at ``times``."""

    times: np.ndarray
    pi: np.ndarray
    phi: np.ndarray
    ds_dt: np.ndarray
    entropy: np.ndarray
    speciation_time: float
    phase: int


@dataclass(frozen=True)
class IftResult(_Result):
    """Per-path entropy changes and the IFT average ``<exp(-ΔS_tot)>`` with its interval."""

    system: np.ndarray
    medium: np.ndarray
    total: np.ndarray
    ift_mean: float
    ift_stderr: float
    ift_ci_low: float
    ift_ci_high: float
    level: float
    mean_ds_tot: float
    mean_ds_tot_stderr: float


@dataclass(frozen=True)
class FranzParisiCurve(_Result):
    """``V(q)``, ``dV/dq``, ``d²V/dq²`` with standard errors, and the local minima of ``V``."""

    q: np.ndarray
    v: np.ndarray
    dv: np.ndarray
    d2v: np.ndarray
    v_stderr: np.ndarray
    dv_stderr: np.ndarray
    d2v_stderr: np.ndarray
    minima: np.ndarray


@dataclass(frozen=True)
class PhaseDiagram(_Result):
    """Speciation time and phase code on ``mus x sigmas`` (arrays ``(len(mus), len(sigmas))``)."""

    mus: np.ndarray
    sigmas: np.ndarray
    speciation_time: np.ndarray
    phase: np.ndarray


@dataclass(frozen=True)
class CloningCurve(_Result):
    """Fraction ``phi`` of clone pairs ending in the same class, per split time ``t``."""

    t: np.ndarray
    phi: np.ndarray
    phi_stderr: np.ndarray
    phi_theory: np.ndarray


@dataclass(frozen=True)
class FokkerPlanck1d(_Result):
    """Density ``p`` at the cell centres ``x`` at ``t1`` with its mass and mean, and the recorded
    densities ``record`` (R, n) at ``record_times``."""

    x: np.ndarray
    p: np.ndarray
    mass: float
    mean: float
    record_times: np.ndarray
    record: np.ndarray
