"""Does raytune-llm use a GPU where it should? One short check on one GPU (``make gpu-check``).

    python -m benchmarks.gpu_check --out benchmarks/results/gpu-check-YYYY-MM-DD

Without a CUDA device (``torch.cuda.is_available()`` false) it prints ``no CUDA device: nothing to
check`` and exits 0, writing nothing. With one it checks, in about 5 minutes:

* the LSTM and the CNN trainables as fractional-GPU Tune trials: ``--trials`` trials (4) of each
  sharing one GPU (``--gpu-fraction`` 0.25 each), proposed by LLMPSOSearcher without an LLM; each
  trial reports the CUDA device it trained on (``torch.cuda.current_device()``, its name,
  ``ray.get_gpu_ids()``), ``torch.cuda.max_memory_allocated()`` and its start and end times, from
  which the check reads how many trials shared the GPU at once;
* the embedded model (SmolLM2 through llama.cpp) with ``n_gpu_layers=-1``: whether this llama.cpp
  build offloads to a GPU (``llama_cpp.llama_supports_gpu_offload()``) and how long one proposal
  takes;
* two LoRA steps of the embedded model's fine-tuning (:mod:`raytune_llm.finetune`) on the GPU, timed,
  with the peak CUDA memory (skipped, with the reason, without the ``finetune`` extra).

It writes ``<out>.json`` and ``<out>.md`` (``--out`` may also end in ``.json`` or ``.md``) and exits
1 when a trial did not run on a GPU or failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NO_CUDA = "no CUDA device: nothing to check"

#: the package whose LoRA training the check runs on the GPU
FINETUNE_MODULE = "raytune_llm.finetune"


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _device_report() -> dict[str, Any]:
    """Where this process trains: the CUDA device torch uses (if any) and its peak memory."""
    import os

    import ray
    import torch

    out: dict[str, Any] = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                           "ray_gpu_ids": [str(g) for g in ray.get_gpu_ids()], "cuda": torch.cuda.is_available()}
    if out["cuda"]:
        index = torch.cuda.current_device()
        out.update(device_index=index, device_name=torch.cuda.get_device_name(index),
                   max_memory_allocated=int(torch.cuda.max_memory_allocated(index)))
    return out


def _gpu_trial(config: dict[str, Any]) -> None:
    """A Tune trial: train the task's model once, then report its metric and where it trained."""
    from ray import tune

    start = time.time()
    config = dict(config)
    task = config.pop("_task")
    if task == "lstm":
        from trainables.lstm import fit_lstm

        trainer, _ = fit_lstm(config)
        metric = "val_rmse"
    else:
        from trainables.cnn import fit_cnn

        trainer, _ = fit_cnn(config)
        metric = "val_accuracy"
    tune.report({metric: float(trainer.callback_metrics[metric]), "root_device": str(trainer.strategy.root_device),
                 "started": start, "ended": time.time(), **_device_report()})


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals ``(start, end)`` that hold at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def check_trainable(task: str, *, trials: int, gpu_fraction: float, cpus_per_trial: float = 1.0,
                    max_epochs: int = 1, data_fraction: float = 0.2, seed: int = 0) -> dict[str, Any]:
    """Run ``trials`` trials of the ``lstm`` or ``cnn`` trainable at once, each asking Tune for
    ``gpu_fraction`` of a GPU, and report where each trained (Ray must be initialised).

    Returns:
        ``{"task", "trials": [per-trial reports], "errors", "max_concurrent", "on_gpu", "seconds"}``;
        ``on_gpu``: every trial finished and trained on a CUDA device.
    """
    from ray import tune

    from raytune_llm import LLMPSOSearcher
    from trainables import cnn_space, lstm_space

    metric, mode = ("val_rmse", "min") if task == "lstm" else ("val_accuracy", "max")
    fixed = {"max_epochs": max_epochs, "data_fraction": data_fraction}
    space = lstm_space(**fixed) if task == "lstm" else cnn_space("textures", **fixed)
    started = time.monotonic()
    tuner = tune.Tuner(
        tune.with_resources(_gpu_trial, {"cpu": cpus_per_trial, "gpu": gpu_fraction}),
        param_space={**space, "_task": task},
        tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=trials, max_concurrent_trials=trials,
                                    search_alg=LLMPSOSearcher(llm=None, seed=seed)),
        run_config=tune.RunConfig(verbose=0, storage_path=_scratch(), name=f"gpu-check-{task}"),
    )
    results = tuner.fit()
    reports, errors = [], []
    for result in results:
        if result.error is not None:
            errors.append(f"{type(result.error).__name__}: {result.error}"[:500])
            continue
        m = result.metrics
        reports.append({k: m.get(k) for k in (metric, "root_device", "cuda", "device_index", "device_name",
                                              "max_memory_allocated", "ray_gpu_ids", "cuda_visible_devices",
                                              "started", "ended")})
    overlap = max_overlap([(r["started"], r["ended"]) for r in reports if r["started"] and r["ended"]])
    on_gpu = not errors and len(reports) == trials and all(str(r["root_device"]).startswith("cuda") for r in reports)
    return {"task": task, "metric": metric, "gpu_fraction": gpu_fraction, "trials": reports, "errors": errors,
            "max_concurrent": overlap, "on_gpu": on_gpu, "seconds": round(time.monotonic() - started, 1)}


def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="raytune-llm-gpu-check-")


def check_embedded_model(*, n_gpu_layers: int = -1, seed: int = 0) -> dict[str, Any]:
    """Load the embedded model with ``n_gpu_layers`` and time one proposal of 2 LSTM configurations."""
    from raytune_llm._imports import require

    llama_cpp = require("llama_cpp", extra="local", feature="the embedded model's GPU check")
    from raytune_llm.llm import get_backend
    from raytune_llm.proposals.prompts import propose_messages
    from raytune_llm.proposals.render import space_schema
    from raytune_llm.space import SearchSpace
    from trainables import lstm_space

    offload = bool(llama_cpp.llama_supports_gpu_offload())
    space = SearchSpace.from_tune(lstm_space())
    backend = get_backend("embedded", n_gpu_layers=n_gpu_layers)
    messages = propose_messages(space, 2, metric="val_rmse", mode="min", task="LSTM forecasting hourly NO2")
    out: dict[str, Any] = {"n_gpu_layers": n_gpu_layers, "gpu_offload_supported": offload}
    started = time.monotonic()
    try:
        value, usage = backend.complete_json(messages, space_schema(space, 2), temperature=0.7, max_tokens=240,
                                             seed=seed)
        out.update(answered=True, configs=len(value.get("configs", [])) if isinstance(value, dict) else 0,
                   latency_s=round(usage.latency_s, 2), completion_tokens=usage.completion_tokens)
    except Exception as exc:  # noqa: BLE001 - the report says what failed, the check goes on
        out.update(answered=False, error=f"{type(exc).__name__}: {exc}"[:500])
    out["seconds_with_load"] = round(time.monotonic() - started, 2)
    if not offload:
        out["note"] = ("this llama-cpp-python was built without GPU offload, so the model ran on the CPU; rebuild it "
                       "with CMAKE_ARGS=-DGGML_CUDA=on pip install --force-reinstall --no-cache-dir llama-cpp-python")
    return out


def check_finetuning(*, device: str = "cuda", steps: int = 2, seed: int = 0) -> dict[str, Any]:
    """A few LoRA steps of :mod:`raytune_llm.finetune` on ``device`` (examples from 2 generated
    problems), timed, with the device's peak memory; skipped, with the reason, without the module or
    its ``finetune`` extra."""
    if importlib.util.find_spec(FINETUNE_MODULE) is None:
        return {"skipped": True, "note": f"no fine-tuning module ({FINETUNE_MODULE}) in this version: nothing to run"}
    missing = [m for m in ("transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": True, "note": f"the finetune extra is not installed ({', '.join(missing)} missing): "
                                         "pip install 'raytune-llm[finetune]'"}
    import tempfile

    import torch

    from raytune_llm.finetune.examples import generated_examples
    from raytune_llm.finetune.train import TrainConfig, train

    examples = generated_examples(2, seed=seed, budget=12, per_run=2).split("train")
    if not examples:
        return {"skipped": True, "note": "the generated problems gave no training example"}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="raytune-llm-gpu-check-lora-") as out:
        result = train(examples, out_dir=out, config=TrainConfig(steps=steps, batch_size=2, checkpoint_every=steps,
                                                                 seed=seed, warmup=1),
                       device=device, progress=False)
    report: dict[str, Any] = {"skipped": False, "device": device, "steps": result.steps, "examples": len(examples),
                              "losses": [round(x, 4) for x in result.losses],
                              "seconds": round(time.monotonic() - started, 1)}
    if device.startswith("cuda"):
        report["max_memory_allocated"] = int(torch.cuda.max_memory_allocated())
    report["note"] = (f"{result.steps} LoRA steps on {device} in {report['seconds']} s, loss "
                      f"{report['losses'][0] if report['losses'] else '-'} -> "
                      f"{report['losses'][-1] if report['losses'] else '-'}")
    return report


def to_markdown(report: dict[str, Any]) -> str:
    """The report's tables: one row per trial, then the model and fine-tuning lines."""
    lines = ["| task | trial | device | name | Ray GPU ids | peak CUDA memory (MiB) | metric |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for check in report["trainables"]:
        for i, r in enumerate(check["trials"], 1):
            memory = "-" if r.get("max_memory_allocated") is None else f"{r['max_memory_allocated'] / 2**20:.1f}"
            value = r.get(check["metric"])
            lines.append(f"| {check['task']} | {i} | {r.get('root_device')} | {r.get('device_name') or '-'} | "
                         f"{','.join(r.get('ray_gpu_ids') or []) or '-'} | {memory} | "
                         f"{check['metric']} {'-' if value is None else f'{value:.4g}'} |")
        lines.append(f"\n{check['task']}: {len(check['trials'])} trials at {check['gpu_fraction']} GPU each, at most "
                     f"{check['max_concurrent']} at once, {check['seconds']} s; on the GPU: {check['on_gpu']}"
                     + (f"; errors: {check['errors']}" if check["errors"] else "") + "\n")
    model = report["embedded_model"]
    lines.append(f"Embedded model, n_gpu_layers={model['n_gpu_layers']}: GPU offload supported by this llama.cpp "
                 f"build: {model['gpu_offload_supported']}; "
                 + (f"answered in {model['latency_s']} s ({model['seconds_with_load']} s with loading)"
                    if model.get("answered") else f"no answer ({model.get('error')})")
                 + (f". {model['note']}" if model.get("note") else ""))
    lines.append(f"\nFine-tuning: {report['finetuning']['note']}")
    return "\n".join(lines) + "\n"


def _stem(out: str) -> Path:
    path = Path(out)
    return path.with_suffix("") if path.suffix in (".json", ".md") else path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="result path: <out>.json and <out>.md are written")
    parser.add_argument("--trials", type=int, default=4, help="trials of each trainable, all at once (default 4)")
    parser.add_argument("--gpu-fraction", type=float, default=0.25, help="GPU per trial (default 0.25)")
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--data-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 when there is nothing to check or everything ran on the GPU."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.trials < 1:
        raise SystemExit(f"--trials must be >= 1, got {args.trials}")
    if not 0 < args.gpu_fraction <= 1:
        raise SystemExit(f"--gpu-fraction must be in (0, 1], got {args.gpu_fraction}; e.g. 0.25 for four trials "
                         "per GPU")
    if not cuda_available():
        print(NO_CUDA, flush=True)
        return 0
    import ray

    from benchmarks.harness import write_results

    command = "python -m benchmarks.gpu_check " + shlex.join(list(sys.argv[1:] if argv is None else argv))
    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        trainables = []
        for task in ("lstm", "cnn"):
            print(f"{task}: {args.trials} trials at {args.gpu_fraction} GPU each...", flush=True)
            trainables.append(check_trainable(task, trials=args.trials, gpu_fraction=args.gpu_fraction,
                                              max_epochs=args.max_epochs, data_fraction=args.data_fraction,
                                              seed=args.seed))
    finally:
        ray.shutdown()
    print("embedded model with n_gpu_layers=-1...", flush=True)
    model = check_embedded_model(seed=args.seed)
    print("LoRA fine-tuning steps on the GPU...", flush=True)
    try:
        finetuning = check_finetuning(device="cuda", seed=args.seed)
    except Exception as exc:  # noqa: BLE001 - the report says what failed
        finetuning = {"skipped": False, "error": f"{type(exc).__name__}: {exc}"[:500],
                      "note": f"fine-tuning on the GPU failed: {type(exc).__name__}: {exc}"[:500]}
    report = {"trainables": trainables, "embedded_model": model, "finetuning": finetuning}
    table = to_markdown(report)
    ok = all(check["on_gpu"] for check in trainables) and "error" not in finetuning
    md, js = write_results([], [], _stem(args.out), command=command, table=table, title="GPU check",
                           notes="Fractional-GPU Tune trials of the trainables, the embedded model offloaded to the "
                                 "GPU, and fine-tuning where the package has it.",
                           extra={"gpu_check": report, "ok": ok})
    print(table)
    print(f"wrote {md} and {js}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
