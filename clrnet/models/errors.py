"""Exceptions raised by ``clrnet.models`` (one clear line naming what and where).

They extend the package-wide hierarchy in ``clrnet.errors`` so callers catching
``ClrnetError``, ``InputShapeError`` or ``WeightsMismatchError`` there also catch these.
"""

from __future__ import annotations

from clrnet import errors as _errors


class ModelError(_errors.ClrnetError, ValueError):
    """Base class for every error raised by ``clrnet.models``."""


class UnknownModelError(ModelError):
    """A model name that is not in the registry."""


class InputShapeError(ModelError, _errors.InputShapeError):
    """An input array whose shape (or value range) does not fit the model."""


class WeightsError(ModelError, _errors.WeightsMismatchError):
    """A weights file that is missing, unreadable or made for another architecture."""
