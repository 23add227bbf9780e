"""The ``raytune-llm`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence


def _propose(args: argparse.Namespace) -> int:
    from ray import tune

    from raytune_llm.llm import LLMRequest, LLMWorker, get_backend
    from raytune_llm.proposals import screen_configs
    from raytune_llm.proposals.prompts import propose_messages
    from raytune_llm.space import SearchSpace

    space = SearchSpace.from_tune({
        "lr": tune.loguniform(1e-4, 1e-1),
        "num_layers": tune.randint(1, 4),
        "hidden_size": tune.qrandint(16, 128, 16),
        "dropout": tune.uniform(0.0, 0.5),
        "batch_size": tune.choice([32, 64, 128]),
        "max_epochs": 10,
    })
    print("Search space of an LSTM forecaster (val_rmse, lower is better):")
    print(space.to_prompt())
    backend = get_backend(args.llm)
    print(f"\nAsking {backend!r} for {args.n} configurations (runs in a background worker)...")
    messages = propose_messages(space, args.n, metric="val_rmse", mode="min",
                                task="LSTM forecasting hourly NO2 concentration one hour ahead")
    with LLMWorker(backend, timeout_s=args.timeout, max_retries=1) as worker:
        future = worker.submit(LLMRequest(messages, space.json_schema(args.n), temperature=0.8,
                                          max_tokens=120 * args.n, seed=args.seed, tag="demo"))
        result = future.result(timeout=args.timeout * 3)
        screened = screen_configs(result.value["configs"], space)
        print(f"\nAnswer in {result.usage.latency_s:.1f} s "
              f"({result.usage.prompt_tokens} prompt + {result.usage.completion_tokens} completion tokens).")
        print(f"Accepted {len(screened.accepted)} configurations ({screened.repaired} repaired):")
        for config in screened.accepted:
            print("  " + json.dumps(config))
        for item, reason in screened.rejected:
            print(f"  rejected {json.dumps(item)}: {reason}")
        print("\nUsage:", json.dumps(worker.summary()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    argv = ["tune", "--task", "lstm", "--compare", "llm-pso,pso", "--trials", str(args.trials), "--concurrency",
            str(args.concurrency), "--max-epochs", "2", "--data-fraction", "0.5", "--storage", args.storage,
            "--name", "demo-lstm", "--seed", "0"]
    print("raytune-llm demo: LLMPSOSearcher (embedded SmolLM2) vs plain PSO tuning an LSTM that forecasts hourly "
          "NO2 (aqeval, UK 2001-2003), same budget and seed.\n$ raytune-llm " + " ".join(argv), flush=True)
    return _tune(build_parser().parse_args(argv))


def _check_address(address: str) -> None:
    """Fail fast on an unreachable HOST:PORT (ray.init would retry for minutes)."""
    import socket

    if address in ("auto", "local") or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot connect to the Ray cluster at --address {address!r} ({exc}); start one with "
                         "`ray start --head` or leave --address out to run locally") from exc


def _tune(args: argparse.Namespace) -> int:
    import ray

    from raytune_llm import tuning

    searchers = [s.strip() for s in (args.compare or args.searcher).split(",") if s.strip()]
    for name in searchers:
        if name not in tuning.SEARCHERS:
            raise ValueError(f"unknown searcher {name!r}; choose one of {', '.join(tuning.SEARCHERS)}")
        if name == "metallmix":
            tuning.make_searcher(name, seed=0, llm=None, metric="m", mode="min")  # raises its clear message
    tuning.check_resources(args.gpus_per_trial, args.cpus_per_trial, args.concurrency, args.trials)
    task = tuning.make_task(args.task, dim=args.dim, max_epochs=args.max_epochs, data_fraction=args.data_fraction,
                            dataset=args.dataset)
    if args.address:
        _check_address(args.address)
        try:
            ray.init(address=args.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ValueError(f"cannot connect to the Ray cluster at --address {args.address!r} ({exc}); start one "
                             "with `ray start --head` or leave --address out to run locally") from exc
    else:
        ray.init(log_to_driver=False, include_dashboard=False)
    name = args.name or f"{args.task}"
    summaries = []
    for searcher in searchers:
        run_name = name if len(searchers) == 1 else f"{name}-{searcher}"
        print(f"\n=== {searcher} on {args.task}: {args.trials} trials, {args.concurrency} at a time ===", flush=True)
        summaries.append(tuning.run(task, searcher, trials=args.trials, concurrency=args.concurrency, seed=args.seed,
                                    llm=args.llm, storage=args.storage, name=run_name,
                                    gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial,
                                    resume=args.resume))
    print()
    print(tuning.format_table(summaries, task))
    for s in summaries:
        print(f"\n{s.searcher}: best {task.metric} = {s.best_value} at trial {s.trials_to_best}")
        print(f"  config: {json.dumps(s.best_config, default=str)}")
        if s.llm_usage:
            print(f"  LLM usage: {json.dumps(s.llm_usage, default=str)}")
        print(f"  results: {s.path}")
    local = "." if "://" in args.storage else os.path.abspath(os.path.expanduser(args.storage))
    png = tuning.plot(summaries, task, args.plot or os.path.join(local, f"{name}-convergence.png"))
    if png:
        print(f"\nConvergence plot: {png}")
    logdirs = ",".join(f"{s.searcher}:{s.path}" for s in summaries)
    print(f"TensorBoard (Tune's trial logs and raytune-llm's searcher telemetry):\n  tensorboard --logdir_spec {logdirs}"
          if len(summaries) > 1 else f"TensorBoard:\n  tensorboard --logdir {summaries[0].path}")
    ray.shutdown()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raytune-llm", description="LLM-guided hyperparameter search for Ray Tune.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: LLM-PSO with the embedded model tunes the air-quality LSTM "
                                       "next to plain PSO (same budget and seed)")
    demo.add_argument("--trials", type=int, default=24)
    demo.add_argument("--concurrency", type=int, default=2)
    demo.add_argument("--storage", default="ray_results")
    demo.set_defaults(func=_demo)

    propose = sub.add_parser("propose", help="show an LLM proposing configurations for an example space")
    propose.add_argument("--llm", default="embedded", help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL")
    propose.add_argument("--n", type=int, default=4, help="configurations to ask for (default 4)")
    propose.add_argument("--seed", type=int, default=0)
    propose.add_argument("--timeout", type=float, default=120.0, help="seconds one LLM attempt may take")
    propose.set_defaults(func=_propose)

    tune_p = sub.add_parser("tune", help="tune a packaged task (rastrigin, lstm, cnn) with Ray Tune")
    tune_p.add_argument("--task", choices=["rastrigin", "lstm", "cnn"], default="rastrigin")
    tune_p.add_argument("--searcher", default="llm-pso",
                        help="llm-pso, pso, llm, sobol, optuna, random (metallmix: not built yet)")
    tune_p.add_argument("--compare", default=None, help="comma-separated searchers to run on the same task and seed")
    tune_p.add_argument("--llm", default="embedded", help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL")
    tune_p.add_argument("--trials", type=int, default=20)
    tune_p.add_argument("--concurrency", type=int, default=2)
    tune_p.add_argument("--gpus-per-trial", type=float, default=0.0, help="e.g. 0.25 for four trials per GPU")
    tune_p.add_argument("--cpus-per-trial", type=float, default=1.0)
    tune_p.add_argument("--address", default=None, help="Ray cluster address (e.g. auto); default: a local Ray")
    tune_p.add_argument("--storage", default="~/ray_results", help="where Tune writes results")
    tune_p.add_argument("--name", default=None, help="experiment name (default: the task)")
    tune_p.add_argument("--resume", action="store_true", help="resume an interrupted experiment of this name")
    tune_p.add_argument("--seed", type=int, default=0)
    tune_p.add_argument("--dim", type=int, default=5, help="rastrigin dimensions")
    tune_p.add_argument("--max-epochs", type=int, default=None, help="epochs per trial (lstm, cnn)")
    tune_p.add_argument("--data-fraction", type=float, default=None, help="use a fraction of the data (lstm, cnn)")
    tune_p.add_argument("--dataset", default="textures", help="cnn dataset: textures, digits, mnist")
    tune_p.add_argument("--plot", default=None, help="where to write the convergence PNG")
    tune_p.set_defaults(func=_tune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from raytune_llm.errors import RaytuneLLMError

    try:
        return args.func(args)
    except (RaytuneLLMError, ValueError, ImportError) as exc:
        print(f"raytune-llm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
