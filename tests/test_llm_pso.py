"""The LLM phase of LLMPSOSearcher: a scripted double for exact behaviour, faults, the real model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conformance.suite import SPACE, drive, objective
from support.fault_server import FaultServer

from raytune_llm import LLMPSOSearcher
from raytune_llm.errors import LLMServerError, SearchSpaceError
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.proposals.swarm import ParticleView, Trial, swarm_messages
from raytune_llm.space import SearchSpace

PROPOSALS = {"configs": [
    {"x": 0.3, "n": 5, "act": "b", "lr": 0.003},
    {"x": 7.0, "n": 50, "act": "B", "lr": "0.01"},   # repaired into range
    {"x": 0.3, "n": 5, "act": "b", "lr": 0.003},     # duplicate
    {"x": 0.4, "n": 5, "act": "swish", "lr": 0.003},  # rejected: unknown category
]}


def make(llm, **kw):
    s = LLMPSOSearcher(seed=0, llm=llm, telemetry=False, swarm_size=8, warmup=8, llm_every=8, **kw)
    s.set_search_properties("score", "min", dict(SPACE))
    return s


def test_llm_proposals_replace_worst_particles_and_are_recorded():
    backend = ScriptedBackend([PROPOSALS])
    s = make(backend, wait_for_llm=True, surrogate=None)  # the control: no GP gate, so the repaired proposal runs
    drive(s, 24)
    assert len(backend.calls) >= 2
    prompt = backend.calls[0][0][1]["content"]
    assert "swarm particles" in prompt and "Best trials" in prompt and "score" in prompt
    origins = [h["origin"] for h in s.history]
    assert origins[:8] == ["init"] * 8 and "llm" in origins
    llm_configs = [h["config"] for h in s.history if h["origin"] == "llm"]
    assert {"x": 1.0, "n": 8, "act": "b", "lr": 0.01} in llm_configs  # repaired proposal used
    assert s.counters["llm_rejected"] >= 2 and s.counters["llm_used"] >= 2
    assert s.best["value"] <= objective({"x": 0.3, "n": 5, "act": "b", "lr": 0.003}) + 1e-12


def test_suggest_does_not_wait_for_a_slow_llm():
    gate = threading.Event()

    def slow(messages, schema):
        gate.wait(30)
        return PROPOSALS

    s = make(ScriptedBackend([slow]))
    drive(s, 30)  # keeps suggesting while the LLM is blocked
    assert s._llm.busy and not s._llm.future.done()
    assert not any(h["origin"] == "llm" for h in s.history)
    gate.set()
    s._llm.future.result(timeout=10)
    drive(s, 8, start=30)
    assert s.counters["llm_accepted"] >= 1  # the answer was taken when it came (and put to the gate)
    assert s.counters["llm_used"] + s.counters["llm_gated"] == s.origin_stats()["llm"]["proposed"] >= 1
    s.close()


def test_failing_llm_degrades_to_plain_pso():
    backend = ScriptedBackend([LLMServerError("boom")])
    s = make(backend, wait_for_llm=True, worker_options={"max_retries": 0, "breaker_failures": 2,
                                                         "breaker_cooldown_s": 60})
    configs = drive(s, 40)
    plain = drive(make(None), 40)
    assert configs == plain  # identical to llm=None: failures change nothing but the counters
    assert s.counters["llm_failed"] >= 2 and s.llm_usage.failed >= 2


@pytest.mark.parametrize("modes", [["500", "429", "ok"], ["truncated", "invalid", "garbage"], ["drop", "huge"],
                                   ["slow:3"], ["401"]])
def test_every_fault_mode_leaves_the_experiment_complete(modes):
    answer = {"configs": PROPOSALS["configs"][:2]}
    with FaultServer(modes=modes * 3, answer=answer) as srv:
        s = LLMPSOSearcher(seed=1, llm="openai:fault", llm_options={"base_url": srv.url, "api_key": "k"},
                           telemetry=False, swarm_size=4, warmup=4, llm_every=4, wait_for_llm=True,
                           llm_timeout_s=1.0, worker_options={"backoff_s": 0.01, "backoff_max_s": 0.05,
                                                              "max_retries": 1})
        s.set_search_properties("score", "min", dict(SPACE))
        drive(s, 24)
        s.close()
    assert len(s.history) == 24 and all(h["value"] is not None for h in s.history)
    usage = s.llm_usage
    # every request ended in an answer or a counted failure, except at most one still in flight at close
    assert usage.requests >= 2 and 0 <= usage.requests - (usage.succeeded + usage.failed) <= 1


def test_points_to_evaluate_are_validated_up_front():
    with pytest.raises(SearchSpaceError, match=r"points_to_evaluate\[0\].*'n' must be in \[1, 8\]"):
        s = LLMPSOSearcher(llm=None, points_to_evaluate=[{"x": 0.1, "n": 99, "act": "a", "lr": 0.01}])
        s.set_search_properties("score", "min", dict(SPACE))


@pytest.mark.parametrize("points, words", [
    ({"x": 0.1, "n": 2, "act": "a", "lr": 0.01}, ["must be a list of configurations", "points_to_evaluate=[{...}]"]),
    ([[0.1, 2]], ["points_to_evaluate[0] must be a configuration dict", "list: [0.1, 2]"]),
    ([{"x": 0.1, "n": 2, "act": "a", "lr": 0.01, "dropuot": 0.3}], ["unknown parameter 'dropuot'", "act, lr, n, x"]),
    ([{"x": 0.1, "n": 2, "act": "a", "lr": 0.01, "epochs": 99}], ["'epochs' is fixed at 3", "got 99"]),
])
def test_points_to_evaluate_name_what_is_wrong(points, words):
    with pytest.raises(ValueError) as info:
        LLMPSOSearcher(llm=None, points_to_evaluate=points, space={**SPACE, "epochs": 3}, metric="score", mode="min")
    for word in words:
        assert word in str(info.value)
    ok = LLMPSOSearcher(llm=None, points_to_evaluate=[{"x": 0.1, "n": 2, "act": "a", "lr": 0.01, "epochs": 3}],
                        space={**SPACE, "epochs": 3}, metric="score", mode="min")  # a constant at its value is fine
    assert ok.suggest("t0") == {"x": 0.1, "n": 2, "act": "a", "lr": 0.01, "epochs": 3, "fixed": 7}


@pytest.mark.parametrize("kwargs, message", [
    ({"swarm_size": "8"}, "swarm_size must be an int >= 2 or None, got '8' (str)"),
    ({"swarm_size": 2.5}, "swarm_size must be an int >= 2 or None, got 2.5 (float)"),
    ({"replace_fraction": None}, "replace_fraction must be a finite number in (0, 1], got None (NoneType)"),
    ({"candidates_per_slot": 1.5}, "candidates_per_slot must be an int >= 1, got 1.5 (float)"),
    ({"surrogate_gate": "yes"}, "surrogate_gate must be True or False, got 'yes' (str)"),
    ({"seed": "a"}, "seed must be an int >= 0 or None, got 'a' (str)"),
    ({"seed": -1}, "seed must be an int >= 0 or None, got -1"),
    ({"max_evaluations": 2.5}, "max_evaluations must be an int >= 1 or None, got 2.5 (float)"),
    ({"llm_timeout_s": None}, "llm_timeout_s must be a finite number > 0, got None (NoneType)"),
    ({"wait_for_llm": "no"}, "wait_for_llm must be True or False, got 'no' (str)"),
    ({"telemetry": "no"}, "telemetry must be True or False, got 'no' (str)"),
    ({"metric": 5}, "metric must be the name of a reported metric (a str) or None, got 5"),
    ({"pso_options": {"c3": 1}}, "pso_options has an unknown option 'c3'; valid: c1, c2, categorical, "
                                    "reset_injected_velocity, screen_candidates, stagnation, subspace, trust_fraction"),
    ({"surrogate": "tpe"}, "surrogate must be 'gp' (the default) or None (plain PSO), got 'tpe'"),
    ({"surrogate_options": {"acq": "ei"}}, "surrogate_options has an unknown option 'acq'; valid: acquisition, beta,"),
    ({"surrogate_options": {"acquisition": "pi"}}, "surrogate_options: acquisition must be one of"),
    ({"surrogate_options": {"proposers": ["llm"]}}, "surrogate_options proposers must be a list of 'model' and"),
    ({"surrogate_options": {"model_refine": -1}}, "surrogate_options model_refine must be"),
    ({"surrogate": None, "surrogate_options": {"beta": 1.0}}, "surrogate_options ['beta'] need surrogate='gp'"),
    ({"pso_options": {"screen": None}}, "pso_options cannot set 'screen': pass surrogate='gp'"),
    ({"pso_options": {"horizon": 50}}, "pso_options cannot set 'horizon': it is the budget: pass max_evaluations="),
    ({"pso_options": {"w_start": -3}}, "pso_options w_start must be a finite number in [0, 1.5], got -3"),
    ({"worker_options": {"timeout": 5}}, "worker_options has an unknown option 'timeout'; valid: backoff_max_s"),
    ({"worker_options": {"max_retries": -1}}, "worker_options max_retries must be an int >= 0, got -1"),
    ({"worker_options": {"timeout_s": 60}}, "worker_options cannot set 'timeout_s': pass llm_timeout_s= to the"),
    ({"llm_timeout_s": float("inf")}, "llm_timeout_s must be a finite number > 0, got inf"),
    ({"llm_options": "abc"}, "llm_options must be a dict of backend options"),
    ({"log_dir": 5}, "log_dir must be a folder path (a str) or None, got 5"),
])
def test_bad_arguments_fail_at_construction_with_the_name_and_the_value(kwargs, message):
    # before: a TypeError deep inside numpy or a comparison, or (worker_options) only at the first LLM request
    with pytest.raises(ValueError) as info:
        LLMPSOSearcher(**{"llm": ScriptedBackend([]), **kwargs})
    assert message in str(info.value)


def test_add_evaluated_point_rejects_what_it_would_have_to_change():
    s = LLMPSOSearcher(llm=None, seed=0, space=SPACE, metric="score", mode="min")
    good = {"x": 0.1, "n": 2, "act": "a", "lr": 0.01}
    with pytest.raises(SearchSpaceError, match=r"add_evaluated_point.*'lr' must be in"):
        s.add_evaluated_point({**good, "lr": 5.0}, 0.1)  # clipping it would record the value at another point
    with pytest.raises(ValueError, match="value must be the metric's number.*'abc'"):
        s.add_evaluated_point(good, "abc")
    s.add_evaluated_point(good, 0.5)
    assert s.history[-1]["value"] == 0.5 and s.history[-1]["origin"] == "warm-start"
    s.add_evaluated_point({**good, "n": 3.0, "fixed": 7}, np.float32(0.25))  # a whole float, constants: as read
    assert s.history[-1]["config"]["n"] == 3 and isinstance(s.history[-1]["config"]["n"], int)
    assert s.history[-1]["value"] == 0.25
    s.add_evaluated_point({**good, "n": 4}, "not a number", error=True)  # a failed trial's value is not read
    assert s.history[-1]["value"] is None


def test_numpy_and_whole_float_arguments_are_taken_as_plain_numbers():
    s = LLMPSOSearcher(llm=None, seed=np.int64(3), swarm_size=np.int64(4), candidates_per_slot=np.int64(2),
                       replace_fraction=np.float32(0.5), max_evaluations=1e3, wait_for_llm=np.True_,
                       points_to_evaluate=({"x": 0.1, "n": 2, "act": "a", "lr": 0.01} for _ in range(1)))
    assert type(s.candidates_per_slot) is int and s.max_evaluations == 1000 and s.wait_for_llm is True
    assert s._seed == 3 and type(s._seed) is int and len(s._points) == 1


def test_constants_that_cannot_be_compared_do_not_block_points():
    # Tune deep-copies param_space: an object constant is never == the user's; arrays have no truth value
    space = {**SPACE, "net": object(), "arr": np.ones(3), "nan": float("nan")}
    point = {"x": 0.1, "n": 2, "act": "a", "lr": 0.01, "net": object(), "arr": np.ones(3), "nan": float("nan")}
    s = LLMPSOSearcher(llm=None, points_to_evaluate=[point], space=space, metric="score", mode="min")
    assert s.suggest("t0")["x"] == 0.1


def test_an_incomplete_state_is_a_clear_error():
    s = LLMPSOSearcher(llm=None, seed=0, space=SPACE, metric="score", mode="min")
    with pytest.raises(ValueError, match=r"the state lacks \['metric', .*'counters'\]"):
        s.set_state({"version": 1, "searcher": "LLMPSOSearcher"})


def test_the_state_keys_set_state_knows_are_the_ones_get_state_writes():
    from raytune_llm.searchers._state import OPTIONAL_STATE_KEYS, STATE_KEYS

    s = LLMPSOSearcher(llm=None, seed=0, space=SPACE, metric="score", mode="min")
    known = {"version", "searcher", *STATE_KEYS, *OPTIONAL_STATE_KEYS}
    assert set(s.get_state()) == known


def test_an_explicit_llm_wins_over_the_saved_one_and_a_left_out_llm_takes_it():
    # before: an explicit llm="embedded" was taken for "not given" and the saved spec replaced it
    saved = LLMPSOSearcher(llm="openai:m", llm_options={"base_url": "http://127.0.0.1:9/v1", "api_key": "k"},
                           seed=0, space=SPACE, metric="score", mode="min", telemetry=False).get_state()
    assert saved["llm"]["spec"] == "openai:m" and "api_key" not in saved["llm"]["options"]
    explicit = LLMPSOSearcher(llm="embedded", seed=0, space=SPACE, metric="score", mode="min", telemetry=False)
    explicit.set_state(saved)
    assert explicit.get_state()["llm"]["spec"] == "embedded"
    left_out = LLMPSOSearcher(seed=0, space=SPACE, metric="score", mode="min", telemetry=False)
    assert left_out.get_state()["llm"]["spec"] == "embedded"
    left_out.set_state(saved)
    assert left_out.get_state()["llm"] == saved["llm"]
    none = LLMPSOSearcher(llm=None, seed=0, space=SPACE, metric="score", mode="min", telemetry=False)
    none.set_state(saved)
    assert none.get_state()["llm"] is None


def test_max_evaluations_finishes():
    s = LLMPSOSearcher(llm=None, seed=0, max_evaluations=3, space=SPACE, metric="score", mode="min")
    drive(s, 3)
    assert s.suggest("t9") == "FINISHED"


def test_add_evaluated_point_warm_starts():
    s = make(None)
    s.add_evaluated_point({"x": 0.3, "n": 5, "act": "b", "lr": 0.003}, 0.0001)
    assert s.history[0]["origin"] == "warm-start" and s.pso.best_f == 0.0001


def test_api_key_is_not_in_saved_state_or_pickle(tmp_path):
    import pickle

    with FaultServer(answer={"configs": []}) as srv:
        s = LLMPSOSearcher(llm="openai:m", llm_options={"base_url": srv.url, "api_key": "sk-top-secret"},
                           telemetry=False)
        s.set_search_properties("score", "min", dict(SPACE))
        drive(s, 3)
        s.save(str(tmp_path / "state.json"))
    assert "sk-top-secret" not in (tmp_path / "state.json").read_text()
    assert b"sk-top-secret" not in pickle.dumps(s)


def test_prompt_stays_bounded_however_long_the_history():
    space = SearchSpace.from_tune(dict(SPACE))
    trials = [Trial({"x": i / 1000, "n": 3, "act": "a", "lr": 0.001}, float(i)) for i in range(1000)]
    particles = [ParticleView({"x": 0.5, "n": 3, "act": "a", "lr": 0.001}, __import__("numpy").zeros(4), 1.0, 1.0)
                 for _ in range(64)]
    messages = swarm_messages(space, metric="score", mode="min", n=4, best=trials[:5], recent=trials,
                              particles=particles, completed=1000, max_chars=3000)
    assert len(messages[1]["content"]) <= 3000


@pytest.mark.llm
@pytest.mark.parametrize("gate", [False, True])
def test_llm_phase_with_the_real_embedded_model(embedded, gate):
    # the kernel-gated swarm (surrogate=None), where every answer's best proposals replace particles
    s = LLMPSOSearcher(seed=0, llm=embedded, telemetry=False, swarm_size=4, warmup=4, llm_every=4,
                       wait_for_llm=True, llm_timeout_s=120, surrogate_gate=gate, surrogate=None)
    s.set_search_properties("score", "min", dict(SPACE))
    drive(s, 8)  # warm-up, the first answer's particles, and the second request in flight at close()
    s.close()
    assert s.llm_usage.succeeded >= 1 and s.llm_usage.completion_tokens > 0
    assert s.counters["llm_accepted"] >= 1
    if gate:  # each answer's best proposals were injected or stopped by the gate: one of them happened
        assert s.counters["llm_used"] + s.counters["llm_gated"] >= 1
    else:
        assert s.counters["llm_used"] >= 1 and s.counters["llm_gated"] == 0
    llm_trials = [h for h in s.history if h["origin"] == "llm"]
    assert llm_trials and all(s.space.check(h["config"]) == [] for h in llm_trials)


@pytest.mark.llm
def test_real_model_answers_compete_at_the_gp_gate(embedded):
    # the default surrogate="gp": the model's answers are proposals beside the GP's and the perturbations
    s = LLMPSOSearcher(seed=0, llm=embedded, telemetry=False, swarm_size=4, warmup=4, llm_every=4,
                       wait_for_llm=True, llm_timeout_s=120)
    s.set_search_properties("score", "min", dict(SPACE))
    drive(s, 12)
    s.close()
    stats = s.origin_stats()
    assert s.llm_usage.succeeded >= 1 and stats["llm"]["proposed"] >= 1
    assert stats["llm"]["accepted"] <= stats["llm"]["proposed"]
    assert stats["llm"].get("trials", 0) == sum(h["origin"] == "llm" for h in s.history)
    assert all(s.space.check(h["config"]) == [] for h in s.history)


@pytest.mark.llm
def test_edits_with_the_real_embedded_model(embedded):
    s = LLMPSOSearcher(seed=0, llm=embedded, telemetry=False, swarm_size=4, warmup=4, llm_every=4,
                       wait_for_llm=True, llm_timeout_s=120, ask="edits", surrogate=None)
    s.set_search_properties("score", "min", dict(SPACE))
    drive(s, 8)
    s.close()
    assert s.llm_usage.succeeded >= 1 and s.counters["llm_used"] >= 1
    llm_trials = [h for h in s.history if h["origin"] == "llm"]
    assert llm_trials and all(s.space.check(h["config"]) == [] for h in llm_trials)
    # an edit changes one parameter of a trial that was among the best when it was asked for
    earlier = [h["config"] for h in s.history if h["origin"] != "llm"]
    assert all(any(sum(c[k] != e[k] for k in e) == 1 for e in earlier) for c in (h["config"] for h in llm_trials))


def test_prompt_shows_each_configuration_once_with_three_digits():
    space = SearchSpace.from_tune(dict(SPACE))
    trials = [Trial({"x": 0.123456 + i / 100, "n": 3, "act": "a", "lr": 0.001}, float(i)) for i in range(6)]
    particles = [ParticleView(t.config, __import__("numpy").zeros(4), t.value, t.value) for t in trials[3:]]
    text = swarm_messages(space, metric="score", mode="min", n=2, best=trials[:3], recent=trials,
                          particles=particles, completed=6)[1]["content"]
    # every trial is a best trial or a particle: no "other recent" section repeats them
    assert "Other recent trials" not in text
    assert "x=0.123" in text and "0.1234" not in text
    for t in trials:
        assert text.count(f"x={t.config['x']:.3g}") == 1


def test_edit_answers_change_one_parameter_of_a_numbered_best_trial():
    def edits(messages, schema):
        assert schema["properties"]["edits"]["items"]["properties"]["trial"]["maximum"] == 5
        assert schema["properties"]["edits"]["items"]["properties"]["param"]["enum"] == ["lr", "n", "x"]
        return {"edits": [{"trial": 1, "param": "x", "value": 0.31},
                          {"trial": 2, "param": "lr", "value": 0.002},
                          {"trial": 9, "param": "x", "value": 0.5},     # no such trial: rejected
                          {"trial": 1, "param": "act", "value": 1}]}   # a category: rejected

    backend = ScriptedBackend([edits])
    s = make(backend, wait_for_llm=True, ask="edits", surrogate=None)  # no GP gate: the edits run
    drive(s, 10)
    prompt = backend.calls[0][0][1]["content"]
    assert "#1 " in prompt and "#5 " in prompt and "edits" in prompt
    bests = [h["config"] for h in sorted(s.history[:8], key=lambda h: h["value"])[:2]]
    llm = [h["config"] for h in s.history if h["origin"] == "llm"]
    assert {**bests[0], "x": 0.31} in llm or {**bests[1], "lr": 0.002} in llm
    for config in llm:  # every LLM trial differs from a best trial in exactly one parameter
        assert any(sum(config[k] != b[k] for k in b) == 1 for b in bests)
    assert s.counters["llm_rejected"] >= 2


def test_ask_must_be_known():
    with pytest.raises(ValueError, match="ask must be one of"):
        LLMPSOSearcher(ask="rank", llm=None)


def test_cached_unit_history_matches_the_history_after_more_trials_and_a_restore(tmp_path):
    import numpy as np

    s = make(ScriptedBackend([PROPOSALS]), wait_for_llm=True)
    drive(s, 12, fail={3})
    for n in (12, 20):
        drive(s, n - len(s.history), start=len(s.history)) if n > len(s.history) else None
        xs, ys = s._unit_history()
        scored = [h for h in s.history if h["value"] is not None]
        assert np.allclose(xs, [s.space.to_unit(h["config"]) for h in scored]) and list(ys) == [h["value"] for h in scored]
    s.save(str(tmp_path / "s.json"))
    r = make(None)
    r.restore(str(tmp_path / "s.json"))
    assert np.allclose(r._unit_history()[0], xs)


def test_edits_with_no_scored_trial_ask_for_configs_and_the_search_goes_on():
    backend = ScriptedBackend([{"configs": [{"x": 0.3, "n": 5, "act": "b", "lr": 0.003}] * 4}])
    s = make(backend, wait_for_llm=True, ask="edits")
    drive(s, 8, fail=set(range(8)))  # every warm-up trial errored: no best trial to edit
    drive(s, 4, start=8)
    assert "configs" in backend.calls[0][1]["properties"] and len(s.history) == 12


def test_edit_prompt_keeps_every_numbered_trial_however_long():
    from ray import tune

    space = SearchSpace.from_tune({f"p{i}": tune.loguniform(1e-6, 1.0) for i in range(30)})
    best = [Trial(space.flat_from_unit([k / 7] * 30), float(k)) for k in range(5)]
    particles = [ParticleView(t.config, __import__("numpy").zeros(30), 9.0, 9.0) for t in best]
    text = swarm_messages(space, metric="m", mode="min", n=2, best=best, recent=best, particles=particles,
                          completed=5, answer="edits", max_chars=2000)[1]["content"]
    assert all(f"#{k} " in text for k in range(1, 6))


def test_the_gate_and_the_velocity_reset_are_on_by_default():
    s = LLMPSOSearcher(llm=None, space=dict(SPACE), metric="score", mode="min")
    assert s.surrogate_gate is True and s.pso.reset_injected_velocity is True
    off = LLMPSOSearcher(llm=None, space=dict(SPACE), metric="score", mode="min", surrogate_gate=False,
                         pso_options={"reset_injected_velocity": False})
    assert off.surrogate_gate is False and off.pso.reset_injected_velocity is False


def test_surrogate_gate_injects_only_what_the_surrogate_prefers_to_the_particles_best():
    """``surrogate_gate``: a screened configuration replaces a particle only where the kernel surrogate
    predicts it better than that particle's own best."""
    from ray import tune

    searcher = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="loss", mode="min", surrogate_gate=True,
                              space={"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)})
    for i in range(16):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": config["x"] ** 2 + config["y"] ** 2})
    best = searcher.best_trials(1)[0].config
    worst = max(searcher.history, key=lambda h: h["value"])["config"]
    near_best = {"x": best["x"] * 0.99, "y": best["y"] * 0.99}
    targets = searcher.pso.injection_targets()
    xs, kept, particles = searcher._choose_replacements([dict(worst), near_best], 2)
    # ranked first (near the best first), then the one at the worst trial gated
    assert kept == [near_best] and xs.shape == (1, 2) and particles == targets[:1]
    assert searcher.counters["llm_gated"] == 1
    searcher.surrogate_gate = False  # without the gate both are kept (no ranking needed: they fit)
    assert searcher._choose_replacements([dict(worst), near_best], 2)[1:] == ([dict(worst), near_best], None)


def test_surrogate_gate_stops_proposals_where_the_history_is_worst_and_the_run_completes():
    """A model that keeps proposing a corner the history has seen to be bad: without the gate its
    proposals take trials; with it they take none, and the experiment still runs every trial."""
    corner = {"configs": [{"x": 0.95, "n": 1, "act": "a", "lr": 0.1}, {"x": 0.9, "n": 1, "act": "a", "lr": 0.1}]}
    runs = {}
    for gate in (False, True):
        s = make(ScriptedBackend([corner]), wait_for_llm=True, surrogate_gate=gate, surrogate=None)
        s.add_evaluated_point({"x": 1.0, "n": 1, "act": "a", "lr": 0.1}, 500.0)
        for i in range(40):
            config = s.suggest(f"t{i}")
            s.on_trial_complete(f"t{i}", {"score": objective(config) + 100.0 * (config["n"] == 1)})
        runs[gate] = s
    assert runs[False].counters["llm_used"] >= 1 and runs[False].counters["llm_gated"] == 0
    assert runs[True].counters["llm_gated"] >= 1 and runs[True].counters["llm_used"] == 0
    assert len(runs[True].history) == 41 and runs[True].origin_counts().get("llm", 0) == 0
    clone = make(None, surrogate=None)
    clone.set_state(runs[True].get_state())
    assert clone.counters["llm_gated"] == runs[True].counters["llm_gated"]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_surrogate_gate_checks_each_proposal_against_the_particle_it_replaces(mode):
    """The gate's reference is the replaced particle's own best, not the swarm's best: a proposal
    worse than the best so far but better than the worst particle's own best is kept; and a proposal
    goes to the very particle it was checked against, even when the one before it was stopped."""
    from ray import tune

    sign = 1 if mode == "min" else -1
    searcher = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="loss", mode=mode, surrogate_gate=True,
                              swarm_size=4, surrogate=None, space={"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)})
    for i in range(12):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": sign * (config["x"] ** 2 + config["y"] ** 2)})
    from raytune_llm.surrogate import kernel_predict

    pso, space = searcher.pso, searcher.space
    x_hist, y_hist = searcher._unit_history()

    def predicted(x):
        return float(kernel_predict(x_hist, y_hist, np.atleast_2d(x))[0])

    targets = pso.injection_targets()
    worst, second = (pso.particles[i] for i in targets[:2])
    best = space.flat_from_unit(pso.best_x)
    middle = {"x": best["x"] - 1.0, "y": best["y"]}  # predicted worse than the best, better than the worst particle
    assert predicted(pso.best_x) < predicted(space.to_unit(middle)) < predicted(worst.best_x)
    xs, kept, particles = searcher._choose_replacements([middle], 1)
    assert kept == [middle] and particles == targets[:1]

    # the worst particle's own best moved onto the best trial: the first (best) proposal does not beat
    # it and is stopped; the second particle's own best is far out, so the second proposal is kept,
    # for the second particle, not moved to the worst one
    worst.best_x = pso.best_x.copy()
    second.best_x = space.to_unit({"x": 5.0, "y": -5.0 if best["y"] > 0 else 5.0})
    near = {"x": best["x"] - 0.5, "y": best["y"]}
    assert predicted(worst.best_x) < predicted(space.to_unit(near)) < predicted(space.to_unit(middle))
    assert predicted(space.to_unit(middle)) < predicted(second.best_x)
    xs, kept, particles = searcher._choose_replacements([middle, near], 2)
    assert kept == [middle] and particles == [targets[1]]
    assert searcher.counters["llm_gated"] == 1
    used = pso.inject(list(xs), origin="llm", particles=particles)
    assert used == [targets[1]] and pso.injection_targets()[0] == targets[0]
    with pytest.raises(ValueError, match="must be distinct members of injection_targets"):
        pso.inject(list(xs), origin="llm", particles=[targets[1]])  # it holds a position now


def test_a_restored_searcher_without_the_gate_counter_counts_from_zero():
    """A state saved before ``llm_gated`` existed (and restored before Tune gives the space) still gates."""
    from ray import tune

    space = {"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}
    first = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="loss", mode="min", space=space)
    for i in range(10):
        config = first.suggest(str(i))
        first.on_trial_complete(str(i), {"loss": config["x"] ** 2 + config["y"] ** 2})
    state = first.get_state()
    del state["counters"]["llm_gated"]
    again = LLMPSOSearcher(seed=0, llm=None, telemetry=False, surrogate_gate=True)
    again.set_state(state)
    again.set_search_properties("loss", "min", space)
    worst = max(again.history, key=lambda h: h["value"])["config"]
    assert again._choose_replacements([dict(worst)], 1)[1] == []
    assert again.counters["llm_gated"] == 1


def test_the_event_log_counts_what_the_gate_stopped(tmp_path):
    import json

    corner = {"configs": [{"x": 0.95, "n": 1, "act": "a", "lr": 0.1}, {"x": 0.9, "n": 1, "act": "a", "lr": 0.1}]}
    s = LLMPSOSearcher(seed=0, llm=ScriptedBackend([corner]), swarm_size=8, warmup=8, llm_every=8, wait_for_llm=True,
                       log_dir=str(tmp_path))
    s.set_search_properties("score", "min", dict(SPACE))
    s.add_evaluated_point({"x": 1.0, "n": 1, "act": "a", "lr": 0.1}, 500.0)
    for i in range(32):
        config = s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {"score": objective(config) + 100.0 * (config["n"] == 1)})
    s.close()
    answers = [e for e in map(json.loads, (tmp_path / "raytune_llm" / "events.jsonl").read_text().splitlines())
               if e.get("event") == "llm_answer"]
    assert answers and sum(e["gated"] for e in answers) == s.counters["llm_gated"] >= 1
