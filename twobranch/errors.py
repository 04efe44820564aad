"""Exceptions of the ``twobranch`` package.

Each carries a one-line message naming what is wrong and where, so ``python -m twobranch.train``
and ``python -m twobranch.predict`` print ``error: <message>`` and exit non-zero instead of a
traceback.
"""

from __future__ import annotations


class TwoBranchError(Exception):
    """Base class of every error raised on purpose by the ``twobranch`` package."""


class TwoBranchConfigError(TwoBranchError, ValueError):
    """An argument that cannot be used (bad override, radii, model name...)."""


class DenseNetWeightsError(TwoBranchError, ValueError):
    """A DenseNet weights file is missing or does not fit the model."""


class ModelFileError(TwoBranchError, ValueError):
    """A saved model that is missing, unreadable or of an unexpected kind."""
