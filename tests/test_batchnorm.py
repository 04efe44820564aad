"""clrnet.training.batchnorm: BatchNorm statistics of briefly trained models."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from clrnet.training import fit_model, recalibrate_batchnorm


def _model() -> keras.Model:
    inp = keras.Input((4,))
    h = keras.layers.Dense(8, name="d")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="head")(h)
    return keras.Model(inp, out)


def _data(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 4)) * 5 + 3).astype("float32")  # far from BN's initial (0, 1)
    y = (x[:, 0] > 3).astype("float32")[:, None]
    return x, y


def test_recalibration_sets_moving_stats_to_the_batch_average():
    keras.utils.set_random_seed(0)
    model = _model()
    x, _ = _data()
    bn = model.get_layer("bn")
    before = [np.array(v) for v in (bn.moving_mean, bn.moving_variance)]
    batches = [x[i:i + 16] for i in range(0, 64, 16)]
    assert recalibrate_batchnorm(model, batches, max_batches=3) == 3
    h = model.get_layer("d")(x[:48]).numpy().reshape(3, 16, 8)
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(axis=1).mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(axis=1).mean(axis=0),
                               rtol=1e-3)
    assert not np.allclose(before[0], bn.moving_mean.numpy())
    assert bn.momentum == 0.99 and model.get_layer("drop").rate == 0.5  # restored
    bn.trainable = False  # frozen layers (transfer) keep their statistics
    kept = bn.moving_mean.numpy().copy()
    assert recalibrate_batchnorm(model, batches) == 0
    np.testing.assert_array_equal(bn.moving_mean.numpy(), kept)


def test_fit_model_recalibrates_before_validation_and_checkpoints(tmp_path):
    x, y = _data(seed=1)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    val = tf.data.Dataset.from_tensor_slices(_data(32, seed=2)).batch(16)

    def run(folder, recal):
        keras.utils.set_random_seed(0)
        return fit_model(_model, ds, val, tmp_path / folder, epochs=1, steps_per_epoch=3,
                         compile_kwargs={"optimizer": keras.optimizers.Adam(1e-2),
                                         "loss": "binary_crossentropy"},
                         verbose=0, tensorboard=False, bn_recalibration=recal)

    plain, fixed = run("plain", None), run("fixed", 4)
    h = plain.model.get_layer("d")(x).numpy()
    true_mean = h.mean(axis=0)
    stale = np.abs(plain.model.get_layer("bn").moving_mean.numpy() - true_mean).max()
    saved = keras.models.load_model(tmp_path / "fixed" / "best.keras")
    fresh = np.abs(saved.get_layer("bn").moving_mean.numpy()
                   - fixed.model.get_layer("d")(x).numpy().mean(axis=0)).max()
    assert stale > 1.0 and fresh < 0.5 * stale  # 3 steps at momentum 0.99 leave stale statistics
    assert fixed.history["val_loss"][0] != plain.history["val_loss"][0]


def _clip_model() -> keras.Model:
    """BatchNormalization inside TimeDistributed and directly on the sequence."""
    inp = keras.Input((3, 4))
    h = keras.layers.TimeDistributed(keras.layers.Dense(6), name="td_dense")(inp)
    h = keras.layers.TimeDistributed(keras.layers.BatchNormalization(), name="td_bn")(h)
    h = keras.layers.BatchNormalization(name="seq_bn")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(h))
    return keras.Model(inp, out)


def test_compiled_and_eager_recalibration_agree_and_wrapped_bn_stays_exact():
    from clrnet.training.batchnorm import _BatchStatistics, _eager_average, _once_per_pass

    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(8, 4)) * 3 + 2).astype("float32") for _ in range(3)]
    keras.utils.set_random_seed(0)
    flat = _model()
    assert _once_per_pass(flat) and _BatchStatistics(flat).compiled
    recalibrate_batchnorm(flat, batches)
    keras.utils.set_random_seed(0)
    ref = _model()
    _eager_average(ref, batches, None)
    for a, b in zip(flat.get_layer("bn").weights, ref.get_layer("bn").weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)

    clips = [(rng.normal(size=(8, 3, 4)) * 3 + 2).astype("float32") for _ in range(3)]
    keras.utils.set_random_seed(0)
    wrapped = _clip_model()
    assert not _once_per_pass(wrapped)  # TimeDistributed may call its BatchNorm per step
    recalibrate_batchnorm(wrapped, clips)
    keras.utils.set_random_seed(0)
    ref = _clip_model()
    _eager_average(ref, clips, None)
    for name in ("td_bn", "seq_bn"):
        got, want = wrapped.get_layer(name), ref.get_layer(name)
        for a, b in zip(got.weights, want.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
