"""CLRNet and the CLRNet paper's baselines; importing this package registers them.

The builders live one per module (``clrnet.py``, ``mesonet.py``, ``xception.py``,
``shallownet.py``, ``dbirnn.py``, ``cnn_lstm.py``); :mod:`clrnet.models.specs` puts them in the
registry (:mod:`clrnet.registry`) with their official input sizes, clip lengths and training
values. Build any registered model with :func:`build_model`.
"""

from clrnet.errors import InputShapeError, ModelError, UnknownModelError, WeightsError
from clrnet.models.activations import hard_sigmoid_keras2
from clrnet.models.clrnet import build_clrnet, count_clrnet_params
from clrnet.models.registry import registry_name  # old name, removed once callers move
from clrnet.models.specs import DEFAULT_PRETRAINED
from clrnet.registry import build_model, load_pretrained, names
from clrnet.scoring import fake_probability, loss_for, output_kind, targets_for

__all__ = [
    "DEFAULT_PRETRAINED",
    "InputShapeError",
    "ModelError",
    "UnknownModelError",
    "WeightsError",
    "build_clrnet",
    "build_model",
    "count_clrnet_params",
    "fake_probability",
    "hard_sigmoid_keras2",
    "load_pretrained",
    "loss_for",
    "names",
    "output_kind",
    "registry_name",
    "targets_for",
]
