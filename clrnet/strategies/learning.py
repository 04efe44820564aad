"""The CLRNet paper's learning strategies: single-domain, merge and transfer learning."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from clrnet import registry, training
from clrnet.errors import ConfigError
from clrnet.scoring import loss_for
from clrnet.strategies.data import Data, DataSpec, _first_dataset, check_data_shape, make_dataset
from clrnet.strategies.hparams import HParams, resolve_hp


def build_for_data(model_name: str, hp: HParams) -> keras.Model:
    """Build a registered model whose input matches ``hp.image_size`` / ``hp.clip_len``.

    Raises:
        UnknownModelError: from the registry, for an unknown name.
    """
    clip = hp.clip_len if hp.clip_len and hp.clip_len > 1 else None
    return registry.build_model(model_name, input_size=hp.image_size, clip_len=clip,
                                **hp.model_overrides)


@dataclass
class StrategyResult:
    """A trained model with its run folder and training summary."""

    model: keras.Model
    run_dir: Path
    fit: training.FitResult | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _compile_kwargs(model: keras.Model, hp: HParams) -> dict[str, Any]:
    return {"optimizer": keras.optimizers.Adam(learning_rate=hp.lr, beta_1=0.9, beta_2=0.999),
            "loss": loss_for(model), "metrics": ["accuracy"]}


def _fit(model_fn: Callable[[], keras.Model], train_ds, val_ds, run_dir: Path, hp: HParams,
         strategy: tf.distribute.Strategy | None, probe: keras.Model) -> training.FitResult:
    """Check shapes against ``probe`` (a model like the one ``model_fn`` builds), then fit."""
    check_data_shape(probe, _first_dataset(train_ds), "training data")
    if val_ds is not None:
        check_data_shape(probe, val_ds, "validation data")
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
    """Load a ``.keras`` source model through :func:`clrnet.registry.load_model` (uncompiled).

    Raises:
        WeightsError: a missing file or one that is not a loadable Keras model.
    """
    return registry.load_model(path, compile=False)


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
    spec = registry.spec_of(source)
    h = resolve_hp(spec.name if spec else None, transfer=True, **hp)
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
