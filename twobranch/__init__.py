"""Masi et al. (ECCV 2020) two-branch recurrent network for deepfake video detection.

Modules:
    layers   ``DeepLoG`` (Eq. 1), ``DistanceToCenter`` (score = distance to c, or calibrated P(fake))
    losses   ``IsolationLoss`` (Eq. 2), ``IsolationAUC``, paper radii
    models   ``build_model("two_branch" | "two_branch_frame", **overrides)``, ``compute_center``,
             ``make_scorer``, ``fake_score``, ``load_densenet_weights``; ``--summary`` CLI
    optim    ``LayerwiseAdam`` / ``LayerwiseSGD`` (per-layer learning rates, "+ft"),
             ``paper_lr_rules``, ``LimitedReduceLROnPlateau``
    train    ``python -m twobranch.train`` (run folder, checkpoints, resume, MirroredStrategy)
    predict  ``python -m twobranch.predict`` (clip and video scores)
    figures  Fig. 3 feature maps, Fig. 4c/d histograms, Fig. 4b t-SNE; ``python -m twobranch.figures``

Importing the package registers every custom Keras object (DeepLoG, DistanceToCenter,
IsolationLoss, IsolationAUC, the layer-wise optimizers), so saved ``.keras`` files reload with plain
``keras.models.load_model``.
"""

import data_prep  # noqa: F401  (imports TensorFlow quietly first)
from twobranch import layers, losses, optim  # noqa: F401 - registration side effects
