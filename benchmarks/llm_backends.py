"""Latency and throughput of the embedded LLM on a realistic swarm prompt, and the worker's overhead.

    python -m benchmarks.llm_backends --repeats 10 --out benchmarks/results/llm-backends-YYYY-MM-DD

* The prompt is the one LLMPSOSearcher sends (``raytune_llm.proposals.swarm.swarm_messages``)
  for a swarm of 8 particles in a 6-parameter space after 40 trials, asking for 4 configurations.
* Latency (p50/p95) and completion tokens per second of ``EmbeddedBackend.complete_json``, called
  directly, one call at a time, different seeds.
* Worker overhead: the same requests through ``LLMWorker`` (thread hand-off, future) minus the
  backend's own time, measured with a zero-latency scripted backend so the model's noise does not
  hide it; and ``submit()``'s own cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from ray import tune

from benchmarks.harness import environment_info
from raytune_llm.llm import LLMRequest, LLMWorker, get_backend
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.proposals.render import space_schema
from raytune_llm.proposals.swarm import ParticleView, Trial, swarm_messages
from raytune_llm.space import SearchSpace

SPACE = SearchSpace.from_tune({
    "lr": tune.loguniform(1e-5, 1e-1), "num_layers": tune.randint(1, 5), "hidden_size": tune.qrandint(16, 256, 16),
    "dropout": tune.uniform(0.0, 0.5), "lookback": tune.randint(6, 73), "batch_size": tune.choice([32, 64, 128, 256]),
})


def swarm_prompt(seed: int = 0, n: int = 4) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = [SPACE.flat_from_unit(x) for x in rng.random((40, SPACE.dim))]
    values = rng.uniform(8, 30, 40)
    trials = [Trial(c, float(v)) for c, v in zip(configs, values)]
    best = sorted(trials, key=lambda t: t.value)[:5]
    particles = [ParticleView(SPACE.flat_from_unit(x), rng.uniform(-0.2, 0.2, SPACE.dim), float(v), float(v) - 1)
                 for x, v in zip(rng.random((8, SPACE.dim)), rng.uniform(8, 30, 8))]
    return swarm_messages(SPACE, metric="val_rmse", mode="min", n=n, best=best, recent=trials[-5:],
                          particles=particles, completed=40, budget=100)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=f"benchmarks/results/llm-backends-{dt.date.today().isoformat()}")
    args = parser.parse_args(argv)

    backend = get_backend("embedded")
    messages = swarm_prompt()
    schema = space_schema(SPACE, 4)
    backend.complete_json(messages, schema, max_tokens=700, seed=999)  # load + warm up, not timed
    latencies, tokens, prompt_tokens = [], [], 0
    for seed in range(args.repeats):
        start = time.perf_counter()
        _, usage = backend.complete_json(messages, schema, max_tokens=700, seed=seed, temperature=0.7)
        latencies.append(time.perf_counter() - start)
        tokens.append(usage.completion_tokens)
        prompt_tokens = usage.prompt_tokens

    scripted = ScriptedBackend([{"configs": [SPACE.flat_from_unit([0.5] * SPACE.dim)] * 4}])
    submit_s, roundtrip_s = [], []
    with LLMWorker(scripted, timeout_s=30) as worker:
        for _ in range(200):
            t0 = time.perf_counter()
            future = worker.submit(LLMRequest(messages, schema))
            t1 = time.perf_counter()
            future.result(timeout=30)
            t2 = time.perf_counter()
            submit_s.append(t1 - t0)
            roundtrip_s.append(t2 - t0)

    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.llm_backends " + " ".join(argv or []),
        "environment": environment_info(),
        "load_average_1_5_15": os.getloadavg(),
        "prompt": {"particles": 8, "dims": SPACE.dim, "configs_asked": 4, "prompt_tokens": prompt_tokens,
                   "chars": sum(len(m["content"]) for m in messages)},
        "embedded": {"repeats": args.repeats, "latency_p50_s": pct(latencies, 50), "latency_p95_s": pct(latencies, 95),
                     "completion_tokens_median": statistics.median(tokens),
                     "completion_tokens_per_s": sum(tokens) / sum(latencies)},
        "worker": {"submit_p50_ms": pct(submit_s, 50) * 1e3, "submit_p99_ms": pct(submit_s, 99) * 1e3,
                   "roundtrip_p50_ms": pct(roundtrip_s, 50) * 1e3, "roundtrip_p99_ms": pct(roundtrip_s, 99) * 1e3},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    e, w = result["embedded"], result["worker"]
    md = [
        f"# Embedded LLM backend and worker overhead ({result['date']})", "",
        f"Machine: {result['environment']['machine']['platform']}, {result['environment']['machine']['cpu_count']} CPUs, "
        f"load average {result['load_average_1_5_15'][0]:.1f} at the end (other jobs ran beside it). "
        f"Command: `{result['command'].strip()}`.", "",
        f"Prompt: the LLMPSOSearcher swarm prompt, 8 particles x {SPACE.dim} parameters, 4 configurations asked, "
        f"{prompt_tokens} prompt tokens.", "",
        "| measure | value |", "| --- | --- |",
        f"| embedded latency p50 | {e['latency_p50_s']:.2f} s |",
        f"| embedded latency p95 | {e['latency_p95_s']:.2f} s |",
        f"| completion tokens (median) | {e['completion_tokens_median']:.0f} |",
        f"| completion tokens/s | {e['completion_tokens_per_s']:.1f} |",
        f"| worker submit() p50 / p99 | {w['submit_p50_ms']:.3f} / {w['submit_p99_ms']:.3f} ms |",
        f"| worker round trip, zero-latency backend, p50 / p99 | {w['roundtrip_p50_ms']:.2f} / "
        f"{w['roundtrip_p99_ms']:.2f} ms |",
    ]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
