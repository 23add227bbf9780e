"""CNN image classifier (textures / digits / MNIST) as a Ray Tune function trainable."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from raytune_llm._imports import require
from trainables._lightning import (  # requires torch and Lightning first
    TunedModule,
    fit_resuming,
    make_trainer,
    trial_dir,
    tune_report_callback,
)
# The configuration and space live in the torch-free ``trainables.configs``; importable from here too.
from trainables.configs import CNN_DEFAULTS, cnn_config, cnn_space  # noqa: F401
from trainables.images import load_images

torch = require("torch", extra="train", feature="trainables.cnn")
pl = require("pytorch_lightning", extra="train", feature="trainables.cnn")
nn = torch.nn
DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset

logger = logging.getLogger(__name__)

#: Metrics reported to Tune after every epoch.
CNN_METRICS: tuple[str, ...] = ("val_accuracy", "val_loss", "train_loss")


class CNNClassifier(TunedModule):
    """Conv blocks (conv, batch norm, ReLU, 2x2 max-pool while the map is >= 2 px) + linear head.

    Block i has ``filters * 2**i`` channels; the head is global average pooling, dropout and a
    linear layer.

    Args:
        num_classes: output classes.
        in_channels: input channels (1: grayscale).
        image_size: input side length.
        num_conv_layers: conv blocks.
        filters: channels of the first block.
        kernel_size: odd convolution kernel size ("same" padding).
        dropout: dropout before the linear layer.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, image_size: int = 32, num_conv_layers: int = 2,
                 filters: int = 16, kernel_size: int = 3, dropout: float = 0.2, lr: float = 1e-3,
                 weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for i in range(num_conv_layers):
            out = filters * 2**i
            layers += [nn.Conv2d(channels, out, kernel_size, padding=kernel_size // 2), nn.BatchNorm2d(out),
                       nn.ReLU()]
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(channels, num_classes))
        self._val_loss = self._val_correct = self._val_n = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (batch, classes) for images (batch, 1, H, W)."""
        return self.head(self.features(x))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Cross-entropy."""
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.track_train_loss(loss, len(y))
        return loss

    def on_validation_epoch_start(self) -> None:
        """Reset the validation sums."""
        self._val_loss = self._val_correct = self._val_n = 0.0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate summed cross-entropy and correct predictions."""
        x, y = batch
        logits = self(x)
        self._val_loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        self._val_correct += float((logits.argmax(dim=1) == y).sum())
        self._val_n += len(y)

    def on_validation_epoch_end(self) -> None:
        """Log ``val_accuracy``, ``val_loss`` (mean cross-entropy) and this epoch's ``train_loss``."""
        n = max(self._val_n, 1.0)
        self.log("val_loss", self._val_loss / n)
        self.log("val_accuracy", self._val_correct / n)
        self.log_train_loss()


def fit_cnn(config: Mapping[str, Any] | None = None, callbacks: Sequence[pl.Callback] = (),
            log_dir: str | None = None) -> tuple[pl.Trainer, CNNClassifier]:
    """Train the CNN (in or outside Tune) and return the trainer and model.

    Args:
        config: trial configuration (see :data:`CNN_DEFAULTS`).
        callbacks: extra Lightning callbacks (``train_cnn`` adds the Tune reporter).
        log_dir: where the TensorBoard/CSV logs go; default: the trial directory or the cwd.

    Returns:
        ``(trainer, model)`` after ``trainer.fit``.
    """
    cfg = cnn_config(config)
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    # The split/subsample seed is fixed (0) so every trial sees the same validation set.
    data = load_images(cfg["dataset"], data_fraction=cfg["data_fraction"], patch_size=cfg["patch_size"])
    model = CNNClassifier(data.num_classes, int(data.x_train.shape[1]), data.image_size, cfg["num_conv_layers"],
                          cfg["filters"], cfg["kernel_size"], cfg["dropout"], cfg["lr"], cfg["weight_decay"])
    generator = torch.Generator().manual_seed(cfg["seed"])
    train_loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=cfg["batch_size"], shuffle=True,
                              generator=generator)
    val_loader = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=max(cfg["batch_size"], 256))
    trainer = make_trainer(cfg["max_epochs"], log_dir or trial_dir(), len(train_loader), callbacks)
    fit_resuming(trainer, model, train_loader, val_loader)
    return trainer, model


def train_cnn(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: CNN classifier on ``textures``, ``digits`` or ``mnist``.

    Reports ``val_accuracy`` (in [0, 1]), ``val_loss`` (mean cross-entropy) and ``train_loss``
    after every epoch, each with a Lightning checkpoint. Resumes from Tune's checkpoint when
    the trial is restored.

    Args:
        config: tunable keys ``num_conv_layers``, ``filters``, ``kernel_size``, ``lr``,
            ``dropout``, ``batch_size``, ``weight_decay``; fixed keys ``dataset``,
            ``max_epochs``, ``patch_size``, ``data_fraction``, ``seed``. Defaults in
            :data:`CNN_DEFAULTS`.
    """
    fit_cnn(config, callbacks=[tune_report_callback(CNN_METRICS)])
