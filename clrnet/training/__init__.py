"""The training loop both papers share: run folder, distribution, precision, resumable fit.

Used by ``python -m clrnet.train`` and ``python -m twobranch.train`` (and the experiments
harness), so both papers' models train through one loop with the same outputs:

the run folder of :mod:`clrnet.training.run_folder` (run record, checkpoints, ``state.json``,
``best.keras``, ``final.keras``, ``history.csv``, TensorBoard scalars, ``metrics.json``).

Modules: :mod:`~clrnet.training.loop` (:func:`fit_model`), :mod:`~clrnet.training.callbacks`,
:mod:`~clrnet.training.run_folder`, :mod:`~clrnet.training.devices` (distribution strategy,
precision policy), :mod:`~clrnet.training.batchnorm` (BatchNorm statistics of briefly trained
models).

The official CLRNet notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_*.ipynb``) save a full model
every epoch with ``ModelCheckpoint``, log with ``CSVLogger`` and resume by hand with
``initial_epoch``; this package keeps that behaviour and differs where the notebooks are fragile:

* checkpoints are written atomically (:mod:`data_prep.fileio`), so an interrupted save never
  leaves a broken checkpoint; only the newest ``keep_checkpoints`` epoch files are kept (a full CLRNet-50 with
  its Adam state is about 3 GB per file);
* early stopping and the best-so-far value are stored in ``state.json`` after every epoch, so
  a resumed run continues the patience count instead of restarting it (``keras.callbacks.
  EarlyStopping`` and ``ModelCheckpoint`` keep that state in memory only);
* "best" is chosen on the validation monitor only (``val_*``); there is no test set here.

Resuming reloads the newest epoch checkpoint (weights, optimizer slots and iteration count)
plus the dropout seed-generator states, which Keras 3.15 does *not* store in ``.keras`` files
(they are re-seeded when the model is rebuilt), so they are kept in ``state.json``; then it
continues with ``initial_epoch``. A run resumed mid-way then ends where an uninterrupted one does,
provided the training data of each epoch does not depend on how many epochs the input
pipeline has already produced: pass ``train_ds`` as a callable ``f(initial_epoch) ->
tf.data.Dataset`` for pipelines whose order is a function of (seed, epoch).
"""

from clrnet.run_record import write_run_record
from clrnet.training.batchnorm import BatchNormRecalibration, recalibrate_batchnorm
from clrnet.training.callbacks import EpochScalars, RunCheckpoint
from clrnet.training.devices import (
    PRECISION_MODES,
    cpu_supports_bf16,
    ensure_float32_output,
    get_strategy,
    set_precision,
)
from clrnet.training.loop import FitResult, fit_model, monitor_mode
from clrnet.training.run_folder import (
    get_rng_states,
    list_checkpoints,
    make_run_dir,
    read_history,
    read_state,
    save_model_atomic,
    set_rng_states,
)

__all__ = [
    "PRECISION_MODES",
    "BatchNormRecalibration",
    "EpochScalars",
    "FitResult",
    "RunCheckpoint",
    "cpu_supports_bf16",
    "ensure_float32_output",
    "fit_model",
    "get_rng_states",
    "get_strategy",
    "list_checkpoints",
    "make_run_dir",
    "monitor_mode",
    "read_history",
    "read_state",
    "recalibrate_batchnorm",
    "save_model_atomic",
    "set_precision",
    "set_rng_states",
    "write_run_record",
]
