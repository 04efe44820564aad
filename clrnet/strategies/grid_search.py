"""Algorithm 1 of the CLRNet paper: the restricted grid search over domain pairs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from clrnet.errors import ConfigError
from clrnet.evaluation import evaluate, score_frame
from clrnet.strategies.data import Data
from clrnet.strategies.hparams import resolve_hp
from clrnet.strategies.learning import train_merge, train_single, train_transfer
from data_prep.fileio import write_csv_atomic, write_json_atomic

REENACTMENT = ("Face2Face", "NeuralTextures")
IDENTITY_SWAP = ("Deepfakes", "FaceSwap", "DeepFakeDetection")


@dataclass
class GridSearchResult:
    """Outcome of :func:`restricted_grid_search`.

    Attributes:
        pair: the chosen (reenactment domain, identity-swap domain).
        strategy: ``"transfer"`` or ``"merge"`` for the chosen pair.
        model: its trained model.
        score: its validation score.
        table: one row per (pair, strategy) with the validation score and run folder.
    """

    pair: tuple[str, str]
    strategy: str
    model: keras.Model
    score: float
    table: pd.DataFrame


def restricted_grid_search(model_name: str, reenactment_domains: Mapping[str, Data],
                           swap_domains: Mapping[str, Data], val: Data,
                           run_dir: str | os.PathLike, *, metric: str = "accuracy",
                           k_videos: int | None = 10, transfer_source: str = "reenactment",
                           freeze: str = "first_half", top_k_layers: int | None = None,
                           source_hp: Mapping[str, Any] | None = None,
                           strategy: tf.distribute.Strategy | None = None,
                           **hp: Any) -> GridSearchResult:
    """Algorithm 1 of the CLRNet paper: best (reenactment, identity swap) combination.

    For every i in ``reenactment_domains`` and j in ``swap_domains``: T = TransferLearning(i, j)
    (source model trained on one of them by single-domain learning, transferred to the
    other), M = MergeLearning(i, j); the better of T and M on ``val`` joins C; the result is
    the best member of C.

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        reenactment_domains: ``{name: data}`` (paper: F2F, NT).
        swap_domains: ``{name: data}`` (paper: DF, FS, DFD).
        val: the validation data that decides (the paper used its open-domain set).
        run_dir: parent folder; each training gets a sub-folder.
        metric: ``"accuracy"`` (paper), ``"f1"`` or ``"auc"`` on clip scores.
        k_videos: videos per target domain for the transfer step.
        transfer_source: ``"reenactment"`` (i → j) or ``"swap"`` (j → i).
        freeze: see :func:`freeze_layers`.
        top_k_layers: see :func:`freeze_layers`.
        source_hp: hyper-parameters overriding ``hp`` for the source (single-domain) runs.
        strategy: distribution strategy.
        **hp: :class:`HParams` fields for every run.

    Returns:
        A :class:`GridSearchResult`.

    References:
        Tariq et al., WWW'21, Sec. 4.3.3 and Algorithm 1.
    """
    if not reenactment_domains or not swap_domains:
        raise ConfigError("restricted grid search needs at least one reenactment and one "
                          "identity-swap domain")
    if transfer_source not in ("reenactment", "swap"):
        raise ConfigError(f"transfer_source must be reenactment or swap, got {transfer_source!r}")
    run_dir = Path(run_dir)
    batch_size = resolve_hp(model_name, **hp).batch_size
    sources: dict[str, Path] = {}

    def source_model(name: str, data: Data) -> Path:
        if name not in sources:
            res = train_single(model_name, data, val, run_dir / f"source-{name}",
                               strategy=strategy, **{**hp, **(source_hp or {})})
            sources[name] = res.run_dir / "final.keras"
        return sources[name]

    rows, candidates = [], []
    pairs = [(i, j) for i in reenactment_domains for j in swap_domains]
    for i, j in tqdm(pairs, desc="restricted grid search", unit="pair"):
        data_i, data_j = reenactment_domains[i], swap_domains[j]
        (s_name, s_data), (t_name, t_data) = ((i, data_i), (j, data_j))
        if transfer_source == "swap":
            (s_name, s_data), (t_name, t_data) = (t_name, t_data), (s_name, s_data)
        src_path = source_model(s_name, s_data)
        t = train_transfer(src_path, {t_name: t_data}, val,
                           run_dir / f"transfer-{s_name}-to-{t_name}", k_videos=k_videos,
                           freeze=freeze, top_k_layers=top_k_layers, strategy=strategy, **hp)
        t_score = score_frame(evaluate(t.model, val, batch_size, seed=hp.get("seed", 0)),
                              metric)
        m = train_merge(model_name, {i: data_i, j: data_j}, val,
                        run_dir / f"merge-{i}-{j}", strategy=strategy, **hp)
        m_score = score_frame(evaluate(m.model, val, batch_size, seed=hp.get("seed", 0)),
                              metric)
        rows += [{"reenactment": i, "swap": j, "strategy": "transfer", metric: t_score,
                  "run_dir": str(t.run_dir)},
                 {"reenactment": i, "swap": j, "strategy": "merge", metric: m_score,
                  "run_dir": str(m.run_dir)}]
        better = ("transfer", t, t_score) if t_score > m_score else ("merge", m, m_score)
        candidates.append(((i, j), *better))
    best = max(candidates, key=lambda c: c[3])
    table = pd.DataFrame(rows)
    table["chosen"] = [(r["reenactment"], r["swap"]) == best[0] and r["strategy"] == best[1]
                       for r in rows]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(run_dir / "grid_search.csv", table)
    write_json_atomic(run_dir / "grid_search.json", {
        "pair": list(best[0]), "strategy": best[1], metric: best[3], "metric": metric})
    return GridSearchResult(pair=best[0], strategy=best[1], model=best[2].model, score=best[3],
                            table=table)
