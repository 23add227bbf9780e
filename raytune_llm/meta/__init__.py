"""MetaLLMiX's data side: a meta-dataset of past experiments, meta-features, a meta-learner, retrieval.

* :class:`MetaStore`: an SQLite meta-dataset of data sets (with meta-features) and experiments
  (configuration, metric value, training time); ingests Ray Tune experiment directories and
  CSV/Parquet tables; :meth:`MetaStore.seed` opens the packaged seed meta-dataset read-only.
* :func:`image_meta_features`, :func:`timeseries_meta_features`, :func:`dataset_meta_features`.
* :class:`MetaLearner`: XGBoost on meta-features + configuration, with leave-one-data-set-out
  cross-validation error and SHAP explanations in plain words.
* :func:`similar_experiments`: the best experiments of the nearest data sets.

Importing this package is cheap: pandas, XGBoost, SHAP and scikit-learn (the ``meta`` extra) load
on first use of the names that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

from raytune_llm.meta.features import dataset_meta_features, image_meta_features, timeseries_meta_features

__all__ = [
    "MetaLearner", "MetaStore", "dataset_meta_features", "image_meta_features", "seed_store_path",
    "similar_experiments", "timeseries_meta_features",
]

_LAZY = {
    "MetaStore": "raytune_llm.meta.store",
    "seed_store_path": "raytune_llm.meta.store",
    "MetaLearner": "raytune_llm.meta.learner",
    "similar_experiments": "raytune_llm.meta.retrieval",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raytune_llm.meta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
