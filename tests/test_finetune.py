"""raytune_llm.finetune: problems, trajectories, examples (fast), the adapter checks and the CLI's
input errors. Training, export and llama.cpp loading are in test_finetune_train.py (slow)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from raytune_llm.errors import LLMConfigError, LLMError
from raytune_llm.finetune.examples import answer_text, experiment_examples, generated_examples, targets
from raytune_llm.finetune.problems import (BENCHMARK_FAMILIES, FAMILIES, is_validation, make_problem,
                                           make_problems)
from raytune_llm.finetune.trajectories import run_search
from raytune_llm.llm.testing import ScriptedBackend


def test_no_family_is_a_benchmark_function_and_problems_are_deterministic():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.functions import FUNCTIONS

    assert set(FUNCTIONS) <= set(BENCHMARK_FAMILIES)  # every benchmark function is listed ...
    for name in BENCHMARK_FAMILIES:
        with pytest.raises(ValueError, match="benchmark"):
            make_problem(family=name, seed=0)  # ... and none can be trained on
    assert not set(FAMILIES) & set(BENCHMARK_FAMILIES)
    a, b = make_problem(family="bumps", seed=7), make_problem(family="bumps", seed=7)
    assert a.name == b.name and a.space.names == b.space.names
    u = np.random.default_rng(0).random((5, a.space.dim))
    assert [a(a.space.flat_from_unit(x)) for x in u] == [b(b.space.flat_from_unit(x)) for x in u]
    dims = [p.dim for p in make_problems(40, seed=1)]
    assert 1 <= min(dims) and max(dims) <= 20 and len(set(dims)) > 5
    kinds = {p.kind for q in make_problems(40, seed=1) for p in q.space.params}
    assert kinds == {"float", "int", "categorical"}
    assert any(p.log for q in make_problems(40, seed=1) for p in q.space.params if p.kind == "float")


@pytest.mark.parametrize("searcher", ["pso", "random"])
def test_recorded_prompts_are_exactly_what_the_searcher_sends(searcher):
    """The first request of a recorded run is byte for byte the first request a searcher with a real
    (failing) backend sends: same seed, same trials so far."""
    from raytune_llm.searchers import LLMPSOSearcher, LLMSearcher

    problem = make_problem(family="different_powers", seed=3, dim=4)
    recorded = run_search(problem, space=problem.param_space, metric=problem.metric, mode=problem.mode,
                          searcher=searcher, budget=20, seed=5, task=problem.task)
    backend = ScriptedBackend([LLMError("no answer")])
    common = {"space": problem.param_space, "metric": problem.metric, "mode": problem.mode, "seed": 5,
              "llm": backend, "max_evaluations": 20, "telemetry": False}
    real = LLMPSOSearcher(**common) if searcher == "pso" else LLMSearcher(task=problem.task, **common)
    for i in range(20):
        config = real.suggest(f"t{i}")
        real.on_trial_complete(f"t{i}", {problem.metric: problem(config)})
        if backend.calls:
            break
    deadline = time.monotonic() + 10
    while not backend.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.calls, "the searcher sent no request"
    assert recorded.requests[0].messages == backend.calls[0][0]
    assert recorded.requests[0].schema == backend.calls[0][1]


def test_targets_beat_everything_the_prompt_shows():
    problem = make_problem(family="fourier", seed=2, dim=5)
    run = run_search(problem, space=problem.space, metric=problem.metric, mode=problem.mode, searcher="pso",
                     budget=50, seed=1)
    sign = 1 if problem.mode == "min" else -1
    checked = 0
    for request in run.requests:  # late in a run the search may leave no better configuration to find: None
        configs = targets(request, run.history, space=problem.space, mode=problem.mode, objective=problem,
                          rng=np.random.default_rng(0))
        if configs is None:
            continue
        bar = min(sign * h["value"] for h in run.history[:request.done] if h["value"] is not None)
        assert len(configs) == request.n
        assert all(sign * problem(c) < bar for c in configs)
        shown = {problem.space.key(h["config"]) for h in run.history[:request.done]}
        assert not shown & {problem.space.key(c) for c in configs}  # never a trial the prompt shows
        answer = json.loads(answer_text(problem.space, configs))
        assert list(answer["configs"][0]) == problem.space.names
        assert all(not problem.space.check(c) for c in answer["configs"])  # the answer is inside the space
        checked += 1
    assert checked >= 3


def test_generated_examples_keep_families_and_seeds_apart():
    data = generated_examples(8, seed=0, budget=30, per_run=3, dims=(1, 5), validation_families=("salomon",))
    assert data.split("train") and data.split("validation")
    by_problem = {}
    for e in data.examples:
        by_problem.setdefault(e["problem"], set()).add(e["split"])
        assert [m["role"] for m in e["messages"]] == ["system", "user", "assistant"]
        assert e["kind"] in ("pso-replace", "history")
    assert all(len(splits) == 1 for splits in by_problem.values())  # a problem is in one split only
    assert all(e["split"] == "validation" for e in data.examples if e["problem"].startswith("salomon-"))
    for problem in make_problems(8, seed=0, dims=(1, 5)):
        split = "validation" if is_validation(problem, families=("salomon",)) else "train"
        assert by_problem.get(problem.name, {split}) == {split}


def test_pick_examples_answer_the_truly_best_candidate_in_the_probes_prompt():
    import re

    from raytune_llm.finetune.examples import pick_examples
    from raytune_llm.finetune.problems import make_problems
    from raytune_llm.space import SearchSpace

    data = pick_examples(60, seed=1, per_problem=3, dims=(1, 6), validation_families=("salomon",))
    assert len(data.examples) + sum(data.skipped.values()) == 60
    assert data.split("train") and data.split("validation")
    problems = {p.name: p for p in make_problems(20, seed=1 * 7_919 + 1, dims=(1, 6))}
    black_box = right = 0
    for e in data.examples:
        system, user, answer = e["messages"]
        assert e["kind"] == "pick" and system["role"] == "system" and answer["role"] == "assistant"
        assert user["content"].rstrip().endswith('Answer {"pick": N} with N from 1 to 8.')
        pick = json.loads(answer["content"])["pick"]
        candidates = re.findall(r"^(\d+)\. (.*)$", user["content"], flags=re.M)
        assert [int(i) for i, _ in candidates] == list(range(1, 9))
        problem = problems[e["problem"]]
        if "black-box function" in user["content"]:  # x0.. in [-b, b]: the problem's unit cube, rescaled
            black_box += 1
            bound = float(re.search(r"^x0 \| float \| (\S+) \| (\S+)", user["content"], flags=re.M).group(2))
            space = SearchSpace.from_tune({f"x{j}": __import__("ray").tune.uniform(-bound, bound)
                                           for j in range(problem.dim)})
            values = [problem.cost_at(space.to_unit(_parse(space, text))) for _, text in candidates]
            sign = 1.0
        else:
            space = problem.space
            values = [problem(_parse(space, text)) for _, text in candidates]
            sign = 1.0 if problem.mode == "min" else -1.0
        right += int(np.argmin([sign * v for v in values])) == pick - 1
    # the answer is the best candidate (re-evaluated at the 4 digits the prompt shows, which can
    # swap two nearly equal candidates now and then)
    assert right >= 0.9 * len(data.examples)
    assert 0 < black_box < len(data.examples)
    with pytest.raises(ValueError, match="candidates >= 2"):
        pick_examples(4, candidates=1)


def _parse(space, text):
    """A configuration from the prompt's ``name=value, ...`` line."""
    from raytune_llm.proposals.render import format_value

    config = {}
    for part in text.split(", "):
        name, _, value = part.partition("=")
        p = space[name]
        config[name] = (p.choices[[format_value(label) for label in p.labels].index(value)]
                        if p.kind == "categorical" else float(value))
    return space.repair(config, flat=True)


def test_bad_rows_are_skipped_with_counts():
    from ray import tune

    space = {"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 4)}
    rng = np.random.default_rng(0)
    configs = [{"lr": float(10 ** rng.uniform(-4, -1)), "layers": int(rng.integers(1, 4))} for _ in range(30)]
    rows = [{"config": c, "value": (math.log10(c["lr"]) + 2.5) ** 2 + 0.1 * c["layers"]} for c in configs]
    rows += [{"config": {"lr": 0.01, "layers": 2}, "value": math.nan},
             {"config": {"lr": 0.01, "layers": 2}, "value": None},
             {"config": {"lr": 0.01, "layers": 2}, "value": "inf"},
             {"config": {"lr": 5.0, "layers": 2}, "value": 0.1},  # lr outside the space
             {"config": {"lr": 0.01}, "value": 0.1},  # a parameter missing
             {"config": None, "value": 0.1}]
    data = experiment_examples(rows, space=space, metric="loss", mode="min", name="mine", task="an MLP")
    assert data.skipped["rows with a missing, NaN or infinite value (failed trials)"] == 3
    assert data.skipped["rows with parameters missing or outside the space"] == 3
    assert data.examples and all(e["source"] == "experiment" and e["kind"] == "history" for e in data.examples)
    first = json.loads(data.examples[0]["messages"][2]["content"])["configs"]
    assert first and all(set(c) == {"layers", "lr"} for c in first)
    assert "Task: an MLP" in data.examples[0]["messages"][1]["content"]
    empty = experiment_examples(rows[-6:], space=space, metric="loss", mode="min", name="bad")
    assert not empty.examples and sum(empty.skipped.values()) == 6


def _gguf(path, *, arch="llama", general_type="adapter", tensors=()):
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(general_type)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 32.0)
    for name, array in tensors:
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_adapter_provenance_names_the_training_command(tmp_path):
    from raytune_llm.llm.gguf_header import adapter_provenance

    gguf = pytest.importorskip("gguf")
    path = tmp_path / "with.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.source.command", "raytune-llm finetune out --picks 10")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert adapter_provenance(path) == "trained by `raytune-llm finetune out --picks 10`"
    assert adapter_provenance(_gguf(tmp_path / "without.gguf")) == "no training command recorded"
    (tmp_path / "text.gguf").write_text("not a GGUF file")
    assert adapter_provenance(tmp_path / "text.gguf").startswith("unreadable (")
    assert adapter_provenance(tmp_path / "missing.gguf").startswith("unreadable (")


def test_bad_adapters_get_an_error_naming_the_file(tmp_path):
    pytest.importorskip("llama_cpp")
    from raytune_llm.llm import get_backend
    from raytune_llm.llm.llama_cpp import embedded_model_path

    missing = tmp_path / "missing.gguf"
    with pytest.raises(LLMConfigError, match="missing.gguf"):
        get_backend(f"embedded:{missing}")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(LLMConfigError, match="junk.gguf.*not a GGUF file"):
        get_backend("embedded", lora=str(junk))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(_gguf(tmp_path / "whole.gguf").read_bytes()[:40])
    with pytest.raises(LLMConfigError, match="truncated.gguf.*corrupt or truncated"):
        get_backend(f"embedded:{truncated}")
    with pytest.raises(LLMConfigError, match="not a LoRA adapter"):
        get_backend(f"llama-cpp:{embedded_model_path()}", lora=str(embedded_model_path()))
    other = _gguf(tmp_path / "gemma.gguf", arch="gemma")
    with pytest.raises(LLMConfigError, match="gemma.gguf.*'gemma' model"):
        get_backend(f"embedded:{other}")
    with pytest.raises(LLMConfigError, match="once"):
        get_backend(f"embedded:{other}", lora=str(other))


@pytest.mark.llm
@pytest.mark.slow
def test_an_adapter_for_another_model_shape_is_refused_naming_the_file(tmp_path):
    pytest.importorskip("llama_cpp")
    from raytune_llm.llm import get_backend

    wrong = _gguf(tmp_path / "wrong-shape.gguf", tensors=[
        ("blk.0.attn_q.weight.lora_a", np.zeros((8, 100), dtype=np.float32)),
        ("blk.0.attn_q.weight.lora_b", np.zeros((100, 8), dtype=np.float32))])
    # refused before llama.cpp sees it (a shape mismatch can crash the process inside llama.cpp)
    with pytest.raises(LLMConfigError, match="wrong-shape.gguf.*does not fit.*blk.0.attn_q.weight"):
        get_backend(f"embedded:{wrong}", n_ctx=512)


def test_cli_finetune_refuses_an_empty_input(tmp_path, capsys):
    from raytune_llm.cli import main

    assert main(["finetune", str(tmp_path / "out"), "--problems", "0"]) == 2
    assert "no training example could be made" in capsys.readouterr().err
    parser_help = __import__("raytune_llm.cli", fromlist=["build_parser"]).build_parser()
    args = parser_help.parse_args(["finetune", "o", "--steps", "3", "--experiments", "a", "b"])
    assert args.steps == 3 and args.experiments == ["a", "b"] and args.problems == 200


def test_the_recorded_command_keeps_zeros():
    from raytune_llm.cli import build_parser
    from raytune_llm.finetune.pipeline import command_line

    args = build_parser().parse_args(["finetune", "out", "--problems", "0", "--picks", "50", "--seed", "0"])
    command = command_line(args)
    assert "--problems=0" in command and "--picks=50" in command and "--seed=0" in command
    assert command.startswith("raytune-llm finetune out ") and "--gpu" not in command


def test_infer_space_spans_the_configurations():
    from raytune_llm.finetune.pipeline import infer_space
    from raytune_llm.space import SearchSpace

    rows = [{"config": {"lr": 10 ** -(1 + i / 5), "units": 8 + i, "act": ["relu", "tanh"][i % 2], "epochs": 3},
             "value": 0.1} for i in range(20)]
    space = SearchSpace.from_tune(infer_space(rows))
    assert space.names == ["act", "lr", "units"] and space.constants == {"epochs": 3}
    assert space["lr"].log and space["units"].kind == "int"
    assert all(not space.check(r["config"]) for r in rows)


def test_rank_probe_scores_the_model_with_and_without_a_lora(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import llm_rank_probe as probe

    probes = probe.function_probes(2, history=6, candidates=4, seed=0)
    records = probe.run_probes(probes, ScriptedBackend([{"pick": 1}]), lora=ScriptedBackend([{"pick": 3}]))
    assert all(r["llm_pick"] == 0 and r["llm_lora_pick"] == 2 for r in records)
    assert all(r["llm_lora_rank"] == probe.true_rank(p.values, 2, "min") for r, p in zip(records, probes))
    rows = probe.summarize(records)
    assert [r["picker"] for r in rows] == ["chance", "llm", "llm_lora", "kernel", "nearest_best"]
    assert probe.positions(records, "llm_lora") == {"functions": {3: len(probes)}}
    assert probe.main(["--quick", "--sources", "functions", "--llm", "scripted-first", "--lora", "x.gguf",
                       "--out", str(tmp_path / "probe")]) == 0
    text = (tmp_path / "probe.md").read_text()
    assert "| functions | llm_lora |" in text and "with (llm_lora) the LoRA adapter `x.gguf`" in text
