"""Per-frame CNN backbones shared by the CNN+RNN baselines (``dbirnn``, ``cnn_lstm``)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

BACKBONES = ("densenet121", "inceptionv3", "small", "tiny")


def frame_backbone(
    backbone: str, frame_shape: Sequence[int], width: int = 8, name: str = "backbone"
) -> keras.Model:
    """A per-frame feature extractor with global average pooling, randomly initialised.

    Args:
        backbone: ``"densenet121"`` (1024-d), ``"inceptionv3"`` (2048-d), ``"small"`` (four
            3x3 conv-BN-ReLU-max-pool blocks of ``width``, ``2*width``, ``4*width``,
            ``4*width`` filters, a 1x1 conv to ``width`` and a flatten: the quick profile's
            stand-in, which keeps the spatial layout that a global pooling of two layers
            loses) or ``"tiny"`` (two stride-2 3x3 convs of ``width`` and ``2*width`` filters
            and a global average pooling; for tests).
        frame_shape: (H, W, 3).
        width: base width of the tiny backbone.
        name: model name.

    Returns:
        Functional model (B, H, W, 3) -> (B, D); inputs are expected in [-1, 1].

    Note:
        Measured on the mini benchmark (FS only, 240 steps, 64x64): CNN+LSTM with ``"tiny"``
        width 8 reached test clip AUC 0.52, with ``"small"`` width 8 1.00.

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
    if backbone == "small":
        inputs = keras.Input(shape=frame_shape, name="frame")
        x = inputs
        for i, filters in enumerate((width, 2 * width, 4 * width, 4 * width), start=1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = layers.BatchNormalization(name=f"bn{i}")(x)
            x = layers.Activation("relu", name=f"relu{i}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = layers.Conv2D(width, 1, activation="relu", name="squeeze")(x)
        x = layers.Flatten(name="flatten")(x)
        return keras.Model(inputs, x, name=name)
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {list(BACKBONES)}")
