"""The CLRNet paper's learning strategies: single-domain, merge and transfer learning.

Merge learning (:func:`train_merge`; Tariq et al., WWW'21, Sec. 4.2.2 and 5.2.2: "we merge the
training data of DF with FS (750 + 750 = 1500 videos)") trains on the union of the domains'
training videos: every video once per epoch, the real class one class (the FF++ reals that
several FF++ domains share are one set of videos, DFD's actors' reals join them), real and fake
samples alternating with the minority class oversampled (``balance="batches"``, as the
official ``create_sequence`` alternates the classes). No per-domain balancing.

Transfer learning (:func:`train_transfer`; Sec. 4.2.3 and 5.2.3) fine-tunes a source model on
``k_videos`` real + ``k_videos`` fake training videos of every target domain and, with
``source_data``, of the source domain too: the official transfer folders
(``datasets/TransferLearning/<domain>/train`` of ``src/CLRNET_transfer_FS-DF-F2F-NT-DFD_train
.ipynb``) hold 10 real + 10 fake videos of all five domains, source included (the baselines'
notebooks count 8,000 frames = 5 domains x 20 videos x 80 frames). The videos are drawn once
with the protocol's split seed (``data_prep.splits.SPLIT_SEED``); domains that share the FF++
reals draw different real videos while enough remain.

How "the first half of the model layers" is frozen (:func:`freeze_layers`): the layers counted
are ``model.layers`` of the Keras functional model, the ``Input`` layer included and a nested
model counting as one layer; layers ``[0, len(model.layers) // 2)`` get ``trainable=False``
(CLRNet-50: 207 layers, the first 103 frozen). A frozen ``BatchNormalization`` runs in inference
mode in Keras 3 (a BN layer with ``trainable=False`` normalises with its moving mean and
variance and does not update them, also inside ``fit``). The official notebooks instead call
``FreezeBatchNormalization(top_k_layers=120)`` (``src/Utility_functions.py``), which leaves only
the last 120 layers trainable (87 of 207 frozen; ``top_k_layers=`` reproduces this count). Its
replacement of the BN layers by a frozen BN class rebinds a loop variable only, so no layer is
replaced and the BN layers are frozen through ``trainable=False`` alone; in the TF 1.13
``tf.keras`` the authors ran, ``trainable=False`` did not switch a BN layer to inference mode,
so their frozen BN layers most likely kept normalising with batch statistics during
fine-tuning (not run here).
"""

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
from clrnet.strategies.data import (
    Data,
    DataSpec,
    _first_dataset,
    check_data_shape,
    make_dataset,
    plan_summary,
)
from clrnet.strategies.hparams import HParams, resolve_hp
from clrnet.training import reuse


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
        seed=hp.seed, verbose=hp.verbose, bn_recalibration=hp.bn_recalibration)


def _prepare(run_dir: str | os.PathLike, hp: HParams) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    training.set_precision(hp.precision)
    reuse.set_random_seed(hp.seed)  # keeps the kernels of kept traced models
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


def merge_datasets(parts: list[tf.data.Dataset], seed: int) -> tf.data.Dataset:
    """The union of un-batched datasets, randomly interleaved, every element exactly once.

    ``tf.data.Dataset.sample_from_datasets`` with equal weights that goes on after a part runs
    out (``stop_on_empty_dataset=False``), so a larger domain is not cut to the smaller one's
    size.
    """
    if len(parts) == 1:
        return parts[0]
    return tf.data.Dataset.sample_from_datasets(
        parts, weights=[1.0 / len(parts)] * len(parts), seed=seed, stop_on_empty_dataset=False)


def _class_balance_default(hp: dict[str, Any]) -> dict[str, Any]:
    """``balance="batches"`` unless the caller chose a balance."""
    return {**hp, "balance": hp.get("balance") or "batches"}


def train_merge(model_name: str, domains: Mapping[str, Data], val: Data | None,
                run_dir: str | os.PathLike, *, domain_balance: bool = False,
                strategy: tf.distribute.Strategy | None = None, **hp: Any) -> StrategyResult:
    """Merge learning: train on the union of the domains' training videos.

    With :class:`DataSpec` domains the pipeline reads the union of their records, each video
    once per epoch (the FF++ reals shared by several FF++ domains once, not once per domain),
    and alternates real and fake samples with the minority class oversampled
    (``balance="batches"`` unless given). With ready datasets every element of every domain is
    used once per pass, randomly interleaved (:func:`merge_datasets`).

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        domains: ``{domain name: data}``.
        val: validation data (decides ``best.keras``): the training domains' val splits.
        run_dir: the run folder.
        domain_balance: also equalise the samples per domain within each class (the
            pipeline's ``domain_balance``; not the paper's merge, off by default).
        strategy: distribution strategy.
        **hp: :class:`HParams` fields.

    Returns:
        The trained model and its run; ``info["train_data"]`` lists videos and records per
        (dataset, method, label) of the first epoch (None for ready datasets).

    References:
        Tariq et al., WWW'21, Sec. 4.2.2 and 5.2.2.
    """
    if len(domains) < 1:
        raise ConfigError("merge learning needs at least one domain")
    h = resolve_hp(model_name, **_class_balance_default(hp))
    run_dir = _prepare(run_dir, h)
    strategy = strategy or training.get_strategy()
    probe = build_for_data(model_name, h)
    values = list(domains.values())
    info = None
    if all(isinstance(d, DataSpec) for d in values):
        train_ds, info = make_dataset(values, h, probe, training=True,
                                      domain_balance=domain_balance, return_info=True)
    elif all(isinstance(d, tf.data.Dataset) for d in values):
        parts = [make_dataset(d, h, probe, training=True).unbatch() for d in values]
        train_ds = merge_datasets(parts, h.seed).batch(h.batch_size)
    else:
        raise ConfigError("merge domains must be all DataSpec or all tf.data.Dataset")
    val_ds = make_dataset(val, h, probe, training=False) if val is not None else None
    fit = _fit(lambda: build_for_data(model_name, h), train_ds, val_ds, run_dir, h, strategy,
               probe)
    return StrategyResult(fit.model, run_dir, fit,
                          {"strategy": "merge", "domains": list(domains),
                           "train_data": plan_summary(info), "hp": asdict(h)})


def freeze_layers(model: keras.Model, freeze: str = "first_half",
                  top_k_layers: int | None = None) -> int:
    """Freeze the early layers of a model for transfer learning.

    Layers are counted on ``model.layers`` (the ``Input`` layer included, a nested model as one
    layer); a frozen ``BatchNormalization`` runs in inference mode (Keras 3). See the module
    docstring for how this compares with the official code.

    Args:
        model: the model (changed in place).
        freeze: ``"first_half"`` (layers ``[0, len(model.layers) // 2)``) or ``"none"``.
        top_k_layers: if given, overrides ``freeze``: only the last K layers stay trainable
            (the official notebooks' ``FreezeBatchNormalization(top_k_layers=120)``).

    Returns:
        The number of frozen layers (the ``Input`` layer counts as a layer).

    References:
        Tariq et al., WWW'21, Sec. 4.2.3 ("we set the first half of the model layers as
        untrainable") and 5.2.3 (CLRNet and all baselines).

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
                   per_label: bool = True, source_data: Data | None = None,
                   freeze: str = "first_half", top_k_layers: int | None = None,
                   strategy: tf.distribute.Strategy | None = None, **hp: Any) -> StrategyResult:
    """Transfer learning: fine-tune a source model on K real + K fake videos per domain.

    Args:
        source_model_path: ``.keras`` model trained on the source domain.
        target_domains: ``{domain: data}`` of the targets (their training splits).
        val: validation data (decides ``best.keras``): the training domains' val splits.
        run_dir: the run folder.
        k_videos: K; with :class:`DataSpec` data, K real + K fake videos of every target
            domain (``per_label``) and of ``source_data``, drawn once with the protocol's split
            seed; None uses every video. Ready datasets are used as given.
        per_label: K per class (True, the official folders' 10 real + 10 fake) or K videos per
            domain in all.
        source_data: the source domain's training data, mixed in with the same K (the official
            transfer folders hold the source domain's videos too); None = targets only.
        freeze: see :func:`freeze_layers`.
        top_k_layers: see :func:`freeze_layers`.
        strategy: distribution strategy.
        **hp: :class:`HParams` fields (the model's size comes from the source model;
            ``balance`` defaults to ``"batches"``).

    Returns:
        The fine-tuned model; ``info["frozen_layers"]`` says how many layers were frozen and
        ``info["train_data"]`` the videos per (dataset, method, label) it trained on.

    References:
        Tariq et al., WWW'21, Sec. 4.2.3, 5.2.3 and Table 2 (10 transfer videos per domain);
        official ``FreezeBatchNormalization`` in ``src/Utility_functions.py`` and
        ``src/CLRNET_transfer_FS-DF-F2F-NT-DFD_train.ipynb`` (see the module docstring).
    """
    source = load_source_model(source_model_path)
    spec = registry.spec_of(source)
    h = resolve_hp(spec.name if spec else None, transfer=True, **_class_balance_default(hp))
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
    info = None
    if all(isinstance(d, DataSpec) for d in values):
        train_ds, info = make_dataset(values, h, source, training=True,
                                      videos_per_domain=k_videos, per_label=per_label,
                                      return_info=True)
    elif all(isinstance(d, tf.data.Dataset) for d in values):
        parts = [make_dataset(d, h, source, training=True).unbatch() for d in values]
        train_ds = merge_datasets(parts, h.seed).batch(h.batch_size)
    else:
        raise ConfigError("transfer targets and source_data must be all DataSpec or all "
                          "tf.data.Dataset")
    val_ds = make_dataset(val, h, source, training=False) if val is not None else None
    fit = _fit(model_fn, train_ds, val_ds, run_dir, h, strategy, source)
    return StrategyResult(fit.model, run_dir, fit, {
        "strategy": "transfer", "source_model": str(source_model_path),
        "targets": list(target_domains), "k_videos": k_videos, "per_label": per_label,
        "source_data": source_data is not None, "frozen_layers": n_frozen,
        "layers": len(source.layers), "train_data": plan_summary(info),
        "reused_real_videos": sum(s["reused_videos"] for s in info["selections"])
        if info else None, "hp": asdict(h)})
