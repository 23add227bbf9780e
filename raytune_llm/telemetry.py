"""Searcher internals as TensorBoard scalars and a JSONL event log.

Written to ``<dir>/raytune_llm/`` where ``<dir>`` is the ``log_dir`` given to the searcher or,
by default, Tune's experiment directory (learnt at Tune's first searcher checkpoint; events are
kept in memory until then). Watch it with ``tensorboard --logdir <experiment dir>``, next to
Tune's own trial logs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("raytune_llm.telemetry")

SUBDIR = "raytune_llm"
_MAX_BUFFER = 10_000


class Telemetry:
    """Buffered scalars and events; cheap when no directory is known yet.

    Args:
        log_dir: where to write; ``None`` until :meth:`attach` is called.
        enabled: set ``False`` to record nothing.
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.dir: Path | None = None
        self._buffer: list[tuple[str, Any]] = []
        self._writer: Any = None
        self._events: Any = None
        if log_dir is not None:
            self.attach(log_dir)

    def attach(self, directory: str | os.PathLike[str]) -> None:
        """Start writing under ``directory/raytune_llm`` (no-op when already attached)."""
        if not self.enabled or self.dir is not None:
            return
        self.dir = Path(directory).expanduser() / SUBDIR
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._events = open(self.dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            logger.warning("cannot write searcher telemetry to %s: %s", self.dir, exc)
            self.enabled = False
            return
        try:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.dir), flush_secs=10)
        except ImportError:
            logger.info("tensorboardX not installed; searcher telemetry goes to events.jsonl only")
        buffered, self._buffer = self._buffer, []
        for kind, payload in buffered:
            self._write(kind, payload)
        self.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Record ``value`` of ``tag`` at ``step`` (completed trials)."""
        if self.enabled:
            self._emit("scalar", (tag, float(value), int(step)))

    def event(self, kind: str, **fields: Any) -> None:
        """Record one JSON event (``{"time", "event", **fields}``)."""
        if self.enabled:
            self._emit("event", {"time": time.time(), "event": kind, **fields})

    def _emit(self, kind: str, payload: Any) -> None:
        if self.dir is None:
            if len(self._buffer) < _MAX_BUFFER:
                self._buffer.append((kind, payload))
            return
        self._write(kind, payload)

    def _write(self, kind: str, payload: Any) -> None:
        if kind == "scalar":
            if self._writer is not None:
                tag, value, step = payload
                self._writer.add_scalar(tag, value, step)
        elif self._events is not None:
            self._events.write(json.dumps(payload, default=str) + "\n")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        if self._events is not None:
            self._events.flush()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._events is not None:
            self._events.close()
            self._events = None

    def __getstate__(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "dir": self.dir, "_buffer": [], "_writer": None, "_events": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        directory, self.dir = self.dir, None
        if directory is not None:
            self.attach(directory.parent)
