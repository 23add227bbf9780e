"""Past experiments as chat-format fine-tuning data, in the recommender's own format.

Each example is one data set of the meta-dataset seen as a new one: the user message is exactly
what :func:`raytune_llm.meta.recommend.recommend` would send for it (its meta-features, the best
experiments of the *other* most similar data sets, the meta-learner's SHAP statements, the search
space), and the assistant message is the answer the recommender should have given: the data set's
best (or ``per_dataset`` best) measured configurations, their measured metric as the expected
metric, and an explanation citing the evidence in the prompt. One JSON object per line,
``{"messages": [system, user, assistant]}``: the chat format OpenAI's fine-tuning API, TRL's
``SFTTrainer`` and most instruction-tuning tools read.

The SHAP statements come from one meta-learner fitted on the whole store (the target's own
experiments included); retrieval leaves the target out, so the similar experiments shown are
never its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from raytune_llm._checks import finite_or_none
from raytune_llm._io import atomic_write
from raytune_llm.meta.recommend import RecommendationError, _records, gather_evidence, infer_model, open_store
from raytune_llm.proposals.metallmix import answer_for, describe_runs, recommend_messages
from raytune_llm.space import SearchSpace


def finetune_examples(
    meta: Any = None,
    *,
    space: Mapping[str, Any] | SearchSpace,
    task: str,
    model: str | None = None,
    learner: Any = None,
    per_dataset: int = 1,
    k: int = 5,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Chat examples for every data set of ``task`` with experiments of ``model``.

    Args:
        meta: a :class:`~raytune_llm.meta.MetaStore`, a path, or ``None`` for the seed store.
        space: the model's search space (experiments outside it are skipped, not repaired).
        task: the meta-learning task.
        model: the model (default: the only one of the task).
        learner: a fitted meta-learner for the SHAP statements (default: fitted on ``meta``).
        per_dataset: examples per data set: its best ``per_dataset`` experiments.
        k: similar experiments in each prompt.
        seed: the learner's seed.

    Returns:
        ``(examples, skipped)``: the examples and one line per experiment or data set left out.
    """
    from raytune_llm.meta import MetaLearner

    if per_dataset < 1:
        raise ValueError(f"per_dataset must be >= 1, got {per_dataset}")
    store = open_store(meta)
    space = SearchSpace.from_tune(space)
    model = model or infer_model(store, task)
    learner = learner or MetaLearner(seed=seed).fit(store, task=task)
    examples, skipped = [], []
    for row in _records(store.datasets(task=task)):
        name = row["name"]
        runs = [r for r in _records(store.experiments(dataset=name, model=model))
                if r.get("metric") == learner.metric and finite_or_none(r.get("value")) is not None]
        if not runs:
            skipped.append(f"{name}: no {learner.metric} results of {model!r}")
            continue
        runs.sort(key=lambda r: float(r["value"]), reverse=learner.mode == "max")
        evidence, _ = gather_evidence(store, space=space, model=model, task=task, dataset=name, learner=learner,
                                      k=k, n_candidates=0, seed=seed, exclude_dataset=name)
        messages = recommend_messages(evidence)
        taken = 0
        for run in runs:
            if taken >= per_dataset:
                break
            problems = space.check(run["config"])
            if problems:
                skipped.append(f"{name}: experiment {run.get('id')} is outside the space ({'; '.join(problems)})")
                continue
            config = space.repair(run["config"], flat=True)
            value = float(run["value"])
            answer = answer_for(evidence, config, value, _explanation(evidence, len(runs)))
            examples.append({"messages": [*messages, {"role": "assistant", "content": json.dumps(answer)}]})
            taken += 1
    return examples, skipped


def _explanation(evidence: Any, n_runs: int) -> str:
    parts = [f"Best of {n_runs} measured run(s) on a data set like this one."]
    similar = describe_runs(evidence.similar, evidence.metric)
    if similar:
        parts.append(f"The most similar data sets reached {similar}.")
    if evidence.statements:
        parts.append("The meta-learner found: " + evidence.statements[0].rstrip(".") + ".")
    return " ".join(parts)


def store_examples(meta: Any = None, *, tasks: Iterable[str] | None = None, per_dataset: int = 1,
                   seed: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`finetune_examples` for every packaged task (``"cnn"``, ``"lstm"``) with experiments in ``meta``.

    The space of each task is its packaged trainable's (``trainables.configs``).

    Returns:
        ``(examples, skipped)`` as :func:`finetune_examples`, over all the tasks.
    """
    from raytune_llm.tuning import META_TASKS
    from trainables.configs import cnn_space, lstm_space

    store = open_store(meta)
    examples: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name in (META_TASKS if tasks is None else tasks):
        if name not in META_TASKS:
            raise ValueError(f"unknown task {name!r}; use one of {sorted(META_TASKS)}")
        meta_task, model, _ = META_TASKS[name]
        if not len(store.experiments(task=meta_task, model=model)):
            skipped.append(f"{meta_task}: no experiments of {model}")
            continue
        got, left = finetune_examples(store, space=cnn_space("textures") if name == "cnn" else lstm_space(),
                                      task=meta_task, model=model, per_dataset=per_dataset, seed=seed)
        examples += got
        skipped += left
    return examples, skipped


def write_jsonl(examples: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write one JSON object per line, atomically (temp file + ``os.replace``); return the count."""
    lines = [json.dumps(example, ensure_ascii=False) + "\n" for example in examples]
    atomic_write(path, "".join(lines))
    return len(lines)


def export_finetune(meta: Any, path: str | os.PathLike[str], *, space: Mapping[str, Any] | SearchSpace, task: str,
                    model: str | None = None, per_dataset: int = 1, k: int = 5, seed: int = 0) -> int:
    """Write :func:`finetune_examples` to ``path`` as JSONL; return the number of examples.

    Raises:
        RecommendationError: the store has no usable experiment of ``task``.
    """
    examples, skipped = finetune_examples(meta, space=space, task=task, model=model, per_dataset=per_dataset, k=k,
                                          seed=seed)
    if not examples:
        raise RecommendationError(f"no fine-tuning example for task {task!r}: " + ("; ".join(skipped) or
                                  "the meta-dataset has no data set of this task"))
    return write_jsonl(examples, path)


__all__ = ["export_finetune", "finetune_examples", "store_examples", "write_jsonl"]
