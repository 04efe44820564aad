"""Aggregation of per-frame / per-clip fake probabilities into clip- and video-level scores.

The one place scores are combined: :func:`aggregate` for one video's scores (predict),
:func:`aggregate_scores` for a table of scores (evaluation, strategies, experiments), both with
the same methods:

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

Tables group by ``dataset``/``method``/``video_id`` (FF++ reuses video ids across methods, so the
same id under two methods is two videos) and, for the clip level, ``clip_index``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clrnet.errors import MetricInputError

__all__ = ["AGGREGATIONS", "aggregate", "aggregate_scores", "verdict"]

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
        MetricInputError: unknown ``method`` (a ``ValueError``).

    References:
        Afchar et al., "MesoNet", WIFS 2018, official ``DariusAf/MesoNet`` (``"fraction"``).
    """
    _check_method(method)
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


def _check_method(method: str) -> None:
    if method not in AGGREGATIONS:
        raise MetricInputError(f"unknown aggregation {method!r}; choose one of "
                               f"{sorted(AGGREGATIONS)}")


def aggregate_scores(scores: pd.DataFrame, level: str = "video", how: str = "mean",
                     threshold: float = 0.5) -> pd.DataFrame:
    """Aggregate a table of per-frame or per-clip scores to clip or video level.

    Args:
        scores: columns ``video_id``, ``label`` (fake = 1), ``score`` and optionally
            ``dataset``, ``method`` and ``clip_index``.
        level: ``"frame"`` (unchanged copy), ``"clip"`` (needs ``clip_index``) or ``"video"``.
        how: one of :data:`AGGREGATIONS`.
        threshold: the decision threshold, used by ``"fraction"``.

    Returns:
        One row per group: the group keys, ``label``, the aggregated ``score`` and ``n`` (how
        many scores it combines), sorted by the keys.

    Raises:
        MetricInputError: missing columns, an unknown level or method, or a group that holds
            both labels.
    """
    missing = {"video_id", "label", "score"} - set(scores.columns)
    if missing:
        raise MetricInputError(f"score table lacks columns {sorted(missing)}")
    if level == "frame":
        return scores.copy()
    _check_method(how)
    keys = [k for k in ("dataset", "method", "video_id") if k in scores.columns]
    if level == "clip":
        if "clip_index" not in scores.columns:
            raise MetricInputError("clip-level aggregation needs a clip_index column")
        keys.append("clip_index")
    elif level != "video":
        raise MetricInputError(f"unknown level {level!r} (frame, clip or video)")
    groups = scores.groupby(keys, sort=True)
    labels = groups["label"].agg(["min", "max"])
    if (labels["min"] != labels["max"]).any():
        raise MetricInputError("a video has both fake and real labels")
    if how == "fraction":
        value = groups["score"].agg(lambda s: float((np.asarray(s) >= threshold).mean()))
    else:
        value = groups["score"].agg(how)
    out = pd.DataFrame({"label": groups["label"].first(), "score": value,
                        "n": groups["score"].size()})
    return out.reset_index()
