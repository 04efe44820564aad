"""DBiRNN baseline: DenseNet features per frame + bidirectional recurrent layer.

Sabir et al., "Recurrent Convolutional Strategies for Face Manipulation Detection in Videos",
CVPR Workshops 2019 (arXiv 1905.00582). No official code exists (the CLRNet README links the
paper only; the CLRNet authors re-implemented it). The paper's description: a CNN backbone (DenseNet performed best)
extracts a feature vector per aligned face frame, a bidirectional GRU runs over the sequence, and a
classifier follows; the CLRNet paper (section 5.1) ran it on 5 consecutive frames.

Our choices (not fixed by any source we could read): DenseNet121 from ``keras.applications``
(``weights=None``: nothing is downloaded, trained from scratch like the other baselines) applied with
``TimeDistributed``; input 5x224x224x3 in [0, 1] mapped to [-1, 1] inside the model; bidirectional
GRU with 128 units per direction returning the last state (forward and backward concatenated);
Dropout(0.5); Dense(2, softmax) with index 1 = P(fake). ``backbone="tiny"`` and ``width`` build a
small CNN for tests; ``cell="lstm"`` swaps the recurrent cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from clrnet.models._backbones import frame_backbone


def build_dbirnn(
    input_shape: Sequence[int | None] = (5, 224, 224, 3),
    backbone: str = "densenet121",
    width: int = 8,
    units: int = 128,
    cell: str = "gru",
    dropout: float = 0.5,
    name: str = "dbirnn",
) -> keras.Model:
    """Build the DBiRNN baseline.

    Args:
        input_shape: (T, H, W, 3); T may be None. Defaults to 5 frames of 224x224.
        backbone: ``"densenet121"`` (default), ``"inceptionv3"`` or ``"tiny"``.
        width: base width of the tiny backbone.
        units: recurrent units per direction.
        cell: ``"gru"`` (Sabir et al.) or ``"lstm"``.
        dropout: dropout before the classifier.
        name: model name.

    Returns:
        Functional model (B, T, H, W, 3) in [0, 1] -> (B, 2) softmax, index 1 = P(fake).

    Raises:
        ValueError: bad input shape, cell or backbone.

    References:
        Sabir et al., CVPRW 2019.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3:
        raise ValueError(f"dbirnn input_shape must be (T, H, W, 3), got {input_shape}")
    rnn_cls = {"gru": layers.GRU, "lstm": layers.LSTM}.get(cell)
    if rnn_cls is None:
        raise ValueError(f"unknown recurrent cell {cell!r}; choose 'gru' or 'lstm'")
    inputs = keras.Input(shape=input_shape, name="clip")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inputs)
    cnn = frame_backbone(backbone, input_shape[1:], width=width, name=f"{backbone}_features")
    x = layers.TimeDistributed(cnn, name="frame_features")(x)
    x = layers.Bidirectional(rnn_cls(units), merge_mode="concat", name="birnn")(x)
    x = layers.Dropout(dropout, name="drop")(x)
    outputs = layers.Dense(2, activation="softmax", name="head_dense")(x)
    return keras.Model(inputs, outputs, name=name)
