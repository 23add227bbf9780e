"""benchmarks.resultfiles: plain and gzipped result files read alike; ``pack`` gzips a results folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchmarks import compare, resultfiles


def test_resolve_prefers_the_plain_file_and_falls_back_to_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "a.json"
    assert resultfiles.resolve(plain) == plain  # neither exists: the name asked for
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(b'{"x": 1}'))
    assert resultfiles.resolve(plain) == tmp_path / "a.json.gz"
    assert resultfiles.read_json(plain) == {"x": 1}
    plain.write_text('{"x": 2}', encoding="utf-8")  # a rerun writes the plain file: the newer one
    assert resultfiles.read_json(plain) == {"x": 2}
    assert resultfiles.read_json(tmp_path / "a.json.gz") == {"x": 1}
    with pytest.raises(FileNotFoundError):
        resultfiles.read_text(tmp_path / "missing.json")


def test_pack_gzips_logs_and_large_json_only_and_is_reproducible(tmp_path: Path) -> None:
    log = '{"settings": {"budget": 5}, "version": {}}\n{"searcher": "pso"}\n'
    (tmp_path / "x-runs.jsonl").write_text(log, encoding="utf-8")
    (tmp_path / "cache-runs.jsonl").write_text('{"key": "a"}\n', encoding="utf-8")  # a cache, not a run log
    big = json.dumps({"runs": [{"v": i} for i in range(200)]})
    (tmp_path / "big.json").write_text(big, encoding="utf-8")
    (tmp_path / "small.json").write_text("{}", encoding="utf-8")
    (tmp_path / "x.md").write_text("# x\n", encoding="utf-8")
    done = resultfiles.pack(tmp_path, min_bytes=1000)
    assert sorted(new.name for _, new in done) == ["big.json.gz", "x-runs.jsonl.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json.gz", "cache-runs.jsonl", "small.json",
                                                           "x-runs.jsonl.gz", "x.md"]
    assert resultfiles.read_text(tmp_path / "x-runs.jsonl") == log and resultfiles.read_json(tmp_path / "big.json")
    first = (tmp_path / "big.json.gz").read_bytes()
    (tmp_path / "big.json").write_text(big, encoding="utf-8")  # packed again: the same bytes (no time stamp)
    resultfiles.pack(tmp_path, min_bytes=1000)
    assert (tmp_path / "big.json.gz").read_bytes() == first and not (tmp_path / "big.json").exists()


def test_compare_reads_a_gzipped_file_by_its_plain_name(tmp_path: Path) -> None:
    runs = [{"function": "f", "dim": 2, "concurrency": 1, "searcher": s, "seed": 0, "budget": 10,
             "best_at_budget": v, "evals_to_target": None} for s, v in (("pso", 2.0), ("llm", 1.0))]
    (tmp_path / "r.json.gz").write_bytes(gzip.compress(json.dumps({"runs": runs}).encode()))
    loaded = compare.load_runs([tmp_path / "r.json"])
    assert loaded[("f", 2, 1)]["llm"][0]["best_at_budget"] == 1.0


def test_harness_resumes_from_a_gzipped_run_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    harness = pytest.importorskip("benchmarks.harness")
    stem = tmp_path / "resume"
    base = ["--functions", "sphere", "--dims", "2", "--budget", "5", "--searchers", "random", "--out", str(stem)]
    assert harness.main([*base, "--seeds", "1"]) == 0
    first = harness.load_results(tmp_path / "resume.json")
    resultfiles.pack(tmp_path, min_bytes=0)  # what the committed results look like
    assert not (tmp_path / "resume-runs.jsonl").exists() and not (tmp_path / "resume.json").exists()
    assert harness.load_results(tmp_path / "resume.json")[0].values == first[0].values
    capsys.readouterr()
    assert harness.main([*base, "--seeds", "2", "--resume"]) == 0
    assert "1 runs kept" in capsys.readouterr().err  # seed 0 read from resume-runs.jsonl.gz
    assert not (tmp_path / "resume-runs.jsonl.gz").exists()  # one log: the plain one holds every run now
    lines = (tmp_path / "resume-runs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # settings + two runs
    runs = harness.load_results(tmp_path / "resume.json")  # the rerun's plain file, not the older .gz
    assert [r.seed for r in runs] == [0, 1] and runs[0].values == first[0].values
