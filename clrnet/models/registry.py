"""Old import path of the registry helpers (kept while the layout moves; use clrnet.registry)."""

from clrnet.registry import build_model
from clrnet.scoring import check_input as _check_input
from clrnet.scoring import fake_probability, output_kind


def registry_name(model):
    """The registry name a model was built as (its ``Detector.registry_name``), or None."""
    return getattr(model, "registry_name", "") or None


__all__ = ["_check_input", "build_model", "fake_probability", "output_kind", "registry_name"]
