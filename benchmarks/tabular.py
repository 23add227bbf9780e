"""A categorical tabular benchmark: NAS-Bench-Graph's architecture tables (graph networks).

NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks; the ``nas-bench-graph`` package
on PyPI, Apache-2.0, in the ``bench`` extra) trained every one of 26,206 distinct graph-network
architectures on nine graph data sets and ships, inside its wheel, a light table per data set:
for each architecture its validation and test accuracy, latency and size. Nothing is downloaded:
the table is read from the installed package.

An architecture is a computation DAG of four nodes: ``link`` says which earlier node feeds each
node (one of nine canonical patterns, e.g. ``"0-1-1-2"``), and ``op0 .. op3`` the operation of each
node (GAT, GCN, GIN, ChebNet, GraphSAGE, ARMA, k-GNN, a fully connected layer, or a skip
connection). So the space is five categorical parameters (9^5 = 59,049 configurations, which the
package maps to the 26,206 distinct architectures), in Tune's terms::

    {"link": tune.choice(LINKS), "op0": tune.choice(OPS), ..., "op3": tune.choice(OPS)}

The objective, minimised, is the **regret in validation-accuracy points**: ``100 * (best validation
accuracy in the table - validation accuracy of the configuration)``, so 0 is the table's best and
0.5 means half an accuracy point short of it. The only configurations the table lacks (four skip
connections: no network at all) score as the table's worst architecture.

A :class:`TabularBenchmark` has the interface of :class:`benchmarks.functions.TestFunction` that
the harness uses (``name``, ``param_space``, ``target_value``, ``with_target``, ``optimum``, calling
it on a config), so ``python -m benchmarks.harness --functions nasbench_graph_cora --dims 5`` runs
it like a test function; it has exactly five parameters, and no shift or rotation.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune_llm._imports import require

#: The nine link patterns of NAS-Bench-Graph's macro space (the input node of each of the four
#: nodes: 0 the graph's features, k the k-th node), as the strings the search space offers.
LINKS: tuple[str, ...] = ("0-0-0-0", "0-0-0-1", "0-0-1-1", "0-0-1-2", "0-0-1-3", "0-1-1-1", "0-1-1-2", "0-1-2-2",
                          "0-1-2-3")
#: The nine node operations (the package's ``gnn_list``, in its order).
OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The data sets whose table shares :data:`OPS` (the package's ``proteins`` table has fewer operations).
DATASETS: tuple[str, ...] = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")
#: Number of parameters of the space (link + four operations): the harness's "dim" for a table.
N_PARAMS = 5


@functools.lru_cache(maxsize=None)
def _table(dataset: str) -> tuple[dict[int, float], float, float]:
    """The validation accuracy of each architecture hash, and the table's best and worst (read once)."""
    nbg = require("nas_bench_graph", extra="bench", feature="the NAS-Bench-Graph tabular benchmark")
    bench = nbg.light_read(dataset)
    valid = {int(k): float(v["valid_perf"]) for k, v in bench.items()}
    values = np.fromiter(valid.values(), dtype=np.float64)
    return valid, float(values.max()), float(values.min())


@functools.lru_cache(maxsize=65_536)
def _arch_hash(link: str, ops: tuple[str, ...]) -> int:
    """The package's canonical hash of an architecture (isomorphic DAGs share one)."""
    nbg = require("nas_bench_graph", extra="bench", feature="the NAS-Bench-Graph tabular benchmark")
    return int(nbg.Arch([int(t) for t in link.split("-")], list(ops)).valid_hash())


@dataclass(frozen=True)
class TabularBenchmark:
    """One NAS-Bench-Graph table as a minimisation problem (regret in validation-accuracy points).

    Attributes:
        name: Registry name (``nasbench_graph_<dataset>``).
        dataset: The table's data set (one of :data:`DATASETS`).
        target: Regret counted as "reached" by the harness's ``evals_to_target``.
        optimum: The regret of the table's best architecture (0).
    """

    name: str
    dataset: str
    target: float = 0.5
    optimum: float = 0.0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")

    def _check_dim(self, dim: int) -> None:
        if dim != N_PARAMS:
            raise ValueError(f"{self.name} has {N_PARAMS} categorical parameters, so its dim is {N_PARAMS}, "
                             f"got dim={dim}; run it with --dims {N_PARAMS}")

    def param_space(self, dim: int = N_PARAMS) -> dict[str, Any]:
        """The Tune search space: ``link`` and ``op0 .. op3``, each a ``tune.choice``.

        Args:
            dim: Must be 5 (the harness passes its ``--dims``).

        Raises:
            ValueError: ``dim`` is not 5.
        """
        from ray import tune

        self._check_dim(dim)
        return {"link": tune.choice(list(LINKS)), **{f"op{i}": tune.choice(list(OPS)) for i in range(4)}}

    def target_value(self, dim: int = N_PARAMS) -> float:
        """The target regret (the same for every ``dim``)."""
        return float(self.target)

    def with_target(self, target: float) -> TabularBenchmark:
        """A copy with another target regret."""
        if callable(target):
            raise ValueError(f"{self.name} takes a constant target regret, got the function {target!r}")
        return dataclasses.replace(self, target=float(target))

    def accuracy(self, config: Mapping[str, Any]) -> float | None:
        """The validation accuracy (0-1) of a configuration, or None where the table has no network
        for it (four skip connections).

        Raises:
            ValueError: A parameter is missing or not one of the space's choices.
        """
        link = config.get("link")
        ops = tuple(config.get(f"op{i}") for i in range(4))
        if link not in LINKS or any(op not in OPS for op in ops):
            raise ValueError(f"{self.name} needs link in {LINKS} and op0..op3 in {OPS}, got link={link!r}, "
                             f"ops={ops!r}")
        valid, _, _ = _table(self.dataset)
        return valid.get(_arch_hash(str(link), ops))

    def __call__(self, config: Mapping[str, Any]) -> float:
        """The regret of ``config`` in validation-accuracy points (>= 0; 0 is the table's best)."""
        _, best, worst = _table(self.dataset)
        acc = self.accuracy(config)
        return 100.0 * (best - (worst if acc is None else acc))

    def best_config(self) -> dict[str, str]:
        """A configuration of the table's best architecture (found by enumerating the space once)."""
        _, best, _ = _table(self.dataset)
        for config in all_configs():
            if self.accuracy(config) == best:
                return config
        raise RuntimeError(f"no configuration of the space reaches {self.name}'s best accuracy {best}")


def all_configs() -> list[dict[str, str]]:
    """Every configuration of the space (59,049), in a fixed order."""
    import itertools

    return [{"link": link, "op0": a, "op1": b, "op2": c, "op3": d}
            for link, a, b, c, d in itertools.product(LINKS, OPS, OPS, OPS, OPS)]


#: The tabular benchmarks by name (nothing is read until one is evaluated).
TABLES: dict[str, TabularBenchmark] = {f"nasbench_graph_{d}": TabularBenchmark(f"nasbench_graph_{d}", d)
                                       for d in DATASETS}
