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

    The average row holds the mean of ``ours`` and, when every averaged cell has one, the mean
    clip ``auc`` (no interval: a mean of intervals is not an interval of the mean) and
    ``n_one_class``, how many averaged cells called every sample one class.

    Args:
        rows: result rows.
        cols: columns to average.
        avg_col: name of the average column.
        metric: only rows of this metric (None = all metrics separately).

    Returns:
        ``rows`` plus the average rows.
    """
    groups: dict[tuple, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        if metric is not None and r.get("metric") != metric:
            continue
        groups.setdefault((r["section"], r["row"], r.get("metric")), {})[r["col"]] = r
    extra = []
    for (section, row, m), cells in groups.items():
        if not all(c in cells for c in cols):
            continue
        chosen = [cells[c] for c in cols]
        avg: dict[str, Any] = {"section": section, "row": row, "col": avg_col, "metric": m,
                               "ours": sum(r["ours"] for r in chosen) / len(cols)}
        if all("auc" in r for r in chosen):
            avg["auc"] = sum(float(r["auc"]) for r in chosen) / len(cols)
            avg["n_one_class"] = sum(one_class(r) for r in chosen)
        extra.append(avg)
    return rows + extra


def one_class(row: Mapping[str, Any]) -> bool:
    """Whether a cell called every test sample one class (``called_fake`` 0 or 1).

    Its F1 at 0.5 is then fixed by the class balance (every clip fake: 2p/(1+p) for a fake
    share p; every clip real: 0) and says nothing about detection.
    """
    called = row.get("called_fake")
    return called is not None and not _isnan(called) and float(called) in (0.0, 1.0)


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


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


#: Mark of a cell that called every test sample one class (see :func:`one_class`).
ONE_CLASS_MARK = "†"


def auc_text(row: Mapping[str, Any], digits: int = 2) -> str:
    """``AUC 0.91 [0.80, 0.99]`` (cell), ``AUC 0.87 mean`` (average column) or ``""``."""
    if "auc" not in row:
        return ""
    text = f"AUC {_fmt(float(row['auc']), digits)}"
    if "auc_lo" in row or "auc_hi" in row:
        lo, hi = row.get("auc_lo", math.nan), row.get("auc_hi", math.nan)
        if not (_isnan(lo) and _isnan(hi)):
            text += f" [{_fmt(float(lo), digits)}, {_fmt(float(hi), digits)}]"
    else:
        text += " mean"
    return text


def cell_text(row: Mapping[str, Any], digits: int = 2) -> str:
    """One Markdown cell: ``**F1 ours** (paper) · AUC a [lo, hi]``, marked when one-class.

    Rows without ``auc`` (Masi et al. tables) render as ``**ours** (paper)``.
    """
    paper = row.get("paper", math.nan)
    text = f"**{_fmt(row['ours'], digits)}**"
    if not _isnan(paper):
        text += f" ({_fmt(paper, digits)})"
    auc = auc_text(row)
    if auc:
        text += f" · {auc}"
    if one_class(row):
        text += f" {ONE_CLASS_MARK}"
    elif row.get("n_one_class"):
        text += f" ({row['n_one_class']}{ONE_CLASS_MARK})"
    return text


def markdown_table(
    rows: Sequence[Mapping[str, Any]], *, title: str, citation: str = "", digits: int = 2
) -> str:
    """Render result rows as Markdown, one pivot table per section.

    A cell is ``**ours** (paper)``; rows that carry a clip AUC (the CLRNet tables,
    :func:`f1_rows`) add ``· AUC a [lo, hi]`` (95 % bootstrap interval over test videos), the
    average column the mean AUC, and a cell that called every sample one class is marked
    :data:`ONE_CLASS_MARK` (an average cell counts its marked cells).

    Args:
        rows: rows with ``section``, ``row``, ``col``, ``ours`` and optionally ``paper``,
            ``auc``, ``auc_lo``, ``auc_hi``, ``called_fake``, ``n_one_class``.
        title: heading (says which data and profile produced the numbers).
        citation: source of the paper column.
        digits: decimals shown.

    Returns:
        Markdown text.
    """
    lines = [f"## {title}", ""]
    with_auc = any("auc" in r for r in rows)
    if citation or with_auc:
        legend = "Cells: **ours** (paper)"
        if with_auc:
            legend = ("Cells: **F1 % ours** (paper F1 %) · clip AUC [95 % bootstrap interval "
                      "over test videos]; the Avg. column: mean F1, mean AUC")
        lines += [legend + (f". Paper column: {citation}." if citation else "."), ""]
        if any(one_class(r) for r in rows):
            lines += [f"{ONE_CLASS_MARK}: every test sample was called one class (all fake or "
                      "all real), so that F1 is set by the class balance, not by detection.", ""]
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
            vals = [cell_text(cell[(name, c)], digits) if (name, c) in cell else ""
                    for c in cols]
            lines.append(f"| {name} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def cell_summary(cell_id: str, rows: Sequence[Mapping[str, Any]], seconds: float | None = None,
                 *, cached: bool = False) -> str:
    """One line per finished cell: ``merge__xception  FS 0.98 DF 1.00 ... (312 s)``.

    Each column shows its clip AUC (its F1/metric value when the row has no AUC), followed by
    ``(all fake)`` / ``(all real)`` when every sample got one class.

    Args:
        cell_id: the cell's id.
        rows: the cell's result rows.
        seconds: its compute time.
        cached: read from an earlier run.

    Returns:
        The line (no newline).
    """
    parts = []
    for r in rows:
        value = r.get("auc", r.get("ours"))
        text = f"{r.get('col', '?')} {_fmt(value if value is None else float(value))}"
        if one_class(r):
            text += " (all fake)" if float(r["called_fake"]) == 1.0 else " (all real)"
        parts.append(text)
    kind = "AUC " if any("auc" in r for r in rows) else ""
    tail = "cached" if cached else (f"{seconds:.0f} s" if seconds is not None else "")
    return f"{cell_id}  {kind}{'  '.join(parts)}" + (f"  ({tail})" if tail else "")


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
