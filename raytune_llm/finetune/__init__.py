"""Fine-tuning the embedded model on search trajectories: data, LoRA training, GGUF export.

The searchers never import this package; they load what it writes by path
(``llm="embedded:/path/adapter.gguf"``). It uses the search space and the searchers' own prompt
builders (so training prompts are exactly the prompts searchers send) and needs the ``finetune``
extra (``transformers``, ``peft``, ``gguf``) only to train and export.

* :mod:`~raytune_llm.finetune.problems`: synthetic problems of families the benchmarks never report.
* :mod:`~raytune_llm.finetune.trajectories`: searcher runs in-process, their LLM requests recorded.
* :mod:`~raytune_llm.finetune.examples`: requests plus the configurations that beat them.
* :mod:`~raytune_llm.finetune.train`: LoRA on CPU or as a Ray Train job, checkpointed.
* :mod:`~raytune_llm.finetune.export`: the GGUF LoRA adapter llama.cpp loads.
* :mod:`~raytune_llm.finetune.pipeline`: all of it, the ``raytune-llm finetune`` command.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Examples", "TrainConfig", "export_gguf", "generated_examples", "make_problem", "run_finetune", "train"]

_WHERE = {"Examples": "examples", "generated_examples": "examples", "make_problem": "problems",
          "TrainConfig": "train", "train": "train", "export_gguf": "export", "run_finetune": "pipeline"}


def __getattr__(name: str) -> Any:  # lazy: importing the package does no work and needs no extra
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"raytune_llm.finetune.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'raytune_llm.finetune' has no attribute {name!r}")
