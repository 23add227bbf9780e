"""The load benchmark at a tiny budget: many trials in flight against a failing LLM server lose
nothing and raise nothing (``benchmarks/load.py``; the committed run has 1,000 trials, 32 in flight)."""

from __future__ import annotations

import json

import pytest

from benchmarks import load


def _check(path, *, runs: int, trials: int, tune_trials: int) -> list[dict]:
    data = json.loads(path.read_text())
    assert data["problems"] == [] and len(data["load_runs"]) == runs
    for run in data["load_runs"]:
        want = trials if run["mode"] == "in-process" else tune_trials
        assert run["lost"] == 0 and run["exceptions"] == 0 and not run["stalled"]
        assert run["started"] == run["finished"] == want
        assert run["suggest_ms"]["p50"] is not None and run["rss_mib"]["start"] is not None
        assert run["usage"]["requests"] > 0  # the searcher did ask the failing server
    assert sum(data["faults_served"].values()) > 0
    return data["load_runs"]


def test_load_in_process_loses_no_trial_to_a_failing_llm(tmp_path):
    out = tmp_path / "load-quick"
    assert load.main(["--trials", "60", "--concurrency", "8", "--tune-trials", "0", "--trial-s", "0.05,0.4",
                      "--out", str(out)]) == 0
    runs = _check(out.with_suffix(".json"), runs=2, trials=60, tune_trials=0)
    assert {r["searcher"] for r in runs} == {"llm-pso", "llm"}
    assert "| llm-pso | in-process | 60/60 | 8 | 0 | 0 |" in out.with_suffix(".md").read_text()


@pytest.mark.ray
@pytest.mark.slow
def test_load_through_ray_tune_loses_no_trial(tmp_path):
    out = tmp_path / "load-tune"
    assert load.main(["--trials", "24", "--concurrency", "8", "--tune-trials", "24", "--searchers", "llm-pso",
                      "--out", str(out)]) == 0
    runs = _check(out.with_suffix(".json"), runs=2, trials=24, tune_trials=24)
    assert [r["mode"] for r in runs] == ["in-process", "ray-tune"]


def test_random_answers_fit_the_request_schema():
    answer = load.RandomAnswers(0)({"response_format": {"type": "json_schema", "json_schema": {"schema": {
        "properties": {"configs": {"minItems": 3, "items": {"properties": {
            "x": {"type": "number", "minimum": -1, "maximum": 1}, "k": {"type": "integer", "minimum": 1, "maximum": 3},
            "c": {"enum": ["a", "b"]}}}}}}}}})
    assert len(answer["configs"]) == 3
    for config in answer["configs"]:
        assert -1 <= config["x"] <= 1 and config["k"] in (1, 2, 3) and config["c"] in ("a", "b")


def test_bad_options_are_refused(capsys):
    for argv in (["--trial-s", "0.5", "--out", "x"], ["--searchers", "optuna", "--out", "x"],
                 ["--error-rate", "1", "--out", "x"]):
        with pytest.raises(SystemExit):
            load.main(argv)
    assert "--error-rate must be in [0, 1), got 1.0" in capsys.readouterr().err
