"""The one training loop of the package: :func:`fit_model` (build, compile, fit, resume)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from clrnet.errors import ConfigError, ResumeError
from clrnet.training.batchnorm import BatchNormRecalibration
from clrnet.training.callbacks import EpochScalars, RunCheckpoint
from clrnet.training.devices import ensure_float32_output
from clrnet.training.reuse import set_random_seed, take_model
from clrnet.training.run_folder import (
    _truncate_history,
    list_checkpoints,
    read_history,
    read_state,
    save_model_atomic,
    set_rng_states,
)
from data_prep.fileio import copy_atomic, write_json_atomic


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """``"max"`` for accuracy/AUC/F1-like monitors, ``"min"`` otherwise (unless given)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ConfigError(f"monitor mode must be auto, min or max, got {mode!r}")
    return "max" if re.search(r"acc|auc|f1|precision|recall", monitor) else "min"


def _optimizer_for(opt: Any, other_strategy: bool) -> Any:
    """The optimizer to compile with, created inside the current distribution scope.

    A callable (not an optimizer) is called here. An optimizer instance made outside a
    non-default strategy's scope cannot be used in it (Keras raises "Mixing different
    tf.distribute.Strategy objects"), and one already used by another model cannot be reused,
    so those are re-created from their config; custom optimizers must then return all their
    arguments from ``get_config``.
    """
    if isinstance(opt, keras.optimizers.Optimizer):
        fresh = other_strategy or getattr(opt, "built", False)
        return opt.__class__.from_config(opt.get_config()) if fresh else opt
    if callable(opt):
        return opt()
    return opt


@dataclass
class FitResult:
    """What :func:`fit_model` returns.

    Attributes:
        model: the trained model (weights of the last epoch run).
        run_dir: the run folder.
        history: every epoch's logged values, across resumes.
        initial_epoch: epochs already done when this call started (0 for a fresh run).
        epochs_done: epochs finished in total.
        best_epoch: 1-based epoch of ``best.keras`` (None without any epoch).
        best_value: its monitor value.
        stopped_early: whether early stopping ended the run.
        seconds: wall time of this call.
    """

    model: keras.Model
    run_dir: Path
    history: dict[str, list[float]] = field(default_factory=dict)
    initial_epoch: int = 0
    epochs_done: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def fit_model(model_fn: Callable[[], keras.Model],
              train_ds: tf.data.Dataset | Callable[[int], tf.data.Dataset],
              val_ds: tf.data.Dataset | None,
              run_dir: str | os.PathLike,
              *,
              epochs: int,
              resume: bool = False,
              monitor: str = "val_loss",
              mode: str = "auto",
              patience: int | None = None,
              min_delta: float = 0.0,
              compile_kwargs: Mapping[str, Any] | None = None,
              strategy: tf.distribute.Strategy | None = None,
              steps_per_epoch: int | None = None,
              validation_steps: int | None = None,
              class_weight: Mapping[int, float] | None = None,
              extra_callbacks: Iterable[keras.callbacks.Callback] = (),
              bn_recalibration: int | None = None,
              keep_checkpoints: int | None = 2,
              tensorboard: bool = True,
              seed: int | None = None,
              verbose: int | str = "auto") -> FitResult:
    """Build, compile and train a model with checkpoints, resume, early stopping and logs.

    Args:
        model_fn: builds the (uncompiled) model; called inside ``strategy.scope()``.
        train_ds: a ``tf.data.Dataset`` of ``(x, y)`` or ``(x, y, sample_weight)``, or a
            callable ``f(initial_epoch)`` returning one (for pipelines whose per-epoch order
            must continue correctly after a resume).
        val_ds: validation dataset (never the test set), or None.
        run_dir: the run folder (see :func:`make_run_dir`).
        epochs: total number of epochs of the run (not "more epochs" on resume).
        resume: continue from the newest checkpoint in ``run_dir`` (fresh start if none).
        monitor: value deciding ``best.keras`` and early stopping; without ``val_ds`` a
            ``val_*`` monitor falls back to the training value of the same name.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        patience: early-stopping patience in epochs (None: no early stopping).
        min_delta: smallest change counted as an improvement.
        compile_kwargs: arguments of ``model.compile`` (optimizer, loss, metrics, ...); the
            optimizer may be a zero-argument callable, called inside the strategy's scope.
        strategy: distribution strategy (default: the current one).
        steps_per_epoch: batches per epoch (needed for infinite datasets).
        validation_steps: validation batches per epoch.
        class_weight: optional ``{label: weight}`` for ``fit``.
        extra_callbacks: more Keras callbacks.
        bn_recalibration: if given, recalibrate BatchNormalization statistics on this many
            training batches before every validation pass, before every checkpoint and at the
            end (:class:`clrnet.training.batchnorm.BatchNormRecalibration`; for briefly
            trained models, whose moving statistics are still near their initial values).
        keep_checkpoints: newest epoch checkpoints to keep (None: all).
        tensorboard: write per-epoch TensorBoard scalars to ``run_dir/logs`` (see
            :class:`EpochScalars`).
        seed: if given, :func:`clrnet.training.reuse.set_random_seed` before building.
        verbose: Keras ``fit`` verbosity (progress bar by default).

    Returns:
        A :class:`FitResult`; ``run_dir`` then holds ``final.keras`` and ``metrics.json``.
        Inside :func:`clrnet.training.reuse.reuse_traced_models` its model is a kept, traced
        model that the next training of the same model overwrites.

    Raises:
        ResumeError: ``resume`` with an unreadable state or checkpoint.
        ConfigError: a monitor that is never logged.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    mode = monitor_mode(monitor, mode)
    if seed is not None:
        set_random_seed(seed)  # keeps the kept models' kernels

    state = read_state(run_dir) if resume else None
    ckpts = list_checkpoints(run_dir) if resume else []
    initial_epoch = 0
    outer_strategy = strategy is not tf.distribute.get_strategy()
    with strategy.scope():
        if resume and ckpts:
            last_epoch, last_path = ckpts[-1]
            if state is not None and state.get("epoch") != last_epoch:
                raise ResumeError(f"{run_dir}: state.json says epoch {state.get('epoch')} but the "
                                  f"newest checkpoint is {last_path.name}")
            try:
                model = keras.models.load_model(last_path)
            except Exception as exc:  # noqa: BLE001 - report which file failed, in one line
                raise ResumeError(f"{last_path}: cannot load checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
            set_rng_states(model, (state or {}).get("rng_states"))
            initial_epoch = last_epoch
        else:
            state = None
            model = ensure_float32_output(model_fn())
            kwargs = dict(compile_kwargs or {})
            if "optimizer" in kwargs:
                kwargs["optimizer"] = _optimizer_for(kwargs["optimizer"], outer_strategy)
            if kwargs or not model.compiled:
                model.compile(**kwargs)
            model = take_model(model, strategy)  # a kept traced model inside reuse_traced_models

    ckpt_cb = RunCheckpoint(run_dir, monitor, mode, patience, min_delta, keep_checkpoints, state)
    history_path = run_dir / "history.csv"
    if initial_epoch == 0:
        history_path.unlink(missing_ok=True)
    else:
        _truncate_history(history_path, initial_epoch)
    callbacks: list[keras.callbacks.Callback] = [
        # first, so that validation, the CSV row and the checkpoint see recalibrated statistics
        *([BatchNormRecalibration(train_ds, bn_recalibration)] if bn_recalibration else []),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        ckpt_cb,
    ]
    if tensorboard:
        callbacks.append(EpochScalars(run_dir / "logs"))
    callbacks.extend(extra_callbacks)

    already_done = ckpt_cb.stopped_early or initial_epoch >= epochs
    if not already_done:
        data = train_ds(initial_epoch) if callable(train_ds) else train_ds
        model.fit(data, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                  class_weight=dict(class_weight) if class_weight else None,
                  callbacks=callbacks, verbose=verbose, shuffle=False)
    last = ckpt_cb.current_checkpoint()
    if last is not None:  # the weights of the newest checkpoint: link it, do not save again
        copy_atomic(last, run_dir / "final.keras")
    else:
        save_model_atomic(model, run_dir / "final.keras")

    history = read_history(run_dir)
    epochs_done = len(history.get("epoch", []))
    last = {k: v[-1] for k, v in history.items() if v and k != "epoch"}
    result = FitResult(model=model, run_dir=run_dir, history=history,
                       initial_epoch=initial_epoch, epochs_done=epochs_done,
                       best_epoch=ckpt_cb.best_epoch, best_value=ckpt_cb.best,
                       stopped_early=ckpt_cb.stopped_early,
                       seconds=time.perf_counter() - t0)
    write_json_atomic(run_dir / "metrics.json", {
        "monitor": monitor, "mode": mode, "best_epoch": result.best_epoch,
        "best_value": result.best_value, "epochs_done": epochs_done, "epochs_requested": epochs,
        "initial_epoch": initial_epoch, "stopped_early": result.stopped_early,
        "last_epoch": last, "seconds_this_call": round(result.seconds, 3),
        "replicas": strategy.num_replicas_in_sync,
        "precision_policy": keras.mixed_precision.global_policy().name,
    })
    return result
