"""raytune_llm.finetune end to end on a tiny input: the CLI trains 2 LoRA steps, writes a GGUF adapter
that llama.cpp loads and answers with, and resumes from its checkpoint. Slow (loads the base model)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # the base model loads in 15-90 s

ARGS = ["--problems", "3", "--budget", "20", "--steps", "2", "--batch-size", "1", "--max-tokens", "1024",
        "--checkpoint-every", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from raytune_llm.cli import main

    out = tmp_path_factory.mktemp("finetune") / "out"
    assert main(["finetune", str(out), *ARGS]) == 0
    return out


def test_the_cli_writes_data_checkpoint_adapter_and_card(trained, capsys):
    from raytune_llm.finetune.train import base_model_file
    from raytune_llm.llm.gguf_header import check_lora_adapter, read_metadata

    lines = (trained / "data.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["messages"][-1]["role"] == "assistant" for line in lines)
    info = json.loads((trained / "adapter" / "training.json").read_text())
    assert info["steps"] == 2 and len(info["losses"]) == 2 and all(loss > 0 for loss in info["losses"])
    state = json.loads((trained / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    gguf_file = trained / "adapter.gguf"
    check_lora_adapter(gguf_file, base_model_file())
    meta = read_metadata(gguf_file)
    assert meta["adapter.lora.alpha"] == 32.0 and "raytune-llm finetune" in meta["general.source.command"]
    assert gguf_file.stat().st_size < 20e6
    card = (trained / "README.md").read_text()
    assert "Command: `raytune-llm finetune" in card and "generated-pso" in card


def test_a_second_run_resumes_instead_of_training_again(trained):
    from raytune_llm.cli import main

    before = json.loads((trained / "adapter" / "training.json").read_text())["losses"]
    assert main(["finetune", str(trained), *ARGS]) == 0
    after = json.loads((trained / "adapter" / "training.json").read_text())
    assert after["steps"] == 2 and after["losses"] == before  # nothing retrained


def test_a_resumed_run_may_change_only_the_steps(trained, tmp_path, capsys):
    import shutil

    from raytune_llm.cli import main

    out = tmp_path / "out"
    shutil.copytree(trained, out)
    before = json.loads((out / "adapter" / "training.json").read_text())["losses"]
    fewer = [a if a != "2" or ARGS[i - 1] != "--steps" else "1" for i, a in enumerate(ARGS)]
    assert main(["finetune", str(out), *fewer]) == 0  # stop early: the checkpoint as it is
    assert json.loads((out / "adapter" / "training.json").read_text())["losses"] == before
    more = [a if a != "2" or ARGS[i - 1] != "--steps" else "3" for i, a in enumerate(ARGS)]
    assert main(["finetune", str(out), *more]) == 0  # train on from step 2
    after = json.loads((out / "adapter" / "training.json").read_text())
    assert after["steps"] == 3 and after["losses"][:2] == before and len(after["losses"]) == 3
    other = [a if a != "3" or ARGS[i - 1] != "--seed" else "4" for i, a in enumerate(more)]
    assert main(["finetune", str(out), *other]) == 2
    assert "only steps may change" in capsys.readouterr().err


@pytest.mark.llm
def test_llama_cpp_loads_the_adapter_and_answers(trained):
    from raytune_llm.finetune.problems import make_problem
    from raytune_llm.llm import backend_spec, get_backend
    from raytune_llm.proposals.render import space_schema

    backend = get_backend(f"embedded:{trained / 'adapter.gguf'}", n_ctx=2048)
    assert backend_spec(backend)["options"]["lora"] == str(trained / "adapter.gguf")
    example = json.loads((trained / "data.jsonl").read_text().splitlines()[0])
    family, seed, dim = example["problem"].rsplit("-", 2)  # "<family>-s<seed>-d<dim>"
    problem = make_problem(family=family, seed=int(seed[1:]), dim=int(dim[1:]))
    assert example["messages"][1]["content"].count(" | ") > problem.dim  # the prompt shows this problem's space
    value, usage = backend.complete_json(example["messages"][:2], space_schema(problem.space, 1), temperature=0.0,
                                         max_tokens=60 + 25 * problem.dim, seed=0)
    assert len(value["configs"]) == 1 and usage.completion_tokens > 0


@pytest.mark.ray
def test_ray_train_runs_the_same_loop(tmp_path, trained):
    """One Ray Train worker on CPU, one step (what can be checked of the GPU path here)."""
    from raytune_llm.finetune.examples import read_examples
    from raytune_llm.finetune.train import TrainConfig, train_on_ray

    examples = sorted(read_examples(trained / "data.jsonl"), key=lambda e: len(repr(e)))[:2]  # the shortest
    result = train_on_ray(examples, out_dir=tmp_path / "ray",
                          config=TrainConfig(steps=1, batch_size=1, max_tokens=2048), num_workers=1)
    assert result.steps == 1 and (tmp_path / "ray" / "adapter" / "adapter_model.safetensors").is_file()
