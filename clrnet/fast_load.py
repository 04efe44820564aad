"""Load saved Keras models without running the random initializers the saved weights replace.

``keras.models.load_model`` rebuilds the model from its config, which creates every variable with
its initializer, and then overwrites every variable with the value stored in the file. For
full-size CLRNet-50 (about 250 M weights) the initializers are most of the load time: the
orthogonal recurrent initializer of each ConvLSTM makes a QR decomposition of a matrix of up to
2048 x 8192, and the ``he_normal`` draws fill the rest (``benchmarks/bench_predict.py`` measures
both loaders on the same file).

:func:`skip_random_init` is a context manager: while it is active **in the calling thread**, a
Keras variable whose initializer is one of Keras' random initializers (:data:`RANDOM_INITIALIZERS`
and their subclasses, e.g. ``he_normal``, ``glorot_uniform``, ``orthogonal``) is created filled
with zeros and remembered; assigning it a value (which is how every layer's and optimizer's
``load_own_variables`` restores the file's values) forgets it. When the context ends, every
remembered variable that was never assigned gets the value of its own initializer, so a variable
the file does not set ends up exactly as ``keras.models.load_model`` would leave it (Keras'
random initializers fix their seed when they are constructed, so the deferred call draws the same
numbers). Constant initializers (zeros, ones, ``Constant``) and plain functions run as usual;
they are cheap. Variables created in other threads at the same time are not affected.

:func:`load_model` is ``keras.models.load_model`` inside that context: same arguments, same
result (config, weights, compiled loss and optimizer state). ``clrnet.registry.load_model``, the
loader every command of the package uses, calls it. Plain ``keras.models.load_model`` is left as
it is.

How it hooks in: it wraps two methods of the backend's variable class (``keras.Variable``'s
``_initialize_with_initializer`` and ``_direct_assign``, private Keras 3 methods) the first time
the context is entered; outside the context the wrappers only check a thread-local flag. Should a
future Keras lack these methods, the context does nothing and loading is plain
``keras.models.load_model``.

References:
    Keras 3 ``keras/src/backend/common/variables.py`` and
    ``keras/src/backend/tensorflow/core.py`` (variable creation and assignment) and
    ``keras/src/saving/saving_lib.py`` (a ``.keras`` file is rebuilt from its config, then every
    variable is assigned from ``model.weights.h5``); read for facts only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

__all__ = ["RANDOM_INITIALIZERS", "hooks_installed", "load_model", "skip_random_init"]

#: Initializer classes (and their subclasses) whose run is deferred; every random initializer of
#: Keras 3 derives from one of these (``GlorotUniform``, ``HeNormal``... from VarianceScaling).
RANDOM_INITIALIZERS: tuple[type, ...] = (
    keras.initializers.VarianceScaling,
    keras.initializers.Orthogonal,
    keras.initializers.RandomNormal,
    keras.initializers.RandomUniform,
    keras.initializers.TruncatedNormal,
)

_STATE = threading.local()
_INSTALL_LOCK = threading.Lock()
_INSTALLED: list[bool] = []  # [True] once the hooks are in place, [False] if they cannot be


def _zeros(shape: Any, dtype: Any = None) -> Any:
    return keras.ops.zeros(shape, dtype=dtype)


def _owner(name: str) -> type | None:
    """The class in ``keras.Variable``'s MRO that defines method ``name`` (None if none does)."""
    return next((c for c in keras.Variable.__mro__ if name in vars(c)), None)


def _install() -> bool:
    """Wrap the variable class' creation and assignment methods once; True if in place."""
    with _INSTALL_LOCK:
        if _INSTALLED:
            return _INSTALLED[0]
        init_cls, assign_cls = _owner("_initialize_with_initializer"), _owner("_direct_assign")
        if init_cls is None or assign_cls is None:
            _INSTALLED.append(False)
            return False
        original_init = init_cls._initialize_with_initializer
        original_assign = assign_cls._direct_assign

        def _initialize_with_initializer(self, initializer):
            pending = getattr(_STATE, "pending", None)
            if pending is not None and isinstance(initializer, RANDOM_INITIALIZERS):
                pending[id(self)] = (self, initializer)
                return original_init(self, _zeros)
            return original_init(self, initializer)

        def _direct_assign(self, value):
            pending = getattr(_STATE, "pending", None)
            if pending:
                pending.pop(id(self), None)
            return original_assign(self, value)

        init_cls._initialize_with_initializer = _initialize_with_initializer
        assign_cls._direct_assign = _direct_assign
        _INSTALLED.append(True)
        return True


def hooks_installed() -> bool:
    """Whether the variable hooks are in place (False before first use or on an unknown Keras)."""
    return bool(_INSTALLED and _INSTALLED[0])


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    """Create variables with random initializers as zeros; initialise the unassigned ones at exit.

    Nested use is allowed (the outermost context finishes the work). On exit, also after an
    exception, every variable created inside with a random initializer and never assigned gets
    its initializer's value.

    Yields:
        None.
    """
    if not _install() or getattr(_STATE, "pending", None) is not None:
        yield
        return
    pending: dict[int, tuple[Any, Any]] = {}
    _STATE.pending = pending
    try:
        yield
    finally:
        _STATE.pending = None
        for variable, initializer in list(pending.values()):
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
        pending.clear()


def load_model(path: str | Path, **kwargs: Any) -> Any:
    """``keras.models.load_model(path, **kwargs)`` without the random initializers' cost.

    Args:
        path: a ``.keras`` file (or anything ``keras.models.load_model`` takes).
        **kwargs: ``keras.models.load_model``'s keyword arguments (``compile``,
            ``custom_objects``, ``safe_mode``).

    Returns:
        The model, identical to ``keras.models.load_model``'s (config, weights, compiled state).
    """
    with skip_random_init():
        return keras.models.load_model(path, **kwargs)
