"""MetaLLMiXSearcher: warm trials first, hand-over to an inner searcher that learns from them,
save/restore mid-warm-start, write-back, faults, and a real Ray Tune run."""

from __future__ import annotations

import pickle
import time

import pytest
from conformance.suite import SPACE, drive, objective
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher
from support.metastores import build_store, features

from raytune_llm import LLMPSOSearcher, MetaLLMiXSearcher
from raytune_llm.errors import LLMConnectionError
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.meta import MetaStore
from raytune_llm.meta.recommend import RecommendationError
from raytune_llm.searchers.metallmix import WRITE_BACK_SOURCE

TASK = "image-classification"
TARGET = features(5, 1000)
LLM_CONFIG = {"x": 0.35, "n": 5, "act": "b", "lr": 0.003}
ANSWER = {"model": "quad", "configuration": LLM_CONFIG, "expected_metric": 0.02,
          "explanation": "beta and gamma, the nearest data sets, did best with x near 0.3 and act=b."}


def verdict(score):
    return {c: {"score": score, "reason": "ok"} for c in ("format", "accuracy", "completeness")}


def answering(answer=ANSWER, score=5, **kw):
    """A scripted LLM that answers the recommender and the judge, whatever the order of calls."""
    def respond(messages, schema):
        return answer if "configuration" in schema["properties"] else verdict(score)

    return ScriptedBackend([respond], **kw)


def make(store, learner, *, llm=None, **kw):
    kw.setdefault("inner", LLMPSOSearcher(llm=None, seed=0, telemetry=False))
    kw.setdefault("telemetry", False)
    return MetaLLMiXSearcher(meta=store, features=TARGET, task=TASK, learner=learner, llm=llm, seed=0, **kw)


def prepared(searcher, mode="min"):
    searcher.set_search_properties("score", mode, dict(SPACE))
    return searcher


def flat(config):
    return {k: config[k] for k in ("x", "n", "act", "lr")}


def test_warm_trials_come_first_then_the_inner_searcher_learns_from_them(store, learner):
    s = prepared(make(store, learner, llm=answering()))
    configs = drive(s, 8)
    assert [h["origin"] for h in s.history] == ["llm"] + ["meta-learner"] * 2 + ["inner"] * 5
    assert flat(configs[0]) == LLM_CONFIG and all(c["fixed"] == 7 for c in configs)
    rec = s.recommendation
    assert rec.path == "llm" and rec.judge_score == 5 and rec.wall_time_s > 0
    assert [flat(c) for c in configs[1:3]] == [c for c, _ in rec.candidates[:2]]  # the meta-learner's next best
    inner = s.inner
    told = [h for h in inner.history if h["origin"] == "warm-start"]
    assert [h["value"] for h in told] == [pytest.approx(objective(c)) for c in configs[:3]]
    assert len(inner.history) == 8 and s.counters["inner_told"] == 3
    assert s.llm_usage.succeeded == 2


def test_warm_configurations_are_distinct_from_user_points(store, learner):
    points = [LLM_CONFIG]
    s = prepared(make(store, learner, llm=answering(), points_to_evaluate=points))
    configs = drive(s, 5)
    assert s.history[0]["origin"] == "user" and flat(configs[0]) == LLM_CONFIG
    keys = [s.space.key(flat(c)) for c in configs]
    assert len(set(keys)) == 5  # the LLM's configuration, already run as a user point, is not repeated
    assert [h["origin"] for h in s.history[1:4]] == ["meta-learner"] * 3


def test_hand_over_to_optuna_which_sees_the_warm_results(store, learner):
    optuna = pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    inner = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0))
    s = prepared(make(store, learner, inner=inner))
    configs = drive(s, 6)
    trials = inner._ot_study.get_trials()
    assert len(trials) == 6 and s.recommendation.path == "meta-learner"
    warm = [t for t in trials[:3]]
    assert [t.params for t in warm] == [flat(c) for c in configs[:3]]
    assert [t.value for t in warm] == [pytest.approx(objective(c)) for c in configs[:3]]
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert [h["origin"] for h in s.history[3:]] == ["inner"] * 3


class RandomSearcher(Searcher):
    """A user's minimal Tune searcher without add_evaluated_point or save."""

    def __init__(self):
        super().__init__()
        import random

        self.rng = random.Random(0)
        self.completed = []

    def suggest(self, trial_id):
        return {"x": self.rng.random(), "n": self.rng.randint(1, 8), "act": self.rng.choice("abc"),
                "lr": 10 ** self.rng.uniform(-4, -1), "fixed": 7}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.completed.append(trial_id)


def test_an_inner_searcher_that_cannot_be_told_still_takes_over(store, learner, caplog):
    inner = RandomSearcher()
    s = prepared(make(store, learner, inner=inner))
    drive(s, 6)
    assert s.counters["inner_untold"] == 3 and inner.completed == ["t3", "t4", "t5"]
    assert "does not implement add_evaluated_point" in caplog.text
    s.save(str(__import__("tempfile").mkdtemp() + "/s.json"))  # cannot save its state: warned, not fatal


def test_llm_failure_falls_back_to_the_meta_learner(store, learner):
    s = prepared(make(store, learner, llm=ScriptedBackend([LLMConnectionError("refused")]),
                      worker_options={"max_retries": 0}))
    drive(s, 4)
    assert s.recommendation.path == "meta-learner" and "refused" in s.recommendation.notes[-1]
    assert [h["origin"] for h in s.history] == ["meta-learner"] * 3 + ["inner"]


def test_a_slow_llm_cannot_hold_tune_past_the_deadline(store, learner):
    s = prepared(make(store, learner, llm=answering(delay_s=5.0),
                      recommend_timeout_s=0.5))
    start = time.perf_counter()
    config = s.suggest("t0")
    assert time.perf_counter() - start < 3.0 and config is not None
    assert s.recommendation.path == "meta-learner" and "deadline" in s.recommendation.notes[-1]


def test_without_waiting_the_meta_learner_starts_and_the_llm_joins_later(store, learner):
    s = prepared(make(store, learner, llm=answering(delay_s=0.4), wait_for_llm=False,
                      n_warm=4))
    start = time.perf_counter()
    first = s.suggest("t0")
    assert time.perf_counter() - start < 0.3 and s.recommendation is None
    assert s.history == [] and s._live["t0"]["origin"] == "meta-learner"
    time.sleep(1.2)  # the recommender's answer arrives; it is taken (and the judge asked) at the next event
    s.on_trial_complete("t0", {"score": objective(first)})
    assert s.recommendation is None
    time.sleep(1.2)  # the judge's answer arrives
    configs = [first] + drive(s, 4, start=1)
    origins = [h["origin"] for h in s.history]
    assert s.recommendation.path == "llm"
    assert origins == ["meta-learner", "llm", "meta-learner", "meta-learner", "inner"]
    assert flat(configs[1]) == LLM_CONFIG  # taken at the first warm slot after it arrived
    assert len({s.space.key(flat(c)) for c in configs[:4]}) == 4


def test_save_and_restore_in_the_middle_of_the_warm_start(store, learner, tmp_path):
    def fresh():
        return make(store, learner, llm=answering())

    whole = prepared(fresh())
    expected = drive(whole, 10)
    s = prepared(fresh())
    head = drive(s, 1)
    pending = s.suggest("t1")  # a warm trial in flight
    s.save(str(tmp_path / "ckpt.json"))
    restored = fresh()
    restored.restore(str(tmp_path / "ckpt.json"))  # before the space, as Tune's restore_from_dir does
    prepared(restored)
    assert restored.recommendation.path == "llm" and restored.llm_usage.succeeded == 2
    restored.on_trial_complete("t1", {"score": objective(pending)})
    assert restored.history[-1]["origin"] == "meta-learner" and restored.history[-1]["trial_id"] == "t1"
    tail = drive(restored, 8, start=2)
    assert head + [pending] + tail == expected  # the rest of the warm start, then the same inner trials
    assert len(restored.inner.history) == 10


def test_save_and_restore_keeps_an_optuna_inner_state(store, learner, tmp_path):
    optuna = pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    s = prepared(make(store, learner, inner=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0))))
    drive(s, 5)
    pending = s.suggest("p")
    s.save(str(tmp_path / "ckpt.json"))
    restored = make(store, learner, inner=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)))
    restored.restore(str(tmp_path / "ckpt.json"))
    prepared(restored)
    assert len(restored.inner._ot_study.get_trials()) == 6  # 5 done + the pending one
    restored.on_trial_complete("p", {"score": objective(pending)})
    assert restored.inner._ot_study.get_trials()[-1].state.name == "COMPLETE"
    drive(restored, 2, start=10)


def test_a_recommendation_in_flight_at_save_is_restarted_not_lost(store, learner, tmp_path):
    s = prepared(make(store, learner, llm=answering(delay_s=1.0), wait_for_llm=False))
    first = s.suggest("t0")  # a meta-learner candidate; the LLM is still thinking
    s.save(str(tmp_path / "ckpt.json"))
    restored = make(store, learner, llm=answering())
    prepared(restored)
    restored.restore(str(tmp_path / "ckpt.json"))
    assert restored.recommendation is None and restored._restart
    restored.on_trial_complete("t0", {"score": objective(first)})
    restored.wait_for_llm = True
    second = restored.suggest("t1")
    assert restored.recommendation.path == "llm" and flat(second) == LLM_CONFIG


def test_pickled_searchers_reopen_their_store(store, learner):
    s = prepared(make(store, learner))
    drive(s, 2)
    clone = pickle.loads(pickle.dumps(s))
    assert clone._store is None and clone.recommendation.path == "meta-learner"
    drive(clone, 3, start=2)
    assert [h["origin"] for h in clone.history] == ["meta-learner"] * 3 + ["inner"] * 2
    assert clone._meta_store().path == store.path  # reopened, for write-back


def test_max_concurrency_and_properties_are_forwarded(store, learner):
    inner = LLMPSOSearcher(llm=None, seed=0, telemetry=False)
    s = make(store, learner, inner=inner)
    limited = ConcurrencyLimiter(s, max_concurrent=4)
    limited.set_search_properties("score", "max", dict(SPACE))
    assert inner._max_concurrency == 4 and inner.metric == "score" and inner.mode == "max"
    assert inner.space is not None and s.space.fingerprint() == inner.space.fingerprint()
    live = [limited.suggest(f"c{i}") for i in range(6)]
    assert sum(c is not None for c in live) == 4


def test_finished_when_the_budget_is_spent(store, learner):
    s = prepared(make(store, learner, max_evaluations=4))
    drive(s, 4)
    assert s.suggest("t9") == Searcher.FINISHED


def test_write_back_adds_completed_trials_to_the_meta_dataset(tmp_path, learner):
    own = build_store(tmp_path / "own.sqlite")
    s = MetaLLMiXSearcher(meta=own, dataset="target", features=TARGET, task=TASK, learner=learner, llm=None, seed=0,
                          telemetry=False, write_back=True)
    prepared(s)
    drive(s, 4, fail=(2,))
    s.on_trial_complete("missing")  # unknown trial: ignored
    rows = MetaStore(tmp_path / "own.sqlite").experiments(dataset="target")
    assert len(rows) == 3 and set(rows["source"]) == {WRITE_BACK_SOURCE} and set(rows["model"]) == {"quad"}
    assert rows["config"].iloc[0]["fixed"] == 7 and rows["metric"].iloc[0] == "score"
    assert sorted(rows["value"]) == sorted(h["value"] for h in s.history if h["value"] is not None)
    assert s.counters["written_back"] == 3 and s.counters["write_back_failed"] == 0


def test_write_back_needs_a_writable_store_and_a_name(store, learner):
    with pytest.raises(ValueError, match="read-only"):
        MetaLLMiXSearcher(meta=MetaStore(store.path, read_only=True), dataset="alpha", write_back=True)
    with pytest.raises(ValueError, match="write_back=True needs dataset="):
        MetaLLMiXSearcher(meta=store, features=TARGET, task=TASK, write_back=True)


@pytest.mark.parametrize("kwargs, words", [
    ({"inner": "optuna"}, ["inner must be a ray.tune.search.Searcher", "'optuna'"]),
    ({"n_warm": -1}, ["n_warm must be an int >= 0, got -1"]),
    ({"judge_threshold": 0}, ["judge_threshold must be a finite number in [1, 5], got 0"]),
    ({"judge_threshold": None}, ["judge_threshold must be a finite number in [1, 5], got None (NoneType)"]),
    ({"attempts": "2"}, ["attempts must be an int >= 1, got '2' (str)"]),
    ({"k": 0}, ["k must be an int >= 1, got 0"]),
    ({"model": 5}, ["model must be a name (a str) or None, got 5"]),
    ({"learner": "x"}, ["learner must be a fitted raytune_llm.meta.MetaLearner"]),
    ({"write_back": "no"}, ["write_back must be True or False, got 'no'"]),
    ({"task": "images"}, ["task must be one of image-classification, timeseries-regression", "'images'"]),
    ({"meta": "/nonexistent/typo.sqlite"}, ["no meta-dataset at meta='/nonexistent/typo.sqlite'", "meta=None"]),
    ({"features": None}, ["needs dataset="]),
])
def test_bad_arguments_are_clear(store, learner, kwargs, words):
    base = {"meta": store, "features": TARGET, "task": TASK, "llm": None}
    with pytest.raises(ValueError) as info:
        MetaLLMiXSearcher(**{**base, **kwargs})
    for word in words:
        assert word in str(info.value)


def test_an_unknown_data_set_is_a_clear_error_when_the_space_arrives(store, learner):
    s = MetaLLMiXSearcher(meta=store, dataset="nosuch", llm=None, learner=learner)
    with pytest.raises(RecommendationError, match="unknown data set 'nosuch'.*alpha"):
        prepared(s)


def test_an_unknown_model_is_a_clear_error_not_a_silent_fallback(store, learner):
    # before: logged as "warm start unavailable" and the experiment ran as the inner searcher alone
    s = MetaLLMiXSearcher(meta=store, features=TARGET, task=TASK, model="resnet", llm=None, learner=learner)
    with pytest.raises(RecommendationError, match=r"model='resnet' has no past experiments.*\['quad'\]"):
        prepared(s)


def test_no_deadline_is_math_inf(store, learner):
    s = prepared(MetaLLMiXSearcher(meta=store, features=TARGET, task=TASK, llm=None, learner=learner,
                                   recommend_timeout_s=float("inf"), attempts=2.0, telemetry=False))
    assert s.recommend_timeout_s == float("inf") and s.attempts == 2 and s.suggest("t0") is not None


def test_a_model_with_an_empty_store_falls_back_to_the_inner_searcher(tmp_path):
    # a new store, filled as it goes (write_back): nothing to learn yet is not an error
    from raytune_llm.meta import MetaStore

    MetaStore(tmp_path / "empty.sqlite").close()
    s = prepared(MetaLLMiXSearcher(meta=str(tmp_path / "empty.sqlite"), features=TARGET, task=TASK, model="quad",
                                   llm=None, telemetry=False))
    assert s.warm_start_error is not None and s.suggest("t0") is not None
    s.close()


def test_no_warm_start_is_just_the_inner_searcher(store, learner):
    s = prepared(make(store, learner, n_warm=0))
    drive(s, 3)
    assert [h["origin"] for h in s.history] == ["inner"] * 3


def _quad_trainable(config):
    from conformance.suite import objective as f

    tune.report({"score": f(config)})


@pytest.mark.ray
def test_a_real_tune_run(store, learner, tmp_path):
    from support.ray_local import local_ray

    s = make(store, learner, llm=answering(), telemetry=True)
    with local_ray():
        analysis = tune.run(_quad_trainable, config=dict(SPACE), metric="score", mode="min", num_samples=8,
                            search_alg=s, max_concurrent_trials=2, storage_path=str(tmp_path), name="metallmix",
                            verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 8 and all(t.status == "TERMINATED" for t in analysis.trials)
    origins = [h["origin"] for h in s.history]
    assert sorted(origins) == sorted(["llm", "meta-learner", "meta-learner"] + ["inner"] * 5)
    assert flat(analysis.trials[0].config) == LLM_CONFIG and s.recommendation.path == "llm"
    assert s.best["value"] == pytest.approx(analysis.best_result["score"])
    assert analysis.best_result["score"] <= objective(s.recommendation.candidates[0][0]) + 1e-12
    events = tmp_path / "metallmix" / "raytune_llm" / "events.jsonl"
    assert '"recommendation"' in events.read_text()


def test_without_waiting_a_full_set_of_early_slots_still_leaves_one_for_the_llm(store, learner):
    s = prepared(make(store, learner, llm=answering(delay_s=0.5), wait_for_llm=False, n_warm=3))
    for i in range(4):  # Tune fills four slots before the LLM has answered
        assert s.suggest(f"t{i}") is not None
    assert [s._live[f"t{i}"]["origin"] for i in range(4)] == ["meta-learner", "meta-learner", "inner", "inner"]
    time.sleep(1.5)  # the recommender's answer arrives; the judge is asked at the next event
    s.on_trial_complete("t0", {"score": 1.0})
    time.sleep(1.0)
    config = s.suggest("t4")
    assert s.recommendation.path == "llm" and flat(config) == LLM_CONFIG and s._live["t4"]["origin"] == "llm"


def test_tunes_metric_is_checked_against_the_stored_task_of_the_data_set(tmp_path):
    with build_store(tmp_path / "meta.sqlite") as st:
        name = st.dataset_names()[0]
        s = MetaLLMiXSearcher(meta=st, dataset=name, llm=None, seed=0, telemetry=False,
                              inner=LLMPSOSearcher(llm=None, seed=0, telemetry=False))
        s.set_search_properties("val_loss", "min", dict(SPACE))  # a metric the store does not have
        assert s.warm_start_error is None and s.recommendation is not None  # learned the store's metric instead
        assert s.suggest("t0") is not None and s._live["t0"]["origin"] == "meta-learner"


def test_a_store_opened_from_a_path_is_closed_with_the_searcher_and_the_seed_travels_as_seed(tmp_path):
    build_store(tmp_path / "meta.sqlite").close()
    s = MetaLLMiXSearcher(meta=str(tmp_path / "meta.sqlite"), features=TARGET, task=TASK, llm=None, seed=0,
                          telemetry=False)
    store = s._store
    s.close()
    assert s._store is None
    with pytest.raises(Exception):
        store.experiments()
    seeded = pickle.loads(pickle.dumps(MetaLLMiXSearcher(dataset="textures", llm=None, seed=0, telemetry=False)))
    assert seeded._meta_store().read_only and seeded._meta_seed


def _quad_epochs(config):
    from conformance.suite import objective as f

    for step in range(4):
        tune.report({"score": f(config) + 0.1 / (step + 1)})


@pytest.mark.ray
def test_tuner_with_asha_counts_the_warm_and_stopped_trials(store, learner, tmp_path):
    from ray.tune.schedulers import ASHAScheduler
    from support.ray_local import local_ray

    s = make(store, learner)  # Tuner pickles its searcher: no scripted (closure) LLM here; the meta-learner path
    with local_ray():
        results = tune.Tuner(
            _quad_epochs, param_space=dict(SPACE),
            tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=s, num_samples=10,
                                        scheduler=ASHAScheduler(max_t=4, grace_period=1), max_concurrent_trials=2,
                                        reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0),
        ).fit()
    assert len(results) == 10 and not results.errors
    assert len(s.history) == 10 and all(h["value"] is not None for h in s.history)  # stopped ones count too
    assert [h["origin"] for h in s.history].count("inner") == 7 and s.counters["inner_told"] == 3
    assert s.best["value"] == pytest.approx(results.get_best_result().metrics["score"])


INTERRUPTED_RUN = """
import sys
sys.path[:0] = [{tests!r}]
import ray
from ray import tune
from conformance.suite import SPACE
from support.metastores import features
from raytune_llm import LLMPSOSearcher, MetaLLMiXSearcher
from test_meta_searcher import slow_quad
from support.interrupt import INTERRUPTED_TRIAL_S, MARKS_ENV, TRIAL_S_ENV
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
         runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}, TRIAL_S_ENV: INTERRUPTED_TRIAL_S,
                                       MARKS_ENV: {marks!r}}}}})
searcher = MetaLLMiXSearcher(meta={meta!r}, features=features(5, 1000), task="image-classification", llm=None, seed=0,
                             n_warm=3, inner=LLMPSOSearcher(llm=None, seed=0, swarm_size=4))
tune.Tuner(slow_quad, param_space=dict(SPACE),
           tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=searcher, num_samples=10,
                                       max_concurrent_trials=2, reuse_actors=True),
           run_config=tune.RunConfig(storage_path={storage!r}, name="resume", verbose=0)).fit()
"""


def slow_quad(config):
    from support.interrupt import mark_reported, pause_trial

    pause_trial()
    tune.report({"score": objective(config)})
    mark_reported()


@pytest.mark.ray
@pytest.mark.slow
def test_interrupted_run_resumes_with_tuner_restore(tmp_path):
    """Driver interrupted after the warm start: the restored run finishes the budget, nothing re-run."""
    import os

    from support.interrupt import interrupt_driver
    from support.metastores import build_store
    from support.ray_local import local_ray

    build_store(tmp_path / "meta.sqlite").close()
    here = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "resume"
    marks = tmp_path / "marks"
    marks.mkdir()
    code = INTERRUPTED_RUN.format(tests=here, meta=str(tmp_path / "meta.sqlite"), storage=str(tmp_path),
                                  marks=str(marks))
    finished_before = interrupt_driver(code, marks, after=5)  # the 3 warm trials and some of the inner's
    assert 5 <= finished_before < 10
    with local_ray():
        results = tune.Tuner.restore(str(path), trainable=slow_quad, resume_unfinished=True,
                                     restart_errored=True, param_space=dict(SPACE)).fit()
    assert len(results) == 10 and not results.errors
    assert all(r.metrics.get("score") is not None for r in results)
    configs = {tuple(sorted(flat(r.config).items())) for r in results}
    assert len(configs) == 10  # the warm configurations were not suggested again after the restore
    warm = prepared(MetaLLMiXSearcher(meta=str(tmp_path / "meta.sqlite"), features=TARGET, task=TASK, llm=None,
                                      seed=0, n_warm=3, telemetry=False))
    expected = {tuple(sorted(flat(warm.suggest(f"w{i}")).items())) for i in range(3)}
    warm.close()
    assert expected <= configs  # and they are the meta-learner's three


def test_a_wrapper_that_saves_the_state_every_searcher_saves(store, learner):
    from raytune_llm.searchers._state import OPTIONAL_STATE_KEYS, STATE_KEYS
    from raytune_llm.searchers.base import LLMSearcherBase

    s = prepared(make(store, learner))
    drive(s, 4)
    assert isinstance(s, Searcher) and not isinstance(s, LLMSearcherBase)
    state = s.get_state()
    assert set(state) == {"version", "searcher", *STATE_KEYS, *OPTIONAL_STATE_KEYS}
    assert state["searcher"] == "MetaLLMiXSearcher" and state["core"]["inner"]["kind"] == "state"
    assert [h["origin"] for h in state["history"]] == ["meta-learner"] * 3 + ["inner"]
    assert state["counters"]["inner_told"] == 3 and state["started"] == 4
