"""Masi et al. (ECCV 2020) two-branch recurrent network, a model family of the framework in ``clrnet``.

Modules:
    layers   ``DeepLoG`` (Eq. 1), ``DistanceToCenter`` and ``center_distance`` (distance to c)
    losses   ``IsolationLoss`` (Eq. 2), ``IsolationAUC``, paper radii
    models   the network (``build_model("two_branch" | "two_branch_frame", **overrides)``),
             ``compute_center``, ``make_scorer``, ``load_densenet_weights``; ``--summary`` CLI
    specs    the registry entries (input sizes, clip length, training values, scorer)
    optim    ``LayerwiseAdam`` / ``LayerwiseSGD`` (per-layer learning rates, "+ft"),
             ``paper_lr_rules``, ``LimitedReduceLROnPlateau``
    train    ``python -m twobranch.train`` (run folder, checkpoints, resume, MirroredStrategy)
    predict  ``python -m twobranch.predict`` (clip and video scores of TFRecords)
    figures  Fig. 3 feature maps, Fig. 4c/d histograms, Fig. 4b t-SNE; ``python -m twobranch.figures``

Importing the package registers its models in :mod:`clrnet.registry` and every custom Keras
object (DeepLoG, DistanceToCenter, IsolationLoss, IsolationAUC, the layer-wise optimizers), so
saved ``.keras`` files reload with plain ``keras.models.load_model``.
"""

from data_prep.tfquiet import import_quietly

import_quietly()  # TensorFlow without its start-up chatter, before anything imports it
from twobranch import layers, losses, optim, specs  # noqa: E402, F401 - registration side effects
