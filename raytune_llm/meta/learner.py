"""The meta-learner: predict a configuration's result on a data set from the data set's meta-features.

One XGBoost regressor per (task, metric) is trained on every experiment of a :class:`MetaStore`:

* inputs: the task's numeric meta-features (``meta:<name>``), a one-hot of the model
  (``model=<name>``) and the flattened configuration (``cfg:<key>`` for numbers and booleans,
  ``cfg:<key>=<value>`` one-hot for strings and other values). Configuration keys in
  ``ignore_config`` (default ``dataset``, ``seed``) and keys with a single value over the whole
  training set are left out; a missing key is NaN (XGBoost's missing value);
* target: the metric's value, as stored (``mode`` only decides what "better" means).

:attr:`MetaLearner.cv_error` is measured by leave-one-data-set-out cross-validation (each data set
predicted by a model that never saw it), the honest estimate for a new data set; it is reported
next to the error of predicting the training folds' mean (``baseline_rmse``), so a learner that
does not beat the baseline is visible.

Example:
    >>> from raytune_llm.meta import MetaStore, dataset_meta_features
    >>> with MetaStore.seed() as store:
    ...     learner = MetaLearner(seed=0).fit(store, task="image-classification")
    >>> learner.metric, learner.mode
    ('val_accuracy', 'max')
    >>> sorted(learner.cv_error)[:3]
    ['baseline_rmse', 'folds', 'mae']
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from raytune_llm._imports import require
from raytune_llm.meta.errors import MetaDataError, NotFittedError
from raytune_llm.meta.features import TASKS, numeric_features

if TYPE_CHECKING:
    from raytune_llm.meta.store import MetaStore
    from raytune_llm.space import SearchSpace

logger = logging.getLogger(__name__)

_DEFAULT_XGB: dict[str, Any] = {
    "n_estimators": 300,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 2.0,
    "n_jobs": 1,
}
_MAX_ONE_HOT = 32


def _xgboost() -> Any:
    require("sklearn", extra="meta", feature="MetaLearner (XGBoost's scikit-learn interface)")
    return require("xgboost", extra="meta", feature="MetaLearner")


def _group_kfold() -> Any:
    return require("sklearn.model_selection", extra="meta", feature="MetaLearner.fit").GroupKFold


def _flat(config: Mapping[str, Any]) -> dict[str, Any]:
    from raytune_llm.space import flatten

    if not isinstance(config, Mapping):
        raise MetaDataError(f"a configuration must be a dict, got {type(config).__name__}: {config!r}")
    return flatten(dict(config))


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, (str, bytes))


def _label(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e9:
        return str(int(x))
    if abs(x) < 1e-2 or abs(x) >= 1e4:
        return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{x:.3g}"


def _thresholds(x: np.ndarray) -> np.ndarray:
    """Split points tried for a numeric input: each value above the smallest when there are at most
    20 distinct values (so integers read "below 3"), else the 10 %, 20 %, ..., 90 % quantiles."""
    if not len(x):
        return np.zeros(0)
    distinct = np.unique(x)
    if len(distinct) <= 20:
        return distinct[1:]
    return np.unique(np.quantile(x, np.linspace(0.1, 0.9, 9)))


class MetaLearner:
    """XGBoost meta-learner over meta-features and configurations.

    Args:
        seed: random seed of XGBoost (and nothing else: there is no global RNG use).
        ignore_config: configuration keys (flattened, ``"a/b"``) never used as inputs.
        **xgb_params: passed to ``xgboost.XGBRegressor`` (defaults: 300 trees of depth 4,
            learning rate 0.05, subsample 0.8, colsample_bytree 0.8, one thread).

    Attributes:
        task, metric, mode: what the model was fitted on (None before :meth:`fit`).
        models: model names seen in training.
        feature_names: the input columns, in order.
        cv_error: leave-one-data-set-out errors (see :meth:`fit`).
        n_train: experiments used; datasets: the training data sets.
    """

    def __init__(self, *, seed: int = 0, ignore_config: Sequence[str] = ("dataset", "seed"), **xgb_params: Any) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise MetaDataError(f"seed must be an int, got {seed!r}")
        self.seed = int(seed)
        self.ignore_config = tuple(ignore_config)
        self.xgb_params = {**_DEFAULT_XGB, **xgb_params}
        self.task: str | None = None
        self.metric: str | None = None
        self.mode: str | None = None
        self.models: list[str] = []
        self.datasets: list[str] = []
        self.feature_names: list[str] = []
        self.cv_error: dict[str, Any] = {}
        self.n_train = 0
        self._model: Any = None
        self._numeric: list[str] = []
        self._categorical: dict[str, list[str]] = {}
        self._train_configs: list[tuple[str, dict[str, Any]]] = []
        self._value_range: tuple[float, float] = (0.0, 0.0)

    def __repr__(self) -> str:
        if self._model is None:
            return "MetaLearner(unfitted)"
        return (f"MetaLearner(task={self.task!r}, metric={self.metric!r}, mode={self.mode!r}, "
                f"n_train={self.n_train}, datasets={len(self.datasets)})")

    # ---------------------------------------------------------------- features
    def _columns(self, rows: list[dict[str, Any]]) -> None:
        keys = sorted({k for r in rows for k in r})
        self._numeric, self._categorical = [], {}
        for key in keys:
            values = [r.get(key) for r in rows]
            present = [v for v in values if v is not None]
            distinct = {(_label(v) if not _is_number(v) else float(v)) for v in present}
            if len(distinct) + (len(present) < len(values)) <= 1:
                continue  # constant over the whole training set: carries no information
            if all(_is_number(v) for v in present):
                self._numeric.append(key)
            else:
                labels = sorted({_label(v) for v in present})
                if len(labels) > _MAX_ONE_HOT:
                    logger.warning("MetaLearner: configuration key %r has %d distinct non-numeric values; left out",
                                   key, len(labels))
                    continue
                self._categorical[key] = labels
        self.feature_names = ([f"meta:{n}" for n in TASKS[self.task]] + [f"model={m}" for m in self.models]
                              + [f"cfg:{k}" for k in self._numeric]
                              + [f"cfg:{k}={v}" for k, labels in self._categorical.items() for v in labels])

    def _row(self, meta: np.ndarray, model: str, flat: Mapping[str, Any]) -> np.ndarray:
        out = np.full(len(self.feature_names), np.nan)
        i = len(meta)
        out[:i] = meta
        for m in self.models:
            out[i] = 1.0 if m == model else 0.0
            i += 1
        for key in self._numeric:
            v = flat.get(key)
            out[i] = float(v) if v is not None and _is_number(v) else np.nan
            i += 1
        for key, labels in self._categorical.items():
            v = flat.get(key)
            for label in labels:
                out[i] = np.nan if v is None else float(_label(v) == label)
                i += 1
        return out

    def _config_row(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in _flat(config).items() if k not in self.ignore_config}

    def _matrix(self, features: Mapping[str, Any], configs: Sequence[Mapping[str, Any]], model: str) -> np.ndarray:
        self._check_fitted()
        meta = numeric_features(dict(features), self.task)
        return np.vstack([self._row(meta, model, self._config_row(c)) for c in configs]) if configs else \
            np.zeros((0, len(self.feature_names)))

    # ---------------------------------------------------------------- fit
    def _regressor(self) -> Any:
        xgb = _xgboost()
        return xgb.XGBRegressor(random_state=self.seed, **self.xgb_params)

    def fit(self, store: MetaStore, *, task: str, metric: str | None = None) -> MetaLearner:
        """Fit on every experiment of ``task`` (and ``metric``) in ``store`` and measure the CV error.

        Args:
            store: the meta-dataset (e.g. :meth:`MetaStore.seed`, or your own store).
            task: ``"image-classification"`` or ``"timeseries-regression"``.
            metric: the metric to predict; default: the only metric of the task's experiments
                (an error lists them when there are several).

        Returns:
            ``self``. ``cv_error`` holds ``rmse``, ``mae`` (pooled over the held-out
            predictions), ``spearman`` (mean over held-out data sets of the rank correlation
            between predicted and true values within the data set: how well configurations are
            ordered on an unseen data set), ``spearman_pooled``, ``baseline_rmse`` (predicting
            the training folds' mean), ``folds`` (= data sets) and ``per_dataset``.

        Raises:
            MetaDataError: for an unknown task, no experiments, several metrics without
                ``metric``, or a metric used with both modes.
        """
        if task not in TASKS:
            raise MetaDataError(f"task must be one of {sorted(TASKS)}, got {task!r}")
        frame = store.experiments(task=task)
        if frame.empty:
            raise MetaDataError(f"the store {store.path} has no experiments for task {task!r}; add some, or use "
                                "MetaStore.seed()")
        metrics = sorted(frame["metric"].unique())
        if metric is None:
            if len(metrics) > 1:
                raise MetaDataError(f"the {task!r} experiments use several metrics {metrics}; pass metric=... "
                                    "to choose one")
            metric = metrics[0]
        frame = frame[frame["metric"] == metric]
        if frame.empty:
            raise MetaDataError(f"no {task!r} experiment reports metric {metric!r}; metrics found: {metrics}")
        modes = sorted(frame["mode"].unique())
        if len(modes) != 1:
            raise MetaDataError(f"metric {metric!r} is minimised on some data sets and maximised on others "
                                f"({modes}); store one mode per metric")
        self.task, self.metric, self.mode = task, metric, modes[0]
        self.models = sorted(frame["model"].unique())
        self.datasets = sorted(frame["dataset"].unique())
        metas = {name: numeric_features(store.dataset_features(name), task) for name in self.datasets}
        rows = [self._config_row(c) for c in frame["config"]]
        self._columns(rows)
        X = np.vstack([self._row(metas[d], m, r) for d, m, r in zip(frame["dataset"], frame["model"], rows)])
        y = frame["value"].to_numpy(dtype=float)
        groups = frame["dataset"].to_numpy()
        self.cv_error = self._cross_validate(X, y, groups)
        self._model = self._regressor().fit(X, y)
        self.n_train = len(y)
        self._train_configs = list(zip(frame["model"], frame["config"]))
        self._value_range = (float(y.min()), float(y.max()))
        logger.info("MetaLearner fitted on %d %s experiments (%d data sets): CV %s", len(y), task,
                    len(self.datasets), {k: v for k, v in self.cv_error.items() if k != "per_dataset"})
        return self

    def _cross_validate(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
        from scipy.stats import spearmanr

        names = sorted(set(groups))
        if len(names) < 2:
            return {"rmse": math.nan, "mae": math.nan, "spearman": math.nan, "spearman_pooled": math.nan,
                    "baseline_rmse": math.nan, "folds": 0, "per_dataset": {},
                    "note": "leave-one-data-set-out needs at least two data sets"}
        pred = np.empty_like(y)
        base = np.empty_like(y)
        for train, test in _group_kfold()(n_splits=len(names)).split(X, y, groups):
            pred[test] = self._regressor().fit(X[train], y[train]).predict(X[test])
            base[test] = y[train].mean()
        per_dataset = {}
        for name in names:
            mask = groups == name
            rho = spearmanr(pred[mask], y[mask]).statistic if mask.sum() > 2 and np.ptp(y[mask]) > 0 else math.nan
            per_dataset[name] = {"n": int(mask.sum()), "rmse": float(np.sqrt(np.mean((pred[mask] - y[mask]) ** 2))),
                                 "spearman": float(rho) if rho == rho else math.nan}
        rhos = [d["spearman"] for d in per_dataset.values() if not math.isnan(d["spearman"])]
        return {
            "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
            "mae": float(np.mean(np.abs(pred - y))),
            "spearman": float(np.mean(rhos)) if rhos else math.nan,
            "spearman_pooled": float(spearmanr(pred, y).statistic),
            "baseline_rmse": float(np.sqrt(np.mean((base - y) ** 2))),
            "folds": len(names),
            "per_dataset": per_dataset,
        }

    def _check_fitted(self) -> None:
        if self._model is None:
            raise NotFittedError("this MetaLearner is not fitted; call fit(store, task=...) first")

    # ---------------------------------------------------------------- predict
    def predict(self, features: Mapping[str, Any], configs: Sequence[Mapping[str, Any]], model: str) -> np.ndarray:
        """Predicted metric values of ``configs`` of ``model`` on a data set with these meta-features.

        Args:
            features: the data set's meta-features (every numeric one of the task).
            configs: configurations (nested or flat); keys unseen in training are ignored,
                missing ones treated as unknown.
            model: a model name seen in training (see :attr:`models`).

        Returns:
            One prediction per configuration, in the metric's units.
        """
        self._check_fitted()
        if model not in self.models:
            raise MetaDataError(f"model {model!r} is not in the training data; known models: {self.models}")
        return self._model.predict(self._matrix(features, list(configs), model)).astype(float)

    def best_candidates(self, features: Mapping[str, Any], space: SearchSpace | Mapping[str, Any], *, model: str,
                        n: int = 5, samples: int = 512, seed: int = 0) -> list[tuple[dict[str, Any], float]]:
        """The ``n`` configurations of ``space`` with the best predicted value, best first.

        ``samples`` scrambled Sobol points of the space's unit cube (``SpaceFiller``) are mapped
        to configurations (``SearchSpace.from_unit``, constants included), de-duplicated by
        ``SearchSpace.key``, predicted and sorted (descending for ``mode="max"``).

        Args:
            features: the data set's meta-features.
            space: a :class:`~raytune_llm.space.SearchSpace` or a Tune param-space dict.
            model: a model name seen in training.
            n: how many to return.
            samples: Sobol points to score.
            seed: Sobol scrambling seed.

        Returns:
            ``[(config, predicted value), ...]`` with nested configs ready for Tune.
        """
        from raytune_llm.proposal_queue import SpaceFiller
        from raytune_llm.space import SearchSpace

        self._check_fitted()
        if int(n) < 1 or int(samples) < int(n):
            raise MetaDataError(f"need 1 <= n <= samples, got n={n!r}, samples={samples!r}")
        parsed = SearchSpace.from_tune(space)
        filler = SpaceFiller(parsed.dim, seed=seed)
        configs, seen = [], set()
        for _ in range(int(samples)):
            config = parsed.from_unit(filler.next())
            key = parsed.key(config)
            if key not in seen:
                seen.add(key)
                configs.append(config)
        values = self.predict(features, configs, model)
        order = np.argsort(-values if self.mode == "max" else values, kind="stable")[: int(n)]
        return [(configs[i], float(values[i])) for i in order]

    # ---------------------------------------------------------------- explain
    def explanations(self, features: Mapping[str, Any], *, top: int = 5) -> list[dict[str, Any]]:
        """Structured SHAP explanations of the predictions on a data set (what :meth:`explain` words).

        The training configurations are re-scored as if run on a data set with ``features``;
        ``shap.TreeExplainer`` attributes each prediction to the inputs. Per configuration key
        (one-hot columns grouped), with importance = mean |SHAP|:

        * numeric keys: the threshold t (a value seen in training, or a decile when there are more
          than 20 distinct values) that best separates the attributions; ``effect`` = mean attribution of the rows below t minus that above t;
        * categorical keys: the category whose rows' mean attribution differs most from the other
          rows'; ``effect`` = that difference;
        * meta-features: one entry each, ``effect`` = the attribution of this data set's value
          (constant over the rows) relative to the store's average prediction.

        Returns:
            Up to ``top`` dicts sorted by importance: ``kind`` (``"numeric"``, ``"categorical"``,
            ``"meta"``), ``feature``, ``importance``, ``effect`` (metric units) and ``threshold``,
            ``category`` or ``value``.
        """
        shap = require("shap", extra="meta", feature="MetaLearner.explain")
        self._check_fitted()
        if int(top) < 1:
            raise MetaDataError(f"top must be >= 1, got {top!r}")
        meta = numeric_features(dict(features), self.task)
        X = np.vstack([self._row(meta, m, self._config_row(c)) for m, c in self._train_configs])
        values = np.asarray(shap.TreeExplainer(self._model).shap_values(X))
        out: list[dict[str, Any]] = []
        n_meta = len(TASKS[self.task])
        for j, name in enumerate(TASKS[self.task]):
            out.append({"kind": "meta", "feature": name, "value": float(meta[j]),
                        "importance": float(np.abs(values[:, j]).mean()), "effect": float(values[:, j].mean())})
        start = n_meta + len(self.models)
        for k, key in enumerate(self._numeric):
            j = start + k
            x, s = X[:, j], values[:, j]
            valid = ~np.isnan(x)
            best = None
            for t in _thresholds(x[valid]):
                low, high = valid & (x < t), valid & (x >= t)
                if low.sum() >= 3 and high.sum() >= 3:
                    effect = float(s[low].mean() - s[high].mean())
                    if best is None or abs(effect) > abs(best[1]):
                        best = (float(t), effect)
            if best is not None:
                out.append({"kind": "numeric", "feature": key, "threshold": best[0], "effect": best[1],
                            "importance": float(np.abs(s).mean())})
        j = start + len(self._numeric)
        for key, labels in self._categorical.items():
            cols = slice(j, j + len(labels))
            s = values[:, cols].sum(axis=1)
            block = X[:, cols]
            j += len(labels)
            best = None
            for c, label in enumerate(labels):
                mask = block[:, c] == 1.0
                if 0 < mask.sum() < len(mask):
                    effect = float(s[mask].mean() - s[~mask].mean())
                    if best is None or abs(effect) > abs(best[1]):
                        best = (label, effect)
            if best is not None:
                out.append({"kind": "categorical", "feature": key, "category": best[0], "effect": best[1],
                            "importance": float(np.abs(s).mean())})
        out.sort(key=lambda e: -e["importance"])
        return out[: int(top)]

    def _amount(self, effect: float) -> str:
        lo, hi = self._value_range
        if "acc" in (self.metric or "").lower() and 0.0 <= lo and hi <= 1.0:
            return f"~{abs(effect) * 100:.1f} points"
        return f"~{abs(effect):.3g}"

    def explain(self, features: Mapping[str, Any], *, top: int = 5) -> list[str]:
        """Plain-language statements of what the meta-learner learned for data sets like this one.

        Example statement: ``"on data sets like this one, lr below 1e-3 raised val_accuracy by
        ~4.0 points (better)"``. Built from :meth:`explanations` (SHAP ``TreeExplainer``);
        they describe the model, not causal effects, and are as reliable as :attr:`cv_error`.
        """
        lines = []
        for e in self.explanations(features, top=top):
            up = e["effect"] > 0
            verb = "raised" if up else "lowered"
            better = "better" if up == (self.mode == "max") else "worse"
            amount = self._amount(e["effect"])
            if e["kind"] == "numeric":
                lines.append(f"on data sets like this one, {e['feature']} below {_fmt(e['threshold'])} {verb} "
                             f"{self.metric} by {amount} ({better}) compared with {e['feature']} >= "
                             f"{_fmt(e['threshold'])}")
            elif e["kind"] == "categorical":
                lines.append(f"on data sets like this one, {e['feature']} = {e['category']} {verb} {self.metric} by "
                             f"{amount} ({better}) compared with the other choices")
            else:
                lines.append(f"this data set's {e['feature']} ({_fmt(e['value'])}) {verb} the predicted "
                             f"{self.metric} by {amount} ({better}) compared with the average data set in the store")
        return lines
