"""ShallowNetV3 as the CLRNet authors ran it (``shahroztariq/ShallowNet: src/models.py`` v3, the same
definition as in ``shahroztariq/CLRNet: src/ShallowNetv3_DF.ipynb``).

Three blocks of valid 5x5/3x3 conv followed by two 1x1 convs (relu, l2 1e-4) with Dropout(0.25)
between them and max-pooling, then Flatten -> Dense(1024, relu) -> BN -> Dropout(0.25) ->
Dense(2, **sigmoid**), trained by the authors with binary cross-entropy on one-hot labels. Input
128x128x3 in [0, 1] (rescale 1/255): 25,806,626 parameters.

Differences: none in structure. The official file has bare definitions without imports; the class
order follows the project (index 1 = fake), so ``fake_probability`` reads the second sigmoid unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def _conv(x, filters: int, kernel: int, name: str):
    """Conv2D(relu, valid, l2 1e-4)."""
    return layers.Conv2D(
        filters,
        kernel,
        activation="relu",
        kernel_regularizer=keras.regularizers.L2(1e-4),
        name=name,
    )(x)


def build_shallownet_v3(
    input_shape: Sequence[int] = (128, 128, 3),
    dense_units: int = 1024,
    dropout: float = 0.25,
    name: str = "shallownet_v3",
) -> keras.Model:
    """ShallowNetV3.

    Args:
        input_shape: (H, W, 3). Defaults to the authors' 128x128.
        dense_units: width of the hidden Dense layer (official 1024; smaller for tests).
        dropout: dropout rate everywhere (official 0.25).
        name: model name.

    Returns:
        Functional model (B, H, W, 3) in [0, 1] -> (B, 2) independent sigmoids, index 1 = fake.

    References:
        Tariq et al., "Detecting both machine and human created fake face images in the wild",
        MPS 2018; ``shahroztariq/ShallowNet: src/models.py``.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, (f1, k, f2, pool) in enumerate([(32, 5, 32, True), (64, 3, 64, True)], start=1):
        x = _conv(x, f1, k, f"block{i}_conv1")
        x = layers.Dropout(dropout, name=f"block{i}_drop1")(x)
        x = _conv(x, f2, 1, f"block{i}_conv2")
        x = layers.Dropout(dropout, name=f"block{i}_drop2")(x)
        x = _conv(x, f2, 1, f"block{i}_conv3")
        if pool:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{i}_drop3")(x)
    x = _conv(x, 128, 3, "block3_conv1")
    x = layers.Dropout(dropout, name="block3_drop1")(x)
    x = _conv(x, 32, 1, "block3_conv2")
    x = layers.Dropout(dropout, name="block3_drop2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense1")(x)
    x = layers.BatchNormalization(name="dense1_bn")(x)
    x = layers.Dropout(dropout, name="dense1_drop")(x)
    outputs = layers.Dense(2, activation="sigmoid", name="dense2")(x)
    return keras.Model(inputs, outputs, name=name)
