"""The LLM rank probe (benchmarks/llm_rank_probe.py): ranks by hand, probes built from real data,
pickers scored on the true values, the command end to end, and one probe to the real embedded model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

try:
    import benchmarks  # noqa: F401
except ImportError:  # plain `pytest` without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import llm_rank_probe as probe  # noqa: E402
from benchmarks.compare import problem_bootstrap  # noqa: E402
from raytune_llm.llm.testing import ScriptedBackend  # noqa: E402


def test_true_rank_by_hand():
    assert [probe.true_rank([3.0, 1.0, 2.0], i, "min") for i in range(3)] == [3, 1, 2]
    assert [probe.true_rank([3.0, 1.0, 2.0], i, "max") for i in range(3)] == [1, 3, 2]
    assert probe.true_rank([1.0, 1.0, 0.5], 1, "min") == 2  # ties share the better rank


def test_function_probes_hide_true_values_and_the_pickers_use_only_the_history():
    probes = probe.function_probes(2, history=6, candidates=4, seed=0)
    assert len(probes) == 2 * len(probe.FUNCTIONS)
    p = probes[0]
    assert len(p.history) == 6 and len(p.candidates) == 4 and len(p.values) == 4
    text = probe.messages(p)[1]["content"]
    assert all(f"{v:.4g}" not in text for v in p.values)  # the candidates' values are not in the prompt
    assert "1. x0=" in text and "4. x0=" in text and '{"pick": N}' in text
    # a history whose best point IS candidate 3: nearest-best picks it, and ranks it by the true values
    p.history = [(p.candidates[2], 0.0), *p.history[1:]]
    assert probe.nearest_best_pick(p) == 2


def test_meta_probes_split_each_data_sets_experiments():
    pytest.importorskip("pytorch_lightning")  # the seed plan imports the trainables' spaces
    probes = probe.meta_probes(1, candidates=8, seed=0)
    assert len(probes) == 9 and {p.source for p in probes} == {"meta"}
    for p in probes:
        assert len(p.history) == 8 and len(p.candidates) == 8  # 16 experiments per data set, disjoint halves
        assert p.mode == ("max" if p.metric == "val_accuracy" else "min")


def test_scoring_with_a_scripted_model():
    probes = probe.function_probes(3, history=6, candidates=4, seed=1)
    answers = [{"pick": 2}] * len(probes)
    records = probe.run_probes(probes, ScriptedBackend(answers))
    assert [r["llm_pick"] for r in records] == [1] * len(probes)
    assert all(r["llm_rank"] == probe.true_rank(p.values, 1, "min") for r, p in zip(records, probes))
    rows = probe.summarize(records)
    llm = next(r for r in rows if r["picker"] == "llm")
    assert llm["mean_rank"] == pytest.approx(sum(r["llm_rank"] for r in records) / len(records))
    assert next(r for r in rows if r["picker"] == "chance")["mean_rank"] == 2.5  # no ties among random points
    assert probe.positions(records) == {"functions": {2: len(probes)}}


def test_a_failed_answer_is_counted_not_scored():
    probes = probe.function_probes(1, history=4, candidates=3, seed=2)[:2]
    records = probe.run_probes(probes, ScriptedBackend([{"pick": 9}, {"nope": 1}]))
    assert [r["llm_rank"] for r in records] == [None, None] and all(r["llm_error"] for r in records)
    assert next(r for r in probe.summarize(records) if r["picker"] == "llm")["failed"] == 2


def test_command_end_to_end(tmp_path):
    assert probe.main(["--quick", "--sources", "functions", "--llm", "scripted-first",
                       "--out", str(tmp_path / "probe")]) == 0
    data = json.loads((tmp_path / "probe.json").read_text())
    assert len(data["probes"]) == 2 * len(probe.FUNCTIONS) and data["positions"] == {"functions": {"1": 8}}
    assert "| functions | kernel |" in (tmp_path / "probe.md").read_text()


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        probe.main(["--sources", "nope"])
    assert "--sources" in capsys.readouterr().err


@pytest.mark.llm
def test_one_probe_with_the_real_embedded_model(embedded):
    p = probe.function_probes(1, history=5, candidates=4, seed=3)[0]
    (record,) = probe.run_probes([p], embedded)
    assert record["llm_error"] is None and 1 <= record["llm_rank"] <= 4


def test_chance_counts_ties_and_intervals_resample_problems():
    p = probe.function_probes(1, history=4, candidates=4, seed=4)[0]
    p.values = [1.0, 1.0, 1.0, 2.0]  # three tied best: a uniform pick's rank is 1, 1, 1 or 4
    (record,) = probe.run_probes([p], ScriptedBackend([{"pick": 4}]))
    assert record["chance_rank"] == pytest.approx(7 / 4) and record["chance_best"] == pytest.approx(3 / 4)
    assert record["llm_rank"] == 4
    group = [{"problem": "a", "x": 1.0}] * 5 + [{"problem": "b", "x": 3.0}] * 5
    lo, hi = problem_bootstrap(group, "x")
    assert lo == 1.0 and hi == 3.0  # with two problems a resample can be all-a or all-b


def test_probes_of_problems_with_names_of_equal_length_differ():
    pytest.importorskip("pytorch_lightning")
    probes = {p.problem: p for p in probe.meta_probes(1, candidates=8, seed=0)}
    assert probes["mnist"].candidates != probes["faces"].candidates  # seeded by name, not by its length
