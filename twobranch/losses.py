"""The isolation loss of Masi et al. (ECCV 2020, Sec. 3.3, Eq. 2) and helpers.

    L = 1/|nat| sum_{i in nat} max(0, ||Phi(I_i) - c|| - r-)
      + 1/|man| sum_{j in man} max(0, r+ - ||Phi(I_j) - c||)

with a fixed centre ``c`` (pre-computed from real training sequences, see
``twobranch.models.compute_center``), labels fake = 1 (manipulated) and real = 0 (natural).

Implementation notes (choices the paper leaves open):

* Keras reduces per-sample losses by their batch mean, so :meth:`IsolationLoss.call` returns
  per-sample values pre-scaled by ``B / |class of the sample|``; the default
  ``"sum_over_batch_size"`` reduction then gives exactly Eq. (2): each term is averaged over its own
  class, and a batch holding a single class contributes only that class's term (no division by 0).
  Under ``MirroredStrategy`` the class counts are those of each replica's share of the batch.
* The distance is computed in float32 with a 1e-12 floor inside the square root so its gradient is
  finite at ``c``.
* Radii: ``{0.042, 1.638}`` for the 256-d BiLSTM embedding (paper, Sec. 4) and ``{2.5, 97.5}`` for the
  1024-d frame embedding (Table 1a); see :data:`RADII`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from twobranch.layers import center_distance

PACKAGE = "deepfake_repro"

#: Paper radii (r-, r+) per embedding dimensionality.
RADII: dict[int, tuple[float, float]] = {256: (0.042, 1.638), 1024: (2.5, 97.5)}


def default_radii(dim: int) -> tuple[float, float]:
    """Paper radii for an embedding size; other sizes scale the 256-d pair by sqrt(dim / 256).

    Args:
        dim: embedding dimensionality D.

    Returns:
        (r_minus, r_plus).
    """
    if dim in RADII:
        return RADII[dim]
    f = float(np.sqrt(dim / 256.0))
    return RADII[256][0] * f, RADII[256][1] * f


@keras.saving.register_keras_serializable(package=PACKAGE)
class IsolationLoss(keras.losses.Loss):
    """Eq. (2): pull real embeddings inside r-, push fakes beyond r+, around a fixed centre.

    Args:
        center: sequence of float (length D). The fixed centre c.
        r_minus: float. Inner radius r- (> 0).
        r_plus: float. Outer radius r+ (> r_minus).
        name: loss name. Defaults to ``"isolation_loss"``.

    Called as ``loss(y_true, embeddings)`` with ``y_true`` in {0 (real), 1 (fake)}, shape (B,) or
    (B, 1), and ``embeddings`` (B, D).

    References:
        Masi et al., ECCV 2020, Sec. 3.3, Eq. (2).
    """

    def __init__(
        self,
        center: Sequence[float],
        r_minus: float,
        r_plus: float,
        name: str = "isolation_loss",
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.center = [float(v) for v in np.asarray(center, dtype="float64").ravel()]
        self.r_minus = float(r_minus)
        self.r_plus = float(r_plus)
        if not 0.0 < self.r_minus < self.r_plus:
            raise ValueError(f"need 0 < r_minus < r_plus, got {r_minus}, {r_plus}")
        if not self.center:
            raise ValueError("center must not be empty")

    def call(self, y_true, y_pred):
        d = center_distance(y_pred, np.asarray(self.center, dtype="float32"))
        fake = ops.cast(ops.reshape(y_true, (-1,)), "float32")
        real = 1.0 - fake
        n = ops.cast(ops.shape(d)[0], "float32")
        n_fake = ops.maximum(ops.sum(fake), 1.0)
        n_real = ops.maximum(ops.sum(real), 1.0)
        pull = ops.relu(d - self.r_minus) * real * (n / n_real)
        push = ops.relu(self.r_plus - d) * fake * (n / n_fake)
        return pull + push

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"center": list(self.center), "r_minus": self.r_minus, "r_plus": self.r_plus})
        return config


def isolation_loss_numpy(
    y_true: np.ndarray, embeddings: np.ndarray, center: np.ndarray, r_minus: float, r_plus: float
) -> float:
    """Naive NumPy Eq. (2), one sample at a time (reference for tests).

    Args:
        y_true: (B,) labels, fake = 1.
        embeddings: (B, D).
        center: (D,).
        r_minus: inner radius.
        r_plus: outer radius.

    Returns:
        The loss value.
    """
    nat, man = [], []
    for y, e in zip(np.ravel(y_true), embeddings, strict=True):
        d = float(np.sqrt(np.sum((np.asarray(e, "float64") - center) ** 2)))
        if y == 1:
            man.append(max(0.0, r_plus - d))
        else:
            nat.append(max(0.0, d - r_minus))
    total = 0.0
    if nat:
        total += sum(nat) / len(nat)
    if man:
        total += sum(man) / len(man)
    return total


@keras.saving.register_keras_serializable(package=PACKAGE)
class IsolationAUC(keras.metrics.AUC):
    """ROC AUC of the distance to the fixed centre (fake = positive), for embedding outputs.

    ``keras.metrics.AUC`` thresholds values in [0, 1], so the distance d is mapped by the monotone
    ``d / (d + t)`` with ``t = (r- + r+) / 2`` (0 at c, 0.5 at t); unlike a logistic it keeps
    distances far below r- apart (1000 thresholds resolve d down to about t / 1000). The value is
    the AUC of the raw distance up to that discretisation.

    Args:
        center: sequence of float. The fixed centre c.
        r_minus: float. Inner radius.
        r_plus: float. Outer radius.
        name: metric name. Defaults to ``"auc"``.
        **kwargs: ``keras.metrics.AUC`` arguments (e.g. ``num_thresholds``).
    """

    def __init__(self, center: Sequence[float], r_minus: float, r_plus: float, name: str = "auc",
                 **kwargs) -> None:
        kwargs.setdefault("num_thresholds", 1000)
        super().__init__(name=name, **kwargs)
        self.center = [float(v) for v in np.asarray(center, dtype="float64").ravel()]
        self.r_minus = float(r_minus)
        self.r_plus = float(r_plus)

    def update_state(self, y_true, y_pred, sample_weight=None):
        d = center_distance(y_pred, np.asarray(self.center, dtype="float32"))
        t = 0.5 * (self.r_minus + self.r_plus)
        p = d / (d + t)
        return super().update_state(ops.reshape(y_true, (-1,)), p, sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"center": list(self.center), "r_minus": self.r_minus, "r_plus": self.r_plus})
        return config
