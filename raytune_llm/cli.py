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
    from raytune_llm.proposals.render import space_schema, space_table
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
    print(space_table(space))
    if args.n < 1:
        raise ValueError(f"--n must be >= 1 (configurations to ask for), got {args.n}")
    backend = get_backend(args.llm)
    print(f"\nAsking {backend!r} for {args.n} configurations (runs in a background worker)...")
    messages = propose_messages(space, args.n, metric="val_rmse", mode="min",
                                task="LSTM forecasting hourly NO2 concentration one hour ahead")
    with LLMWorker(backend, timeout_s=args.timeout, max_retries=1) as worker:
        future = worker.submit(LLMRequest(messages, space_schema(space, args.n), temperature=0.8,
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
            str(args.concurrency), "--max-epochs", str(args.max_epochs), "--data-fraction", str(args.data_fraction),
            "--storage", args.storage, "--name", "demo-lstm", "--seed", "0"] + (["--verbose"] if args.verbose else [])
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
            tuning.metallmix_dataset(args.task, args.dataset)  # a task without past experiments: say so now
            from raytune_llm.meta import seed_store_path

            with _store(args) as store:  # the seed store travels as None (reopened read-only on every node)
                args.meta = None if store.path == seed_store_path() else str(store.path)
    from raytune_llm.llm import get_backend

    for name in searchers:  # loads nothing: a bad --llm fails now, not after the other searchers' experiments
        if name in ("llm-pso", "llm") or (name == "metallmix" and args.llm != "none"):
            get_backend(args.llm)
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
    suffixes = [""] if len(searchers) == 1 else [f"-{s}" for s in searchers]  # one experiment folder each
    local = tuning.local_storage(args.storage)
    if not args.resume and local:  # never write into an earlier experiment's folders
        fresh = tuning.fresh_experiment_name(local, name, suffixes)
        if fresh != name:
            print(f"An experiment named {name!r} already exists in {local}; this one is named {fresh!r} (continue "
                  f"it later with --name {fresh} --resume; --resume --name {name} continues the earlier one).",
                  file=sys.stderr, flush=True)
            name = fresh
    summaries = []
    for searcher, suffix in zip(searchers, suffixes):
        run_name = name + suffix
        print(f"\n=== {searcher} on {args.task}: {args.trials} trials, {args.concurrency} at a time ===", flush=True)
        summaries.append(tuning.run(task, searcher, trials=args.trials, concurrency=args.concurrency, seed=args.seed,
                                    llm=args.llm, storage=args.storage, name=run_name,
                                    gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial,
                                    resume=args.resume, meta=args.meta, wait_for_llm=args.wait_for_llm,
                                    verbose=args.verbose))
    print()
    print(tuning.format_table(summaries, task))
    for s in summaries:
        print(f"\n{s.searcher}: best {task.metric} = {s.best_value} at trial {s.trials_to_best}")
        print(f"  config: {json.dumps(s.best_config, default=str)}")
        if s.llm_usage:
            print(f"  LLM usage: {json.dumps(s.llm_usage, default=str)}")
        if s.llm_note:
            print(f"  note: {s.llm_note}")
        print(f"  results: {s.path}")
    png = tuning.plot(summaries, task, args.plot or os.path.join(local or ".", f"{name}-convergence.png"))
    if png:
        print(f"\nConvergence plot: {png}")
    logdirs = ",".join(f"{s.searcher}:{s.path}" for s in summaries)
    print(f"TensorBoard (Tune's trial logs and raytune-llm's searcher telemetry):\n  tensorboard --logdir_spec {logdirs}"
          if len(summaries) > 1 else f"TensorBoard:\n  tensorboard --logdir {summaries[0].path}")
    ray.shutdown()
    return 0


def _space_of(task: str, dataset: str | None) -> dict:
    """The packaged trainable's Tune space for a CLI task (cnn: of the image data set, if one).
    Needs no torch: ``trainables.configs`` builds the spaces."""
    from trainables.configs import cnn_space, lstm_space
    from trainables.data import IMAGE_DATASETS

    if task == "cnn":
        return cnn_space(dataset if dataset in IMAGE_DATASETS else "textures")
    return lstm_space()


def _print_recommendation(rec, as_json: bool) -> None:
    from raytune_llm.proposals.render import format_value

    if as_json:
        print(json.dumps(rec.to_dict(), indent=2, default=str))
        return
    expected = "unknown" if rec.expected_metric is None else format_value(rec.expected_metric)
    print(f"Model:         {rec.model}")
    print(f"Configuration: {json.dumps(rec.config, default=str)}")
    predicted = "n/a" if rec.predicted_metric is None else format_value(rec.predicted_metric)
    print(f"Expected {rec.metric}: {expected} ({'higher' if rec.mode == 'max' else 'lower'} is better; "
          f"meta-learner predicts {predicted})")
    print(f"Explanation:   {rec.explanation}")
    if rec.judge is not None:
        scores = ", ".join(f"{c} {v}" for c, v in rec.judge.scores.items())
        print(f"Judge score:   {rec.judge.score:.2f}/5 ({scores})")
    else:
        print("Judge score:   none (no LLM answer was judged)")
    usage = rec.usage
    print(f"Path:          {rec.path} ({rec.attempts} recommender call(s), {usage.get('calls', 0)} LLM call(s), "
          f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens, {rec.wall_time_s:.1f} s)")
    for note in rec.notes:
        print(f"  note: {note}")


def _recommend(args: argparse.Namespace) -> int:
    from raytune_llm.meta.recommend import recommend
    from raytune_llm.tuning import META_TASKS, metallmix_dataset

    meta_task, model, _ = META_TASKS[args.task]
    dataset = args.dataset or metallmix_dataset(args.task)
    space = _space_of(args.task, dataset)
    if not args.json:
        print(f"Recommending {model} hyperparameters for {dataset} ({meta_task}) with "
              f"{'the meta-learner alone' if args.llm == 'none' else args.llm}...", flush=True)
    with _store(args) as store:
        rec = recommend(store, space=space, model=model, task=meta_task, dataset=dataset,
                        llm=None if args.llm == "none" else args.llm, attempts=args.attempts,
                        threshold=args.threshold, timeout_s=args.timeout, seed=args.seed)
    _print_recommendation(rec, args.json)
    return 0


def _store(args: argparse.Namespace, *, write: bool = False):
    """The meta-dataset of ``--meta``; by default the user's store (``$RAYTUNE_LLM_META`` or
    ``~/.cache/raytune-llm/meta.sqlite``) when it exists, else the packaged seed store. A user store
    that a write creates starts as a copy of the seed store."""
    from pathlib import Path

    from raytune_llm.meta import MetaStore
    from raytune_llm.meta.store import default_store_path

    path = Path(args.meta).expanduser() if args.meta else default_store_path()
    if not path.is_file():
        if not write:
            if args.meta:
                raise ValueError(f"no meta-dataset at --meta {args.meta!r}; create one with `raytune-llm meta ingest "
                                 "... --meta PATH` or leave --meta out to use the packaged seed store")
            return MetaStore.seed()
        _copy_seed_to(path)
    return MetaStore(path)


def _copy_seed_to(path) -> None:
    import tempfile

    from raytune_llm.meta import MetaStore

    with MetaStore.seed() as seed, tempfile.TemporaryDirectory() as tmp:
        table = seed.export_parquet(os.path.join(tmp, "seed.parquet"))
        with MetaStore(path) as store:
            n = store.ingest_table(table)
    print(f"Created the meta-dataset {path} from the packaged seed store ({n} experiments)")


def _meta_ingest(args: argparse.Namespace) -> int:
    if not os.path.isdir(os.path.expanduser(args.dir)):  # before a new store is created for nothing
        raise ValueError(f"no experiment folder at {args.dir!r}; pass a Tune experiment directory "
                         "(e.g. ~/ray_results/NAME)")
    store = _store(args, write=True)
    if args.dataset not in store.dataset_names():
        if args.features is None:
            raise ValueError(f"data set {args.dataset!r} is not in {store.path} (it has {store.dataset_names()}); pass "
                             "--task and --features FILE.json (its meta-features, see docs/metallmix.md)")
        if args.task is None:
            raise ValueError("--features needs --task (image-classification or timeseries-regression)")
        with open(args.features, encoding="utf-8") as f:
            store.add_dataset(args.dataset, args.task, json.load(f))
    n = store.ingest_tune(args.dir, dataset=args.dataset, model=args.model, metric=args.metric, mode=args.mode,
                          source=args.source)
    print(f"Ingested {n} experiment(s) of {args.model} on {args.dataset} from {args.dir} into {store.path}")
    return 0


def _meta_build(args: argparse.Namespace) -> int:
    from raytune_llm.meta import MetaLearner
    from raytune_llm.tuning import META_TASKS

    store = _store(args)
    tasks = [META_TASKS[t][0] for t in (META_TASKS if args.task == "all" else [args.task])]
    for task in tasks:
        if not len(store.experiments(task=task)):
            print(f"{task}: no experiments, nothing to learn")
            continue
        learner = MetaLearner(seed=args.seed).fit(store, task=task)
        cv = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in learner.cv_error.items())
        print(f"{task}: meta-learner of {learner.metric} ({learner.mode}) fitted; cross-validation error: {cv}")
    print("(to regenerate the packaged seed meta-dataset by training the trainables: python -m benchmarks.meta_seed)")
    return 0


def _meta_show(args: argparse.Namespace) -> int:
    from raytune_llm.proposals.render import format_value

    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    store = _store(args)
    if args.dataset:
        features = store.dataset_features(args.dataset)
        print(f"Data set {args.dataset}: " + ", ".join(f"{k}={format_value(v)}" for k, v in features.items()))
        frame = store.experiments(dataset=args.dataset)
        if not len(frame):
            print("No experiments.")
            return 0
        mode = frame["mode"].iloc[0]
        frame = frame.sort_values("value", ascending=mode == "min", na_position="last")
        print(f"{len(frame)} experiment(s), best first:")
        for row in frame.head(args.top).to_dict("records"):
            config = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(row["config"].items()))
            print(f"  {row['model']}: {row['metric']}={format_value(row['value'])} | {config}")
        return 0
    datasets = store.datasets()
    if not len(datasets):
        print("The meta-dataset is empty.")
        return 0
    print("| data set | task | experiments | models | metric | best |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in datasets.to_dict("records"):
        frame = store.experiments(dataset=row["name"])
        if len(frame):
            metric, mode = frame["metric"].iloc[0], frame["mode"].iloc[0]
            values = frame["value"].dropna()
            best = format_value(float(values.max() if mode == "max" else values.min())) if len(values) else "-"
            models = ",".join(sorted(set(frame["model"])))
        else:
            metric, best, models = "-", "-", "-"
        print(f"| {row['name']} | {row['task']} | {len(frame)} | {models} | {metric} | {best} |")
    return 0


def _meta_export(args: argparse.Namespace) -> int:
    from raytune_llm.meta.finetune import finetune_examples, write_jsonl
    from raytune_llm.tuning import META_TASKS

    examples, skipped = [], []
    store = _store(args)
    for name in (META_TASKS if args.task == "all" else [args.task]):
        meta_task, model, _ = META_TASKS[name]
        if not len(store.experiments(task=meta_task, model=model)):
            skipped.append(f"{meta_task}: no experiments of {model}")
            continue
        got, left = finetune_examples(store, space=_space_of(name, None), task=meta_task, model=model,
                                      per_dataset=args.per_dataset, seed=args.seed)
        examples += got
        skipped += left
    if not examples:
        raise ValueError("no fine-tuning example could be made: " + "; ".join(skipped))
    n = write_jsonl(examples, args.out)
    print(f"Wrote {n} chat example(s) (system, user, assistant) to {args.out}")
    for line in skipped:
        print(f"  skipped: {line}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from raytune_llm.finetune.pipeline import main as finetune_main

    return finetune_main(args)


def _bench(args: argparse.Namespace) -> int:
    """Forward to ``python -m benchmarks`` (a source checkout's ``benchmarks/``, not part of the wheel)."""
    if os.path.isfile(os.path.join(os.getcwd(), "benchmarks", "__main__.py")) and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        from benchmarks.__main__ import main as bench_main
    except ImportError as exc:
        raise ImportError(f"raytune-llm bench runs the benchmarks/ of a source checkout; run it from the "
                          f"repository root ({exc})") from exc
    return bench_main(args.args)


META_HELP = ("meta-dataset path (default: $RAYTUNE_LLM_META or ~/.cache/raytune-llm/meta.sqlite if it exists, else "
             "the packaged seed store)")


def build_parser() -> argparse.ArgumentParser:
    from trainables.data import IMAGE_DATASETS  # numpy only

    parser = argparse.ArgumentParser(prog="raytune-llm", description="LLM-guided hyperparameter search for Ray Tune.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging; tune and demo also show Ray Tune's own trial tables")
    # tune and demo take it after the command too; SUPPRESS: absent there, it keeps the value given before
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="Ray Tune's own trial tables (and debug logging) besides the one line per trial")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", parents=[verbose],
                          help="the main job: LLM-PSO with the embedded model tunes the air-quality LSTM "
                               "next to plain PSO (same budget and seed)")
    demo.add_argument("--trials", type=int, default=24, help="trials per searcher (default 24)")
    demo.add_argument("--concurrency", type=int, default=2)
    demo.add_argument("--max-epochs", type=int, default=2, help="epochs per trial (default 2)")
    demo.add_argument("--data-fraction", type=float, default=0.5,
                      help="fraction of the air-quality series to use (default 0.5)")
    demo.add_argument("--storage", default="ray_results")
    demo.set_defaults(func=_demo)

    propose = sub.add_parser("propose", help="show an LLM proposing configurations for an example space")
    propose.add_argument("--llm", default="embedded", help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL")
    propose.add_argument("--n", type=int, default=4, help="configurations to ask for (default 4)")
    propose.add_argument("--seed", type=int, default=0)
    propose.add_argument("--timeout", type=float, default=120.0, help="seconds one LLM attempt may take")
    propose.set_defaults(func=_propose)

    tune_p = sub.add_parser("tune", parents=[verbose],
                            help="tune a packaged task (rastrigin, lstm, cnn) with Ray Tune")
    tune_p.add_argument("--task", choices=["rastrigin", "lstm", "cnn"], default="rastrigin")
    tune_p.add_argument("--searcher", default="llm-pso",
                        help="llm-pso, pso, llm, sobol, metallmix (cnn, lstm), optuna, random")
    tune_p.add_argument("--compare", default=None, help="comma-separated searchers to run on the same task and seed")
    tune_p.add_argument("--llm", default="embedded", help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL")
    tune_p.add_argument("--trials", type=int, default=20)
    tune_p.add_argument("--wait-for-llm", action="store_true",
                        help="llm-pso, llm: a trial waits for an outstanding LLM answer instead of starting without "
                             "it (for trials shorter than the model's answers)")
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
    tune_p.add_argument("--dataset", default="textures", choices=IMAGE_DATASETS, metavar="DATASET",
                        help=f"cnn data set: {', '.join(IMAGE_DATASETS)} (default textures)")
    tune_p.add_argument("--plot", default=None, help="where to write the convergence PNG")
    tune_p.add_argument("--meta", default=None, help="metallmix: " + META_HELP)
    tune_p.set_defaults(func=_tune)

    rec = sub.add_parser("recommend", help="MetaLLMiX: recommend a configuration from past experiments (zero-shot)")
    rec.add_argument("--task", choices=["cnn", "lstm"], default="cnn")
    rec.add_argument("--dataset", default=None,
                     help="target data set (default: textures for cnn, aq-no2-hourly for lstm)")
    rec.add_argument("--meta", default=None, help=META_HELP)
    rec.add_argument("--llm", default="embedded",
                     help="LLM spec: embedded, llama-cpp:/path.gguf, openai:MODEL, or none (meta-learner only)")
    rec.add_argument("--json", action="store_true", help="print the whole recommendation as JSON")
    rec.add_argument("--attempts", type=int, default=2, help="recommender calls at most (default 2)")
    rec.add_argument("--threshold", type=float, default=3.0, help="judge score (1-5) an answer needs (default 3)")
    rec.add_argument("--timeout", type=float, default=300.0, help="seconds the LLM calls may take in all")
    rec.add_argument("--seed", type=int, default=0)
    rec.set_defaults(func=_recommend)

    meta = sub.add_parser("meta", help="MetaLLMiX's meta-dataset: ingest, build, show, export-finetune")
    meta_sub = meta.add_subparsers(dest="meta_command", required=True)
    ingest = meta_sub.add_parser("ingest", help="add a Ray Tune experiment directory's trials to a meta-dataset")
    ingest.add_argument("dir", help="a Tune experiment directory (with trial result files)")
    ingest.add_argument("--dataset", required=True, help="the data set the trials trained on")
    ingest.add_argument("--model", required=True, help="the model they trained (e.g. cnn, lstm)")
    ingest.add_argument("--metric", default=None, help="metric to store (default: the experiment's)")
    ingest.add_argument("--mode", choices=["min", "max"], default=None)
    ingest.add_argument("--source", default=None, help="free text stored with each experiment")
    ingest.add_argument("--task", choices=["image-classification", "timeseries-regression"], default=None,
                        help="task of a new data set (with --features)")
    ingest.add_argument("--features", default=None, help="JSON file of a new data set's meta-features")
    ingest.add_argument("--meta", default=None, help=META_HELP)
    ingest.set_defaults(func=_meta_ingest)
    build = meta_sub.add_parser("build", help="fit the meta-learner on a meta-dataset and print its CV error")
    build.add_argument("--task", choices=["cnn", "lstm", "all"], default="all")
    build.add_argument("--meta", default=None, help=META_HELP)
    build.add_argument("--seed", type=int, default=0)
    build.set_defaults(func=_meta_build)
    show = meta_sub.add_parser("show", help="list the data sets of a meta-dataset, or one data set's experiments")
    show.add_argument("--dataset", default=None)
    show.add_argument("--top", type=int, default=10, help="experiments to list with --dataset (default 10)")
    show.add_argument("--meta", default=None, help=META_HELP)
    show.set_defaults(func=_meta_show)
    export = meta_sub.add_parser("export-finetune",
                                 help="write past experiments as chat-format JSONL in the recommender's format")
    export.add_argument("out", help="output .jsonl file")
    export.add_argument("--task", choices=["cnn", "lstm", "all"], default="all")
    export.add_argument("--per-dataset", type=int, default=1, help="best experiments per data set (default 1)")
    export.add_argument("--meta", default=None, help=META_HELP)
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(func=_meta_export)

    finetune = sub.add_parser("finetune", help="fine-tune the embedded model (LoRA) on search trajectories and "
                              "your own experiments; writes a GGUF adapter for llm='embedded:<out>/adapter.gguf'")
    from raytune_llm.finetune.pipeline import add_arguments as finetune_arguments

    finetune_arguments(finetune)
    finetune.set_defaults(func=_finetune)

    # everything after "bench" goes to python -m benchmarks verbatim (main() splits it off before
    # parsing: argparse's REMAINDER cannot start with an option such as --help)
    bench = sub.add_parser("bench", add_help=False,
                           help="run the benchmarks (python -m benchmarks PART ...; from a source checkout)")
    bench.set_defaults(func=_bench, args=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # the first positional word is the subcommand (the only global option, -v, takes no value)
    command_at = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    forwarded: list[str] = []
    if command_at is not None and argv[command_at] == "bench":
        argv, forwarded = argv[:command_at + 1], argv[command_at + 1:]
    args = parser.parse_args(argv)
    if args.command == "bench":
        args.args = forwarded
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from raytune_llm.errors import RaytuneLLMError

    try:
        return args.func(args)
    except (RaytuneLLMError, ValueError, ImportError, OSError) as exc:
        print(f"raytune-llm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
