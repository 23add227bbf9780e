"""The NAS-Bench-Graph tabular benchmark (benchmarks/tabular.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tabular import LINKS, OPS, TABLES, TabularBenchmark, all_configs

pytest.importorskip("nas_bench_graph")
CORA = TABLES["nasbench_graph_cora"]


def test_space_is_five_tune_choices() -> None:
    from ray.tune.search.sample import Categorical

    space = CORA.param_space(5)
    assert sorted(space) == ["link", "op0", "op1", "op2", "op3"]
    assert all(isinstance(d, Categorical) for d in space.values())
    assert tuple(space["link"].categories) == LINKS and tuple(space["op3"].categories) == OPS
    with pytest.raises(ValueError, match="--dims 5"):
        CORA.param_space(2)


def test_regret_is_zero_at_the_best_and_positive_elsewhere() -> None:
    best = CORA.best_config()
    assert CORA(best) == 0.0
    rng = np.random.default_rng(0)
    configs = all_configs()
    values = [CORA(configs[i]) for i in rng.integers(len(configs), size=300)]
    assert min(values) >= 0.0 and np.median(values) > 1.0  # a random architecture is > 1 point behind
    assert CORA.optimum == 0.0 and CORA.target_value(5) == 0.5


def test_values_are_the_packaged_table() -> None:
    # the package README's example Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]) (cora: validation accuracy
    # 0.79); the package files its link pattern under the canonical 0-1-1-2 with the last two nodes swapped
    from nas_bench_graph import Arch, light_read

    cfg = {"link": "0-1-1-2", "op0": "gcn", "op1": "gin", "op2": "cheb", "op3": "fc"}
    assert CORA.accuracy(cfg) == pytest.approx(0.79)
    assert CORA.accuracy(cfg) == light_read("cora")[Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()][
        "valid_perf"]

    best = max(v["valid_perf"] for v in light_read("cora").values())
    assert CORA(cfg) == pytest.approx(100 * (best - 0.79))
    assert TABLES["nasbench_graph_citeseer"](cfg) != CORA(cfg)


def test_no_network_scores_as_the_worst_and_bad_configs_are_refused() -> None:
    skip = {"link": "0-0-0-0", "op0": "skip", "op1": "skip", "op2": "skip", "op3": "skip"}
    assert CORA.accuracy(skip) is None
    worst = max(CORA(c) for c in all_configs()[:2000])
    assert CORA(skip) >= worst
    with pytest.raises(ValueError, match="op0..op3 in"):
        CORA({**skip, "op2": "transformer"})
    with pytest.raises(ValueError, match="dataset must be one of"):
        TabularBenchmark("x", "mnist")
    with pytest.raises(ValueError, match="constant target"):
        CORA.with_target(lambda d: 1.0)
    assert CORA.with_target(0.2).target_value(5) == 0.2
