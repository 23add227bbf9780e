"""``make gpu-check`` (``benchmarks/gpu_check.py``) on a machine without a CUDA device, and the parts
of the check that run anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import gpu_check


@pytest.mark.skipif(gpu_check.cuda_available(), reason="this machine has a CUDA device: the check would run")
def test_without_a_gpu_it_says_so_and_succeeds(tmp_path):
    out = tmp_path / "gpu-check"
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(out)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "no CUDA device: nothing to check"
    assert not list(tmp_path.iterdir())  # nothing written


def test_max_overlap_counts_trials_sharing_the_gpu():
    assert gpu_check.max_overlap([]) == 0
    assert gpu_check.max_overlap([(0, 4), (1, 5), (2, 3), (6, 7)]) == 3
    assert gpu_check.max_overlap([(0, 1), (1, 2)]) == 1  # one ends as the next starts


@pytest.mark.slow
def test_finetuning_step_runs_on_the_given_device():
    # the check's LoRA steps, on the CPU here (the check itself runs them on "cuda")
    pytest.importorskip("peft")
    report = gpu_check.check_finetuning(device="cpu", steps=1)
    assert not report["skipped"] and report["steps"] == 1 and len(report["losses"]) == 1
    assert report["examples"] > 0 and "1 LoRA steps on cpu" in report["note"]


def test_bad_gpu_fraction_is_refused():
    with pytest.raises(SystemExit, match="--gpu-fraction must be in"):
        gpu_check.main(["--out", "x", "--gpu-fraction", "1.5"])


@pytest.mark.ray
@pytest.mark.slow
def test_trainable_check_reports_where_each_trial_trained():
    # the GPU check's Tune part, on CPU (0 GPUs per trial): every field is filled, nothing on a GPU
    from support.ray_local import local_ray

    with local_ray():
        report = gpu_check.check_trainable("cnn", trials=2, gpu_fraction=0, max_epochs=1, data_fraction=0.2)
    assert report["errors"] == [] and len(report["trials"]) == 2 and not report["on_gpu"]
    for trial in report["trials"]:
        assert trial["root_device"] == "cpu" and trial["cuda"] is False and trial["ray_gpu_ids"] == []
        assert 0 <= trial["val_accuracy"] <= 1 and trial["ended"] >= trial["started"]
    assert 1 <= report["max_concurrent"] <= 2
    md = gpu_check.to_markdown({"trainables": [report], "embedded_model": {
        "n_gpu_layers": -1, "gpu_offload_supported": False, "answered": False, "error": "x", "seconds_with_load": 0},
        "finetuning": {"skipped": True, "note": "not run here"}})
    assert "| cnn | 1 | cpu |" in md and "on the GPU: False" in md
