"""Exceptions of the ``clrnet`` package (training, strategies, CAM).

Every error carries a one-line message that names what is wrong and where (a path, a model
name, a flag), so command-line entry points can print ``error: <message>`` and exit non-zero
instead of showing a traceback. All of them derive from :class:`ClrnetError`, and the ones that
describe a bad value also derive from :class:`ValueError`.
"""

from __future__ import annotations


class ClrnetError(Exception):
    """Base class of every error raised on purpose by the ``clrnet`` package."""


class ConfigError(ClrnetError, ValueError):
    """An argument or hyper-parameter that cannot be used (e.g. an unknown strategy)."""


class EmptyDatasetError(ClrnetError, ValueError):
    """A data selection that holds no records (e.g. a split or method with no clips)."""


class InputShapeError(ClrnetError, ValueError):
    """Data whose clip length, frame size or channels do not match the model's input."""


class WeightsMismatchError(ClrnetError, ValueError):
    """A weights or model file that belongs to another architecture."""


class PrecisionError(ClrnetError, ValueError):
    """A precision mode the visible hardware cannot run (e.g. float16 without a GPU)."""


class ResumeError(ClrnetError, ValueError):
    """A run folder that cannot be resumed (missing, or holding no checkpoint)."""


class CamError(ClrnetError, ValueError):
    """A model or clip for which class activation maps cannot be computed."""
