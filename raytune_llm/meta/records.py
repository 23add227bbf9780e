"""Experiment records of the meta-dataset: their JSON schema, validation and normalisation.

A record is a dict with ``dataset``, ``model``, ``config``, ``metric``, ``mode`` and ``value``,
optionally ``train_time_s``, ``source`` and ``date``. :data:`RECORD_SCHEMA` declares what each
field holds (a JSON Schema, draft 2020-12, with two keywords of its own: ``finite`` for numbers
that must not be NaN or infinite, and ``jsonable`` for a configuration that must survive
``json.dumps``); each field's ``description`` is the rule that an error message states.
:func:`validate_records` checks records against it (and against the store: a known data set, one
mode per data set and metric) and turns them into the rows the store writes.

Example:
    >>> rows = validate_records([{"dataset": "toy", "model": "lstm", "config": {"lr": 0.01},
    ...     "metric": "val_rmse", "mode": "min", "value": 3.2, "date": "2026-01-02T03:04:05Z"}],
    ...     known={"toy": "timeseries-regression"}, modes={})
    >>> rows[0][:7], rows[0][8]
    (('toy', 'lstm', '{"lr": 0.01}', 'val_rmse', 'min', 3.2, None), '2026-01-02T03:04:05+00:00')
    >>> validate_records([{"dataset": "toy", "model": "lstm", "config": {}, "metric": "val_rmse",
    ...     "mode": "min", "value": float("nan")}], known={"toy": "timeseries-regression"}, modes={})
    Traceback (most recent call last):
    ...
    raytune_llm.meta.errors.MetaDataError: record 0: field 'value' must be a finite number ... got nan
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from raytune_llm.meta.errors import MetaDataError

RECORD_KEYS: tuple[str, ...] = ("dataset", "model", "config", "metric", "mode", "value", "train_time_s", "source",
                                "date")
REQUIRED_KEYS: tuple[str, ...] = ("dataset", "model", "config", "metric", "mode", "value")
DEFAULT_SOURCE = "user"
_DATE_RULE = "must be an ISO 8601 string such as '2026-11-25T12:00:00+00:00' (or None: now)"
_NAME = {"type": "string", "pattern": r"\S", "description": "must be a non-empty string"}

#: The experiment record, declared once; ``description`` is the rule each error message states.
RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "raytune-llm meta-dataset experiment record",
    "type": "object",
    "required": list(REQUIRED_KEYS),
    "additionalProperties": False,
    "properties": {
        "dataset": _NAME,
        "model": _NAME,
        "config": {"type": "object", "jsonable": True, "description": "must be a dict"},
        "metric": _NAME,
        "mode": {"enum": ["min", "max"], "description": "must be 'min' or 'max'"},
        "value": {"type": "number", "finite": True,
                  "description": "must be a finite number (leave failed or diverged trials out)"},
        "train_time_s": {"type": ["number", "null"], "finite": True, "minimum": 0,
                         "description": "must be None or a finite number >= 0 (seconds)"},
        "source": _NAME,
        "date": {"format": "iso-8601", "description": _DATE_RULE},
    },
}


def plain(value: Any) -> Any:
    """NumPy scalars -> Python scalars; NaN and infinities -> None (JSON has neither); containers recursively."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value: Any, what: str) -> str:
    """``value`` as canonical JSON text (sorted keys, :func:`plain` values).

    Raises:
        MetaDataError: naming ``what`` when the value holds something JSON cannot (an object, a set).
    """
    try:
        return json.dumps(plain(value), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MetaDataError(f"{what} must be JSON-able (numbers, strings, bools, None, lists, dicts): {exc}") from None


def is_jsonable(value: Any) -> bool:
    """Whether :func:`to_json` accepts ``value``."""
    try:
        json.dumps(plain(value), allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _is_datetime(value: Any) -> bool:
    return hasattr(value, "isoformat") and not isinstance(value, str)  # datetime, date, pandas.Timestamp


def _iso_date(value: Any) -> str:
    """A validated ``date`` field as an ISO 8601 string (None: now)."""
    if value is None:
        return now()
    if _is_datetime(value):
        return value.isoformat()
    return _dt.datetime.fromisoformat(value.strip()).isoformat()


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    """The validator of :data:`RECORD_SCHEMA` (built on first use: importing jsonschema is not free)."""
    from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

    def finite(validator: Any, enabled: bool, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if enabled and isinstance(instance, numbers.Real) and not isinstance(instance, bool) \
                and not math.isfinite(float(instance)):
            yield ValidationError(f"{instance!r} is not finite")

    def jsonable(validator: Any, enabled: bool, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if enabled and isinstance(instance, Mapping):
            try:
                json.dumps(plain(instance), allow_nan=False)
            except (TypeError, ValueError) as exc:
                yield ValidationError(f"must be JSON-able (numbers, strings, bools, None, lists, dicts): {exc}")

    formats = FormatChecker(formats=())

    @formats.checks("iso-8601", raises=ValueError)
    def iso_8601(value: Any) -> bool:
        if value is None or _is_datetime(value):
            return True
        if not isinstance(value, str):
            return False
        _dt.datetime.fromisoformat(value.strip())
        return True

    # A record may be any Mapping (not only a dict), as the store has always accepted; a number is a real one.
    types = Draft202012Validator.TYPE_CHECKER.redefine_many({
        "object": lambda _, instance: isinstance(instance, Mapping),
        "number": lambda _, instance: isinstance(instance, numbers.Real) and not isinstance(instance, bool),
    })
    cls = validators.extend(Draft202012Validator, {"finite": finite, "jsonable": jsonable}, type_checker=types)
    Draft202012Validator.check_schema(RECORD_SCHEMA)
    return cls(RECORD_SCHEMA, format_checker=formats)


def _message(record: Any, errors: list[Any], where: str) -> str:
    """One message for a record's schema errors: the record, the field, the rule, the bad value and the fix."""
    fields = RECORD_SCHEMA["properties"]
    root = [e for e in errors if not e.path]
    if any(e.validator == "type" for e in root):
        return (f"{where}: must be a dict with keys {list(REQUIRED_KEYS)}, got {type(record).__name__}: "
                f"{record!r}")
    if any(e.validator == "required" for e in root):
        missing = [k for k in REQUIRED_KEYS if k not in record]
        return (f"{where}: missing field(s) {missing}; a record needs {list(REQUIRED_KEYS)} and may have "
                f"{[k for k in RECORD_KEYS if k not in REQUIRED_KEYS]}")
    if root:  # additionalProperties
        extra = sorted(str(k) for k in record if k not in fields)
        return f"{where}: unknown field(s) {extra}; allowed: {list(RECORD_KEYS)}"
    first = min(errors, key=lambda e: (RECORD_KEYS.index(e.path[0]), e.validator != "type"))
    name = first.path[0]
    if first.validator == "jsonable":
        return f"{where}: field {name!r} {first.message}"
    value = record[name]
    shown = f"{type(value).__name__}: {value!r}" if first.validator == "type" else repr(value)
    return f"{where}: field {name!r} {fields[name]['description']}, got {shown}"


def validate_records(records: Iterable[Any], *, known: Mapping[str, str],
                     modes: dict[tuple[str, str], str]) -> list[tuple[Any, ...]]:
    """Check experiment records and turn them into rows of the ``experiments`` table.

    Args:
        records: experiment records (see :data:`RECORD_SCHEMA`).
        known: the data sets in the store (name -> task); a record's ``dataset`` must be one.
        modes: ``(dataset, metric) -> mode`` already used; updated with the records' own, so that
            one batch cannot contradict itself either.

    Returns:
        ``(dataset, model, config JSON, metric, mode, value, train_time_s, source, date)`` per record.

    Raises:
        MetaDataError: for the first bad record, naming its index, the field, the rule, the value
            and the fix.
    """
    validator = _validator()
    rows = []
    for i, record in enumerate(records):
        where = f"record {i}"
        errors = list(validator.iter_errors(record))
        if errors:
            raise MetaDataError(_message(record, errors, where))
        dataset, metric, mode = record["dataset"], record["metric"], record["mode"]
        if dataset not in known:
            raise MetaDataError(f"{where}: field 'dataset' = {dataset!r} is not in the store (known: "
                                f"{sorted(known)}); add it first with add_dataset(name, task, features)")
        seen = modes.setdefault((dataset, metric), mode)
        if seen != mode:
            raise MetaDataError(f"{where}: field 'mode' = {mode!r} contradicts mode {seen!r} already used for "
                                f"metric {metric!r} on data set {dataset!r}")
        seconds = record.get("train_time_s")
        rows.append((dataset, record["model"], to_json(dict(record["config"]), f"{where}: field 'config'"), metric,
                     mode, float(record["value"]), None if seconds is None else float(seconds),
                     record.get("source", DEFAULT_SOURCE), _iso_date(record.get("date"))))
    return rows
