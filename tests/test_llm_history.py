"""LLMSearcher specifics: batches that fill free slots, the queue, the Sobol fallback, the prompt."""

from __future__ import annotations

import json
import threading

import pytest
from conformance.suite import SPACE, drive, objective
from ray.tune.search import ConcurrencyLimiter
from support.fault_server import FaultServer

from raytune_llm import LLMSearcher
from raytune_llm.errors import LLMError
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.proposals.history_prompt import ANALYSIS_MAX_CHARS, answer_schema, history_messages
from raytune_llm.proposals.swarm import Trial
from raytune_llm.searchers.llm_history import WAIT_ANSWERS
from raytune_llm.space import SearchSpace


def fresh(messages, schema):
    n = schema["properties"]["configs"]["minItems"]
    fresh.k = getattr(fresh, "k", 0) + 1
    answer = {"configs": [{"x": (fresh.k * 7 + i) % 97 / 97, "n": 1 + i % 8, "act": "b", "lr": 0.003}
                          for i in range(n)]}
    if "analysis" in schema["properties"]:
        answer = {"analysis": "lr near 3e-3 works best", **answer}
    return answer


def make(llm, **kw):
    s = LLMSearcher(seed=0, llm=llm, telemetry=False, **kw)
    s.set_search_properties("score", "min", dict(SPACE))
    return s


def test_one_request_fills_every_free_slot_plus_the_queue():
    backend = ScriptedBackend([fresh])
    inner = make(backend, wait_for_llm=True, queue_target=2)
    limited = ConcurrencyLimiter(inner, max_concurrent=6)
    configs = [limited.suggest(f"t{i}") for i in range(6)]
    assert all(c is not None for c in configs)
    first_schema = backend.calls[0][1]
    assert first_schema["properties"]["configs"]["minItems"] == 6 + 2  # 6 free slots + queue of 2
    assert [h for h in inner._live.values() if h["origin"] == "llm"]
    assert len(backend.calls) == 1 and len(inner.queue) == 2


def test_falls_back_to_sobol_while_the_llm_is_slow():
    gate = threading.Event()

    def slow(messages, schema):
        gate.wait(30)
        return fresh(messages, schema)

    s = make(ScriptedBackend([slow]))
    drive(s, 12)
    assert {h["origin"] for h in s.history} == {"sobol"}
    gate.set()
    s._llm.future.result(timeout=10)
    drive(s, 6, start=12)
    assert "llm" in {h["origin"] for h in s.history}
    s.close()


def test_wait_for_llm_asks_again_when_an_answer_brings_nothing_new():
    one, other = {"x": 0.5, "n": 3, "act": "a", "lr": 0.01}, {"x": 0.25, "n": 2, "act": "b", "lr": 0.02}
    backend = ScriptedBackend([{"configs": [one]}, {"configs": [one]}, {"configs": [other]}],
                              default={"configs": [one]})
    s = make(backend, wait_for_llm=True, batch_size=1, queue_target=0)
    drive(s, 3)
    s.close()
    # trial 1's first answer repeats trial 0's configuration: asked again, the second answer is used;
    # trial 2 gets only repeats: WAIT_ANSWERS answers, then its Sobol point (and one request after it completes)
    assert [h["origin"] for h in s.history] == ["llm", "llm", "sobol"]
    assert [h["config"] for h in s.history[:2]] == [one, other]
    assert len(backend.calls) == 3 + WAIT_ANSWERS + 1
    seeds = [kw["seed"] for _, _, kw in backend.calls]
    assert len(set(seeds)) == len(seeds)  # each answer asked again is sampled afresh


def test_wait_for_llm_does_not_repeat_a_failed_request():
    backend = ScriptedBackend([LLMError("down")])
    s = make(backend, wait_for_llm=True, batch_size=1, queue_target=0, worker_options={"max_retries": 0})
    drive(s, 2)
    s.close()
    assert [h["origin"] for h in s.history] == ["sobol", "sobol"]
    # per trial, at most the request sent when the trial before completed and the one it waited for
    # (asking again after a failure would make it at least WAIT_ANSWERS for the first trial alone)
    assert len(backend.calls) <= 4 < 2 + WAIT_ANSWERS


def test_proposals_are_screened_against_history_queue_and_each_other():
    answer = {"configs": [{"x": 0.5, "n": 3, "act": "a", "lr": 0.01}, {"x": 0.5, "n": 3, "act": "a", "lr": 0.01},
                          {"x": 9, "n": 3, "act": "A", "lr": 0.01}, {"x": 0.5, "n": 3, "act": "zzz", "lr": 0.01}]}
    s = make(ScriptedBackend([answer]), wait_for_llm=True, batch_size=4)
    drive(s, 6)
    llm = [h["config"] for h in s.history if h["origin"] == "llm"]
    assert {"x": 0.5, "n": 3, "act": "a", "lr": 0.01} in llm and {"x": 1.0, "n": 3, "act": "a", "lr": 0.01} in llm
    keys = [s.space.key(h["config"]) for h in s.history]
    assert len(keys) == len(set(keys))  # never the same configuration twice
    assert s.counters["llm_rejected"] >= 2


def test_analysis_is_asked_first_and_logged_not_trusted(tmp_path):
    backend = ScriptedBackend([fresh])
    s = LLMSearcher(seed=0, llm=backend, analysis=True, wait_for_llm=True, log_dir=str(tmp_path))
    s.set_search_properties("score", "min", dict(SPACE))
    drive(s, 4)
    s.close()
    assert list(backend.calls[0][1]["properties"]) == ["analysis", "configs"]
    # a full-length analysis (up to a token per character) must leave room for the configurations
    cap = backend.calls[0][1]["properties"]["analysis"]["maxLength"]
    assert cap == ANALYSIS_MAX_CHARS
    with_analysis = backend.calls[0][2]["max_tokens"]
    plain_backend = ScriptedBackend([fresh])
    plain = make(plain_backend, wait_for_llm=True)
    drive(plain, 1)
    plain.close()
    assert with_analysis - plain_backend.calls[0][2]["max_tokens"] >= cap
    events = [json.loads(line) for line in (tmp_path / "raytune_llm" / "events.jsonl").read_text().splitlines()]
    assert any(e.get("analysis") == "lr near 3e-3 works best" for e in events if e["event"] == "llm_answer")


def test_history_prompt_is_bounded_and_summarised():
    space = SearchSpace.from_tune(dict(SPACE))
    history = [{"config": {"x": i / 2000, "n": 1 + i % 8, "act": "abc"[i % 3], "lr": 0.001}, "value": float(i % 50),
                "origin": "llm"} for i in range(2000)]
    trials = [Trial(h["config"], h["value"]) for h in history]
    messages = history_messages(space, metric="score", mode="min", n=8, history=history, best=trials[:8],
                                recent=trials, budget_left=10, max_chars=3500)
    text = messages[1]["content"]
    assert len(text) <= 3500
    assert "Trials completed: 2000 (0 failed)" in text and "Top quarter of trials" in text
    assert "Trials left in the budget: 10" in text


def test_budget_is_respected_and_finished():
    s = make(ScriptedBackend([fresh]), wait_for_llm=True, max_evaluations=5)
    drive(s, 5)
    assert s.suggest("t99") == "FINISHED"


@pytest.mark.parametrize("modes, seen", [(["500", "429", "ok"], "retries"), (["invalid", "truncated"], "invalid_answers"),
                                         (["slow:3"], "timeouts"), (["401"], "failed")])
def test_llm_faults_never_lose_a_trial(modes, seen):
    answer = {"configs": [{"x": 0.31, "n": 5, "act": "b", "lr": 0.003}] * 2}
    script = modes * 3
    with FaultServer(modes=script, answer=answer) as srv:
        s = LLMSearcher(seed=1, llm="openai:fault", llm_options={"base_url": srv.url, "api_key": "k"},
                        telemetry=False, wait_for_llm=True, llm_timeout_s=1.0,
                        worker_options={"backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 1})
        s.set_search_properties("score", "min", dict(SPACE))
        drive(s, 16)
        s.close()
        applied = srv.applied
    assert len(s.history) == 16 and all(h["value"] is not None for h in s.history)
    # the server was asked, and served every scripted fault at least once, in order
    assert len(applied) >= len(modes) and applied[:len(script)] == script[:len(applied)], applied
    usage = s.llm_usage
    assert getattr(usage, seen) >= 1, usage  # ... and the searcher saw them as faults of that kind
    assert usage.attempts >= 1 and s.counters["llm_failed"] == usage.failed  # every failed request counted once
    if modes == ["401"]:
        assert usage.succeeded == 0 and usage.errors.get("LLMAuthError", 0) >= 1
        assert "llm" not in s.origin_counts()


def test_schema_with_and_without_analysis():
    space = SearchSpace.from_tune(dict(SPACE))
    assert "analysis" not in answer_schema(space, 2, analysis=False)["properties"]
    assert answer_schema(space, 2, analysis=True)["required"] == ["analysis", "configs"]


@pytest.mark.llm
def test_with_the_real_embedded_model(embedded):
    s = LLMSearcher(seed=0, llm=embedded, telemetry=False, wait_for_llm=True, batch_size=2, queue_target=0,
                    analysis=True, llm_timeout_s=120)
    s.set_search_properties("score", "min", dict(SPACE))
    drive(s, 2)
    s.close()
    llm_trials = [h for h in s.history if h["origin"] == "llm"]
    assert llm_trials and all(s.space.check(h["config"]) == [] for h in llm_trials)
    assert s.llm_usage.succeeded >= 1
    assert s.llm_usage.invalid_answers == 0  # the token budget covers a full-length analysis
    assert min(h["value"] for h in s.history) <= max(objective(h["config"]) for h in s.history)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": "4"}, "batch_size must be an int in [1, "),
    ({"batch_size": 0}, "batch_size must be an int in [1, "),
    ({"queue_target": -1}, "queue_target must be an int >= 0 or None, got -1"),
    ({"analysis": "yes"}, "analysis must be True or False, got 'yes' (str)"),
    ({"task": 5}, "task must be a one-line description"),
    ({"seed": 1.5}, "seed must be an int >= 0 or None, got 1.5 (float)"),
])
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError) as info:
        LLMSearcher(llm=None, **kwargs)
    assert message in str(info.value)
