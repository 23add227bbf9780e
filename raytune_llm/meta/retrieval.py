"""Retrieval: the best past experiments on the data sets most similar to a new one.

Distance between data sets: Euclidean distance between their standardised numeric meta-features:

1. scale-like features (counts, sizes, resolution, ratios, intervals: :data:`LOG_FEATURES`) are
   taken as ``log10(1 + x)`` so that 1,000 vs 2,000 images counts like 10,000 vs 20,000;
2. every feature is standardised with the mean and standard deviation over all the store's data
   sets of the task (also those left out as candidates, so that excluding one data set does not
   change the scale; a feature constant over them gets std 1);
3. a missing (NaN) value becomes 0 after standardising, i.e. the store's mean.

The candidates are the task's data sets that have experiments, minus ``exclude_dataset``.

Example:
    >>> from raytune_llm.meta import MetaStore, dataset_meta_features
    >>> with MetaStore.seed() as store:
    ...     rows = similar_experiments(store, store.dataset_features("mnist"), task="image-classification",
    ...                                k=2, exclude_dataset="mnist", per_dataset=1)
    >>> rows["dataset"].tolist()
    ['mnist-lowres', 'textures']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from raytune_llm._imports import require
from raytune_llm.meta.errors import MetaDataError
from raytune_llm.meta.features import TASKS, numeric_features

if TYPE_CHECKING:
    import pandas as pd

    from raytune_llm.meta.store import MetaStore

__all__ = ["LOG_FEATURES", "dataset_distances", "similar_experiments"]

#: Meta-features compared on a log scale (``log10(1 + x)``).
LOG_FEATURES: frozenset[str] = frozenset({
    "n_instances", "n_classes", "imbalance_ratio", "resolution", "class_size_mean", "class_size_std",
    "class_size_min", "class_size_max", "length", "n_variables", "sampling_interval_s",
})


def _transform(matrix: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    out = np.array(matrix, dtype=float, copy=True)
    for j, name in enumerate(names):
        if name in LOG_FEATURES:
            out[:, j] = np.log10(1.0 + np.clip(out[:, j], 0.0, None))
    return out


def dataset_distances(store: MetaStore, features: Mapping[str, Any], *, task: str,
                      exclude_dataset: str | None = None, backend: str = "sklearn",
                      k: int | None = None) -> list[tuple[str, float]]:
    """``(data set, distance)`` of the ``k`` nearest data sets of ``task`` that have experiments, nearest first.

    Args:
        store: the meta-dataset.
        features: the query data set's meta-features.
        task: ``"image-classification"`` or ``"timeseries-regression"``.
        exclude_dataset: a data set left out (e.g. the query itself when it is in the store).
        backend: ``"sklearn"`` (``NearestNeighbors``) or ``"faiss"`` (``IndexFlatL2``; needs
            ``faiss``, from the ``meta`` extra's ``faiss-cpu``).
        k: how many; None: all.
    """
    if task not in TASKS:
        raise MetaDataError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    if backend not in ("sklearn", "faiss"):
        raise MetaDataError(f"backend must be 'sklearn' or 'faiss', got {backend!r}")
    names = TASKS[task]
    query = numeric_features(dict(features), task)
    with_runs = set(store.experiments(task=task)["dataset"])
    everything = store.datasets(task=task)
    table = everything[everything["name"].isin(with_runs) & (everything["name"] != exclude_dataset)]
    if table.empty:
        raise MetaDataError(f"the store {store.path} has no {task!r} data set with experiments"
                            + (f" other than {exclude_dataset!r}" if exclude_dataset else ""))
    scale = _transform(np.vstack([numeric_features(f, task) for f in everything["features"]]), names)
    candidates = _transform(np.vstack([numeric_features(f, task) for f in table["features"]]), names)
    q = _transform(query[None, :], names)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
        mean = np.nanmean(scale, axis=0)
        std = np.nanstd(scale, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    std = np.where(np.isnan(std) | (std <= 0), 1.0, std)
    z = np.nan_to_num((candidates - mean) / std, nan=0.0)
    zq = np.nan_to_num((q - mean) / std, nan=0.0)
    n = len(z) if k is None else min(int(k), len(z))
    if backend == "faiss":
        faiss = require("faiss", extra="meta",
                        feature="similar_experiments(backend='faiss') (or use backend='sklearn', the default: same "
                                "results)")
        index = faiss.IndexFlatL2(z.shape[1])
        index.add(np.ascontiguousarray(z, dtype=np.float32))
        dist, idx = index.search(np.ascontiguousarray(zq, dtype=np.float32), n)
        dist = np.sqrt(np.clip(dist, 0.0, None))
    else:
        neighbors = require("sklearn.neighbors", extra="meta", feature="similar_experiments")
        dist, idx = neighbors.NearestNeighbors(n_neighbors=n).fit(z).kneighbors(zq)
    names_list = table["name"].tolist()
    return [(names_list[i], float(d)) for i, d in zip(idx[0], dist[0])]


def similar_experiments(store: MetaStore, features: Mapping[str, Any], *, task: str, k: int = 5,
                        exclude_dataset: str | None = None, backend: str = "sklearn", per_dataset: int = 3,
                        model: str | None = None) -> pd.DataFrame:
    """The best experiments of the ``k`` data sets nearest to ``features``.

    Rows returned: for each of the ``k`` nearest data sets of ``task`` that have experiments (see
    the module docstring for the distance), and for each (model, metric) pair run on it, its
    ``per_dataset`` best experiments by that metric's mode (highest value for ``"max"``, lowest for
    ``"min"``; ties by id). Ordered by distance, then data set, model, metric, rank.

    Args:
        store: the meta-dataset.
        features: the new data set's meta-features.
        task: the task.
        k: nearest data sets to use (fewer if the store has fewer).
        exclude_dataset: leave this data set out (the query itself, when it is in the store).
        backend: ``"sklearn"`` or ``"faiss"``.
        per_dataset: best experiments per data set and (model, metric).
        model: only experiments of this model.

    Returns:
        The columns of :meth:`MetaStore.experiments` plus ``distance`` and ``rank`` (1 = best).
    """
    from raytune_llm.meta.store import _pandas

    pd = _pandas()
    if int(k) < 1 or int(per_dataset) < 1:
        raise MetaDataError(f"k and per_dataset must be >= 1, got k={k!r}, per_dataset={per_dataset!r}")
    nearest = dataset_distances(store, features, task=task, exclude_dataset=exclude_dataset, backend=backend, k=k)
    frames = []
    for name, distance in nearest:
        runs = store.experiments(dataset=name, model=model)
        for (_, _), group in runs.groupby(["model", "metric"], sort=True):
            ascending = group["mode"].iloc[0] == "min"
            best = group.sort_values(["value", "id"], ascending=[ascending, True]).head(int(per_dataset)).copy()
            best["distance"] = distance
            best["rank"] = np.arange(1, len(best) + 1)
            frames.append(best)
    if not frames:
        from raytune_llm.meta.store import EXPERIMENT_COLUMNS

        return pd.DataFrame(columns=[*EXPERIMENT_COLUMNS, "distance", "rank"])
    return pd.concat(frames, ignore_index=True)
