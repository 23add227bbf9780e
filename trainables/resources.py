"""Resource requests (CPUs, fractional GPUs) for the trainables.

Without this wrapper every trainable asks Tune for the default of function trainables:
1 CPU and 0 GPUs.
"""

from __future__ import annotations

from typing import Any, Callable


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

    from raytune_llm._checks import check_resource

    if not callable(trainable):
        raise TypeError(f"trainable must be a function trainable (callable), got {type(trainable).__name__}")
    resources = {"cpu": check_resource("cpus", cpus, unit="CPU", allow_zero=False),
                 "gpu": check_resource("gpus", gpus, unit="GPU")}
    return tune.with_resources(trainable, resources)
