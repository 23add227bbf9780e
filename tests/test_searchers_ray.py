"""raytune-llm searchers through Ray Tune itself: tune.run, Tuner, ConcurrencyLimiter, ASHA, Tuner.restore."""

from __future__ import annotations

import os

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter

from raytune_llm import LLMPSOSearcher, LLMSearcher
from raytune_llm.llm.testing import ScriptedBackend
from support.ray_local import local_ray

pytestmark = pytest.mark.ray

SPACE = {"x": tune.uniform(-2.0, 2.0), "y": tune.uniform(-2.0, 2.0), "act": tune.choice(["a", "b"]), "epochs": 3}


def quadratic(config):
    for step in range(config["epochs"]):
        loss = (config["x"] - 0.5) ** 2 + (config["y"] + 0.5) ** 2 + (0.0 if config["act"] == "a" else 0.2)
        tune.report({"loss": loss + 0.1 / (step + 1)})


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    with local_ray():
        yield


def test_tune_run_with_concurrency_limiter(tmp_path):
    answer = {"configs": [{"x": 0.5, "y": -0.5, "act": "a"}, {"x": 0.4, "y": -0.4, "act": "a"}]}
    # the plumbing, not the gate: with the surrogate gate on, some completion orders of the two
    # concurrent trials leave the scripted answer gated out (the gate has its own tests)
    searcher = LLMPSOSearcher(seed=0, llm=ScriptedBackend([answer]), swarm_size=4, warmup=4, llm_every=4,
                              wait_for_llm=True, surrogate_gate=False)
    analysis = tune.run(quadratic, config=SPACE, metric="loss", mode="min", num_samples=12,
                        search_alg=ConcurrencyLimiter(searcher, max_concurrent=2), storage_path=str(tmp_path),
                        name="run", verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 12 and all(t.status == "TERMINATED" for t in analysis.trials)
    assert len(searcher.history) == 12 and {h["origin"] for h in searcher.history} >= {"init", "pso", "llm"}
    assert searcher.best["value"] == pytest.approx(analysis.best_result["loss"])
    events = tmp_path / "run" / "raytune_llm" / "events.jsonl"
    assert events.exists() and '"origin": "llm"' in events.read_text()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(events.parent))


def test_llm_searcher_through_tune_run(tmp_path):
    answer = {"configs": [{"x": 0.5, "y": -0.5, "act": "a"}, {"x": 0.45, "y": -0.55, "act": "a"},
                          {"x": 0.6, "y": -0.4, "act": "a"}, {"x": 0.3, "y": -0.6, "act": "b"}]}
    searcher = LLMSearcher(seed=0, llm=ScriptedBackend([answer]), wait_for_llm=True)
    analysis = tune.run(quadratic, config=SPACE, metric="loss", mode="min", num_samples=8, search_alg=searcher,
                        max_concurrent_trials=2, storage_path=str(tmp_path), name="hist", verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 8 and all(t.status == "TERMINATED" for t in analysis.trials)
    assert searcher.origin_counts().get("llm", 0) == 4 and searcher.best["value"] < 0.11


def test_tuner_with_asha_counts_stopped_trials(tmp_path):
    searcher = LLMPSOSearcher(seed=1, llm=None, swarm_size=4)
    tuner = tune.Tuner(
        quadratic, param_space={**SPACE, "epochs": 4},
        tune_config=tune.TuneConfig(metric="loss", mode="max", search_alg=searcher, num_samples=10,
                                    scheduler=ASHAScheduler(max_t=4, grace_period=1), max_concurrent_trials=2,
                                    reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 10 and not results.errors
    inner = searcher  # ConcurrencyLimiter wraps it; our object keeps the history
    assert len(inner.history) == 10 and all(h["value"] is not None for h in inner.history)
    assert inner.best["value"] == pytest.approx(results.get_best_result().metrics["loss"])


def failing_once(config):
    marker = config["marker"]
    if config["x"] > 1.0 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("simulated crash of one trial")
    tune.report({"loss": (config["x"] - 0.5) ** 2})


def test_crashing_trials_are_counted_not_lost(tmp_path):
    searcher = LLMPSOSearcher(seed=0, llm=None, swarm_size=4)
    space = {"x": tune.uniform(-2.0, 2.0), "marker": str(tmp_path / "crashed")}
    analysis = tune.run(failing_once, config=space, metric="loss", mode="min", num_samples=12,
                        search_alg=searcher, storage_path=str(tmp_path), name="crash", verbose=0,
                        raise_on_failed_trial=False, max_concurrent_trials=2, reuse_actors=True)
    assert len(analysis.trials) == 12 and len(searcher.history) == 12
    errored = [t for t in analysis.trials if t.status == "ERROR"]
    assert len(errored) == sum(h["value"] is None for h in searcher.history)


INTERRUPTED_RUN = """
import os, sys, time
sys.path[:0] = [{tests!r}]
import ray
from ray import tune
from raytune_llm import LLMPSOSearcher
from test_searchers_ray import SPACE, slow_quadratic
from support.interrupt import INTERRUPTED_TRIAL_S, MARKS_ENV, TRIAL_S_ENV
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
         runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}, TRIAL_S_ENV: INTERRUPTED_TRIAL_S,
                                       MARKS_ENV: {marks!r}}}}})
tuner = tune.Tuner(slow_quadratic, param_space=SPACE,
    tune_config=tune.TuneConfig(metric="loss", mode="min", search_alg=LLMPSOSearcher(seed=2, llm=None, swarm_size=4),
                                num_samples=10, max_concurrent_trials=2, reuse_actors=True),
    run_config=tune.RunConfig(storage_path={storage!r}, name="resume", verbose=0))
tuner.fit()
"""


def slow_quadratic(config):
    from support.interrupt import mark_reported, pause_trial

    pause_trial()
    quadratic(config)
    mark_reported()


def test_interrupted_run_resumes_with_tuner_restore(tmp_path):
    from support.interrupt import interrupt_driver

    here = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "resume"
    marks = tmp_path / "marks"
    marks.mkdir()
    code = INTERRUPTED_RUN.format(tests=here, storage=str(tmp_path), marks=str(marks))
    finished_before = interrupt_driver(code, marks, after=5)
    assert 5 <= finished_before < 10
    restored = tune.Tuner.restore(str(path), trainable=slow_quadratic, resume_unfinished=True,
                                  restart_errored=True, param_space=SPACE)
    results = restored.fit()
    assert len(results) == 10 and not results.errors
    assert all(r.metrics.get("loss") is not None for r in results)
    assert len({r.path for r in results}) == 10


def test_resumed_run_summary_counts_every_trial(tmp_path, monkeypatch, caplog):
    # Tuner.restore runs the searcher it pickled, not the one `tuning.run` builds: the summary of a
    # resumed experiment must still carry every trial's origin (the "LLM trials" column) and usage
    from raytune_llm import tuning

    task = tuning.make_task("rastrigin", dim=2)
    kwargs = dict(trials=6, concurrency=2, seed=3, llm=None, storage=str(tmp_path), name="again")
    first = tuning.run(task, "pso", **kwargs)
    again = tuning.run(task, "pso", resume=True, **kwargs)
    assert len(first.origins) == 6 and again.origins == first.origins
    assert again.trials == 6 and again.best_value == pytest.approx(first.best_value)

    # a state that cannot be read back costs the summary its origins, with a warning, not the run
    build = tuning.make_searcher

    def unreadable(*args, **kw):
        searcher = build(*args, **kw)
        searcher.restore_from_dir = lambda path: (_ for _ in ()).throw(OSError(f"cannot read {path}"))
        return searcher

    monkeypatch.setattr(tuning, "make_searcher", unreadable)
    with caplog.at_level("WARNING", logger=tuning.logger.name):
        third = tuning.run(task, "pso", resume=True, **kwargs)
    assert third.trials == 6 and third.best_value == pytest.approx(first.best_value) and third.origins == []
    assert "could not read the restored searcher's state" in caplog.text and "cannot read" in caplog.text
