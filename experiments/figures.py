"""Plots shared by the table scripts (and usable by prediction code): PNG files via matplotlib Agg.

* :func:`ours_vs_paper_bars`: one panel per table section, our value next to the published one.
* :func:`roc_curves`: ROC curves of several score sets, with the FAR cut-offs of Masi et al.
* :func:`score_histograms`: score / distance histograms of real vs fake (Masi et al. Fig. 4c/d
  style; the two-branch specific figures live in ``twobranch.figures``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clrnet.plotting import pyplot, save_figure


def ours_vs_paper_bars(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, title: str
) -> Path | None:
    """Grouped bars of our values (solid) and the paper's (hatched), one panel per section.

    Args:
        rows: rows with ``section``, ``row``, ``col``, ``ours`` and optional ``paper``.
        path: PNG destination.
        title: figure title.

    Returns:
        The PNG path, or None when no row has a finite value.
    """
    plt = pyplot()
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if isinstance(r.get("ours"), int | float) and math.isfinite(r["ours"]):
            sections.setdefault(r["section"], []).append(r)
    if not sections:
        return None
    n = len(sections)
    fig, axes = plt.subplots(n, 1, figsize=(11, 3.2 * n), squeeze=False)
    for ax, (section, srows) in zip(axes[:, 0], sections.items(), strict=True):
        cols = list(dict.fromkeys(r["col"] for r in srows))
        names = list(dict.fromkeys(r["row"] for r in srows))
        width = 0.8 / max(len(names), 1)
        cmap = plt.get_cmap("tab10")
        x = np.arange(len(cols))
        for i, name in enumerate(names):
            by_col = {r["col"]: r for r in srows if r["row"] == name}
            ours = [by_col[c]["ours"] if c in by_col else np.nan for c in cols]
            paper = [by_col[c].get("paper", np.nan) if c in by_col else np.nan for c in cols]
            pos = x - 0.4 + width * (i + 0.5)
            ax.bar(pos - width / 4, ours, width / 2, color=cmap(i % 10), label=str(name))
            ax.bar(pos + width / 4, paper, width / 2, color=cmap(i % 10), alpha=0.35, hatch="//")
        ax.set_xticks(x, cols)
        ax.set_title(f"{section}  (solid: ours, hatched: paper)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def roc_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | os.PathLike,
    *,
    title: str,
    fars: Sequence[float] = (0.01, 0.1),
    log_x: bool = False,
) -> Path:
    """ROC curves (TAR vs FAR) of several labelled score sets.

    Args:
        curves: ``{label: (y_true, y_score)}``.
        path: PNG destination.
        title: figure title.
        fars: FAR cut-offs drawn as vertical lines.
        log_x: logarithmic FAR axis (low-FAR view of Masi et al.).

    Returns:
        The PNG path.
    """
    from clrnet.metrics import roc_auc, roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        if np.isnan(fpr).any() or np.isnan(tpr).any():
            continue
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc(y, s):.3f})")
    for far in fars:
        ax.axvline(far, color="grey", ls=":", lw=0.8)
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 1)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
    ax.set_xlabel("FAR (false positive rate)")
    ax.set_ylabel("TAR (true positive rate)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def score_histograms(
    y_true: Sequence[int],
    y_score: Sequence[float],
    path: str | os.PathLike,
    *,
    title: str,
    xlabel: str = "score (higher = more fake)",
    lines: Mapping[str, float] | None = None,
) -> Path:
    """Histograms of the scores of real and fake samples.

    Args:
        y_true: labels, fake = 1.
        y_score: scores.
        path: PNG destination.
        title: figure title.
        xlabel: x-axis label.
        lines: named vertical lines (e.g. ``{"r-": 0.04, "r+": 1.6}``).

    Returns:
        The PNG path.
    """
    plt = pyplot()
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(s.min(), s.max() if s.max() > s.min() else s.min() + 1, 30)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label=f"real (n={int((y == 0).sum())})")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label=f"fake (n={int((y == 1).sum())})")
    for name, v in (lines or {}).items():
        ax.axvline(v, color="k", ls="--", lw=0.8)
        ax.text(v, ax.get_ylim()[1] * 0.9, name, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
