"""Masi et al. trainings and scoring of the table scripts, through :mod:`twobranch.train`.

:func:`train_config` builds the :class:`twobranch.train.TrainConfig` of a resolved protocol
cell: model (recurrent or frame), loss, input size, sequence length, epochs, batch size, lr and
weight decay, "+ft" per-block rates, the plateau schedule and the early stop after it, radii,
DenseNet initialisation (``imagenet``: ``--densenet-weights FILE`` or Keras' ImageNet weights;
``none``: random), model configuration, and checkpoint selection on the FF++ val split. Cells
that cross-test one model (``model_from``, e.g. Table 4b with the c40 model of Table 2) share
one training named after that origin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments import settings as S
from experiments.cells import ExperimentError
from experiments.clrnet_runs import load_model, trained
from experiments.data import clip_set, data_spec, domain_methods

if TYPE_CHECKING:
    from experiments.context import RunContext


def masi_clips(ctx: RunContext, cell: Mapping[str, Any]) -> Path:
    """The FF++ clips a Masi et al. cell trains and tests on (its compression, windows, size).

    A compression missing from the mini benchmark (no c40 copies by default) falls back to c23,
    with a note in the table.
    """
    manifest = clip_set(ctx, cell, "DF")
    assert manifest is not None  # FF++ codes always have data
    return manifest


def run_name(cell: Mapping[str, Any]) -> str:
    """Folder name of the cell's training: its ``model_from`` origin, else its own id."""
    origin = cell.get("model_from") or f"{cell['table']}/{cell['cell']}"
    return str(origin).replace("/", "__")


def train_config(ctx: RunContext, cell: Mapping[str, Any], manifest: Path, run_root: Path):
    """The :class:`twobranch.train.TrainConfig` of ``cell`` on ``manifest``.

    Returns:
        The configuration (nothing is trained).

    Raises:
        ExperimentError: a setting the two-branch training does not implement.
    """
    from twobranch.models import DEFAULTS
    from twobranch.train import TrainConfig

    sched = S.masi_schedule_of(cell)
    monitor = S.monitor_of(cell)
    if sched["monitor"] != monitor:
        raise ExperimentError(f"{cell['table']}/{cell['cell']}: the schedule monitors "
                              f"{sched['monitor']} but checkpoints are chosen by {monitor}")
    init = S.init_weights_of(cell)
    if init == "imagenet":
        given = getattr(ctx.args, "densenet_weights", None)
        weights: str | None = str(given) if given else "imagenet"
    elif init == "none":
        weights = None
    elif init.endswith(".h5"):
        weights = init
    else:
        raise ExperimentError(f"{cell['table']}/{cell['cell']}: init_weights {init!r} is not "
                              "implemented for the two-branch network")
    radii = cell.get("radii")
    r_minus, r_plus = (radii if isinstance(radii, list) else (None, None))
    recurrent = cell["model"] == "two_branch"
    cap = ctx.smoke.max_steps
    return TrainConfig(
        train=str(manifest), val=str(manifest), model=cell["model"], loss=S.masi_loss_of(cell),
        train_splits=("train",), val_splits=("val",),
        methods=tuple(domain_methods(cell["train_domains"])), run_root=str(run_root),
        name=cell["model"], epochs=ctx.smoke.epochs(int(cell["epochs"])),
        batch_size=ctx.smoke.batch(int(cell["batch_size"])), image_size=int(cell["input_size"]),
        frames=int(cell["clip_len"]) if recurrent else DEFAULTS["frames"],
        steps_per_epoch=ctx.smoke.steps(cell["steps_per_epoch"]), validation_steps=cap,
        lr=float(cell["lr"]), l2=float(cell["weight_decay"]), ft=S.masi_ft_of(cell),
        lr_patience=sched["patience"], lr_reductions=sched["max_reductions"],
        stop_after_schedule=sched["stop_after"], monitor=monitor, r_minus=r_minus,
        r_plus=r_plus, center_batches=cap if weights else None, stats_batches=cap or 20,
        densenet_weights=weights,
        augment=S.augment_of(cell), model_overrides=S.model_overrides_of(cell),
        seed=ctx.seed, verbose=2 if ctx.progress else 0)


def train_twobranch(ctx: RunContext, cell: Mapping[str, Any], manifest: Path) -> Path:
    """Train (or reuse) the two-branch network of ``cell``.

    Returns:
        The saved scorer (``scorer.keras``: (B, 1) P(fake)).
    """
    from twobranch import train as tb

    run_root = ctx.model_dir(run_name(cell))
    cfg = train_config(ctx, cell, manifest, run_root)
    record = {k: v for k, v in cfg.as_record().items() if k != "verbose"}

    def train():
        info = tb.train(cfg)
        return Path(info["run_dir"]) / "scorer.keras"

    return trained(run_root, train, record)


def score_twobranch(ctx: RunContext, cell: Mapping[str, Any], model_path: Path, manifest: Path,
                    codes: Sequence[str] | None, split: str = "test"):
    """Sequence (or frame) scores of a two-branch scorer on ``codes`` (None: every video).

    Returns:
        DataFrame(video_id, method, clip_index, label, score).
    """
    from clrnet.strategies import DataSpec
    from clrnet.strategies.evaluation import evaluate

    model = load_model(model_path)
    spec = (DataSpec(manifest, splits=(split,)) if codes is None
            else data_spec(ctx, cell, manifest, codes, (split,)))
    return evaluate(model, spec, ctx.smoke.batch(int(cell["batch_size"])), seed=ctx.seed)
