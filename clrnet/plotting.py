"""Headless matplotlib and atomic PNG writing, shared by every figure of the package.

Used by :mod:`clrnet.heatmap` (predict's timeline strip), :mod:`twobranch.figures` and
:mod:`experiments.figures`, so a figure is never left half-written under its final name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from data_prep.fileio import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically (:func:`data_prep.fileio.atomic_path`), then close it.

    Args:
        fig: a matplotlib figure.
        path: final PNG path (its folder is created).
        dpi: resolution.

    Returns:
        The written path.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return path
