"""The air-quality series for the LSTM trainable: chronological splits, short-gap interpolation, scaling, windows.

Hourly data of one UK roadside site, bundled with ``aqeval`` (nothing is downloaded),
2001-01-01 00:00 to 2003-12-31 23:00 (26,280 rows, no missing timestamps): ``no2`` and
background ``bg.no2`` (µg/m³), wind speed ``ws`` (m/s), wind direction ``wd`` (degrees) and air
temperature ``air_temp`` (°C). :func:`load_air_quality` prepares it:

1. Wind direction becomes ``wd_sin``/``wd_cos`` (so 359° and 1° are close); hour of day and
   day of week are added as sin/cos pairs (derived from the timestamp, never missing).
2. The rows are split chronologically (default 70/15/15) into train, validation and test.
3. Missing values: inside each split separately (so nothing crosses a split boundary), a gap
   of at most ``max_gap`` consecutive missing hours (default 3) in one column is filled by
   linear interpolation between its two neighbours; longer gaps and gaps at the start or
   end of a split stay missing. ``wd_sin``/``wd_cos`` are interpolated, not the angle.
4. Standardisation (scikit-learn's ``StandardScaler``) is fitted on the train split only
   (ignoring missing values) and applied to all splits.
5. Windowing (``AirQualitySplits.windows``): the input is the ``lookback`` hours ending at
   hour t, the target is ``no2`` at hour t + ``horizon``. Windows whose inputs or target
   contain a remaining missing value are dropped. Windows never cross a split boundary.

Variants (``load_air_quality(variant=...)``, names in ``AQ_VARIANTS``):

* ``hourly`` (default): the hourly series above; the target is the roadside ``no2``.
* ``daily``: daily means of the same columns (a day with fewer than 18 valid hours of a column is
  missing for that column; wind direction is averaged as a unit vector); the calendar features
  are day of week only (no hour of day); windows, lookback and horizon count days.
* ``background``: the hourly series with the background site's NO2 (``bg_no2``) as the target.

Loaded lazily on first use and cached per process (``functools.lru_cache``), so a Ray Tune actor
re-used for several trials reads and prepares the series once. Cached arrays are read-only.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raytune_llm._checks import check_number
from raytune_llm._imports import require

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch.utils.data import DataLoader

logger = logging.getLogger(__name__)

AQ_RAW_COLUMNS: tuple[str, ...] = ("no2", "bg.no2", "ws", "wd", "air_temp")
AQ_FEATURES: tuple[str, ...] = (
    "no2", "bg_no2", "ws", "wd_sin", "wd_cos", "air_temp", "hour_sin", "hour_cos", "dow_sin", "dow_cos",
)
AQ_TARGET = "no2"
AQ_TARGET_UNITS = "µg/m³"
SPLITS: tuple[str, ...] = ("train", "val", "test")
AQ_VARIANTS: tuple[str, ...] = ("hourly", "daily", "background")
#: Minimum valid hours for a day's mean in the ``daily`` variant.
AQ_DAILY_MIN_HOURS = 18


def aq_data_path() -> Path:
    """Path of the hourly air-quality CSV bundled with ``aqeval`` (the package is not imported).

    Returns:
        Path to ``aqeval/data/aq_data.csv.gz`` in site-packages.

    Raises:
        MissingExtraError: if ``aqeval`` is not installed.
        FileNotFoundError: if it lacks its bundled data.
    """
    spec = importlib.util.find_spec("aqeval")  # found, not imported: importing aqeval loads plotly and statsmodels
    if spec is None:
        require("aqeval", extra="train", feature="the air-quality data")  # raises MissingExtraError
    for location in spec.submodule_search_locations or []:
        path = Path(location) / "data" / "aq_data.csv.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"aqeval is installed at {list(spec.submodule_search_locations)} but has no data/aq_data.csv.gz; "
        "reinstall aqeval (nothing is downloaded at run time)"
    )


@functools.lru_cache(maxsize=1)
def load_air_quality_raw() -> pd.DataFrame:
    """The raw hourly air-quality table bundled with ``aqeval``, read once per process.

    Returns:
        DataFrame with columns ``date`` (hourly, gap-free) and ``no2``, ``bg.no2``, ``ws``,
        ``wd``, ``air_temp`` (NaN where missing). Treat it as read-only.

    Raises:
        ValueError: if the file does not hold a gap-free hourly series with these columns.
    """
    import pandas as pd

    path = aq_data_path()
    frame = pd.read_csv(path, compression="gzip", parse_dates=["date"], float_precision="round_trip")
    missing = [c for c in ("date", *AQ_RAW_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; found {list(frame.columns)}")
    frame = frame.sort_values("date").reset_index(drop=True)
    steps = frame["date"].diff().dropna()
    if len(steps) and not (steps == pd.Timedelta(hours=1)).all():
        raise ValueError(f"{path} is not a gap-free hourly series")
    logger.debug("loaded %d hourly rows from %s", len(frame), path)
    return frame


def interpolate_short_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate interior runs of at most ``max_gap`` NaNs in a 1-D series.

    Unlike ``pandas.Series.interpolate(limit=...)``, a longer gap is left entirely missing
    (not partly filled), and gaps touching either end are never filled (no extrapolation).

    Args:
        values: 1-D float array; not modified.
        max_gap: longest run of consecutive missing values that is filled; 0 fills nothing.

    Returns:
        A new array with the short interior gaps filled.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    if max_gap <= 0:
        return out
    missing = np.isnan(out)
    if not missing.any():
        return out
    n = len(out)
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    for start, end in zip(starts, ends):
        if start == 0 or end == n or end - start > max_gap:
            continue
        left, right = out[start - 1], out[end]
        steps = np.arange(1, end - start + 1) / (end - start + 1)
        out[start:end] = left + steps * (right - left)
    return out


@dataclass(frozen=True)
class Scaler:
    """Per-feature standardisation fitted on the training split (scikit-learn's ``StandardScaler``).

    Attributes:
        names: feature names, in column order.
        mean: per-feature mean of the training rows (missing values ignored).
        std: per-feature (population) standard deviation of the training rows (1 where it is 0).
    """

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, names: tuple[str, ...]) -> Scaler:
        """Fit on ``values`` (rows x features), ignoring NaNs."""
        preprocessing = require("sklearn.preprocessing", extra="train", feature="the air-quality scaling")
        fitted = preprocessing.StandardScaler().fit(values)
        mean, std = np.array(fitted.mean_, dtype=np.float64), np.array(fitted.scale_, dtype=np.float64)
        mean.flags.writeable = False
        std.flags.writeable = False
        return cls(names, mean, std)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale raw values (rows x features)."""
        return (values - self.mean) / self.std

    def inverse(self, scaled: np.ndarray | float, name: str = AQ_TARGET) -> np.ndarray | float:
        """Scaled values of feature ``name`` back to original units."""
        i = self.names.index(name)
        return scaled * self.std[i] + self.mean[i]


@dataclass(frozen=True)
class AirQualitySplits:
    """Chronological, scaled train/validation/test splits of the air-quality series.

    Attributes:
        features: feature names (columns of the arrays); the target is ``no2``.
        raw: per split, the unscaled features after short-gap interpolation (rows x features).
        scaled: per split, the same scaled with ``scaler`` (NaN where still missing).
        times: per split, the hourly timestamps (``datetime64``).
        scaler: mean/std fitted on the train split.
        max_gap: longest gap (hours) that was interpolated.
        missing_before: per split, missing values per raw column before interpolation.
        missing_after: per split, missing values per feature after interpolation.
        target: the feature predicted (``no2``; ``bg_no2`` for the ``background`` variant).
        variant: one of ``AQ_VARIANTS``; ``daily`` rows are days, the others hours.
    """

    features: tuple[str, ...]
    raw: dict[str, np.ndarray]
    scaled: dict[str, np.ndarray]
    times: dict[str, np.ndarray]
    scaler: Scaler
    max_gap: int
    missing_before: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_after: dict[str, dict[str, int]] = field(default_factory=dict)
    target: str = AQ_TARGET
    variant: str = "hourly"

    @property
    def target_index(self) -> int:
        """Column of the target (``no2``, or ``bg_no2`` for the background variant) in the feature arrays."""
        return self.features.index(self.target)

    @property
    def target_std(self) -> float:
        """Train std of the target in µg/m³: multiply a scaled RMSE by it to get µg/m³."""
        return float(self.scaler.std[self.target_index])

    def sizes(self) -> dict[str, int]:
        """Number of rows (hours; days for the daily variant) per split."""
        return {name: len(self.scaled[name]) for name in SPLITS}

    def windows(self, split: str, lookback: int, horizon: int = 1) -> WindowDataset:
        """Windowed supervised samples of one split.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            lookback: hours of history per sample (>= 1).
            horizon: hours ahead of the last input hour to predict (>= 1).

        Returns:
            A dataset of (lookback x features, scaled NO2 target) pairs without missing values.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        values = self.scaled[split]
        return WindowDataset(values, values[:, self.target_index], lookback, horizon)

    def persistence_rmse(self, split: str, lookback: int, horizon: int = 1) -> float:
        """RMSE (µg/m³) of the naive forecast NO2(t + horizon) = NO2(t) on the same windows."""
        ds = self.windows(split, lookback, horizon)
        last = self.scaled[split][ds.ends, self.target_index]
        err = (ds.targets - last) * self.target_std
        return float(np.sqrt(np.mean(err**2)))


class WindowDataset:
    """Sliding windows over one split, fetched a batch at a time without copying the series.

    A map-style dataset (``__len__``/``__getitem__``) that ``torch.utils.data.DataLoader``
    accepts; ``__getitems__`` returns an already collated batch.

    Each sample is ``(x, y)`` with ``x`` a float32 tensor of shape (lookback, features) and ``y``
    the scaled NO2 value ``horizon`` hours after the last input hour. Use :meth:`loader` to
    iterate in batches (it fetches whole batches by fancy indexing into a strided view).

    Attributes:
        lookback: input length in hours.
        horizon: hours ahead predicted.
        ends: index (within the split) of the last input hour of each valid window.
        targets: scaled targets, one per window.
    """

    def __init__(self, values: np.ndarray, target: np.ndarray, lookback: int, horizon: int = 1) -> None:
        """Build the valid windows.

        Args:
            values: scaled features (rows x features), NaN where missing.
            target: scaled target per row, NaN where missing.
            lookback: hours of history per sample (>= 1).
            horizon: hours ahead to predict (>= 1).
        """
        lookback, horizon = int(lookback), int(horizon)
        if lookback < 1 or horizon < 1:
            raise ValueError(f"lookback and horizon must be >= 1, got lookback={lookback}, horizon={horizon}")
        n = len(values)
        self.lookback, self.horizon = lookback, horizon
        self._values = np.ascontiguousarray(values, dtype=np.float32)
        if n < lookback + horizon:
            self.ends = np.zeros(0, dtype=np.int64)
        else:
            bad_row = np.isnan(self._values).any(axis=1)
            bad_cum = np.concatenate(([0], np.cumsum(bad_row)))
            ends = np.arange(lookback - 1, n - horizon)
            window_bad = bad_cum[ends + 1] - bad_cum[ends + 1 - lookback]
            target_bad = np.isnan(target[ends + horizon])
            self.ends = ends[(window_bad == 0) & ~target_bad]
        self.targets = np.asarray(target[self.ends + horizon], dtype=np.float32)
        # (n - lookback + 1, features, lookback) view; window ending at t starts at t - lookback + 1.
        self._view = np.lib.stride_tricks.sliding_window_view(self._values, lookback, axis=0) if n >= lookback else None

    @property
    def num_features(self) -> int:
        """Number of input features per hour."""
        return self._values.shape[1]

    def __len__(self) -> int:
        return len(self.ends)

    def batch(self, indices: np.ndarray | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (batch, lookback, features) and targets (batch,) for sample indices."""
        torch = require("torch", extra="train", feature="WindowDataset.batch")
        idx = np.asarray(indices, dtype=np.int64)
        starts = self.ends[idx] - self.lookback + 1
        x = np.ascontiguousarray(self._view[starts].transpose(0, 2, 1))
        return torch.from_numpy(x), torch.from_numpy(self.targets[idx].copy())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch([index])
        return x[0], y[0]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch(indices)

    def loader(self, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
        """A DataLoader yielding ``(x, y)`` batches.

        Args:
            batch_size: samples per batch.
            shuffle: shuffle each epoch (with a generator seeded by ``seed``).
            seed: seed of the shuffling generator.

        Returns:
            ``torch.utils.data.DataLoader`` over this dataset (no worker processes).
        """
        torch = require("torch", extra="train", feature="WindowDataset.loader")
        from torch.utils.data import DataLoader

        generator = torch.Generator().manual_seed(int(seed)) if shuffle else None
        return DataLoader(self, batch_size=int(batch_size), shuffle=shuffle,
                          generator=generator, collate_fn=_batch_is_collated, num_workers=0)


def _batch_is_collated(batch: Any) -> Any:
    """``collate_fn`` for datasets whose ``__getitems__`` already returns a collated batch."""
    return batch


def aq_daily_means(raw: pd.DataFrame, min_hours: int = AQ_DAILY_MIN_HOURS) -> pd.DataFrame:
    """Daily means of an hourly air-quality table (the ``daily`` variant's raw table).

    Args:
        raw: hourly table as returned by :func:`load_air_quality_raw`.
        min_hours: a day's mean of a column is NaN when fewer hours than this are valid.

    Returns:
        DataFrame with ``date`` (midnight of each day) and ``AQ_RAW_COLUMNS``; ``wd`` is the
        direction of the mean unit wind vector in degrees [0, 360).
    """
    import pandas as pd

    day = raw["date"].dt.floor("D")
    wd = np.deg2rad(raw["wd"].to_numpy(dtype=np.float64))
    table = pd.DataFrame({"date": day, "no2": raw["no2"], "bg.no2": raw["bg.no2"], "ws": raw["ws"],
                          "wd_s": np.sin(wd), "wd_c": np.cos(wd), "air_temp": raw["air_temp"]})
    groups = table.groupby("date", sort=True)
    means = groups.mean()
    counts = groups.count()
    means = means.where(counts >= int(min_hours))
    out = pd.DataFrame({"date": means.index})
    for column in ("no2", "bg.no2", "ws", "air_temp"):
        out[column] = means[column].to_numpy()
    out["wd"] = np.mod(np.rad2deg(np.arctan2(means["wd_s"].to_numpy(), means["wd_c"].to_numpy())), 360.0)
    return out


def aq_features(variant: str = "hourly") -> tuple[str, ...]:
    """Feature names (array columns) of an air-quality variant; the daily one has no hour of day."""
    if variant not in AQ_VARIANTS:
        raise ValueError(f"variant must be one of {AQ_VARIANTS}, got {variant!r}")
    if variant == "daily":
        return tuple(f for f in AQ_FEATURES if not f.startswith("hour_"))
    return AQ_FEATURES


def aq_target(variant: str = "hourly") -> str:
    """The feature an air-quality variant predicts: ``bg_no2`` for ``background``, else ``no2``."""
    if variant not in AQ_VARIANTS:
        raise ValueError(f"variant must be one of {AQ_VARIANTS}, got {variant!r}")
    return "bg_no2" if variant == "background" else AQ_TARGET


def _aq_feature_frame(raw: pd.DataFrame, names: tuple[str, ...] = AQ_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """Raw table -> (rows x ``names`` float array, timestamps)."""
    wd = np.deg2rad(raw["wd"].to_numpy(dtype=np.float64))
    hour = raw["date"].dt.hour.to_numpy(dtype=np.float64)
    dow = raw["date"].dt.dayofweek.to_numpy(dtype=np.float64)
    columns = {
        "no2": raw["no2"].to_numpy(dtype=np.float64),
        "bg_no2": raw["bg.no2"].to_numpy(dtype=np.float64),
        "ws": raw["ws"].to_numpy(dtype=np.float64),
        "wd_sin": np.sin(wd),
        "wd_cos": np.cos(wd),
        "air_temp": raw["air_temp"].to_numpy(dtype=np.float64),
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "dow_sin": np.sin(2 * np.pi * dow / 7),
        "dow_cos": np.cos(2 * np.pi * dow / 7),
    }
    return np.column_stack([columns[name] for name in names]), raw["date"].to_numpy()


@functools.lru_cache(maxsize=8)
def load_air_quality(
    max_gap: int = 3,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    data_fraction: float = 1.0,
    max_rows: int | None = None,
    variant: str = "hourly",
) -> AirQualitySplits:
    """Chronological, interpolated, scaled splits of the ``aqeval`` air-quality series.

    Cached per process for each argument combination (treat the result as read-only).

    Args:
        max_gap: longest run of missing rows (hours; days for ``daily``) filled by linear
            interpolation (per column, per split).
        split: train/validation/test fractions of the rows, in time order; must sum to 1.
        data_fraction: use only the first ``data_fraction`` of the rows (for tests and smoke runs).
        max_rows: alternatively, use only the first ``max_rows`` rows (applied after ``data_fraction``).
        variant: ``"hourly"`` (default), ``"daily"`` or ``"background"``; see the module docstring.

    Returns:
        The splits, scaler and missing-value counts.

    Raises:
        ValueError: for fractions outside (0, 1], split fractions not summing to 1, too few rows
            or an unknown variant.
    """
    fractions = tuple(float(f) for f in split)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split must be three positive fractions summing to 1, got {split!r}")
    data_fraction = check_number("data_fraction", data_fraction, low=0.0, high=1.0, low_open=True)
    if int(max_gap) < 0:
        raise ValueError(f"max_gap must be >= 0 hours, got {max_gap!r}")
    names, target = aq_features(variant), aq_target(variant)
    raw = load_air_quality_raw()
    if variant == "daily":
        raw = aq_daily_means(raw)
    n = int(round(len(raw) * data_fraction))
    if max_rows is not None:
        n = min(n, int(max_rows))
    if n < 30:
        raise ValueError(f"only {n} rows selected (data_fraction={data_fraction}, max_rows={max_rows}); need >= 30")
    raw = raw.iloc[:n]
    values, times = _aq_feature_frame(raw, names)
    n_train = int(round(n * fractions[0]))
    n_val = int(round(n * fractions[1]))
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}

    split_raw: dict[str, np.ndarray] = {}
    split_times: dict[str, np.ndarray] = {}
    missing_before: dict[str, dict[str, int]] = {}
    missing_after: dict[str, dict[str, int]] = {}
    for name, (lo, hi) in bounds.items():
        block = raw.iloc[lo:hi]
        missing_before[name] = {c: int(block[c].isna().sum()) for c in AQ_RAW_COLUMNS}
        filled = np.column_stack([interpolate_short_gaps(values[lo:hi, j], int(max_gap))
                                  for j in range(values.shape[1])])
        missing_after[name] = {f: int(np.isnan(filled[:, j]).sum()) for j, f in enumerate(names)}
        split_raw[name] = filled
        split_times[name] = times[lo:hi]

    scaler = Scaler.fit(split_raw["train"], names)
    split_scaled = {name: scaler.transform(block).astype(np.float32) for name, block in split_raw.items()}
    for block in (*split_raw.values(), *split_scaled.values(), *split_times.values()):
        block.flags.writeable = False
    logger.info("air quality (%s): %s rows (train/val/test), interpolated gaps <= %d rows", variant,
                {k: hi - lo for k, (lo, hi) in bounds.items()}, int(max_gap))
    return AirQualitySplits(names, split_raw, split_scaled, split_times, scaler, int(max_gap),
                            missing_before, missing_after, target, variant)
