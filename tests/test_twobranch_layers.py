"""Tests for twobranch.layers: DeepLoG (Masi et al. Eq. 1) and DistanceToCenter."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from twobranch.layers import DeepLoG, DistanceToCenter, gaussian_kernel


def test_gaussian_kernel_normalised_and_symmetric():
    k = gaussian_kernel(5, 1.5)
    assert k.shape == (5, 5)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(k, k.T)
    assert k[2, 2] == k.max()
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(4, 1.0)


def test_fixed_part_has_no_trainable_weights():
    layer = DeepLoG(filters=5, scales=(2, 4, 8))
    layer.build((None, 16, 16, 4))
    # The only variables are the 1x1 projection: S*K -> K' (no bias).
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(1, 1, 12, 5)]
    assert layer.non_trainable_weights == []
    assert len(layer.weights) == 1


def test_constant_image_maps_to_zero_before_projection():
    layer = DeepLoG(scales=(2, 4, 8))
    x = np.full((2, 20, 20, 3), 0.7, dtype="float32")
    x[1] = -1.3
    layer.build(x.shape)
    lap = np.asarray(layer.laplacian(keras.ops.convert_to_tensor(x)))
    assert lap.shape == (2, 20, 20, 9)
    np.testing.assert_allclose(lap, 0.0, atol=1e-5)
    # A non-constant image gives a non-zero band-pass response.
    rng = np.random.default_rng(0)
    lap2 = np.asarray(layer.laplacian(keras.ops.convert_to_tensor(
        rng.random((1, 20, 20, 3)).astype("float32"))))
    assert np.abs(lap2).mean() > 0.05


def test_laplacian_matches_definition_per_scale():
    """Channel block s of the fixed part equals x - up(down(G_s * x)) computed independently."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = rng.random((1, 12, 12, 2)).astype("float32")
    layer = DeepLoG(scales=(2, 3), kernel_size=3)
    layer.build(x.shape)
    lap = np.asarray(layer.laplacian(keras.ops.convert_to_tensor(x)))
    for i, s in enumerate((2, 3)):
        g = gaussian_kernel(3, float(s))
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        blur = np.zeros_like(x)
        for dy in range(3):
            for dx in range(3):
                blur += g[dy, dx] * xp[:, dy:dy + 12, dx:dx + 12, :]
        small = tf.image.resize(blur, (math.ceil(12 / s),) * 2, method="bilinear")
        up = tf.image.resize(small, (12, 12), method="bilinear").numpy()
        np.testing.assert_allclose(lap[..., 2 * i:2 * i + 2], x - up, atol=1e-5)


def test_output_shapes_and_gradients_reach_only_projection():
    import tensorflow as tf

    layer = DeepLoG(filters=7, scales=(2, 4, 8))
    x = tf.constant(np.random.default_rng(2).random((3, 16, 24, 4)).astype("float32"))
    y = layer(x)
    assert tuple(y.shape) == (3, 16, 24, 7)
    assert layer.compute_output_shape((None, 16, 24, 4)) == (None, 16, 24, 7)
    same = DeepLoG()
    assert tuple(same(x).shape) == (3, 16, 24, 4)
    # the only variable the forward pass touches is the 1x1 projection (the Gaussians are
    # constants), and it receives a non-zero gradient
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.square(layer(x)))
    kernel = layer.trainable_weights[0]
    watched = tape.watched_variables()
    assert len(watched) == 1 and watched[0] is kernel.value
    assert kernel.path.endswith("w1x1/kernel")
    (g_w,) = tape.gradient(loss, layer.trainable_weights)
    assert g_w is not None and g_w.shape == (1, 1, 12, 7) and float(tf.reduce_max(tf.abs(g_w))) > 0
    # the fixed band-pass part passes gradients on to the input (it is not a dead end) ...
    g_x = tape.gradient(loss, x)
    assert float(tf.reduce_max(tf.abs(g_x))) > 0
    # ... and, being linear and fixed, gives the same input gradient for a constant-shifted input
    # (a constant map has zero Laplacian response, so the loss ignores the shift)
    with tf.GradientTape() as tape2:
        shifted = x + 0.5
        tape2.watch(shifted)
        loss2 = tf.reduce_sum(tf.square(layer(shifted)))
    np.testing.assert_allclose(float(loss2), float(loss), rtol=1e-4)
    np.testing.assert_allclose(tape2.gradient(loss2, shifted).numpy(), g_x.numpy(), atol=1e-4)


def test_keras_round_trip(tmp_path):
    inputs = keras.Input((16, 16, 3))
    outputs = DeepLoG(filters=4, scales=(2, 4, 8), kernel_size=5, name="log")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(3).random((2, 16, 16, 3)).astype("float32")
    path = tmp_path / "log.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    cfg = restored.get_layer("log").get_config()
    assert cfg["scales"] == [2, 4, 8] and cfg["kernel_size"] == 5 and cfg["filters"] == 4


def test_config_holds_exactly_init_arguments():
    import inspect

    layer = DeepLoG(filters=3, sigmas=(1.0, 2.0, 3.0))
    params = set(inspect.signature(DeepLoG.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(layer.get_config())
    assert DeepLoG.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="sigmas"):
        DeepLoG(scales=(2, 4), sigmas=(1.0,))


def test_distance_to_center_values():
    c = np.array([1.0, 0.0, 0.0], "float32")
    emb = np.array([[1.0, 0.0, 0.0], [1.0, 3.0, 4.0], [1.0, 0.042, 0.0], [1.0, 1.638, 0.0]], "float32")
    d = np.asarray(DistanceToCenter(c, 0.042, 1.638, mode="distance")(emb)).ravel()
    np.testing.assert_allclose(d, [0.0, 5.0, 0.042, 1.638], atol=1e-5)
    p = np.asarray(DistanceToCenter(c, 0.042, 1.638)(emb)).ravel()
    # r- -> 0.01, r+ -> 0.99, monotone in the distance.
    np.testing.assert_allclose(p[2:], [0.01, 0.99], atol=1e-4)
    assert p[0] < p[2] < p[3] < p[1]
    with pytest.raises(ValueError, match="r_minus"):
        DistanceToCenter(c, 2.0, 1.0)
