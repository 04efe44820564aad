"""Tests for clrnet.inference: fused ConvLSTM maths, precision modes vs float32, XLA, batching."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from clrnet.inference import (
    TOLERANCE,
    FusedConvLSTM2D,
    InferenceError,
    cast_model,
    fuse_convlstm,
    make_predict_fn,
    resolve_precision,
)
from clrnet.models import build_clrnet
from clrnet.models.activations import hard_sigmoid_keras2
from clrnet.registry import build_model
from clrnet.scoring import fake_probability
from clrnet.training import cpu_supports_bf16

HAS_BF16 = cpu_supports_bf16() or bool(tf.config.list_physical_devices("GPU"))
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="no AVX512_BF16/AMX CPU and no GPU")
TINY_SHAPE = (5, 32, 32, 3)


def _clips(n: int, shape=TINY_SHAPE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _spread_head(model: keras.Model, scale: float = 40.0) -> keras.Model:
    """Scale the last Dense kernel so random-weight P(fake) spreads over [0, 1] (not ~0.5)."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * scale, bias])
    return model


@pytest.fixture(scope="module")
def tiny_clrnet() -> keras.Model:
    keras.utils.set_random_seed(1)
    model = build_model("clrnet", input_shape=TINY_SHAPE, repetitions=(1, 1), initial_filters=8)
    return _spread_head(model)


@pytest.fixture(scope="module")
def tiny_plain(tiny_clrnet) -> keras.Model:
    """``tiny_clrnet`` rebuilt with Keras' own ConvLSTM2D (as in older saved files)."""
    model = build_clrnet(input_shape=TINY_SHAPE, repetitions=(1, 1), initial_filters=8,
                         convlstm="keras")
    model.set_weights(tiny_clrnet.get_weights())
    return model


@pytest.fixture(scope="module")
def tiny_ref(tiny_clrnet):
    x = _clips(6)
    return x, fake_probability(tiny_clrnet, x)


def _pair(**kwargs):
    """A Keras ConvLSTM2D and a FusedConvLSTM2D with the same weights."""
    ref = keras.layers.ConvLSTM2D(**kwargs)
    fused = FusedConvLSTM2D(**kwargs)
    x = _clips(2, (4, 9, 9, 5), seed=3) - 0.5
    ref(x)
    fused(x)
    weights = [w + np.random.default_rng(4).normal(0, 0.3, w.shape).astype(np.float32)
               for w in ref.get_weights()]  # non-zero bias too
    ref.set_weights(weights)
    fused.set_weights(weights)
    return ref, fused, x


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=6, kernel_size=3, strides=2, padding="same",
             recurrent_activation=hard_sigmoid_keras2, return_sequences=True),
        dict(filters=4, kernel_size=1, strides=2, padding="valid", return_sequences=True),
        dict(filters=3, kernel_size=3, padding="same", return_sequences=False),
    ],
)
def test_fused_layer_matches_keras_convlstm(kwargs):
    ref, fused, x = _pair(**kwargs)
    want = keras.ops.convert_to_numpy(ref(x))
    got = keras.ops.convert_to_numpy(fused(x))
    assert got.shape == want.shape
    assert np.abs(want).max() > 0.05  # the comparison is not between near-zero tensors
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_fused_layer_falls_back_for_unknown_length():
    ref, fused, x = _pair(filters=4, kernel_size=3, padding="same", return_sequences=True)
    inp = keras.Input((None, 9, 9, 5))
    m_ref, m_fused = keras.Model(inp, ref(inp)), keras.Model(inp, fused(inp))
    np.testing.assert_allclose(m_fused(x).numpy(), m_ref(x).numpy(), atol=2e-5)


def test_fused_layer_gradients_match():
    ref, fused, x = _pair(filters=4, kernel_size=3, padding="same", return_sequences=True)
    grads = []
    for layer in (ref, fused):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x, training=True)))
        grads.append([g.numpy() for g in tape.gradient(loss, layer.trainable_variables)])
    for g_ref, g_fused in zip(*grads, strict=True):
        np.testing.assert_allclose(g_fused, g_ref, rtol=1e-4, atol=1e-4)


def test_fuse_convlstm_replaces_every_layer_and_agrees(tiny_clrnet, tiny_plain, tiny_ref):
    # the package's CLRNet is built fused: nothing left to swap
    assert sum(type(layer) is FusedConvLSTM2D for layer in tiny_clrnet.layers) == 9
    assert fuse_convlstm(tiny_clrnet) is tiny_clrnet
    fused = fuse_convlstm(tiny_plain)
    types = [type(layer) for layer in fused.layers]
    assert keras.layers.ConvLSTM2D not in types
    assert types.count(FusedConvLSTM2D) == sum(
        type(layer) is keras.layers.ConvLSTM2D for layer in tiny_plain.layers
    ) == 9
    x, ref = tiny_ref
    assert ref.max() - ref.min() > 0.05  # spread head: P(fake) is not stuck at 0.5
    np.testing.assert_allclose(fake_probability(tiny_plain, x), ref, atol=TOLERANCE["float32"])
    np.testing.assert_allclose(fake_probability(fused, x), ref, atol=TOLERANCE["float32"])


def test_fused_model_round_trips(tiny_clrnet, tmp_path):
    fused = fuse_convlstm(tiny_clrnet)
    path = tmp_path / "fused.keras"
    fused.save(path)
    again = keras.models.load_model(path)
    assert any(isinstance(layer, FusedConvLSTM2D) for layer in again.layers)
    x = _clips(2)
    np.testing.assert_allclose(again(x).numpy(), fused(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_predict_fn_float32_agrees_and_batches(tiny_clrnet, tiny_ref, jit):
    x, ref = tiny_ref
    predict = make_predict_fn(tiny_clrnet, "float32", jit_compile=jit, batch_size=4)
    got = predict(x)  # 6 clips: one batch of 4 and one of 2
    assert got.dtype == np.float32 and got.shape == (6,)
    np.testing.assert_allclose(got, ref, atol=TOLERANCE["float32"])
    np.testing.assert_allclose(predict(x[0]), ref[:1], atol=TOLERANCE["float32"])


@needs_bf16
@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_predict_fn_bfloat16_within_tolerance(tiny_clrnet, tiny_ref, jit):
    x, ref = tiny_ref
    predict = make_predict_fn(tiny_clrnet, "bfloat16", jit_compile=jit, batch_size=8)
    assert predict.precision == "bfloat16"
    dtypes = {layer.compute_dtype for layer in predict.model.layers[1:-1]}
    assert dtypes == {"bfloat16"}
    for layer in predict.model.layers:
        if isinstance(layer, FusedConvLSTM2D):
            assert layer.cell.kernel.dtype == "bfloat16"
        elif isinstance(layer, keras.layers.BatchNormalization):
            assert layer.moving_variance.dtype == "float32"
    assert predict.model.layers[-1].compute_dtype == "float32"
    got = predict(x)
    diff = np.abs(got - ref).max()
    assert diff <= TOLERANCE["bfloat16"]
    assert diff > 0  # bfloat16 really ran (float32 would agree exactly)


@needs_bf16
def test_cast_model_two_branch_bfloat16():
    from twobranch.models import build_model as build_tb

    keras.utils.set_random_seed(2)
    model = _spread_head(build_tb("two_branch", head="bce", input_size=32, frames=3,
                                  blocks=(1, 1, 1, 1), growth_rate=8, stem_filters=16,
                                  lstm_units=8), scale=20.0)
    x = _clips(4, (3, 32, 32, 3))
    ref = fake_probability(model, x)
    cast = cast_model(model, "mixed_bfloat16")
    encoder = cast.get_layer("per_frame").layer
    assert any(layer.compute_dtype == "bfloat16" for layer in encoder.layers)
    got = make_predict_fn(model, "bfloat16", batch_size=4)(x)
    assert np.abs(got - ref).max() <= TOLERANCE["bfloat16"]


def test_precision_errors(tiny_clrnet):
    with pytest.raises(InferenceError, match="unknown precision 'fp8'"):
        resolve_precision("fp8")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(InferenceError, match="float16 needs a GPU"):
            make_predict_fn(tiny_clrnet, "float16")
    assert resolve_precision("auto") in ("float32", "bfloat16", "float16")
    assert resolve_precision("float32") == "float32"
    with pytest.raises(InferenceError, match="batch_size"):
        make_predict_fn(tiny_clrnet, batch_size=0)


def test_predict_fn_rejects_bad_input(tiny_clrnet):
    from clrnet.errors import InputShapeError

    predict = make_predict_fn(tiny_clrnet)
    with pytest.raises(InputShapeError, match=r"\[0, 1\]"):
        predict(_clips(1) * 255)
