"""``python -m twobranch.train``: train the two-branch network of Masi et al. (ECCV 2020).

One training is described by a :class:`TrainConfig` (typed fields, model overrides as a real
dict); the command line fills one (:func:`config_from_args`, the only place ``--override
KEY=VALUE`` strings are parsed) and the table scripts construct one directly
(``experiments/masi_runs.py``). :func:`train` runs it.

Same run folder, run record, checkpoints, resume, ``MirroredStrategy`` and error handling as
``python -m clrnet.train``: everything goes through :func:`clrnet.training.fit_model`. Specific to
this paper:

* **Centre first.** With the isolation loss (default), the centre c is the mean embedding of the
  real training sequences under the untrained network (Sec. 3.3), computed once before training
  (at most ``center_batches`` batches) and stored in ``center.json``; a resumed run reuses it.
  Without DenseNet weights the BatchNorm moving statistics are first set to those of the same
  batches (:func:`clrnet.training.recalibrate_batchnorm`): a random network's initial
  statistics do not fit the data, and c would otherwise drift as soon as training updates them.
  The compiled :class:`~twobranch.losses.IsolationLoss` carries c, r-, r+, so every checkpoint
  holds them too.
* **Optimiser.** :class:`~twobranch.optim.LayerwiseAdam`, lr 1e-3, coupled L2 1e-6, the "+ft"
  per-block multipliers (``ft=False`` / ``--no-ft`` for one global rate) and
  :class:`~twobranch.optim.LimitedReduceLROnPlateau` (x0.1, at most ``lr_reductions`` times,
  ``lr_patience`` epochs without a lower ``val_loss``; the paper uses 50 stratified epochs).
  ``stop_after_schedule=N`` ends the run N epochs without improvement after the last reduction
  (:class:`ScheduleEndStopping`), the end of the paper's schedule.
* **Sampling.** ``two_branch``: stratified epochs (one random F-frame window per video per epoch,
  reals x2 / each manipulation /2, ``data_prep.pipeline``). ``two_branch_frame``: single frames of
  every clip, as Table 1a ("without stratified sampling"). No augmentation by default (the paper
  lists it as future work); ``augment=True`` enables the pipeline's.
* **Outputs** (beside ``clrnet.training``'s ``best.keras``/``final.keras``/``history.csv``...):
  ``scorer.keras``: the best epoch's network with :class:`~twobranch.layers.DistanceToCenter`
  appended, so it reloads with plain ``keras.models.load_model`` (after ``import twobranch``) and
  outputs (B, 1) P(fake) without any extra file; ``distances.json``: mean distance to c of real
  and fake samples, the fractions inside r- / beyond r+ and the AUC of the distance, before and
  after training (validation data when given, else the training data in evaluation mode).

``--summary`` prints parameter counts and feature-map shapes and exits.

References:
    Masi et al., "Two-branch Recurrent Network for Isolating Deepfakes in Videos", ECCV 2020,
    Sec. 3.1 (optimisation), 3.3 (isolation loss, centre), 4 (hyper-parameters);
    ``experiments/PROTOCOL.md`` (the settings each table uses).

Size: over 500 lines: the typed configuration (one documented field per setting), its
command line and the training itself, which the table scripts and the CLI share.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import keras
import numpy as np

import twobranch  # noqa: F401 - registers custom objects
from data_prep.fileio import write_json_atomic
from twobranch.errors import ModelFileError, TwoBranchConfigError, TwoBranchError
from twobranch.losses import IsolationAUC, IsolationLoss, default_radii
from twobranch.models import (
    DEFAULTS,
    MODELS,
    build_model,
    compute_center,
    make_scorer,
    summary_lines,
)
from twobranch.optim import LayerwiseAdam, LimitedReduceLROnPlateau, paper_lr_rules


# ----------------------------------------------------------------------------- configuration
@dataclass
class TrainConfig:
    """Everything one two-branch training needs (what ``python -m twobranch.train`` fills).

    Args:
        train: training TFRecords: files, a folder or a manifest.
        val: validation TFRecords (never the test set); None = no validation.
        model: ``"two_branch"`` (recurrent) or ``"two_branch_frame"``.
        loss: ``"isolation"`` (Masi Eq. 2) or ``"bce"``.
        train_splits: keep these splits for training (None = all).
        val_splits: keep these splits for validation (None = all).
        methods: keep these methods (None = all).
        run_root: parent folder of run folders.
        name: run name (default ``<model>-<loss>``).
        resume: run folder to continue (None = a new run).
        epochs: total epochs.
        batch_size: sequences (or frames) per batch.
        image_size: model input side.
        frames: frames per sequence (recurrent model).
        steps_per_epoch: batches per epoch (None = one stratified epoch).
        validation_steps: validation batches per epoch (None = all).
        lr: global learning rate.
        l2: coupled L2 weight decay.
        ft: the paper's per-DenseBlock learning rates ("+ft"); False = one global rate.
        lr_patience: epochs without a lower monitor value before the rate is divided by 10.
        lr_reductions: how many times the rate may be divided.
        patience: early stopping from the start (None: none).
        stop_after_schedule: after the last rate reduction, stop when the monitor has not
            improved for this many epochs (None: never).
        monitor: value deciding ``best.keras``, the schedule and early stopping.
        r_minus: inner radius (None: the paper's value for the embedding size).
        r_plus: outer radius (None: the paper's value for the embedding size).
        center_batches: batches used to compute c (None: all; real-sample batches when
            ``densenet_weights`` is given).
        stats_batches: batches used for ``distances.json``.
        densenet_weights: DenseNet-121 initialisation passed to
            :func:`twobranch.models.build_model` (a local weights file, ``"imagenet"`` or None).
        bn_recalibration: recalibrate BatchNorm statistics on the centre batches before
            computing c (only applies without ``densenet_weights``).
        augment: the pipeline's augmentation on training data.
        model_overrides: builder keyword arguments (keys of ``twobranch.models.DEFAULTS``).
        precision: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        devices: devices for ``MirroredStrategy`` (None: the default strategy).
        seed: random seed.
        verbose: Keras ``fit`` verbosity.
    """

    train: str | None = None
    val: str | None = None
    model: str = "two_branch"
    loss: str = "isolation"
    train_splits: tuple[str, ...] | None = None
    val_splits: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    run_root: str = "runs"
    name: str | None = None
    resume: str | None = None
    epochs: int = 100
    batch_size: int = 8
    image_size: int = DEFAULTS["input_size"]
    frames: int = DEFAULTS["frames"]
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    lr: float = 1e-3
    l2: float = 1e-6
    ft: bool = True
    lr_patience: int = 50
    lr_reductions: int = 3
    patience: int | None = None
    stop_after_schedule: int | None = None
    monitor: str = "val_loss"
    r_minus: float | None = None
    r_plus: float | None = None
    center_batches: int | None = None
    stats_batches: int = 20
    densenet_weights: str | None = None
    bn_recalibration: bool = True
    augment: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    precision: str = "float32"
    devices: tuple[str, ...] | None = None
    seed: int = 0
    verbose: int | str = "auto"

    def __post_init__(self) -> None:
        for name in ("train_splits", "val_splits", "methods", "devices"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, (value,) if isinstance(value, str) else tuple(value))
        for name in ("train", "val", "run_root", "resume", "densenet_weights"):
            value = getattr(self, name)
            if isinstance(value, Path):
                setattr(self, name, str(value))
        self.model_overrides = dict(self.model_overrides)
        if self.model not in MODELS:
            raise TwoBranchConfigError(f"model {self.model!r}: expected one of {sorted(MODELS)}")
        if self.loss not in ("isolation", "bce"):
            raise TwoBranchConfigError(f"loss {self.loss!r}: expected isolation or bce")
        unknown = sorted(set(self.model_overrides) - set(DEFAULTS))
        if unknown:
            raise TwoBranchConfigError(f"model override(s) {unknown}: expected keys of "
                                       f"{sorted(DEFAULTS)}")
        for name in ("epochs", "batch_size", "image_size", "frames"):
            if int(getattr(self, name)) < 1:
                raise TwoBranchConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def builder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`twobranch.models.build_model` for this training."""
        over = {"input_size": self.image_size, "frames": self.frames,
                "head": "bce" if self.loss == "bce" else "isolation",
                "densenet_weights": self.densenet_weights}
        over.update(self.model_overrides)
        return over

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict of every field (the run record's ``args.json``)."""
        return asdict(self)


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["blocks=(1,1,1,1)", "growth_rate=8"]`` -> dict, values parsed as Python literals.

    Only the command line calls this (its ``--override KEY=VALUE`` strings); code builds a
    :class:`TrainConfig` with a dict.

    Raises:
        TwoBranchConfigError: malformed item or unknown key.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULTS:
            raise TwoBranchConfigError(
                f"--override {item!r}: expected KEY=VALUE with KEY in {sorted(DEFAULTS)}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


_EXAMPLES = """examples (also installed as twobranch-train):
  # the paper's network and isolation loss on FaceForensics++ c23 TFRecords (data_prep, masi_train)
  python -m twobranch.train --train ffpp_c23/masi_train --val ffpp_c23/masi_val --run-root runs
  # continue an interrupted run
  python -m twobranch.train --train ffpp_c23/masi_train --resume runs/two_branch-isolation-20261201-120000
  # parameter counts and feature-map shapes only
  python -m twobranch.train --summary
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (defaults are :class:`TrainConfig`'s)."""
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m twobranch.train",
        description="Train Masi et al.'s two-branch recurrent network.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--summary", action="store_true", help="print parameter counts/shapes and exit")
    p.add_argument("--model", default=d.model, choices=sorted(MODELS))
    p.add_argument("--loss", default=d.loss, choices=["isolation", "bce"])
    p.add_argument("--train", help="training TFRecords: files, a folder or a manifest")
    p.add_argument("--val", help="validation TFRecords (never the test set)")
    p.add_argument("--train-splits", nargs="*", default=None, help="keep these splits for training")
    p.add_argument("--val-splits", nargs="*", default=None, help="keep these splits for validation")
    p.add_argument("--methods", nargs="*", default=None, help="keep these methods")
    p.add_argument("--run-root", default=d.run_root, help="parent folder of run folders")
    p.add_argument("--name", default=None, help="run name (default: the model name)")
    p.add_argument("--resume", default=None, help="run folder to continue")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--validation-steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--l2", type=float, default=d.l2, help="weight decay (coupled L2)")
    p.add_argument("--no-ft", action="store_true", help="one global learning rate (no '+ft')")
    p.add_argument("--lr-patience", type=int, default=d.lr_patience,
                   help="epochs before dividing lr by 10")
    p.add_argument("--lr-reductions", type=int, default=d.lr_reductions)
    p.add_argument("--patience", type=int, default=None, help="early stopping (default: none)")
    p.add_argument("--stop-after-schedule", type=int, default=None, metavar="N",
                   help="after the last lr reduction, stop after N epochs without improvement")
    p.add_argument("--monitor", default=d.monitor)
    p.add_argument("--r-minus", type=float, default=None, help="default: paper value for the dim")
    p.add_argument("--r-plus", type=float, default=None, help="default: paper value for the dim")
    p.add_argument("--center-batches", type=int, default=None, help="batches used for c (all)")
    p.add_argument("--stats-batches", type=int, default=d.stats_batches,
                   help="batches for distances.json")
    p.add_argument("--densenet-weights", default=None,
                   help="DenseNet-121 initialisation: a local Keras weights file or 'imagenet'")
    p.add_argument("--no-bn-recalibration", action="store_true",
                   help="keep the initial BatchNorm statistics when computing c (default: "
                        "recalibrate them on the centre batches unless --densenet-weights is given)")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="model override, e.g. blocks='(1,1,1,1)' (repeatable)")
    p.add_argument("--precision", default=d.precision)
    p.add_argument("--devices", nargs="*", default=None, help="e.g. /cpu:0 /cpu:1 (Mirrored)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--verbose", default=d.verbose)
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed command-line arguments (``--override`` parsed here).

    Raises:
        TwoBranchConfigError: a bad ``--override`` or value.
    """
    same = {f.name for f in fields(TrainConfig)} & set(vars(args))
    kwargs = {name: getattr(args, name) for name in same}
    verbose = kwargs.get("verbose", "auto")
    kwargs["verbose"] = verbose if verbose == "auto" else int(verbose)
    kwargs.update(ft=not args.no_ft, bn_recalibration=not args.no_bn_recalibration,
                  model_overrides=parse_overrides(args.override))
    return TrainConfig(**kwargs)


# ----------------------------------------------------------------------------- data
def _datasets(cfg: TrainConfig):
    """``(train_data(epoch), plain training data, validation data or None)`` of ``cfg``."""
    from data_prep.pipeline import get_dataset

    recurrent = MODELS[cfg.model]["recurrent"]
    common = {"image_size": cfg.image_size, "methods": cfg.methods, "seed": cfg.seed,
              "frames": cfg.frames if recurrent else 1}

    def train_data(epoch: int):
        return get_dataset(cfg.train, cfg.batch_size, True, splits=cfg.train_splits,
                           sampling="stratified" if recurrent else "all", augment=cfg.augment,
                           epoch=epoch, repeat=cfg.steps_per_epoch is not None, **common)

    plain = get_dataset(cfg.train, cfg.batch_size, False, splits=cfg.train_splits, **common)
    val = (get_dataset(cfg.val, cfg.batch_size, False, splits=cfg.val_splits, **common)
           if cfg.val else None)
    return train_data, plain, val


def _reals_only(data, batch_size: int):
    """The real (label 0) samples of a ``(x, y)`` dataset, re-batched (for the centre)."""
    import tensorflow as tf

    return data.unbatch().filter(lambda x, y: tf.equal(tf.reshape(y, []), 0.0)) \
        .batch(batch_size)


def distance_stats(model: keras.Model, data, center, r_minus: float, r_plus: float,
                   max_batches: int | None = None) -> dict[str, float]:
    """Mean distance to c per class, fractions inside r- / beyond r+, and the distance AUC.

    Args:
        model: embedding model.
        data: iterable of ``(x, y[, ...])`` batches.
        center: (D,) centre.
        r_minus: inner radius.
        r_plus: outer radius.
        max_batches: stop after this many batches.

    Returns:
        A JSON-ready dict (NaN-free: absent classes give None).
    """
    import tensorflow as tf

    from clrnet.metrics import roc_auc
    from twobranch.layers import center_distance

    # one traced function: eager calls of models with grouped convolutions retrace on each
    # call (measured: 10 s per eager call of the full two-branch network vs 0.9 s traced)
    embed = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    ds, ys = [], []
    for i, batch in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        emb = embed(tf.convert_to_tensor(np.asarray(batch[0])))
        ds.append(np.asarray(keras.ops.convert_to_numpy(center_distance(emb, center)), "float64"))
        ys.append(np.asarray(batch[1]).reshape(-1))
    d, y = np.concatenate(ds), np.concatenate(ys)
    real, fake = d[y == 0], d[y == 1]
    return {
        "n_real": int(real.size), "n_fake": int(fake.size),
        "mean_real": float(real.mean()) if real.size else None,
        "mean_fake": float(fake.mean()) if fake.size else None,
        "real_inside_r_minus": float((real < r_minus).mean()) if real.size else None,
        "fake_beyond_r_plus": float((fake > r_plus).mean()) if fake.size else None,
        "auc": roc_auc(y, d) if real.size and fake.size else None,
    }


# ----------------------------------------------------------------------------- training
class ScheduleEndStopping(keras.callbacks.Callback):
    """Stop once the learning-rate schedule is over and the monitor stopped improving.

    After ``schedule`` has made all its reductions, training ends when ``monitor`` has not
    improved for ``patience`` epochs (counted from the last reduction): the end of Masi et al.'s
    schedule ("decreased three times by a factor of 10 after 50 stratified epochs").

    Args:
        schedule: the :class:`~twobranch.optim.LimitedReduceLROnPlateau` of the run.
        patience: epochs without improvement after the last reduction.
        monitor: the logged value (lower is better).
    """

    def __init__(self, schedule: LimitedReduceLROnPlateau, patience: int,
                 monitor: str = "val_loss") -> None:
        super().__init__()
        self.schedule = schedule
        self.patience = int(patience)
        self.monitor = monitor
        self.best = float("inf")
        self.wait = 0
        self.seen_reductions = -1

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        reduced_now = self.schedule.reductions != self.seen_reductions
        self.seen_reductions = self.schedule.reductions
        if self.schedule.reductions < self.schedule.max_reductions or reduced_now:
            self.best, self.wait = min(self.best, float(value)), 0
            return
        if float(value) < self.best:
            self.best, self.wait = float(value), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True


def _load_center(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "center.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable centre file ({exc})") from None


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training.

    Args:
        cfg: the training's configuration.

    Returns:
        A summary dict (run folder, best epoch, distance statistics).

    Raises:
        TwoBranchError, clrnet.errors.ClrnetError, data_prep.errors.DataPrepError: bad input.
    """
    from clrnet import training
    from data_prep.locking import FolderLock

    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig, got {type(cfg).__name__}")
    if not cfg.train:
        raise TwoBranchConfigError("--train is required (TFRecords, folder or manifest)")
    training.set_precision(cfg.precision)
    strategy = training.get_strategy(list(cfg.devices) if cfg.devices else None)
    overrides = cfg.builder_kwargs()
    if cfg.resume:
        run_dir = Path(cfg.resume)
        if not run_dir.is_dir():
            raise TwoBranchConfigError(f"--resume {run_dir}: no such run folder")
    else:
        run_dir = training.make_run_dir(cfg.run_root, cfg.name or f"{cfg.model}-{cfg.loss}")
    with FolderLock(run_dir, what=f"training into {run_dir}", name="train",
                    hint="or resume another run folder"):
        return _train(cfg, run_dir, strategy, overrides)


def _train(cfg: TrainConfig, run_dir: Path, strategy: Any,
           overrides: dict[str, Any]) -> dict[str, Any]:
    """The training of :func:`train`, inside the run folder's lock."""
    from clrnet import training
    from clrnet.run_record import write_run_record

    write_run_record(run_dir, cfg.as_record(), extra={"paper": "Masi et al. ECCV 2020"})
    train_data, plain, val = _datasets(cfg)
    stats_data = val if val is not None else plain

    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg.model, **overrides)
    dim = int(model.output.shape[-1])
    info: dict[str, Any] = {"run_dir": str(run_dir)}

    if cfg.loss == "isolation":
        saved = _load_center(run_dir) if cfg.resume else None
        if saved is None:
            rm, rp = default_radii(dim)
            rm = cfg.r_minus if cfg.r_minus is not None else rm
            rp = cfg.r_plus if cfg.r_plus is not None else rp
            if not 0 < rm < rp:
                raise TwoBranchConfigError(f"radii must satisfy 0 < r- < r+, got {rm}, {rp}")
            recalibrate = cfg.bn_recalibration and not cfg.densenet_weights
            # recalibration uses the training batches as they come; otherwise only the reals
            # are embedded (the same mean, without the fakes' forward passes)
            center_data = plain if recalibrate else _reals_only(plain, cfg.batch_size)
            center = compute_center(model, center_data, max_batches=cfg.center_batches,
                                    recalibrate_bn=recalibrate)
            saved = {"center": center.tolist(), "r_minus": rm, "r_plus": rp, "dim": dim}
            saved["before"] = distance_stats(model, stats_data, center, rm, rp, cfg.stats_batches)
            write_json_atomic(run_dir / "center.json", saved)
        center, rm, rp = np.asarray(saved["center"], "float32"), saved["r_minus"], saved["r_plus"]
        if center.shape != (dim,):
            raise ModelFileError(f"{run_dir / 'center.json'}: centre of size {center.size}, "
                                 f"model embedding is {dim}-d")
        loss: Any = IsolationLoss(center, rm, rp)
        with strategy.scope():  # metric variables must belong to the training strategy
            metrics: list[Any] = [IsolationAUC(center, rm, rp)]
        info.update(r_minus=rm, r_plus=rp, before=saved.get("before"))
    else:
        loss = keras.losses.BinaryCrossentropy()
        with strategy.scope():
            metrics = [keras.metrics.AUC(name="auc")]

    optimizer = LayerwiseAdam(learning_rate=cfg.lr, l2=cfg.l2,
                              lr_rules=paper_lr_rules() if cfg.ft else None)
    monitor = cfg.monitor if val is not None or not cfg.monitor.startswith("val_") \
        else cfg.monitor[4:]
    lr_cb = LimitedReduceLROnPlateau(max_reductions=cfg.lr_reductions, initial_lr=cfg.lr,
                                     monitor=monitor, patience=cfg.lr_patience, factor=0.1)
    callbacks: list[keras.callbacks.Callback] = [lr_cb]
    if cfg.stop_after_schedule is not None:
        callbacks.append(ScheduleEndStopping(lr_cb, cfg.stop_after_schedule, monitor))
    result = training.fit_model(
        lambda: model, train_data, val, run_dir, epochs=cfg.epochs, resume=bool(cfg.resume),
        monitor=cfg.monitor, patience=cfg.patience,
        compile_kwargs={"optimizer": optimizer, "loss": loss, "metrics": metrics},
        strategy=strategy, steps_per_epoch=cfg.steps_per_epoch,
        validation_steps=cfg.validation_steps, extra_callbacks=callbacks, verbose=cfg.verbose)
    best_path = run_dir / "best.keras"
    best = keras.models.load_model(best_path) if best_path.exists() else result.model
    info.update(best_epoch=result.best_epoch, epochs_done=result.epochs_done)
    if cfg.loss == "isolation":
        info["after"] = distance_stats(best, stats_data, center, rm, rp, cfg.stats_batches)
        scorer = make_scorer(best, center, rm, rp)
        write_json_atomic(run_dir / "distances.json",
                          {"before": info.get("before"), "after": info["after"],
                           "r_minus": rm, "r_plus": rp, "best_epoch": result.best_epoch})
    else:
        scorer = best
    training.save_model_atomic(scorer, run_dir / "scorer.keras")
    return info


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input prints one ``error: ...`` line and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.summary:
            model = build_model(cfg.model, **cfg.builder_kwargs())
            print("\n".join(summary_lines(model)))
            return 0
        info = train(cfg)
    except KeyboardInterrupt:
        print("error: interrupted; resume with --resume <run folder>", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - known errors become one line, the rest re-raise
        from clrnet.errors import ClrnetError
        from data_prep.errors import DataPrepError

        if isinstance(exc, TwoBranchError | ClrnetError | DataPrepError):
            print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                  file=sys.stderr)
            return 2
        raise
    print(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
