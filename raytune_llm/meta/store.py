"""The meta-dataset: data sets with their meta-features, and past experiments on them, in SQLite.

One file holds three tables:

* ``meta``: ``schema_version`` (checked on open) and the creation date.
* ``datasets``: ``name`` (primary key), ``task`` (``"image-classification"`` or
  ``"timeseries-regression"``), ``features`` (JSON object of meta-features; NaN stored as null).
* ``experiments``: ``id``, ``dataset`` (a ``datasets.name``), ``model``, ``config`` (JSON object),
  ``metric``, ``mode`` (``"min"``/``"max"``), ``value`` (finite), ``train_time_s`` (or null),
  ``source``, ``date`` (ISO 8601).

Writes are atomic: :meth:`MetaStore.add_experiments` validates every record before it writes, and
writes them in one transaction, so a bad record leaves the store unchanged. The packaged seed
meta-dataset is opened read-only by :meth:`MetaStore.seed`.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "meta.sqlite")
    >>> with MetaStore(path) as store:
    ...     store.add_dataset("toy", "timeseries-regression", {"length": 100, "n_variables": 1,
    ...         "sampling_interval_s": 3600.0, "missing_rate": 0.0, "autocorrelation": 0.5,
    ...         "seasonality_strength": 0.1})
    ...     store.add_experiments([{"dataset": "toy", "model": "lstm", "config": {"lr": 0.01},
    ...         "metric": "val_rmse", "mode": "min", "value": 3.2, "source": "doc"}])
    ...     store.experiments()[["dataset", "model", "value"]].values.tolist()
    1
    [['toy', 'lstm', 3.2]]
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import numbers
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_llm.meta.errors import MetaDataError, MetaStoreSchemaError, ReadOnlyStoreError, UnknownDatasetError
from raytune_llm.meta.features import TASKS, numeric_features

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ENV_VAR = "RAYTUNE_LLM_META"
RECORD_KEYS: tuple[str, ...] = ("dataset", "model", "config", "metric", "mode", "value", "train_time_s", "source",
                                "date")
REQUIRED_KEYS: tuple[str, ...] = ("dataset", "model", "config", "metric", "mode", "value")
EXPERIMENT_COLUMNS: tuple[str, ...] = ("id", "dataset", "task", "model", "config", "metric", "mode", "value",
                                       "train_time_s", "source", "date")
_PARQUET_DATASETS_KEY = b"raytune_llm.datasets"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    features TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL REFERENCES datasets(name),
    model TEXT NOT NULL,
    config TEXT NOT NULL,
    metric TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('min', 'max')),
    value REAL NOT NULL,
    train_time_s REAL,
    source TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS experiments_dataset ON experiments(dataset);
"""


def default_store_path() -> Path:
    """``$RAYTUNE_LLM_META`` if set, else ``~/.cache/raytune-llm/meta.sqlite``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "raytune-llm" / "meta.sqlite"


def seed_store_path() -> Path:
    """Path of the packaged seed meta-dataset (``raytune_llm/meta/data/seed.sqlite``).

    Raises:
        FileNotFoundError: when the package was installed without its data; the message says how
            to rebuild it.
    """
    path = Path(__file__).resolve().parent / "data" / "seed.sqlite"
    if not path.is_file():
        raise FileNotFoundError(
            f"the seed meta-dataset {path} is missing: reinstall raytune-llm, or rebuild it from a source checkout "
            "with `python -m benchmarks.meta_seed` (see docs/metallmix.md)")
    return path


def _pandas() -> Any:
    from raytune_llm._imports import require

    return require("pandas", extra="meta", feature="the MetaLLMiX meta-dataset (MetaStore)")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    """NumPy scalars -> Python scalars; NaN -> None (JSON has no NaN); containers recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(_plain(value), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MetaDataError(f"{what} must be JSON-able (numbers, strings, bools, None, lists, dicts): {exc}") from None


def _features_from_json(text: str) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in json.loads(text).items()}


def _iso_date(value: Any, where: str) -> str:
    if value is None:
        return _now()
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if hasattr(value, "isoformat") and not isinstance(value, str):  # pandas.Timestamp, date
        return value.isoformat()
    if not isinstance(value, str):
        raise MetaDataError(f"{where}: 'date' must be an ISO 8601 string such as '2026-11-25T12:00:00+00:00', "
                            f"got {value!r}")
    try:
        return _dt.datetime.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise MetaDataError(f"{where}: 'date' must be an ISO 8601 string such as '2026-11-25T12:00:00+00:00', "
                            f"got {value!r}") from None


class MetaStore:
    """An SQLite meta-dataset of data sets and experiments.

    Args:
        path: the database file; created (with its directory) when missing. ``None``:
            ``$RAYTUNE_LLM_META`` or ``~/.cache/raytune-llm/meta.sqlite``.
        read_only: open without write access (every write raises :class:`ReadOnlyStoreError`);
            the file must exist.
        immutable: with ``read_only``, also promise SQLite that nobody changes the file while it
            is open (``immutable=1``: no locking, so it works on read-only media); used for the
            packaged seed.

    Raises:
        MetaStoreSchemaError: when the file is a store of another schema version, or an SQLite
            file that is not a raytune-llm meta-dataset.

    Example:
        >>> with MetaStore.seed() as seed:  # the packaged seed meta-dataset
        ...     sorted(seed.datasets(task="timeseries-regression")["name"])
        ['aq-bgno2-hourly', 'aq-no2-daily', 'aq-no2-hourly']
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False, immutable: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.read_only = bool(read_only or immutable)
        if self.read_only:
            if not self.path.is_file():
                raise FileNotFoundError(f"cannot open {self.path} read-only: no such file")
            uri = self.path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
            self._conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._check_or_create()
        except BaseException:
            self._conn.close()
            raise

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def seed(cls) -> MetaStore:
        """The packaged seed meta-dataset, read-only (see docs/metallmix.md for how it was made)."""
        return cls(seed_store_path(), read_only=True, immutable=True)

    def _check_or_create(self) -> None:
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise MetaStoreSchemaError(
                    f"{self.path} is an SQLite file with tables {sorted(tables)} but not a raytune-llm meta-dataset "
                    "(no 'meta' table); pass another path")
            if self.read_only:
                raise MetaStoreSchemaError(f"{self.path} is empty, not a raytune-llm meta-dataset")
            # One script, one transaction; IF NOT EXISTS / OR IGNORE let two processes create it at once.
            self._conn.executescript(
                "BEGIN IMMEDIATE;" + _SCHEMA
                + f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');"
                + f"INSERT OR IGNORE INTO meta VALUES ('created', '{_now()}');COMMIT;")
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = row[0] if row else None
        if version != str(SCHEMA_VERSION):
            raise MetaStoreSchemaError(
                f"{self.path} has meta-dataset schema version {version!r}, but this raytune-llm reads version "
                f"{SCHEMA_VERSION}; upgrade raytune-llm, or export the old store with the version that wrote it "
                "(MetaStore.export_parquet) and ingest the file into a new store (MetaStore.ingest_table)")

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> MetaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetaStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise MetaDataError(f"{self!r} is closed; open a new MetaStore")
        return self._conn

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(
                f"cannot {what}: {self.path} is opened read-only (the packaged seed meta-dataset is never modified). "
                "Write to your own store, e.g. MetaStore() or MetaStore('my-meta.sqlite'); "
                "similar_experiments and MetaLearner.fit accept either store")

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: Any, *rest: object) -> None:
            self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")

    def _transaction(self) -> MetaStore._Tx:
        return MetaStore._Tx(self._db())

    # ---------------------------------------------------------------- data sets
    def _dataset_row(self, name: Any, task: Any, features: Any) -> tuple[str, str, str]:
        if not isinstance(name, str) or not name.strip():
            raise MetaDataError(f"a data set name must be a non-empty string, got {name!r}")
        if task not in TASKS:
            raise MetaDataError(f"data set {name!r}: task must be one of {sorted(TASKS)}, got {task!r}")
        if not isinstance(features, Mapping):
            raise MetaDataError(f"data set {name!r}: features must be a dict of meta-features, got "
                                f"{type(features).__name__}")
        try:
            numeric_features(dict(features), task)
        except MetaDataError as exc:
            raise MetaDataError(f"data set {name!r}: {exc}") from None
        return name, task, _json(dict(features), f"data set {name!r}: features")

    def add_dataset(self, name: str, task: str, features: dict[str, Any], *, replace: bool = False) -> None:
        """Add a data set with its meta-features.

        Args:
            name: unique name.
            task: ``"image-classification"`` or ``"timeseries-regression"``.
            features: the task's meta-features (from :func:`image_meta_features` or
                :func:`timeseries_meta_features`; every numeric one is required, extra keys kept).
            replace: overwrite the features (and task) of an existing data set of this name.

        Raises:
            MetaDataError: for a bad name, task or features, or an existing name without ``replace``.
            ReadOnlyStoreError: on a read-only store.
        """
        self._writable(f"add data set {name!r}")
        row = self._dataset_row(name, task, features)
        with self._transaction() as conn:
            exists = conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise MetaDataError(f"data set {name!r} is already in {self.path}; pass replace=True to overwrite "
                                    "its meta-features")
            conn.execute("INSERT INTO datasets VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                         "task = excluded.task, features = excluded.features", row)

    def datasets(self, task: str | None = None) -> pd.DataFrame:
        """Data sets as a DataFrame with columns ``name``, ``task``, ``features`` (dict), sorted by name."""
        pd = _pandas()
        if task is not None and task not in TASKS:
            raise MetaDataError(f"task must be one of {sorted(TASKS)} or None, got {task!r}")
        sql, args = "SELECT name, task, features FROM datasets", ()
        if task is not None:
            sql, args = sql + " WHERE task = ?", (task,)
        rows = self._db().execute(sql + " ORDER BY name", args).fetchall()
        return pd.DataFrame([(n, t, _features_from_json(f)) for n, t, f in rows], columns=["name", "task", "features"])

    def dataset_names(self) -> list[str]:
        """Names of every data set, sorted."""
        return [r[0] for r in self._db().execute("SELECT name FROM datasets ORDER BY name")]

    def dataset_task(self, name: str) -> str:
        """The task of a data set (:class:`UnknownDatasetError` when unknown)."""
        row = self._db().execute("SELECT task FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._unknown(name)
        return row[0]

    def _unknown(self, name: Any) -> UnknownDatasetError:
        return UnknownDatasetError(f"data set {name!r} is not in {self.path}; known data sets: {self.dataset_names()}. "
                                   "Add it with add_dataset(name, task, features)")

    def dataset_features(self, name: str) -> dict[str, Any]:
        """The meta-features of a data set (NaN where stored as null).

        Raises:
            UnknownDatasetError: (a KeyError) naming the known data sets.
        """
        row = self._db().execute("SELECT features FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._unknown(name)
        return _features_from_json(row[0])

    # ---------------------------------------------------------------- experiments
    def _validate(self, records: Iterable[Mapping[str, Any]], known: Mapping[str, str],
                  modes: dict[tuple[str, str], str]) -> list[tuple[Any, ...]]:
        rows = []
        for i, record in enumerate(records):
            where = f"record {i}"
            if not isinstance(record, Mapping):
                raise MetaDataError(f"{where}: must be a dict with keys {list(REQUIRED_KEYS)}, got "
                                    f"{type(record).__name__}: {record!r}")
            missing = [k for k in REQUIRED_KEYS if k not in record]
            if missing:
                raise MetaDataError(f"{where}: missing field(s) {missing}; a record needs {list(REQUIRED_KEYS)} "
                                    f"and may have {[k for k in RECORD_KEYS if k not in REQUIRED_KEYS]}")
            extra = sorted(set(record) - set(RECORD_KEYS))
            if extra:
                raise MetaDataError(f"{where}: unknown field(s) {extra}; allowed: {list(RECORD_KEYS)}")
            dataset = record["dataset"]
            if dataset not in known:
                raise MetaDataError(f"{where}: field 'dataset' = {dataset!r} is not in the store (known: "
                                    f"{sorted(known)}); add it first with add_dataset(name, task, features)")
            for key in ("model", "metric"):
                if not isinstance(record[key], str) or not record[key].strip():
                    raise MetaDataError(f"{where}: field {key!r} must be a non-empty string, got {record[key]!r}")
            mode = record["mode"]
            if mode not in ("min", "max"):
                raise MetaDataError(f"{where}: field 'mode' must be 'min' or 'max', got {mode!r}")
            seen = modes.setdefault((dataset, record["metric"]), mode)
            if seen != mode:
                raise MetaDataError(f"{where}: field 'mode' = {mode!r} contradicts mode {seen!r} already used for "
                                    f"metric {record['metric']!r} on data set {dataset!r}")
            config = record["config"]
            if not isinstance(config, Mapping):
                raise MetaDataError(f"{where}: field 'config' must be a dict, got {type(config).__name__}: {config!r}")
            config_json = _json(dict(config), f"{where}: field 'config'")
            value = record["value"]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
                raise MetaDataError(f"{where}: field 'value' must be a finite number, got {value!r}; leave failed "
                                    "or diverged trials out")
            seconds = record.get("train_time_s")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, numbers.Real)
                                        or not math.isfinite(float(seconds)) or float(seconds) < 0):
                raise MetaDataError(f"{where}: field 'train_time_s' must be None or a finite number >= 0, got "
                                    f"{seconds!r}")
            source = record.get("source", "user")
            if not isinstance(source, str) or not source.strip():
                raise MetaDataError(f"{where}: field 'source' must be a non-empty string, got {source!r}")
            date = _iso_date(record.get("date"), where)
            rows.append((dataset, record["model"], config_json, record["metric"], mode, float(value),
                         None if seconds is None else float(seconds), source, date))
        return rows

    def add_experiments(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add experiments, all or none.

        Args:
            records: dicts with ``dataset`` (already added), ``model``, ``config`` (JSON-able
                dict), ``metric``, ``mode`` (``"min"``/``"max"``, consistent per data set and
                metric), ``value`` (finite), optionally ``train_time_s`` (seconds or None),
                ``source`` (default ``"user"``) and ``date`` (ISO 8601; default now, UTC).

        Returns:
            The number of experiments added.

        Raises:
            MetaDataError: naming the first bad record's index and field; nothing is written.
            ReadOnlyStoreError: on a read-only store.
        """
        self._writable("add experiments")
        return self._insert({}, records)

    def _insert(self, datasets: Mapping[str, tuple[str, Mapping[str, Any]]],
                records: Iterable[Mapping[str, Any]]) -> int:
        """Add missing ``datasets`` (name -> (task, features)) and ``records`` in one transaction."""
        records = list(records)
        new = [self._dataset_row(name, task, features) for name, (task, features) in datasets.items()]
        with self._transaction() as conn:
            known = dict(conn.execute("SELECT name, task FROM datasets").fetchall())
            new = [row for row in new if row[0] not in known]
            known.update({row[0]: row[1] for row in new})
            modes = dict(((d, m), mode) for d, m, mode in
                         conn.execute("SELECT DISTINCT dataset, metric, mode FROM experiments"))
            rows = self._validate(records, known, modes)
            conn.executemany("INSERT INTO datasets VALUES (?, ?, ?)", new)
            conn.executemany("INSERT INTO experiments (dataset, model, config, metric, mode, value, train_time_s, "
                             "source, date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def experiments(self, dataset: str | None = None, task: str | None = None, model: str | None = None) -> pd.DataFrame:
        """Experiments as a DataFrame, in insertion order.

        Columns: ``id``, ``dataset``, ``task``, ``model``, ``config`` (dict), ``metric``, ``mode``,
        ``value``, ``train_time_s`` (NaN when unknown), ``source``, ``date`` (ISO string).

        Args:
            dataset: only this data set (:class:`UnknownDatasetError` when unknown).
            task: only data sets of this task.
            model: only this model.
        """
        pd = _pandas()
        if dataset is not None:
            self.dataset_task(dataset)
        if task is not None and task not in TASKS:
            raise MetaDataError(f"task must be one of {sorted(TASKS)} or None, got {task!r}")
        where, args = [], []
        for column, value in (("e.dataset", dataset), ("d.task", task), ("e.model", model)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = ("SELECT e.id, e.dataset, d.task, e.model, e.config, e.metric, e.mode, e.value, e.train_time_s, "
               "e.source, e.date FROM experiments e JOIN datasets d ON d.name = e.dataset")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._db().execute(sql + " ORDER BY e.id", args).fetchall()
        frame = pd.DataFrame(rows, columns=list(EXPERIMENT_COLUMNS))
        frame["config"] = [json.loads(c) for c in frame["config"]]
        frame["value"] = frame["value"].astype(float)
        frame["train_time_s"] = pd.to_numeric(frame["train_time_s"], errors="coerce").astype(float)
        return frame

    def __len__(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM experiments").fetchone()[0])

    # ---------------------------------------------------------------- ingestion
    def ingest_tune(self, path: str | Path, *, dataset: str, model: str, metric: str | None = None,
                    mode: str | None = None, source: str | None = None, scope: str = "last") -> int:
        """Add every trial of a Ray Tune experiment directory as an experiment.

        Reads the directory with ``ray.tune.ExperimentAnalysis`` (works for ``tune.run`` and
        ``Tuner.fit`` results). Each trial's ``config`` becomes the experiment's configuration
        (non-JSON values such as classes are stored as their ``str()``), ``time_total_s`` its
        ``train_time_s`` and the time of its last result its ``date``. Trials that never
        reported the metric (errored early) are skipped with a warning.

        Args:
            path: the experiment directory (e.g. ``~/ray_results/my_run``).
            dataset: the data set the trials trained on (already added).
            model: the model name to record.
            metric: the metric; default: the one the run was configured with, when the directory
                records it (``Tuner``), else an error asks for it.
            mode: ``"min"``/``"max"``; default: as recorded by the run.
            source: default ``"ray-tune:<path>"``.
            scope: ``"last"`` (the trial's last reported value, as Tune's ``scope="last"``) or
                ``"all"`` (its best value over all reports).

        Returns:
            The number of experiments added (all or none).
        """
        self._writable("ingest a Tune experiment")
        from ray.tune import ExperimentAnalysis

        directory = Path(path).expanduser()
        if not directory.is_dir():
            raise MetaDataError(f"ingest_tune: {directory} is not a directory; pass a Tune experiment directory "
                                "such as ~/ray_results/<name>")
        if scope not in ("last", "all"):
            raise MetaDataError(f"ingest_tune: scope must be 'last' or 'all', got {scope!r}")
        metric, mode = self._tune_metric(directory, metric, mode)
        analysis = ExperimentAnalysis(str(directory))
        frames = analysis.trial_dataframes if scope == "all" else {}
        records, skipped = [], 0
        for trial in analysis.trials:
            frame = frames.get(trial.trial_id)  # every reported result of the trial, keyed by trial id
            last = trial.last_result or {}
            value = last.get(metric)
            if scope == "all" and frame is not None and metric in frame:
                series = frame[metric].dropna()
                value = (series.max() if mode == "max" else series.min()) if len(series) else None
            if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(float(value)):
                skipped += 1
                continue
            config = {k: (v if _is_jsonable(v) else str(v)) for k, v in (trial.config or {}).items()}
            stamp = last.get("timestamp")
            date = _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).isoformat() if stamp else None
            seconds = last.get("time_total_s")
            records.append({"dataset": dataset, "model": model, "config": config, "metric": metric, "mode": mode,
                            "value": float(value), "train_time_s": float(seconds) if seconds is not None else None,
                            "source": source or f"ray-tune:{directory}", "date": date})
        if skipped:
            logger.warning("ingest_tune: skipped %d of %d trials of %s without a finite %r", skipped,
                           len(analysis.trials), directory, metric)
        if not records:
            raise MetaDataError(f"ingest_tune: no trial of {directory} reported a finite {metric!r} "
                                f"({len(analysis.trials)} trials); check the metric name")
        return self.add_experiments(records)

    @staticmethod
    def _tune_metric(directory: Path, metric: str | None, mode: str | None) -> tuple[str, str]:
        if metric is None or mode is None:
            recorded_metric, recorded_mode = _recorded_metric(directory)
            metric = metric or recorded_metric
            mode = mode or recorded_mode
        if metric is None or mode is None:
            raise MetaDataError(
                f"ingest_tune: {directory} does not record the metric and mode of the run; pass them, "
                "e.g. ingest_tune(path, dataset=..., model=..., metric='val_loss', mode='min')")
        if mode not in ("min", "max"):
            raise MetaDataError(f"ingest_tune: mode must be 'min' or 'max', got {mode!r}")
        return metric, mode

    def ingest_table(self, path: str | Path, *, source: str | None = None) -> int:
        """Add the experiments of a CSV or Parquet table (e.g. one written by :meth:`export_parquet`).

        Columns: ``dataset``, ``model``, ``metric``, ``mode``, ``value``, optionally
        ``train_time_s``, ``source``, ``date``; the configuration either as one ``config`` column
        of JSON objects or as ``config/<name>`` columns (an empty cell leaves the key out, for
        tables mixing models). ``id`` is ignored; ``task``, when present, must match the data
        set's task. Data sets must already be in the store, except that a Parquet file written by
        :meth:`export_parquet` carries its data sets' meta-features, and those missing here are
        added in the same transaction.

        Args:
            path: ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
            source: used for rows without a ``source`` value; default ``"table:<file name>"``.

        Returns:
            The number of experiments added (all or none; errors name the row index and field).
        """
        self._writable("ingest a table")
        pd = _pandas()
        path = Path(path).expanduser()
        name = path.name.lower()
        carried: dict[str, tuple[str, dict[str, Any]]] = {}
        if name.endswith((".parquet", ".pq")):
            from raytune_llm._imports import require

            pq = require("pyarrow.parquet", extra="meta", feature="MetaStore.ingest_table for Parquet")
            table = pq.read_table(path)
            metadata = table.schema.metadata or {}
            if _PARQUET_DATASETS_KEY in metadata:
                carried = {d["name"]: (d["task"], d["features"])
                           for d in json.loads(metadata[_PARQUET_DATASETS_KEY].decode())}
            frame = table.to_pandas()
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, keep_default_na=True)
        else:
            raise MetaDataError(f"ingest_table: {path} must end in .csv, .csv.gz, .parquet or .pq")
        records = _records_from_frame(frame, source or f"table:{path.name}", self._tasks(carried))
        return self._insert(carried, records)

    def _tasks(self, carried: Mapping[str, tuple[str, Any]]) -> dict[str, str]:
        tasks = dict(self._db().execute("SELECT name, task FROM datasets").fetchall())
        for name, (task, _) in carried.items():
            tasks.setdefault(name, task)
        return tasks

    def export_parquet(self, path: str | Path) -> Path:
        """Write every experiment (columns of :meth:`experiments`, ``config`` as JSON text) to Parquet.

        The data sets' tasks and meta-features travel in the file's schema metadata
        (``raytune_llm.datasets``), so :meth:`ingest_table` can rebuild a store from the file alone.

        Returns:
            The path written (via a temporary file and ``os.replace``).
        """
        from raytune_llm._imports import require

        pa = require("pyarrow", extra="meta", feature="MetaStore.export_parquet")
        pq = require("pyarrow.parquet", extra="meta", feature="MetaStore.export_parquet")
        frame = self.experiments()
        frame["config"] = [json.dumps(c, sort_keys=True) for c in frame["config"]]
        datasets = [{"name": r.name, "task": r.task, "features": _plain(r.features)}
                    for r in self.datasets().itertuples()]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               _PARQUET_DATASETS_KEY: json.dumps(datasets).encode()})
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return path


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(_plain(value), allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False


def _recorded_metric(directory: Path) -> tuple[str | None, str | None]:
    """Metric and mode a Tune run recorded: ``Tuner``'s ``tuner.pkl`` (TuneConfig), else ``(None, None)``."""
    tuner_file = directory / "tuner.pkl"
    if tuner_file.is_file():
        try:
            import ray.cloudpickle as pickle

            with tuner_file.open("rb") as fh:
                state = pickle.load(fh)  # written by this user's own Tuner run
            config = state.get("_tune_config") if isinstance(state, dict) else getattr(state, "_tune_config", None)
            if config is not None:
                return getattr(config, "metric", None), getattr(config, "mode", None)
        except Exception:  # noqa: BLE001 - unreadable: ask the caller for the metric instead
            logger.debug("could not read %s", tuner_file, exc_info=True)
    return None, None


def _cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records_from_frame(frame: pd.DataFrame, default_source: str, tasks: Mapping[str, str]) -> list[dict[str, Any]]:
    """Table rows -> experiment records (errors name the row index and the column)."""
    config_columns = [c for c in frame.columns if isinstance(c, str) and c.startswith("config/")]
    if "config" not in frame.columns and not config_columns:
        raise MetaDataError("ingest_table: the table has neither a 'config' column (JSON objects) nor 'config/<name>' "
                            f"columns; columns found: {list(frame.columns)}")
    missing = [c for c in ("dataset", "model", "metric", "mode", "value") if c not in frame.columns]
    if missing:
        raise MetaDataError(f"ingest_table: missing column(s) {missing}; columns found: {list(frame.columns)}")
    allowed = {*RECORD_KEYS, "id", "task", *config_columns}
    extra = sorted(str(c) for c in frame.columns if c not in allowed)
    if extra:
        raise MetaDataError(f"ingest_table: unknown column(s) {extra}; allowed: {sorted(RECORD_KEYS)}, 'id', 'task' "
                            "and 'config/<name>'")
    records = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        text = _cell(row.get("config"))
        if text is None:
            config: dict[str, Any] = {}
        elif isinstance(text, dict):
            config = dict(text)
        else:
            try:
                config = json.loads(text)
            except (TypeError, ValueError):
                config = None
            if not isinstance(config, dict):
                raise MetaDataError(f"ingest_table: row {i}: column 'config' must hold a JSON object such as "
                                    f'\'{{"lr": 0.01}}\', got {text!r}')
        for column in config_columns:
            value = _cell(row[column])
            if value is not None:
                config[column[len("config/"):]] = value
        if "task" in row and _cell(row["task"]) is not None and row["dataset"] in tasks \
                and row["task"] != tasks[row["dataset"]]:
            raise MetaDataError(f"ingest_table: row {i}: column 'task' = {row['task']!r} but data set "
                                f"{row['dataset']!r} is {tasks[row['dataset']]!r}")
        record = {k: _cell(row[k]) for k in ("dataset", "model", "metric", "mode", "value")}
        record["config"] = config
        record["train_time_s"] = _cell(row.get("train_time_s"))
        record["source"] = _cell(row.get("source")) or default_source
        record["date"] = _cell(row.get("date"))
        records.append(record)
    return records
