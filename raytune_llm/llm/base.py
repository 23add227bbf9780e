"""The backend protocol, usage records and strict JSON parsing shared by every backend."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from raytune_llm.errors import LLMResponseError

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


@dataclass(frozen=True)
class Usage:
    """What one LLM call cost.

    Attributes:
        prompt_tokens: tokens read.
        completion_tokens: tokens written.
        latency_s: wall time of the call, in seconds.
        model: the model that answered (as the backend names it).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CANCEL = threading.local()


def cancelled() -> bool:
    """Whether the request running on this thread was cancelled: its worker was closed.

    A backend that generates token by token (llama.cpp in-process) checks it between two tokens
    and stops, so that a closed worker leaves no generation holding the model; a backend that
    cannot stop a request mid-way ignores it (the request then ends at its answer or timeout).
    """
    event = getattr(_CANCEL, "event", None)
    return event is not None and event.is_set()


@contextlib.contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Within the block, :func:`cancelled` on this thread is true once ``event`` is set."""
    previous = getattr(_CANCEL, "event", None)
    _CANCEL.event = event
    try:
        yield
    finally:
        _CANCEL.event = previous


@runtime_checkable
class LLMBackend(Protocol):
    """What raytune-llm needs from an LLM: one JSON answer conforming to a schema.

    Implementations must be safe to call from one background thread at a time and must not do
    any work (load a model, open a connection, read a key) before the first call.

    Attributes:
        spec: the string :func:`raytune_llm.llm.get_backend` rebuilds this backend from (never
            holds a secret).
    """

    spec: str

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: Mapping[str, Any],
        *,
        temperature: float = 0.7,
        max_tokens: int = 512,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> tuple[Any, Usage]:
        """Ask for an answer that is JSON conforming to ``schema``.

        Args:
            messages: the chat, system message first.
            schema: JSON schema of the answer.
            temperature: sampling temperature.
            max_tokens: bound on the answer's length.
            seed: sampling seed, where the backend supports one.
            timeout: seconds the call may take; backends stop generating (or abort the request)
                when they can, and the worker enforces it in any case. Likewise a backend that
                can stop between tokens checks :func:`cancelled` (its worker was closed).

        Returns:
            The parsed JSON value, whose shape and types match ``schema`` (value checks such as
            bounds and enums are the caller's: see :func:`structural_schema`), and the usage.

        Raises:
            LLMError: a subclass saying what went wrong and whether a retry may help.
        """
        ...


def extract_json(text: str) -> Any:
    """Parse the first JSON object or array in ``text``.

    Models asked for JSON without a grammar often wrap it in prose or a Markdown fence; the first
    balanced ``{...}`` or ``[...]`` that parses is taken. Nothing else is guessed.

    Raises:
        LLMResponseError: no JSON value could be found.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, ValueError):
        pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(stripped):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(stripped[i:])
                return value
            except json.JSONDecodeError:
                continue
    raise LLMResponseError(f"the answer contains no JSON value: {stripped[:200]!r}", raw=text)


def check_schema(value: Any, schema: Mapping[str, Any], *, raw: str = "") -> Any:
    """Validate ``value`` against ``schema`` (JSON Schema draft 2020-12); return it unchanged.

    Raises:
        LLMResponseError: listing up to five violations.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(
            f"{'/'.join(str(p) for p in e.path) or '<root>'}: {e.message[:160]}" for e in errors[:5]
        )
        raise LLMResponseError(f"the answer does not match the schema ({len(errors)} problems): {details}", raw=raw)
    return value


# value checks, and minItems: fewer proposals than asked for are still worth screening
_VALUE_CHECKS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const", "minItems")


_SCALAR_TYPES = {"number", "integer", "string", "boolean", "null"}


def structural_schema(schema: Any, *, _in_items: bool = False) -> Any:
    """``schema`` without value checks: no bounds, enums or minimum array lengths anywhere, and
    inside array items no scalar types or required keys either.

    Backends reject answers of the wrong overall shape (a retry may help), while the items of a
    batch (``{"configs": [...]}``) are the caller's to repair or reject one at a time
    (:func:`raytune_llm.proposals.screen_configs`), so that one value written as text, out of
    range or missing does not throw away the whole batch.
    """
    if isinstance(schema, Mapping):
        out = {}
        for key, value in schema.items():
            if key in _VALUE_CHECKS:
                continue
            if _in_items and key in ("required", "additionalProperties"):
                continue
            if _in_items and key == "type" and value in _SCALAR_TYPES:
                continue
            out[key] = structural_schema(value, _in_items=_in_items or key == "items")
        return out
    if isinstance(schema, list):
        return [structural_schema(v, _in_items=_in_items) for v in schema]
    return schema


def parse_json_answer(text: str | None, schema: Mapping[str, Any]) -> Any:
    """Extract JSON from a model's text and check its shape against ``schema``.

    Raises:
        LLMResponseError: empty answer, no JSON, or the wrong shape (see :func:`structural_schema`).
    """
    if text is None or not text.strip():
        raise LLMResponseError("the model returned an empty answer", raw=text or "")
    value = extract_json(text)
    check_schema(value, structural_schema(schema), raw=text)
    return value


def schema_instructions(schema: Mapping[str, Any]) -> str:
    """Text asking for JSON matching ``schema``, for backends without structured output."""
    return (
        "Answer with a single JSON value and nothing else (no prose, no Markdown). "
        "It must conform to this JSON schema:\n" + json.dumps(schema, separators=(",", ":"))
    )
