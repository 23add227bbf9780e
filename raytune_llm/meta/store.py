"""The meta-dataset: data sets with their meta-features, and past experiments on them, in SQLite.

One file holds three tables:

* ``meta``: ``schema_version`` (checked on open) and the creation date.
* ``datasets``: ``name`` (primary key), ``task`` (``"image-classification"`` or
  ``"timeseries-regression"``), ``features`` (JSON object of meta-features; NaN stored as null).
* ``experiments``: ``id``, ``dataset`` (a ``datasets.name``), ``model``, ``config`` (JSON object),
  ``metric``, ``mode`` (``"min"``/``"max"``), ``value`` (finite), ``train_time_s`` (or null),
  ``source``, ``date`` (ISO 8601).

Writes are atomic: :meth:`MetaStore.add_experiments` validates every record before it writes
(against the record schema of :mod:`raytune_llm.meta.records`), and writes them in one
transaction, so a bad record leaves the store unchanged. The packaged seed meta-dataset is opened
read-only by :meth:`MetaStore.seed`. Reading Ray Tune results (:mod:`raytune_llm.meta.ingest`)
and CSV/Parquet tables (:mod:`raytune_llm.meta.tables`) lives in modules of their own; the
store's ``ingest_tune``, ``ingest_table`` and ``export_parquet`` call them.

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

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_llm.meta.errors import MetaDataError, MetaStoreSchemaError, ReadOnlyStoreError, UnknownDatasetError
from raytune_llm.meta.features import TASKS, numeric_features
from raytune_llm.meta.records import RECORD_KEYS, REQUIRED_KEYS, now, to_json, validate_records

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXPERIMENT_COLUMNS", "RECORD_KEYS", "REQUIRED_KEYS", "SCHEMA_VERSION", "MetaStore", "default_store_path",
           "seed_store_path"]

SCHEMA_VERSION = 1
ENV_VAR = "RAYTUNE_LLM_META"
EXPERIMENT_COLUMNS: tuple[str, ...] = ("id", "dataset", "task", "model", "config", "metric", "mode", "value",
                                       "train_time_s", "source", "date")

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


def _features_from_json(text: str) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in json.loads(text).items()}


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
                + f"INSERT OR IGNORE INTO meta VALUES ('created', '{now()}');COMMIT;")
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
        return name, task, to_json(dict(features), f"data set {name!r}: features")

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
            rows = validate_records(records, known=known, modes=modes)
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
        """Add every trial of a Ray Tune experiment directory as an experiment (the records of
        :func:`raytune_llm.meta.ingest.tune_records`, whose docstring describes the arguments;
        ``dataset`` must already be added).

        Returns:
            The number of experiments added (all or none).
        """
        from raytune_llm.meta.ingest import tune_records

        self._writable("ingest a Tune experiment")
        return self.add_experiments(tune_records(path, dataset=dataset, model=model, metric=metric, mode=mode,
                                                 source=source, scope=scope))

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
        from raytune_llm.meta.tables import read_table, records_from_frame

        self._writable("ingest a table")
        path = Path(path).expanduser()
        frame, carried = read_table(path)
        tasks = dict(self._db().execute("SELECT name, task FROM datasets").fetchall())
        for name, (task, _) in carried.items():
            tasks.setdefault(name, task)
        return self._insert(carried, records_from_frame(frame, source or f"table:{path.name}", tasks))

    def export_parquet(self, path: str | Path) -> Path:
        """Write every experiment (columns of :meth:`experiments`, ``config`` as JSON text) to Parquet.

        The data sets' tasks and meta-features travel in the file's schema metadata
        (``raytune_llm.datasets``), so :meth:`ingest_table` can rebuild a store from the file alone.

        Returns:
            The path written (via a temporary file that replaces it).
        """
        from raytune_llm.meta.tables import write_parquet

        return write_parquet(self.experiments(), self.datasets(), path)
