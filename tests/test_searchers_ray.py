"""raytune-llm searchers through Ray Tune itself: tune.run, Tuner, ConcurrencyLimiter, ASHA, Tuner.restore.

The Tune contract (ASHA, ``Tuner.restore`` after an interrupted driver) is checked for each of the three
searchers, on the conformance suite's space; MetaLLMiX learns from the small meta-dataset of
``support/metastores.py``, which was built on that space.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from conformance.suite import SPACE as CONFORMANCE_SPACE
from conformance.suite import objective
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from support.metastores import features
from support.ray_local import local_ray
from support.tensorboard import tb_scalars

from raytune_llm import LLMPSOSearcher, LLMSearcher, MetaLLMiXSearcher
from raytune_llm.llm.testing import ScriptedBackend

pytestmark = pytest.mark.ray

SPACE = {"x": tune.uniform(-2.0, 2.0), "y": tune.uniform(-2.0, 2.0), "act": tune.choice(["a", "b"]), "epochs": 3}
SEARCHERS = ("LLMPSOSearcher", "LLMSearcher", "MetaLLMiXSearcher")


def make_searcher(name: str, *, seed: int, meta: str | None = None, **kwargs):
    """One of the three searchers, classical (``llm=None``) unless ``kwargs`` say otherwise."""
    kwargs.setdefault("llm", None)
    if name == "LLMPSOSearcher":
        return LLMPSOSearcher(seed=seed, swarm_size=4, **kwargs)
    if name == "LLMSearcher":
        return LLMSearcher(seed=seed, **kwargs)
    if name == "MetaLLMiXSearcher":
        return MetaLLMiXSearcher(meta=meta, features=features(5, 1000), task="image-classification", seed=seed,
                                 n_warm=3, inner=LLMPSOSearcher(llm=None, seed=seed, swarm_size=4, telemetry=False),
                                 **kwargs)
    raise ValueError(f"unknown searcher {name!r}; one of {SEARCHERS}")


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
    # concurrent trials leave the scripted answer gated out (the gate has its own tests); no model or
    # perturbation proposals either, which would outrank it
    searcher = LLMPSOSearcher(seed=0, llm=ScriptedBackend([answer]), swarm_size=4, warmup=4, llm_every=4,
                              wait_for_llm=True, surrogate_gate=False, surrogate_options={"proposers": []})
    analysis = tune.run(quadratic, config=SPACE, metric="loss", mode="min", num_samples=12,
                        search_alg=ConcurrencyLimiter(searcher, max_concurrent=2), storage_path=str(tmp_path),
                        name="run", verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 12 and all(t.status == "TERMINATED" for t in analysis.trials)
    assert len(searcher.history) == 12 and {h["origin"] for h in searcher.history} >= {"init", "pso", "llm"}
    assert searcher.best["value"] == pytest.approx(analysis.best_result["loss"])
    events = tmp_path / "run" / "raytune_llm" / "events.jsonl"
    assert events.exists() and '"origin": "llm"' in events.read_text()
    # the TensorBoard scalars, read back: the running best and each origin's values, trial by trial
    scalars = tb_scalars(events.parent)
    values = [h["value"] for h in searcher.history]
    assert scalars["search/best"] == pytest.approx([min(values[:i + 1]) for i in range(12)], rel=1e-5)
    for origin in ("init", "pso", "llm"):
        assert scalars[f"search/value_{origin}"] == pytest.approx(
            [h["value"] for h in searcher.history if h["origin"] == origin], rel=1e-5), origin
    # the default acquisition's draw (GP-Hedge): a probability per acquisition, summing to one
    p_ei, p_lcb = scalars["surrogate/p_ei"], scalars["surrogate/p_lcb"]
    assert len(p_ei) == 12 and all(math.isclose(a + b, 1.0, rel_tol=1e-5) for a, b in zip(p_ei, p_lcb))
    # even at first (no gains yet), then moved by the results (the hedge learns within the run)
    assert p_ei[0] == pytest.approx(0.5) and len({round(p, 6) for p in p_ei}) > 1
    # one point per answer the searcher read (the last may arrive after the last trial)
    assert 1 <= len(scalars["llm/prompt_tokens"]) <= searcher.llm_usage.succeeded
    assert all(t > 0 for t in scalars["llm/prompt_tokens"])


def test_llm_searcher_through_tune_run(tmp_path):
    answer = {"configs": [{"x": 0.5, "y": -0.5, "act": "a"}, {"x": 0.45, "y": -0.55, "act": "a"},
                          {"x": 0.6, "y": -0.4, "act": "a"}, {"x": 0.3, "y": -0.6, "act": "b"}]}
    searcher = LLMSearcher(seed=0, llm=ScriptedBackend([answer]), wait_for_llm=True)
    analysis = tune.run(quadratic, config=SPACE, metric="loss", mode="min", num_samples=8, search_alg=searcher,
                        max_concurrent_trials=2, storage_path=str(tmp_path), name="hist", verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 8 and all(t.status == "TERMINATED" for t in analysis.trials)
    assert searcher.origin_counts().get("llm", 0) == 4 and searcher.best["value"] < 0.11


def objective_epochs(config):
    for step in range(4):
        tune.report({"score": objective(config) + 0.1 / (step + 1)})


@pytest.mark.parametrize("name", SEARCHERS)
def test_tuner_with_asha_counts_stopped_trials(name, meta_path, tmp_path):
    searcher = make_searcher(name, seed=1, meta=meta_path)
    tuner = tune.Tuner(
        objective_epochs, param_space=dict(CONFORMANCE_SPACE),
        tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=searcher, num_samples=10,
                                    scheduler=ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2),
                                    max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 10 and not results.errors
    iterations = [r.metrics["training_iteration"] for r in results]
    assert min(iterations) < 4 <= max(iterations)  # ASHA stopped some trials early, let others finish
    # stopped trials count too: each with the last value it reported
    assert len(searcher.history) == 10 and all(h["value"] is not None for h in searcher.history)
    last = {r.metrics["trial_id"]: r.metrics["score"] for r in results}
    assert {h["trial_id"]: h["value"] for h in searcher.history} == pytest.approx(last)
    assert searcher.best["value"] == pytest.approx(results.get_best_result(scope="last").metrics["score"])
    if name == "MetaLLMiXSearcher":
        assert [h["origin"] for h in searcher.history[:3]] == ["meta-learner"] * 3  # the warm start, then inner


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
import sys
sys.path[:0] = [{tests!r}]
import ray
from ray import tune
from conformance.suite import SPACE
from test_searchers_ray import make_searcher, slow_objective
from support.interrupt import INTERRUPTED_TRIAL_S, MARKS_ENV, TRIAL_S_ENV
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
         runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}, TRIAL_S_ENV: INTERRUPTED_TRIAL_S,
                                       MARKS_ENV: {marks!r}}}}})
tuner = tune.Tuner(slow_objective, param_space=dict(SPACE),
    tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=make_searcher({name!r}, seed=2, meta={meta!r}),
                                num_samples=10, max_concurrent_trials=2, reuse_actors=True),
    run_config=tune.RunConfig(storage_path={storage!r}, name="resume", verbose=0))
tuner.fit()
"""


def slow_objective(config):
    from support.interrupt import mark_reported, pause_trial

    pause_trial()
    tune.report({"score": objective(config)})
    mark_reported()


def saved_state(experiment: Path) -> dict:
    """The searcher's own state as Tune last saved it in the experiment folder (``save_to_dir``).

    Each driver session writes its own ``searcher-state-<session start>.pkl``; the latest session's
    is the last by name (the files' times do not tell: a restored run copies the old ones again).
    """
    files = sorted(experiment.glob("searcher-state-*.pkl"))
    assert files, f"no saved searcher state in {sorted(p.name for p in experiment.iterdir())}"
    return json.loads(files[-1].read_text())


def _trials(state: dict) -> list[tuple]:
    return [(h["trial_id"], json.dumps(h["config"], sort_keys=True), h["value"], h["origin"])
            for h in state["history"]]


def _cost(value) -> float:
    return float(value)  # the swarm minimises; "inf" is saved as a string


def assert_state_carried_on(name: str, before: dict, after: dict, *, total: int) -> None:
    """``after`` (saved at the end of the restored run) continues ``before`` (saved at the interrupt):
    a searcher that silently started afresh, or lost its in-flight trials, fails here."""
    done, later = _trials(before), _trials(after)
    assert 0 < len(done) < total and len(later) == total
    assert later[:len(done)] == done  # the completed trials, in order, with their values and origins
    configs = {t[0]: t[1] for t in later}
    for trial_id, live in before["live"].items():  # trials in flight at the interrupt came back and ended
        assert configs.get(trial_id) == json.dumps(live["config"], sort_keys=True), trial_id
    assert after["started"] == total and before["started"] >= len(done) + len(before["live"])
    assert all(after["counters"][k] >= v for k, v in before["counters"].items()), (before["counters"],
                                                                                   after["counters"])
    b, a = before["core"], after["core"]
    if name == "MetaLLMiXSearcher":
        assert a["warm"] == b["warm"] and a["recommendation"] == b["recommendation"]
        assert a["inner"]["kind"] == b["inner"]["kind"] == "state"
        inner_b, inner_a = b["inner"]["state"], a["inner"]["state"]
        assert _trials(inner_a)[:len(_trials(inner_b))] == _trials(inner_b)
        b, a = inner_b["core"], inner_a["core"]  # the inner swarm carried on too
        name = "LLMPSOSearcher"
    if name == "LLMPSOSearcher":
        swarm_b, swarm_a = b["pso"], a["pso"]
        assert len(swarm_a["particles"]) == len(swarm_b["particles"]) and swarm_a["told"] > swarm_b["told"]
        for pb, pa in zip(swarm_b["particles"], swarm_a["particles"]):
            assert pa["evaluations"] >= pb["evaluations"]
            assert _cost(pa["best_f"]) <= _cost(pb["best_f"])  # personal bests never get worse
            if pa["best_f"] == pb["best_f"] and pb["best_x"] is not None:
                assert pa["best_x"] == pb["best_x"]
        assert _cost(swarm_a["best_f"]) <= _cost(swarm_b["best_f"])
    elif name == "LLMSearcher":
        fresh = sum(1 for t in later[len(done):] if t[3] == "sobol" and t[0] not in before["live"])
        assert a["filler"]["seed"] == b["filler"]["seed"]
        assert a["filler"]["drawn"] >= b["filler"]["drawn"] + fresh > b["filler"]["drawn"]  # the sequence went on


@pytest.mark.parametrize("name", SEARCHERS)
def test_interrupted_run_resumes_with_tuner_restore(name, meta_path, tmp_path):
    from support.interrupt import interrupt_driver

    here = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "resume"
    marks = tmp_path / "marks"
    marks.mkdir()
    code = INTERRUPTED_RUN.format(tests=here, storage=str(tmp_path), marks=str(marks), name=name, meta=meta_path)
    finished_before = interrupt_driver(code, marks, after=5)
    assert 5 <= finished_before < 10
    before = saved_state(path)
    restored = tune.Tuner.restore(str(path), trainable=slow_objective, resume_unfinished=True,
                                  restart_errored=True, param_space=dict(CONFORMANCE_SPACE))
    results = restored.fit()
    assert len(results) == 10 and not results.errors
    assert all(r.metrics.get("score") is not None for r in results)
    assert len({r.path for r in results}) == 10
    assert len({json.dumps(r.config, sort_keys=True) for r in results}) == 10  # nothing suggested twice
    assert_state_carried_on(name, before, saved_state(path), total=10)


@pytest.mark.llm
@pytest.mark.slow
def test_metallmix_with_the_real_embedded_model_under_tune(meta_path, tmp_path):
    searcher = make_searcher("MetaLLMiXSearcher", seed=0, meta=meta_path, llm="embedded", attempts=1,
                             llm_timeout_s=150.0)
    results = tune.Tuner(
        slow_objective, param_space=dict(CONFORMANCE_SPACE),
        tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=searcher, num_samples=4,
                                    max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="embedded", verbose=0),
    ).fit()
    assert len(results) == 4 and not results.errors and len(searcher.history) == 4
    rec = searcher.recommendation
    usage = searcher.llm_usage
    assert rec is not None and rec.attempts == 1 and usage.requests >= 1  # the real model was asked
    first = searcher.history[0]
    if rec.path == "llm":  # the model's answer, accepted by the judge, ran first
        assert usage.succeeded >= 1 and first["origin"] == "llm"
        assert {k: first["config"][k] for k in rec.config} == rec.config
    else:  # the documented fallback: the meta-learner's best candidates, the model's answer set aside
        assert rec.path == "meta-learner" and first["origin"] == "meta-learner"
    assert all(math.isfinite(h["value"]) for h in searcher.history)
    searcher.close()


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
