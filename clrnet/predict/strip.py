"""``--heatmap``: the timeline strip of a scored video (drawn by :func:`clrnet.heatmap.save_strip`).

The few frames shown across the top are decoded in a second, short pass over the video (only
those frames are converted; the others are grabbed), cropped around the scored face box.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["heatmap_path", "write_heatmap"]


def heatmap_path(out: str, video: str, many: bool) -> Path:
    """``out`` for one video; ``OUT_<video stem>.png`` beside it when there are several."""
    base = Path(out)
    if not many:
        return base
    return base.with_name(f"{base.stem}_{Path(video).stem}{base.suffix or '.png'}")


def around_box(frame: np.ndarray, box: np.ndarray,
               context: float) -> tuple[np.ndarray, np.ndarray]:
    """Square crop of ``frame`` around ``box`` (``context`` x its long side), and the box in it."""
    h, w = frame.shape[:2]
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    half = 0.5 * context * max(box[2] - box[0], box[3] - box[1], 8.0)
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    x2, y2 = int(min(w, cx + half)), int(min(h, cy + half))
    return frame[y1:y2, x1:x2], box - np.array([x1, y1, x1, y1], np.float64)


def write_heatmap(result: Any, loaded: Any, out_png: Path, threshold: float,
                  n_frames: int = 8, max_width: int = 320, context: float = 2.5) -> Path:
    """Draw the strip for a scored video.

    Args:
        result: a scored :class:`clrnet.predict.video.VideoResult` (``strip`` set).
        loaded: the model, for the title.
        out_png: destination.
        threshold: decision threshold.
        n_frames: frames across the top.
        max_width: shown frames are downscaled to this width.
        context: shown frames are cropped to a square this many face-box sides wide.

    Returns:
        The written path.
    """
    import cv2

    from clrnet.heatmap import pick_strip_frames, save_strip
    from data_prep.video import VideoReader

    rec, strip = result.record, result.strip
    fps = strip["fps"] or 25.0
    boxes: dict[int, Any] = {}
    for f, b in strip["frames"]:  # largest box per frame when several faces
        if f not in boxes or (b[2] - b[0]) * (b[3] - b[1]) > (
                boxes[f][2] - boxes[f][0]) * (boxes[f][3] - boxes[f][1]):
            boxes[f] = b
    picks = pick_strip_frames(sorted(boxes), n_frames)
    shown = []
    with VideoReader(rec["path"]) as reader, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f, frame in reader.frames(picks):
            crop, box = around_box(frame, np.asarray(boxes[f], np.float64), context)
            scale = min(1.0, max_width / crop.shape[1])
            if scale < 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            shown.append((f / fps, crop, box * scale))
    # centre time of every planned unit; unscored units (no face) stay grey (NaN)
    times = [0.5 * (a + b) / fps for a, b in strip["spans"]]
    duration = rec["duration_s"] or None
    title = (f"{Path(rec['path']).name} - {loaded.name} - {rec['verdict']} "
             f"(P(fake) {rec['fake_probability']:.3f})")
    return save_strip(shown, times, strip["scores"], out_png, title=title, duration=duration,
                      threshold=threshold)
