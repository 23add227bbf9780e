"""Lazy imports of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
import importlib.util
from importlib.machinery import ModuleSpec
from types import ModuleType

from raytune_llm.errors import MissingExtraError


def _missing(module: str, extra: str, feature: str, hint: str, cause: object) -> MissingExtraError:
    return MissingExtraError(
        f"{feature} needs the Python module {module!r}, which is not installed ({cause}). "
        f"Install it with: pip install 'raytune-llm[{extra}]'" + (f". {hint}" if hint else "")
    )


def require(module: str, *, extra: str, feature: str, hint: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` saying which extra provides it.

    Args:
        module: dotted module name, e.g. ``"llama_cpp"``.
        extra: the raytune-llm extra that installs it, e.g. ``"local"``.
        feature: what the user tried to use, for the message.
        hint: more guidance appended to the message (what the install needs, what to use instead).

    Returns:
        The imported module.

    Example:
        >>> require("json", extra="core", feature="JSON").__name__
        'json'
        >>> require("no_such_module", extra="bench", feature="the demo")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        raytune_llm.errors.MissingExtraError: the demo needs the Python module 'no_such_module', ... pip install 'raytune-llm[bench]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(module, extra, feature, hint, exc) from exc


def require_spec(module: str, *, extra: str, feature: str, hint: str = "") -> ModuleSpec:
    """Find ``module`` without importing it, or raise :class:`MissingExtraError` as :func:`require` does.

    For checks before the first use, where importing would already be work (``llama_cpp`` loads
    its shared library), and for data packages whose ``__init__`` imports more than their files need.

    Returns:
        The module's spec (``submodule_search_locations`` locates a package's files).
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise _missing(module, extra, feature, hint, exc) from exc
    if spec is None:
        raise _missing(module, extra, feature, hint, f"no module named {module!r}")
    return spec
