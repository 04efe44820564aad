"""Callbacks of the training loop: per-epoch checkpoints with resumable early stopping, and
TensorBoard scalars without the ``tensorboard`` package."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from clrnet.errors import ConfigError
from clrnet.training.run_folder import get_rng_states, list_checkpoints, save_model_atomic
from data_prep.fileio import copy_atomic, write_json_atomic


class RunCheckpoint(keras.callbacks.Callback):
    """Per-epoch checkpoint, best-on-validation model, resumable early stopping.

    After every epoch it (1) updates the best monitor value and writes ``best.keras`` when it
    improved, (2) writes ``checkpoints/epoch-NNN.keras`` and removes older ones beyond
    ``keep``, (3) writes ``state.json``, and (4) stops training once ``patience`` epochs passed
    without improvement. All files are written atomically.

    Args:
        run_dir: the run folder.
        monitor: the logged quantity that decides "best" and early stopping.
        mode: ``"min"`` or ``"max"``.
        patience: epochs without improvement before stopping; None disables early stopping.
        min_delta: smallest change that counts as an improvement.
        keep: number of newest epoch checkpoints to keep (None keeps all).
        state: the restored state of a resumed run.
    """

    def __init__(self, run_dir: Path, monitor: str, mode: str, patience: int | None,
                 min_delta: float = 0.0, keep: int | None = 2,
                 state: Mapping[str, Any] | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.keep = keep
        state = dict(state or {})
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        self.stopped_early = bool(state.get("stopped_early", False))
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.saved: Path | None = None  # the newest checkpoint, while the weights match it
        self._dirty = True

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dirty = True

    def current_checkpoint(self) -> Path | None:
        """The newest epoch checkpoint if the model's weights have not changed since it was
        written (a final save can link it instead of serialising the model again)."""
        if self._dirty or self.saved is None or not self.saved.is_file():
            return None
        return self.saved

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        done = epoch + 1
        value = logs.get(self.monitor)
        if value is None:
            raise ConfigError(f"monitor {self.monitor!r} is not among the logged values "
                              f"{sorted(logs)}; pass a validation set or another monitor")
        value = float(value)
        checkpoint = self.run_dir / "checkpoints" / f"epoch-{done:03d}.keras"
        save_model_atomic(self.model, checkpoint)
        self.saved, self._dirty = checkpoint, False
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, done, 0
            copy_atomic(checkpoint, self.run_dir / "best.keras")  # same model: no second save
        else:
            self.wait += 1
        if self.keep is not None:
            for _, old in list_checkpoints(self.run_dir)[: -self.keep or None]:
                old.unlink(missing_ok=True)
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True
        write_json_atomic(self.run_dir / "state.json", {
            "epoch": done, "monitor": self.monitor, "mode": self.mode, "best": self.best,
            "best_epoch": self.best_epoch, "wait": self.wait, "stopped_early": self.stopped_early,
            "rng_states": get_rng_states(self.model),
        })


class EpochScalars(keras.callbacks.Callback):
    """Write every epoch's logged values as TensorBoard scalars under ``log_dir/{train,validation}``.

    Uses ``tf.summary.write`` with the scalars-plugin metadata, which TensorFlow provides
    without the ``tensorboard`` package (``keras.callbacks.TensorBoard`` needs that package,
    which this project does not install). TensorBoard reads the files as ordinary scalars.

    Args:
        log_dir: the TensorBoard log folder.
    """

    def __init__(self, log_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

    def _writer(self, kind: str) -> Any:
        if kind not in self._writers:
            self._writers[kind] = tf.summary.create_file_writer(str(self.log_dir / kind))
        return self._writers[kind]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            kind, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(kind).as_default():
                tf.summary.write(f"epoch_{tag}", tf.constant(float(value), tf.float32),
                                 step=epoch, metadata=self._metadata)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}
