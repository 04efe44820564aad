"""What the strategies train and evaluate on: selections of clip records and their pipelines."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from clrnet.errors import EmptyDatasetError, InputShapeError
from clrnet.scoring import targets_for
from clrnet.strategies.hparams import HParams
from data_prep.pipeline import get_dataset


@dataclass(frozen=True)
class DataSpec:
    """Which clips to read: a TFRecord folder, manifest or file list plus filters.

    Args:
        source: a manifest, an output folder of ``python -m data_prep extract``, or a list of
            ``.tfrecord`` shard paths.
        methods: method names to keep (``"original"`` is the real class in FF++), None = all.
        splits: split names to keep, None = all.
        datasets: dataset names to keep, None = all.
    """

    source: str | os.PathLike | tuple[str, ...]
    methods: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = ("train",)
    datasets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("methods", "splits", "datasets"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None:
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.source, list):
            object.__setattr__(self, "source", tuple(str(s) for s in self.source))

    def describe(self) -> str:
        """One-line description for messages."""
        src = f"{len(self.source)} files" if isinstance(self.source, tuple) else str(self.source)
        return (f"{src} (methods={list(self.methods) if self.methods else 'all'}, "
                f"splits={list(self.splits) if self.splits else 'all'}"
                + (f", datasets={list(self.datasets)}" if self.datasets else "") + ")")

    def files(self) -> list[str]:
        """The shard files of this selection.

        Raises:
            EmptyDatasetError: nothing matches (the message names source and filters).
        """
        if isinstance(self.source, tuple):
            missing = [f for f in self.source if not os.path.isfile(f)]
            if missing:
                raise EmptyDatasetError(f"record file not found: {missing[0]}")
            files = list(self.source)
        else:
            if not os.path.exists(self.source):
                raise EmptyDatasetError(f"data not found: {self.source}")
            from data_prep.records import select_records
            files = select_records(self.source, methods=self.methods, splits=self.splits,
                                   datasets=self.datasets)
        if not files:
            raise EmptyDatasetError(f"no training records in {self.describe()}")
        return files


#: Something a strategy can train or evaluate on: a selection, a ready dataset of
#: (x, y[, w]) batches, or a callable ``f(initial_epoch) -> dataset``.
Data = DataSpec | tf.data.Dataset | Callable[[int], tf.data.Dataset]


def data_shape_for(model: keras.Model) -> tuple[int | None, int | None]:
    """(clip length or None for frame models, square image size) the model expects."""
    shape = model.inputs[0].shape
    if len(shape) == 5:
        return shape[1], shape[2]
    return None, shape[1]


def _to_targets(model: keras.Model) -> Callable[..., tuple]:
    """A ``tf.data`` map turning scalar labels (fake = 1) into the model's targets."""
    def convert(x, y, *rest):
        return (x, targets_for(model, y), *rest)
    return convert


def check_data_shape(model: keras.Model, ds: tf.data.Dataset, where: str) -> None:
    """Compare a dataset's element shape with the model input; raise before any training.

    Raises:
        InputShapeError: naming the expected and found shapes and ``where``.
    """
    spec = ds.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    got = tuple(x_spec.shape[1:])
    want = tuple(model.inputs[0].shape[1:])
    if len(got) != len(want) or any(g is not None and w is not None and g != w
                                    for g, w in zip(got, want, strict=False)):
        raise InputShapeError(f"{where}: data gives inputs of shape {got} but model "
                              f"{model.name!r} expects {want}")




def make_dataset(data: Data | Sequence[DataSpec], hp: HParams, model: keras.Model, *,
                 training: bool, domain_balance: bool = False,
                 videos_per_domain: int | None = None,
                 return_meta: bool = False) -> tf.data.Dataset | Callable[[int], tf.data.Dataset]:
    """Turn a :data:`Data` into batches the model can fit on (targets converted).

    Args:
        data: a :class:`DataSpec` (or several: their union), a dataset, or ``f(epoch)``.
        hp: hyper-parameters (batch size, seed, image size, ...).
        model: the model (its input decides frames vs clips and the size).
        training: training pipeline (shuffle, augmentation, balance) or evaluation.
        domain_balance: equal samples per domain (merge learning).
        videos_per_domain: K videos per domain (transfer learning).
        return_meta: yield ``(x, y, meta)`` (evaluation).

    Returns:
        A dataset, or for training a callable ``f(initial_epoch)`` when the pipeline can start
        at a given epoch.
    """
    if isinstance(data, tf.data.Dataset):
        return data if return_meta else data.map(_to_targets(model))
    if callable(data) and not isinstance(data, DataSpec):
        convert = _to_targets(model)
        return lambda epoch: data(epoch).map(convert)
    specs = [data] if isinstance(data, DataSpec) else list(data)
    files = sorted({f for s in specs for f in s.files()})
    clip_len, size = data_shape_for(model)

    def union(attr: str) -> list[str] | None:
        values = [getattr(s, attr) for s in specs]
        return sorted({v for vs in values for v in vs}) if all(values) else None

    kwargs: dict[str, Any] = dict(
        image_size=size, methods=union("methods"), splits=union("splits"),
        datasets=union("datasets"), seed=hp.seed, return_meta=return_meta, sampling=hp.sampling)
    if clip_len:
        kwargs["frames"] = clip_len
    else:
        kwargs["single_frames"] = True
    if training:
        kwargs.update(balance=hp.balance, domain_balance=domain_balance,
                      videos_per_domain=videos_per_domain, repeat=True)
        if hp.augment is not None:
            kwargs["augment"] = hp.augment
    kwargs.update(hp.pipeline_kwargs)
    convert = _to_targets(model)
    if not training:
        ds = get_dataset(files, hp.batch_size, False, **kwargs)
        return ds if return_meta else ds.map(convert)
    # building a pipeline reads every record's metadata once, so epoch 0 (a fresh run) reuses
    # the dataset made here for the epoch count
    first, info = get_dataset(files, hp.batch_size, True, return_info=True,
                                    **{**kwargs, "epoch": 0})
    if hp.steps_per_epoch is None:
        hp.steps_per_epoch = int(info["steps_per_epoch"])
    first = first.map(convert)

    def from_epoch(epoch: int) -> tf.data.Dataset:
        if epoch == 0:
            return first
        return get_dataset(files, hp.batch_size, True,
                                 **{**kwargs, "epoch": epoch}).map(convert)
    return from_epoch


def _first_dataset(data: tf.data.Dataset | Callable[[int], tf.data.Dataset]) -> tf.data.Dataset:
    return data(0) if callable(data) else data
