"""CLRNet training strategies: single domain, merge, transfer and the restricted grid search.

Follows Tariq et al., "One Detector to Rule Them All" (WWW'21):

* **single-domain learning** (Sec. 4.2.1, 5.2.1): train on one dataset's training split;
* **merge learning** (Sec. 4.2.2, 5.2.2, 6.2.3): train on the union of several domains with an
  equal number of samples from each (the pipeline's ``domain_balance``; see
  ``data_prep.sampling.balance_domains``);
* **transfer learning** (Sec. 4.2.3, 5.2.3): load a model fully trained on a source domain,
  freeze "the first half of the model layers", and train on a small subset (10 videos) of
  each target domain;
* **restricted grid search** (Algorithm 1, Sec. 4.3.3): for every pair (i, j) of a facial
  reenactment domain i and an identity-swap domain j, train TransferLearning(i, j) and
  MergeLearning(i, j), keep the better of the two, and return the best pair.

Hyper-parameters default to the official notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_*``;
reference models.md Sec. 1.4): Adam(5e-5), binary cross-entropy on the two-way softmax,
batches of 16 clips of 5 frames; every value can be overridden.

Interpretation choices (the paper leaves them open):

* "First half of the layers" is counted on ``model.layers`` of the Keras functional model
  (the ``Input`` layer included, nested models counting as one layer): layers
  ``[0, len // 2)`` are frozen. ``top_k_layers=K`` instead leaves only the last K layers
  trainable, as the official notebooks did (``FreezeBatchNormalization(top_k_layers=120)``:
  of the 207 CLRNet-50 layers, the first 87 are frozen). Frozen BatchNormalization layers run
  in inference mode (Keras 3 does this for any BN with ``trainable=False``), which is what the
  official code achieved through ``trainable=False`` as well.
* Algorithm 1 writes TransferLearning(i, j) without a direction; we take i (the reenactment
  domain) as the source trained by single-domain learning and j as the target
  (``transfer_source="swap"`` reverses it). "Performs better" and the final choice use the
  validation data given (the paper used its open-domain set), by ``metric`` (accuracy by
  default, as the paper's "highest classification accuracy"; ``"f1"`` and ``"auc"`` too).
  Source models are trained once per source domain and reused across pairs.
* Scores are per clip (the paper's unit); :func:`video_scores` aggregates them per video.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from clrnet import training
from clrnet.errors import ConfigError, EmptyDatasetError, InputShapeError, WeightsMismatchError

#: Official CLRNet training values (models.md Sec. 1.4), used when neither the caller nor
#: ``clrnet.models.MODEL_DEFAULTS`` give one.
OFFICIAL_HP: dict[str, Any] = {"lr": 5e-5, "batch_size": 16, "clip_len": 5, "epochs": 300}
REENACTMENT = ("Face2Face", "NeuralTextures")
IDENTITY_SWAP = ("Deepfakes", "FaceSwap", "DeepFakeDetection")


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


@dataclass
class HParams:
    """Resolved hyper-parameters of one training run (see :func:`resolve_hp`)."""

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
    monitor: str = "val_loss"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    balance: str | None = "weights"
    sampling: str = "all"
    augment: bool | None = None
    keep_checkpoints: int | None = 2
    resume: bool = False
    verbose: int | str = "auto"
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)


def _registry():
    import clrnet.models as registry
    return registry


def model_defaults(model_name: str) -> dict[str, Any]:
    """Official defaults of a registered model (``MODEL_DEFAULTS``), empty if none."""
    try:
        return dict(getattr(_registry(), "MODEL_DEFAULTS", {}).get(model_name, {}))
    except ImportError:
        return {}


def resolve_hp(model_name: str | None = None, *, transfer: bool = False, **hp: Any) -> HParams:
    """Fill hyper-parameters: caller values, then the model's official defaults, then CLRNet's.

    Args:
        model_name: registered model name whose ``MODEL_DEFAULTS`` apply (None: CLRNet's).
        transfer: use the model's transfer-learning epochs (``epochs_transfer``).
        **hp: any :class:`HParams` field; None values count as "not given".

    Returns:
        The resolved :class:`HParams`.

    Raises:
        ConfigError: an unknown hyper-parameter name.
    """
    known = set(HParams.__dataclass_fields__)
    unknown = sorted(set(hp) - known)
    if unknown:
        raise ConfigError(f"unknown hyper-parameter(s) {unknown}; known: {sorted(known)}")
    defaults = model_defaults(model_name) if model_name else {}
    aliases = {"epochs": ("epochs_transfer", "epochs") if transfer else ("epochs",),
               "batch_size": ("batch_size",), "lr": ("learning_rate", "lr"),
               "image_size": ("image_size", "input_size"), "clip_len": ("clip_length", "clip_len")}
    resolved: dict[str, Any] = {}
    for key, names in aliases.items():
        found = [n for n in names if n in defaults]
        if found:
            resolved[key] = defaults[found[0]]
        elif key in OFFICIAL_HP:
            resolved[key] = OFFICIAL_HP[key]
    resolved.update({k: v for k, v in hp.items() if v is not None})
    return HParams(**resolved)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def output_kind(model: keras.Model) -> str:
    """``"softmax2"`` for a (B, 2) head (index 1 = fake), ``"sigmoid"`` for (B, 1) = P(fake)."""
    try:
        return _registry().output_kind(model)
    except (ImportError, AttributeError):
        return "softmax2" if model.outputs[0].shape[-1] == 2 else "sigmoid"


def _registry_name(model: keras.Model) -> str | None:
    try:
        return _registry().registry_name(model)
    except (ImportError, AttributeError):
        return None


def is_clip_model(model: keras.Model) -> bool:
    """True for models taking clips (B, T, H, W, 3), False for frames (B, H, W, 3)."""
    return len(model.inputs[0].shape) == 5


def default_loss(model: keras.Model) -> Any:
    """The registry's loss for this model (``loss_for``), else binary cross-entropy."""
    try:
        return _registry().loss_for(model)
    except (ImportError, AttributeError):
        return "binary_crossentropy"


def build_for_data(model_name: str, hp: HParams) -> keras.Model:
    """Build a registered model whose input matches ``hp.image_size`` / ``hp.clip_len``.

    Raises:
        UnknownModelError: from the registry, for an unknown name.
    """
    overrides = dict(hp.model_overrides)
    if "input_shape" not in overrides and hp.image_size:
        s = int(hp.image_size)
        clip = hp.clip_len if hp.clip_len and hp.clip_len > 1 else None
        overrides["input_shape"] = (clip, s, s, 3) if clip else (s, s, 3)
    return _registry().build_model(model_name, **overrides)


def data_shape_for(model: keras.Model) -> tuple[int | None, int | None]:
    """(clip length or None for frame models, square image size) the model expects."""
    shape = model.inputs[0].shape
    if len(shape) == 5:
        return shape[1], shape[2]
    return None, shape[1]


def _to_targets(model: keras.Model) -> Callable[..., tuple]:
    """A ``tf.data`` map turning scalar labels (fake = 1) into the model's target format."""
    two_way = output_kind(model) == "softmax2"

    def convert(x, y, *rest):
        if y.shape.rank == 2 and y.shape[-1] == (2 if two_way else 1):
            return (x, tf.cast(y, tf.float32), *rest)
        y = tf.reshape(tf.cast(y, tf.float32), [-1])
        y = tf.one_hot(tf.cast(y, tf.int32), 2) if two_way else y[:, None]
        return (x, y, *rest)
    return convert


def check_input(model: keras.Model, ds: tf.data.Dataset, where: str) -> None:
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


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

def _get_dataset_fn() -> Callable[..., tf.data.Dataset]:
    from data_prep.pipeline import get_dataset
    return get_dataset


def _call_get_dataset(files: list[str], batch_size: int, training: bool, **kwargs: Any
                      ) -> tf.data.Dataset:
    """Call ``data_prep.pipeline.get_dataset`` with the keyword arguments it accepts."""
    fn = _get_dataset_fn()
    params = inspect.signature(fn).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    # The pipeline seeds every random op itself. Its training graph cannot be traced while a
    # TensorFlow *global* seed is set (tf.data shuffle with a tensor seed then fails), so the
    # global seed is lifted while the graph is built and set back to the run's seed after.
    tf.random.set_seed(None)
    try:
        return fn(files, batch_size, training, **kwargs)
    finally:
        if "seed" in kwargs:
            tf.random.set_seed(kwargs["seed"])


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
        ds = _call_get_dataset(files, hp.batch_size, False, **kwargs)
        return ds if return_meta else ds.map(convert)
    # building a pipeline reads every record's metadata once, so epoch 0 (a fresh run) reuses
    # the dataset made here for the epoch count
    first, info = _call_get_dataset(files, hp.batch_size, True, return_info=True,
                                    **{**kwargs, "epoch": 0})
    if hp.steps_per_epoch is None:
        hp.steps_per_epoch = int(info["steps_per_epoch"])
    first = first.map(convert)

    def from_epoch(epoch: int) -> tf.data.Dataset:
        if epoch == 0:
            return first
        return _call_get_dataset(files, hp.batch_size, True,
                                 **{**kwargs, "epoch": epoch}).map(convert)
    return from_epoch


def _first_dataset(data: tf.data.Dataset | Callable[[int], tf.data.Dataset]) -> tf.data.Dataset:
    return data(0) if callable(data) else data


# --------------------------------------------------------------------------------------------
# Training strategies
# --------------------------------------------------------------------------------------------

@dataclass
class StrategyResult:
    """A trained model with its run folder and training summary."""

    model: keras.Model
    run_dir: Path
    fit: training.FitResult | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _compile_kwargs(model: keras.Model, hp: HParams) -> dict[str, Any]:
    return {"optimizer": keras.optimizers.Adam(learning_rate=hp.lr, beta_1=0.9, beta_2=0.999),
            "loss": default_loss(model), "metrics": ["accuracy"]}


def _fit(model_fn: Callable[[], keras.Model], train_ds, val_ds, run_dir: Path, hp: HParams,
         strategy: tf.distribute.Strategy | None, probe: keras.Model) -> training.FitResult:
    """Check shapes against ``probe`` (a model like the one ``model_fn`` builds), then fit."""
    check_input(probe, _first_dataset(train_ds), "training data")
    if val_ds is not None:
        check_input(probe, val_ds, "validation data")
    compile_kwargs = _compile_kwargs(probe, hp)
    if hp.steps_per_epoch is None and callable(train_ds):
        train_ds = train_ds(0)  # no resumable pipeline: let Keras count the epoch
    return training.fit_model(
        model_fn, train_ds, val_ds, run_dir, epochs=hp.epochs, resume=hp.resume,
        monitor=hp.monitor, patience=hp.patience, compile_kwargs=compile_kwargs,
        strategy=strategy, steps_per_epoch=hp.steps_per_epoch,
        validation_steps=hp.validation_steps, keep_checkpoints=hp.keep_checkpoints,
        seed=hp.seed, verbose=hp.verbose)


def _prepare(run_dir: str | os.PathLike, hp: HParams) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    training.set_precision(hp.precision)
    keras.utils.set_random_seed(hp.seed)
    return run_dir


def train_single(model_name: str, train: Data, val: Data | None, run_dir: str | os.PathLike,
                 *, strategy: tf.distribute.Strategy | None = None, **hp: Any) -> StrategyResult:
    """Single-domain learning: train a registered model on one training selection.

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        train: the training data.
        val: validation data (decides ``best.keras``); never the test split.
        run_dir: the run folder.
        strategy: distribution strategy (default: :func:`clrnet.training.get_strategy`).
        **hp: :class:`HParams` fields (epochs, batch_size, lr, image_size, clip_len, seed,
            precision, steps_per_epoch, model_overrides, patience, ...).

    Returns:
        The trained model and its run.

    References:
        Tariq et al., WWW'21, Sec. 4.2.1 and 5.2.1.
    """
    h = resolve_hp(model_name, **hp)
    run_dir = _prepare(run_dir, h)
    strategy = strategy or training.get_strategy()
    probe = build_for_data(model_name, h)
    train_ds = make_dataset(train, h, probe, training=True)
    val_ds = make_dataset(val, h, probe, training=False) if val is not None else None
    fit = _fit(lambda: build_for_data(model_name, h), train_ds, val_ds, run_dir, h, strategy,
               probe)
    return StrategyResult(fit.model, run_dir, fit, {"strategy": "single", "hp": asdict(h)})


def train_merge(model_name: str, domains: Mapping[str, Data], val: Data | None,
                run_dir: str | os.PathLike, *, strategy: tf.distribute.Strategy | None = None,
                **hp: Any) -> StrategyResult:
    """Merge learning: train on the union of several domains, equal samples per domain.

    With :class:`DataSpec` domains the union goes through the pipeline with
    ``domain_balance=True`` (each fake method, and the real class, contributes as many clips
    as the smallest domain of its class, redrawn every epoch). With ready datasets, the
    domains are interleaved with equal probabilities (``tf.data.Dataset.sample_from_datasets``)
    until the smallest is exhausted.

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        domains: ``{domain name: data}``; at least two.
        val: validation data.
        run_dir: the run folder.
        strategy: distribution strategy.
        **hp: :class:`HParams` fields.

    Returns:
        The trained model and its run.

    References:
        Tariq et al., WWW'21, Sec. 4.2.2, 5.2.2 and 6.2.3.
    """
    if len(domains) < 1:
        raise ConfigError("merge learning needs at least one domain")
    h = resolve_hp(model_name, **hp)
    run_dir = _prepare(run_dir, h)
    strategy = strategy or training.get_strategy()
    probe = build_for_data(model_name, h)
    values = list(domains.values())
    if all(isinstance(d, DataSpec) for d in values):
        train_ds = make_dataset(values, h, probe, training=True, domain_balance=True)
    elif all(isinstance(d, tf.data.Dataset) for d in values):
        parts = [make_dataset(d, h, probe, training=True).unbatch() for d in values]
        train_ds = tf.data.Dataset.sample_from_datasets(
            parts, weights=[1.0 / len(parts)] * len(parts), seed=h.seed,
            stop_on_empty_dataset=True).batch(h.batch_size)
    else:
        raise ConfigError("merge domains must be all DataSpec or all tf.data.Dataset")
    val_ds = make_dataset(val, h, probe, training=False) if val is not None else None
    fit = _fit(lambda: build_for_data(model_name, h), train_ds, val_ds, run_dir, h, strategy,
               probe)
    return StrategyResult(fit.model, run_dir, fit,
                          {"strategy": "merge", "domains": list(domains), "hp": asdict(h)})


def freeze_layers(model: keras.Model, freeze: str = "first_half",
                  top_k_layers: int | None = None) -> int:
    """Freeze the early layers of a model for transfer learning.

    Args:
        model: the model (changed in place).
        freeze: ``"first_half"`` (layers ``[0, len(model.layers) // 2)``) or ``"none"``.
        top_k_layers: if given, overrides ``freeze``: only the last K layers stay trainable
            (the official notebooks' ``FreezeBatchNormalization(top_k_layers=120)``).

    Returns:
        The number of frozen layers (the ``Input`` layer counts as a layer).

    Raises:
        ConfigError: an unknown ``freeze`` mode or a K outside ``[1, len(layers)]``.
    """
    layers = model.layers
    if top_k_layers is not None:
        if not 1 <= top_k_layers <= len(layers):
            raise ConfigError(f"top_k_layers={top_k_layers} outside 1..{len(layers)} for model "
                              f"{model.name!r}")
        n_frozen = len(layers) - top_k_layers
    elif freeze == "first_half":
        n_frozen = len(layers) // 2
    elif freeze == "none":
        n_frozen = 0
    else:
        raise ConfigError(f"unknown freeze mode {freeze!r}; use first_half or none")
    for i, layer in enumerate(layers):
        layer.trainable = i >= n_frozen
    return n_frozen


def load_source_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` source model (registering this package's custom objects first).

    Raises:
        WeightsMismatchError: a missing file or one that is not a loadable Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMismatchError(f"source model not found: {path}")
    try:
        _registry()
    except ImportError:
        pass
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsMismatchError(f"{path}: not a loadable .keras model ({msg[:200]})") from None


def train_transfer(source_model_path: str | os.PathLike, target_domains: Mapping[str, Data],
                   val: Data | None, run_dir: str | os.PathLike, *, k_videos: int | None = 10,
                   freeze: str = "first_half", top_k_layers: int | None = None,
                   source_data: Data | None = None,
                   strategy: tf.distribute.Strategy | None = None, **hp: Any) -> StrategyResult:
    """Transfer learning: fine-tune a source model on K videos per target domain.

    Args:
        source_model_path: ``.keras`` model trained on the source domain.
        target_domains: ``{domain: data}`` of the targets.
        val: validation data.
        run_dir: the run folder.
        k_videos: videos per target domain (pipeline ``videos_per_domain``); None uses all.
            Only applies to :class:`DataSpec` targets (ready datasets are used as given).
        freeze: see :func:`freeze_layers`.
        top_k_layers: see :func:`freeze_layers`.
        source_data: optional source-domain data mixed in (as the official notebooks did).
        strategy: distribution strategy.
        **hp: :class:`HParams` fields (the model's size comes from the source model).

    Returns:
        The fine-tuned model; ``info["frozen_layers"]`` says how many layers were frozen.

    References:
        Tariq et al., WWW'21, Sec. 4.2.3 and 5.2.3; official ``FreezeBatchNormalization`` in
        ``src/Utility_functions.py`` (models.md Sec. 1.5).
    """
    source = load_source_model(source_model_path)
    h = resolve_hp(_registry_name(source), transfer=True, **hp)
    run_dir = _prepare(run_dir, h)
    strategy = strategy or training.get_strategy()
    source_json = source.to_json()
    source_weights = source.get_weights()
    n_frozen = freeze_layers(source, freeze, top_k_layers)

    def model_fn() -> keras.Model:
        model = keras.models.model_from_json(source_json)
        model.set_weights(source_weights)
        freeze_layers(model, freeze, top_k_layers)
        return model

    values = list(target_domains.values())
    if source_data is not None:
        values = [*values, source_data]
    if all(isinstance(d, DataSpec) for d in values):
        specs = list(target_domains.values())
        train_ds = make_dataset(specs, h, source, training=True, videos_per_domain=k_videos)
        if source_data is not None:
            src = make_dataset(source_data, h, source, training=True)
            train_ds = tf.data.Dataset.sample_from_datasets(
                [_first_dataset(train_ds).unbatch(), _first_dataset(src).unbatch()],
                seed=h.seed).batch(h.batch_size)
    elif all(isinstance(d, tf.data.Dataset) for d in values):
        parts = [make_dataset(d, h, source, training=True).unbatch() for d in values]
        train_ds = parts[0] if len(parts) == 1 else tf.data.Dataset.sample_from_datasets(
            parts, seed=h.seed)
        train_ds = train_ds.batch(h.batch_size)
    else:
        raise ConfigError("transfer targets must be all DataSpec or all tf.data.Dataset")
    val_ds = make_dataset(val, h, source, training=False) if val is not None else None
    fit = _fit(model_fn, train_ds, val_ds, run_dir, h, strategy, source)
    return StrategyResult(fit.model, run_dir, fit, {
        "strategy": "transfer", "source_model": str(source_model_path),
        "targets": list(target_domains), "k_videos": k_videos, "frozen_layers": n_frozen,
        "layers": len(source.layers), "hp": asdict(h)})


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

def fake_scores(model: keras.Model, outputs: np.ndarray) -> np.ndarray:
    """P(fake) per sample from raw model outputs (index 1 of a two-way softmax, or the sigmoid)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if output_kind(model) == "softmax2":
        return outputs[:, 1]
    return outputs.reshape(len(outputs), -1)[:, 0]


def _meta_value(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)


def evaluate(model: keras.Model, data: Data, batch_size: int = 16, **hp: Any) -> pd.DataFrame:
    """Score every clip (or frame, for frame models) of an evaluation set.

    Args:
        model: a trained model of this package.
        data: a :class:`DataSpec` (evaluation pipeline with metadata), or a dataset yielding
            ``(x, y, meta)`` or ``(x, y)`` batches (``y`` scalar labels, fake = 1).
        batch_size: clips per batch.
        **hp: further :class:`HParams` for the pipeline (seed, pipeline_kwargs).

    Returns:
        One row per sample: ``video_id``, ``method``, ``clip_index``, ``label`` (fake = 1) and
        ``score`` = P(fake).

    References:
        Tariq et al., WWW'21, Sec. 5.1.2 (clip-level evaluation).
    """
    h = resolve_hp(None, batch_size=batch_size, **hp)
    if isinstance(data, DataSpec):
        ds = make_dataset(data, h, model, training=False, return_meta=True)
    elif isinstance(data, tf.data.Dataset):
        ds = data
    else:
        raise ConfigError(f"cannot evaluate on {type(data).__name__}; give a DataSpec or dataset")
    rows: list[dict[str, Any]] = []
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for batch in ds:
        x, y = batch[0], batch[1]
        meta = batch[2] if len(batch) > 2 and isinstance(batch[2], Mapping) else {}
        y = np.asarray(y)
        labels = y.argmax(-1) if y.ndim == 2 and y.shape[-1] == 2 else y.reshape(len(y))
        scores = fake_scores(model, predict(x).numpy())
        n = len(scores)
        cols = {k: np.asarray(v).reshape(n) for k, v in meta.items()}
        for i in range(n):
            row = {k: _meta_value(v[i]) for k, v in cols.items()}
            row.update(label=int(labels[i]), score=float(scores[i]))
            rows.append(row)
    if not rows:
        raise EmptyDatasetError("evaluation data holds no samples")
    df = pd.DataFrame(rows)
    for col in ("video_id", "method", "clip_index"):
        if col not in df:
            df[col] = np.arange(len(df)) if col == "video_id" else ("" if col == "method" else 0)
    first = ["video_id", "method", "clip_index", "label", "score"]
    return df[first + [c for c in df.columns if c not in first]]


def video_scores(df: pd.DataFrame, agg: str = "mean") -> pd.DataFrame:
    """Aggregate clip scores per video.

    Args:
        df: the output of :func:`evaluate`.
        agg: ``"mean"``, ``"median"``, ``"max"`` or ``"vote"`` (fraction of clips > 0.5, as
            MesoNet's video score).

    Returns:
        One row per video: ``video_id``, ``method``, ``label``, ``score``, ``n_clips``.
    """
    keys = [c for c in ("dataset", "method", "video_id") if c in df]
    funcs: dict[str, Callable[[pd.Series], float]] = {
        "mean": np.mean, "median": np.median, "max": np.max,
        "vote": lambda s: float(np.mean(np.asarray(s) > 0.5))}
    if agg not in funcs:
        raise ConfigError(f"unknown aggregation {agg!r}; use one of {sorted(funcs)}")
    g = df.groupby(keys, sort=True)
    out = g.agg(label=("label", "max"), score=("score", funcs[agg]),
                n_clips=("score", "size")).reset_index()
    return out


def score_frame(df: pd.DataFrame, metric: str = "accuracy") -> float:
    """Accuracy (threshold 0.5), F1 of the fake class, or ROC AUC of clip scores."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    y, s = df["label"].to_numpy(), df["score"].to_numpy()
    if metric == "accuracy":
        return float(accuracy_score(y, s > 0.5))
    if metric == "f1":
        return float(f1_score(y, s > 0.5, zero_division=0))
    if metric == "auc":
        return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")
    raise ConfigError(f"unknown metric {metric!r}; use accuracy, f1 or auc")


# --------------------------------------------------------------------------------------------
# Algorithm 1: restricted grid search
# --------------------------------------------------------------------------------------------

@dataclass
class GridSearchResult:
    """Outcome of :func:`restricted_grid_search`.

    Attributes:
        pair: the chosen (reenactment domain, identity-swap domain).
        strategy: ``"transfer"`` or ``"merge"`` for the chosen pair.
        model: its trained model.
        score: its validation score.
        table: one row per (pair, strategy) with the validation score and run folder.
    """

    pair: tuple[str, str]
    strategy: str
    model: keras.Model
    score: float
    table: pd.DataFrame


def restricted_grid_search(model_name: str, reenactment_domains: Mapping[str, Data],
                           swap_domains: Mapping[str, Data], val: Data,
                           run_dir: str | os.PathLike, *, metric: str = "accuracy",
                           k_videos: int | None = 10, transfer_source: str = "reenactment",
                           freeze: str = "first_half", top_k_layers: int | None = None,
                           source_hp: Mapping[str, Any] | None = None,
                           strategy: tf.distribute.Strategy | None = None,
                           **hp: Any) -> GridSearchResult:
    """Algorithm 1 of the CLRNet paper: best (reenactment, identity swap) combination.

    For every i in ``reenactment_domains`` and j in ``swap_domains``: T = TransferLearning(i, j)
    (source model trained on one of them by single-domain learning, transferred to the
    other), M = MergeLearning(i, j); the better of T and M on ``val`` joins C; the result is
    the best member of C.

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        reenactment_domains: ``{name: data}`` (paper: F2F, NT).
        swap_domains: ``{name: data}`` (paper: DF, FS, DFD).
        val: the validation data that decides (the paper used its open-domain set).
        run_dir: parent folder; each training gets a sub-folder.
        metric: ``"accuracy"`` (paper), ``"f1"`` or ``"auc"`` on clip scores.
        k_videos: videos per target domain for the transfer step.
        transfer_source: ``"reenactment"`` (i → j) or ``"swap"`` (j → i).
        freeze: see :func:`freeze_layers`.
        top_k_layers: see :func:`freeze_layers`.
        source_hp: hyper-parameters overriding ``hp`` for the source (single-domain) runs.
        strategy: distribution strategy.
        **hp: :class:`HParams` fields for every run.

    Returns:
        A :class:`GridSearchResult`.

    References:
        Tariq et al., WWW'21, Sec. 4.3.3 and Algorithm 1.
    """
    if not reenactment_domains or not swap_domains:
        raise ConfigError("restricted grid search needs at least one reenactment and one "
                          "identity-swap domain")
    if transfer_source not in ("reenactment", "swap"):
        raise ConfigError(f"transfer_source must be reenactment or swap, got {transfer_source!r}")
    run_dir = Path(run_dir)
    batch_size = resolve_hp(model_name, **hp).batch_size
    sources: dict[str, Path] = {}

    def source_model(name: str, data: Data) -> Path:
        if name not in sources:
            res = train_single(model_name, data, val, run_dir / f"source-{name}",
                               strategy=strategy, **{**hp, **(source_hp or {})})
            sources[name] = res.run_dir / "final.keras"
        return sources[name]

    rows, candidates = [], []
    pairs = [(i, j) for i in reenactment_domains for j in swap_domains]
    for i, j in tqdm(pairs, desc="restricted grid search", unit="pair"):
        data_i, data_j = reenactment_domains[i], swap_domains[j]
        (s_name, s_data), (t_name, t_data) = ((i, data_i), (j, data_j))
        if transfer_source == "swap":
            (s_name, s_data), (t_name, t_data) = (t_name, t_data), (s_name, s_data)
        src_path = source_model(s_name, s_data)
        t = train_transfer(src_path, {t_name: t_data}, val,
                           run_dir / f"transfer-{s_name}-to-{t_name}", k_videos=k_videos,
                           freeze=freeze, top_k_layers=top_k_layers, strategy=strategy, **hp)
        t_score = score_frame(evaluate(t.model, val, batch_size, seed=hp.get("seed", 0)),
                              metric)
        m = train_merge(model_name, {i: data_i, j: data_j}, val,
                        run_dir / f"merge-{i}-{j}", strategy=strategy, **hp)
        m_score = score_frame(evaluate(m.model, val, batch_size, seed=hp.get("seed", 0)),
                              metric)
        rows += [{"reenactment": i, "swap": j, "strategy": "transfer", metric: t_score,
                  "run_dir": str(t.run_dir)},
                 {"reenactment": i, "swap": j, "strategy": "merge", metric: m_score,
                  "run_dir": str(m.run_dir)}]
        better = ("transfer", t, t_score) if t_score > m_score else ("merge", m, m_score)
        candidates.append(((i, j), *better))
    best = max(candidates, key=lambda c: c[3])
    table = pd.DataFrame(rows)
    table["chosen"] = [(r["reenactment"], r["swap"]) == best[0] and r["strategy"] == best[1]
                       for r in rows]
    run_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(run_dir / "grid_search.csv", index=False)
    training.write_json_atomic(run_dir / "grid_search.json", {
        "pair": list(best[0]), "strategy": best[1], metric: best[3], "metric": metric})
    return GridSearchResult(pair=best[0], strategy=best[1], model=best[2].model, score=best[3],
                            table=table)
