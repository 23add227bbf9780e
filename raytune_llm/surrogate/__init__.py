"""Models of the history over the unit cube, and acquisitions on them (numpy/scipy, no Ray, no LLM).

* :mod:`.kinds`: what each coordinate is (continuous, integer grid, category), from a space.
* :mod:`.gp`: :class:`MixedGP`, a Gaussian process with a mixed (Matern-5/2 x overlap) kernel.
* :mod:`.kernel`: :func:`kernel_predict`, Nadaraya-Watson regression (the cheap model).
* :mod:`.acquisition`: expected improvement (log and plain) and the lower confidence bound.
* :mod:`.screen`: :class:`SurrogateScreen`, history + pending trials + model + acquisition behind
  one callable, which the swarm's ``screen`` option takes.
* :mod:`.proposers`: model-based (acquisition optima) and near-best proposals, the LLM's competitors.

The names below are imported on first use, so that importing the swarm (which needs only
:mod:`.kinds`) does not import scipy's optimisers.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Kind": "kinds", "category": "kinds", "kinds_from_space": "kinds", "normalize_kinds": "kinds", "snap": "kinds",
    "MixedGP": "gp", "kernel_predict": "kernel", "SurrogateScreen": "screen",
    "expected_improvement": "acquisition", "log_expected_improvement": "acquisition",
    "lower_confidence_bound": "acquisition",
    "model_proposals": "proposers", "perturb_proposals": "proposers", "model_candidates": "proposers",
    "local_steps": "proposers",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return __all__
