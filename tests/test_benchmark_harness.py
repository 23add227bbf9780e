"""Tests of the searcher benchmark harness (benchmarks/functions.py, benchmarks/harness.py).

Tiny budgets only: the whole file runs in a few seconds on 2 cores.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    import benchmarks  # noqa: F401
except ImportError:  # plain `pytest` without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.tune.search import Searcher

from benchmarks import harness
from benchmarks.functions import FUNCTIONS, TestFunction, get_function
from benchmarks.harness import (
    PEERS,
    RandomSearcher,
    RunResult,
    compute_evals_to_target,
    make_searcher,
    register_searcher,
    run_searcher,
    summarize,
    to_markdown,
)

BUDGET = 12
DIM = 2


def _run(name: str, seed: int, **kwargs: Any) -> RunResult:
    kw: dict[str, Any] = {"budget": BUDGET, "concurrency": 1, "seed": seed}
    kw.update(kwargs)
    return run_searcher(make_searcher(name, seed), FUNCTIONS["rastrigin"], DIM, name=name, **kw)


# --------------------------------------------------------------------------- #
# Test functions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dim", [2, 5])
def test_function_optimum_and_random_point(name: str, dim: int) -> None:
    fn = FUNCTIONS[name]
    assert fn.name == name
    x_opt = fn.optimum_point(dim)
    lo, hi = fn.bounds
    assert np.all((lo <= x_opt) & (x_opt <= hi))
    assert fn(x_opt) == pytest.approx(fn.optimum, abs=1e-9)
    # Config dicts and arrays agree.
    cfg = {f"x{i}": float(v) for i, v in enumerate(x_opt)}
    assert fn(cfg) == fn(x_opt)
    rng = np.random.default_rng(123)
    for _ in range(5):
        x = rng.uniform(lo, hi, size=dim)
        assert fn(x) > fn.optimum
    target = fn.target_value(dim)
    assert math.isfinite(target) and target > fn.optimum


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_shifted_function_moves_optimum(name: str) -> None:
    fn = FUNCTIONS[name].shifted(0)
    assert fn.name == f"{name}-shift0"
    x_opt = fn.optimum_point(3)
    lo, hi = fn.bounds
    assert np.all((lo < x_opt) & (x_opt < hi))
    assert not np.allclose(x_opt, FUNCTIONS[name].optimum_point(3))
    assert fn(x_opt) == pytest.approx(0.0, abs=1e-9)
    assert fn(FUNCTIONS[name].optimum_point(3)) > 0.0
    np.testing.assert_array_equal(fn.optimum_point(3), FUNCTIONS[name].shifted(0).optimum_point(3))


def test_known_values_and_param_space() -> None:
    assert FUNCTIONS["sphere"]([1.0, 2.0]) == 5.0
    assert FUNCTIONS["rosenbrock"]([0.0, 0.0]) == 1.0
    assert FUNCTIONS["rastrigin"]([1.0, 0.0]) == pytest.approx(1.0)
    assert FUNCTIONS["styblinski_tang"]([0.0]) == pytest.approx(39.16616570377142)
    space = FUNCTIONS["ackley"].param_space(3)
    assert sorted(space) == ["x0", "x1", "x2"]
    assert (space["x2"].lower, space["x2"].upper) == (-32.768, 32.768)
    fn = FUNCTIONS["levy"].with_target(0.5)
    assert isinstance(fn, TestFunction) and fn.target_value(7) == 0.5
    with pytest.raises(ValueError, match="known: ackley"):
        get_function("nope")


# --------------------------------------------------------------------------- #
# Reproducibility
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["random", "optuna"])
def test_same_seed_same_values_different_seed_differs(name: str) -> None:
    a = _run(name, 0)
    b = _run(name, 0)
    c = _run(name, 1)
    assert a.values == b.values and len(a.values) == BUDGET
    assert a.values != c.values
    assert a.best_trace == sorted(a.best_trace, reverse=True)
    assert a.best_at_budget == min(a.values) == a.best_trace[-1]


@pytest.mark.parametrize("name", ["nevergrad-pso", "nevergrad-cma", "hyperopt"])
def test_other_peers_are_seeded(name: str) -> None:
    np.random.seed(1)  # the global RNG must not matter  # noqa: NPY002
    a = _run(name, 0, concurrency=2)
    np.random.seed(2)  # noqa: NPY002
    b = _run(name, 0, concurrency=2)
    assert a.values == b.values and len(a.values) == BUDGET
    assert _run(name, 1, concurrency=2).values != a.values


def test_random_searcher_samples_domains() -> None:
    from ray import tune

    space = {"u": tune.uniform(-1.0, 2.0), "i": tune.randint(3, 6), "c": tune.choice(["a", "b"]),
             "nested": {"l": tune.loguniform(1e-4, 1e-1)}, "const": 7}
    s = RandomSearcher(space=space, metric="value", mode="min", seed=3)
    assert s.set_search_properties("value", "min", {"x": tune.uniform(0, 1)}) is False
    for i in range(20):
        cfg = s.suggest(f"t{i}")
        assert -1.0 <= cfg["u"] <= 2.0 and cfg["i"] in (3, 4, 5) and cfg["c"] in ("a", "b")
        assert 1e-4 <= cfg["nested"]["l"] <= 1e-1 and cfg["const"] == 7
    s2 = RandomSearcher(space=space, metric="value", mode="min", seed=3)
    s3 = RandomSearcher(space=space, metric="value", mode="min", seed=3)
    assert [s2.suggest(str(i)) for i in range(3)] == [s3.suggest(str(i)) for i in range(3)]


# --------------------------------------------------------------------------- #
# Event loop
# --------------------------------------------------------------------------- #
class InFlightCounter(Searcher):
    """Wraps a searcher and records how many trials are in flight."""

    def __init__(self, inner: Searcher) -> None:
        super().__init__()
        self.inner = inner
        self.in_flight: set[str] = set()
        self.max_in_flight = 0
        self.completed: list[str] = []

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> Any:
        cfg = self.inner.suggest(trial_id)
        if isinstance(cfg, dict):
            assert trial_id not in self.in_flight
            self.in_flight.add(trial_id)
            self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        return cfg

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        assert result is not None and set(result) == {"value", "training_iteration", "config"}
        self.in_flight.remove(trial_id)
        self.completed.append(trial_id)
        self.inner.on_trial_complete(trial_id, result, error)


@pytest.mark.parametrize("durations", ["unit", "lognormal"])
def test_concurrency_limit(durations: str) -> None:
    fn = FUNCTIONS["sphere"]
    w = InFlightCounter(RandomSearcher(seed=0))
    r = run_searcher(w, fn, DIM, budget=10, concurrency=4, seed=0, durations=durations)
    assert w.max_in_flight == 4 and not w.in_flight
    assert len(w.completed) == r.n_completed == r.n_started == 10
    assert r.searcher == "InFlightCounter" and not r.stalled and not r.finished
    if durations == "unit":
        assert r.sim_time == 3.0  # batches of 4, 4, 2
        assert w.completed == [f"t{i:04d}" for i in range(10)]
    else:
        assert w.completed != sorted(w.completed)  # heavy tails reorder completions
        again = run_searcher(RandomSearcher(seed=0), fn, DIM, budget=10, concurrency=4, seed=0,
                             durations=durations)
        assert again.values == r.values and again.sim_time == r.sim_time


def test_concurrency_one_is_sequential() -> None:
    w = InFlightCounter(RandomSearcher(seed=0))
    r = run_searcher(w, FUNCTIONS["sphere"], DIM, budget=5, concurrency=1, seed=0)
    assert w.max_in_flight == 1 and r.sim_time == 5.0


class _Delegating(Searcher):
    """Base of the test searchers below: forwards completions to ``self.inner``."""

    inner: Searcher

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result, error)


class FinishAfter(_Delegating):
    def __init__(self, n: int) -> None:
        super().__init__(metric="value", mode="min")
        self.inner = RandomSearcher(seed=0)
        self.n = n
        self.calls = 0

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config)

    def suggest(self, trial_id: str) -> Any:
        self.calls += 1
        return Searcher.FINISHED if self.calls > self.n else self.inner.suggest(trial_id)


def test_finished_stops_and_drains_running_trials() -> None:
    r = run_searcher(FinishAfter(5), FUNCTIONS["sphere"], DIM, budget=20, concurrency=3, seed=0)
    assert r.finished and not r.stalled
    assert r.n_started == r.n_completed == 5


class NoneUntil(_Delegating):
    """Returns None on every third suggest call (or always with ``never=True``)."""

    def __init__(self, never: bool = False) -> None:
        super().__init__(metric="value", mode="min")
        self.never = never
        self.inner = RandomSearcher(seed=0)
        self.calls = self.started = self.completed = 0
        self.none_while_running = False

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        self.inner.set_search_properties(metric, mode, config)
        return False  # pretend the space was already set: accepted by the harness

    def suggest(self, trial_id: str) -> Any:
        self.calls += 1
        if self.never or self.calls % 3 == 1:
            self.none_while_running |= self.started > self.completed
            return None
        self.started += 1
        return self.inner.suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.completed += 1
        super().on_trial_complete(trial_id, result, error)

    def benchmark_extra(self) -> dict[str, Any]:
        return {"calls": self.calls}


def test_always_none_is_stalled_without_hanging() -> None:
    s = NoneUntil(never=True)
    t0 = time.perf_counter()
    r = run_searcher(s, FUNCTIONS["sphere"], DIM, budget=10, concurrency=2, seed=0,
                     max_stall_retries=3, stall_sleep_s=0.001)
    assert time.perf_counter() - t0 < 5.0
    assert r.stalled and r.n_completed == 0 and r.best_at_budget is None and r.evals_to_target is None
    assert r.n_suggest_calls == 4 and r.extra == {"calls": 4}
    assert summarize([r])[0]["stalled_runs"] == 1


def test_intermittent_none_waits_and_retries() -> None:
    s = NoneUntil()
    r = run_searcher(s, FUNCTIONS["sphere"], DIM, budget=6, concurrency=3, seed=0,
                     max_stall_retries=2, stall_sleep_s=0.0)
    assert not r.stalled and r.n_completed == 6
    assert s.none_while_running  # None with trials running: the clock advanced instead
    assert r.sim_time > 2.0  # fewer than 3 slots were in use at some point


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="durations"):
        run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=2, concurrency=1, seed=0,
                     durations="exp")
    with pytest.raises(ValueError, match="concurrency"):
        run_searcher(RandomSearcher(seed=0), FUNCTIONS["sphere"], 2, budget=2, concurrency=0, seed=0)


# --------------------------------------------------------------------------- #
# Metrics and aggregation
# --------------------------------------------------------------------------- #
def _fake(searcher: str, seed: int, values: list[float], *, target: float = 1.0, budget: int = 5,
          overhead: float = 0.001) -> RunResult:
    from benchmarks.harness import best_so_far

    return RunResult(
        searcher=searcher, function="sphere", dim=2, concurrency=1, seed=seed, budget=budget,
        target=target, durations="unit", values=values, best_trace=best_so_far(values),
        evals_to_target=compute_evals_to_target(values, target),
        best_at_budget=min(values) if values else None, best_config=None,
        overhead_s_per_trial=overhead, suggest_s_mean=overhead, suggest_s_p99=overhead,
        complete_s_mean=0.0, n_suggest_calls=len(values), n_started=len(values), stalled=False,
        finished=False, sim_time=float(len(values)), wall_time_s=0.0,
    )


def test_evals_to_target_hand_made() -> None:
    values = [5.0, 3.0, 1.5, 1.0, 0.5]
    assert compute_evals_to_target(values, 1.0) == 4  # <= target counts, 1-based
    assert compute_evals_to_target(values, 0.4) is None
    assert compute_evals_to_target(values, 10.0) == 1
    assert compute_evals_to_target([], 1.0) is None
    r = _fake("a", 0, values)
    assert r.evals_to_target == 4 and r.best_trace == [5.0, 3.0, 1.5, 1.0, 0.5]


def test_plot_traces_legend_tells_the_target_from_the_searchers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past ten searchers the lines turn dashed, like the target line: the legend must name the target.
    import raytune_llm.tuning

    figures: list[Any] = []
    monkeypatch.setattr(raytune_llm.tuning, "save_figure", lambda fig, path, dpi: figures.append(fig) or Path(path))
    runs = [_fake(f"s{i:02d}", 0, [3.0, 2.0, 1.0 + i / 10]) for i in range(11)]
    harness.plot_traces(runs, tmp_path / "t.png")
    (ax,) = figures[0].axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-1] == "target" and labels.count("target") == 1 and len(labels) == 12
    assert "dashed" not in ax.get_title()
    assert ax.get_ylim()[0] == 1.0  # the decade below the lowest value, not symlog's negative margin


def test_summarize_and_markdown() -> None:
    results = [
        _fake("a", 0, [3.0, 0.5, 0.1, 0.1, 0.1]),  # reaches at 2
        _fake("a", 1, [0.9, 0.5, 0.1, 0.1, 0.1]),  # reaches at 1
        _fake("a", 2, [3.0, 2.0, 2.0, 2.0, 2.0]),  # never -> budget + 1 = 6
        _fake("b", 0, [3.0, 3.0, 3.0, 3.0, 3.0], overhead=0.004),
        _fake("b", 1, [4.0, 4.0, 4.0, 4.0, 4.0], overhead=0.002),
    ]
    rows = summarize(results)
    assert [r["searcher"] for r in rows] == ["a", "b"]
    a, b = rows
    assert a["runs"] == 3 and a["success_rate"] == pytest.approx(2 / 3)
    assert a["evals_to_target_median"] == 2.0
    assert (a["evals_to_target_q25"], a["evals_to_target_q75"]) == (1.5, 4.0)
    assert a["best_at_budget_median"] == 0.1
    assert b["success_rate"] == 0.0 and b["evals_to_target_median"] == 6.0
    assert b["best_at_budget_median"] == 3.5
    assert b["overhead_s_per_trial_median"] == pytest.approx(0.003)
    md = to_markdown(rows)
    lines = md.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("| function |")
    assert "| sphere | 2 | 1 | a | 3 |" in lines[2] and "67%" in lines[2]
    assert ">5 [>5, >5]" in lines[3] and "3.00" in lines[3]


# --------------------------------------------------------------------------- #
# Registry and command line
# --------------------------------------------------------------------------- #
def test_registry() -> None:
    assert {"optuna", "hyperopt", "nevergrad-pso", "nevergrad-cma", "random"} <= set(PEERS)
    with pytest.raises(ValueError, match="known: .*optuna"):
        make_searcher("nope", 0)
    with pytest.raises(ValueError, match="already registered"):
        register_searcher("random", lambda seed: RandomSearcher(seed=seed))
    try:
        register_searcher("test-random", lambda seed: RandomSearcher(seed=seed + 1))
        assert isinstance(make_searcher("test-random", 0), RandomSearcher)
    finally:
        PEERS.pop("test-random", None)


def test_main_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stem = tmp_path / "out" / "functions-test"
    rc = harness.main([
        "--functions", "sphere,rastrigin", "--dims", "2", "--concurrency", "1,2", "--seeds", "2",
        "--budget", "6", "--searchers", "random,optuna", "--target", "sphere=0.5", "--out", str(stem),
        "--plot",
    ])
    assert rc == 0
    md = (tmp_path / "out" / "functions-test.md").read_text()
    data = json.loads((tmp_path / "out" / "functions-test.json").read_text())
    assert "| sphere | 2 | 1 | optuna | 2 |" in md and "Command: `python -m benchmarks.harness" in md
    assert len(data["rows"]) == 8 and len(data["runs"]) == 16
    assert {"date", "machine", "python", "packages", "command", "table_markdown"} <= set(data)
    assert data["machine"]["cpu_count"] >= 1 and "ray" in data["packages"]
    assert {r["target"] for r in data["runs"] if r["function"] == "sphere"} == {0.5}
    assert sorted({r["seed"] for r in data["runs"]}) == [0, 1]
    reloaded = harness.load_results(tmp_path / "out" / "functions-test.json")
    assert reloaded[0].values == data["runs"][0]["values"]
    assert (tmp_path / "out" / "functions-test-rastrigin-d2-c2.png").stat().st_size > 0
    assert "| rastrigin | 2 | 2 | random |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--functions", "sphere,nope"], "unknown function"),
        (["--searchers", "random,nope"], "unknown searcher"),
        (["--dims", "two"], "--dims"),
        (["--target", "nope=1"], "--target"),
        (["--first-seed", "-1"], "--first-seed must be >= 0, got -1"),
    ],
)
def test_main_argument_errors(args: list[str], message: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        harness.main([*args, "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_main_resume_runs_only_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stem = tmp_path / "resume"
    base = ["--functions", "sphere", "--dims", "2", "--budget", "5", "--searchers", "random", "--out", str(stem)]
    assert harness.main([*base, "--seeds", "1"]) == 0
    first = harness.load_results(tmp_path / "resume.json")
    log = tmp_path / "resume-runs.jsonl"
    assert len(log.read_text().splitlines()) == 2  # settings + one run
    with log.open("a") as fh:
        fh.write('{"searcher": "random", "values": [1.0')  # a line cut short by a kill

    ran: list[int] = []
    warmed: list[str] = []
    real = harness.run_searcher
    monkeypatch.setattr(harness, "run_searcher",  # budget 5: a run; budget 4: the warm-up
                        lambda *a, **kw: (ran if kw["budget"] == 5 else warmed).append(kw.get("seed"))
                        or real(*a, **kw))
    capsys.readouterr()
    assert harness.main([*base, "--seeds", "2", "--resume"]) == 0
    assert "1 runs kept" in capsys.readouterr().err and ran == [1]  # seed 0 came from the log
    assert len(warmed) == 1
    warmed.clear()
    assert harness.main([*base, "--seeds", "2", "--resume"]) == 0  # nothing to run: only the tables
    assert ran == [1] and warmed == []  # no searcher started, not even the warm-up
    runs = harness.load_results(tmp_path / "resume.json")
    assert [r.seed for r in runs] == [0, 1] and runs[0].values == first[0].values
    assert [json.loads(line).get("seed") for line in log.read_text().splitlines()] == [None, 0, 1]  # cut line gone
    assert json.loads(log.read_text().splitlines()[0])["version"]["packages"]["ray"]

    ran.clear()
    assert harness.main([*base, "--seeds", "1"]) == 0  # without --resume a new log; the old one kept aside
    assert ran == [0] and len(log.read_text().splitlines()) == 2
    assert len((tmp_path / "resume-runs.jsonl.bak").read_text().splitlines()) == 3
    assert "kept as" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        harness.main([*base, "--seeds", "1", "--budget", "7", "--resume"])
    err = capsys.readouterr().err
    assert "cannot resume" in err and "'budget': 5" in err and "'budget': 7" in err

    log.write_text("not a header\n{}\n")
    with pytest.raises(SystemExit):
        harness.main([*base, "--seeds", "1", "--resume"])
    assert "not a run-log header" in capsys.readouterr().err

    header = json.dumps({"settings": {"budget": 5, "durations": "unit", "shift": None},
                         "version": {"commit": "0" * 40, "dirty": False, "packages": {}}})
    log.write_text(header + "\n" + log_line_of(first[0]) + "\n[1, 2]\n")
    ran.clear()
    assert harness.main([*base, "--seeds", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    assert ran == [] and "another version of the code" in err and "1 unreadable lines dropped" in err


def test_main_first_seed_runs_new_seeds(tmp_path: Path) -> None:
    base = ["--functions", "sphere", "--dims", "2", "--budget", "5", "--searchers", "random"]
    assert harness.main([*base, "--seeds", "3", "--out", str(tmp_path / "all")]) == 0
    assert harness.main([*base, "--seeds", "2", "--first-seed", "1", "--out", str(tmp_path / "later")]) == 0
    every = harness.load_results(tmp_path / "all.json")
    later = harness.load_results(tmp_path / "later.json")
    assert [r.seed for r in later] == [1, 2]
    assert [r.values for r in later] == [r.values for r in every[1:]]  # seed 1 is seed 1, wherever it starts


def test_main_closes_every_searcher_it_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # raytune-llm's searchers stop their LLM worker (and a model request still running) on close()
    made, closed = [], []
    real = harness.make_searcher

    def tracked(name: str, seed: int):
        searcher = real(name, seed)
        searcher.close = lambda: closed.append(searcher)
        made.append(searcher)
        return searcher

    monkeypatch.setattr(harness, "make_searcher", tracked)
    assert harness.main(["--functions", "sphere", "--dims", "2", "--budget", "4", "--seeds", "2",
                         "--searchers", "random", "--out", str(tmp_path / "c")]) == 0
    assert len(made) == 3 and closed == made  # the warm-up and both runs, each closed once


def log_line_of(run: harness.RunResult) -> str:
    return json.dumps(run.to_dict())


@pytest.mark.parametrize("name", ["pso-random-configs", "pso-random-edits", "pso-random-configs-gated", "pso-near-best",
                                  "pso-near-best-gated", "pso-near-best-reset", "pso-random-configs-gated-reset",
                                  "pso-near-best-gated-reset", "pso-random-configs-gated-reset-matched",
                                  "pso-random-configs-gated-reset-eighth"])
def test_random_controls_feed_the_llm_pipeline(name: str) -> None:
    """The controls of llm-pso / llm-pso-edits: random answers go through the same screening and
    replacement as the model's (so "LLM beats control" isolates the model), seeded like the rest."""
    import benchmarks.searchers  # noqa: F401  (registers raytune-llm's searchers)

    fn = FUNCTIONS["rastrigin"].shifted(1)
    runs = []
    for _ in range(2):
        searcher = make_searcher(name, 3)
        runs.append(run_searcher(searcher, fn, 2, budget=40, concurrency=1, seed=3, name=name))
        counters = dict(searcher.counters)
        searcher.close()
        assert counters["llm_used"] > 0 and counters["llm_failed"] == 0, counters
    assert runs[0].values == runs[1].values  # same seed, same trials
    assert all(np.isfinite(v) for v in runs[0].values)
    plain = make_searcher("pso", 3)
    other = run_searcher(plain, fn, 2, budget=40, concurrency=1, seed=3, name="pso")
    assert other.values[:8] == runs[0].values[:8] and other.values != runs[0].values  # same start, then replaced


def test_matched_gate_keeps_the_most_pairs_where_in_order_pairing_keeps_fewer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictions (1, 5) for the proposals, (10, 3) for the particles' bests: in order, the package's
    gate keeps one pair (1 with 10); the matched gate keeps two (5 with 10, 1 with 3)."""
    from ray import tune

    from benchmarks import searchers
    from benchmarks.searchers import MatchedGateLLMPSOSearcher
    from raytune_llm import LLMPSOSearcher

    space = {"x": tune.uniform(0, 1)}
    kept = {}
    for cls in (LLMPSOSearcher, MatchedGateLLMPSOSearcher):
        s = cls(seed=0, llm=None, telemetry=False, metric="loss", mode="min", space=space, swarm_size=4)
        for i in range(8):
            s.on_trial_complete(str(i), {"loss": s.suggest(str(i))["x"]})
        targets = s.pso.injection_targets()[:2]
        for particle, best in zip(targets, (0.10, 0.03)):  # the particles' bests, predicted 10 and 3
            s.pso.particles[particle].best_x = np.array([best])
        predict = lambda x_hist, y_hist, xs: 100 * np.asarray(xs)[:, 0]  # noqa: E731  (the value is x)
        monkeypatch.setattr("raytune_llm.searchers.llm_pso.kernel_predict", predict)
        monkeypatch.setattr(searchers, "kernel_predict", predict)
        xs = np.array([[0.01], [0.05]])
        _, configs, particles = s._gate(xs, [{"x": 0.01}, {"x": 0.05}], np.zeros((8, 1)), np.zeros(8))
        kept[cls] = (configs, particles, s.counters["llm_gated"], targets)
        monkeypatch.undo()
    worst, second = kept[LLMPSOSearcher][3]
    assert kept[LLMPSOSearcher][:3] == ([{"x": 0.01}], [worst], 1)
    assert kept[MatchedGateLLMPSOSearcher][:3] == ([{"x": 0.01}, {"x": 0.05}], [second, worst], 0)


def test_percent_searcher_shows_and_reads_percentages_of_each_range() -> None:
    """``llm-pso-percent``: the LLM sees integers 0-100 (log ranges on a log scale), and its answers
    are mapped back into the real space before the package's screening."""
    from ray import tune

    from benchmarks.searchers import PercentLLMPSOSearcher
    from raytune_llm.llm.testing import ScriptedBackend

    asked: list[tuple[Any, Any]] = []

    def answer(messages: Any, schema: dict[str, Any]) -> dict[str, Any]:
        asked.append((messages, schema))
        n = schema["properties"]["configs"]["minItems"]
        return {"configs": [{"x": 10 + i, "lr": 50, "act": "tanh"} for i in range(n)]}

    space = {"x": tune.uniform(-5, 5), "lr": tune.loguniform(1e-4, 1e-2), "act": tune.choice(["relu", "tanh"])}
    searcher = PercentLLMPSOSearcher(seed=0, llm=ScriptedBackend([answer]), wait_for_llm=True, telemetry=False,
                                     metric="loss", mode="min", space=space)
    for i in range(9):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": config["x"] ** 2})
    prompt = asked[0][0][-1]["content"]
    assert "percentage of its parameter's range" in prompt and "x | int | 0 | 100 |" in prompt
    done = re.search(r"Trials completed: (\d+)", prompt)
    asked_at = int(done.group(1)) if done else len(searcher.history)  # the best trial when the LLM was asked
    best = min(searcher.history[:asked_at], key=lambda h: h["value"])
    shown = searcher._to_percent(best["config"])
    assert f"x={shown['x']}" in prompt and 0 <= shown["x"] <= 100
    props = asked[0][1]["properties"]["configs"]["items"]["properties"]
    assert props["x"] == {"type": "integer", "minimum": 0, "maximum": 100} and props["act"] == {"enum": ["relu", "tanh"]}
    llm = [h["config"] for h in searcher.history if h["origin"] == "llm"]
    while not llm:
        config = searcher.suggest(str(len(searcher.history)))
        searcher.on_trial_complete(str(len(searcher.history)), {"loss": config["x"] ** 2})
        llm = [h["config"] for h in searcher.history if h["origin"] == "llm"]
    assert llm[0]["act"] == "tanh" and llm[0]["lr"] == pytest.approx(1e-3, rel=1e-6)  # 50% of a log range
    n = asked[0][1]["properties"]["configs"]["minItems"]
    assert any(llm[0]["x"] == pytest.approx(-5 + 0.1 * (10 + i)) for i in range(n))  # 10% of [-5, 5] is -4
    searcher.close()


def test_percent_searcher_refuses_normal_priors() -> None:
    """A normal prior has no range to take a percentage of: the probe says so when it gets the space."""
    from ray import tune

    from benchmarks.searchers import PercentLLMPSOSearcher

    space = {"x": tune.uniform(-5, 5), "w": tune.randn(0, 1)}
    with pytest.raises(ValueError, match=r"\['w'\] have normal priors.*use llm-pso"):
        PercentLLMPSOSearcher(seed=0, llm=None, metric="loss", mode="min", space=space)


def test_every_llm_pso_name_pins_the_gate_and_the_reset_its_name_says():
    """A registered name means one configuration in every result file, whatever LLMPSOSearcher's
    defaults: the gate and the velocity reset are on only where the name says ``gated`` / ``reset``, a
    fraction of 1/8 replaced only where it says ``eighth``."""
    from ray import tune

    import benchmarks.searchers  # noqa: F401  (registers raytune-llm's searchers)
    from raytune_llm import LLMPSOSearcher

    names = [n for n in PEERS if n.startswith(("llm-pso", "pso-random", "pso-near-best")) and not n.endswith("-gp")]
    assert {"llm-pso", "llm-pso-gated-reset", "pso-near-best-reset", "llm-pso-percent"} <= set(names)
    for name in names:
        searcher = make_searcher(name, 0)
        assert isinstance(searcher, LLMPSOSearcher)
        searcher.set_search_properties("v", "min", {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)})
        assert searcher.surrogate is None and searcher.surrogate_gate is ("gated" in name), name
        assert searcher.pso is not None and searcher.pso.reset_injected_velocity is ("reset" in name), name
        assert searcher.replace_fraction == (0.125 if name.endswith("-eighth") else 0.25), name
        searcher.close()
