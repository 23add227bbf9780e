"""Acquisition functions on a model's mean and standard deviation (minimisation)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfcx, log_ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``log E[max(best - f, 0)]`` under ``f ~ N(mean, std^2)``, stable far below the incumbent
    (Ament et al. 2023, "Unexpected improvements to expected improvement"). Higher is better.

    Example:
        >>> v = log_expected_improvement(np.array([0.0, 5.0, 50.0]), np.ones(3), best=0.0)
        >>> bool(v[0] > v[1] > v[2]) and bool(np.isfinite(v).all())
        True
    """
    mean, std = np.asarray(mean, dtype=float), np.maximum(np.asarray(std, dtype=float), 1e-12)
    z = (best - mean) / std
    # h(z) = z Phi(z) + phi(z); for z < 0, h = phi(z) (1 + z Phi(z) / phi(z)) and
    # Phi(z) / phi(z) = sqrt(pi / 2) erfcx(-z / sqrt(2)), which stays finite where Phi underflows.
    log_phi = -0.5 * z * z - _LOG_SQRT_2PI
    zn = np.minimum(z, 0.0)
    ratio = math.sqrt(math.pi / 2) * erfcx(-zn / math.sqrt(2))
    low = log_phi + np.log(np.maximum(1 + zn * ratio, 1e-300))
    zp = np.maximum(z, 0.0)
    high = np.log(zp * np.exp(log_ndtr(zp)) + np.exp(-0.5 * zp * zp - _LOG_SQRT_2PI))
    return np.log(std) + np.where(z < 0, low, high)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``E[max(best - f, 0)]`` (higher is better); see :func:`log_expected_improvement`."""
    return np.exp(log_expected_improvement(mean, std, best))


def lower_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """``mean - beta * std`` (lower is better)."""
    return np.asarray(mean, dtype=float) - beta * np.asarray(std, dtype=float)
