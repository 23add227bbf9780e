"""The main job end to end with the real embedded model (SmolLM2 through llama.cpp): ``raytune-llm
tune`` with each LLM searcher on a small LSTM budget, and the ``make demo`` command at its smallest.

``--wait-for-llm`` lets a trial wait for the model's answer (4 s on idle cores, up to 50 s on a busy
machine), so that LLM-proposed trials run however slow the model is here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.ray]

#: the console script that ``make demo`` runs, installed next to this interpreter
RAYTUNE_LLM = os.path.join(os.path.dirname(sys.executable), "raytune-llm")
LSTM_TINY = ["--task", "lstm", "--max-epochs", "1", "--data-fraction", "0.1", "--seed", "0"]


def _cli(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    assert os.path.isfile(RAYTUNE_LLM), f"no console script at {RAYTUNE_LLM}: pip install -e . first"
    return subprocess.run([RAYTUNE_LLM, *argv], capture_output=True, text=True, timeout=timeout)


def _table_row(out: str, searcher: str) -> dict[str, str]:
    """The summary table's row of ``searcher`` as ``{column: cell}``."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == searcher:
            return dict(zip(header, cells))
    raise AssertionError(f"no row for {searcher} in:\n{out}")


def _progress(out: str, searcher: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(f"{searcher}  trial ")]


@pytest.mark.parametrize("searcher, trials, concurrency", [
    ("llm", 2, 1),        # LLMSearcher: its first request goes out at the first suggest()
    ("llm-pso", 16, 2),   # LLMPSOSearcher: asks after its 8-trial warm-up; the answer is gated by trial 16
])
def test_tune_lstm_runs_llm_proposed_trials(tmp_path, searcher, trials, concurrency):
    result = _cli("tune", *LSTM_TINY, "--searcher", searcher, "--wait-for-llm", "--trials", str(trials),
                  "--concurrency", str(concurrency), "--storage", str(tmp_path), "--name", searcher)
    assert result.returncode == 0, result.stderr[-3000:]
    row = _table_row(result.stdout, searcher)
    assert row["trials"] == str(trials) and int(row["LLM calls"]) > 0
    if searcher == "llm":
        assert int(row["LLM trials"]) > 0
    else:  # LLM-PSO: the model's answers reach the gate, where they compete with the surrogate's own proposals
        made = re.search(r"llm (\d+)/(\d+)", row["proposals accepted/made (improved the best)"])
        assert made and int(made.group(2)) > 0, row
        assert int(row["LLM trials"]) <= int(made.group(1))  # an accepted proposal may not have run yet
    lines = _progress(result.stdout, searcher)
    assert len(lines) == trials and sum(line[3] == "llm" for line in lines) == int(row["LLM trials"])
    if int(row["LLM trials"]) > 0:
        assert "note:" not in result.stdout  # the LLM proposed trials: nothing to explain
    assert (tmp_path / f"{searcher}-convergence.png").exists()


def test_make_demo_command_at_its_smallest(tmp_path):
    # what `make demo` runs, with the budget options turned down: LLM-PSO and PSO side by side
    result = _cli("demo", "--trials", "3", "--concurrency", "2", "--max-epochs", "1", "--data-fraction", "0.1",
                  "--storage", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "$ raytune-llm tune --task lstm --compare llm-pso,pso --trials 3 --concurrency 2 --max-epochs 1 " \
           "--data-fraction 0.1" in out
    for searcher in ("llm-pso", "pso"):
        assert _table_row(out, searcher)["trials"] == "3"
        assert [line[2] for line in _progress(out, searcher)] == ["1/3", "2/3", "3/3"]
    # 3 trials end before LLM-PSO's warm-up of 8: the run says so instead of leaving "0 LLM trials" unexplained
    assert "note: the LLM was not asked in 3 trials (it asks after 8 finished trials)" in out
    assert "Configuration for experiment" not in out and "Trial status" not in out
    assert (tmp_path / "demo-lstm-convergence.png").stat().st_size > 1000
    assert re.search(r"tensorboard --logdir_spec llm-pso:\S+demo-lstm-llm-pso,pso:\S+demo-lstm-pso", out)
