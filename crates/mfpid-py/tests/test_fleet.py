import json
import subprocess

import numpy as np
import pytest

import mfpid
from conftest import GUIDE_FLEET, GUIDE_METHODS, REPO, built, guide_fleet, rust_fleet

SMALL = dict(agents=300, steps=80, seed=5)


def test_compare_small(fleet):
    cmp = mfpid.compare(fleet, GUIDE_METHODS, mean_every=10, subpop_power=True, keep_final=True, **SMALL)
    assert cmp.methods == ("MF", "IA0", "IAm", "half")
    assert cmp.baseline == "IA0"
    mf, ia0 = cmp.run("MF"), cmp.run("IA0")
    assert ia0.saving_pct is None and mf.saving_pct is not None
    assert mf.energy < ia0.energy and mf.saving_pct > 0
    assert mf.energy_per_zone.shape == (2,)
    np.testing.assert_allclose(mf.energy_per_zone.sum(), mf.energy, rtol=1e-12)
    assert mf.centres.shape == (8, 2)
    assert mf.subpopulations.energy.shape == (2,)
    assert mf.subpop_power.shape == (2, 80)
    assert mf.final_states.shape == (300, 2)
    assert mf.mean_path.shape[1] == 2 and len(mf.mean_path_times) == len(mf.mean_path)
    assert mf.terminal.means.shape == (2, 2)
    assert mf.physical is None
    table = cmp.to_dict()
    assert table["method"] == ["MF", "IA0", "IAm", "half"]
    assert table["energy"].shape == (4,) and table["saving_pct"][1] == 0.0
    full = cmp.to_full_dict()
    assert full["runs"][0]["subpopulations"]["energy"].shape == (2,)


def test_compare_reproducible_across_threads(fleet):
    a = mfpid.compare(fleet, ["MF", "IA0"], threads=1, **SMALL)
    b = mfpid.compare(fleet, ["MF", "IA0"], threads=2, **SMALL)
    for ra, rb in zip(a.runs, b.runs):
        assert ra.energy == rb.energy and ra.stderr == rb.stderr
        np.testing.assert_array_equal(ra.power, rb.power)


def test_physical_fleet():
    layer = mfpid.ThermalLayer.example_office()
    p_in, p_tar = mfpid.CelsiusLaw.example_fleet()
    fleet = mfpid.Fleet.physical(layer, p_in, p_tar)
    assert fleet.is_physical and fleet.d == 4
    cmp = mfpid.compare(fleet, ["MF", "IA0"], agents=200, steps=64)
    ph = cmp.run("MF").physical
    assert ph is not None and ph.minutes.shape == ph.mean_temp_c.shape
    # power per step (64 steps); minutes and temperatures also at the final time
    assert ph.cooling_kw.shape == (64,) and ph.minutes.shape == (65,)
    assert 0.0 < ph.minutes[-1] <= layer.minutes(1.0) + 1e-9
    assert "cooling_kwh" in cmp.to_dict()


def test_sample_agents(fleet):
    x, comp = fleet.sample_agents(100, seed=1)
    assert x.shape == (100, 2) and len(comp) == 100 and set(comp) <= {0, 1}


def test_identical_to_rust_api(fleet):
    """Same seed, same settings: bit-identical energies to examples/fleet_rust.rs."""
    agents, steps, seed = 400, 120, 7
    ref = rust_fleet(agents, steps, seed)
    cmp = mfpid.compare(fleet, GUIDE_METHODS, agents=agents, steps=steps, seed=seed)
    for r, py in zip(ref["runs"], cmp.runs):
        assert r["method"] == py.method
        assert r["energy"] == py.energy
        assert r["stderr"] == py.stderr
        assert r["saving_pct"] == py.saving_pct
        assert r["energy_per_zone"] == py.energy_per_zone.tolist()
        assert r["subpop_energy"] == py.subpopulations.energy.tolist()


def test_identical_to_cli(tmp_path, fleet):
    """The guide's example fleet through `mfpid fleet --quick` (1000 agents, 400 steps)."""
    out = tmp_path / "fleet"
    built("mfpid", "fleet", str(GUIDE_FLEET), "--quick", "--quiet", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    cmp = mfpid.compare(fleet, GUIDE_METHODS, agents=1000, steps=400, seed=0)
    cli = {m["method"]: m for m in summary["methods"]}
    assert list(cli) == list(cmp.methods)
    for py in cmp.runs:
        c = cli[py.method]
        assert c["energy"] == py.energy
        assert c["stderr"] == py.stderr
        assert c["energy_per_zone"] == py.energy_per_zone.tolist()
        assert c["saving_pct"] == py.saving_pct
