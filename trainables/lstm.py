"""LSTM NO2 forecaster on the ``aqeval`` air-quality series, as a Ray Tune function trainable."""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from raytune_llm._imports import require
from trainables._lightning import (  # requires torch and Lightning first
    CHECKPOINT_FILE,
    TunedModule,
    fit_resuming,
    make_trainer,
    trial_dir,
    tune_report_callback,
)
# The configuration and space live in the torch-free ``trainables.configs``; importable from here too.
from trainables.airquality import load_air_quality
from trainables.configs import LSTM_DEFAULTS, lstm_config, lstm_space  # noqa: F401

torch = require("torch", extra="train", feature="trainables.lstm")
pl = require("pytorch_lightning", extra="train", feature="trainables.lstm")
nn = torch.nn

logger = logging.getLogger(__name__)

#: The keys that select the data (a checkpoint records them; evaluation must use the same).
DATA_KEYS: tuple[str, ...] = ("lookback", "horizon", "max_gap", "data_fraction", "variant")

#: Metrics reported to Tune after every epoch.
LSTM_METRICS: tuple[str, ...] = ("val_rmse", "val_loss", "train_loss")


class LSTMRegressor(TunedModule):
    """LSTM over a window of hourly features, predicting scaled NO2 ``horizon`` hours ahead.

    Args:
        num_features: input features per hour.
        hidden_size: LSTM hidden units.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the output layer.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        target_std: train std of NO2 (µg/m³), to report RMSE in original units.
        data: data settings (``lookback``, ``horizon``, ``max_gap``, ``data_fraction``), stored
            with the hyperparameters so a checkpoint can rebuild its test windows.
    """

    def __init__(self, num_features: int, hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0,
                 lr: float = 1e-3, weight_decay: float = 0.0, target_std: float = 1.0,
                 data: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lstm = nn.LSTM(num_features, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, 1))
        self._val_sse = self._val_n = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled NO2 prediction (batch,) for inputs (batch, lookback, features)."""
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).squeeze(-1)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """MSE on the scaled target."""
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.track_train_loss(loss, len(y))
        return loss

    def on_validation_epoch_start(self) -> None:
        """Reset the validation sums."""
        self._val_sse = self._val_n = 0.0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate the squared error (scaled units)."""
        x, y = batch
        self._val_sse += float(((self(x) - y) ** 2).sum())
        self._val_n += len(y)

    def on_validation_epoch_end(self) -> None:
        """Log ``val_rmse`` (µg/m³), ``val_loss`` (scaled MSE) and this epoch's ``train_loss``."""
        mse = self._val_sse / max(self._val_n, 1.0)
        self.log("val_loss", mse)
        self.log("val_rmse", math.sqrt(mse) * float(self.hparams.target_std))
        self.log_train_loss()


def fit_lstm(config: Mapping[str, Any] | None = None, callbacks: Sequence[pl.Callback] = (),
             log_dir: str | None = None) -> tuple[pl.Trainer, LSTMRegressor]:
    """Train the LSTM (in or outside Tune) and return the trainer and model.

    Args:
        config: trial configuration (see :data:`LSTM_DEFAULTS`).
        callbacks: extra Lightning callbacks (``train_lstm`` adds the Tune reporter).
        log_dir: where the TensorBoard/CSV logs go; default: the trial directory or the cwd.

    Returns:
        ``(trainer, model)`` after ``trainer.fit``; ``trainer.callback_metrics`` holds the last
        epoch's metrics.
    """
    cfg = lstm_config(config)
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    splits = load_air_quality(max_gap=cfg["max_gap"], data_fraction=cfg["data_fraction"], variant=cfg["variant"])
    train = splits.windows("train", cfg["lookback"], cfg["horizon"])
    val = splits.windows("val", cfg["lookback"], cfg["horizon"])
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"no complete windows (train {len(train)}, val {len(val)}) for lookback={cfg['lookback']}, "
                         f"data_fraction={cfg['data_fraction']}; use more data or a shorter lookback")
    data = {k: cfg[k] for k in DATA_KEYS}
    model = LSTMRegressor(train.num_features, cfg["hidden_size"], cfg["num_layers"], cfg["dropout"], cfg["lr"],
                          cfg["weight_decay"], splits.target_std, data)
    train_loader = train.loader(cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    val_loader = val.loader(max(cfg["batch_size"], 256), shuffle=False)
    trainer = make_trainer(cfg["max_epochs"], log_dir or trial_dir(), len(train_loader), callbacks,
                           gradient_clip_val=1.0)
    fit_resuming(trainer, model, train_loader, val_loader)
    return trainer, model


def train_lstm(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: LSTM forecast of hourly NO2 (``aqeval`` data).

    Reports ``val_rmse`` (validation RMSE in µg/m³), ``val_loss`` (scaled MSE) and
    ``train_loss`` after every epoch, each time with a Lightning checkpoint
    (``checkpoint.ckpt``) that :func:`lstm_test_rmse` can evaluate. Resumes from Tune's
    checkpoint when the trial is restored.

    Args:
        config: tunable keys ``num_layers``, ``hidden_size``, ``lr``, ``dropout``, ``lookback``,
            ``batch_size``, ``weight_decay``; fixed keys ``max_epochs``, ``horizon``,
            ``max_gap``, ``data_fraction``, ``seed``, ``variant`` (the air-quality series:
            ``hourly`` roadside NO2, ``daily`` means, or ``background`` NO2; see
            ``trainables.airquality``). Defaults in :data:`LSTM_DEFAULTS`.
    """
    fit_lstm(config, callbacks=[tune_report_callback(LSTM_METRICS)])


@contextlib.contextmanager
def _checkpoint_file(checkpoint: Any) -> Iterator[Path]:
    """Lightning checkpoint file from a Tune ``Checkpoint``, a directory, or a file path."""
    if not isinstance(checkpoint, (str, Path)):  # a ray.tune.Checkpoint (it refuses os.fspath)
        with checkpoint.as_directory() as directory:
            with _checkpoint_file(directory) as path:
                yield path
        return
    path = Path(checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no Lightning checkpoint at {path}")
    yield path


def lstm_test_rmse(config: Mapping[str, Any] | None, checkpoint_path: Any, split: str = "test") -> float:
    """RMSE (µg/m³) of a trained LSTM on the held-out test split (or another split).

    Args:
        config: the trial's configuration; its data keys (``lookback``, ``horizon``, ``max_gap``,
            ``data_fraction``) must match training. None: take them from the checkpoint.
        checkpoint_path: a Tune ``Checkpoint`` (e.g. ``result.checkpoint``), its directory, or
            the ``checkpoint.ckpt`` file.
        split: ``"test"`` (default), ``"val"`` or ``"train"``.

    Returns:
        The RMSE in µg/m³ over all complete windows of the split.
    """
    with _checkpoint_file(checkpoint_path) as path:
        # Lightning checkpoints are pickles: evaluate only checkpoints you trust.
        model = LSTMRegressor.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    data = dict(model.hparams.data or {})
    if config is not None:
        cfg = lstm_config({k: v for k, v in config.items() if k in LSTM_DEFAULTS})
        data = {k: cfg[k] for k in DATA_KEYS}
    splits = load_air_quality(max_gap=data.get("max_gap", 3), data_fraction=data.get("data_fraction", 1.0),
                              variant=data.get("variant", "hourly"))
    windows = splits.windows(split, data.get("lookback", 24), data.get("horizon", 1))
    model.eval()
    sse, n = 0.0, 0
    with torch.no_grad():
        for x, y in windows.loader(1024, shuffle=False):
            sse += float(((model(x) - y) ** 2).sum())
            n += len(y)
    if n == 0:
        raise ValueError(f"the {split} split has no complete windows")
    return float(np.sqrt(sse / n) * splits.target_std)
