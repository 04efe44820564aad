"""CLRNet and the CLRNet paper's baselines; importing this package registers them.

The builders live one per module (``clrnet.py``, ``mesonet.py``, ``xception.py``,
``shallownet.py``, ``dbirnn.py``, ``cnn_lstm.py``); :mod:`clrnet.models.specs` puts them in the
registry (:mod:`clrnet.registry`) with their official input sizes, clip lengths and training
values. Build any registered model with :func:`clrnet.registry.build_model`; score with
:func:`clrnet.scoring.fake_probability`.
"""

from clrnet.models.activations import hard_sigmoid_keras2
from clrnet.models.clrnet import build_clrnet, count_clrnet_params
from clrnet.models.specs import DEFAULT_PRETRAINED

__all__ = ["DEFAULT_PRETRAINED", "build_clrnet", "count_clrnet_params", "hard_sigmoid_keras2"]
