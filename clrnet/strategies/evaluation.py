"""Scores of a model on an evaluation set, one row per clip (or frame), and their summary.

The evaluation unit of the CLRNet paper is the clip (Tariq et al., WWW'21, Sec. 5.1.2); videos
are aggregated from it by :func:`clrnet.aggregation.aggregate_scores`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from clrnet import metrics
from clrnet.errors import ConfigError, EmptyDatasetError
from clrnet.scoring import as_scorer, fake_from_outputs, output_kind
from clrnet.strategies.data import Data, DataSpec, make_dataset
from clrnet.strategies.hparams import resolve_hp


def _meta_value(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)


def evaluate(model: keras.Model, data: Data, batch_size: int = 16, **hp: Any) -> pd.DataFrame:
    """Score every clip (or frame, for frame models) of an evaluation set.

    Args:
        model: a trained model of this package.
        data: a :class:`DataSpec` or several (their union; evaluation pipeline with
            metadata), or a dataset yielding ``(x, y, meta)`` or ``(x, y)`` batches (``y``
            scalar labels, fake = 1).
        batch_size: clips per batch.
        **hp: further :class:`HParams` for the pipeline (seed, pipeline_kwargs).

    Returns:
        One row per sample: ``video_id``, ``method``, ``clip_index``, ``label`` (fake = 1) and
        ``score`` = P(fake).

    References:
        Tariq et al., WWW'21, Sec. 5.1.2 (clip-level evaluation).
    """
    h = resolve_hp(None, batch_size=batch_size, **hp)
    specs = isinstance(data, (list, tuple)) and data and all(isinstance(d, DataSpec)
                                                             for d in data)
    if isinstance(data, DataSpec) or specs:
        ds = make_dataset(data, h, model, training=False, return_meta=True)
    elif isinstance(data, tf.data.Dataset):
        ds = data
    else:
        raise ConfigError(f"cannot evaluate on {type(data).__name__}; give DataSpec(s) or a "
                          "dataset")
    model = as_scorer(model)
    kind = output_kind(model)
    rows: list[dict[str, Any]] = []
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for batch in ds:
        x, y = batch[0], batch[1]
        meta = batch[2] if len(batch) > 2 and isinstance(batch[2], Mapping) else {}
        y = np.asarray(y)
        labels = y.argmax(-1) if y.ndim == 2 and y.shape[-1] == 2 else y.reshape(len(y))
        scores = fake_from_outputs(predict(x).numpy(), kind)
        n = len(scores)
        cols = {k: np.asarray(v).reshape(n) for k, v in meta.items()}
        for i in range(n):
            row = {k: _meta_value(v[i]) for k, v in cols.items()}
            row.update(label=int(labels[i]), score=float(scores[i]))
            rows.append(row)
    if not rows:
        raise EmptyDatasetError("evaluation data holds no samples")
    df = pd.DataFrame(rows)
    for col in ("video_id", "method", "clip_index"):
        if col not in df:
            df[col] = np.arange(len(df)) if col == "video_id" else ("" if col == "method" else 0)
    first = ["video_id", "method", "clip_index", "label", "score"]
    return df[first + [c for c in df.columns if c not in first]]


def score_frame(df: pd.DataFrame, metric: str = "accuracy") -> float:
    """Accuracy or F1 of the fake class at 0.5, or ROC AUC, of a table of scores.

    Args:
        df: columns ``label`` (fake = 1) and ``score`` (P(fake)).
        metric: ``"accuracy"``, ``"f1"`` or ``"auc"`` (NaN with one class present).

    Returns:
        The value.

    Raises:
        ConfigError: an unknown metric.
    """
    funcs = {"accuracy": lambda y, s: metrics.accuracy_at(y, s, 0.5),
             "f1": lambda y, s: metrics.f1_at(y, s, 0.5), "auc": metrics.roc_auc}
    if metric not in funcs:
        raise ConfigError(f"unknown metric {metric!r}; use accuracy, f1 or auc")
    return float(funcs[metric](df["label"].to_numpy(), df["score"].to_numpy()))
