"""CLRNet (Tariq et al., WWW'21) reproduction: models, baselines, training and prediction.

Importing the package imports :mod:`clrnet.models`, which registers every custom Keras object
(``hard_sigmoid_keras2``, ``ProvenanceTag``) so saved ``.keras`` files load with plain
``keras.models.load_model``.
"""

import data_prep  # noqa: F401  (imports TensorFlow quietly first)
from clrnet import inference, models  # noqa: F401  (register serializable objects)
