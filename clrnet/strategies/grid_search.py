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
from clrnet.strategies.data import Data, DataSpec
from clrnet.strategies.evaluation import evaluate, score_frame
from clrnet.strategies.hparams import resolve_hp
from clrnet.strategies.learning import train_merge, train_single, train_transfer
from clrnet.training.reuse import reuse_enabled
from data_prep.fileio import write_csv_atomic, write_json_atomic

REENACTMENT = ("Face2Face", "NeuralTextures")
IDENTITY_SWAP = ("Deepfakes", "FaceSwap", "DeepFakeDetection")


@dataclass
class GridSearchResult:
    """Outcome of :func:`restricted_grid_search`.

    Attributes:
        pair: the chosen (reenactment domain, identity-swap domain).
        strategy: ``"transfer"`` or ``"merge"`` for the chosen pair.
        model: its trained model; None inside
            :func:`clrnet.training.reuse.reuse_traced_models`, where a later candidate of the
            same architecture trains the same model object (load ``model_path``).
        score: its ``metric`` on the selecting set.
        table: one row per (pair, strategy) with the score and run folder.
        metric: the metric that chose (``"accuracy"`` by default).
        selected_on: which data chose the pair, in words.
        oracle: True when the pair was chosen on test data (the paper's analysis on the
            open-domain set): the score is then not an unbiased test estimate.
        checkpoints_on: which data chose every candidate's ``best.keras``, in words.
        model_path: the chosen candidate's ``final.keras``.
    """

    pair: tuple[str, str]
    strategy: str
    model: keras.Model | None
    score: float
    table: pd.DataFrame
    metric: str = "accuracy"
    selected_on: str = ""
    oracle: bool = False
    checkpoints_on: str = ""
    model_path: Path | None = None


def _describe(data: Any) -> str:
    if data is None:
        return "none"
    if isinstance(data, DataSpec):
        return data.describe()
    if isinstance(data, Mapping):
        return "per domain: " + "; ".join(f"{k}: {_describe(v)}" for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return " + ".join(_describe(d) for d in data)
    return f"a given {type(data).__name__}"


def _is_test(data: Any, unknown: bool = True) -> bool:
    """Whether ``data`` (a DataSpec or several) reads test data; ``unknown`` when it cannot
    tell (a ready dataset)."""
    if isinstance(data, DataSpec):
        return data.is_test()
    if isinstance(data, Mapping):
        return any(_is_test(v, unknown) for v in data.values())
    if isinstance(data, (list, tuple)) and data:
        return any(_is_test(v, unknown) for v in data)
    return unknown


def _union(parts: list[Any]) -> Any:
    """One Data from several: a flat list of DataSpecs, or the single item."""
    if len(parts) == 1:
        return parts[0]
    flat = [q for p in parts for q in (p if isinstance(p, (list, tuple)) else [p])]
    if all(isinstance(p, DataSpec) for p in flat):
        return flat
    raise ConfigError("per-domain validation data must be DataSpecs to be combined")


def restricted_grid_search(model_name: str, reenactment_domains: Mapping[str, Data],
                           swap_domains: Mapping[str, Data],
                           val: Data | Mapping[str, Data] | None,
                           run_dir: str | os.PathLike, *, select_on: Data | None = None,
                           metric: str = "accuracy", k_videos: int | None = 10,
                           per_label: bool = True, transfer_source: str = "reenactment",
                           freeze: str = "first_half", top_k_layers: int | None = None,
                           source_hp: Mapping[str, Any] | None = None,
                           merge_hp: Mapping[str, Any] | None = None,
                           oracle: bool | None = None,
                           strategy: tf.distribute.Strategy | None = None,
                           **hp: Any) -> GridSearchResult:
    """Algorithm 1 of the CLRNet paper: best (reenactment, identity swap) combination.

    For every i in ``reenactment_domains`` and j in ``swap_domains``: T = TransferLearning(i, j)
    (source model trained on i by single-domain learning, transferred to j with K real + K fake
    videos of j and of i), M = MergeLearning(i, j); the better of T and M on ``select_on`` joins
    C; the result is the best member of C.

    Two roles are kept apart: ``val`` selects every run's checkpoint (``best.keras``, by the
    runs' monitor) and must be validation data of the training domains; ``select_on`` scores the
    trained candidates and chooses the pair. The paper chooses on the open-domain (DFW) attack
    ("highest classification accuracy on open-domain attack", Sec. 4.3.3) to examine how close
    an arbitrary choice comes to the best one (Sec. 6.3.1): with ``select_on`` = that test set
    the choice is an *oracle* and the result says so; test data never selects a checkpoint.

    Args:
        model_name: a name of ``clrnet.models.MODELS``.
        reenactment_domains: ``{name: training data}`` (paper: F2F, NT).
        swap_domains: ``{name: training data}`` (paper: DF, FS, DFD).
        val: checkpoint-selection data: one :data:`Data` for every run, or ``{domain name:
            val data}`` (each run then validates on its own training domains' val data:
            the source run on i, transfer and merge on i and j).
        run_dir: parent folder; each training gets a sub-folder.
        select_on: the data that scores the candidates and chooses the pair (paper: the
            DFW test set); None: ``val`` (all domains' val data pooled when given per domain).
        metric: ``"accuracy"`` (paper), ``"f1"`` or ``"auc"`` on clip scores.
        k_videos: videos per class for the transfer step.
        per_label: K real + K fake videos (see :func:`train_transfer`).
        transfer_source: ``"reenactment"`` (i → j) or ``"swap"`` (j → i).
        freeze: see :func:`freeze_layers`.
        top_k_layers: see :func:`freeze_layers`.
        source_hp: hyper-parameters overriding ``hp`` for the source (single-domain) runs.
        merge_hp: hyper-parameters overriding ``hp`` for the merge candidates (e.g. the
            official merge runs' 128-px input and batch size).
        oracle: whether ``select_on`` is test data; None infers it (a :class:`DataSpec` of a
            ``test`` split or rule ``dfw_test``; any data that is not a DataSpec counts as
            test data, since it cannot be told apart).
        strategy: distribution strategy.
        **hp: :class:`HParams` fields for every run.

    Returns:
        A :class:`GridSearchResult`; ``grid_search.json`` and ``grid_search.csv`` in
        ``run_dir`` hold the same facts.

    References:
        Tariq et al., WWW'21, Sec. 4.3.3, 6.3.1 and Algorithm 1.
    """
    if not reenactment_domains or not swap_domains:
        raise ConfigError("restricted grid search needs at least one reenactment and one "
                          "identity-swap domain")
    if transfer_source not in ("reenactment", "swap"):
        raise ConfigError(f"transfer_source must be reenactment or swap, got {transfer_source!r}")
    run_dir = Path(run_dir)
    batch_size = resolve_hp(model_name, **hp).batch_size
    per_domain = isinstance(val, Mapping)
    if per_domain:
        missing = sorted((set(reenactment_domains) | set(swap_domains)) - set(val))
        if missing:
            raise ConfigError(f"val has no data for domain(s) {missing}")

    def val_for(*names: str) -> Data | None:
        if not per_domain:
            return val
        return _union([val[n] for n in names])

    if select_on is None:
        if val is None:
            raise ConfigError("restricted grid search needs val or select_on data to choose")
        chooser = _union(list(val.values())) if per_domain else val
        chosen_by = "val"
    else:
        chooser, chosen_by = select_on, "select_on"
    if oracle is not None:
        is_oracle = bool(oracle)
    else:  # a ready dataset as select_on counts as test data; as val, as validation data
        is_oracle = _is_test(chooser, unknown=chosen_by == "select_on")
    selected_on = f"{chosen_by}: {_describe(chooser)}"
    sources: dict[str, Path] = {}

    def score(model: keras.Model) -> float:
        return score_frame(evaluate(model, chooser, batch_size, seed=hp.get("seed", 0),
                                    pipeline_kwargs=hp.get("pipeline_kwargs", {})), metric)

    def source_model(name: str, data: Data) -> Path:
        if name not in sources:
            res = train_single(model_name, data, val_for(name), run_dir / f"source-{name}",
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
        t = train_transfer(src_path, {t_name: t_data}, val_for(s_name, t_name),
                           run_dir / f"transfer-{s_name}-to-{t_name}", k_videos=k_videos,
                           per_label=per_label, source_data=s_data, freeze=freeze,
                           top_k_layers=top_k_layers, strategy=strategy, **hp)
        t_score = score(t.model)
        m = train_merge(model_name, {i: data_i, j: data_j}, val_for(i, j),
                        run_dir / f"merge-{i}-{j}", strategy=strategy,
                        **{**hp, **(merge_hp or {})})
        m_score = score(m.model)
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
    table["selected_on"] = selected_on
    checkpoints_on = f"val: {_describe(val)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(run_dir / "grid_search.csv", table)
    write_json_atomic(run_dir / "grid_search.json", {
        "pair": list(best[0]), "strategy": best[1], metric: best[3], "metric": metric,
        "selected_on": selected_on, "oracle": is_oracle, "checkpoints_selected_on":
            checkpoints_on,
        "note": ("oracle choice: the pair was chosen on test data (the paper's analysis of "
                 "how close an arbitrary choice comes to the best); its score is not an "
                 "unbiased test estimate") if is_oracle else
                "chosen on validation data; test data chose nothing"})
    chosen = best[2].run_dir / "final.keras"  # its last epoch, the model that was scored
    # a kept traced model may have trained a later candidate since: the file is the model
    model = None if reuse_enabled() else best[2].model
    return GridSearchResult(pair=best[0], strategy=best[1], model=model, score=best[3],
                            model_path=chosen,
                            table=table, metric=metric, selected_on=selected_on,
                            oracle=is_oracle, checkpoints_on=checkpoints_on)
