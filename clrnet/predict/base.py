"""What every part of ``clrnet.predict`` shares: its errors, defaults and one-line messages."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CLIPS",
    "DEFAULT_FRAMES",
    "MIN_FACE_FRACTION",
    "ModelLoadError",
    "PredictUsageError",
    "first_line",
]

#: Frames sampled per video for frame models (the MesoNet authors' pipeline used about 30).
DEFAULT_FRAMES = 32
#: Clips sampled per video for clip models without a registry default of their own.
DEFAULT_CLIPS = 16
#: A clip is scored when at least this fraction of its frames has a face.
MIN_FACE_FRACTION = 0.5


class PredictUsageError(Exception):
    """A usage problem (no inputs, bad option value); the CLI prints it and exits 2."""


class ModelLoadError(PredictUsageError):
    """The model name is unknown or the model file cannot be loaded as a Keras model."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
