"""Model errors now live in :mod:`clrnet.errors`; this module keeps the old import path."""

from clrnet.errors import InputShapeError, ModelError, UnknownModelError, WeightsError

__all__ = ["InputShapeError", "ModelError", "UnknownModelError", "WeightsError"]
