"""The ``raytune-llm`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
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
        print("\nUsage:", json.dumps(worker.stats.summary()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raytune-llm", description="LLM-guided hyperparameter search for Ray Tune.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="show the embedded LLM proposing configurations for an example space")
    demo.add_argument("--llm", default="embedded", help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL")
    demo.add_argument("--n", type=int, default=4, help="configurations to ask for (default 4)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds one LLM attempt may take")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from raytune_llm.errors import RaytuneLLMError

    try:
        return args.func(args)
    except RaytuneLLMError as exc:
        print(f"raytune-llm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
