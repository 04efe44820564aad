"""Tests of data_prep.augment: Keras ImageDataGenerator semantics, one transform per clip."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.preprocessing.image import ImageDataGenerator

from data_prep.augment import (
    CLRNET_AUGMENT,
    CLRNET_CODE_AUGMENT,
    apply_clip_transform,
    augment_clip,
    random_clip_params,
)

PARAMS = [
    {"theta": 17.0, "zx": 1.15, "zy": 0.85, "flip": True, "channel_shift": 30.0, "brightness": 1.0},
    {"theta": -25.0, "zx": 0.8, "zy": 1.2, "flip": False, "channel_shift": -40.0, "brightness": 1.0},
]


def _image(seed: int = 0, size: int = 32) -> np.ndarray:
    """A smooth-ish uint8-valued float image on 0-255."""
    rng = np.random.default_rng(seed)
    return np.round(rng.random((size, size, 3)) * 255).astype(np.float32)


def _tf_params(p: dict, shift_scale: float = 1 / 255) -> dict[str, tf.Tensor]:
    return {"theta": tf.constant(p["theta"]), "zx": tf.constant(p["zx"]),
            "zy": tf.constant(p["zy"]), "flip": tf.constant(p["flip"]),
            "channel_shift": tf.constant(p["channel_shift"] * shift_scale),
            "brightness": tf.constant(p["brightness"])}


def _keras(x: np.ndarray, p: dict) -> np.ndarray:
    gen = ImageDataGenerator(fill_mode="nearest")
    kp = {"theta": p["theta"], "zx": p["zx"], "zy": p["zy"], "flip_horizontal": p["flip"],
          "channel_shift_intensity": p["channel_shift"],
          "brightness": None if p["brightness"] == 1.0 else p["brightness"]}
    return gen.apply_transform(x.copy(), kp) / 255.0


@pytest.mark.parametrize("impl", ["gather", "tf"])
@pytest.mark.parametrize("p", PARAMS)
def test_matches_keras_apply_transform(p, impl):
    x = _image()
    ours = apply_clip_transform(x[None] / 255.0, _tf_params(p), impl=impl)[0].numpy()
    np.testing.assert_allclose(ours, _keras(x, p), atol=1e-5)


@pytest.mark.parametrize("factor", [0.75, 1.25])
def test_brightness_matches_keras_up_to_its_uint8_rounding(factor):
    # 1.25: the paper's brighter half of +-30 %; Keras (PIL) clips at 255 as we clip at 1
    x = _image(1)
    p = {"theta": 5.0, "zx": 1.0, "zy": 1.0, "flip": False, "channel_shift": 0.0,
         "brightness": factor}
    ours = apply_clip_transform(x[None] / 255.0, _tf_params(p))[0].numpy()
    diff = np.abs(ours - _keras(x, p))
    # Keras truncates to uint8 before PIL scales and rounds: up to ~(factor + 0.5) / 255 apart
    assert diff.max() <= (factor + 0.75) / 255 and diff.mean() < 1 / 255
    if factor > 1:
        assert (ours == 1.0).mean() > 0.05  # saturated pixels exist and match


def test_xla_and_plain_graph_agree_and_seed_is_deterministic():
    clip = tf.constant(np.stack([_image(i) for i in range(3)]).astype(np.uint8))
    seed = tf.constant([4, 2], tf.int64)
    a = augment_clip(clip, seed, jit=True).numpy()
    b = augment_clip(clip, seed, jit=False).numpy()
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_array_equal(a, augment_clip(clip, seed, jit=True).numpy())
    other = augment_clip(clip, tf.constant([4, 3], tf.int64)).numpy()
    assert np.abs(a - other).mean() > 1e-3


def test_one_transform_for_all_frames_of_a_clip():
    frames = np.stack([_image(i) for i in range(4)]).astype(np.uint8)
    seed = tf.constant([7, 1], tf.int64)
    params = random_clip_params(seed)
    whole = augment_clip(tf.constant(frames), seed).numpy()
    for t in range(4):
        alone = apply_clip_transform(tf.constant(frames[t:t + 1]), params)[0].numpy()
        np.testing.assert_allclose(whole[t], alone, atol=1e-4)
    same = np.repeat(frames[:1], 5, axis=0)
    out = augment_clip(tf.constant(same), seed).numpy()
    assert np.abs(out - out[:1]).max() == 0.0
    assert np.abs(out[0] - same[0] / 255.0).mean() > 1e-3  # it did transform


def test_uint8_and_float_inputs_agree_and_range():
    frames = np.stack([_image(i) for i in range(2)]).astype(np.uint8)
    seed = tf.constant([1, 1], tf.int64)
    a = augment_clip(tf.constant(frames), seed)
    b = augment_clip(tf.constant(frames.astype(np.float32) / 255.0), seed)
    assert a.dtype == tf.float32 and a.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 1.0


def test_random_params_within_clrnet_ranges():
    draws = [random_clip_params(tf.constant([0, i], tf.int64)) for i in range(300)]
    get = {k: np.array([float(d[k]) for d in draws]) for k in draws[0]}
    assert np.abs(get["theta"]).max() <= 30.0 and np.abs(get["theta"]).max() > 25.0
    for k in ("zx", "zy"):
        assert get[k].min() >= 0.8 and get[k].max() <= 1.2
    assert not np.allclose(get["zx"], get["zy"])  # drawn independently, as Keras does
    # the paper's brightness -30 % to +30 % (Tariq et al. Sec. 5.1.3), not the code's 0.7-1.0
    assert get["brightness"].min() >= 0.7 and get["brightness"].max() <= 1.3
    assert get["brightness"].min() < 0.75 and get["brightness"].max() > 1.25
    assert CLRNET_AUGMENT.brightness_range == (0.7, 1.3)
    assert CLRNET_CODE_AUGMENT.brightness_range == (0.7, 1.0)
    code = [float(random_clip_params(tf.constant([0, i], tf.int64), CLRNET_CODE_AUGMENT)
                  ["brightness"]) for i in range(50)]
    assert max(code) <= 1.0
    assert np.abs(get["channel_shift"]).max() <= 50 / 255 + 1e-7
    assert 0.4 < get["flip"].mean() < 0.6
    assert CLRNET_AUGMENT.zoom_range == (0.8, 1.2)


def test_works_inside_a_tf_data_map():
    clips = np.stack([np.stack([_image(i)] * 3) for i in range(4)]).astype(np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(clips).enumerate().map(
        lambda i, c: augment_clip(c, tf.stack([tf.constant(0, tf.int64), i])),
        num_parallel_calls=2)
    out = np.stack(list(ds.as_numpy_iterator()))
    assert out.shape == (4, 3, 32, 32, 3)
    assert np.abs(out - out[:, :1]).max() == 0.0


def test_gather_warp_equals_tf_op_on_non_square_uint8_clip():
    rng = np.random.default_rng(3)
    clip = tf.constant((rng.random((2, 24, 40, 3)) * 255).astype(np.uint8))
    for seed in range(3):
        params = random_clip_params(tf.constant([seed, 9], tf.int64))
        a = apply_clip_transform(clip, params, impl="gather").numpy()
        b = apply_clip_transform(clip, params, impl="tf").numpy()
        np.testing.assert_allclose(a, b, atol=1e-5)
