"""Hyper-parameters of a strategy run: caller values over the model's official ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clrnet import registry
from clrnet.errors import ConfigError


@dataclass
class HParams:
    """Resolved hyper-parameters of one training run (see :func:`resolve_hp`).

    ``monitor`` decides ``best.keras`` (and early stopping): the validation accuracy by default,
    maximised, as the official CLRNet-paper notebooks' ``ModelCheckpoint(monitor='val_acc',
    mode='max', save_best_only=True)`` (``shahroztariq/CLRNet`` ``src/*_DF.ipynb``,
    ``src/*_ALL.ipynb``). ``augment`` None means the model's official choice
    (``ModelSpec.augment``: CLRNet augments, its baselines do not). ``balance``: balanced class
    weights by default; merge and transfer learning default to ``"batches"`` (real and fake
    samples alternate, the minority class oversampled) unless the caller gives it; ``"none"``
    switches balancing off. ``bn_recalibration``: recalibrate BatchNormalization statistics on
    this many training batches before every validation and at the end
    (:mod:`clrnet.training.batchnorm`; the quick profile's fix for briefly trained models, off
    in the papers' protocol). ``val_clips_per_video``: validation reads only the first this many
    clips of each video (frame models: the frames of those clips), as the test scoring may
    (None: every stored clip).
    """

    epochs: int = 300
    batch_size: int = 16
    lr: float = 5e-5
    image_size: int | None = None
    clip_len: int | None = 5
    seed: int = 0
    precision: str = "float32"
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    patience: int | None = None
    monitor: str = "val_accuracy"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    balance: str | None = "weights"
    sampling: str = "all"
    augment: bool | None = None
    keep_checkpoints: int | None = 2
    resume: bool = False
    verbose: int | str = "auto"
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)
    bn_recalibration: int | None = None
    val_clips_per_video: int | None = None


def resolve_hp(model_name: str | None = None, *, transfer: bool = False, **hp: Any) -> HParams:
    """Fill hyper-parameters: the caller's values, else the model's official ones (registry).

    Args:
        model_name: registry name whose official values apply (epochs, batch size, lr, input
            size, clip length, augmentation; None: :class:`HParams`' defaults, which are
            CLRNet's, with ``augment`` left to the model the data are made for).
        transfer: use the model's transfer / merge epochs (``ModelSpec.epochs_transfer``).
        **hp: any :class:`HParams` field; None values count as "not given".

    Returns:
        The resolved :class:`HParams`.

    Raises:
        ConfigError: an unknown hyper-parameter name.
        UnknownModelError: an unknown model name.
    """
    known = set(HParams.__dataclass_fields__)
    unknown = sorted(set(hp) - known)
    if unknown:
        raise ConfigError(f"unknown hyper-parameter(s) {unknown}; known: {sorted(known)}")
    resolved: dict[str, Any] = {}
    if model_name:
        spec = registry.get(model_name)
        epochs = spec.epochs_transfer if transfer and spec.epochs_transfer else spec.epochs
        resolved = {"epochs": epochs, "batch_size": spec.batch_size, "lr": spec.lr,
                    "image_size": spec.input_size, "clip_len": spec.clip_len,
                    "augment": spec.augment}
    resolved.update({k: v for k, v in hp.items() if v is not None})
    if resolved.get("balance") == "none":  # an explicit "no balancing" (None means "default")
        resolved["balance"] = None
    return HParams(**resolved)
