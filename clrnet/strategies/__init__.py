"""CLRNet training strategies: single domain, merge, transfer and the restricted grid search.

Follows Tariq et al., "One Detector to Rule Them All" (WWW'21):

* **single-domain learning** (Sec. 4.2.1, 5.2.1): train on one dataset's training split;
* **merge learning** (Sec. 4.2.2, 5.2.2): train on the union of several domains' training
  videos, every video once per epoch, the real class one class, real and fake samples
  alternating (:func:`train_merge`);
* **transfer learning** (Sec. 4.2.3, 5.2.3): load a model fully trained on a source domain,
  freeze "the first half of the model layers", and train on K = 10 real + 10 fake videos of
  each target domain and of the source (:func:`train_transfer`; the module docstring of
  :mod:`~clrnet.strategies.learning` says how the layers are counted and how frozen
  BatchNormalization behaves);
* **restricted grid search** (Algorithm 1, Sec. 4.3.3): for every pair (i, j) of a facial
  reenactment domain i and an identity-swap domain j, train TransferLearning(i, j) and
  MergeLearning(i, j), keep the better of the two, and return the best pair.

Data: :class:`DataSpec` selects records and the protocol's split rule (``data_prep.splits``:
the CLRNet paper's 750/125/125 FF++ split, its DFD and DFDC splits, FF++'s official one),
assigned when the records are read.

Hyper-parameters default to the official notebooks (``shahroztariq/CLRNet``,
``src/CLRNET_*.ipynb``): Adam(5e-5), binary cross-entropy on the two-way softmax, batches of 16
clips of 5 frames, the checkpoint with the best validation accuracy, augmentation for CLRNet
only (``ModelSpec.augment``); every value can be overridden.

Interpretation choices (the paper leaves them open):

* "First half of the layers" is counted on ``model.layers`` of the Keras functional model
  (the ``Input`` layer included, nested models counting as one layer): layers
  ``[0, len // 2)`` are frozen. ``top_k_layers=K`` instead leaves only the last K layers
  trainable, as the official notebooks did (``FreezeBatchNormalization(top_k_layers=120)``:
  of the 207 CLRNet-50 layers, the first 87 are frozen). Frozen BatchNormalization layers run
  in inference mode (Keras 3 does this for any BN with ``trainable=False``).
* Algorithm 1 writes TransferLearning(i, j) without a direction; we take i (the reenactment
  domain) as the source trained by single-domain learning and j as the target
  (``transfer_source="swap"`` reverses it). Checkpoints are chosen on ``val`` (the training
  domains' val splits); "performs better" and the final choice use ``select_on`` (the paper:
  the open-domain test set, then an oracle choice, labelled so), by ``metric`` (accuracy by
  default, as the paper's "highest classification accuracy"; ``"f1"`` and ``"auc"`` too).
  Source models are trained once per source domain and reused across pairs.
* Scores are per clip (the paper's unit); :mod:`~clrnet.strategies.evaluation` computes them and
  :mod:`clrnet.aggregation` aggregates them per video.

Modules: :mod:`~clrnet.strategies.data` (:class:`DataSpec`, pipelines),
:mod:`~clrnet.strategies.hparams`, :mod:`~clrnet.strategies.learning` (single, merge, transfer),
:mod:`~clrnet.strategies.grid_search` (Algorithm 1).
"""

from clrnet.strategies.data import Data, DataSpec, make_dataset, official_augment, plan_summary
from clrnet.strategies.evaluation import evaluate, score_frame
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
    merge_datasets,
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
    "evaluate",
    "freeze_layers",
    "load_source_model",
    "make_dataset",
    "merge_datasets",
    "official_augment",
    "plan_summary",
    "resolve_hp",
    "restricted_grid_search",
    "score_frame",
    "train_merge",
    "train_single",
    "train_transfer",
]
