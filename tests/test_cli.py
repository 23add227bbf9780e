from __future__ import annotations

import subprocess
import sys

import pytest

from raytune_llm.cli import main


@pytest.mark.llm
def test_propose_shows_embedded_proposals():
    result = subprocess.run([sys.executable, "-m", "raytune_llm.cli", "propose", "--n", "2"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "name | type | low | high | scale | choices" in result.stdout
    assert "Accepted" in result.stdout and '"num_layers"' in result.stdout
    assert "Traceback" not in result.stderr


def test_propose_with_a_bad_spec_is_one_clear_line(capsys):
    assert main(["propose", "--llm", "gpt-9"]) == 2
    err = capsys.readouterr().err
    assert "raytune-llm: error: unknown LLM spec 'gpt-9'" in err


@pytest.mark.ray
def test_tune_compares_searchers_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "raytune_llm.cli", "tune", "--task", "rastrigin", "--compare", "pso,sobol",
         "--trials", "6", "--concurrency", "2", "--dim", "2", "--storage", str(tmp_path), "--name", "cmp"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "| searcher | trials | best value | reached at trial |" in out
    assert "| pso | 6 |" in out and "| sobol | 6 |" in out
    assert (tmp_path / "cmp-convergence.png").stat().st_size > 1000
    assert "tensorboard --logdir_spec pso:" in out
    assert (tmp_path / "cmp-pso" / "raytune_llm" / "events.jsonl").exists()


@pytest.mark.parametrize("argv, words", [
    (["tune", "--searcher", "hyperband"], ["unknown searcher 'hyperband'", "llm-pso"]),
    (["tune", "--searcher", "metallmix"], ["not built yet"]),
    (["tune", "--gpus-per-trial", "-1"], ["--gpus-per-trial must be", "-1"]),
    (["tune", "--gpus-per-trial", "1.5"], ["--gpus-per-trial must be", "1.5"]),
    (["tune", "--cpus-per-trial", "0"], ["--cpus-per-trial must be > 0"]),
    (["tune", "--concurrency", "0"], ["--concurrency must be >= 1"]),
])
def test_tune_bad_arguments_are_one_clear_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_tune_bad_task_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--task", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


@pytest.mark.ray
def test_tune_unreachable_address(capsys):
    assert main(["tune", "--address", "127.0.0.1:1", "--trials", "1"]) == 2
    assert "cannot connect to the Ray cluster at --address '127.0.0.1:1'" in capsys.readouterr().err


@pytest.mark.ray
def test_tune_lstm_with_a_tiny_budget(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "raytune_llm.cli", "tune", "--task", "lstm", "--searcher", "pso", "--trials", "2",
         "--concurrency", "1", "--max-epochs", "1", "--data-fraction", "0.1", "--storage", str(tmp_path),
         "--name", "lstm"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| pso | 2 |" in result.stdout and "best val_rmse" in result.stdout
    assert (tmp_path / "lstm-convergence.png").exists()


@pytest.mark.ray
def test_tune_resume_finishes_an_experiment_without_rerunning(tmp_path):
    argv = [sys.executable, "-m", "raytune_llm.cli", "tune", "--task", "rastrigin", "--searcher", "pso", "--trials", "4",
            "--concurrency", "2", "--dim", "2", "--storage", str(tmp_path), "--name", "again"]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    trial_dirs = sorted(p.name for p in (tmp_path / "again").glob("rastrigin_*"))
    second = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "again").glob("rastrigin_*")) == trial_dirs  # nothing re-run
    assert "| pso | 4 |" in second.stdout
