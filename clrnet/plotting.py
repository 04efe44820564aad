"""Headless matplotlib and atomic PNG writing, shared by every figure of the package.

Used by :mod:`clrnet.heatmap` (predict's timeline strip), :mod:`twobranch.figures` and
:mod:`experiments.figures`, so a figure is never left half-written under its final name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG via ``<name>.tmp.png`` + ``os.replace``, then close it.

    Args:
        fig: a matplotlib figure.
        path: final PNG path (its folder is created).
        dpi: resolution.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    os.replace(tmp, path)
    return path
