"""The trainables' configurations and Tune search spaces, without torch.

``lstm_config``/``cnn_config`` merge a trial's configuration into the defaults and validate it;
``lstm_space``/``cnn_space`` build the Tune param spaces. Nothing here imports torch or
Lightning, so a search space (``raytune-llm recommend``, a driver that only schedules trials) costs
no deep-learning import; ``trainables.lstm``/``trainables.cnn`` train with these configurations.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

from trainables.airquality import AQ_VARIANTS
from trainables.images import IMAGE_DATASETS

#: Every config key ``train_lstm`` accepts, with its default.
LSTM_DEFAULTS: dict[str, Any] = {
    "num_layers": 1,
    "hidden_size": 32,
    "lr": 1e-3,
    "dropout": 0.0,
    "lookback": 24,
    "batch_size": 64,
    "weight_decay": 0.0,
    "max_epochs": 3,
    "horizon": 1,
    "max_gap": 3,
    "data_fraction": 1.0,
    "seed": 0,
    "variant": "hourly",
}

#: Every config key ``train_cnn`` accepts, with its default.
CNN_DEFAULTS: dict[str, Any] = {
    "dataset": "textures",
    "num_conv_layers": 2,
    "filters": 16,
    "kernel_size": 3,
    "lr": 1e-3,
    "dropout": 0.2,
    "batch_size": 64,
    "weight_decay": 0.0,
    "max_epochs": 3,
    "patch_size": 32,
    "data_fraction": 1.0,
    "seed": 0,
}


def merge_config(defaults: Mapping[str, Any], config: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """Defaults overridden by ``config``; unknown keys are an error naming the known ones.

    Args:
        defaults: every accepted key with its default.
        config: the trial's configuration (may be None).
        where: name of the trainable, for messages.

    Returns:
        The merged configuration.

    Raises:
        ValueError: for keys that the trainable does not know.
    """
    if config is not None and not isinstance(config, Mapping):
        raise ValueError(f"{where}: config must be a dict of hyperparameters, got {type(config).__name__}: {config!r:.200}")
    config = dict(config or {})
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise ValueError(f"{where}: unknown config keys {unknown}; known keys: {sorted(defaults)}")
    return {**defaults, **config}


def constants(space: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a Tune param space that are not Tune domains or grid searches (what every
    trial gets as is)."""
    from ray.tune.search.sample import Domain

    return {k: v for k, v in space.items()
            if not isinstance(v, Domain) and not (isinstance(v, Mapping) and "grid_search" in v)}


def check_int(cfg: Mapping[str, Any], key: str, low: int, high: int | None = None) -> int:
    """``cfg[key]`` as an int in [low, high]; floats with integral values are accepted."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise ValueError(f"{key} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{key} must be {bound}, got {value}")
    return value


def check_float(cfg: Mapping[str, Any], key: str, low: float, high: float, low_open: bool = False,
                high_open: bool = False) -> float:
    """``cfg[key]`` as a finite float in the given interval."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or value > high or (low_open and value == low) or (high_open and value == high):
        raise ValueError(f"{key} must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, "
                         f"got {value}")
    return value


def check_common(cfg: dict[str, Any]) -> None:
    """Validate, in place, the optimiser and data keys every trainable shares."""
    cfg["lr"] = check_float(cfg, "lr", 0.0, 10.0, low_open=True)
    cfg["dropout"] = check_float(cfg, "dropout", 0.0, 1.0, high_open=True)
    cfg["weight_decay"] = check_float(cfg, "weight_decay", 0.0, 1.0)
    cfg["data_fraction"] = check_float(cfg, "data_fraction", 0.0, 1.0, low_open=True)


def lstm_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``config`` merged into :data:`LSTM_DEFAULTS` and validated.

    Args:
        config: a (partial) trial configuration.

    Returns:
        The complete configuration with normalised types.

    Raises:
        ValueError: for unknown keys or values out of range.
    """
    cfg = merge_config(LSTM_DEFAULTS, config, "train_lstm")
    for key, low, high in (("num_layers", 1, 8), ("hidden_size", 1, 4096), ("lookback", 1, 24 * 14),
                           ("batch_size", 1, 65536), ("max_epochs", 1, None), ("horizon", 1, 24 * 7),
                           ("max_gap", 0, 48), ("seed", 0, 2**32 - 1)):
        cfg[key] = check_int(cfg, key, low, high)
    check_common(cfg)
    if cfg["variant"] not in AQ_VARIANTS:
        raise ValueError(f"train_lstm: variant must be one of {AQ_VARIANTS}, got {cfg['variant']!r}")
    return cfg


def cnn_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``config`` merged into :data:`CNN_DEFAULTS` and validated.

    Args:
        config: a (partial) trial configuration.

    Returns:
        The complete configuration with normalised types.

    Raises:
        ValueError: for unknown keys or values out of range.
    """
    cfg = merge_config(CNN_DEFAULTS, config, "train_cnn")
    if cfg["dataset"] not in IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {IMAGE_DATASETS}, got {cfg['dataset']!r}")
    for key, low, high in (("num_conv_layers", 1, 6), ("filters", 1, 1024), ("kernel_size", 1, 15),
                           ("batch_size", 1, 65536), ("max_epochs", 1, None), ("patch_size", 8, 256),
                           ("seed", 0, 2**32 - 1)):
        cfg[key] = check_int(cfg, key, low, high)
    if cfg["kernel_size"] % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same padding), got {cfg['kernel_size']}; use e.g. 3 or 5")
    check_common(cfg)
    return cfg


def lstm_space(**fixed: Any) -> dict[str, Any]:
    """A Tune param space for :func:`train_lstm`.

    Args:
        **fixed: constants added to (or overriding) the space, e.g. ``max_epochs=10``.

    Returns:
        ``{name: tune domain or constant}``.
    """
    from ray import tune

    space: dict[str, Any] = {
        "num_layers": tune.randint(1, 4),  # 1..3
        "hidden_size": tune.choice([16, 32, 64, 128]),
        "lr": tune.loguniform(1e-4, 1e-2),
        "dropout": tune.uniform(0.0, 0.5),
        "lookback": tune.choice([6, 12, 24, 48, 72]),
        "batch_size": tune.choice([32, 64, 128, 256]),
    }
    space.update(fixed)
    lstm_config(constants(space))  # a typo or a bad fixed value fails here, not in every trial
    return space


def cnn_space(dataset: str = "textures", **fixed: Any) -> dict[str, Any]:
    """A Tune param space for :func:`train_cnn`.

    Args:
        dataset: the data set (a constant of the space).
        **fixed: further constants (or overrides), e.g. ``max_epochs=5``.

    Returns:
        ``{name: tune domain or constant}``.
    """
    from ray import tune

    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {IMAGE_DATASETS}, got {dataset!r}")
    space: dict[str, Any] = {
        "dataset": dataset,
        "num_conv_layers": tune.randint(1, 4),  # 1..3
        "filters": tune.choice([8, 16, 32]),
        "kernel_size": tune.choice([3, 5]),
        "lr": tune.loguniform(1e-4, 1e-2),
        "dropout": tune.uniform(0.0, 0.5),
        "batch_size": tune.choice([32, 64, 128]),
    }
    space.update(fixed)
    cnn_config(constants(space))  # a typo or a bad fixed value fails here, not in every trial
    return space
