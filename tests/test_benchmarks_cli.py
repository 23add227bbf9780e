"""Tests of ``python -m benchmarks`` (benchmarks/__main__.py) and the parts it runs.

The entry point runs on ``--quick`` for every part but the Ray Tune tasks (marked slow/ray);
the generation barrier of the synchronous PSO and the busy fraction are checked by hand.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    import benchmarks  # noqa: F401
except ImportError:  # plain `pytest` without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune
from ray.tune.search import Searcher

from benchmarks import __main__ as entry
from benchmarks import tasks, utilisation
from benchmarks.functions import FUNCTIONS
from benchmarks.harness import RandomSearcher, RunResult, compute_evals_to_target, run_searcher
from benchmarks.utilisation import GenerationBarrier, best_by_time, summarize_utilisation
from raytune_llm import LLMPSOSearcher

DATE = "2000-01-01"


def _model_available() -> bool:
    try:
        import llama_cpp  # noqa: F401

        from raytune_llm.llm.llama_cpp import embedded_model_path

        embedded_model_path()
    except Exception:  # noqa: BLE001 - any missing piece means: skip
        return False
    return True


def _read(out: Path, stem: str) -> dict[str, Any]:
    md = (out / f"{stem}.md").read_text()
    data = json.loads((out / f"{stem}.json").read_text())
    assert {"date", "machine", "python", "packages", "command", "table_markdown", "rows", "runs"} <= set(data)
    assert data["command"].startswith("python -m benchmarks.") and f"Command: `{data['command']}`" in md
    assert data["table_markdown"] in md and data["rows"]
    return data


# --------------------------------------------------------------------------- #
# The entry point
# --------------------------------------------------------------------------- #
def test_plan_lists_every_part_with_dated_stems() -> None:
    commands = entry.plan("all", quick=False, out="res", date=DATE)
    assert [m for m, _ in commands] == ["benchmarks.harness", "benchmarks.tasks", "benchmarks.tasks",
                                        "benchmarks.overhead", "benchmarks.utilisation", "benchmarks.llm_cost",
                                        "benchmarks.metallmix_bench", "benchmarks.llm_rank_probe",
                                        "benchmarks.llm_proposal_probe", "benchmarks.load"]
    stems = ["functions", "tasks-cnn", "tasks-lstm", *entry.PARTS[2:]]
    for (_, argv), stem in zip(commands, stems, strict=True):
        assert argv[argv.index("--out") + 1] == str(Path("res") / f"{stem}-{DATE}")
    cnn, lstm = commands[1][1], commands[2][1]  # what the committed task results ran
    assert cnn[cnn.index("--tasks") + 1] == "cnn" and cnn[cnn.index("--dataset") + 1] == "mnist-lowres"
    assert lstm[lstm.index("--tasks") + 1] == "lstm" and "--max-epochs" in lstm and "--data-fraction" in lstm
    functions = commands[0][1]
    searchers = functions[functions.index("--searchers") + 1].split(",")
    assert set(searchers) == {"optuna", "hyperopt", "nevergrad-pso", "nevergrad-cma", "random",
                              "llm-pso-gated-reset", "pso", "llm", "sobol", "pso-random-configs-gated-reset"}
    assert functions[functions.index("--concurrency") + 1] == "1,8"
    assert "100,1000,5000" in commands[3][1]
    loo = commands[6][1]  # every training kept beside the results, reused by a rerun
    assert loo[loo.index("--cache") + 1] == str(Path("res") / f"metallmix-loo-{DATE}-runs.jsonl")
    assert loo[loo.index("--llm") + 1] == "embedded" and commands[7][1][commands[7][1].index("--llm") + 1] == "embedded"
    quick = entry.plan("overhead", quick=True, out="res", date=DATE, extra=["--searchers", "pso"])
    assert quick[0][1][-2:] == ["--searchers", "pso"] and f"overhead-{DATE}-quick" in " ".join(quick[0][1])


def test_all_refuses_part_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        entry.main(["all", "--seeds", "3"])
    assert exc.value.code == 2 and "single part" in capsys.readouterr().err


def test_quick_functions(tmp_path: Path) -> None:
    assert entry.main(["functions", "--quick", "--out", str(tmp_path), "--date", DATE]) == 0
    data = _read(tmp_path, f"functions-{DATE}-quick")
    assert {r["searcher"] for r in data["rows"]} == {"optuna", "hyperopt", "nevergrad-pso", "nevergrad-cma", "random",
                                                    "pso", "sobol"}
    assert {r["concurrency"] for r in data["rows"]} == {1, 2} and all(r["runs"] == 2 for r in data["rows"])
    assert all(len(r["values"]) == 8 and r["busy_time"] > 0 for r in data["runs"])
    assert (tmp_path / f"functions-{DATE}-quick-rastrigin-d2-c2.png").stat().st_size > 0


def test_overhead_measures_every_peer_by_default() -> None:
    from benchmarks import harness, overhead

    assert set(harness.BASELINES) <= set(overhead.ROWS)
    assert set(overhead.ROWS) == set(overhead.makers(np.random.default_rng(0)))
    assert entry.PEER_NAMES.split(",") == list(harness.BASELINES)


def test_quick_overhead_and_extra_options(tmp_path: Path) -> None:
    assert entry.main(["overhead", "--quick", "--out", str(tmp_path), "--date", DATE,
                       "--searchers", "pso,llm-pso-instant,optuna,nevergrad-cma", "--peer-max-trials", "20"]) == 0
    data = _read(tmp_path, f"overhead-{DATE}-quick")
    rows = {(r["key"], r["requested_trials"]): r for r in data["rows"]}
    assert set(rows) == {(k, n) for k in ("pso", "llm-pso-instant", "optuna", "nevergrad-cma") for n in (20, 40)}
    for peer in ("optuna", "nevergrad-cma"):
        assert rows[(peer, 40)]["trials"] == 20 and rows[(peer, 40)]["capped"]
    assert rows[("pso", 40)]["trials"] == 40 and not rows[("pso", 40)]["capped"]
    assert rows[("llm-pso-instant", 40)]["llm_positions_used"] > 0
    assert all(r["overhead_ms_per_trial"] > 0 for r in data["rows"])
    assert "capped at 20" in data["table_markdown"]


def test_quick_utilisation(tmp_path: Path) -> None:
    assert entry.main(["utilisation", "--quick", "--out", str(tmp_path), "--date", DATE]) == 0
    data = _read(tmp_path, f"utilisation-{DATE}-quick")
    rows = {(r["durations"], r["searcher"]): r for r in data["rows"]}
    assert set(rows) == {(d, s) for d in ("lognormal", "pareto") for s in utilisation.SEARCHERS}
    for d in ("lognormal", "pareto"):
        # the same durations per seed: the barrier can only lose slot-time and time
        assert rows[(d, "sync-pso")]["busy_fraction_median"] < rows[(d, "async-pso")]["busy_fraction_median"]
        assert rows[(d, "sync-pso")]["time_to_budget_median"] > rows[(d, "async-pso")]["time_to_budget_median"]
    runs = [RunResult.from_dict(r) for r in data["runs"]]
    assert all(r.n_completed == 16 and 0 < r.busy_fraction <= 1 for r in runs)
    assert all(r.extra["generations"] == 4 for r in runs if r.searcher == "sync-pso")
    assert (tmp_path / f"utilisation-{DATE}-quick.png").stat().st_size > 0


def test_quick_llm_rank_probe_uses_the_test_double(tmp_path: Path) -> None:
    assert entry.main(["llm-rank-probe", "--quick", "--out", str(tmp_path), "--date", DATE]) == 0
    data = _read(tmp_path, f"llm-rank-probe-{DATE}-quick")
    assert "--llm scripted-first" in data["command"]


def test_quick_llm_proposal_probe_uses_the_test_double(tmp_path: Path) -> None:
    assert entry.main(["llm-proposal-probe", "--quick", "--out", str(tmp_path), "--date", DATE]) == 0
    data = _read(tmp_path, f"llm-proposal-probe-{DATE}-quick")
    assert "--llm scripted-empty" in data["command"]


@pytest.mark.skipif(not _model_available(), reason="needs llama-cpp-python and the embedded model's file")
def test_quick_llm_cost(tmp_path: Path) -> None:
    assert entry.main(["llm-cost", "--quick", "--out", str(tmp_path), "--date", DATE]) == 0
    data = _read(tmp_path, f"llm-cost-{DATE}-quick")
    prompts = data["prompts"]
    assert {p["searcher"] for p in prompts} == {"llm-pso", "llm"}
    assert all(0 < p["prompt_tokens"] < p["chars"] for p in prompts)
    # llm-pso asks the LLM once its 8 particles have reported, then every 8 trials
    assert [p["completed"] for p in prompts if p["searcher"] == "llm-pso"][:2] == [8, 16]
    assert {r["at"] for r in data["rows"]} >= {"10", "largest"}
    # the committed runs of benchmarks/results with LLM usage, when this checkout has them
    for row in data["committed_usage"]:
        assert row["prompt_per_trial_median"] > 0 and row["completion_per_trial_median"] > 0


@pytest.mark.skipif(not _model_available(), reason="needs llama-cpp-python and the embedded model's file")
def test_token_counter_counts_the_chat_template() -> None:
    from benchmarks.llm_cost import ChatTokenCounter

    counter = ChatTokenCounter()
    short = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    longer = [short[0], {"role": "user", "content": "Hi " * 50}]
    assert 5 < counter.count(short) < 30  # role markers and the generation prompt count too
    assert counter.count(longer) >= counter.count(short) + 49


# --------------------------------------------------------------------------- #
# Busy fraction and the generation barrier
# --------------------------------------------------------------------------- #
def test_busy_fraction_by_hand_unit_durations() -> None:
    # 2 slots, 3 unit trials: two at [0, 1], one at [1, 2]; 3 of 4 slot-time units busy
    r = run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=3, concurrency=2, seed=0)
    assert (r.busy_time, r.sim_time, r.busy_fraction) == (3.0, 2.0, 0.75)
    assert r.finish_times == [1.0, 1.0, 2.0]


def test_busy_fraction_by_hand_lognormal() -> None:
    d0, d1, d2 = np.random.default_rng(5).lognormal(0.0, 1.0, 3)
    r = run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=3, concurrency=2, seed=5,
                     durations="lognormal")
    makespan = max(d0, d1, min(d0, d1) + d2)  # the third trial takes the first free slot
    assert r.sim_time == pytest.approx(makespan)
    assert r.busy_time == pytest.approx(d0 + d1 + d2)
    assert r.busy_fraction == pytest.approx((d0 + d1 + d2) / (2 * makespan))


def test_busy_fraction_of_old_results_is_none() -> None:
    r = run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=2, concurrency=1, seed=0)
    old = {k: v for k, v in r.to_dict().items() if k not in ("busy_time", "finish_times")}
    loaded = RunResult.from_dict(old)
    assert loaded.busy_time is None and loaded.busy_fraction is None and loaded.finish_times == []


def test_pareto_durations_are_heavy_tailed_and_seeded() -> None:
    a = run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=200, concurrency=1, seed=3,
                     durations="pareto")
    b = run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=200, concurrency=1, seed=3,
                     durations="pareto")
    d = np.diff([0.0, *a.finish_times])
    assert a.finish_times == b.finish_times and d.min() >= 1.0 and d.max() > 5 * np.median(d)


class EventLog(Searcher):
    """Forwards to ``inner`` and logs ("suggest", id) / ("complete", id) events."""

    def __init__(self, inner: Searcher) -> None:
        super().__init__()
        self.inner = inner
        self.events: list[tuple[str, str]] = []

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> Any:
        cfg = self.inner.suggest(trial_id)
        if isinstance(cfg, dict):
            self.events.append(("suggest", trial_id))
        return cfg

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.events.append(("complete", trial_id))
        self.inner.on_trial_complete(trial_id, result, error)


def _barrier_violations(events: list[tuple[str, str]], generation: int) -> int:
    """Suggestions of generation g made while a trial of generation g-1 was still running."""
    suggested: list[str] = []
    completed: set[str] = set()
    violations = 0
    for kind, trial_id in events:
        if kind == "complete":
            completed.add(trial_id)
            continue
        g = len(suggested) // generation
        if g > 0 and not set(suggested[(g - 1) * generation: g * generation]) <= completed:
            violations += 1
        suggested.append(trial_id)
    return violations


@pytest.mark.parametrize("durations", ["lognormal", "pareto"])
def test_sync_pso_barrier_holds(durations: str) -> None:
    sync = EventLog(utilisation.make("sync-pso", 0, 4))
    r = run_searcher(sync, FUNCTIONS["rastrigin"], 3, budget=20, concurrency=4, seed=0, durations=durations)
    assert r.n_completed == 20 and not r.stalled
    assert _barrier_violations(sync.events, 4) == 0
    assert sync.inner.generations_started == 5
    # the check can fail: without the barrier the same durations start trials early
    free = EventLog(utilisation.make("async-pso", 0, 4))
    r_async = run_searcher(free, FUNCTIONS["rastrigin"], 3, budget=20, concurrency=4, seed=0, durations=durations)
    assert _barrier_violations(free.events, 4) > 0
    assert r.sim_time > r_async.sim_time and r.busy_fraction < r_async.busy_fraction


def test_barrier_by_hand_and_errored_trials_release_it() -> None:
    pso = LLMPSOSearcher(llm=None, seed=0, swarm_size=2, metric="v", mode="min", telemetry=False,
                         space={"x": tune.uniform(-1, 1)})
    sync = GenerationBarrier(pso, generation=2)
    assert isinstance(sync.suggest("a"), dict) and isinstance(sync.suggest("b"), dict)
    assert sync.suggest("c") is None
    sync.on_trial_complete("a", error=True)
    assert sync.suggest("c") is None
    sync.on_trial_complete("b", {"v": 0.5})
    assert isinstance(sync.suggest("c"), dict) and sync.generations_started == 2
    with pytest.raises(ValueError, match="generation must be >= 1"):
        GenerationBarrier(pso, generation=0)


def test_sync_makespan_by_hand() -> None:
    # 2 slots, generations of 2: the second generation starts when the slower of the first ends
    d = np.random.default_rng(7).lognormal(0.0, 1.0, 4)
    r = run_searcher(utilisation.make("sync-pso", 0, 2), FUNCTIONS["sphere"], 2, budget=4, concurrency=2, seed=7,
                     durations="lognormal")
    assert r.sim_time == pytest.approx(max(d[0], d[1]) + max(d[2], d[3]))
    assert r.busy_fraction == pytest.approx(d.sum() / (2 * r.sim_time))


def test_best_at_common_time() -> None:
    def fake(searcher: str, values: list[float], times: list[float]) -> RunResult:
        return RunResult(searcher=searcher, function="f", dim=1, concurrency=1, seed=0, budget=len(values), target=0.0,
                         durations="unit", values=values, best_trace=list(np.minimum.accumulate(values)),
                         evals_to_target=None, best_at_budget=min(values), best_config=None, overhead_s_per_trial=0,
                         suggest_s_mean=0, suggest_s_p99=0, complete_s_mean=0, n_suggest_calls=len(values),
                         n_started=len(values), stalled=False, finished=False, sim_time=times[-1], wall_time_s=0,
                         busy_time=float(len(values)), finish_times=times)

    fast, slow = fake("fast", [3.0, 2.0, 1.5], [1.0, 2.0, 3.0]), fake("slow", [4.0, 1.0, 0.5], [2.0, 4.0, 6.0])
    assert best_by_time(slow, 3.0) == 4.0 and best_by_time(slow, 1.0) is None
    rows = {r["searcher"]: r for r in summarize_utilisation([fast, slow])}
    assert rows["slow"]["best_at_common_time_median"] == 4.0 and rows["slow"]["best_at_budget_median"] == 0.5
    assert rows["fast"]["best_at_common_time_median"] == 1.5
    assert rows["slow"]["busy_fraction_median"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- #
# Ray Tune tasks
# --------------------------------------------------------------------------- #
def test_task_budgets_and_targets_without_ray() -> None:
    assert compute_evals_to_target([0.2, None, 0.7, 0.9], 0.7, "max") == 3
    assert compute_evals_to_target([0.2, 0.5], 0.7, "max") is None
    assert tasks.best_at([None, 0.5, 0.9, 0.7], [1, 2, 4], "max") == {"1": None, "2": 0.5, "4": 0.9}
    assert tasks.best_at([3.0, 1.0], [1, 5], "min") == {"1": 3.0, "5": 1.0}
    runs = [RunResult(searcher=s, function="cnn", dim=3, concurrency=1, seed=0, budget=3, target=math.nan,
                      durations="ray-tune", values=v, best_trace=[], evals_to_target=None, best_at_budget=max(v),
                      best_config=None, overhead_s_per_trial=0, suggest_s_mean=0, suggest_s_p99=0, complete_s_mean=0,
                      n_suggest_calls=0, n_started=3, stalled=False, finished=False, sim_time=1, wall_time_s=1,
                      extra={"mode": "max", "metric": "val_accuracy"})
            for s, v in (("a", [0.1, 0.6, 0.8]), ("b", [0.5, 0.5, 0.6]), ("c", [0.9, 0.2, 0.2]))]
    assert tasks.apply_targets(runs, {}) == {"cnn": 0.8}  # median of the best values 0.8, 0.6, 0.9
    assert [r.evals_to_target for r in runs] == [3, None, 1]
    assert tasks.apply_targets(runs, {"cnn": 0.5}) == {"cnn": 0.5}
    assert [r.evals_to_target for r in runs] == [2, 1, 1]


@pytest.mark.slow
@pytest.mark.ray
def test_tasks_runner_through_ray_tune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytorch_lightning")
    stem = tmp_path / "tasks"
    args = ["--tasks", "lstm", "--searchers", "pso", "--seeds", "1", "--trials", "2", "--budgets", "1,2",
            "--max-epochs", "1", "--data-fraction", "0.05", "--concurrency", "1", "--num-cpus", "1",
            "--storage", str(tmp_path / "ray"), "--out", str(stem)]
    assert tasks.main(args) == 0
    data = json.loads((tmp_path / "tasks.json").read_text())
    (run,) = data["runs"]
    assert run["function"] == "lstm" and len(run["values"]) == 2 and all(v > 0 for v in run["values"])
    assert run["extra"]["best_at"]["2"] == min(run["values"]) and run["extra"]["origins"]
    (row,) = data["rows"]
    assert row["metric"] == "val_rmse" and row["best_at_2"]["median"] == min(run["values"])
    assert data["targets"]["lstm"] == min(run["values"])
    assert (tmp_path / "tasks-lstm.png").stat().st_size > 0

    def no_rerun(*args: object, **kwargs: object) -> None:
        raise AssertionError("--resume ran a run that the log already had")

    monkeypatch.setattr(tasks, "run_task", no_rerun)
    assert tasks.main([*args, "--resume"]) == 0
    assert json.loads((tmp_path / "tasks.json").read_text())["runs"][0]["values"] == run["values"]


@pytest.mark.slow
@pytest.mark.ray
def test_tasks_runner_metallmix_meta_learner(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    pytest.importorskip("xgboost")
    stem = tmp_path / "tasks-meta"
    assert tasks.main(["--tasks", "lstm", "--searchers", "metallmix-meta", "--seeds", "1", "--trials", "2",
                       "--budgets", "2", "--max-epochs", "1", "--data-fraction", "0.05", "--concurrency", "1",
                       "--num-cpus", "1", "--storage", str(tmp_path / "ray"), "--out", str(stem)]) == 0
    (run,) = json.loads((tmp_path / "tasks-meta.json").read_text())["runs"]
    assert run["searcher"] == "metallmix-meta" and len(run["values"]) == 2 and all(v > 0 for v in run["values"])
    assert set(run["extra"]["origins"]) == {"meta-learner"}  # n_warm=3 > 2 trials: both warm
    assert (tmp_path / "ray" / "meta-without-aq-no2-hourly.sqlite").is_file()


@pytest.mark.parametrize(("dataset", "dropped"), [("textures", {"textures"}),
                                                  ("mnist-lowres", {"mnist", "mnist-lowres"}),
                                                  ("aq-no2-hourly", {"aq-no2-hourly", "aq-bgno2-hourly"})])
def test_meta_store_without_drops_the_task_data_set_and_its_siblings(tmp_path: Path, dataset: str,
                                                                    dropped: set[str]) -> None:
    pytest.importorskip("xgboost")
    from raytune_llm.meta import MetaStore

    path = tasks.meta_store_without(dataset, tmp_path)
    assert tasks.meta_store_without(dataset, tmp_path) == path  # made once per directory
    assert [p.name for p in tmp_path.iterdir()] == [Path(path).name]  # no temporary file left
    with MetaStore(path) as store, MetaStore.seed() as seed:
        left = store.experiments()
        kept = seed.experiments()
        assert set(left["dataset"]) == set(kept["dataset"]) - dropped
        assert len(left) == (~kept["dataset"].isin(dropped)).sum()
        assert dropped <= set(store.dataset_names())  # still described by their meta-features


def test_raytune_llm_bench_forwards(monkeypatch: pytest.MonkeyPatch) -> None:
    from raytune_llm import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(entry, "main", lambda argv: seen.append(list(argv)) or 0)
    assert cli.main(["bench", "utilisation", "--quick", "--out", "x"]) == 0
    assert seen == [["utilisation", "--quick", "--out", "x"]]
