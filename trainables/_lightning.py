"""Shared PyTorch Lightning plumbing of the trainables: trainer, loggers, Tune reporting, restore."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from typing import Any, Sequence

from raytune_llm._imports import require

require("torch", extra="train", feature="the Lightning trainables (trainables.lstm, trainables.cnn)")
pl = require("pytorch_lightning", extra="train", feature="the Lightning trainables (trainables.lstm, trainables.cnn)")

logger = logging.getLogger(__name__)

#: File name of the Lightning checkpoint inside each reported Tune checkpoint directory.
CHECKPOINT_FILE = "checkpoint.ckpt"



class TunedModule(pl.LightningModule):
    """What the trainables' Lightning modules share: Adam on ``hparams.lr``/``hparams.weight_decay``
    and a running mean of the training loss, logged as ``train_loss`` by :meth:`log_train_loss`."""

    def __init__(self) -> None:
        super().__init__()
        self._train_sum = self._train_n = 0.0

    def track_train_loss(self, loss: Any, n: int) -> None:
        """Add a batch's mean ``loss`` over ``n`` examples to this epoch's running sum."""
        self._train_sum += float(loss.detach()) * n
        self._train_n += n

    def on_train_epoch_start(self) -> None:
        """Reset the running training loss."""
        self._train_sum = self._train_n = 0.0

    def log_train_loss(self) -> None:
        """Log this epoch's mean training loss (when a training epoch ran)."""
        if self._train_n:
            self.log("train_loss", self._train_sum / self._train_n)

    def configure_optimizers(self) -> Any:
        """Adam."""
        import torch

        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

def in_tune_session() -> bool:
    """Whether the caller runs inside a Ray Tune trial."""
    try:
        from ray.train._internal.session import get_session
    except ImportError:  # pragma: no cover - Ray internals moved
        return False
    return get_session() is not None


def trial_dir() -> str:
    """Directory for a trial's Lightning logs.

    Inside Tune with storage on a local or shared filesystem (``RunConfig(storage_path=...)``,
    default ``~/ray_results``): the trial's directory in that storage, next to Tune's
    ``result.json`` and the checkpoints. (``tune.get_context().get_trial_dir()`` is not used: in
    Ray 2.60 it names the driver's staging directory for an actor's first trial but the unsynced
    working directory for later trials of a re-used actor.) With cloud storage: the trial's
    working directory (the cwd); set ``tune.SyncConfig(sync_artifacts=True)`` to upload it.
    Outside Tune: the cwd.
    """
    if in_tune_session():
        try:
            from ray.train._internal.session import get_session

            storage = get_session().storage
            if storage.storage_filesystem.type_name == "local":
                return str(storage.trial_fs_path)
        except Exception:  # noqa: BLE001 - Ray internals moved: fall back to the working directory
            logger.debug("no local trial directory in Tune's storage context; using the cwd", exc_info=True)
    return os.getcwd()


def fit_resuming(trainer: pl.Trainer, model: pl.LightningModule, train_loader: Any, val_loader: Any) -> None:
    """``trainer.fit``, resuming from Tune's checkpoint when the trial is being restored.

    The checkpoint was written by this trial (a pickle with optimizer state and hyperparameters),
    so it is loaded with ``weights_only=False``.
    """
    checkpoint = None
    if in_tune_session():
        from ray import tune

        checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trainer.fit(model, train_loader, val_loader)
        return
    with checkpoint.as_directory() as directory:
        path = os.path.join(directory, CHECKPOINT_FILE)
        if not os.path.isfile(path):
            logger.warning("checkpoint %s holds no %s; training from scratch", checkpoint, CHECKPOINT_FILE)
            trainer.fit(model, train_loader, val_loader)
            return
        logger.info("resuming from %s", path)
        trainer.fit(model, train_loader, val_loader, ckpt_path=path, weights_only=False)


class TuneReportCallback(pl.Callback):
    """Report chosen metrics (and a Lightning checkpoint) to Ray Tune after each validation.

    Equivalent to Ray's ``TuneReportCheckpointCallback``; used when that class is built on a
    different Lightning package (``lightning.pytorch``) than the installed ``pytorch_lightning``.

    Args:
        metrics: names in ``trainer.callback_metrics`` to report (under the same names).
        save_checkpoints: also save and report a checkpoint each time.
    """

    def __init__(self, metrics: Sequence[str], save_checkpoints: bool = True) -> None:
        self.metrics = list(metrics)
        self.save_checkpoints = save_checkpoints

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report after every validation run except Lightning's sanity check."""
        if trainer.sanity_checking:
            return
        report = {k: float(trainer.callback_metrics[k]) for k in self.metrics if k in trainer.callback_metrics}
        if not report:
            return
        from ray import tune

        if not self.save_checkpoints:
            tune.report(report)
            return
        with tempfile.TemporaryDirectory() as tmp:
            trainer.save_checkpoint(os.path.join(tmp, CHECKPOINT_FILE))
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(tmp))


def tune_report_callback(metrics: Sequence[str], save_checkpoints: bool = True) -> pl.Callback:
    """A Lightning callback that reports ``metrics`` to Tune at each validation end.

    Prefers Ray's ``ray.tune.integration.pytorch_lightning.TuneReportCheckpointCallback`` when it
    is a ``pytorch_lightning.Callback`` (Ray imports ``lightning.pytorch`` first when that is
    installed, which the ``pytorch_lightning`` Trainer would reject); otherwise uses
    :class:`TuneReportCallback`, which does the same.

    Args:
        metrics: metric names to report.
        save_checkpoints: checkpoint with each report.

    Returns:
        The callback.
    """
    try:
        from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback
    except ImportError:  # pragma: no cover - depends on the Ray version
        TuneReportCheckpointCallback = None  # noqa: N806
    if TuneReportCheckpointCallback is not None and issubclass(TuneReportCheckpointCallback, pl.Callback):
        return TuneReportCheckpointCallback(metrics=list(metrics), filename=CHECKPOINT_FILE,
                                            save_checkpoints=save_checkpoints, on="validation_end")
    return TuneReportCallback(metrics, save_checkpoints=save_checkpoints)


def make_trainer(
    max_epochs: int,
    log_dir: str,
    steps_per_epoch: int,
    callbacks: Sequence[pl.Callback] = (),
    gradient_clip_val: float | None = None,
) -> pl.Trainer:
    """The Lightning trainer used by all trainables.

    TensorBoard and CSV logs go to ``log_dir/lightning_logs/version_N``; Lightning's own
    checkpointing is off (Tune checkpoints through the report callback).

    Args:
        max_epochs: epochs to train.
        log_dir: root directory of the logs (the trial directory inside Tune).
        steps_per_epoch: training batches per epoch (sets the logging interval).
        callbacks: extra callbacks, e.g. the Tune report callback.
        gradient_clip_val: gradient norm clipping, or None.

    Returns:
        A configured ``pytorch_lightning.Trainer``.
    """
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*The number of training batches.*")
    tensorboard = TensorBoardLogger(save_dir=log_dir, name="lightning_logs", default_hp_metric=False)
    # Both loggers share one version directory (each would otherwise pick the next free one);
    # the CSV logger goes first because it warns about (and clears) a non-empty directory.
    loggers = [CSVLogger(save_dir=log_dir, name="lightning_logs", version=tensorboard.version), tensorboard]
    return pl.Trainer(
        max_epochs=int(max_epochs),
        accelerator="auto",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=loggers,
        callbacks=list(callbacks),
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, int(steps_per_epoch))),
        gradient_clip_val=gradient_clip_val,
        default_root_dir=log_dir,
    )
