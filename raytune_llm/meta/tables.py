"""Experiments as tables: read CSV/Parquet files into experiment records, write a store to Parquet.

A Parquet file written by :func:`write_parquet` carries the data sets' tasks and meta-features in
its schema metadata (key ``raytune_llm.datasets``), so that :func:`read_table` can rebuild a store
from the file alone. :class:`~raytune_llm.meta.store.MetaStore` calls these from
``ingest_table`` and ``export_parquet``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_llm._imports import require
from raytune_llm._io import atomic_path
from raytune_llm.meta.errors import MetaDataError
from raytune_llm.meta.records import RECORD_KEYS, plain

if TYPE_CHECKING:
    import pandas as pd

PARQUET_DATASETS_KEY = b"raytune_llm.datasets"
CSV_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
#: Data sets carried by a table: name -> (task, meta-features).
Carried = dict[str, tuple[str, dict[str, Any]]]


def read_table(path: str | Path) -> tuple[pd.DataFrame, Carried]:
    """A CSV or Parquet table of experiments, with the data sets a Parquet export carries.

    Args:
        path: ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.

    Returns:
        ``(frame, carried)``: the rows, and name -> (task, meta-features) of the data sets in the
        file's metadata (empty for CSV and for Parquet files written by other tools).

    Raises:
        MetaDataError: for another file type.
    """
    pd = require("pandas", extra="meta", feature="MetaStore.ingest_table")
    path = Path(path).expanduser()
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        pq = require("pyarrow.parquet", extra="meta", feature="MetaStore.ingest_table for Parquet")
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        carried: Carried = {}
        if PARQUET_DATASETS_KEY in metadata:
            carried = {d["name"]: (d["task"], d["features"])
                       for d in json.loads(metadata[PARQUET_DATASETS_KEY].decode())}
        return table.to_pandas(), carried
    if name.endswith(CSV_SUFFIXES):
        return pd.read_csv(path, keep_default_na=True), {}
    raise MetaDataError(f"ingest_table: {path} must end in .csv, .csv.gz, .parquet or .pq")


def write_parquet(experiments: pd.DataFrame, datasets: pd.DataFrame, path: str | Path) -> Path:
    """Write experiments (``config`` as JSON text) and their data sets (in the metadata) to Parquet.

    Args:
        experiments: :meth:`MetaStore.experiments`'s frame.
        datasets: :meth:`MetaStore.datasets`'s frame.
        path: the file; written through a temporary file that replaces it.

    Returns:
        The path written.
    """
    pa = require("pyarrow", extra="meta", feature="MetaStore.export_parquet")
    pq = require("pyarrow.parquet", extra="meta", feature="MetaStore.export_parquet")
    frame = experiments.copy()
    frame["config"] = [json.dumps(c, sort_keys=True) for c in frame["config"]]
    carried = [{"name": r.name, "task": r.task, "features": plain(r.features)} for r in datasets.itertuples()]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           PARQUET_DATASETS_KEY: json.dumps(carried).encode()})
    out = Path(path).expanduser()
    with atomic_path(out, suffix=".parquet.tmp") as tmp:
        pq.write_table(table, tmp)
    return out


def records_from_frame(frame: pd.DataFrame, default_source: str, tasks: Mapping[str, str]) -> list[dict[str, Any]]:
    """Table rows -> experiment records (errors name the row index and the column).

    Columns: ``dataset``, ``model``, ``metric``, ``mode``, ``value``, optionally
    ``train_time_s``, ``source``, ``date``; the configuration either as one ``config`` column of
    JSON objects or as ``config/<name>`` columns (an empty cell leaves the key out, for tables
    mixing models). ``id`` is ignored; ``task``, when present, must match ``tasks`` (data set ->
    task) for the data sets it knows.

    Args:
        frame: the table.
        default_source: the ``source`` of rows without one.
        tasks: the tasks of the data sets known so far.

    Raises:
        MetaDataError: for missing or unknown columns, a ``config`` cell that is not a JSON
            object, or a ``task`` that contradicts the data set's.
    """
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
        text = plain(row.get("config"))
        if text is None:
            config: dict[str, Any] | None = {}
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
            value = plain(row[column])
            if value is not None:
                config[column[len("config/"):]] = value
        if "task" in row and plain(row["task"]) is not None and row["dataset"] in tasks \
                and row["task"] != tasks[row["dataset"]]:
            raise MetaDataError(f"ingest_table: row {i}: column 'task' = {row['task']!r} but data set "
                                f"{row['dataset']!r} is {tasks[row['dataset']]!r}")
        record = {k: plain(row[k]) for k in ("dataset", "model", "metric", "mode", "value")}
        record["config"] = config
        record["train_time_s"] = plain(row.get("train_time_s"))
        record["source"] = plain(row.get("source")) or default_source
        record["date"] = plain(row.get("date"))
        records.append(record)
    return records
