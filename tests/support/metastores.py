"""A small, real meta-dataset for tests, built through MetaStore's own API.

Six image-classification data sets whose meta-features differ, each with 24 experiments of the
model ``quad`` on the conformance suite's space (``x``, ``n``, ``act``, ``lr``). The score
(minimised) is the suite's objective with the optimum of ``x`` moving with the number of
classes, so the meta-learner has something real to learn and the target's best configuration
is predictable from the others.
"""

from __future__ import annotations

import math

import numpy as np

FEATURES = ("n_instances", "n_classes", "imbalance_ratio", "class_entropy", "resolution", "class_size_mean",
            "class_size_std", "class_size_min", "class_size_max")


def features(n_classes: int, n_instances: int, resolution: int = 64) -> dict:
    size = n_instances / n_classes
    return {"n_instances": n_instances, "n_classes": n_classes, "imbalance_ratio": 1.0,
            "class_entropy": math.log2(n_classes), "resolution": resolution, "class_size_mean": size,
            "class_size_std": 0.0, "class_size_min": int(size), "class_size_max": int(size), "modality": "grayscale"}


DATASETS = {
    "alpha": features(2, 400), "beta": features(4, 800), "gamma": features(6, 1200),
    "delta": features(8, 1600), "epsilon": features(10, 2000), "zeta": features(3, 600, resolution=256),
}


def x_opt(f: dict) -> float:
    return 0.1 + 0.05 * f["n_classes"]


def score(config: dict, f: dict) -> float:
    return ((config["x"] - x_opt(f)) ** 2 + 0.01 * abs(config["n"] - 5) + (0.0 if config["act"] == "b" else 0.05)
            + (math.log10(config["lr"]) + 2.5) ** 2 * 0.01)


def build_store(path, *, per_dataset: int = 24, seed: int = 0, exclude=()):
    """Write the store to ``path`` and return it (open)."""
    from raytune_llm.meta import MetaStore

    rng = np.random.default_rng(seed)
    store = MetaStore(path)
    records = []
    for name, f in DATASETS.items():
        if name in exclude:
            continue
        store.add_dataset(name, "image-classification", f)
        for _ in range(per_dataset):
            config = {"x": float(rng.uniform(0, 1)), "n": int(rng.integers(1, 9)),
                      "act": str(rng.choice(["a", "b", "c"])), "lr": float(10 ** rng.uniform(-4, -1)), "fixed": 7}
            records.append({"dataset": name, "model": "quad", "config": config, "metric": "score", "mode": "min",
                            "value": score(config, f), "train_time_s": 1.0, "source": "tests", "date": None})
    store.add_experiments(records)
    return store


CNN_DATASETS = {"digits": features(10, 1797, 64), "mnist": features(10, 1000, 784),
                "textures": features(3, 600, 1024), "faces": features(2, 200, 625)}


def cnn_accuracy(config: dict, f: dict) -> float:
    """A smooth stand-in for a CNN's validation accuracy: best near lr 3e-3, more filters for more classes."""
    lr_term = (math.log10(config["lr"]) + 2.5) ** 2
    width = abs(math.log2(config["filters"]) - (3 + f["n_classes"] / 5))
    return max(0.05, min(0.99, 0.95 - 0.08 * lr_term - 0.03 * width - 0.1 * config["dropout"]
                         - 0.02 * abs(config["num_conv_layers"] - 2)))


def build_cnn_store(path, *, per_dataset: int = 12, seed: int = 0):
    """Image data sets with experiments of the model ``cnn`` on ``trainables.cnn_space``'s parameters
    (metric ``val_accuracy``, maximised): for the CLI, which tunes the packaged CNN."""
    from raytune_llm.meta import MetaStore

    rng = np.random.default_rng(seed)
    store = MetaStore(path)
    records = []
    for name, f in CNN_DATASETS.items():
        store.add_dataset(name, "image-classification", f)
        for _ in range(per_dataset):
            config = {"dataset": name, "num_conv_layers": int(rng.integers(1, 4)),
                      "filters": int(rng.choice([8, 16, 32])), "kernel_size": int(rng.choice([3, 5])),
                      "lr": float(10 ** rng.uniform(-4, -2)), "dropout": float(rng.uniform(0, 0.5)),
                      "batch_size": int(rng.choice([32, 64, 128])), "max_epochs": 2}
            records.append({"dataset": name, "model": "cnn", "config": config, "metric": "val_accuracy",
                            "mode": "max", "value": cnn_accuracy(config, f), "train_time_s": 5.0, "source": "tests"})
    store.add_experiments(records)
    return store
