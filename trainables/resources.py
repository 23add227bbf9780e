"""Resource requests (CPUs, fractional GPUs) for the trainables.

Without this wrapper every trainable asks Tune for the default of function trainables:
1 CPU and 0 GPUs.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable


def _check_amount(name: str, value: Any, *, allow_zero: bool) -> float:
    example = "gpus=0.25 (four trials share one GPU), gpus=1 or gpus=0" if name == "gpus" else "cpus=1 or cpus=0.5"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}; use e.g. {example}")
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {need}, got {value:g}; use e.g. {example}")
    if value > 1 and not value.is_integer():
        device = "GPU" if name == "gpus" else "CPU"
        raise ValueError(
            f"{name}={value:g}: Ray schedules fractions only below 1 ({name}=0.5: two trials share one {device}) "
            f"or whole numbers ({name}={math.floor(value)} or {math.ceil(value)}); use one of those"
        )
    return value


def with_gpus(trainable: Callable[..., Any], gpus: float = 0.25, cpus: float = 1) -> Any:
    """``tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})`` with checked amounts.

    Fractional GPUs below 1 let several trials share one GPU (0.25: four per GPU); Ray sets
    ``CUDA_VISIBLE_DEVICES`` for each trial and ``ray.get_gpu_ids()`` names the GPU. The
    Lightning trainers use ``accelerator="auto"``, so they use the GPU when one is visible
    and run on CPU otherwise. Each trial still needs its own GPU memory.

    Args:
        trainable: a function trainable such as ``train_lstm``.
        gpus: GPUs per trial: 0, a fraction below 1, or a whole number.
        cpus: CPUs per trial (> 0): a fraction below 1 or a whole number.

    Returns:
        The wrapped trainable, to pass to ``tune.Tuner`` or ``tune.run``.

    Raises:
        ValueError: for non-numbers, negatives, zero CPUs, or fractions above 1 (e.g. 1.5).
        TypeError: if ``trainable`` is not callable.
    """
    from ray import tune

    if not callable(trainable):
        raise TypeError(f"trainable must be a function trainable (callable), got {type(trainable).__name__}")
    resources = {"cpu": _check_amount("cpus", cpus, allow_zero=False),
                 "gpu": _check_amount("gpus", gpus, allow_zero=True)}
    return tune.with_resources(trainable, resources)
