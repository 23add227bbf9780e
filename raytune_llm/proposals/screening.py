"""Turn an LLM's proposed configurations into valid, new ones, one item at a time.

Each proposed item is repaired into the space (numbers as text parsed, values clipped and
snapped, categories matched) or rejected with a reason; items equal (by
:meth:`SearchSpace.key`) to a configuration already seen, or to an earlier item of the same
answer, are rejected as duplicates. Nothing the model wrote reaches a trial unvalidated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raytune_llm.errors import ConfigValidationError
from raytune_llm.space import SearchSpace


@dataclass
class Screened:
    """The outcome of screening one answer.

    Attributes:
        accepted: valid new flat configurations, in the model's order.
        repaired: how many accepted items needed repair (clipping, snapping, matching).
        rejected: ``(item, reason)`` for every item dropped.
    """

    accepted: list[dict[str, Any]] = field(default_factory=list)
    repaired: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)


def screen_configs(
    items: Iterable[Any], space: SearchSpace, *, seen: Collection[str] = (), limit: int | None = None
) -> Screened:
    """Validate, repair and de-duplicate proposed configurations.

    Args:
        items: what the model proposed (each should be a flat or nested dict).
        space: the search space.
        seen: keys (:meth:`SearchSpace.key`) of configurations already evaluated or in flight.
        limit: keep at most this many accepted items.

    Returns:
        A :class:`Screened` record.
    """
    out = Screened()
    keys = set(seen)
    for item in items:
        if limit is not None and len(out.accepted) >= limit:
            out.rejected.append((item, f"more than the {limit} configurations asked for"))
            continue
        if not isinstance(item, Mapping):
            out.rejected.append((item, f"not an object: {item!r}"))
            continue
        try:
            flat = space.repair(item, flat=True)
        except ConfigValidationError as exc:
            out.rejected.append((item, "; ".join(exc.problems)))
            continue
        key = space.key(flat)
        if key in keys:
            out.rejected.append((item, "duplicate of a configuration already tried or proposed"))
            continue
        keys.add(key)
        if space.check(item):
            out.repaired += 1
        out.accepted.append(flat)
    return out
