"""FusedConvLSTM2D as the training layer of every CLRNet.

The fused layer (clrnet/models/convlstm.py) must compute what Keras' ``ConvLSTM2D`` computes,
forward and backward, with the same weights: checked on single layers (float32 and float64) and on
tiny CLRNets (float32; MaxPooling3D has no float64 kernel), then over a short Adam run, and for
saving / loading.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import clrnet  # noqa: F401  (registers the package's Keras objects, as a user would)
import clrnet.models.clrnet as clrnet_builder
import clrnet.models.convlstm as convlstm_module
from clrnet.inference import FusedConvLSTM2D as ReExported
from clrnet.inference import fuse_convlstm
from clrnet.models import build_clrnet, count_clrnet_params
from clrnet.models.activations import hard_sigmoid_keras2
from clrnet.models.convlstm import FusedConvLSTM2D, convlstm_layer
from clrnet.registry import build_model

#: Largest |fused - Keras| allowed for outputs and gradients (float32; measured <= 2.4e-6).
TOL32 = 1e-5
#: The same in float64 (measured <= 4e-15): the fused maths is the same, not approximately so.
TOL64 = 1e-12
#: The tiny CLRNet of the brief (17 ConvLSTM layers: stem, 4 x (a, b, c, shortcut)).
TINY = dict(input_shape=(5, 32, 32, 3), repetitions=[1, 1, 1, 1], initial_filters=4)

LAYER_CASES = [
    dict(filters=6, kernel_size=3, strides=2, padding="same",
         recurrent_activation=hard_sigmoid_keras2, return_sequences=True),  # CLRNet's settings
    dict(filters=4, kernel_size=1, strides=2, padding="valid",
         recurrent_activation=hard_sigmoid_keras2, return_sequences=True),  # projection shortcut
    dict(filters=3, kernel_size=3, padding="same", return_sequences=False),  # Keras 3 sigmoid
]


def _layer_pair(dtype: str, **kwargs):
    """A Keras ConvLSTM2D and a FusedConvLSTM2D with the same, perturbed, weights."""
    ref = keras.layers.ConvLSTM2D(dtype=dtype, **kwargs)
    fused = FusedConvLSTM2D(dtype=dtype, **kwargs)
    x = (np.random.default_rng(3).random((2, 4, 9, 9, 5)) - 0.5).astype(dtype)
    ref(x)
    fused(x)
    rng = np.random.default_rng(4)
    weights = [(w + rng.normal(0, 0.3, w.shape)).astype(dtype) for w in ref.get_weights()]
    ref.set_weights(weights)  # non-zero bias and a non-orthogonal recurrent kernel too
    fused.set_weights(weights)
    return ref, fused, x


def _forward_and_grads(model, x, loss_fn, compiled: bool = False):
    """Output and gradients of ``loss_fn(output)`` w.r.t. the input and every trainable weight.

    ``compiled`` runs it in one ``tf.function`` (graph mode, as ``fit`` does), else eagerly.
    """

    def run(xt):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = model(xt, training=True)
            loss = loss_fn(out)
        return out, tape.gradient(loss, [xt, *model.trainable_variables])

    out, grads = (tf.function(run) if compiled else run)(tf.constant(x))
    assert all(g is not None for g in grads)
    return out.numpy(), [g.numpy() for g in grads]


def _assert_all_close(got, want, tol):
    """Per tensor, max |got - want| <= tol * max(1, max |want|), and not all zero.

    Absolute for tensors of magnitude <= 1, relative to the tensor's largest element above
    (float32 rounding grows with the magnitude).
    """
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        bound = tol * max(1.0, float(np.abs(w).max()))
        assert np.abs(g - w).max() <= bound, (np.abs(g - w).max(), bound)
    assert max(np.abs(w).max() for w in want) > 0.1  # a real comparison, not 0 == 0


@pytest.mark.parametrize("dtype,tol", [("float32", TOL32), ("float64", TOL64)])
@pytest.mark.parametrize("kwargs", LAYER_CASES)
def test_single_layer_outputs_and_gradients_match_keras(kwargs, dtype, tol):
    ref, fused, x = _layer_pair(dtype, **kwargs)
    proj = np.random.default_rng(5).normal(0, 1, ref(x).shape).astype(dtype)

    def loss_fn(out):  # a random projection: every output element gets its own weight
        return tf.reduce_sum(out * proj)

    out_ref, g_ref = _forward_and_grads(ref, x, loss_fn)
    for compiled in (False, True):  # eager, and in a tf.function as in training
        out_fused, g_fused = _forward_and_grads(fused, x, loss_fn, compiled)
        assert out_fused.dtype == np.dtype(dtype)
        assert len(g_fused) == 4  # input, kernel, recurrent kernel, bias
        _assert_all_close([out_fused], [out_ref], tol)
        _assert_all_close(g_fused, g_ref, tol)


def _training_loss(model, y):
    """The official BCE on the 2-way softmax plus the L2 terms of every ConvLSTM (model.losses),
    in the output's dtype (Keras computes both terms in float32)."""
    bce = keras.losses.BinaryCrossentropy()

    def loss_fn(out):
        terms = [bce(y, out), *model.losses]
        return tf.add_n([tf.cast(t, out.dtype) for t in terms])

    return loss_fn


def _tiny_pair(**overrides):
    """A fused and a Keras-ConvLSTM tiny CLRNet holding the same (perturbed) weights."""
    kwargs = {**TINY, "dropout": 0, **overrides}
    keras.utils.set_random_seed(0)
    fused = build_clrnet(**kwargs)
    keras.utils.set_random_seed(0)  # the same seeds for the Dropout layers of both
    ref = build_clrnet(convlstm="keras", **kwargs)
    rng = np.random.default_rng(1)
    weights = [w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in fused.get_weights()]
    fused.set_weights(weights)
    ref.set_weights(weights)
    return fused, ref


def test_tiny_clrnet_outputs_and_gradients_match_keras():
    fused, ref = _tiny_pair()
    x = np.random.default_rng(2).random((2, *TINY["input_shape"]), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1]]
    out_ref, g_ref = _forward_and_grads(ref, x, _training_loss(ref, y))
    out_fused, g_fused = _forward_and_grads(fused, x, _training_loss(fused, y))
    assert len(g_fused) == 1 + len(fused.trainable_variables) == 1 + 17 * 3 + 17 * 2 + 2  # 17 ConvLSTM, 17 BN, Dense
    _assert_all_close([out_fused], [out_ref], TOL32)
    _assert_all_close(g_fused, g_ref, TOL32)


def _blocks_model(convlstm: str) -> keras.Model:
    """Stem, both bottleneck forms, a basic block, identity and projection shortcuts, head.

    Built from the CLRNet helpers without MaxPooling3D (which has no float64 kernel), so that it
    runs in float64.
    """
    act = hard_sigmoid_keras2
    inp = keras.Input((3, 12, 12, 3))
    x = clrnet_builder._convlstm(inp, 4, 3, 2, "same", act, "stem", convlstm)
    x = clrnet_builder.bottleneck_block(x, 2, 2, True, None, act, "b0", convlstm)  # projection
    x = clrnet_builder.bottleneck_block(x, 2, 1, False, None, act, "b1", convlstm)  # identity
    x = clrnet_builder.basic_block(x, 4, 2, False, None, act, "b2", convlstm)  # projection
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling3D()(x)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))


def test_clrnet_blocks_in_float64_match_keras_to_rounding():
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(8)
        fused, ref = _blocks_model("fused"), _blocks_model("keras")
    finally:
        keras.config.set_dtype_policy("float32")
    assert sum(type(la) is FusedConvLSTM2D for la in fused.layers) == 1 + 4 + 3 + 3
    assert not any(type(la) is FusedConvLSTM2D for la in ref.layers)
    rng = np.random.default_rng(9)
    weights = [w + rng.normal(0, 0.1, w.shape) for w in fused.get_weights()]
    fused.set_weights(weights)
    ref.set_weights(weights)
    x = rng.random((2, 3, 12, 12, 3))
    y = np.eye(2)[[1, 0]]
    out_ref, g_ref = _forward_and_grads(ref, x, _training_loss(ref, y))
    out_fused, g_fused = _forward_and_grads(fused, x, _training_loss(fused, y))
    assert out_fused.dtype == np.float64 and g_fused[0].dtype == np.float64
    _assert_all_close([out_fused], [out_ref], TOL64)
    _assert_all_close(g_fused, g_ref, TOL64)


def _train(model, x, y, steps: int, eager: bool) -> list[float]:
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(),
                  run_eagerly=eager)
    return [float(model.train_on_batch(x, y)) for _ in range(steps)]


@pytest.mark.parametrize("shape,repetitions,eager", [
    # eager: no tracing of two train functions (19-30 s on the busy 2-core machine, 45-51 s compiled)
    ((3, 32, 32, 3), [1], True),
    # compiled train_step, as fit() runs it, on the tiny CLRNet of the issue (100-175 s there)
    pytest.param(TINY["input_shape"], TINY["repetitions"], False, marks=pytest.mark.slow),
])
def test_short_training_run_follows_keras_loss_trajectory(shape, repetitions, eager):
    # Official dropout 0.25: both builds are seeded alike, so both draw the same masks.
    fused, ref = _tiny_pair(input_shape=shape, repetitions=repetitions, dropout=0.25)
    rng = np.random.default_rng(3)
    x = rng.random((4, *shape), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    keras.utils.set_random_seed(7)
    want = _train(ref, x, y, 8, eager)
    keras.utils.set_random_seed(7)
    got = _train(fused, x, y, 8, eager)
    # The loss moves by far more than the tolerance (measured 0.17 and 0.85).
    assert abs(want[-1] - want[0]) > 0.1
    # Tolerance: both paths round differently in float32 (one fused convolution instead of
    # eight per-gate ones, about 1e-7 relative per op); Adam divides each update by sqrt(v), so
    # gradient elements near zero turn such differences into weight differences of order lr.
    # Measured max |loss difference| over the 8 steps: 1.8e-7 (small case), 5.3e-5 (slow case);
    # 5e-4 is ~10x the worst, and still hundreds of times below the change of the loss.
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-4)
    # Weights: a few elements whose gradient is ~0 may take Adam steps of opposite sign (each at
    # most ~lr per step, so <= 8 * lr in all); as a whole they stay together. Measured: max
    # |dw| 6.1e-5 / 1.7e-3, |dw| / |w| 3.2e-6 / 6.9e-5 (small / slow case).
    diff = np.concatenate([np.ravel(a - b) for a, b in zip(fused.get_weights(),
                                                           ref.get_weights(), strict=True)])
    scale = np.concatenate([np.ravel(b) for b in ref.get_weights()])
    assert np.abs(diff).max() <= 8 * 1e-3
    assert np.linalg.norm(diff) <= 1e-3 * np.linalg.norm(scale)


def test_builders_use_the_fused_layer_with_the_official_settings():
    model = build_model("clrnet", **TINY)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ConvLSTM2D)]
    assert len(convs) == 17 and all(type(c) is FusedConvLSTM2D for c in convs)
    assert all(c.cell.recurrent_activation is hard_sigmoid_keras2 for c in convs)
    assert [c.name for c in convs if c.padding == "valid"] == [
        f"stage{i}_block0_shortcut_conv" for i in range(4)
    ]
    basic = build_model("clrnet18", input_shape=(3, 32, 32, 3), initial_filters=2)
    assert {type(la) for la in basic.layers if isinstance(la, keras.layers.ConvLSTM2D)} == {
        FusedConvLSTM2D
    }
    ref = build_clrnet(convlstm="keras", **TINY)
    assert not any(isinstance(layer, FusedConvLSTM2D) for layer in ref.layers)
    # same variables in the same order and shapes, same counts (analytic formula included)
    assert [(w.path, w.shape) for w in model.weights] == [(w.path, w.shape) for w in ref.weights]
    assert model.count_params() == ref.count_params() == count_clrnet_params((1, 1, 1, 1), 4)
    assert ReExported is FusedConvLSTM2D
    assert keras.saving.get_registered_name(FusedConvLSTM2D) == "deepfake_repro>FusedConvLSTM2D"
    with pytest.raises(ValueError, match="unknown convlstm 'cudnn'"):
        build_clrnet(**TINY, convlstm="cudnn")
    assert convlstm_layer("keras") is keras.layers.ConvLSTM2D


def test_fused_model_saves_and_reloads_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(4)
    model = build_model("clrnet", **TINY)
    path = tmp_path / "fused.keras"
    model.save(path)
    x = np.random.default_rng(5).random((2, *TINY["input_shape"]), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    want = model(x, training=False).numpy()
    again = keras.models.load_model(path)
    assert sum(type(la) is FusedConvLSTM2D for la in again.layers) == 17
    np.testing.assert_array_equal(again(x, training=False).numpy(), want)
    script = (
        "import sys, numpy as np, keras, clrnet\n"
        "m = keras.models.load_model(sys.argv[1])\n"
        "x = np.load(sys.argv[2])\n"
        "print(sorted({type(la).__name__ for la in m.layers if hasattr(la, 'cell')}))\n"
        "np.save(sys.argv[3], m(x, training=False).numpy())\n"
    )
    out = tmp_path / "out.npy"
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"),
                           str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "['FusedConvLSTM2D']"
    np.testing.assert_array_equal(np.load(out), want)


def _rewrite_keras_config(src, dst, edit):
    """Copy a .keras zip, passing its config.json through ``edit(text) -> text``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                data = edit(data.decode()).encode()
            zout.writestr(item, data)


def test_older_keras_files_still_load(tmp_path):
    x = np.random.default_rng(6).random((2, *TINY["input_shape"]), dtype=np.float32)
    # 1) a file with plain ConvLSTM2D layers (older saved files)
    keras.utils.set_random_seed(5)
    plain = build_clrnet(convlstm="keras", **TINY)
    plain.save(tmp_path / "plain.keras")
    want = plain(x, training=False).numpy()
    again = keras.models.load_model(tmp_path / "plain.keras")
    assert sum(type(la) is keras.layers.ConvLSTM2D for la in again.layers) == 17
    np.testing.assert_array_equal(again(x, training=False).numpy(), want)
    fused = fuse_convlstm(again)  # what inference (and a resumed training) can swap in
    assert sum(type(la) is FusedConvLSTM2D for la in fused.layers) == 17
    np.testing.assert_allclose(fused(x, training=False).numpy(), want, atol=1e-6)
    # 2) a fused file written when the layer lived in clrnet.inference
    fused.save(tmp_path / "fused.keras")
    _rewrite_keras_config(tmp_path / "fused.keras", tmp_path / "fused_issue9.keras",
                          lambda t: t.replace('"clrnet.models.convlstm"', '"clrnet.inference"'))
    with zipfile.ZipFile(tmp_path / "fused_issue9.keras") as z:
        config = json.loads(z.read("config.json"))
    modules = {la["module"] for la in config["config"]["layers"]
               if la["class_name"] == "FusedConvLSTM2D"}
    assert modules == {"clrnet.inference"}
    old = keras.models.load_model(tmp_path / "fused_issue9.keras")
    assert sum(type(la) is FusedConvLSTM2D for la in old.layers) == 17
    np.testing.assert_allclose(old(x, training=False).numpy(), want, atol=1e-6)


def test_cell_dropout_in_training_takes_keras_path(monkeypatch):
    calls = []
    real = convlstm_module.fused_convlstm_sequence
    monkeypatch.setattr(convlstm_module, "fused_convlstm_sequence",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    layer = FusedConvLSTM2D(4, 3, padding="same", dropout=0.5, recurrent_dropout=0.5,
                            return_sequences=True, seed=1)
    x = np.random.default_rng(7).random((2, 3, 8, 8, 2), dtype=np.float32)
    infer = layer(x, training=False).numpy()
    assert len(calls) == 1  # inference: dropout is off, fused path
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        train = layer(xv, training=True)
        loss = tf.reduce_sum(train)
    grads = tape.gradient(loss, [xv, *layer.trainable_variables])
    assert len(calls) == 1  # training with dropout: ConvLSTM2D.call, not the fused path
    assert not np.allclose(train.numpy(), infer)  # the masks were applied
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    # without cell dropout, training uses the fused path
    plain = FusedConvLSTM2D(4, 3, padding="same", return_sequences=True)
    plain(x, training=True)
    assert len(calls) == 2


@pytest.mark.slow
def test_full_size_clrnet50_counts_are_unchanged():
    model = build_model("clrnet")  # 5x240x240x3, about 1 GB of float32 weights
    assert model.count_params() == 248_160_514 == count_clrnet_params()
    assert len(model.layers) == 207
    assert sum(type(la) is FusedConvLSTM2D for la in model.layers) == 53
