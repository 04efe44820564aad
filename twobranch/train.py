"""``python -m twobranch.train``: train the two-branch network of Masi et al. (ECCV 2020).

Same run folder, run record, checkpoints, resume, ``MirroredStrategy`` and error handling as
``python -m clrnet.train``: everything goes through :func:`clrnet.training.fit_model`. Specific to
this paper:

* **Centre first.** With the isolation loss (default), the centre c is the mean embedding of the real
  training sequences under the untrained network (Sec. 3.3), computed once before training (at most
  ``--center-batches`` batches) and stored in ``center.json``; a resumed run reuses it. Without
  ``--densenet-weights`` the BatchNorm moving statistics are first set to those of the same batches
  (:func:`~twobranch.models.recalibrate_batchnorm`): a random network's initial statistics do not
  fit the data, and c would otherwise drift as soon as training updates them. The compiled
  :class:`~twobranch.losses.IsolationLoss` carries c, r-, r+, so every checkpoint holds them too.
* **Optimiser.** :class:`~twobranch.optim.LayerwiseAdam`, lr 1e-3, coupled L2 1e-6, the "+ft"
  per-block multipliers (``--no-ft`` for one global rate) and
  :class:`~twobranch.optim.LimitedReduceLROnPlateau` (x0.1, at most 3 times, ``--lr-patience``
  epochs without a lower ``val_loss``; the paper uses 50 stratified epochs).
* **Sampling.** ``two_branch``: stratified epochs (one random F-frame window per video per epoch,
  reals x2 / each manipulation /2, ``data_prep.pipeline``). ``two_branch_frame``: single frames of
  every clip, as Table 1a ("without stratified sampling"). No augmentation by default (the paper
  lists it as future work); ``--augment`` enables the pipeline's.
* **Outputs** (beside ``clrnet.training``'s ``best.keras``/``final.keras``/``history.csv``...):
  ``scorer.keras``: the best epoch's network with :class:`~twobranch.layers.DistanceToCenter`
  appended, so it reloads with plain ``keras.models.load_model`` (after ``import twobranch``) and
  outputs (B, 1) P(fake) without any extra file; ``distances.json``: mean distance to c of real and
  fake samples, the fractions inside r- / beyond r+ and the AUC of the distance, before and after
  training (validation data when given, else the training data in evaluation mode).

``--summary`` prints parameter counts and feature-map shapes and exits.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
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


# ----------------------------------------------------------------------------- arguments
def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["blocks=(1,1,1,1)", "growth_rate=8"]`` -> dict, values parsed as Python literals.

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


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m twobranch.train",
                                description="Train Masi et al.'s two-branch recurrent network.")
    p.add_argument("--summary", action="store_true", help="print parameter counts/shapes and exit")
    p.add_argument("--model", default="two_branch", choices=sorted(MODELS))
    p.add_argument("--loss", default="isolation", choices=["isolation", "bce"])
    p.add_argument("--train", help="training TFRecords: files, a folder or a manifest")
    p.add_argument("--val", help="validation TFRecords (never the test set)")
    p.add_argument("--train-splits", nargs="*", default=None, help="keep these splits for training")
    p.add_argument("--val-splits", nargs="*", default=None, help="keep these splits for validation")
    p.add_argument("--methods", nargs="*", default=None, help="keep these methods")
    p.add_argument("--run-root", default="runs", help="parent folder of run folders")
    p.add_argument("--name", default=None, help="run name (default: the model name)")
    p.add_argument("--resume", default=None, help="run folder to continue")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=DEFAULTS["input_size"])
    p.add_argument("--frames", type=int, default=DEFAULTS["frames"])
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--l2", type=float, default=1e-6, help="weight decay (coupled L2)")
    p.add_argument("--no-ft", action="store_true", help="one global learning rate (no '+ft')")
    p.add_argument("--lr-patience", type=int, default=50, help="epochs before dividing lr by 10")
    p.add_argument("--lr-reductions", type=int, default=3)
    p.add_argument("--patience", type=int, default=None, help="early stopping (default: none)")
    p.add_argument("--monitor", default="val_loss")
    p.add_argument("--r-minus", type=float, default=None, help="default: paper value for the dim")
    p.add_argument("--r-plus", type=float, default=None, help="default: paper value for the dim")
    p.add_argument("--center-batches", type=int, default=None, help="batches used for c (all)")
    p.add_argument("--stats-batches", type=int, default=20, help="batches for distances.json")
    p.add_argument("--densenet-weights", default=None, help="local Keras DenseNet-121 weights")
    p.add_argument("--no-bn-recalibration", action="store_true",
                   help="keep the initial BatchNorm statistics when computing c (default: "
                        "recalibrate them on the centre batches unless --densenet-weights is given)")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="model override, e.g. blocks='(1,1,1,1)' (repeatable)")
    p.add_argument("--precision", default="float32")
    p.add_argument("--devices", nargs="*", default=None, help="e.g. /cpu:0 /cpu:1 (Mirrored)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", default="auto")
    return p


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Model keyword arguments resolved from the CLI."""
    over = {"input_size": args.image_size, "frames": args.frames,
            "head": "bce" if args.loss == "bce" else "isolation",
            "densenet_weights": args.densenet_weights}
    over.update(parse_overrides(args.override))
    return over


# ----------------------------------------------------------------------------- data
def _datasets(args: argparse.Namespace, epoch_fn: bool = True):
    from data_prep.pipeline import get_dataset

    recurrent = MODELS[args.model]["recurrent"]
    common = {"image_size": args.image_size, "methods": args.methods, "seed": args.seed}
    if recurrent:
        common["frames"] = args.frames
    else:
        common["frames"] = 1

    def train_data(epoch: int):
        return get_dataset(args.train, args.batch_size, True, splits=args.train_splits,
                           sampling="stratified" if recurrent else "all", augment=args.augment,
                           epoch=epoch, repeat=args.steps_per_epoch is not None, **common)

    plain = get_dataset(args.train, args.batch_size, False, splits=args.train_splits, **common)
    val = (get_dataset(args.val, args.batch_size, False, splits=args.val_splits, **common)
           if args.val else None)
    return train_data, plain, val


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
    from clrnet.metrics import roc_auc
    from twobranch.layers import center_distance

    ds, ys = [], []
    for i, batch in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        emb = model(np.asarray(batch[0]), training=False)
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
def _load_center(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "center.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable centre file ({exc})") from None


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run one training from parsed arguments.

    Args:
        args: from :func:`build_parser`.

    Returns:
        A summary dict (run folder, best epoch, distance statistics).

    Raises:
        TwoBranchError, clrnet.errors.ClrnetError, data_prep.errors.DataPrepError: bad input.
    """
    from clrnet import training
    from clrnet.run_record import write_run_record

    if not args.train:
        raise TwoBranchConfigError("--train is required (TFRecords, folder or manifest)")
    training.set_precision(args.precision)
    strategy = training.get_strategy(args.devices)
    overrides = model_overrides(args)
    if args.resume:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise TwoBranchConfigError(f"--resume {run_dir}: no such run folder")
    else:
        run_dir = training.make_run_dir(args.run_root, args.name or f"{args.model}-{args.loss}")
    write_run_record(run_dir, {**vars(args), "model_overrides": overrides},
                              extra={"paper": "Masi et al. ECCV 2020"})
    train_data, plain, val = _datasets(args)
    stats_data = val if val is not None else plain

    keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        model = build_model(args.model, **overrides)
    dim = int(model.output.shape[-1])
    info: dict[str, Any] = {"run_dir": str(run_dir)}

    if args.loss == "isolation":
        saved = _load_center(run_dir) if args.resume else None
        if saved is None:
            rm, rp = default_radii(dim)
            rm = args.r_minus if args.r_minus is not None else rm
            rp = args.r_plus if args.r_plus is not None else rp
            if not 0 < rm < rp:
                raise TwoBranchConfigError(f"radii must satisfy 0 < r- < r+, got {rm}, {rp}")
            center = compute_center(model, plain, max_batches=args.center_batches,
                                    recalibrate_bn=not (args.densenet_weights or args.no_bn_recalibration))
            saved = {"center": center.tolist(), "r_minus": rm, "r_plus": rp, "dim": dim}
            saved["before"] = distance_stats(model, stats_data, center, rm, rp, args.stats_batches)
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

    optimizer = LayerwiseAdam(learning_rate=args.lr, l2=args.l2,
                              lr_rules=None if args.no_ft else paper_lr_rules())
    monitor = args.monitor if val is not None or not args.monitor.startswith("val_") else args.monitor[4:]
    lr_cb = LimitedReduceLROnPlateau(max_reductions=args.lr_reductions, initial_lr=args.lr,
                                     monitor=monitor, patience=args.lr_patience, factor=0.1)
    result = training.fit_model(
        lambda: model, train_data, val, run_dir, epochs=args.epochs, resume=bool(args.resume),
        monitor=args.monitor, patience=args.patience,
        compile_kwargs={"optimizer": optimizer, "loss": loss, "metrics": metrics},
        strategy=strategy, steps_per_epoch=args.steps_per_epoch, extra_callbacks=[lr_cb],
        verbose=args.verbose if args.verbose == "auto" else int(args.verbose))
    best_path = run_dir / "best.keras"
    best = keras.models.load_model(best_path) if best_path.exists() else result.model
    info.update(best_epoch=result.best_epoch, epochs_done=result.epochs_done)
    if args.loss == "isolation":
        info["after"] = distance_stats(best, stats_data, center, rm, rp, args.stats_batches)
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
        if args.summary:
            model = build_model(args.model, **model_overrides(args))
            print("\n".join(summary_lines(model)))
            return 0
        info = train(args)
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
