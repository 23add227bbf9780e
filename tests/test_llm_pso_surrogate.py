"""LLMPSOSearcher with the surrogate (the default): proposers, the gate, per-origin counts, cost, state, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conformance.suite import SPACE, drive, objective
from ray import tune

from raytune_llm import LLMPSOSearcher
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.space import SearchSpace

DATA = Path(__file__).parent / "data"


def run_in_flight(make, n=48, *, in_flight=4, fail=("t9",), nan=("t13",)):
    """Suggest with ``in_flight`` trials running, completing the second oldest first; one failure, one NaN."""
    s = make()
    s.set_search_properties("score", "min", dict(SPACE))
    out, live, i = [], [], 0
    while len(out) < n:
        while len(live) < in_flight:
            tid = f"t{i}"
            i += 1
            config = s.suggest(tid)
            out.append(config)
            live.append((tid, config))
        tid, config = live.pop(1 if len(live) > 1 else 0)
        if tid in fail:
            s.on_trial_complete(tid, None, error=True)
        elif tid in nan:
            s.on_trial_complete(tid, {"score": float("nan")})
        else:
            s.on_trial_complete(tid, {"score": objective(config)})
    return out, s


def test_surrogate_none_and_no_llm_is_the_plain_swarm_trial_for_trial():
    """``plain_pso_seed7.json`` was recorded from LLMPSOSearcher(llm=None) before the surrogate existed."""
    expected = json.loads((DATA / "plain_pso_seed7.json").read_text())
    configs, s = run_in_flight(lambda: LLMPSOSearcher(seed=7, llm=None, telemetry=False, surrogate=None))
    assert configs == expected
    assert s.screen is None and set(s.origin_stats()) <= {"init", "pso"}


def test_model_and_perturbation_proposers_compete_without_an_llm_and_are_counted():
    configs, s = run_in_flight(lambda: LLMPSOSearcher(seed=3, llm=None, telemetry=False), n=64)
    stats = s.origin_stats()
    assert {"init", "pso", "model", "perturb"} <= set(stats)
    for origin, st in stats.items():
        assert st["accepted"] <= st["proposed"] and st["improved"] <= st["trials"] <= st["accepted"], (origin, st)
    assert sum(st["trials"] for st in stats.values()) == len(s.history)
    assert sum(st["improved"] for st in stats.values()) >= 2
    assert stats["model"]["accepted"] >= 1
    assert s.benchmark_extra()["per_origin"] == stats
    assert {h["origin"] for h in s.history} <= {"init", "pso", "trust", "model", "perturb"}


def test_the_gp_gate_stops_llm_proposals_where_the_history_is_worst_and_keeps_good_ones():
    corner = {"configs": [{"x": 0.95, "n": 1, "act": "a", "lr": 0.1}, {"x": 0.9, "n": 1, "act": "a", "lr": 0.1}]}
    good = {"configs": [{"x": 0.3, "n": 5, "act": "b", "lr": 10 ** -2.5}, {"x": 0.31, "n": 5, "act": "b", "lr": 0.003}]}
    runs = {}
    for name, answer in (("corner", corner), ("good", good)):
        for seed in range(6):
            # the LLM against the particles' planned moves only (no model or perturbation proposals)
            s = LLMPSOSearcher(seed=seed, llm=ScriptedBackend([answer]), telemetry=False, swarm_size=8,
                               wait_for_llm=True, surrogate_options={"proposers": []})
            s.set_search_properties("score", "min", dict(SPACE))
            s.add_evaluated_point({"x": 1.0, "n": 1, "act": "a", "lr": 0.1}, 500.0)
            for i in range(40):
                config = s.suggest(f"t{i}")
                s.on_trial_complete(f"t{i}", {"score": objective(config) + 100.0 * (config["n"] == 1)})
            runs[name, seed] = s
    for seed in range(6):  # the corner, where the history is worst, never gets a trial
        corner_llm = runs["corner", seed].origin_stats()["llm"]
        assert corner_llm["proposed"] >= 1 and corner_llm["accepted"] == 0 == runs["corner", seed].counters["llm_used"]
        assert runs["corner", seed].counters["llm_gated"] == corner_llm["proposed"]
    # the optimum gets trials on most seeds (where the swarm is already as close, the gate may prefer its move)
    kept = [seed for seed in range(6) if runs["good", seed].origin_stats()["llm"]["accepted"] >= 1]
    assert len(kept) >= 4
    for seed in kept:
        assert runs["good", seed].origin_stats()["llm"]["trials"] >= 1
        assert any(c in [h["config"] for h in runs["good", seed].history] for c in good["configs"])
    assert runs["good", 0].origin_stats()["warm-start"] == {"proposed": 1, "accepted": 1, "trials": 1, "improved": 1}

def test_hyperparameter_refits_happen_when_trials_complete_never_in_suggest(monkeypatch):
    from raytune_llm.surrogate.gp import MixedGP

    calls = {"suggest": 0, "complete": 0}
    where = {"now": "complete"}
    fits_at: list[int] = []  # the number of results at each hyperparameter fit
    original = MixedGP._optimize

    def counted(self, *args, **kwargs):
        calls[where["now"]] += 1
        fits_at.append(s.screen.n_finite)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MixedGP, "_optimize", counted)
    s = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
    for i in range(120):
        where["now"] = "suggest"
        config = s.suggest(f"t{i}")
        where["now"] = "complete"
        s.on_trial_complete(f"t{i}", {"score": objective(config)})
    assert calls["suggest"] == 0
    # the schedule: from min_points (3) results, a refit once max(refit_every, n // refit_growth) = max(5, n // 8)
    # results came since the last one: 17 refits over 120 results, not one per trial
    schedule, last = [], 0
    for n in range(3, 121):
        if last == 0 or n - last >= max(5, n // 8):
            schedule.append(n)
            last = n
    assert sorted(set(fits_at)) == schedule and len(schedule) == 17
    # one or two fits per refit (warp="auto" also fits the log-scaled costs, unless a quarter tie at the minimum)
    assert all(1 <= fits_at.count(n) <= 2 for n in schedule) and fits_at.count(schedule[1]) == 2


def test_save_restore_with_trials_in_flight_keeps_the_pending_points_and_continues_identically(tmp_path):
    def make():
        s = LLMPSOSearcher(seed=4, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
        for i in range(20):
            config = s.suggest(f"t{i}")
            s.on_trial_complete(f"t{i}", {"score": objective(config)})
        live = {f"p{i}": s.suggest(f"p{i}") for i in range(3)}
        return s, live

    def finish(s, live):
        for tid, config in live.items():
            s.on_trial_complete(tid, {"score": objective(config)})
        return drive(s, 12, start=100)

    whole, live = make()
    expected = finish(whole, live)
    first, live = make()
    assert set(first.screen.pending) == set(live)
    first.save(str(tmp_path / "ckpt.json"))
    second = LLMPSOSearcher(seed=4, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
    second.restore(str(tmp_path / "ckpt.json"))
    assert set(second.screen.pending) == set(live) and set(second._live) == set(live)
    assert finish(second, live) == expected
    assert second.origin_stats() == whole.origin_stats()


def test_a_state_restores_only_into_the_same_surrogate():
    plain = LLMPSOSearcher(seed=0, llm=None, telemetry=False, surrogate=None, metric="score", mode="min",
                           space=dict(SPACE))
    drive(plain, 5)
    gp = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
    with pytest.raises(ValueError, match="saved with surrogate=None into one built with surrogate='gp'"):
        gp.set_state(plain.get_state())


def test_per_origin_counts_reach_the_event_log_and_survive_a_restore(tmp_path):
    s = LLMPSOSearcher(seed=1, llm=None, log_dir=str(tmp_path), metric="score", mode="min", space=dict(SPACE))
    drive(s, 30)
    s.close()
    events = [json.loads(line) for line in (tmp_path / "raytune_llm" / "events.jsonl").read_text().splitlines()]
    rounds = [e for e in events if e.get("event") == "proposals"]
    proposed = sum(e["model"]["proposed"] for e in rounds if "model" in e)
    assert rounds and proposed == s.origin_stats()["model"]["proposed"]
    again = LLMPSOSearcher(seed=1, llm=None, telemetry=False)
    again.set_state(json.loads(json.dumps(s.get_state())))
    again.set_search_properties("score", "min", dict(SPACE))
    assert again.origin_stats() == s.origin_stats()


def _space(kind):
    if kind == "one parameter":
        return {"x": tune.uniform(-2, 2)}
    if kind == "40 parameters":
        return {f"p{i:02d}": tune.uniform(-1, 1) for i in range(40)}
    if kind == "only categorical":
        return {"a": tune.choice(["r", "g", "b"]), "b": tune.choice([1, 2]), "c": tune.choice(["x", "y", "z", "w"])}
    if kind == "constant":
        return {"x": tune.uniform(0, 1), "n": tune.randint(1, 4), "fixed": "const", "nested": {"k": 3}}
    return {"x": tune.uniform(0, 1), "n": tune.randint(1, 9), "act": tune.choice(["a", "b", "c"])}


def _value(config, kind, i):
    flat = [v for v in _flat(config).values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    value = sum((float(v) - 0.3) ** 2 for v in flat) + (0.1 * len(str(config)) % 1)
    if kind == "nan and inf" and i % 5 == 1:
        return float("nan") if i % 10 == 1 else float("inf")
    if kind == "duplicates":
        return round(value, 1)  # many equal values
    return value


def _flat(config, prefix=""):
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(_flat(v, prefix + k + "/"))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize("kind", ["nan and inf", "failed trials", "duplicates", "one parameter", "40 parameters",
                                  "only categorical", "constant"])
def test_bad_or_odd_input_runs_valid_trials_and_round_trips(kind):
    space = _space(kind)
    points = [{"x": 0.5, "n": 2, "act": "b"}] * 3 if kind == "duplicates" else None
    s = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="loss", mode="min", swarm_size=6,
                       points_to_evaluate=points)
    s.set_search_properties("loss", "min", space)
    checker = SearchSpace.from_tune(space)
    live, i, done = [], 0, 0
    while done < 30:
        while len(live) < 4:
            config = s.suggest(f"t{i}")
            assert isinstance(config, dict)
            checker.validate(config) if hasattr(checker, "validate") else checker.to_unit(config)
            if kind == "constant":
                assert config["fixed"] == "const" and config["nested"] == {"k": 3}
            live.append((f"t{i}", config))
            i += 1
        tid, config = live.pop(0)
        if kind == "failed trials" and done % 3 == 0:
            s.on_trial_complete(tid, None, error=True)
        else:
            s.on_trial_complete(tid, {"loss": _value(config, kind, done)})
        if kind == "duplicates" and done == 10:
            s.add_evaluated_point(_flat(config), 1.0)  # a configuration already run
        done += 1
    state = json.loads(json.dumps(s.get_state()))
    again = LLMPSOSearcher(seed=0, llm=None, telemetry=False)
    again.set_state(state)
    again.set_search_properties("loss", "min", space)
    assert again.get_state() == state
    for tid, config in live:
        again.on_trial_complete(tid, {"loss": _value(config, kind, 0)})
    for j in range(4):
        config = again.suggest(f"u{j}")
        assert isinstance(config, dict)
        again.on_trial_complete(f"u{j}", {"loss": _value(config, kind, j)})
    best = again.best
    assert best is not None and math.isfinite(best["value"])
    if kind not in ("only categorical", "duplicates"):  # a few distinct configurations exist there
        keys = [checker.key(h["config"]) for h in again.history if h["origin"] != "warm-start"]
        assert len(set(keys)) >= len(keys) - 3


def test_surrogate_options_reach_the_screen_and_the_swarm():
    s = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE),
                       surrogate_options={"acquisition": "lcb", "beta": 1.0, "window": 64, "proposers": ["model"]},
                       pso_options={"stagnation": 5, "screen_candidates": 4})
    assert s.screen.acquisition == "lcb" and s.screen.beta == 1.0 and s.screen.gp.window == 64
    assert s.pso.stagnation == 5 and s.pso.screen_candidates == 4 and s.pso.screen is s.screen
    drive(s, 40)
    assert "perturb" not in s.origin_stats() and s.pso.restarts >= 1
    assert "trust" in s.origin_stats()


def test_the_cli_table_shows_what_each_proposer_got_and_improved():
    from types import SimpleNamespace

    from raytune_llm.tuning import RunSummary, format_table

    s = LLMPSOSearcher(seed=2, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
    drive(s, 30)
    stats = s.origin_stats()
    summaries = [RunSummary("pso-gp", 30, 0.1, None, 12, origin_stats=stats),
                 RunSummary("optuna", 30, 0.2, None, 20)]
    table = format_table(summaries, SimpleNamespace(metric="score"))
    model = stats["model"]
    assert "proposals accepted/made (improved the best)" in table
    assert f"model {model['accepted']}/{model['proposed']} ({model['improved']})" in table.splitlines()[2]
    assert table.splitlines()[3].endswith("| - |")


def test_an_llm_answer_taken_in_suggest_competes_at_the_next_completion_never_in_suggest(monkeypatch):
    import time

    good = {"configs": [{"x": 0.3, "n": 5, "act": "b", "lr": 0.003}, {"x": 0.29, "n": 5, "act": "b", "lr": 0.004}]}
    where, rounds = {"in_suggest": False}, []
    original = LLMPSOSearcher._compete

    def spy(self, configs, k):
        rounds.append((where["in_suggest"], len(configs)))
        return original(self, configs, k)

    monkeypatch.setattr(LLMPSOSearcher, "_compete", spy)
    s = LLMPSOSearcher(seed=0, llm=ScriptedBackend([good]), telemetry=False, swarm_size=8)
    s.set_search_properties("score", "min", dict(SPACE))
    for i in range(40):
        where["in_suggest"] = True
        config = s.suggest(f"t{i}")
        where["in_suggest"] = False
        s.on_trial_complete(f"t{i}", {"score": objective(config)})
        time.sleep(0.02)  # the answer is ready by the next suggest(), which takes it
    s.close()
    assert rounds and not any(inside for inside, _ in rounds)
    assert any(n > 0 for _, n in rounds) and s.origin_stats()["llm"]["proposed"] >= 1


def test_the_default_screen_hedges_between_ei_and_lcb_scores_32_moves_and_chooses_its_warp():
    s = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE))
    assert s.screen.acquisition == "hedge" and s.pso.screen_candidates == 32 and s.screen.gp.warp == "auto"
    drive(s, 40)
    chosen = s.benchmark_extra()["hedge_chosen"]
    assert set(chosen) == {"ei", "lcb"} and sum(chosen.values()) > 40  # every screened move and gate asks it
    assert np.any(s.screen.gains != 0)  # rewarded from the results
    probs = s.screen.hedge_probabilities()
    assert set(probs) == {"ei", "lcb"} and math.isclose(sum(probs.values()), 1.0)
    again = LLMPSOSearcher(seed=0, llm=None, telemetry=False, metric="score", mode="min", space=dict(SPACE),
                           surrogate_options={"acquisition": "ei"}, pso_options={"screen_candidates": 8})
    assert again.screen.acquisition == "ei" and again.pso.screen_candidates == 8
    assert "hedge_chosen" not in again.benchmark_extra()
