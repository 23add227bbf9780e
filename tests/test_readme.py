"""The README's quickstart runs as written (a newcomer's first contact must not be stale)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def quickstart() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Quickstart\n\n```python\n(.*?)```", text, re.S)
    assert match, "README.md has no '## Quickstart' section with a python block"
    return match.group(1)


def test_the_quickstart_is_a_tuner_run_with_llmpsosearcher() -> None:
    code = quickstart()
    compile(code, "README quickstart", "exec")
    assert "LLMPSOSearcher" in code and "tune.Tuner" in code and "get_best_result" in code


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.llm
def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart(), encoding="utf-8")
    # as written: Tune writes to ~/ray_results, so give it a home of its own
    env = {**os.environ, "HOME": str(tmp_path), "RAY_AIR_NEW_OUTPUT": "0"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    best = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\{'lr': .*'layers': \d, 'dropout': .*'optimizer': '(adam|sgd)'\}", best), best
    assert (tmp_path / "ray_results").is_dir()
