"""Masi et al. (ECCV 2020) two-branch recurrent network for deepfake video detection.

Importing the package registers every custom Keras object (DeepLoG, DistanceToCenter,
IsolationLoss, the layer-wise optimizers), so saved ``.keras`` files reload with plain
``keras.models.load_model``.
"""

from twobranch import layers, losses, optim  # noqa: F401 - registration side effects
