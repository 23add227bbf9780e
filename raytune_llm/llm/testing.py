"""A scripted LLM backend for unit tests: exact, instant, no model needed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from raytune_llm.errors import LLMError
from raytune_llm.llm.base import Message, Usage, check_schema, structural_schema


class ScriptedBackend:
    """Answers from a script, in order; then repeats the last entry (or ``default``).

    Each entry is a JSON value to return, an :class:`LLMError` instance to raise, or a callable
    ``(messages, schema) -> value`` (which may raise). Answers are shape-checked against the
    schema like a real backend's.

    Attributes:
        calls: the ``(messages, schema, kwargs)`` of every call, for assertions.
    """

    spec = "scripted"

    def __init__(self, script: Iterable[Any], *, delay_s: float = 0.0, default: Any = None) -> None:
        self.script = list(script)
        self.delay_s = delay_s
        self.default = default
        self.calls: list[tuple[list[dict[str, Any]], Mapping[str, Any], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def complete_json(self, messages: Sequence[Message], schema: Mapping[str, Any], *, temperature: float = 0.7,
                      max_tokens: int = 512, seed: int | None = None, timeout: float | None = None) -> tuple[Any, Usage]:
        with self._lock:
            self.calls.append(([dict(m) for m in messages], schema,
                               {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}))
            if self.script:
                entry = self.script.pop(0) if len(self.script) > 1 or self.default is not None else self.script[0]
            else:
                entry = self.default
        if self.delay_s:
            time.sleep(self.delay_s)
        if isinstance(entry, LLMError):
            raise entry
        if callable(entry):
            entry = entry(messages, schema)
        check_schema(entry, structural_schema(schema))
        return entry, Usage(prompt_tokens=sum(len(str(m.get("content", ""))) // 4 for m in messages),
                            completion_tokens=len(str(entry)) // 4, latency_s=self.delay_s, model="scripted")
