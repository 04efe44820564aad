"""CLRNet training strategies: single domain, merge, transfer and the restricted grid search.

Follows Tariq et al., "One Detector to Rule Them All" (WWW'21):

* **single-domain learning** (Sec. 4.2.1, 5.2.1): train on one dataset's training split;
* **merge learning** (Sec. 4.2.2, 5.2.2, 6.2.3): train on the union of several domains with an
  equal number of samples from each (the pipeline's ``domain_balance``; see
  ``data_prep.sampling.balance_domains``);
* **transfer learning** (Sec. 4.2.3, 5.2.3): load a model fully trained on a source domain,
  freeze "the first half of the model layers", and train on a small subset (10 videos) of
  each target domain;
* **restricted grid search** (Algorithm 1, Sec. 4.3.3): for every pair (i, j) of a facial
  reenactment domain i and an identity-swap domain j, train TransferLearning(i, j) and
  MergeLearning(i, j), keep the better of the two, and return the best pair.

Hyper-parameters default to the official notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_*``;
reference models.md Sec. 1.4): Adam(5e-5), binary cross-entropy on the two-way softmax,
batches of 16 clips of 5 frames; every value can be overridden.

Interpretation choices (the paper leaves them open):

* "First half of the layers" is counted on ``model.layers`` of the Keras functional model
  (the ``Input`` layer included, nested models counting as one layer): layers
  ``[0, len // 2)`` are frozen. ``top_k_layers=K`` instead leaves only the last K layers
  trainable, as the official notebooks did (``FreezeBatchNormalization(top_k_layers=120)``:
  of the 207 CLRNet-50 layers, the first 87 are frozen). Frozen BatchNormalization layers run
  in inference mode (Keras 3 does this for any BN with ``trainable=False``), which is what the
  official code achieved through ``trainable=False`` as well.
* Algorithm 1 writes TransferLearning(i, j) without a direction; we take i (the reenactment
  domain) as the source trained by single-domain learning and j as the target
  (``transfer_source="swap"`` reverses it). "Performs better" and the final choice use the
  validation data given (the paper used its open-domain set), by ``metric`` (accuracy by
  default, as the paper's "highest classification accuracy"; ``"f1"`` and ``"auc"`` too).
  Source models are trained once per source domain and reused across pairs.
* Scores are per clip (the paper's unit); :mod:`clrnet.evaluation` computes them and
  :mod:`clrnet.aggregation` aggregates them per video.

Modules: :mod:`~clrnet.strategies.data` (:class:`DataSpec`, pipelines),
:mod:`~clrnet.strategies.hparams`, :mod:`~clrnet.strategies.learning` (single, merge, transfer),
:mod:`~clrnet.strategies.grid_search` (Algorithm 1).
"""

from clrnet.strategies.data import Data, DataSpec, make_dataset
from clrnet.strategies.grid_search import (
    IDENTITY_SWAP,
    REENACTMENT,
    GridSearchResult,
    restricted_grid_search,
)
from clrnet.strategies.hparams import HParams, resolve_hp
from clrnet.strategies.learning import (
    StrategyResult,
    build_for_data,
    freeze_layers,
    load_source_model,
    train_merge,
    train_single,
    train_transfer,
)

__all__ = [
    "IDENTITY_SWAP",
    "REENACTMENT",
    "Data",
    "DataSpec",
    "GridSearchResult",
    "HParams",
    "StrategyResult",
    "build_for_data",
    "freeze_layers",
    "load_source_model",
    "make_dataset",
    "resolve_hp",
    "restricted_grid_search",
    "train_merge",
    "train_single",
    "train_transfer",
]
