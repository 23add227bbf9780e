"""The LLM proposal probe (benchmarks/llm_proposal_probe.py): probes cut from real runs show exactly
the history before the request, scores by hand, the controls' proposals, a scripted model at the
optimum and one that answers nothing, the command end to end, and one probe to the real model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("benchmarks") is None:  # plain `pytest` without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import llm_proposal_probe as probe  # noqa: E402
from raytune_llm.errors import LLMError  # noqa: E402
from raytune_llm.finetune.trajectories import Request  # noqa: E402
from raytune_llm.llm.testing import ScriptedBackend  # noqa: E402


@pytest.fixture(scope="module")
def run():
    """Two probes of shifted Rastrigin (one swarm prompt, one history prompt) and the runs they came from."""
    target = probe.function_targets(1)[0]
    runs = []
    real = probe.run_search

    def recording(*args, **kwargs):
        runs.append(real(*args, **kwargs))
        return runs[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(probe, "run_search", recording)
        probes = probe.target_probes(target, probes=2, budget=16, seed=0)
    return target, probes, runs


def _one_d(mode: str, shown: list[tuple[float, float]], n: int = 1,
           objective=lambda c: c["x"]) -> probe.Probe:
    """A hand-made probe on x in [0, 1] showing ``shown`` ``(x, value)`` trials, asking for ``n``."""
    from raytune_llm.proposals.render import space_schema
    from raytune_llm.space import FloatParam, SearchSpace

    space = SearchSpace((FloatParam("x", 0.0, 1.0),))
    request = Request([{"role": "user", "content": "propose"}], space_schema(space, n), "history", len(shown))
    return probe.Probe("hand", "line", space, "value", mode, objective, request,
                       [{"config": {"x": x}, "value": v} for x, v in shown], seed=3)


def test_probes_show_exactly_the_history_before_their_request(run):
    target, probes, runs = run
    assert len(runs) == 2 and {t.searcher for t in runs} == {"pso", "random"}
    assert sorted(p.request.tag for p in probes) == ["history", "pso-replace"]
    for p in probes:
        (trajectory,) = [t for t in runs if any(r is p.request for r in t.requests)]
        assert p.shown == trajectory.history[:p.request.done]
        assert p.request.done >= probe.MIN_DONE and p.n == p.request.n >= 1
        assert p.problem == target.name == "rastrigin-shift1-d5" and p.mode == "min"


def test_improved_and_gain_by_hand():
    # shown best 1.0; a proposal worth 0.5 beats it when minimising, not when maximising
    low = probe._scored(_one_d("min", [(0.1, 1.0), (0.2, 3.0)]), [{"x": 0.5}])
    assert low["improved"] == 1 and low["gain"] == pytest.approx(0.5 / 2.0) and low["best"] == 0.5
    high = probe._scored(_one_d("max", [(0.1, 1.0), (0.2, 0.0)]), [{"x": 0.5}])
    assert high["improved"] == 0 and high["gain"] == 0.0 and high["valid"] == 1.0
    assert probe.score([1.0], [1.0, 2.0], "min", 1)["improved"] == 0  # a tie does not beat the best
    assert probe.score([None], [1.0, 2.0], "min", 1)["improved"] == 0  # a failed evaluation does not either
    assert probe.score([], [1.0, 2.0], "min", 4) == {"valid": 0.0, "improved": 0, "gain": 0.0, "best": None}
    assert probe.score([0.5, 3.0], [1.0, 2.0], "max", 4)["valid"] == 0.5


def test_the_llm_answer_is_screened_against_the_history_shown():
    p = _one_d("min", [(0.1, 1.0), (0.2, 3.0)], n=3)
    backend = ScriptedBackend([{"configs": [{"x": 0.5}, {"x": 0.1}, {"x": 7}]}])  # new, shown, out of range
    configs, error, _ = probe.llm_proposals(backend, p, timeout_s=5)
    assert error is None and configs == [{"x": 0.5}, {"x": 1.0}]  # the shown one dropped, 7 clipped
    rec = probe.run_probe(p, ScriptedBackend([{"configs": [{"x": 0.5}, {"x": 0.1}, {"x": 7}]}]))
    assert rec["llm_valid"] == pytest.approx(2 / 3) and rec["llm_improved"] == 1 and rec["llm_failed"] == 0


def test_controls_make_n_new_configurations_in_the_space(run):
    _, probes, _ = run
    for p in probes:
        seen = p.seen()
        best = p.space.to_unit(min(p.shown, key=lambda h: h["value"])["config"])
        for name, make in (("random", probe.random_proposals), ("near_best", probe.near_best_proposals),
                           ("model", probe.model_proposals)):
            configs = make(p, np.random.default_rng(0))
            keys = {p.space.key(c) for c in configs}
            assert len(configs) == len(keys) == p.n, name
            assert not keys & seen and all(p.space.check(c) == [] for c in configs), name
            if name == "near_best":  # sd 0.02 of each unit range around the best shown
                assert max(np.abs(p.space.to_unit(c) - best).max() for c in configs) < 0.1


def test_model_proposals_follow_the_fitted_screen():
    p = _one_d("min", [(x, (x - 0.7) ** 2) for x in (0.05, 0.15, 0.3, 0.4, 0.5, 0.85, 0.95, 0.99)], n=8,
               objective=lambda c: (c["x"] - 0.7) ** 2)
    model = [abs(c["x"] - 0.7) for c in probe.model_proposals(p, np.random.default_rng(1))]
    rand = [abs(c["x"] - 0.7) for c in probe.random_proposals(p, np.random.default_rng(1))]
    assert len(model) == len(rand) == 8
    assert model[0] < np.median(rand) and model[0] < 0.1  # the acquisition's best is near the optimum


def test_a_model_answering_the_optimum_always_improves_and_an_empty_one_never(run):
    target, probes, _ = run
    optimum = target.objective.optimum_point(probe.DIM)

    def at_optimum(messages, schema):
        n = schema["properties"]["configs"]["minItems"]
        return {"configs": [{f"x{i}": float(v) + 1e-3 * j for i, v in enumerate(optimum)} for j in range(n)]}

    best, empty = ScriptedBackend([at_optimum]), ScriptedBackend([{"configs": []}])
    records = probe.run_probes(probes, best, lora=empty)
    assert [r["llm_improved"] for r in records] == [1, 1] and [r["llm_valid"] for r in records] == [1.0, 1.0]
    assert [r["llm_lora_improved"] for r in records] == [0, 0] and [r["llm_lora_valid"] for r in records] == [0, 0]
    assert all(r["llm_lora_failed"] == 1 and r["llm_lora_error"] == "no valid configuration" for r in records)
    for (messages, schema, kw), p in zip(best.calls, probes):  # the request as the searcher sends it
        assert messages == p.request.messages and schema == p.request.schema
        assert kw == {"temperature": 0.7, "max_tokens": 60 + 25 * 5 * p.n, "seed": p.seed}
    rows = {r["proposer"]: r for r in probe.summarize(records)}
    assert set(rows) == {"llm", "llm_lora", "random", "near_best", "model"}
    assert rows["llm"]["p_improved"] == 1.0 and rows["llm"]["failed"] == 0
    assert rows["llm_lora"]["p_improved"] == 0.0 and rows["llm_lora"]["failed"] == 2
    tests = {(t["a"], t["b"]): t for t in probe.sign_tests(records)}
    assert tests[("llm_lora", "llm")] == {"source": "functions", "a": "llm_lora", "b": "llm", "a_only": 0,
                                          "b_only": 2, "ties": 0, "p": 0.5}
    assert set(tests) == {("llm", "random"), ("llm", "near_best"), ("llm", "model"), ("llm_lora", "llm"),
                          ("llm_lora", "random"), ("llm_lora", "near_best"), ("llm_lora", "model")}


def test_a_failing_model_is_counted_not_scored():
    p = _one_d("min", [(0.1, 1.0), (0.2, 3.0)], n=2)
    configs, error, _ = probe.llm_proposals(ScriptedBackend([LLMError("server down")]), p, timeout_s=5)
    assert configs == [] and error.startswith("LLMError") and "server down" in error
    rec = probe.run_probe(p, ScriptedBackend([LLMError("server down")]))
    assert (rec["llm_valid"], rec["llm_improved"], rec["llm_gain"], rec["llm_failed"]) == (0.0, 0, 0.0, 1)


def test_command_end_to_end(tmp_path):
    assert probe.main(["--quick", "--llm", "scripted-empty", "--out", str(tmp_path / "probe")]) == 0
    data = json.loads((tmp_path / "probe.json").read_text())
    assert len(data["probes"]) == 4 and {r["prompt"] for r in data["probes"]} == {"pso-replace", "history"}
    assert {(r["source"], r["proposer"]) for r in data["rows"]} == {
        (s, p) for s in ("functions", "salomon") for p in ("llm", "random", "near_best", "model")}
    llm = [r for r in data["rows"] if r["proposer"] == "llm"]
    assert all(r["p_improved"] == 0 and r["valid"] == 0 and r["failed"] == 2 for r in llm)
    assert {t["source"] for t in data["sign_tests"]} == {"functions", "salomon", "all"}
    md = (tmp_path / "probe.md").read_text()
    assert "| salomon | near_best | 2 |" in md and "| all | llm vs model |" in md and "--quick" in md


@pytest.mark.parametrize("argv, named", [(["--sources", "nope"], "nope"), (["--budget", "5"], "--budget"),
                                         (["--probes", "0"], "--probes"), (["--timeout", "0"], "--timeout")])
def test_bad_arguments(argv, named, capsys):
    with pytest.raises(SystemExit):
        probe.main(argv)
    assert named in capsys.readouterr().err


@pytest.mark.llm
@pytest.mark.slow
def test_one_probe_with_the_real_embedded_model(embedded):
    target = probe.salomon_targets(2)[1]  # two parameters: a short answer
    (p,) = probe.target_probes(target, probes=1, budget=10, seed=0)
    record = probe.run_probe(p, embedded)
    assert record["prompt"] == "pso-replace" and record["n"] == 4
    assert record["llm_error"] is None or record["llm_failed"] == 1
    assert 0.0 <= record["llm_valid"] <= 1.0 and record["llm_improved"] in (0, 1) and record["llm_gain"] >= 0
    assert len(record["llm_values"]) == round(record["llm_valid"] * 4) and record["llm_seconds"] > 0
    json.dumps(record)  # JSON-able as written to the results
