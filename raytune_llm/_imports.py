"""Lazy imports of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from raytune_llm.errors import MissingExtraError


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` saying which extra provides it.

    Args:
        module: dotted module name, e.g. ``"llama_cpp"``.
        extra: the raytune-llm extra that installs it, e.g. ``"local"``.
        feature: what the user tried to use, for the message.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the Python module {module!r}, which is not installed "
            f"({exc}). Install it with: pip install 'raytune-llm[{extra}]'"
        ) from exc
