"""clrnet.fast_load: loading without the random initializers gives exactly keras' result.

Each model is saved once and loaded both ways; weights, config and outputs must be bit-identical,
and a compiled model's loss and optimizer state must come back too.
"""

from __future__ import annotations

import threading
from unittest import mock

import keras
import numpy as np
import pytest

from clrnet import registry
from clrnet.fast_load import hooks_installed, load_model, skip_random_init


def _tiny(name: str) -> keras.Model:
    if name == "clrnet":
        return registry.build_model("clrnet", input_size=32, clip_len=3,
                                    repetitions=[1, 1, 1, 1], initial_filters=4)
    if name == "mesoinception4":
        return registry.build_model("mesoinception4", input_size=64)
    return registry.build_model("two_branch", input_size=32, clip_len=4, blocks=(1, 1, 1, 1),
                                growth_rate=4, stem_filters=8, lstm_units=4, head="bce")


def _assert_same(fast: keras.Model, plain: keras.Model, x: np.ndarray) -> None:
    assert fast.get_config() == plain.get_config()
    wf, wp = fast.get_weights(), plain.get_weights()
    assert len(wf) == len(wp) > 0
    for a, b in zip(wf, wp, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)
    out_f = np.asarray(fast(x, training=False))
    out_p = np.asarray(plain(x, training=False))
    assert np.array_equal(out_f, out_p)


@pytest.mark.parametrize("name", ["clrnet", "mesoinception4", "two_branch"])
def test_bit_identical_to_keras_load(tmp_path, name):
    model = _tiny(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    shape = (2, *model.inputs[0].shape[1:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    plain = keras.models.load_model(path)
    fast = load_model(path)
    assert hooks_installed()
    _assert_same(fast, plain, x)
    # the registry's loader (every command's) is the fast one, and plain keras still works after
    _assert_same(registry.load_model(path), keras.models.load_model(path), x)
    assert type(fast).__name__ == type(model).__name__
    assert getattr(fast, "registry_name", "") == model.registry_name


def test_random_initializers_are_not_run(tmp_path):
    """For a file that sets every weight, the orthogonal / he_normal initializers never run."""
    model = _tiny("clrnet")
    path = tmp_path / "c.keras"
    model.save(path)
    calls = {"orthogonal": 0, "he_normal": 0}
    orth, var_scaling = keras.initializers.Orthogonal.__call__, \
        keras.initializers.VarianceScaling.__call__

    def count(key, original):
        def wrapped(self, *args, **kwargs):
            calls[key] += 1
            return original(self, *args, **kwargs)
        return wrapped

    with mock.patch.object(keras.initializers.Orthogonal, "__call__", count("orthogonal", orth)), \
            mock.patch.object(keras.initializers.VarianceScaling, "__call__",
                              count("he_normal", var_scaling)):
        load_model(path)
        assert calls == {"orthogonal": 0, "he_normal": 0}
        keras.models.load_model(path)
        assert calls["orthogonal"] > 0 and calls["he_normal"] > 0


def test_compiled_model_restores_loss_and_optimizer_state(tmp_path):
    """compile=True: loss, metrics and Adam's moments come back as with keras' loader."""
    inputs = keras.Input((4, 6))
    h = keras.layers.LSTM(3)(inputs)  # orthogonal recurrent kernel, glorot kernel
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(1)
    x = rng.random((4, 4, 6), dtype=np.float32)
    y = rng.integers(0, 2, (4, 1)).astype(np.float32)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    path = tmp_path / "compiled.keras"
    model.save(path)
    plain = keras.models.load_model(path, compile=True)
    fast = load_model(path, compile=True)
    _assert_same(fast, plain, x)
    assert int(fast.optimizer.iterations.numpy()) == 2
    opt_f = [np.asarray(v) for v in fast.optimizer.variables]
    opt_p = [np.asarray(v) for v in plain.optimizer.variables]
    assert len(opt_f) == len(opt_p) > 2
    assert all(np.array_equal(a, b) for a, b in zip(opt_f, opt_p, strict=True))
    assert sum(np.abs(a).sum() for a in opt_f[2:]) > 0  # Adam moments restored, not zeros
    assert fast.loss == plain.loss == "binary_crossentropy"
    fast.fit(x, y, epochs=1, batch_size=4, verbose=0)  # training resumes from the saved step
    assert int(fast.optimizer.iterations.numpy()) == 3


def test_unassigned_variables_get_their_initializer_value():
    """A variable no file sets ends up exactly as without the context (seeded initializers)."""
    init = keras.initializers.GlorotUniform(seed=3)
    with skip_random_init():
        inside = keras.layers.Dense(5, kernel_initializer=init)
        inside.build((None, 7))
        assert not np.asarray(inside.kernel).any()  # deferred: zeros while the context runs
        kept = keras.layers.Dense(5, kernel_initializer=init)
        kept.build((None, 7))
        kept.kernel.assign(np.full((7, 5), 2.0, np.float32))
    reference = keras.layers.Dense(5, kernel_initializer=init)
    reference.build((None, 7))
    assert np.asarray(reference.kernel).any()
    assert np.array_equal(np.asarray(inside.kernel), np.asarray(reference.kernel))
    assert np.array_equal(np.asarray(kept.kernel), np.full((7, 5), 2.0, np.float32))


def test_unassigned_variables_initialised_after_an_exception():
    init = keras.initializers.HeNormal(seed=5)
    layer = keras.layers.Dense(3, kernel_initializer=init)
    with pytest.raises(RuntimeError), skip_random_init():
        layer.build((None, 4))
        raise RuntimeError("load failed")
    reference = keras.layers.Dense(3, kernel_initializer=init)
    reference.build((None, 4))
    assert np.array_equal(np.asarray(layer.kernel), np.asarray(reference.kernel))


def test_other_threads_are_not_affected():
    init = keras.initializers.RandomNormal(seed=11)
    seen = {}

    def other() -> None:
        layer = keras.layers.Dense(4, kernel_initializer=init)
        layer.build((None, 4))
        seen["kernel"] = np.asarray(layer.kernel)

    with skip_random_init():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen["kernel"].any()  # initialised at once, not deferred
