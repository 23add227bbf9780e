"""The MetaLLMiX leave-one-data-set-out benchmark (benchmarks/metallmix_bench.py).

Order statistics and gaps by hand, the seeded random pool, the store copy without the held-out
data set, the ``--quick`` run end to end (with its cache reused on a rerun), and a scripted LLM
whose accepted configuration is trained apart from the meta-learner's.
"""

from __future__ import annotations

import json
import math
import sys
from itertools import combinations
from pathlib import Path

import pytest

try:
    import benchmarks  # noqa: F401
except ImportError:  # plain `pytest` without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("xgboost")
pytest.importorskip("shap")

from benchmarks import metallmix_bench as bench  # noqa: E402
from raytune_llm.llm.testing import ScriptedBackend  # noqa: E402
from raytune_llm.meta import MetaStore  # noqa: E402
from raytune_llm.space import SearchSpace  # noqa: E402


def test_expected_best_of_matches_enumeration() -> None:
    values = [0.3, 0.9, 0.1, 0.7, 0.5]
    for n in range(1, 6):
        subsets = list(combinations(values, n))
        assert bench.expected_best_of(values, n, "max") == pytest.approx(sum(map(max, subsets)) / len(subsets))
        assert bench.expected_best_of(values, n, "min") == pytest.approx(sum(map(min, subsets)) / len(subsets))
    assert math.isnan(bench.expected_best_of(values, 6, "max"))
    assert bench.expected_best_of([1.0, float("nan"), 2.0], 2, "max") == 2.0  # failed runs are left out


def test_gap_is_positive_when_the_recommendation_is_worse() -> None:
    assert bench.gap(0.90, 0.95, "max") == pytest.approx((0.05, 100 * 0.05 / 0.95))
    assert bench.gap(0.97, 0.95, "max")[0] == pytest.approx(-0.02)
    assert bench.gap(11.0, 10.0, "min") == pytest.approx((1.0, 10.0))
    assert bench.best_of([0.2, None, 0.8, float("nan")], "max") == 0.8


def test_random_pool_is_seeded_per_data_set_and_valid() -> None:
    entry = bench.plan_for("digits", {})
    space = SearchSpace.from_tune(entry["space"])
    a = bench.random_configs(entry["space"], 5, 0, "digits")
    assert a == bench.random_configs(entry["space"], 5, 0, "digits")
    assert a != bench.random_configs(entry["space"], 5, 1, "digits")
    assert a != bench.random_configs(entry["space"], 5, 0, "digits-imbalanced")
    assert bench.random_configs(entry["space"], 8, 0, "digits")[:5] == a  # nested: 20 is a prefix of 50
    for config in a:
        assert config["max_epochs"] == 2 and config["data_fraction"] == 1.0 and config["dataset"] == "digits"
        assert space.repair(config) == config


def test_store_copy_drops_only_the_held_out_experiments(tmp_path: Path) -> None:
    with MetaStore.seed() as seed:
        copy = bench.loo_store(seed, "textures", tmp_path / "loo.sqlite")
        try:
            assert copy.dataset_names() == seed.dataset_names()
            assert copy.dataset_features("textures") == seed.dataset_features("textures")
            assert len(copy.experiments(dataset="textures")) == 0
            assert len(copy) == len(seed) - len(seed.experiments(dataset="textures"))
        finally:
            copy.close()


def test_quick_run_end_to_end_and_cache_reuse(tmp_path: Path) -> None:
    out, cache = tmp_path / "q", tmp_path / "cache.jsonl"
    assert bench.main(["--quick", "--out", str(out), "--cache", str(cache), "--plot"]) == 0
    data = json.loads((tmp_path / "q.json").read_text())
    md = (tmp_path / "q.md").read_text()
    assert data["command"].startswith("python -m benchmarks.metallmix_bench --quick")
    assert f"Command: `{data['command']}`" in md and data["table_markdown"] in md
    assert {"date", "machine", "packages", "load_average_1_5_15", "versions"} <= set(data)
    assert data["settings"]["overrides"] == {"max_epochs": 1, "data_fraction": 0.2} and data["complete"]
    (result,) = data["datasets"]
    rec = result["recommendations"]["meta-learner only"]
    assert rec["path"] == "meta-learner" and rec["attempts"] == 0 and rec["wall_time_s"] > 0
    assert rec["train_config"]["max_epochs"] == 1 and 0.0 <= rec["value_seed0"] <= 1.0
    assert len(result["random"]["values"]) == 3 and result["searches"]["3"]["time_s"] > 0
    rows = data["rows"]
    assert [r["dataset"] for r in rows] == ["digits-imbalanced", "median (1)"]
    row = rows[0]
    assert row["random_best"] == max(result["random"]["values"])
    assert row["gap_abs"] == pytest.approx(row["random_best"] - row["rec_value"])
    assert row["time_ratio"] == pytest.approx(rec["wall_time_s"] / result["searches"]["3"]["time_s"])
    assert (tmp_path / "q.png").stat().st_size > 0
    lines = cache.read_text().splitlines()
    assert len(lines) == 5  # one recommendation + one training of it + three random trainings
    # a rerun reuses every measurement: nothing is added to the cache, the numbers are the same
    assert bench.main(["--quick", "--out", str(tmp_path / "r"), "--cache", str(cache)]) == 0
    assert cache.read_text().splitlines() == lines
    again = json.loads((tmp_path / "r.json").read_text())
    first = again["rows"][0]
    assert first["rec_value"] == row["rec_value"] and first["search_time_s"] == row["search_time_s"]


def test_an_accepted_llm_configuration_is_trained_and_labelled(tmp_path: Path) -> None:
    answer = {"model": "cnn", "configuration": {"num_conv_layers": 1, "filters": 8, "kernel_size": 3, "lr": 0.003,
                                                "dropout": 0.1, "batch_size": 64},
              "expected_metric": 0.9, "explanation": "digits is closest; lr near 3e-3 did best there."}
    verdict = {c: {"score": 5, "reason": "consistent"} for c in ("format", "accuracy", "completeness")}
    backend = ScriptedBackend([answer, verdict])
    cache = bench.Cache(tmp_path / "c.jsonl")
    with MetaStore.seed() as seed:
        result = bench.run_dataset("digits-imbalanced", seed_store=seed, trainer=bench.Trainer(cache),
                                   workdir=tmp_path, recommenders={"meta-learner only": None, "llm scripted": backend},
                                   random_ns=[2, 5], seeds=1, search_seed=0, attempts=2, timeout_s=60.0,
                                   overrides={"max_epochs": 1, "data_fraction": 0.2}, caps={"digits-imbalanced": 2})
    llm = result["recommendations"]["llm scripted"]
    assert llm["path"] == "llm" and llm["judge_mean"] == [5.0] and llm["usage"]["calls"] == 2
    assert llm["train_config"]["lr"] == 0.003 and math.isfinite(llm["value_seed0"])
    assert llm["train_config"] != result["recommendations"]["meta-learner only"]["train_config"]
    # the LLM saw no result of the held-out data set among its similar experiments
    prompt = backend.calls[0][0][1]["content"]
    assert "dataset=digits-imbalanced (distance" not in prompt and "(distance" in prompt
    assert result["random_trials"] == [2] and list(result["searches"]) == ["2"]  # capped at 2
    rows = bench.rows_for(result, [2, 5])
    assert {(r["recommender"], r["random_trials"]) for r in rows} == {("meta-learner only", 2), ("llm scripted", 2)}
    medians = bench.median_rows(rows)
    assert {m["recommender"] for m in medians} == {"meta-learner only", "llm scripted"}
    assert "| digits-imbalanced | llm scripted (llm) | 5.00 | 2 |" in bench.table(rows)
