"""CNN+LSTM baseline (Güera & Delp, "Deepfake Video Detection Using Recurrent Neural Networks",
AVSS 2018).

No official code exists (the CLRNet README links the paper only). The paper: InceptionV3 without its top gives a
2048-d feature per frame, an LSTM with 2048 units and 0.5 dropout reads the sequence, then
Dense(512) -> Dropout(0.5) -> softmax; sequences of 20 frames (the CLRNet paper: "a minimum of 20
consecutive frames", 20 x 4 = 80 frames per batch).

Our choices: InceptionV3 from ``keras.applications`` with ``weights=None`` (the paper used ImageNet
weights; nothing may be downloaded here, so it trains from scratch like the CLRNet authors'
baselines); input 20x299x299x3 in [0, 1] mapped to [-1, 1] inside the model (InceptionV3's
convention); ReLU on the Dense(512) (the paper does not name it); Dense(2, softmax) with index 1 =
P(fake). ``backbone="tiny"``/``width``/``units``/``dense_units`` shrink it for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from clrnet.models._backbones import frame_backbone


def build_cnn_lstm(
    input_shape: Sequence[int | None] = (20, 299, 299, 3),
    backbone: str = "inceptionv3",
    width: int = 8,
    units: int = 2048,
    dense_units: int = 512,
    dropout: float = 0.5,
    name: str = "cnn_lstm",
) -> keras.Model:
    """Build the CNN+LSTM baseline.

    Args:
        input_shape: (T, H, W, 3); T may be None. Defaults to 20 frames of 299x299.
        backbone: ``"inceptionv3"`` (default), ``"densenet121"`` or ``"tiny"``.
        width: base width of the tiny backbone.
        units: LSTM units (paper: 2048).
        dense_units: hidden Dense width (paper: 512).
        dropout: LSTM dropout and dropout after the hidden Dense (paper: 0.5).
        name: model name.

    Returns:
        Functional model (B, T, H, W, 3) in [0, 1] -> (B, 2) softmax, index 1 = P(fake).

    Raises:
        ValueError: bad input shape or backbone.

    References:
        Güera & Delp, AVSS 2018.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3:
        raise ValueError(f"cnn_lstm input_shape must be (T, H, W, 3), got {input_shape}")
    inputs = keras.Input(shape=input_shape, name="clip")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inputs)
    cnn = frame_backbone(backbone, input_shape[1:], width=width, name=f"{backbone}_features")
    x = layers.TimeDistributed(cnn, name="frame_features")(x)
    x = layers.LSTM(units, dropout=dropout, name="lstm")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense1")(x)
    x = layers.Dropout(dropout, name="drop")(x)
    outputs = layers.Dense(2, activation="softmax", name="head_dense")(x)
    return keras.Model(inputs, outputs, name=name)
