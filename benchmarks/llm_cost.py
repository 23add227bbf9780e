"""LLM cost: prompt size as the history grows, and tokens per trial of the committed LLM runs.

    python -m benchmarks.llm_cost --trials 1000 --dims 5,10 --verify \\
        --out benchmarks/results/llm-cost-YYYY-MM-DD

1. Prompt size. ``llm-pso`` and ``llm`` (the searchers of :mod:`benchmarks.searchers`, same
   settings) run ``--trials`` trials of Rastrigin in ``--dims`` dimensions through
   :func:`benchmarks.harness.run_searcher` (concurrency 8), with a scripted LLM that records every
   request and answers at once with fresh random configurations. Every recorded prompt is
   measured in characters and in tokens of the embedded model (SmolLM2's own tokenizer and chat
   template, as llama.cpp applies them: :class:`ChatTokenCounter`); the table shows the request
   sent last at or before 10, 100 and 1,000 completed trials, and the largest of all.
   ``--verify`` runs the real embedded model once on one recorded prompt and stores the prompt
   tokens llama.cpp reports beside the count, as a check of the counter.
2. Tokens per trial. From every committed ``benchmarks/results/*.json[.gz]`` run whose ``extra``
   holds LLM usage (the embedded model's own counts): prompt and completion tokens per completed
   trial and per request, median and IQR over seeds. No LLM runs are made for this part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import shlex
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.functions import FUNCTIONS
from benchmarks.harness import RunResult, _quantiles, run_searcher, write_results
from benchmarks.resultfiles import read_json
from benchmarks.searchers import llm_history, llm_pso
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.space import SearchSpace
from raytune_llm.tuning import save_figure

logger = logging.getLogger(__name__)

SEARCHERS = {"llm-pso": llm_pso, "llm": llm_history}
CHECKPOINTS = (10, 100, 1000)
_COMPLETED = re.compile(r"Trials completed: (\d+)")


class ChatTokenCounter:
    """Counts the tokens of chat messages as llama.cpp feeds them to the embedded model.

    Loads only the vocabulary of SmolLM2 (``vocab_only``, about a second), applies the model's
    own chat template (GGUF metadata ``tokenizer.chat_template``, with the generation prompt)
    through llama-cpp-python's ``Jinja2ChatFormatter`` and tokenizes the text as its chat
    handler does (special tokens parsed, BOS added unless the template added it).
    """

    def __init__(self) -> None:
        from raytune_llm._imports import require
        from raytune_llm.llm.llama_cpp import embedded_model_path

        llama_cpp = require("llama_cpp", extra="local", feature="counting prompt tokens with the embedded model")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.model_file = embedded_model_path().name
        self._llama = llama_cpp.Llama(model_path=str(embedded_model_path()), vocab_only=True, verbose=False)
        meta = self._llama.metadata
        if "tokenizer.chat_template" not in meta:
            raise ValueError(f"{self.model_file} has no chat template in its metadata")

        def token_text(key: str) -> str:
            token_id = int(meta.get(key, -1))
            return self._llama._model.token_get_text(token_id) if token_id != -1 else ""

        self._formatter = Jinja2ChatFormatter(template=meta["tokenizer.chat_template"],
                                              eos_token=token_text("tokenizer.ggml.eos_token_id"),
                                              bos_token=token_text("tokenizer.ggml.bos_token_id"))

    def count(self, messages: Sequence[dict[str, Any]]) -> int:
        """Prompt tokens of ``messages`` (system, user...) including the chat template."""
        result = self._formatter(messages=[dict(m) for m in messages])
        return len(self._llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                                        special=True))


class RecordingLLM(ScriptedBackend):
    """A scripted LLM that answers every request at once with fresh random configurations.

    ``calls`` (from :class:`ScriptedBackend`) keeps every request's messages and options.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        rng = np.random.default_rng(seed)

        def answer(messages: Any, schema: dict[str, Any]) -> dict[str, Any]:
            n = schema["properties"]["configs"]["minItems"]
            return {"configs": [space.flat_from_unit(rng.random(space.dim)) for _ in range(n)]}

        super().__init__([answer])


def prompt_growth(searcher: str, dim: int, trials: int, counter: ChatTokenCounter, *,
                  seed: int = 0) -> tuple[list[dict[str, Any]], RunResult, RecordingLLM]:
    """Runs ``searcher`` with a :class:`RecordingLLM` and measures every prompt it sent."""
    fn = FUNCTIONS["rastrigin"]
    llm = RecordingLLM(SearchSpace.from_tune(fn.param_space(dim)), seed)
    s = SEARCHERS[searcher](seed, llm=llm)
    result = run_searcher(s, fn, dim, budget=trials, concurrency=8, seed=seed, name=searcher)
    s.close()
    prompts = []
    for i, (messages, _schema, options) in enumerate(llm.calls):
        user = next(m["content"] for m in messages if m["role"] == "user")
        found = _COMPLETED.search(user)
        if found is None:
            raise ValueError(f"{searcher}: request {i} does not say 'Trials completed: N'; the prompt changed, "
                             "update benchmarks/llm_cost.py")
        prompts.append({"searcher": searcher, "dim": dim, "request": i, "completed": int(found.group(1)),
                        "chars": sum(len(m["content"]) for m in messages), "prompt_tokens": counter.count(messages),
                        "max_tokens": options["max_tokens"]})
    return prompts, result, llm


def growth_rows(prompts: Sequence[dict[str, Any]], checkpoints: Sequence[int]) -> list[dict[str, Any]]:
    """For each (searcher, dim): the last request at or before each checkpoint, and the largest one."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for p in prompts:
        groups[(p["searcher"], p["dim"])].append(p)
    rows = []
    for (searcher, dim), ps in sorted(groups.items()):
        ps = sorted(ps, key=lambda p: p["request"])
        for at in checkpoints:
            before = [p for p in ps if p["completed"] <= at]
            if before:
                rows.append({"searcher": searcher, "dim": dim, "at": str(at), **_sizes(before[-1])})
        largest = max(ps, key=lambda p: p["prompt_tokens"])
        rows.append({"searcher": searcher, "dim": dim, "at": "largest", **_sizes(largest)})
        rows[-1]["requests"] = len(ps)
    return rows


def _sizes(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("completed", "chars", "prompt_tokens", "max_tokens")}


def _load_runs(path: Path) -> tuple[list[dict[str, Any]], str]:
    data = read_json(path)
    if not isinstance(data, dict):
        return [], ""
    return data.get("runs", []), data.get("command", "")


def committed_usage(results_dir: Path, *, exclude: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """Tokens per trial and per request of every committed run with LLM usage, per (file, searcher)."""
    rows = []
    skip = {p.resolve() for p in exclude}
    for path in sorted([*results_dir.glob("*.json"), *results_dir.glob("*.json.gz")]):
        if path.resolve() in skip:
            continue
        try:
            runs, command = _load_runs(path)
        except (OSError, ValueError) as exc:
            logger.warning("skipping %s: %s", path, exc)
            continue
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in runs:
            usage = (run.get("extra") or {}).get("usage") or {}
            if usage.get("requests") and run.get("values"):
                groups[run["searcher"]].append(run)
        for searcher, group in sorted(groups.items()):
            per_trial = defaultdict(list)
            for run in group:
                u, n = run["extra"]["usage"], len(run["values"])
                per_trial["prompt_per_trial"].append(u["prompt_tokens"] / n)
                per_trial["completion_per_trial"].append(u["completion_tokens"] / n)
                per_trial["prompt_per_request"].append(u["prompt_tokens"] / u["requests"])
                per_trial["completion_per_request"].append(u["completion_tokens"] / u["requests"])
                per_trial["requests_per_trial"].append(u["requests"] / n)
                per_trial["trials"].append(n)
            row: dict[str, Any] = {"file": path.name, "searcher": searcher, "runs": len(group),
                                   "function": group[0]["function"], "dim": group[0]["dim"],
                                   "concurrency": group[0]["concurrency"], "command": command}
            for key, xs in per_trial.items():
                q25, med, q75 = _quantiles(xs)
                row.update({f"{key}_median": med, f"{key}_q25": q25, f"{key}_q75": q75})
            rows.append(row)
    return rows


def _iqr(row: dict[str, Any], key: str, fmt: str = ".0f") -> str:
    return (f"{format(row[f'{key}_median'], fmt)} [{format(row[f'{key}_q25'], fmt)}, "
            f"{format(row[f'{key}_q75'], fmt)}]")


def to_markdown(growth: Sequence[dict[str, Any]], usage: Sequence[dict[str, Any]], model_file: str) -> str:
    """Both tables, with their headings."""
    lines = [f"## Prompt size as the history grows (tokens of {model_file}, chat template included)", "",
             "| searcher | dim | at trials | request sent after | characters | prompt tokens "
             "| max completion tokens asked |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in growth:
        at = f"largest of {r['requests']} requests" if r["at"] == "largest" else r["at"]
        lines.append(f"| {r['searcher']} | {r['dim']} | {at} | {r['completed']} | {r['chars']} "
                     f"| {r['prompt_tokens']} | {r['max_tokens']} |")
    lines += ["", "## Tokens per trial in the committed runs with the embedded model (median [IQR] over seeds)", ""]
    if not usage:
        lines.append("No committed run holds LLM usage.")
        return "\n".join(lines) + "\n"
    lines += ["| results file | searcher | runs | function, dim, conc | trials | prompt tokens / trial "
              "| completion tokens / trial | requests / trial | prompt tokens / request "
              "| completion tokens / request |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in usage:
        lines.append(f"| {r['file']} | {r['searcher']} | {r['runs']} | {r['function']}, {r['dim']}, "
                     f"{r['concurrency']} | {r['trials_median']:.0f} | {_iqr(r, 'prompt_per_trial')} "
                     f"| {_iqr(r, 'completion_per_trial', '.1f')} | {_iqr(r, 'requests_per_trial', '.3f')} "
                     f"| {_iqr(r, 'prompt_per_request')} | {_iqr(r, 'completion_per_request')} |")
    return "\n".join(lines) + "\n"


def plot(prompts: Sequence[dict[str, Any]], path: Path) -> Path:
    """Prompt tokens of every request against the trials completed when it was sent."""
    from raytune_llm._imports import require

    matplotlib = require("matplotlib", extra="bench", feature="the LLM cost plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for p in prompts:
        groups[(p["searcher"], p["dim"])].append(p)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (searcher, dim), ps in sorted(groups.items()):
        ps = sorted(ps, key=lambda p: p["request"])
        ax.plot([p["completed"] for p in ps], [p["prompt_tokens"] for p in ps], marker=".", markersize=3,
                linewidth=0.8, label=f"{searcher}, {dim}-D ({len(ps)} requests)")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("trials completed when the request was sent")
    ax.set_ylabel("prompt tokens (embedded model's tokenizer)")
    ax.set_title("Prompt size as the history grows")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def verify_count(messages: list[dict[str, Any]], schema: dict[str, Any], counter: ChatTokenCounter) -> dict[str, Any]:
    """One real generation with the embedded model: its reported prompt tokens beside the count."""
    from raytune_llm.llm import get_backend

    _, usage = get_backend("embedded").complete_json(messages, schema, max_tokens=700, seed=0, temperature=0.7)
    return {"counted": counter.count(messages), "llama_cpp_prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llm_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="trials of each scripted run (default 1000)")
    parser.add_argument("--dims", default="5", help="comma-separated Rastrigin dimensions (default 5)")
    parser.add_argument("--searchers", default="llm-pso,llm", help=f"comma-separated, of {sorted(SEARCHERS)}")
    parser.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"),
                        help="where the committed runs are read (default: benchmarks/results of this checkout)")
    parser.add_argument("--verify", action="store_true",
                        help="check the token count against one real generation of the embedded model")
    parser.add_argument("--out", default=f"benchmarks/results/llm-cost-{dt.date.today().isoformat()}",
                        help="output stem: <out>.md, <out>.json, <out>.png")
    args = parser.parse_args(argv)
    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    if not searchers or any(s not in SEARCHERS for s in searchers):
        parser.error(f"--searchers must be a comma-separated subset of {sorted(SEARCHERS)}, got {args.searchers!r}")
    try:
        dims = [int(d) for d in args.dims.split(",") if d.strip()]
    except ValueError:
        parser.error(f"--dims must be comma-separated integers, got {args.dims!r}")
    if not dims or min(dims) < 1 or args.trials < 1:
        parser.error("--dims and --trials must be >= 1")

    counter = ChatTokenCounter()
    prompts: list[dict[str, Any]] = []
    results: list[RunResult] = []
    verification = None
    for searcher in searchers:
        for dim in dims:
            got, result, llm = prompt_growth(searcher, dim, args.trials, counter)
            prompts += got
            results.append(result)
            if args.verify and verification is None and llm.calls:
                messages, schema, _ = llm.calls[-1]
                verification = {"searcher": searcher, "dim": dim, **verify_count(messages, dict(schema), counter)}
    out = Path(args.out)
    growth = growth_rows(prompts, [c for c in CHECKPOINTS if c <= args.trials] or [args.trials])
    own = [out.with_name(out.name + ".json")]
    usage = committed_usage(Path(args.results), exclude=own)
    table = to_markdown(growth, usage, counter.model_file)
    if verification:
        table += (f"\nCheck of the counter: on the last {verification['searcher']} prompt ({verification['dim']}-D) "
                  f"it counts {verification['counted']} tokens; the embedded model, run once on it, reported "
                  f"{verification['llama_cpp_prompt_tokens']} prompt tokens.\n")
    notes = ("Part 1 drives the searchers' real code paths (benchmarks.searchers settings, run_searcher, concurrency "
             "8, Rastrigin) with a scripted LLM that records each request and answers at once with random "
             "configurations; prompt tokens are counted with the embedded model's tokenizer and chat template. "
             "Part 2 reads the LLM usage the embedded model reported in committed benchmark runs.")
    command = "python -m benchmarks.llm_cost " + shlex.join(argv)
    extra = {"prompts": prompts, "committed_usage": usage, "verification": verification,
             "tokenizer": counter.model_file}
    md_path, json_path = write_results(growth, results, out, command=command, table=table, title="LLM cost",
                                       notes=notes, extra=extra)
    png = plot(prompts, out.with_name(out.name + ".png"))
    print(table, end="")
    print(f"wrote {md_path}, {json_path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
