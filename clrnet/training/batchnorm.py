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

from collections.abc import Iterable
from typing import Any

import keras

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


def recalibrate_batchnorm(model: keras.Model, data: Iterable, max_batches: int | None = None
                          ) -> int:
    """Set the moving statistics of every trainable BatchNormalization to their batch average.

    The batches run through the model in training mode with each layer's momentum set to
    ``i / (i + 1)`` for batch ``i``, so the moving mean and variance become the plain average of
    the batch statistics; dropout is switched off meanwhile, momenta and rates are restored
    afterwards, and no weight changes. Frozen BatchNormalization layers (``trainable=False``,
    e.g. the frozen half of a transfer model) keep their statistics: Keras runs them in
    inference mode.

    Args:
        model: any Keras model.
        data: iterable of ``x`` or ``(x, y[, w])`` batches (e.g. a training ``tf.data``
            pipeline).
        max_batches: stop after this many batches (None: all).

    Returns:
        The number of batches used.
    """
    layers = _layers(model)
    bns = [layer for layer in layers
           if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not bns:
        return 0
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [bn.momentum for bn in bns], [d.rate for d in drops]
    used = 0
    try:
        for d in drops:
            d.rate = 0.0
        for i, batch in enumerate(data):
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


class BatchNormRecalibration(keras.callbacks.Callback):
    """Recalibrate BatchNormalization statistics before every validation and at the end.

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

    def _recalibrate(self) -> None:
        if not self._dirty:
            return
        data = self.data(self._epoch) if callable(self.data) else self.data
        recalibrate_batchnorm(self.model, iter(data), self.batches)
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
