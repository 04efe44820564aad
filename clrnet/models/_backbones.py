"""Per-frame CNN backbones shared by the CNN+RNN baselines (``dbirnn``, ``cnn_lstm``)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

BACKBONES = ("densenet121", "inceptionv3", "tiny")


def frame_backbone(
    backbone: str, frame_shape: Sequence[int], width: int = 8, name: str = "backbone"
) -> keras.Model:
    """A per-frame feature extractor with global average pooling, randomly initialised.

    Args:
        backbone: ``"densenet121"`` (1024-d), ``"inceptionv3"`` (2048-d) or ``"tiny"`` (two
            stride-2 3x3 convs of ``width`` and ``2*width`` filters; for tests).
        frame_shape: (H, W, 3).
        width: base width of the tiny backbone.
        name: model name.

    Returns:
        Functional model (B, H, W, 3) -> (B, D); inputs are expected in [-1, 1].

    Raises:
        ValueError: unknown backbone name.
    """
    frame_shape = tuple(frame_shape)
    if backbone == "densenet121":
        return keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=frame_shape, pooling="avg", name=name
        )
    if backbone == "inceptionv3":
        return keras.applications.InceptionV3(
            include_top=False, weights=None, input_shape=frame_shape, pooling="avg", name=name
        )
    if backbone == "tiny":
        inputs = keras.Input(shape=frame_shape, name="frame")
        x = layers.Conv2D(width, 3, strides=2, activation="relu", name="conv1")(inputs)
        x = layers.Conv2D(2 * width, 3, strides=2, activation="relu", name="conv2")(x)
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        return keras.Model(inputs, x, name=name)
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {list(BACKBONES)}")
