"""The wider function grid of issue 32: the new families, shifts and rotations, the presets, the peers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import functions as F
from benchmarks.functions import FUNCTIONS, GRID32_FAMILIES
from benchmarks.harness import GRID32_SEARCHERS, PRESETS, PEERS, build_parser, main, register_searcher
from raytune_llm.errors import MissingExtraError

DIMS = (2, 5, 10, 20)


def _variants(name: str) -> list[F.TestFunction]:
    fn = FUNCTIONS[name]
    return [fn, fn.shifted(1), fn.rotated(1), fn.shifted(1).rotated(1), fn.rotated(3).shifted(2)]


def test_at_least_six_new_families() -> None:
    assert len(GRID32_FAMILIES) >= 6
    assert set(GRID32_FAMILIES) <= set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dim", DIMS)
def test_value_at_the_optimum_is_the_optimum_shifted_and_rotated(name: str, dim: int) -> None:
    for fn in _variants(name):
        x_opt = fn.optimum_point(dim)
        lo, hi = fn.bounds
        assert np.all((lo <= x_opt) & (x_opt <= hi)), fn.name
        assert abs(fn(x_opt) - fn.optimum) <= 1e-9, (fn.name, dim, fn(x_opt))
        # the shift alone places the optimum: rotating about it keeps the point
        np.testing.assert_array_equal(fn.optimum_point(dim), fn.rotated(5).optimum_point(dim))


@pytest.mark.parametrize("name", GRID32_FAMILIES)
def test_no_point_of_the_box_scores_below_the_optimum(name: str) -> None:
    # Schwefel and Michalewicz fall below their minimum outside the box: shifted and rotated points are clipped
    rng = np.random.default_rng(0)
    for fn in _variants(name):
        lo, hi = fn.bounds
        for dim in (2, 5):
            xs = rng.uniform(lo, hi, size=(300, dim))
            values = np.array([fn(x) for x in xs])
            assert values.min() >= fn.optimum - 1e-9, (fn.name, dim, values.min())
            assert np.median(values) > fn.target_value(dim), (fn.name, dim)  # a random point is not on target


def test_unclipped_schwefel_would_leave_the_box_minimum() -> None:
    # the reason for TestFunction.clip: outside [-500, 500] Schwefel goes below its box minimum
    assert F.schwefel(np.array([1100.0, 1100.0])) < 0.0
    fn = FUNCTIONS["schwefel"].shifted(1)
    assert fn.clip and fn(np.full(2, 500.0)) >= 0.0


@pytest.mark.parametrize("name", GRID32_FAMILIES)
def test_batch_evaluation_matches_points(name: str) -> None:
    fn = FUNCTIONS[name]
    xs = np.random.default_rng(1).uniform(*fn.bounds, size=(7, 5))
    np.testing.assert_allclose(fn.fn(xs), [fn.fn(x) for x in xs], rtol=1e-12)


def test_known_values() -> None:
    for dim, value in F.MICHALEWICZ_KNOWN_MINIMA.items():
        assert F.michalewicz_raw_minimum(dim) == pytest.approx(value, abs=5e-6)  # published to 5-7 decimals
    assert F.michalewicz_raw_minimum(20) == pytest.approx(-19.6370, abs=1e-4)
    # Schwefel's constants: the argmin is a stationary point of -x sin(sqrt x), no box grid point is lower
    s = math.sqrt(F.SCHWEFEL_ARGMIN)
    assert abs(-math.sin(s) - 0.5 * s * math.cos(s)) < 1e-12
    grid = np.linspace(-500.0, 500.0, 1_000_001)
    assert np.min(-grid * np.sin(np.sqrt(np.abs(grid)))) >= -F.SCHWEFEL_MIN_PER_DIM - 1e-12
    assert F.zakharov(np.array([1.0, 1.0])) == pytest.approx(2 + 1.5**2 + 1.5**4)
    assert F.ellipsoid(np.array([1.0, 1.0])) == pytest.approx(1.0 + 1e6)
    assert F.bent_cigar(np.array([2.0, 1.0, 1.0])) == pytest.approx(4.0 + 2e6)
    assert F.step(np.array([0.49, -0.5, 1.6])) == 0.0 + 0.0 + 4.0


def test_rotations_are_orthogonal_seeded_and_change_the_function() -> None:
    fn = FUNCTIONS["ellipsoid"].shifted(1)
    for dim in DIMS:
        rot = fn.rotated(1).rotation(dim)
        np.testing.assert_allclose(rot @ rot.T, np.eye(dim), atol=1e-12)
        np.testing.assert_array_equal(rot, FUNCTIONS["ellipsoid"].rotated(1).rotation(dim))  # same seed
        assert not np.allclose(rot, fn.rotated(2).rotation(dim))  # another seed
    assert fn.rotation(5) is None
    x = np.random.default_rng(2).uniform(-5, 5, 5)
    assert fn.rotated(1)(x) != fn(x)
    assert fn.rotated(1)(x) == FUNCTIONS["ellipsoid"].shifted(1).rotated(1)(x)  # reproducible
    # a rotation keeps distances to the optimum: the rotated sphere is the sphere
    sphere = FUNCTIONS["sphere"].shifted(1)
    assert sphere.rotated(4)(x) == pytest.approx(sphere(x), rel=1e-12)


def test_names_and_shift_offsets_are_stable() -> None:
    fn = FUNCTIONS["rastrigin"]
    assert fn.shifted(1).rotated(2).name == "rastrigin-shift1-rot2"
    assert fn.rotated(2).shifted(1).name == "rastrigin-shift1-rot2"
    assert fn.rotated(2).name == "rastrigin-rot2"
    assert fn.shifted(1).shifted(3).name == "rastrigin-shift3"
    # the offset of a shifted function is what it was before rotations existed (committed results stay valid)
    rng = np.random.default_rng([1, 3, __import__("zlib").crc32(b"rastrigin-shift1")])
    np.testing.assert_array_equal(fn.shifted(1).offset(3), rng.uniform(-5.12 + 1.536, 5.12 - 1.536, size=3))


def test_presets_set_the_grid_and_later_options_override() -> None:
    parser = build_parser()
    args = parser.parse_args(["--seeds", "3", "--preset", "grid32", "--dims", "5"])
    assert args.seeds == PRESETS["grid32"]["seeds"] == 10  # before --preset: replaced
    assert args.dims == "5"  # after: overrides
    assert (args.shift, args.rotate, args.budget) == (1, 1, 100)
    assert args.imports == ["benchmarks.searchers"]
    assert set(PRESETS["grid32"]["functions"].split(",")) == set(FUNCTIONS)
    table = parser.parse_args(["--preset", "grid32-table"])
    assert (table.budget, table.shift, table.rotate, table.dims) == (50, None, None, "5")


@pytest.mark.parametrize("args, message", [
    (["--functions", "nasbench_graph_cora", "--dims", "5", "--shift", "1"], "have neither"),
    (["--functions", "nasbench_graph_cora", "--dims", "2"], "--dims 5"),
])
def test_tables_refuse_shifts_and_other_dims(args: list[str], message: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*args, "--searchers", "random", "--out", str(tmp_path / "x")])
    assert message in capsys.readouterr().err


def _missing_peer(seed: int) -> object:
    raise MissingExtraError("the fake peer needs a package that is not installed")


def test_tiny_grid_runs_every_new_family_the_table_and_each_available_peer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("nas_bench_graph")
    monkeypatch.setitem(PEERS, "fake-missing", _missing_peer)
    searchers = f"{GRID32_SEARCHERS},fake-missing"
    out = tmp_path / "grid"
    assert main(["--preset", "grid32", "--functions", ",".join(GRID32_FAMILIES), "--dims", "2", "--concurrency",
                 "2", "--seeds", "1", "--budget", "5", "--searchers", searchers, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipping searcher 'fake-missing': the fake peer needs a package" in err
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    ran = {r["searcher"] for r in runs}
    expected = set(GRID32_SEARCHERS.split(","))
    try:
        import hebo  # noqa: F401
    except ImportError:
        expected.discard("hebo")
        assert "skipping searcher 'hebo'" in err
    assert ran == expected
    assert {r["function"] for r in runs} == {f"{f}-shift1-rot1" for f in GRID32_FAMILIES}
    assert all(r["n_completed"] == 5 if "n_completed" in r else len(r["values"]) == 5 for r in runs)
    assert all(r["best_at_budget"] >= 0.0 for r in runs)

    table_out = tmp_path / "table"
    assert main(["--preset", "grid32-table", "--functions", "nasbench_graph_cora", "--concurrency", "2",
                 "--seeds", "1", "--budget", "5", "--searchers", searchers, "--out", str(table_out)]) == 0
    runs = json.loads(table_out.with_suffix(".json").read_text())["runs"]
    assert {r["searcher"] for r in runs} == expected
    assert {r["function"] for r in runs} == {"nasbench_graph_cora"}
    for r in runs:
        assert len(r["values"]) == 5 and min(r["values"]) >= 0.0
        assert set(r["best_config"]) == {"link", "op0", "op1", "op2", "op3"}


def test_register_searcher_accepts_the_new_peers() -> None:
    import benchmarks.searchers  # noqa: F401 - registers them

    for name in ("optuna-gp", "optuna-cmaes", "hebo", "pso"):
        assert name in PEERS
    with pytest.raises(ValueError, match="already registered"):
        register_searcher("optuna-gp", _missing_peer)
