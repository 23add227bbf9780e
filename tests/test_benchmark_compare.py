"""``python -m benchmarks.compare``: paired, per-seed comparison of harness results."""

from __future__ import annotations

import doctest
import gzip
import json
import math

import pytest

from benchmarks import compare


def run(searcher, seed, best, *, function="f", dim=2, concurrency=1, evals=None, budget=10):
    return {"searcher": searcher, "seed": seed, "best_at_budget": best, "evals_to_target": evals,
            "function": function, "dim": dim, "concurrency": concurrency, "budget": budget}


def write(path, runs):
    text = json.dumps({"runs": runs, "command": "test"})
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_sign_test_matches_the_binomial_and_handles_large_counts():
    assert compare.sign_test_p(10, 0) == pytest.approx(2 / 2 ** 10)
    assert compare.sign_test_p(5, 5) == 1.0
    assert compare.sign_test_p(3, 7) == compare.sign_test_p(7, 3) == pytest.approx(2 * 176 / 1024)
    assert 0 < compare.sign_test_p(741, 458) < 1e-15  # 1,199 pairs: no float overflow
    assert doctest.testmod(compare)[0] == 0


def test_runs_are_paired_by_cell_and_seed_across_files(tmp_path):
    base = [run("pso", s, 10.0 + s) for s in range(4)] + [run("pso", s, 5.0, dim=5) for s in range(4)]
    other = ([run("a", 0, 1.0), run("a", 1, 1.0), run("a", 2, 20.0), run("a", 3, 13.0)]   # 2 better, 1 worse, 1 tied
             + [run("a", s, 4.0, dim=5) for s in range(3)] + [run("a", 9, 0.0, dim=5)])  # seed 9: no pair
    runs = compare.load_runs([write(tmp_path / "a.json", base), write(tmp_path / "b.json.gz", other)])
    (all_cells,) = compare.compare(runs, "pso")
    assert (all_cells.wins, all_cells.losses, all_cells.ties) == (5, 1, 1)
    assert all_cells.p == pytest.approx(compare.sign_test_p(5, 1))
    assert (all_cells.cells, all_cells.cells_better) == (2, 2)
    by_dim = compare.compare(runs, "pso", by="dim")
    assert [(c.group, c.wins, c.losses, c.ties) for c in by_dim] == [("2", 2, 1, 1), ("5", 3, 0, 0)]
    assert by_dim[1].median_ratio == pytest.approx(4.0 / 5.0)
    assert [c.cells for c in compare.compare(runs, "pso", common=True)] == [2]  # "a" ran in both cells
    runs[("g", 2, 1)] = {"pso": {0: run("pso", 0, 1.0)}, "b": {0: run("b", 0, 0.5)}}
    assert [(c.searcher, c.cells) for c in compare.compare(runs, "pso")] == [("a", 2), ("b", 1)]
    assert compare.compare(runs, "pso", common=True) == []  # no cell where a, b and pso all ran
    del runs[("g", 2, 1)]
    evals = compare.compare(runs, "pso", metric="evals")  # no run reached a target: all budget + 1, tied
    assert (evals[0].wins, evals[0].losses, evals[0].ties) == (0, 0, 7)


def test_bad_input_is_named(tmp_path):
    good = write(tmp_path / "good.json", [run("pso", 0, 1.0), run("a", 0, 2.0)])
    conflict = write(tmp_path / "conflict.json", [run("pso", 0, 3.0)])
    with pytest.raises(ValueError, match="pso on .*seed 0, differs between .*good.json and .*conflict.json"):
        compare.load_runs([good, conflict])
    compare.load_runs([good, good])  # the same run twice is fine
    with pytest.raises(ValueError, match="base 'optuna' ran in none of the cells; searchers found: a, pso"):
        compare.compare(compare.load_runs([good]), "optuna")
    with pytest.raises(ValueError, match="by must be one of"):
        compare.compare(compare.load_runs([good]), "pso", by="seed")
    other_budget = write(tmp_path / "b100.json", [run("pso", 1, 1.0, budget=100)])
    with pytest.raises(ValueError, match=r"has runs with budget and durations \(10, None\) .* \(100, None\)"):
        compare.load_runs([good, other_budget])
    with pytest.raises(ValueError, match=r"searchers \['nope'\] ran in none of the cells"):
        compare.compare(compare.load_runs([good]), "pso", searchers=["a", "nope"])
    with pytest.raises(ValueError, match="no runs to compare"):
        compare.compare({}, "pso")
    no_budget = {("f", 2, 1): {n: {0: {"searcher": n, "evals_to_target": None}} for n in ("pso", "a")}}
    with pytest.raises(ValueError, match="has no budget to count it as budget"):
        compare.compare(no_budget, "pso", metric="evals")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="list.json is not a harness result"):
        compare.load_runs([tmp_path / "list.json"])


def test_cli_prints_the_tables(tmp_path, capsys):
    path = write(tmp_path / "r.json", [run("pso", s, 2.0) for s in range(3)] + [run("a", s, 1.0) for s in range(3)]
                 + [run("b", s, math.inf if s else 3.0) for s in range(3)])
    assert compare.main([str(path), "--base", "pso", "--cells", "--by", "concurrency"]) == 0
    out = capsys.readouterr().out
    assert "| a | all | 3 | 0 | 0 | 0.25 | 1 of 1 | 0.5 |" in out
    assert "| a | 1 | 3 | 0 | 0 |" in out
    assert "| b | all | 0 | 3 | 0 |" in out
    assert "| f | 2 | 1 | 2 | 1 (3) | inf (0) |" in out
    other = write(tmp_path / "g.json", [run("pso", 0, 2.0, function="g"), run("a", 0, 1.0, function="g")])
    assert compare.main([str(path), str(other), "--cells", "--common"]) == 0
    out = capsys.readouterr().out
    assert "| f | 2 | 1 |" in out and "| g | 2 | 1 |" not in out  # b did not run on g
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "missing.json")])
    assert "missing.json" in capsys.readouterr().err


def test_missing_values_count_as_the_worst_and_evals_use_the_target_index(tmp_path):
    runs = compare.load_runs([write(tmp_path / "r.json", [
        run("pso", 0, 1.0, evals=5), run("pso", 1, 1.0), run("pso", 2, float("nan")),
        run("a", 0, None, evals=3), run("a", 1, float("nan")), run("a", 2, 2.0, evals=9)])])
    (best,) = compare.compare(runs, "pso")
    assert (best.wins, best.losses, best.ties) == (1, 2, 0)  # None and NaN lose to 1.0; 2.0 beats a NaN
    (evals,) = compare.compare(runs, "pso", metric="evals")
    assert (evals.wins, evals.losses, evals.ties) == (2, 0, 1)  # 3 < 5; 9 < 11 (budget + 1); 11 = 11


def test_rows_follow_the_searchers_given(tmp_path, capsys):
    path = write(tmp_path / "r.json", [run(n, 0, v) for n, v in (("pso", 2.0), ("a", 1.0), ("b", 3.0))])
    assert compare.main([str(path), "--searchers", "b,a", "--by", "dim"]) == 0
    rows = [line.split(" | ")[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == ["| b", "| b", "| a", "| a"]


def test_at_compares_after_the_first_n_evaluations(tmp_path, capsys):
    # "a" leads after 2 evaluations on every seed and trails at the budget; seed 2 of "a" completed only 2 trials
    traces = {"pso": [[9.0, 8.0, 1.0], [9.0, 9.0, 2.0], [7.0, 7.0, 3.0]],
              "a": [[5.0, 5.0, 4.0], [5.0, 5.0, 5.0], [6.0, 6.0]]}
    evals = {"pso": [3, None, None], "a": [2, 1, None]}
    runs = [dict(run(n, s, trace[-1], evals=evals[n][s], budget=3), best_trace=trace)
            for n, ts in traces.items() for s, trace in enumerate(ts)]
    path = write(tmp_path / "r.json", runs)
    loaded = compare.load_runs([path])
    (end,) = compare.compare(loaded, "pso")
    assert (end.wins, end.losses, end.ties) == (0, 3, 0)
    (early,) = compare.compare(loaded, "pso", at=2)
    assert (early.wins, early.losses, early.ties) == (3, 0, 0)
    (last,) = compare.compare(loaded, "pso", at=3)  # a short trace gives its last value: 6.0 against 3.0
    assert (last.wins, last.losses) == (0, 3)
    (reached,) = compare.compare(loaded, "pso", metric="evals", at=1)  # within 1: only a's seed 1; others 2
    assert (reached.wins, reached.losses, reached.ties) == (1, 0, 2)
    assert compare.main([str(path), "--at", "2", "--cells"]) == 0
    out = capsys.readouterr().out
    assert "| a | 3 | 0 | 0 |" in out and "| f | 2 | 1 | 8 | 5 (3) |" in out
    assert "seeds better than pso after 2 evaluations" in out
    for bad in ("0", "4"):
        with pytest.raises(SystemExit):
            compare.main([str(path), "--at", bad])
        assert f"at={bad} is outside 1..3" in capsys.readouterr().err
    no_trace = write(tmp_path / "old.json", [run("pso", 0, 1.0), run("a", 0, 2.0)])
    with pytest.raises(ValueError, match="has no best_trace to read the best after 2 evaluations from"):
        compare.compare(compare.load_runs([no_trace]), "pso", at=2)
    # a run with no completed trial (empty trace) or a NaN in its trace counts as the worst
    empty = write(tmp_path / "empty.json", [dict(run("pso", 0, None, budget=3), best_trace=[]),
                                            dict(run("a", 0, 1.0, budget=3), best_trace=[float("nan"), 1.0])])
    (worst,) = compare.compare(compare.load_runs([empty]), "pso", at=1)
    assert (worst.wins, worst.losses, worst.ties) == (0, 0, 1)  # inf against inf
    (second,) = compare.compare(compare.load_runs([empty]), "pso", at=2)
    assert (second.wins, second.losses) == (1, 0)
