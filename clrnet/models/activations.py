"""Activations the official CLRNet actually ran with.

The official CLRNet (``shahroztariq/CLRNet: src/CLRNet_convlstm.py``) builds every ``ConvLSTM2D``
with the library default ``recurrent_activation``. In the tf.keras of its time (TF 1.13 - TF 2.14)
that default was ``"hard_sigmoid"`` defined as ``clip(0.2 * x + 0.5, 0, 1)``. Keras 3 changed both
the default (``"sigmoid"``) and the definition of ``hard_sigmoid`` (``relu6(x + 3) / 6``, slope 1/6),
so the authors' weights only reproduce with the Keras-2 function restated here.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deepfake_repro")
def hard_sigmoid_keras2(x):
    """Keras-2 / tf.keras <= 2.14 hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    Args:
        x: tensor.

    Returns:
        Tensor of the same shape with values in [0, 1].

    References:
        tf.keras 2.x ``backend.hard_sigmoid`` (the activation the official recurrent layers used).
    """
    return ops.clip(0.2 * x + 0.5, 0.0, 1.0)


RECURRENT_ACTIVATIONS = {
    "hard_sigmoid_keras2": hard_sigmoid_keras2,
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",
}


def resolve_recurrent_activation(name):
    """Map a recurrent-activation name to what ``ConvLSTM2D`` accepts.

    Args:
        name: ``"hard_sigmoid_keras2"`` (official numerics, default), ``"sigmoid"`` (Keras 3
            default), ``"hard_sigmoid"`` (Keras 3's relu6-based one) or a callable.

    Returns:
        A callable or a Keras activation name.

    Raises:
        ValueError: for an unknown name.
    """
    if callable(name):
        return name
    if name not in RECURRENT_ACTIVATIONS:
        raise ValueError(
            f"unknown recurrent_activation {name!r}; choose one of {sorted(RECURRENT_ACTIVATIONS)}"
        )
    return RECURRENT_ACTIVATIONS[name]
