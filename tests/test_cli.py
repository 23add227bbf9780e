from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from raytune_llm.cli import main
from support.blocking import TORCH, block_modules


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
    # the default view: one line per finished trial (searcher, origin, value, best so far), no Ray tables
    for searcher, origin in (("pso", "init"), ("sobol", "sobol")):
        lines = [line for line in out.splitlines() if line.startswith(f"{searcher}  trial ")]
        assert [line.split()[2] for line in lines] == [f"{i}/6" for i in range(1, 7)]
        assert all(line.split()[3] == origin and " value " in line and " best " in line for line in lines)
    for ray_output in ("Configuration for experiment", "Trial status", "View detailed results here", "╭"):
        assert ray_output not in out


@pytest.mark.ray
def test_tune_verbose_shows_rays_own_tables_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "raytune_llm.cli", "tune", "--verbose", "--task", "rastrigin", "--searcher", "pso",
         "--trials", "3", "--dim", "2", "--storage", str(tmp_path), "--name", "loud"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Configuration for experiment" in result.stdout and "Trial status" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("pso  trial ")]) == 3


def test_verbose_goes_before_or_after_the_command():
    from raytune_llm.cli import build_parser

    parser = build_parser()
    assert not parser.parse_args(["tune"]).verbose
    assert parser.parse_args(["-v", "tune"]).verbose and parser.parse_args(["tune", "--verbose"]).verbose
    demo = parser.parse_args(["demo", "-v", "--trials", "3", "--max-epochs", "1", "--data-fraction", "0.1"])
    assert demo.verbose and (demo.trials, demo.max_epochs, demo.data_fraction) == (3, 1, 0.1)
    assert parser.parse_args(["tune", "--searcher", "llm", "--wait-for-llm"]).wait_for_llm


@pytest.mark.ray
def test_tune_says_why_the_llm_answered_zero_times(tmp_path, monkeypatch):
    # an OpenAI-compatible server that never answers: 12 fast Rastrigin trials end before any answer
    from support.fault_server import FaultServer

    with FaultServer(default="hang") as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "test"}
        result = subprocess.run(
            [sys.executable, "-m", "raytune_llm.cli", "tune", "--task", "rastrigin", "--searcher", "llm-pso", "--llm",
             "openai:fault-model", "--trials", "12", "--dim", "2", "--storage", str(tmp_path), "--name", "mute"],
            capture_output=True, text=True, timeout=600, env=env)
        asked = len(server.requests)
    assert result.returncode == 0, result.stderr[-3000:]
    assert asked == 1  # after the warm-up of 8 trials; the request hung until the end
    note = next(line for line in result.stdout.splitlines() if line.startswith("  note: "))
    assert "the LLM answered 0 times before the trials finished (answers take more than " in note
    assert "its first request, sent after trial 8, was unanswered when the trials ended; trials take " in note
    assert "use --wait-for-llm or a faster model (--llm openai:MODEL" in note
    assert "| llm-pso | 12 |" in result.stdout


@pytest.mark.parametrize("argv, words", [
    (["tune", "--searcher", "hyperband"], ["unknown searcher 'hyperband'", "llm-pso"]),
    (["tune", "--searcher", "metallmix"], ["metallmix searcher needs a task with past experiments", "rastrigin"]),
    (["tune", "--gpus-per-trial", "-1"], ["--gpus-per-trial must be", "-1"]),
    (["tune", "--gpus-per-trial", "1.5"], ["--gpus-per-trial must be", "1.5"]),
    (["tune", "--cpus-per-trial", "0"], ["--cpus-per-trial must be > 0"]),
    (["tune", "--concurrency", "0"], ["--concurrency must be >= 1"]),
    # checked before Ray starts: before, the pso experiment ran first and then llm-pso failed
    (["tune", "--compare", "pso,llm-pso", "--llm", "openai:"], ["needs a model name", "openai:gpt-4o-mini"]),
    (["tune", "--searcher", "llm", "--llm", "gpt-9"], ["unknown LLM spec 'gpt-9'"]),
    (["tune", "--task", "lstm", "--max-epochs", "0"], ["max_epochs must be >= 1, got 0"]),
    (["tune", "--task", "cnn", "--data-fraction", "5"], ["data_fraction must be in (0.0, 1.0], got 5.0"]),
    (["propose", "--n", "0"], ["--n must be >= 1", "got 0"]),
])
def test_tune_bad_arguments_are_one_clear_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


@pytest.mark.parametrize("argv, words", [
    (["tune", "--task", "resnet"], "invalid choice: 'resnet'"),
    (["tune", "--task", "cnn", "--dataset", "cifar"], "invalid choice: 'cifar' (choose from 'textures'"),
])
def test_tune_bad_task_or_data_set_is_rejected_by_the_parser(capsys, argv, words):
    with pytest.raises(SystemExit):
        main(argv)
    assert words in capsys.readouterr().err


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
    first = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "nothing to resume at" in first.stderr  # a --resume of a name that never ran says so, then runs
    trial_dirs = sorted(p.name for p in (tmp_path / "again").glob("rastrigin_*"))
    second = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "again").glob("rastrigin_*")) == trial_dirs  # nothing re-run
    assert "| pso | 4 |" in second.stdout and "nothing to resume" not in second.stderr
    third = subprocess.run(argv, capture_output=True, text=True, timeout=600)  # a new run of the same name
    assert third.returncode == 0, third.stderr[-3000:]
    assert "continue it later with --name again-2 --resume" in third.stderr
    assert str(tmp_path / "again-2") in third.stdout
    assert sorted(p.name for p in (tmp_path / "again").glob("rastrigin_*")) == trial_dirs  # the old one untouched
    assert len(list((tmp_path / "again-2").glob("rastrigin_*"))) == 4


def test_fresh_experiment_name_skips_folders_that_hold_something(tmp_path):
    from raytune_llm.tuning import fresh_experiment_name

    assert fresh_experiment_name(str(tmp_path), "exp") == "exp"
    (tmp_path / "exp").mkdir()
    assert fresh_experiment_name(str(tmp_path), "exp") == "exp"  # an empty folder is free
    (tmp_path / "exp" / "trial").mkdir()
    (tmp_path / "exp-2").write_text("a file, not a folder")
    assert fresh_experiment_name(str(tmp_path), "exp") == "exp-3"
    (tmp_path / "cmp-pso").mkdir()  # --compare llm-pso,pso: one taken folder renames both
    (tmp_path / "cmp-pso" / "trial").mkdir()
    assert fresh_experiment_name(str(tmp_path), "cmp", ["-llm-pso", "-pso"]) == "cmp-2"
    assert fresh_experiment_name(str(tmp_path), "cmp", ["-llm-pso"]) == "cmp"


def test_local_storage_tells_folders_from_uris(tmp_path, monkeypatch):
    from raytune_llm.tuning import local_storage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert local_storage("runs") == str(tmp_path / "runs")
    assert local_storage("~/ray_results") == str(tmp_path / "home" / "ray_results")
    assert local_storage("s3://bucket/runs") is None and local_storage("gs://b") is None


# ---------------------------------------------------------------------------------------- MetaLLMiX
@pytest.fixture
def cnn_meta(tmp_path):
    from support.metastores import build_cnn_store

    build_cnn_store(tmp_path / "meta.sqlite").close()
    return str(tmp_path / "meta.sqlite")


def test_recommend_with_the_meta_learner_as_json(cnn_meta, capsys):
    from raytune_llm.space import SearchSpace
    from trainables import cnn_space

    assert main(["recommend", "--task", "cnn", "--dataset", "textures", "--meta", cnn_meta, "--llm", "none",
                 "--json"]) == 0
    rec = __import__("json").loads(capsys.readouterr().out)
    space = SearchSpace.from_tune(cnn_space("textures"))
    assert rec["path"] == "meta-learner" and rec["model"] == "cnn" and rec["metric"] == "val_accuracy"
    assert space.check(rec["config"]) == [] and rec["judge"] is None and rec["dataset"] == "textures"
    assert 0 < rec["expected_metric"] <= 1 and len(rec["candidates"]) == 5


def test_recommend_prints_the_recommendation(cnn_meta, capsys):
    assert main(["recommend", "--task", "cnn", "--dataset", "mnist", "--meta", cnn_meta, "--llm", "none"]) == 0
    out = capsys.readouterr().out
    for word in ("Model:         cnn", "Configuration: {", "Expected val_accuracy:", "higher is better", "Explanation:",
                 "Judge score:   none", "Path:          meta-learner"):
        assert word in out


#: Runs the CLI with torch and Lightning made unimportable (an install without the ``train`` extra).
WITHOUT_TORCH = block_modules(TORCH) + "from raytune_llm.cli import main\nsys.exit(main(sys.argv[1:]))\n"


@pytest.mark.llm
def test_recommend_end_to_end_with_the_embedded_model_and_no_torch(cnn_meta):
    # The spaces come from the torch-free trainables.configs: recommending needs no train extra.
    result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "recommend", "--task", "cnn", "--dataset",
                             "textures", "--meta", cnn_meta, "--llm", "embedded", "--attempts", "1"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Configuration: {" in out and "Expected val_accuracy:" in out and "Explanation:" in out
    assert "Judge score:   " in out and "/5 (format " in out  # the judge scored the embedded model's answer
    assert any(f"Path:          {p} (" in out for p in ("llm", "meta-learner"))


@pytest.mark.parametrize("argv, words", [
    (["recommend", "--meta", "/nonexistent/meta.sqlite"], ["no meta-dataset at --meta", "/nonexistent/meta.sqlite"]),
    (["meta", "show", "--meta", "/nonexistent/m.sqlite"], ["no meta-dataset at --meta"]),
])
def test_meta_commands_with_a_missing_store_are_one_clear_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words)


def test_meta_ingest_of_a_missing_folder_creates_no_store(tmp_path, capsys):
    new = tmp_path / "new.sqlite"
    assert main(["meta", "ingest", str(tmp_path / "nope"), "--dataset", "x", "--model", "m", "--meta", str(new)]) == 2
    assert "no experiment folder at" in capsys.readouterr().err and not new.exists()
    assert main(["meta", "show", "--top", "0"]) == 2
    assert "--top must be >= 1, got 0" in capsys.readouterr().err


def test_recommend_an_unknown_data_set(cnn_meta, capsys):
    assert main(["recommend", "--task", "cnn", "--dataset", "cifar", "--meta", cnn_meta, "--llm", "none"]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err


def test_meta_show_lists_data_sets_and_one_data_sets_experiments(cnn_meta, capsys):
    assert main(["meta", "show", "--meta", cnn_meta]) == 0
    out = capsys.readouterr().out
    assert "| data set | task | experiments | models | metric | best |" in out
    assert "| textures | image-classification | 12 | cnn | val_accuracy |" in out and out.count("| cnn |") == 4
    assert main(["meta", "show", "--meta", cnn_meta, "--dataset", "textures", "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  cnn: val_accuracy=")]
    assert "n_classes=3" in out and "12 experiment(s), best first:" in out and len(lines) == 3
    values = [float(line.split("=")[1].split(" ")[0]) for line in lines]
    assert values == sorted(values, reverse=True)


def test_meta_export_finetune_writes_chat_jsonl(cnn_meta, tmp_path, capsys):
    import json

    out = tmp_path / "ft.jsonl"
    assert main(["meta", "export-finetune", str(out), "--meta", cnn_meta, "--task", "cnn"]) == 0
    assert "Wrote 4 chat example(s)" in capsys.readouterr().out
    examples = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(examples) == 4
    for example in examples:
        roles = [m["role"] for m in example["messages"]]
        answer = json.loads(example["messages"][2]["content"])
        assert roles == ["system", "user", "assistant"] and answer["model"] == "cnn"
        assert set(answer["configuration"]) == {"batch_size", "dropout", "filters", "kernel_size", "lr",
                                                "num_conv_layers"}


def test_meta_build_prints_the_cross_validation_error(cnn_meta, capsys):
    assert main(["meta", "build", "--meta", cnn_meta, "--task", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "image-classification: meta-learner of val_accuracy (max) fitted; cross-validation error: rmse=" in out
    assert "baseline_rmse=" in out


def test_tune_builds_the_metallmix_searcher(cnn_meta):
    from raytune_llm import MetaLLMiXSearcher, tuning
    from raytune_llm.space import SearchSpace

    task = tuning.make_task("cnn", dataset="digits")
    searcher = tuning.make_searcher("metallmix", seed=0, llm=None, metric=task.metric, mode=task.mode, task=task,
                                    meta=cnn_meta)
    assert isinstance(searcher, MetaLLMiXSearcher) and searcher.dataset == "digits" and searcher.model == "cnn"
    searcher.set_search_properties(task.metric, task.mode, task.space)
    config = searcher.suggest("t0")
    assert SearchSpace.from_tune(task.space).check(config) == [] and config["dataset"] == "digits"
    assert searcher.recommendation.path == "meta-learner" and searcher.history == []


@pytest.mark.ray
def test_meta_ingest_adds_a_tune_experiment(cnn_meta, tmp_path, capsys):
    from ray import tune
    from support.ray_local import local_ray

    from raytune_llm.meta import MetaStore

    def cheap(config):
        tune.report({"score": (config["x"] - 0.3) ** 2})

    with local_ray():
        tune.run(cheap, config={"x": tune.uniform(0, 1)}, num_samples=3, storage_path=str(tmp_path), name="cheap",
                 verbose=0)
    assert main(["meta", "ingest", str(tmp_path / "cheap"), "--dataset", "textures", "--model", "quad",
                 "--metric", "score", "--mode", "min", "--meta", cnn_meta]) == 0
    assert "Ingested 3 experiment(s) of quad on textures" in capsys.readouterr().out
    rows = MetaStore(cnn_meta).experiments(dataset="textures", model="quad")
    assert len(rows) == 3 and set(rows["metric"]) == {"score"}
    assert main(["meta", "ingest", str(tmp_path / "cheap"), "--dataset", "newset", "--model", "quad",
                 "--metric", "score", "--mode", "min", "--meta", cnn_meta]) == 2
    assert "pass --task and --features FILE.json" in capsys.readouterr().err


@pytest.mark.parametrize("argv, forwarded", [
    (["bench", "--help"], ["--help"]),
    (["-v", "bench", "functions", "--quick", "--out", "/tmp/x"], ["functions", "--quick", "--out", "/tmp/x"]),
    (["bench"], []),
])
def test_bench_forwards_everything_after_it(monkeypatch, argv, forwarded):
    import benchmarks.__main__ as entry

    seen = []
    monkeypatch.setattr(entry, "main", lambda args: seen.append(list(args)) or 0)
    assert main(argv) == 0
    assert seen == [forwarded]


# ------------------------------------------------------------------------------- progress and plot
def _summary(name, values, *, usage=None, origins=None, durations=(), elapsed=None):
    from raytune_llm.tuning import RunSummary

    return RunSummary(name, len(values), None, None, None, list(values), list(origins or []), usage, "",
                      durations=list(durations), elapsed_s=elapsed)


def test_convergence_figure_keeps_coinciding_curves_apart():
    from raytune_llm.tuning import Task, convergence_figure, coinciding_ranges

    task = Task("rastrigin", lambda c: None, {}, "value", "min")
    # llm-pso and pso draw the same first 4 trials (same seed), then part; sobol coincides with neither
    summaries = [_summary("llm-pso", [5, 4, 4, 3, 1, 1]), _summary("pso", [5, 4, 4, 3, 2, 2]),
                 _summary("sobol", [9, 8, 7, 6, 5, 4]), _summary("random", [5, 4, 4, 3, 1, 1])]
    assert coinciding_ranges([5, 4, 3, 1], [5, 4, 3, 2]) == [(1, 3)]
    assert coinciding_ranges([math.nan, 2, 1], [math.nan, 3, 1]) == [(1, 1), (3, 3)]
    fig = convergence_figure(summaries, task)
    try:
        lines = fig.axes[0].get_lines()
        assert len(lines) == 4
        styles = [(line.get_linestyle(), line.get_marker()) for line in lines]
        assert len(set(styles)) == 4 and len({m for _, m in styles}) == 4
        assert len({line.get_linewidth() for line in lines}) == 4  # later curves thinner, on top
        assert [line.get_zorder() for line in lines] == sorted(line.get_zorder() for line in lines)
        labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
        assert labels == ["llm-pso", "pso (= llm-pso trials 1-4)", "sobol",
                          "random (= llm-pso throughout; = pso trials 1-4)"]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_plot_writes_the_png(tmp_path):
    from raytune_llm.tuning import Task, plot

    task = Task("lstm", lambda c: None, {}, "val_rmse", "min")
    path = plot([_summary("pso", [3.0, None, 2.0])], task, tmp_path / "sub" / "c.png")
    assert path == tmp_path / "sub" / "c.png" and path.stat().st_size > 1000


USAGE = {"requests": 1, "succeeded": 0, "failed": 0, "errors": {}, "latency_p50_s": None}


@pytest.mark.parametrize("usage, counters, kwargs, words", [
    # a request outstanding when the trials ended: the measured wait and trial time, and the advice
    (USAGE, {}, {"unanswered_s": 10.0, "asked_after": 8},
     ["the LLM answered 0 times before the trials finished (answers take more than 10.0 s here: its first request, "
      "sent after trial 8, was unanswered when the trials ended; trials take 0.5 s): use --wait-for-llm or a faster "
      "model (--llm openai:MODEL"]),
    (USAGE, {}, {"wait_for_llm": True}, ["(no answer in the run's 12.0 s; trials take 0.5 s): use a faster model"]),
    ({**USAGE, "requests": 0}, {}, {"warmup": 8}, ["the LLM was not asked in 3 trials (it asks after 8 finished "
                                                   "trials): run more trials (--trials)"]),
    ({**USAGE, "requests": 2, "failed": 2, "errors": {"LLMTimeoutError": 2}}, {}, {},
     ["answered 0 of 2 requests: 2 failed (LLMTimeoutError x2)"]),
    ({**USAGE, "succeeded": 1, "latency_p50_s": 4.2}, {"llm_rejected": 4}, {},
     ["answered 1 times (answers take 4.2 s (median)) but every proposal was rejected (4 invalid"]),
    ({**USAGE, "succeeded": 1, "latency_p50_s": 4.2}, {"llm_accepted": 2, "llm_gated": 2}, {},
     ["the surrogate gate set aside all 2 proposals"]),
    ({**USAGE, "succeeded": 1, "latency_p50_s": 4.2}, {"llm_accepted": 2, "llm_used": 2}, {},
     ["but the trials finished before its proposals ran (answers take 4.2 s (median), trials take 0.5 s): use "
      "--wait-for-llm"]),
])
def test_llm_note_says_why_no_trial_came_from_the_llm(usage, counters, kwargs, words):
    from raytune_llm.tuning import llm_note

    summary = _summary("llm-pso", [1.0, 2.0, 3.0], usage=usage, origins=["init"] * 3, durations=[0.4, 0.5, 0.9],
                       elapsed=12.0)
    note = llm_note(summary, counters=counters, **kwargs)
    for word in words:
        assert word in note


def test_llm_note_is_silent_when_the_llm_proposed_a_trial_or_was_not_used():
    from raytune_llm.tuning import llm_note

    assert llm_note(_summary("llm", [1.0], usage=USAGE, origins=["llm"])) is None
    assert llm_note(_summary("pso", [1.0], usage=None, origins=["init"])) is None
