"""Nadaraya-Watson kernel regression: the cheap model of the history (no fit, no hyperparameters).

It screens LLM answers in :mod:`raytune_llm.searchers.llm_pso` and is the baseline that
:mod:`raytune_llm.surrogate.gp` is measured against (``benchmarks/surrogate_fit.py``).
"""

from __future__ import annotations

import math

import numpy as np


def kernel_predict(x_hist: np.ndarray, y_hist: np.ndarray, x_new: np.ndarray, *, bandwidth: float = 0.15) -> np.ndarray:
    """Nadaraya-Watson (Gaussian kernel) prediction of the cost at ``x_new`` from the history.

    A cheap, assumption-light surrogate used to screen LLM proposals before a trial is spent on
    them: the candidates whose neighbourhood in the history looks best are kept.

    Args:
        x_hist: evaluated unit-cube points, shape ``(n, dim)``.
        y_hist: their costs, shape ``(n,)``.
        x_new: points to predict, shape ``(m, dim)`` (or one point).
        bandwidth: kernel width per coordinate (scaled by ``sqrt(dim)``).

    Returns:
        The predicted costs, shape ``(m,)``.

    Example:
        >>> x = np.array([[0.0], [1.0]]); y = np.array([0.0, 1.0])
        >>> kernel_predict(x, y, np.array([[0.1], [0.9]])).round(3).tolist()
        [0.0, 1.0]
    """
    x_hist = np.asarray(x_hist, dtype=float)
    y_hist = np.asarray(y_hist, dtype=float)
    x_new = np.atleast_2d(np.asarray(x_new, dtype=float))
    h = bandwidth * math.sqrt(x_hist.shape[1])
    d2 = ((x_new[:, None, :] - x_hist[None, :, :]) ** 2).sum(axis=2)
    w = np.exp(-d2 / (2 * h * h)) + 1e-300
    return (w * y_hist[None, :]).sum(axis=1) / w.sum(axis=1)
