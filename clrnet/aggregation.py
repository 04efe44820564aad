"""Video-level aggregation of per-clip (or per-frame) fake probabilities.

Used by :mod:`clrnet.predict`. Choices:

* ``"mean"`` (default): the mean of the clip scores. CLRNet (Tariq et al., WWW'21) reports
  clip-level results and does not define a video score; the mean is the common practice of the
  DFDC and DeepfakeBench video-level evaluations.
* ``"median"``: robust to a few outlying clips.
* ``"max"``: the most suspicious clip decides (a video is fake if any part is).
* ``"fraction"``: the fraction of clips whose P(fake) is at or over the threshold, as the MesoNet
  authors' video score (official ``DariusAf/MesoNet`` ``pipeline.py``: ``np.mean(p > 0.5)`` over
  ~30 frames, where their sigmoid ``p`` is P(real) as their folders sort df = 0). Ours counts
  frames called fake and a score equal to the threshold as fake. The fraction is itself
  compared with the threshold for the verdict.

No official file is copied; this is a few lines of NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["AGGREGATIONS", "aggregate", "verdict"]

#: Names accepted by :func:`aggregate`, with a one-line description each.
AGGREGATIONS: dict[str, str] = {
    "mean": "mean of clip scores",
    "median": "median of clip scores",
    "max": "largest clip score",
    "fraction": "fraction of clips with score >= threshold (MesoNet)",
}


def aggregate(scores: Sequence[float] | np.ndarray, method: str = "mean",
              threshold: float = 0.5) -> float | None:
    """Combine per-clip P(fake) into one video-level value in [0, 1].

    Args:
        scores: per-clip (or per-frame) fake probabilities.
        method: one of :data:`AGGREGATIONS`.
        threshold: the decision threshold, used by ``"fraction"``.

    Returns:
        The video-level value, or ``None`` when ``scores`` is empty.

    Raises:
        ValueError: unknown ``method``.

    References:
        Afchar et al., "MesoNet", WIFS 2018, official ``DariusAf/MesoNet`` (``"fraction"``).
    """
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {sorted(AGGREGATIONS)}")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        return None
    if method == "mean":
        return float(s.mean())
    if method == "median":
        return float(np.median(s))
    if method == "max":
        return float(s.max())
    return float((s >= threshold).mean())


def verdict(value: float | None, threshold: float = 0.5) -> str | None:
    """``"FAKE"`` when ``value >= threshold``, ``"REAL"`` below, ``None`` without a value.

    Args:
        value: a video-level value from :func:`aggregate`.
        threshold: decision threshold.

    Returns:
        ``"FAKE"``, ``"REAL"`` or ``None``.
    """
    if value is None:
        return None
    return "FAKE" if value >= threshold else "REAL"
