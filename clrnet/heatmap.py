"""A per-video "timeline strip": sampled frames with the face box over a coloured P(fake) bar.

Follows the idea of Masi et al. (ECCV'20) Fig. 1, which shows frames of a video above a bar of
per-frame fakeness along time. Ours: ~6-8 evenly chosen frames across the top, each with the
scored face box drawn, and below them one bar along the video's timeline where each scored clip
(or frame) paints its time span with its P(fake) in a colormap (``RdYlGn_r``: green = real,
red = fake), unscored stretches grey, with a colour-bar legend and the threshold marked on it.
No code of the paper is followed (none was released for the figure).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clrnet.plotting import pyplot, save_figure

__all__ = ["save_strip", "pick_strip_frames"]


def pick_strip_frames(frame_indices: Sequence[int], n: int = 8) -> list[int]:
    """Choose up to ``n`` frames spread evenly over the given (sorted) frame indices.

    Args:
        frame_indices: candidate frame indices (e.g. the sampled frames that had a face).
        n: how many to keep.

    Returns:
        Sorted unique indices, at most ``n``.
    """
    idx = sorted({int(i) for i in frame_indices})
    if len(idx) <= n:
        return idx
    picks = np.linspace(0, len(idx) - 1, n).round().astype(int)
    return sorted({idx[p] for p in picks})


def _timeline(spans: np.ndarray, scores: np.ndarray, duration: float, bins: int) -> np.ndarray:
    """Per-bin score along ``[0, duration]``: the score of the span covering it, NaN elsewhere."""
    line = np.full(bins, np.nan)
    edges = np.linspace(0.0, duration, bins + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    for (start, end), s in zip(spans, scores, strict=True):
        covered = (centres >= start) & (centres < max(end, start + duration / bins))
        if not covered.any():  # span thinner than a bin: paint the nearest one
            covered[int(np.clip(np.searchsorted(centres, start), 0, bins - 1))] = True
        # overlapping spans (e.g. several face tracks): keep the more suspicious score
        line[covered] = np.fmax(line[covered], s)
    return line


def save_strip(
    frames_with_boxes: Sequence[tuple[float, np.ndarray, Sequence[float] | None]],
    times: Sequence[tuple[float, float]] | Sequence[float],
    scores: Sequence[float],
    out_png: str | os.PathLike,
    title: str = "",
    duration: float | None = None,
    threshold: float = 0.5,
    cmap: str = "RdYlGn_r",
) -> Path:
    """Draw and save the strip.

    Args:
        frames_with_boxes: ``(time_s, frame_rgb, box)`` per frame to show across the top, in time
            order; ``frame_rgb`` is ``uint8`` (H, W, 3); ``box`` is ``(x1, y1, x2, y2)`` in that
            frame's pixel coordinates, or None.
        times: per score, its ``(start_s, end_s)`` span on the timeline, or a single time in
            seconds (spans then reach halfway to the neighbouring scores).
        scores: per-clip (or per-frame) P(fake) in [0, 1], same length as ``times``; NaN for
            a clip that was sampled but not scored (drawn grey).
        out_png: output path (written to ``<name>.tmp.png`` first, then moved into place).
        title: figure title (e.g. video name, model, verdict).
        duration: video length in seconds; default the end of the last span or frame.
        threshold: decision threshold, marked on the colour bar.
        cmap: matplotlib colormap name.

    Returns:
        The written path.

    Raises:
        ValueError: ``times`` and ``scores`` differ in length.
    """
    from matplotlib.patches import Rectangle

    plt = pyplot()

    scores_a = np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), 0.0, 1.0)
    spans = _spans(times, len(scores_a))
    ends = [float(spans[:, 1].max())] if len(spans) else []
    ends += [float(t) for t, _, _ in frames_with_boxes]
    if duration is None or duration <= 0:
        duration = max(ends) if ends else 1.0
    duration = max(float(duration), 1e-3)

    n = max(len(frames_with_boxes), 1)
    fig = plt.figure(figsize=(max(1.8 * n, 8.0), 3.6))
    grid = fig.add_gridspec(2, n, height_ratios=[2.2, 0.8], hspace=0.3, wspace=0.05)
    for k, (t, frame, box) in enumerate(frames_with_boxes):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(frame)
        if box is not None:
            x1, y1, x2, y2 = (float(v) for v in box)
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec="cyan"))
        ax.set_title(f"{t:.2f} s", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])

    bar = fig.add_subplot(grid[1, :])
    line = _timeline(spans, scores_a, duration, bins=max(200, 4 * len(scores_a)))
    colormap = plt.get_cmap(cmap).with_extremes(bad="#bbbbbb")
    image = bar.imshow(
        np.ma.masked_invalid(line)[None, :], aspect="auto", cmap=colormap, vmin=0.0, vmax=1.0,
        extent=(0.0, duration, 0.0, 1.0), interpolation="nearest",
    )
    for t, _, _ in frames_with_boxes:
        bar.axvline(float(t), color="black", lw=0.8, ls=":")
    bar.set_yticks([])
    bar.set_xlim(0.0, duration)
    bar.set_xlabel("time (s)  -  grey: not scored (no face or not sampled)", fontsize=8)
    cb = fig.colorbar(image, ax=bar, orientation="vertical", fraction=0.03, pad=0.01)
    cb.set_label("P(fake)", fontsize=8)
    cb.ax.axhline(threshold, color="black", lw=1.0)
    cb.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)

    return save_figure(fig, out_png, dpi=100)


def _spans(times: Sequence, count: int) -> np.ndarray:
    """``(count, 2)`` start/end seconds from spans or single times (midpoint rule)."""
    if len(times) != count:
        raise ValueError(f"times has {len(times)} entries but scores has {count}")
    if count == 0:
        return np.zeros((0, 2))
    first = times[0]
    if np.ndim(first) == 1:
        return np.asarray(times, dtype=np.float64).reshape(count, 2)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    order = np.argsort(t)
    ts = t[order]
    mids = 0.5 * (ts[1:] + ts[:-1])
    starts = np.concatenate([[max(ts[0] - (mids[0] - ts[0] if len(mids) else 0.5), 0.0)], mids])
    ends = np.concatenate([mids, [ts[-1] + (ts[-1] - mids[-1] if len(mids) else 0.5)]])
    out = np.empty((count, 2))
    out[order, 0] = starts
    out[order, 1] = ends
    return out
