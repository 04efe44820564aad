"""Traced models reused across the trainings of one process (:func:`reuse_traced_models`).

Keras traces a model's train, test and predict functions at its first ``fit``; a model built
again, even after ``keras.backend.clear_session()``, is traced again. For the quick profile's
small models that costs more than their steps: measured on a 2-core AMD EPYC Zen 4 (one thread), the
quick CLRNet's first ``fit`` of 3 steps with validation took 21.7 s in a new process and 20.3 s
and 21.4 s for the second and third model built in the same process; the same model object
fitted again took 0.6 s.

Inside :func:`reuse_traced_models`, :func:`clrnet.training.fit_model` keeps every compiled
model it trains, keyed by its architecture (``to_json``: layers, names, which are trainable),
its compile settings, the precision policy and the distribution strategy. A later training with
the same key still builds and compiles its own model, after the same seeding, so its initial
values are those of a new process; every variable of that new model (weights, BatchNorm
statistics, dropout seed states) is then copied into the kept model, the kept optimizer's
variables are set back to their values before its first step (iterations, learning rate,
slots), and the kept model trains, without tracing again.

The model a :class:`~clrnet.training.FitResult` returns inside the scope is that kept model:
the next training with the same key overwrites its weights. Save or score it before the next
training (the table cells use the saved files).

Between trainings, :func:`clear_keras_state` resets Keras' global state (so that a model built
again gets the same layer names and matches its kept twin) and :func:`set_random_seed` seeds the
next one, both without clearing TensorFlow's kernel cache, as ``keras.backend.clear_session()``
and ``tf.random.set_seed`` do: that cache holds the instantiated (optimised, kernel-built)
functions of the kept models. Measured on a 2-core AMD EPYC Zen 4 (one thread, the quick CLRNet,
batch 8): a traced model's next first step took 0.19 s; after ``clear_session()`` 9.65 s,
after only its ``clear_kernel_cache()`` 8.74 s, after only its other parts (default graph,
Keras' state trackers, ``gc.collect``) 0.15-0.21 s.
"""

from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

__all__ = ["clear_keras_state", "reuse_enabled", "reuse_traced_models", "set_random_seed",
           "take_model"]


@dataclass
class _Kept:
    model: keras.Model
    optimizer_start: list[np.ndarray]


_POOL: OrderedDict[str, _Kept] | None = None
_LIMIT = 4


@contextlib.contextmanager
def reuse_traced_models(max_models: int = 4) -> Iterator[None]:
    """Within this block, trainings of an identical model reuse one traced model.

    Args:
        max_models: kept models at most (the least recently trained is dropped first).

    References:
        Keras 3 ``Trainer.make_train_function`` (a model keeps its traced ``train_function``
        until it is compiled again).
    """
    global _POOL, _LIMIT
    saved = _POOL, _LIMIT
    _POOL, _LIMIT = OrderedDict(), max(1, int(max_models))
    try:
        yield
    finally:
        _POOL, _LIMIT = saved


def reuse_enabled() -> bool:
    """Whether :func:`reuse_traced_models` is active."""
    return _POOL is not None


@contextlib.contextmanager
def _kernel_cache_kept() -> Iterator[None]:
    """TensorFlow's kernel cache is not cleared inside this block.

    Both ``Context.clear_kernel_cache`` (called by ``keras.backend.clear_session``) and
    ``Context._set_global_seed`` (called by ``tf.random.set_seed``) clear it through
    ``pywrap_tfe.TFE_ContextClearCaches``, which this block replaces by a no-op. Clearing it
    resets the state of stateful random kernels, so inside the block an eager
    ``tf.random.uniform`` does not repeat after ``tf.random.set_seed``. Nothing trained here
    draws from them: Keras 3 draws from stateless ops seeded by ``SeedGenerator`` variables
    (copied into a kept model), and the input pipelines (``data_prep.pipeline``) use stateless
    ops with explicit seeds.
    """
    from tensorflow.python import pywrap_tfe

    saved = pywrap_tfe.TFE_ContextClearCaches
    pywrap_tfe.TFE_ContextClearCaches = lambda handle: None
    try:
        yield
    finally:
        pywrap_tfe.TFE_ContextClearCaches = saved


def _keeping_kernels():
    return _kernel_cache_kept() if _POOL is not None else contextlib.nullcontext()


def clear_keras_state() -> None:
    """``keras.backend.clear_session()``, keeping TensorFlow's kernel cache while models are kept.

    Resets Keras' global state (layer-name counters, global settings) and TensorFlow's default
    graph and collects Python garbage. Inside :func:`reuse_traced_models` it keeps the eager
    context's kernel cache, in which the kept models' functions stay instantiated (see the
    module docstring for the measurement); outside, it is ``clear_session()`` itself.

    References:
        Keras 3 ``keras.backend.clear_session`` (``keras/src/backend/common/global_state.py``);
        TensorFlow ``tensorflow/python/eager/context.py`` (``clear_kernel_cache``).
    """
    with _keeping_kernels():
        keras.backend.clear_session()


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``, keeping TensorFlow's kernel cache while models are
    kept (``tf.random.set_seed`` clears it; see :func:`clear_keras_state`).

    Args:
        seed: the seed of Python's, NumPy's, TensorFlow's and Keras' generators.

    References:
        Keras 3 ``keras.utils.set_random_seed``; TensorFlow ``tf.random.set_seed``.
    """
    with _keeping_kernels():
        keras.utils.set_random_seed(seed)


def _key(model: keras.Model, strategy: tf.distribute.Strategy) -> str:
    return json.dumps({
        "model": model.to_json(),
        "variables": [(v.path, tuple(v.shape), bool(v.trainable)) for v in model.variables],
        "compile": model.get_compile_config(),
        "policy": keras.mixed_precision.global_policy().name,
        "strategy": id(strategy),
    }, sort_keys=True, default=str)


def take_model(model: keras.Model, strategy: tf.distribute.Strategy) -> keras.Model:
    """The model to train in place of the freshly built and compiled ``model``.

    Outside :func:`reuse_traced_models`, ``model`` itself. Inside, a kept model of the same
    key with ``model``'s values copied in and its optimizer reset, or ``model`` itself (then
    kept for the next training, its optimizer built now so that its start values are known).

    Args:
        model: a newly built, compiled model (not yet trained).
        strategy: the distribution strategy it was built under.
    """
    if _POOL is None:
        return model
    key = _key(model, strategy)
    kept = _POOL.get(key)
    if kept is not None:
        _POOL.move_to_end(key)
        with strategy.scope():
            for old, new in zip(kept.model.variables, model.variables, strict=True):
                old.assign(new.value)
            for var, start in zip(kept.model.optimizer.variables, kept.optimizer_start,
                                  strict=True):
                var.assign(start)
        kept.model.stop_training = False
        return kept.model
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    _POOL[key] = _Kept(model, [np.array(v.numpy()) for v in model.optimizer.variables])
    while len(_POOL) > _LIMIT:
        _POOL.popitem(last=False)
    return model
