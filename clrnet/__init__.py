"""CLRNet (Tariq et al., WWW'21) and the detection framework both papers build on.

The framework: :mod:`clrnet.registry` (every model of both papers), :mod:`clrnet.scoring`
(P(fake)), :mod:`clrnet.aggregation`, :mod:`clrnet.metrics`, :mod:`clrnet.run_record`, the
training loop (:mod:`clrnet.training`), the strategies (:mod:`clrnet.strategies`), fast inference
(:mod:`clrnet.inference`) and ``python -m clrnet.predict``. The CLRNet paper: its models and
baselines (:mod:`clrnet.models`), ``convert_official`` and ``cam``.

Importing the package registers the CLRNet family's models and custom Keras objects, so their
saved ``.keras`` files load with plain ``keras.models.load_model``.
"""

from data_prep.tfquiet import import_quietly

import_quietly()  # TensorFlow without its start-up chatter, before anything imports it
from clrnet import inference, models  # noqa: E402, F401  (register serializable objects)
