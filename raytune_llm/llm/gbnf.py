"""JSON schema -> GBNF grammar for llama.cpp, with exact integer bounds.

llama-cpp-python's own converter ignores ``minimum``/``maximum``, so a small model constrained by it
still writes ``"layers": 40`` for a parameter in ``[1, 4]``. This converter handles the subset of
JSON Schema that raytune-llm sends to LLMs and bounds what can be bounded in a grammar:

* ``integer`` with ``minimum``/``maximum``: exactly (digit-range decomposition).
* ``number`` with ``minimum``/``maximum``: the sign and the integer part exactly, written in plain
  positional notation (no exponent) with at most :data:`MAX_FRACTION_DIGITS` decimals; the fraction
  can still overshoot the bound slightly (``0.19`` for a maximum of ``0.1``), so answers are always
  validated after parsing as well.
* ``enum`` / ``const``: exactly the JSON literals given.
* ``string`` (with ``maxLength``, default :data:`DEFAULT_MAX_STRING`), ``boolean``, ``null``.
* ``object``: the properties in the order of the schema, every one written (a fixed shape is what a
  small model follows best); ``additionalProperties`` is never generated.
* ``array``: ``items`` with ``minItems``/``maxItems`` (``maxItems`` defaults to 16 so that a
  model cannot loop forever).

Anything else raises :class:`~raytune_llm.errors.LLMConfigError`. Whitespace between tokens is
limited to a few characters so a model cannot spend its token budget on blanks.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from raytune_llm.errors import LLMConfigError

MAX_FRACTION_DIGITS = 10
MAX_INT_DIGITS = 15
DEFAULT_MAX_STRING = 400
DEFAULT_MAX_ITEMS = 16

_DIGIT_ALL = "[0-9]"


def _same_length(lo: str, hi: str) -> list[list[str]]:
    """Digit patterns (one char class per position) matching every string in [lo, hi].

    ``lo`` and ``hi`` are digit strings of the same length with ``lo <= hi``; leading zeros are
    allowed (they appear when recursing on suffixes).
    """
    if lo == hi:
        return [list(lo)]
    if len(lo) == 1:
        return [[f"[{lo}-{hi}]"]]
    if lo[0] == hi[0]:
        return [[lo[0], *rest] for rest in _same_length(lo[1:], hi[1:])]
    n = len(lo) - 1
    zeros, nines = "0" * n, "9" * n
    patterns: list[list[str]] = []
    first = int(lo[0])
    last = int(hi[0])
    if lo[1:] != zeros:
        patterns += [[lo[0], *rest] for rest in _same_length(lo[1:], nines)]
        first += 1
    tail_full = hi[1:] == nines
    middle_last = last if tail_full else last - 1
    if first <= middle_last:
        head = str(first) if first == middle_last else f"[{first}-{middle_last}]"
        patterns.append([head] + [_DIGIT_ALL] * n)
    if not tail_full:
        patterns += [[hi[0], *rest] for rest in _same_length(zeros, hi[1:])]
    return patterns


def nonnegative_range_patterns(lo: int, hi: int) -> list[list[str]]:
    """Patterns matching exactly the decimal writings (no leading zeros) of ``lo..hi``.

    Args:
        lo: smallest value, ``>= 0``.
        hi: largest value, ``>= lo``.

    Returns:
        A list of alternatives, each a list of single-character GBNF/regex classes or literals.
    """
    if lo < 0 or hi < lo:
        raise ValueError(f"need 0 <= lo <= hi, got lo={lo}, hi={hi}")
    patterns: list[list[str]] = []
    for digits in range(len(str(lo)), len(str(hi)) + 1):
        start = max(lo, 10 ** (digits - 1) if digits > 1 else 0)
        stop = min(hi, 10**digits - 1)
        if start <= stop:
            patterns += _same_length(str(start), str(stop))
    return patterns


def _class_to_gbnf(token: str) -> str:
    return token if token.startswith("[") else json.dumps(token)


def _patterns_to_gbnf(patterns: list[list[str]]) -> str:
    alternatives = []
    for pattern in patterns:
        parts: list[str] = []
        # compress runs of [0-9] into a repetition to keep grammars short
        i = 0
        while i < len(pattern):
            j = i
            while j < len(pattern) and pattern[j] == pattern[i]:
                j += 1
            token = _class_to_gbnf(pattern[i])
            parts.append(token if j - i == 1 else f"{token}{{{j - i}}}")
            i = j
        alternatives.append(" ".join(parts))
    return "(" + " | ".join(alternatives) + ")"


def integer_range_gbnf(lo: int, hi: int) -> str:
    """A GBNF expression matching exactly the JSON integers in ``[lo, hi]``."""
    if hi < lo:
        raise LLMConfigError(f"integer range is empty: minimum={lo} > maximum={hi}")
    alternatives = []
    if lo < 0:
        neg_lo, neg_hi = max(1, -min(hi, -1)), -lo
        alternatives.append('"-" ' + _patterns_to_gbnf(nonnegative_range_patterns(neg_lo, neg_hi)))
    if hi >= 0:
        alternatives.append(_patterns_to_gbnf(nonnegative_range_patterns(max(lo, 0), hi)))
    return "(" + " | ".join(alternatives) + ")"


def integer_range_regex(lo: int, hi: int) -> str:
    """The Python-regex twin of :func:`integer_range_gbnf` (used by the tests)."""
    alternatives = []

    def render(patterns: list[list[str]]) -> str:
        return "(?:" + "|".join("".join(re.escape(t) if not t.startswith("[") else t for t in p) for p in patterns) + ")"

    if lo < 0:
        alternatives.append("-" + render(nonnegative_range_patterns(max(1, -min(hi, -1)), -lo)))
    if hi >= 0:
        alternatives.append(render(nonnegative_range_patterns(max(lo, 0), hi)))
    return "^(?:" + "|".join(alternatives) + ")$"


_FRACTION = f'("." [0-9]{{1,{MAX_FRACTION_DIGITS}}})?'
_UNBOUNDED_INT = f'("0" | [1-9] [0-9]{{0,{MAX_INT_DIGITS - 1}}})'


def number_range_gbnf(lo: float | None, hi: float | None) -> str:
    """A GBNF expression for plain decimal numbers whose sign and integer part fit ``[lo, hi]``."""
    lo = None if lo is None or not math.isfinite(lo) else float(lo)
    hi = None if hi is None or not math.isfinite(hi) else float(hi)
    if lo is not None and hi is not None and hi < lo:
        raise LLMConfigError(f"number range is empty: minimum={lo} > maximum={hi}")
    alternatives = []
    # non-negative part: integer part in [floor(max(lo,0)), floor(hi)]
    if hi is None or hi >= 0:
        int_lo = 0 if lo is None or lo <= 0 else math.floor(lo)
        int_part = _UNBOUNDED_INT if hi is None else _patterns_to_gbnf(
            nonnegative_range_patterns(int_lo, math.floor(hi))
        )
        alternatives.append(f"{int_part} {_FRACTION}")
    # negative part: "-" then integer part of |x| in [ceil-ish(max(-hi,0)), floor(-lo)]
    if lo is None or lo < 0:
        abs_lo = 0 if hi is None or hi >= 0 else math.floor(-hi)
        int_part = _UNBOUNDED_INT if lo is None else _patterns_to_gbnf(
            nonnegative_range_patterns(abs_lo, math.floor(-lo))
        )
        alternatives.append(f'"-" {int_part} {_FRACTION}')
    return "(" + " | ".join(alternatives) + ")"


def _string_gbnf(max_length: int) -> str:
    char = r'( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )'
    return f'"\\"" {char}{{0,{max_length}}} "\\""'


class _Builder:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self._by_body: dict[str, str] = {}

    def rule(self, hint: str, body: str) -> str:
        """Register ``body`` as a rule (re-using an identical one) and return its name."""
        if body in self._by_body:
            return self._by_body[body]
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-").lower() or "r"
        name, k = base, 1
        while name in self.rules or name in ("root", "ws"):
            k += 1
            name = f"{base}-{k}"
        self.rules[name] = body
        self._by_body[body] = name
        return name

    def visit(self, schema: Mapping[str, Any], hint: str) -> str:
        if not isinstance(schema, Mapping):
            raise LLMConfigError(f"schema at {hint!r} must be an object, got {schema!r}")
        if "const" in schema:
            return self.rule(hint, json.dumps(json.dumps(schema["const"])))
        if "enum" in schema:
            values = list(schema["enum"])
            if not values:
                raise LLMConfigError(f"schema at {hint!r} has an empty enum")
            return self.rule(hint, " | ".join(json.dumps(json.dumps(v)) for v in values))
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.rule(hint, " | ".join(self.visit({**schema, "type": t}, f"{hint}-{t}") for t in kind))
        if kind == "integer":
            lo = schema.get("minimum", -(10**MAX_INT_DIGITS - 1))
            hi = schema.get("maximum", 10**MAX_INT_DIGITS - 1)
            return self.rule(hint, integer_range_gbnf(math.ceil(lo), math.floor(hi)))
        if kind == "number":
            return self.rule(hint, number_range_gbnf(schema.get("minimum"), schema.get("maximum")))
        if kind == "string":
            return self.rule(hint, _string_gbnf(int(schema.get("maxLength", DEFAULT_MAX_STRING))))
        if kind == "boolean":
            return self.rule(hint, '"true" | "false"')
        if kind == "null":
            return self.rule(hint, '"null"')
        if kind == "array":
            item = self.visit(schema.get("items", {}), f"{hint}-item")
            lo = int(schema.get("minItems", 0))
            hi = int(schema.get("maxItems", max(lo, DEFAULT_MAX_ITEMS)))
            if hi < lo:
                raise LLMConfigError(f"schema at {hint!r}: minItems={lo} > maxItems={hi}")
            if hi == 0:
                return self.rule(hint, '"[" ws "]"')
            more = f'( ws "," ws {item} ){{{max(lo - 1, 0)},{hi - 1}}}'
            body = f'"[" ws {item} {more} ws "]"'
            if lo == 0:
                body = f'"[" ws ( {item} {more} )? ws "]"'
            return self.rule(hint, body)
        if kind == "object":
            properties = schema.get("properties", {})
            if not properties:
                raise LLMConfigError(f"schema at {hint!r}: objects need 'properties' to be constrained")
            parts = []
            for i, (key, sub) in enumerate(properties.items()):
                value = self.visit(sub, f"{hint}-{key}")
                sep = "" if i == 0 else '"," ws '
                parts.append(f"{sep}{json.dumps(json.dumps(key))} ws \":\" ws {value}")
            return self.rule(hint, '"{" ws ' + " ws ".join(parts) + ' ws "}"')
        raise LLMConfigError(
            f"schema at {hint!r} uses unsupported type {kind!r}; supported: object, array, integer, "
            "number, string, boolean, null, enum, const"
        )


def schema_to_gbnf(schema: Mapping[str, Any]) -> str:
    """Convert a JSON schema (the subset described in the module docstring) to a GBNF grammar.

    Args:
        schema: the JSON schema of the whole answer.

    Returns:
        The grammar text, with ``root`` as its start rule.

    Example:
        >>> g = schema_to_gbnf({"type": "object", "properties": {"n": {"type": "integer",
        ...     "minimum": 1, "maximum": 4}}})
        >>> "root ::=" in g
        True
    """
    builder = _Builder()
    top = builder.visit(schema, "value")
    lines = [f"root ::= {top}", "ws ::= [ \\t\\n]{0,3}"]
    lines += [f"{name} ::= {body}" for name, body in builder.rules.items()]
    return "\n".join(lines) + "\n"
