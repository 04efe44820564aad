"""BatchNormalization statistics of briefly trained models ("precise BN").

A BatchNormalization layer evaluates with moving averages of its batch statistics; at Keras'
momentum 0.99 they still hold ``0.99 ** N`` of their initial values (mean 0, variance 1) after N
training steps. After a few dozen steps (the quick profile, a transfer run of a few batches) the
stored statistics are far from the network's real ones and the model in evaluation mode gives
nearly the same output for every input. Measured on the CLRNet quick tables (mini benchmark, FS
only): Xception after 90 steps output P(fake) 0.537 +- 0.0003 for every clip; its stored
variances were a median 103x the true ones.

:func:`recalibrate_batchnorm` replaces the moving statistics by the average of the batch
statistics over a few training batches (dropout off, weights untouched), and
:class:`BatchNormRecalibration` does it before every validation pass and when training ends, so
the checkpoint chosen on validation data is judged with meaningful statistics. A fully trained
model (the papers' protocol: hundreds of epochs) does not need it; the full profile leaves it
off.

References:
    Ioffe and Szegedy, "Batch Normalization", ICML'15 (population statistics for inference);
    Wu and Johnson, "Rethinking 'Batch' in BatchNorm", arXiv 2105.07576 ("precise BN").
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

__all__ = ["BatchNormRecalibration", "recalibrate_batchnorm"]


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model``, nested models and wrapped layers (TimeDistributed) included."""
    out, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        out.append(layer)
        inner = getattr(layer, "layer", None)  # TimeDistributed / Bidirectional
        stack.extend(getattr(layer, "layers", []) + ([inner] if inner is not None else []))
    return out


def _inputs(batch: Any) -> Any:
    return batch[0] if isinstance(batch, tuple | list) else batch


def _trainable_bns(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in _layers(model)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def _once_per_pass(model: keras.Model) -> bool:
    """Whether every BatchNormalization runs once per forward pass: none sits inside a
    ``TimeDistributed`` / ``Bidirectional`` wrapper (which may call it once per time step) or is
    called at several places of the graph."""
    stack = [(layer, False) for layer in model.layers]
    while stack:
        layer, wrapped = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization) and (
                wrapped or len(getattr(layer, "_inbound_nodes", ())) > 1):
            return False
        inner = getattr(layer, "layer", None)
        stack.extend((sub, wrapped) for sub in getattr(layer, "layers", []))
        if inner is not None:
            stack.append((inner, True))
    return True


def _eager_average(model: keras.Model, batches: Iterable, max_batches: int | None) -> int:
    """The running average by momentum ``i / (i + 1)`` for batch ``i``, one eager call per batch
    (exact for every layer structure, including BatchNormalization inside wrappers)."""
    layers = _layers(model)
    bns = _trainable_bns(model)
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [bn.momentum for bn in bns], [d.rate for d in drops]
    used = 0
    try:
        for d in drops:
            d.rate = 0.0
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            for bn in bns:
                bn.momentum = i / (i + 1.0)
            model(_inputs(batch), training=True)
            used += 1
    finally:
        for bn, m in zip(bns, momenta, strict=True):
            bn.momentum = m
        for d, r in zip(drops, rates, strict=True):
            d.rate = r
    return used


class _BatchStatistics:
    """Recalibration passes of one model: a compiled forward pass when every BatchNormalization
    runs once per pass, else one eager call per batch (:func:`_eager_average`).

    The compiled pass runs in training mode with every momentum at 0 and every dropout rate at 0
    while it is traced (once per model and input signature: the values are baked into the
    graph) and while it runs, so after each batch the moving statistics hold that batch's
    statistics, which are averaged; momenta and rates are restored afterwards. Weights are never
    changed.
    """

    def __init__(self, model: keras.Model) -> None:
        import tensorflow as tf

        self.model = model
        self.bns = _trainable_bns(model)
        self.drops = [layer for layer in _layers(model) if isinstance(layer, keras.layers.Dropout)]
        self.compiled = _once_per_pass(model)
        self._forward = (tf.function(lambda x: model(x, training=True), reduce_retracing=True)
                         if self.compiled else None)

    def run(self, batches: Iterable, max_batches: int | None) -> int:
        """Average the batch statistics of up to ``max_batches`` batches into the moving ones."""
        if not self.compiled:
            return _eager_average(self.model, batches, max_batches)
        momenta, rates = [bn.momentum for bn in self.bns], [d.rate for d in self.drops]
        sums: list[list[np.ndarray]] = [[np.zeros(()), np.zeros(())] for _ in self.bns]
        used = 0
        try:
            for bn in self.bns:
                bn.momentum = 0.0
            for d in self.drops:
                d.rate = 0.0
            for batch in batches:
                if max_batches is not None and used >= max_batches:
                    break
                self._forward(_inputs(batch))
                for acc, bn in zip(sums, self.bns, strict=True):
                    acc[0] = acc[0] + np.asarray(bn.moving_mean)
                    acc[1] = acc[1] + np.asarray(bn.moving_variance)
                used += 1
        finally:
            for bn, m in zip(self.bns, momenta, strict=True):
                bn.momentum = m
            for d, r in zip(self.drops, rates, strict=True):
                d.rate = r
        if used:
            for (mean, var), bn in zip(sums, self.bns, strict=True):
                bn.moving_mean.assign(mean / used)
                bn.moving_variance.assign(var / used)
        return used


#: one :class:`_BatchStatistics` per model, so that a model trained again (a kept model of
#: :func:`clrnet.training.reuse.reuse_traced_models`) does not trace its pass again
_STATISTICS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _statistics_for(model: keras.Model) -> _BatchStatistics:
    """The model's :class:`_BatchStatistics`, made again when its trainable layers changed."""
    stats = _STATISTICS.get(model)
    if stats is None or stats.bns != _trainable_bns(model):
        stats = _STATISTICS[model] = _BatchStatistics(model)
    return stats


def recalibrate_batchnorm(model: keras.Model, data: Iterable, max_batches: int | None = None
                          ) -> int:
    """Set the moving statistics of every trainable BatchNormalization to their batch average.

    The batches run through the model in training mode (dropout off; a compiled forward pass,
    or eager calls when a BatchNormalization sits inside a wrapper: :class:`_BatchStatistics`)
    and each layer's moving mean and variance become the plain average of its batch statistics
    over them; momenta and dropout rates are restored afterwards, and no weight changes. Frozen
    BatchNormalization layers (``trainable=False``, e.g. the frozen half of a transfer model)
    keep their statistics: Keras runs them in inference mode.

    Args:
        model: any Keras model.
        data: iterable of ``x`` or ``(x, y[, w])`` batches (e.g. a training ``tf.data``
            pipeline).
        max_batches: stop after this many batches (None: all).

    Returns:
        The number of batches used.
    """
    if not _trainable_bns(model):
        return 0
    return _BatchStatistics(model).run(data, max_batches)


class BatchNormRecalibration(keras.callbacks.Callback):
    """Recalibrate BatchNormalization statistics before every validation and at the end.

    The ``batches`` training batches are drawn once, at the first recalibration, and reused for
    every later one (before, each recalibration built a new input pipeline: 5.4 s per
    recalibration of the quick CNN+LSTM with its 10 eager calls, 2-core AMD EPYC). The forward
    pass is compiled once per training where every BatchNormalization runs once per pass
    (CLRNet, Xception, MesoNet, ShallowNetV3); models with a BatchNormalization inside
    ``TimeDistributed`` (CNN+LSTM, DBiRNN, two-branch) keep the exact eager average.

    Args:
        data: training batches (an iterable that can be iterated again, e.g. a repeated
            ``tf.data`` pipeline, or a callable ``f(epoch)`` returning one).
        batches: batches per recalibration.
    """

    def __init__(self, data: Any, batches: int) -> None:
        super().__init__()
        self.data = data
        self.batches = int(batches)
        self._epoch = 0
        self._dirty = False
        self._held: list[Any] | None = None

    def _recalibrate(self) -> None:
        if not self._dirty:
            return
        if self._held is None:
            data = self.data(self._epoch) if callable(self.data) else self.data
            self._held = []
            for batch in data:
                if len(self._held) >= self.batches:
                    break
                self._held.append(_inputs(batch))
        stats = _statistics_for(self.model)
        if stats.bns:
            stats.run(self._held, self.batches)
        self._dirty = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dirty = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._recalibrate()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._recalibrate()  # also without validation data, before the epoch checkpoint

    def on_train_end(self, logs: dict | None = None) -> None:
        self._recalibrate()
