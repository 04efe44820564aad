"""CLRNet and the CLRNet paper's baselines, behind one registry (see ``registry.py``)."""

from clrnet.models.activations import hard_sigmoid_keras2
from clrnet.models.clrnet import build_clrnet, count_clrnet_params
from clrnet.models.errors import InputShapeError, ModelError, UnknownModelError, WeightsError
from clrnet.models.registry import (
    DEFAULT_PRETRAINED,
    MODEL_DEFAULTS,
    MODELS,
    PRETRAINED,
    ProvenanceTag,
    build_model,
    expected_input,
    fake_probability,
    load_pretrained,
    loss_for,
    model_kind,
    output_kind,
    provenance,
    registry_name,
    targets_for,
)

__all__ = [
    "DEFAULT_PRETRAINED",
    "MODELS",
    "MODEL_DEFAULTS",
    "PRETRAINED",
    "InputShapeError",
    "ModelError",
    "ProvenanceTag",
    "UnknownModelError",
    "WeightsError",
    "build_clrnet",
    "build_model",
    "count_clrnet_params",
    "expected_input",
    "fake_probability",
    "hard_sigmoid_keras2",
    "load_pretrained",
    "loss_for",
    "model_kind",
    "output_kind",
    "provenance",
    "registry_name",
    "targets_for",
]
