"""Xception baseline as the CLRNet authors ran it (``shahroztariq/CLRNet: src/Xception_DF.ipynb``).

``keras.applications.Xception(include_top=True, weights=None, classes=2)`` on 240x240x3 input in
[0, 1] (the authors rescaled by 1/255 and trained from scratch, no ImageNet weights; nothing is
downloaded). 20,865,578 parameters. Our softmax index 1 is P(fake) (the project's fake = 1 labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras


def build_xception(
    input_shape: Sequence[int] = (240, 240, 3), classes: int = 2, name: str = "xception"
) -> keras.Model:
    """Xception from ``keras.applications`` with random initialisation.

    Args:
        input_shape: (H, W, 3); H and W must be at least 71. Defaults to the authors' 240x240.
        classes: softmax units (2: index 1 = P(fake)).
        name: model name.

    Returns:
        Functional model (B, H, W, 3) in [0, 1] -> (B, classes) softmax.

    References:
        Chollet, "Xception", CVPR 2017; ``src/Xception_DF.ipynb`` in the CLRNet repository.
    """
    return keras.applications.Xception(
        include_top=True,
        weights=None,
        input_shape=tuple(input_shape),
        classes=classes,
        classifier_activation="softmax",
        name=name,
    )
