"""What to score: the video files named on the command line, and the frames or clips of each.

Folders are searched recursively for the extensions of
:data:`data_prep.datasets.base.VIDEO_EXTENSIONS` (the one list the package uses).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clrnet.predict.base import PredictUsageError
from data_prep.datasets.base import VIDEO_EXTENSIONS

__all__ = ["VIDEO_EXTENSIONS", "expand_inputs", "plan_units"]


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Expand folders into the video files they hold (recursively, sorted); keep other paths.

    Missing paths and non-video files are kept so that each gets its own error line.

    Args:
        paths: files and folders from the command line.

    Returns:
        Video paths in order, without duplicates.

    Raises:
        PredictUsageError: nothing to score (every argument an empty folder).
    """
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(
                str(f) for f in Path(p).rglob("*")
                if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS
            )
            out.extend(found)
        else:
            out.append(p)
    out = list(dict.fromkeys(out))
    if not out:
        raise PredictUsageError(f"no video files found in {', '.join(paths)}")
    return out


def plan_units(frame_count: int, loaded: Any, frames: int | None = None,
               clips: int | None = None, clip_stride: int = 1) -> list[list[int]]:
    """The frames (as 1-frame units) or clips to score for a video.

    Args:
        frame_count: frames in the video.
        loaded: the model (:class:`~clrnet.predict.loading.LoadedModel`; only ``kind``,
            ``clip_len`` and ``units`` are read).
        frames: frames to sample for a frame model (default: ``loaded.units``, 32).
        clips: clips to sample for a clip model (default: ``loaded.units``: 16; 8 for the
            two-branch network).
        clip_stride: distance between a clip's frames (1 = consecutive; Masi et al. use 7 at
            inference).

    Returns:
        Lists of frame indices, one per unit to score.

    References:
        Masi et al., ECCV'20, Sec. 4 ("1 frame over 7" at inference) for ``clip_stride=7``.
    """
    from data_prep.video import evenly_spaced, evenly_spaced_clips

    if loaded.kind == "frame":
        return [[i] for i in evenly_spaced(frame_count, frames or loaded.units)]
    span = (loaded.clip_len - 1) * clip_stride + 1
    windows = evenly_spaced_clips(frame_count, span, clips or loaded.units)
    return [list(range(w[0], w[0] + span, clip_stride)) for w in windows]
