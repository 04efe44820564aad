"""What the strategies train and evaluate on: selections of clip records and their pipelines.

A :class:`DataSpec` names a record source, filters and a split rule (``data_prep.splits``: the
protocol's split, assigned when the records are read, so one extraction serves every table).
Several specs read together form the union of their records, each record once
(:func:`make_dataset`, through ``data_prep.pipeline.Selection``): merged domains that share
the FF++ real videos count each real video once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from clrnet import registry
from clrnet.errors import ConfigError, EmptyDatasetError, InputShapeError
from clrnet.scoring import targets_for
from clrnet.strategies.hparams import HParams
from data_prep import splits as split_rules
from data_prep.pipeline import Selection, file_filters, get_dataset


@dataclass(frozen=True)
class DataSpec:
    """Which clips to read: a TFRecord folder, manifest or file list plus filters.

    Args:
        source: a manifest, an output folder of ``python -m data_prep extract``, or a list of
            ``.tfrecord`` shard paths.
        methods: method names to keep (``"original"`` is the real class in FF++), None = all.
        splits: split names to keep (as ``split_rule`` assigns them), None = all.
        datasets: dataset names to keep, None = all.
        split_rule: how the videos are split, a rule of ``data_prep.splits.RULES``
            (``"tariq_ffpp"``, ``"tariq_dfd"``, ``"tariq_dfdc"``, ``"dfw_test"``,
            ``"celebdf_official"``, ``"ffpp_official"``, ...), applied to the records' metadata
            when they are read; None (or a stored-split rule such as ``"ffpp_official"``) keeps
            the split stored in the records.
    """

    source: str | os.PathLike | tuple[str, ...]
    methods: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = ("train",)
    datasets: tuple[str, ...] | None = None
    split_rule: str | None = None

    def __post_init__(self) -> None:
        for name in ("methods", "splits", "datasets"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None:
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.source, list):
            object.__setattr__(self, "source", tuple(str(s) for s in self.source))
        try:
            split_rules.check_rule(self.split_rule)
        except split_rules.SplitError as exc:
            raise ConfigError(str(exc)) from None

    def describe(self) -> str:
        """One-line description for messages."""
        src = f"{len(self.source)} files" if isinstance(self.source, tuple) else str(self.source)
        return (f"{src} (methods={list(self.methods) if self.methods else 'all'}, "
                f"splits={list(self.splits) if self.splits else 'all'}"
                + (f", datasets={list(self.datasets)}" if self.datasets else "")
                + (f", split_rule={self.split_rule}" if self.split_rule else "") + ")")

    def selection(self, k_videos: int | None = None, per_label: bool = True,
                  files: list[str] | None = None) -> Selection:
        """This spec as a pipeline :class:`~data_prep.pipeline.Selection`.

        Args:
            k_videos: keep K videos per class (transfer learning); None = all.
            per_label: K real + K fake (True) or K videos in all.
            files: restrict it to these shard files (its own, when specs of several sources
                are read together).
        """
        return Selection(methods=self.methods, splits=self.splits, datasets=self.datasets,
                         split_rule=self.split_rule, k_videos=k_videos, per_label=per_label,
                         files=None if files is None else tuple(files))

    def is_test(self) -> bool:
        """Whether this selection reads test data (a ``test`` split, or every video is test)."""
        return self.split_rule == "dfw_test" or self.splits is None or "test" in self.splits

    def files(self) -> list[str]:
        """The shard files of this selection (every stored split when the rule re-assigns).

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
            files = select_records(self.source, **file_filters([self.selection()]))
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




def official_augment(model: keras.Model) -> bool:
    """Whether the model's official training augments (``ModelSpec.augment``; False for
    models the registry did not build)."""
    spec = registry.spec_of(model)
    return bool(spec.augment) if spec is not None else False




def make_dataset(data: Data | Sequence[DataSpec], hp: HParams, model: keras.Model, *,
                 training: bool, domain_balance: bool = False,
                 videos_per_domain: int | None = None, per_label: bool = True,
                 return_meta: bool = False, return_info: bool = False):
    """Turn a :data:`Data` into batches the model can fit on (targets converted).

    Several :class:`DataSpec` s are read as the union of their records (each record once,
    each spec with its own filters and split rule).

    Args:
        data: a :class:`DataSpec` (or several: their union), a dataset, or ``f(epoch)``.
        hp: hyper-parameters (batch size, seed, image size, ...). ``hp.augment`` None means
            the model's official choice (:func:`official_augment`).
        model: the model (its input decides frames vs clips and the size).
        training: training pipeline (shuffle, augmentation, balance) or evaluation.
        domain_balance: equal samples per domain within each class (an option of the
            pipeline; merge learning does not use it).
        videos_per_domain: K videos of every spec (transfer learning): K real + K fake with
            ``per_label``, else K in all; drawn once with the protocol's split seed.
        per_label: see ``videos_per_domain``.
        return_meta: yield ``(x, y, meta)`` (evaluation).
        return_info: also return the pipeline's info dict (``plan``, ``selections``, counts;
            None for ready datasets).

    Returns:
        A dataset, or for training a callable ``f(initial_epoch)`` when the pipeline can start
        at a given epoch; with ``return_info`` a ``(data, info)`` pair.
    """
    if isinstance(data, tf.data.Dataset):
        out = data if return_meta else data.map(_to_targets(model))
        return (out, None) if return_info else out
    if callable(data) and not isinstance(data, DataSpec):
        convert = _to_targets(model)
        out = lambda epoch: data(epoch).map(convert)  # noqa: E731
        return (out, None) if return_info else out
    specs = [data] if isinstance(data, DataSpec) else list(data)
    if not specs or not all(isinstance(s, DataSpec) for s in specs):
        raise ConfigError("data must be a DataSpec, a sequence of DataSpecs, a tf.data.Dataset "
                          "or a callable")
    per_spec = [s.files() for s in specs]
    files = sorted({f for fs in per_spec for f in fs})
    clip_len, size = data_shape_for(model)
    selections = [s.selection(videos_per_domain, per_label, fs)
                  for s, fs in zip(specs, per_spec, strict=True)]
    kwargs: dict[str, Any] = dict(image_size=size, selections=selections, seed=hp.seed,
                                  return_meta=return_meta, sampling=hp.sampling)
    if clip_len:
        kwargs["frames"] = clip_len
    else:
        kwargs["single_frames"] = True
    if training:
        kwargs.update(balance=hp.balance, domain_balance=domain_balance, repeat=True,
                      augment=official_augment(model) if hp.augment is None else hp.augment)
    kwargs.update(hp.pipeline_kwargs)
    convert = _to_targets(model)
    if not training:
        if hp.val_clips_per_video:  # the first clips of each video (as the test scoring)
            kwargs.update(sampling="clrnet", clips_per_video=int(hp.val_clips_per_video))
        ds, info = get_dataset(files, hp.batch_size, False, return_info=True, **kwargs)
        ds = ds if return_meta else ds.map(convert)
        return (ds, info) if return_info else ds
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
    return (from_epoch, info) if return_info else from_epoch


def plan_summary(info: dict | None) -> list[dict[str, Any]] | None:
    """Videos and samples per (dataset, method, label) of a pipeline's first epoch.

    Args:
        info: :func:`make_dataset`'s info (None for ready datasets).

    Returns:
        JSON-ready rows (``dataset``, ``method``, ``label``, ``videos``, ``records``), or None.
    """
    if info is None:
        return None
    plan = info["plan"]
    groups = plan.groupby(["dataset", "method", "label"], sort=True)
    return [{"dataset": d, "method": m, "label": int(lab),
             "videos": int(g["video_id"].nunique()), "records": len(g)}
            for (d, m, lab), g in groups]


def _first_dataset(data: tf.data.Dataset | Callable[[int], tf.data.Dataset]) -> tf.data.Dataset:
    return data(0) if callable(data) else data
