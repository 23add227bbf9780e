from __future__ import annotations

import subprocess
import sys

import pytest

from raytune_llm.cli import main


@pytest.mark.llm
def test_demo_shows_embedded_proposals():
    result = subprocess.run([sys.executable, "-m", "raytune_llm.cli", "demo", "--n", "2"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "name | type | low | high | scale | choices" in result.stdout
    assert "Accepted" in result.stdout and '"num_layers"' in result.stdout
    assert "Traceback" not in result.stderr


def test_demo_with_a_bad_spec_is_one_clear_line(capsys):
    assert main(["demo", "--llm", "gpt-9"]) == 2
    err = capsys.readouterr().err
    assert "raytune-llm: error: unknown LLM spec 'gpt-9'" in err
