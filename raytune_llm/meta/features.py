"""Meta-features: a few numbers that describe a data set, so that data sets can be compared.

Image classification (:func:`image_meta_features`, MetaLLMiX's seven): the number of instances,
the number of classes, the imbalance ratio, the class entropy, the resolution, the class-size
statistics (mean, std, min, max: four numbers) and the modality (a string, not used in
distances).

Time-series regression (:func:`timeseries_meta_features`): length, number of variables,
sampling interval, missing rate, lag-1 autocorrelation of the target and the strength of its
seasonality.

:func:`dataset_meta_features` computes them, from the real data, for every data set of the
packaged seed meta-dataset (:data:`SEED_DATASETS`).

Example:
    >>> import numpy as np
    >>> f = image_meta_features(np.zeros((6, 8, 8)), [0, 0, 0, 0, 1, 1])
    >>> f["n_instances"], f["n_classes"], f["imbalance_ratio"], f["resolution"]
    (6, 2, 2.0, 64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune_llm.meta.errors import MetaDataError, UnknownDatasetError

__all__ = [
    "IMAGE_FEATURES", "SEED_DATASETS", "TASKS", "TIMESERIES_FEATURES", "dataset_meta_features",
    "image_meta_features", "numeric_features", "timeseries_meta_features",
]

#: The tasks a meta-dataset knows, and the numeric meta-features of each (in order).
IMAGE_FEATURES: tuple[str, ...] = (
    "n_instances", "n_classes", "imbalance_ratio", "class_entropy", "resolution",
    "class_size_mean", "class_size_std", "class_size_min", "class_size_max",
)
TIMESERIES_FEATURES: tuple[str, ...] = (
    "length", "n_variables", "sampling_interval_s", "missing_rate", "autocorrelation", "seasonality_strength",
)
TASKS: dict[str, tuple[str, ...]] = {
    "image-classification": IMAGE_FEATURES,
    "timeseries-regression": TIMESERIES_FEATURES,
}

_DAY_S = 86_400.0

#: The seed meta-dataset's data sets: the trainables' data (``trainables.data``) and the fixed
#: settings every seed run of that data set used. ``data_fraction`` is part of the data set's
#: identity: the meta-features describe exactly the samples the runs trained and validated on.
SEED_DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"task": "image-classification", "dataset": "digits", "data_fraction": 1.0, "max_epochs": 2},
    "digits-imbalanced": {"task": "image-classification", "dataset": "digits-imbalanced", "data_fraction": 1.0,
                          "max_epochs": 3},
    "mnist": {"task": "image-classification", "dataset": "mnist", "data_fraction": 0.2, "max_epochs": 2},
    "mnist-lowres": {"task": "image-classification", "dataset": "mnist-lowres", "data_fraction": 0.3,
                     "max_epochs": 2},
    "textures": {"task": "image-classification", "dataset": "textures", "data_fraction": 0.2, "max_epochs": 2},
    "faces": {"task": "image-classification", "dataset": "faces", "data_fraction": 1.0, "max_epochs": 6},
    "aq-no2-hourly": {"task": "timeseries-regression", "variant": "hourly", "data_fraction": 0.1, "max_epochs": 2},
    "aq-bgno2-hourly": {"task": "timeseries-regression", "variant": "background", "data_fraction": 0.1,
                        "max_epochs": 2},
    "aq-no2-daily": {"task": "timeseries-regression", "variant": "daily", "data_fraction": 1.0, "max_epochs": 5},
}


def _bad(message: str) -> MetaDataError:
    return MetaDataError(message)


def image_meta_features(X: Any, y: Sequence[Any] | np.ndarray, *, modality: str = "grayscale") -> dict[str, Any]:
    """MetaLLMiX's seven meta-features of an image-classification data set.

    Only the shape of the images and the labels matter; pixel values are not read.

    Args:
        X: images, shape (N, H, W), channels-first (N, C, H, W) with C in {1, 3, 4}, or
            channels-last (N, H, W, C) with C in {1, 3, 4}; a NumPy array or anything with
            ``.shape`` (a torch tensor).
        y: one class label per image (any hashable values).
        modality: what the pixels are, e.g. ``"grayscale"``, ``"rgb"``; stored as given.

    Returns:
        ``n_instances`` (N), ``n_classes`` (distinct labels), ``imbalance_ratio`` (largest class
        size / smallest class size, 1.0 when balanced), ``class_entropy`` (Shannon entropy of
        the class frequencies in bits: log2(n_classes) when balanced), ``resolution`` (pixels per
        image and channel, H * W), ``class_size_mean``/``_std`` (population std)/``_min``/``_max``
        (images per class), and ``modality``.

    Raises:
        ValueError: for a shape that is not a batch of images, a label count different from N,
            fewer than one image, or an empty modality.
    """
    shape = tuple(int(s) for s in getattr(X, "shape", np.shape(X)))
    if len(shape) == 3:
        height, width = shape[1], shape[2]
    elif len(shape) == 4 and shape[1] in (1, 3, 4):
        height, width = shape[2], shape[3]
    elif len(shape) == 4 and shape[3] in (1, 3, 4):
        height, width = shape[1], shape[2]
    else:
        raise _bad(f"X must be images of shape (N, H, W), (N, C, H, W) or (N, H, W, C) with C in 1/3/4, "
                   f"got shape {shape}; reshape flat rows with X.reshape(-1, H, W)")
    n = shape[0]
    labels = np.asarray(y).reshape(-1)
    if n < 1:
        raise _bad("X holds no images (N = 0); meta-features need at least one image")
    if len(labels) != n:
        raise _bad(f"y must hold one label per image: {n} images but {len(labels)} labels")
    if not isinstance(modality, str) or not modality.strip():
        raise _bad(f"modality must be a non-empty string such as 'grayscale' or 'rgb', got {modality!r}")
    _, counts = np.unique(labels, return_counts=True)
    counts = counts.astype(np.float64)
    p = counts / counts.sum()
    return {
        "n_instances": int(n),
        "n_classes": int(len(counts)),
        "imbalance_ratio": float(counts.max() / counts.min()),
        "class_entropy": float(-(p * np.log2(p)).sum()) + 0.0,
        "resolution": int(height * width),
        "class_size_mean": float(counts.mean()),
        "class_size_std": float(counts.std()),
        "class_size_min": int(counts.min()),
        "class_size_max": int(counts.max()),
        "modality": modality,
    }


def _lag1_autocorrelation(x: np.ndarray) -> float:
    """Sample lag-1 autocorrelation ``sum((x_t - m)(x_t+1 - m)) / sum((x_t - m)^2)``, NaN-aware.

    ``m`` and the denominator use every valid value; the numerator the pairs where both are valid.
    NaN when fewer than 3 values are valid or the series is constant.
    """
    valid = ~np.isnan(x)
    if valid.sum() < 3:
        return math.nan
    d = x - x[valid].mean()
    denominator = float((d[valid] ** 2).sum())
    if denominator == 0.0:
        return math.nan
    pairs = valid[:-1] & valid[1:]
    return float((d[:-1][pairs] * d[1:][pairs]).sum() / denominator)


def _fill_linear(x: np.ndarray) -> np.ndarray:
    """NaNs replaced by linear interpolation between valid neighbours (nearest value at the ends)."""
    valid = ~np.isnan(x)
    if valid.all():
        return x
    t = np.arange(len(x))
    return np.interp(t, t[valid], x[valid])


def seasonal_period(sampling_interval_s: float) -> int | None:
    """The period (in samples) whose seasonality :func:`timeseries_meta_features` measures.

    A daily cycle (``86400 / sampling_interval_s`` samples) when the sampling interval is shorter
    than a day and divides it; a weekly cycle (7) for daily data; otherwise ``None``.
    """
    if sampling_interval_s < _DAY_S:
        per_day = _DAY_S / sampling_interval_s
        if abs(per_day - round(per_day)) < 1e-9 and round(per_day) >= 2:
            return int(round(per_day))
        return None
    if sampling_interval_s == _DAY_S:
        return 7
    return None


def seasonality_strength(x: np.ndarray, period: int) -> float:
    """Strength of a seasonal cycle of ``period`` samples, by classical (STL-free) decomposition.

    1. NaNs are filled by linear interpolation (for this computation only).
    2. Trend: centred moving average over one period (a 2 x period average for even periods), so
       a cycle of exactly ``period`` samples and any linear trend are separated exactly.
    3. Detrended = x - trend (where the trend is defined); seasonal component = the mean of the
       detrended values at each phase ``t mod period``; residual = detrended - seasonal.
    4. Strength = ``max(0, 1 - var(residual) / var(detrended))``: 1 for a pure cycle, near 0 for
       noise. NaN when the series is shorter than two periods; 0 when detrended is constant.
    """
    x = np.asarray(x, dtype=np.float64)
    if int(period) < 2:
        raise _bad(f"period must be >= 2 samples, got {period!r}")
    period = int(period)
    if np.isnan(x).all() or len(x) < 2 * period + 1:
        return math.nan
    x = _fill_linear(x)
    if period % 2:
        kernel = np.full(period, 1.0 / period)
    else:
        kernel = np.concatenate(([0.5], np.ones(period - 1), [0.5])) / period
    trend = np.convolve(x, kernel, mode="valid")
    offset = (len(kernel) - 1) // 2
    t = np.arange(offset, offset + len(trend))
    detrended = x[t] - trend
    if float(detrended.var()) <= 1e-12 * max(1.0, float(np.abs(x).max()) ** 2):
        return 0.0
    phase = t % period
    means = np.bincount(phase, weights=detrended, minlength=period) / np.maximum(np.bincount(phase, minlength=period), 1)
    resid = detrended - (means - means.mean())[phase]
    return float(max(0.0, 1.0 - resid.var() / detrended.var()))


def timeseries_meta_features(values: Any, *, sampling_interval_s: float, target: int = 0,
                             period: int | None = None) -> dict[str, Any]:
    """Meta-features of a (multivariate) time series with regular sampling.

    Args:
        values: shape (T,) or (T, V): T time steps of V measured variables, NaN where missing.
        sampling_interval_s: seconds between consecutive time steps (3600 for hourly data).
        target: column of the forecast target (for ``autocorrelation`` and ``seasonality_strength``).
        period: seasonal period in samples; default :func:`seasonal_period` (24 for hourly data,
            7 for daily data).

    Returns:
        ``length`` (T), ``n_variables`` (V), ``sampling_interval_s``, ``missing_rate`` (share of
        missing cells over all T x V), ``autocorrelation`` (lag-1 of the target, NaN-aware, see
        :func:`_lag1_autocorrelation`), ``seasonality_strength`` (see :func:`seasonality_strength`;
        NaN when no period applies or the series is shorter than two periods).

    Raises:
        ValueError: for a bad shape, non-positive interval, or a target column out of range.
    """
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _bad(f"values must be numbers (NaN for missing), shape (T,) or (T, V): {exc}") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise _bad(f"values must have shape (T,) or (T, V) with T >= 2, got shape {np.shape(values)}")
    interval = float(sampling_interval_s)
    if not (math.isfinite(interval) and interval > 0):
        raise _bad(f"sampling_interval_s must be a positive number of seconds (3600 for hourly), got "
                   f"{sampling_interval_s!r}")
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < x.shape[1]:
        raise _bad(f"target must be a column index in [0, {x.shape[1] - 1}], got {target!r}")
    if np.isinf(x).any():
        raise _bad("values contain inf; use NaN for missing values")
    series = x[:, int(target)]
    if period is None:
        period = seasonal_period(interval)
    return {
        "length": int(x.shape[0]),
        "n_variables": int(x.shape[1]),
        "sampling_interval_s": interval,
        "missing_rate": float(np.isnan(x).mean()),
        "autocorrelation": _lag1_autocorrelation(series),
        "seasonality_strength": math.nan if period is None else seasonality_strength(series, period),
    }


def numeric_features(features: dict[str, Any], task: str) -> np.ndarray:
    """The numeric meta-features of ``task`` as a float vector, in the task's order.

    Raises:
        ValueError: for an unknown task or a missing feature (the message lists them).
    """
    if task not in TASKS:
        raise _bad(f"task must be one of {sorted(TASKS)}, got {task!r}")
    names = TASKS[task]
    missing = [n for n in names if n not in features]
    if missing:
        raise _bad(f"meta-features for {task!r} lack {missing}; compute them with "
                   f"{'image' if task.startswith('image') else 'timeseries'}_meta_features(...)")
    out = []
    for n in names:
        v = features[n]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) and v is not None:
            raise _bad(f"meta-feature {n!r} must be a number, got {v!r}")
        out.append(math.nan if v is None else float(v))
    return np.array(out, dtype=np.float64)


def dataset_meta_features(name: str) -> dict[str, Any]:
    """Meta-features of a seed data set, computed from the real data it was trained on.

    Images: the train and validation samples that ``trainables.data.load_images`` gives with the
    seed's ``data_fraction``. Air quality: the raw measured columns (``no2``, ``bg.no2``, ``ws``,
    ``wd``, ``air_temp``; the target first: ``bg.no2`` for ``aq-bgno2-hourly``) of the rows the
    seed used (the first ``data_fraction`` of the hourly, or daily-mean, table), before any gap
    interpolation.

    Args:
        name: a key of :data:`SEED_DATASETS`.

    Returns:
        The meta-features (:data:`IMAGE_FEATURES` plus ``modality``, or :data:`TIMESERIES_FEATURES`).

    Raises:
        UnknownDatasetError: (a KeyError) for an unknown name; the message lists the known ones.
    """
    if name not in SEED_DATASETS:
        raise UnknownDatasetError(f"unknown seed data set {name!r}; known: {sorted(SEED_DATASETS)}")
    spec = SEED_DATASETS[name]
    if spec["task"] == "image-classification":
        from trainables.data import load_images

        data = load_images(spec["dataset"], data_fraction=spec["data_fraction"])
        labels = np.concatenate([data.y_train.numpy(), data.y_val.numpy()])
        shape = (len(labels), *tuple(data.x_train.shape[1:]))
        return image_meta_features(np.broadcast_to(np.float32(0), shape), labels, modality="grayscale")
    from trainables.data import AQ_RAW_COLUMNS, aq_daily_means, load_air_quality_raw

    raw = load_air_quality_raw()
    interval = 3600.0
    if spec["variant"] == "daily":
        raw, interval = aq_daily_means(raw), _DAY_S
    raw = raw.iloc[: int(round(len(raw) * spec["data_fraction"]))]
    target = "bg.no2" if spec["variant"] == "background" else "no2"
    columns = [target, *(c for c in AQ_RAW_COLUMNS if c != target)]
    return timeseries_meta_features(raw[columns].to_numpy(dtype=np.float64), sampling_interval_s=interval, target=0)
