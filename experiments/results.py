"""Result rows of the table scripts and their outputs: averages, paper column, CSV, Markdown, PNG.

A result row is a dict ``{section, row, col, metric, ours, ...}``; :func:`f1_rows` (CLRNet
tables) and :func:`masi_rows` (Masi et al. tables) make them from per-sample scores,
:func:`attach_paper` adds the published value (``experiments/paper_tables.py``), and
:func:`markdown_table`, :func:`write_csv` and :func:`bar_chart` render them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.fileio import write_csv_atomic


def add_average(
    rows: list[dict[str, Any]], cols: Sequence[str], avg_col: str = "Avg.", metric: str | None = None
) -> list[dict[str, Any]]:
    """Append an average column per (section, row) over ``cols`` (only when all are present).

    Args:
        rows: result rows.
        cols: columns to average.
        avg_col: name of the average column.
        metric: only rows of this metric (None = all metrics separately).

    Returns:
        ``rows`` plus the average rows.
    """
    groups: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if metric is not None and r.get("metric") != metric:
            continue
        groups.setdefault((r["section"], r["row"], r.get("metric")), {})[r["col"]] = r["ours"]
    extra = []
    for (section, row, m), vals in groups.items():
        if all(c in vals for c in cols):
            mean = sum(vals[c] for c in cols) / len(cols)
            extra.append({"section": section, "row": row, "col": avg_col, "metric": m, "ours": mean})
    return rows + extra


def attach_paper(rows: list[dict[str, Any]], table: str | None) -> list[dict[str, Any]]:
    """Add the published value (``paper``) to each row.

    Args:
        rows: result rows.
        table: key of :data:`experiments.paper_tables.PAPER_TABLES` (None: no paper column).

    Returns:
        New rows with ``paper`` set (``nan`` where the paper has no such cell).
    """
    from experiments.paper_tables import paper_value

    out = []
    for r in rows:
        paper = (
            paper_value(table, r["section"], r.get("paper_row", r["row"]), r["col"])
            if table
            else math.nan
        )
        out.append({**r, "paper": paper})
    return out


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(
    rows: Sequence[Mapping[str, Any]], *, title: str, citation: str = "", digits: int = 2
) -> str:
    """Render result rows as Markdown, one pivot table per section, cells ``ours (paper)``.

    Args:
        rows: rows with ``section``, ``row``, ``col``, ``ours`` and optionally ``paper``.
        title: heading (says which data and profile produced the numbers).
        citation: source of the paper column.
        digits: decimals shown.

    Returns:
        Markdown text.
    """
    lines = [f"## {title}", ""]
    if citation:
        lines += [f"Cells: **ours** (paper). Paper column: {citation}.", ""]
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        sections.setdefault(r["section"], []).append(r)
    for section, srows in sections.items():
        metric = {r.get("metric") for r in srows} - {None, ""}
        label = f"{section}" + (f" — {', '.join(sorted(metric))}" if metric else "")
        cols = list(dict.fromkeys(r["col"] for r in srows))
        names = list(dict.fromkeys(r["row"] for r in srows))
        cell = {(r["row"], r["col"]): r for r in srows}
        lines += [f"### {label}", "", "| method | " + " | ".join(cols) + " |"]
        lines.append("|---|" + "---|" * len(cols))
        for name in names:
            vals = []
            for c in cols:
                r = cell.get((name, c))
                if r is None:
                    vals.append("")
                    continue
                paper = r.get("paper", math.nan)
                text = f"**{_fmt(r['ours'], digits)}**"
                if not (isinstance(paper, float) and math.isnan(paper)):
                    text += f" ({_fmt(paper, digits)})"
                vals.append(text)
            lines.append(f"| {name} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows to CSV atomically (columns: union of keys, fixed ones first)."""
    first = ["section", "row", "col", "metric", "ours", "paper"]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return write_csv_atomic(path, rows, [c for c in first if c in keys] +
                            [c for c in keys if c not in first])


def bar_chart(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, title: str
) -> Path | None:
    """One bar chart per section: ours (solid) vs paper (hatched) for every (row, col).

    Args:
        rows: result rows (``ours``, optional ``paper``).
        path: PNG destination.
        title: figure title.

    Returns:
        The PNG path, or None when there is nothing to plot.
    """
    from experiments.figures import ours_vs_paper_bars

    return ours_vs_paper_bars(rows, path, title=title)


def f1_rows(section: str, model: str, scores: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CLRNet-style rows: F1 (%) of the fake class at 0.5, one score per sample, one per column.

    A sample is a clip for clip models and a frame for frame models (the protocol's metric).
    Extra fields: macro F1, AUC with its 95 % bootstrap interval over test videos
    (:func:`clrnet.metrics.bootstrap_ci`, whole videos resampled per class), the fraction of
    samples called fake, video-level F1 (mean of sample scores) and sample counts.

    Args:
        section: table section.
        model: row name.
        scores: ``{column: DataFrame(video_id, method, label, score)}``.

    Returns:
        Result rows.
    """
    from clrnet import metrics as M
    from clrnet.aggregation import aggregate_scores

    rows = []
    for col, df in scores.items():
        y, s = df["label"].to_numpy(), df["score"].to_numpy()
        video = aggregate_scores(df, "video")
        fake = M.f1_at(y, s, 0.5)
        groups = (df["method"].astype(str) + "/" + df["video_id"].astype(str)).to_numpy()
        lo, hi = M.bootstrap_ci(y, s, groups)
        rows.append({
            "section": section, "row": model, "col": col, "metric": "F1 %",
            "ours": 100.0 * fake,
            "f1_macro": 100.0 * (fake + _f1_real(y, s)) / 2,
            "auc": M.roc_auc(y, s), "auc_lo": lo, "auc_hi": hi,
            "called_fake": float((s >= 0.5).mean()),
            "f1_video": 100.0 * M.f1_at(video["label"], video["score"], 0.5),
            "n_samples": int(len(df)), "n_videos": int(len(video)),
            "n_fake_videos": int(video["label"].sum()),
        })
    return rows


def _f1_real(y, s, threshold: float = 0.5) -> float:
    """F1 of the real class (a score below ``threshold`` is called real)."""
    import numpy as np

    y, pred_fake = np.asarray(y).astype(int), np.asarray(s) >= threshold
    tn = int(((y == 0) & ~pred_fake).sum())
    wrong = int((y != pred_fake.astype(int)).sum())
    return 2 * tn / (2 * tn + wrong) if tn else 0.0


def masi_rows(
    section: str, row: str, scores, *, level: str, cols: Sequence[str],
    paper_row: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of Masi-style metrics (in %) at one level.

    Args:
        section: table section.
        row: row name.
        scores: DataFrame from :func:`experiments.masi_runs.score_twobranch`.
        level: ``"frame"`` (one score per sequence/frame sample) or ``"video"`` (mean per video).
        cols: column names among ``AUC``, ``pAUC@f``, ``tAUC@f``, ``TAR@f``, ``ACC``.
        paper_row: row name in the paper table when it differs.

    Returns:
        Result rows.
    """
    from clrnet import metrics as M
    from clrnet.aggregation import aggregate_scores

    df = aggregate_scores(scores, "video") if level == "video" else scores
    y, s = df["label"].to_numpy(), df["score"].to_numpy()
    out = []
    for col in cols:
        name, _, cut = col.partition("@")
        if name == "AUC":
            value = M.roc_auc(y, s)
        elif name == "ACC":
            value = M.accuracy_at(y, s, 0.5)
        else:
            fn = {"pAUC": M.pauc, "tAUC": M.tauc, "TAR": M.tar_at_far}[name]
            value = fn(y, s, float(cut))
        r = {"section": section, "row": row, "col": col, "metric": "%", "ours": 100.0 * value,
             "level": level, "n": int(len(df)), "n_fake": int(df["label"].sum())}
        if paper_row:
            r["paper_row"] = paper_row
        out.append(r)
    return out
