"""Exceptions of the ``clrnet`` framework (registry, models, training, strategies, CAM, predict).

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
    """Data whose clip length, frame size, channels or value range do not fit the model."""


class ModelError(ClrnetError, ValueError):
    """A model that cannot be built, loaded or used as asked (bad argument or value)."""


class UnknownModelError(ModelError):
    """A model name that is not in the registry (the message lists the valid names)."""


class WeightsError(ModelError):
    """A weights or model file that is missing, unreadable or made for another architecture."""


class PrecisionError(ClrnetError, ValueError):
    """A precision mode the visible hardware cannot run (e.g. float16 without a GPU)."""


class ResumeError(ClrnetError, ValueError):
    """A run folder that cannot be resumed (missing, or holding no checkpoint)."""


class CamError(ClrnetError, ValueError):
    """A model or clip for which class activation maps cannot be computed."""


class MetricInputError(ClrnetError, ValueError):
    """Labels or scores that cannot be evaluated (shape mismatch, non-binary labels, NaN)."""
