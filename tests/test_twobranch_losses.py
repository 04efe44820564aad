"""Tests for twobranch.losses.IsolationLoss (Masi et al. Eq. 2)."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from twobranch.losses import IsolationLoss, default_radii, isolation_loss_numpy


def test_hand_computed_value():
    c = [0.0, 0.0]
    loss = IsolationLoss(c, r_minus=1.0, r_plus=4.0)
    # reals at distance 3 and 0.5 -> hinge 2 and 0 -> mean 1
    # fakes at distance 5, 1 and 2 -> hinge 0, 3, 2 -> mean 5/3
    emb = np.array([[3.0, 0.0], [0.0, 0.5], [3.0, 4.0], [1.0, 0.0], [0.0, -2.0]], "float32")
    y = np.array([0, 0, 1, 1, 1])
    assert float(loss(y, emb)) == pytest.approx(1.0 + 5.0 / 3.0, rel=1e-5)


def test_single_class_batches_are_safe():
    loss = IsolationLoss([0.0, 0.0], 1.0, 4.0)
    emb = np.array([[3.0, 0.0], [0.0, 0.5]], "float32")
    assert float(loss(np.zeros(2), emb)) == pytest.approx(1.0, rel=1e-5)
    assert float(loss(np.ones(2), emb)) == pytest.approx((1.0 + 3.5) / 2, rel=1e-5)
    # (B, 1) labels behave as (B,)
    assert float(loss(np.ones((2, 1)), emb)) == pytest.approx(2.25, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    d = 16
    center = rng.normal(size=d)
    emb = (center + rng.normal(scale=rng.uniform(0.1, 1.5), size=(9, d))).astype("float32")
    y = rng.integers(0, 2, size=9)
    r_minus, r_plus = 0.5, 4.0
    got = float(IsolationLoss(center, r_minus, r_plus)(y, emb))
    want = isolation_loss_numpy(y, emb, center, r_minus, r_plus)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_gradients_flow_only_where_hinge_is_active():
    center = np.zeros(2, "float32")
    loss = IsolationLoss(center, r_minus=1.0, r_plus=4.0)
    # 0: real outside r- (active), 1: real inside r- (inactive),
    # 2: fake inside r+ (active), 3: fake outside r+ (inactive)
    emb = tf.Variable(np.array([[2.0, 0.0], [0.5, 0.0], [0.0, 3.0], [0.0, 6.0]], "float32"))
    y = np.array([0, 0, 1, 1])
    with tf.GradientTape() as tape:
        value = loss(y, emb)
    g = tape.gradient(value, emb).numpy()
    assert np.abs(g[0]).sum() > 0 and np.abs(g[2]).sum() > 0
    np.testing.assert_allclose(g[1], 0.0)
    np.testing.assert_allclose(g[3], 0.0)
    # real pulled toward c (gradient points away from c, descent moves inward), fake pushed out.
    assert g[0, 0] > 0 and g[2, 1] < 0
    # each active term averaged over its own class of 2 -> unit direction / 2
    np.testing.assert_allclose(g[0], [0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(g[2], [0.0, -0.5], atol=1e-6)


def test_config_round_trip_and_validation():
    loss = IsolationLoss([0.1, 0.2, 0.3], 0.042, 1.638)
    cfg = loss.get_config()
    params = set(inspect.signature(IsolationLoss.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(cfg)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, IsolationLoss)
    assert again.center == pytest.approx([0.1, 0.2, 0.3]) and again.r_plus == pytest.approx(1.638)
    with pytest.raises(ValueError, match="r_minus < r_plus"):
        IsolationLoss([0.0], 2.0, 1.0)


def test_paper_radii():
    assert default_radii(256) == (0.042, 1.638)
    assert default_radii(1024) == (2.5, 97.5)
    rm, rp = default_radii(64)
    assert rm < 0.042 and rp < 1.638


# ----------------------------------------------------------------------------- the lr schedule
def _schedule_model(lr: float = 1e-3) -> keras.Model:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    return model


def test_schedule_ends_when_the_third_reductions_patience_is_used_up():
    """Masi et al. Sec. 4: x0.1 three times on 50-epoch plateaus; the run then ends."""
    from twobranch.optim import LimitedReduceLROnPlateau

    model = _schedule_model()
    cb = LimitedReduceLROnPlateau(max_reductions=3, stop_after_last=True, monitor="val_loss",
                                  patience=2, min_lr=0.0, verbose=0)
    cb.set_model(model)
    cb.on_train_begin()
    losses = [1.0, 0.9] + [0.9] * 20  # improves once, then a plateau
    lrs, stopped_at = [], None
    for epoch, loss in enumerate(losses):
        cb.on_epoch_end(epoch, {"val_loss": loss})
        lrs.append(float(model.optimizer.learning_rate))
        if model.stop_training:
            stopped_at = epoch
            break
    # reductions after epochs 3, 5, 7 (patience 2 each), then 2 more epochs without improvement
    assert cb.reductions == 3 and stopped_at == cb.stopped_epoch == 9
    np.testing.assert_allclose(lrs[:4], [1e-3, 1e-3, 1e-3, 1e-4], rtol=1e-5)
    assert lrs[-1] == pytest.approx(1e-6, rel=1e-4)
    # an improvement after the last reduction restarts the count
    model = _schedule_model()
    cb = LimitedReduceLROnPlateau(max_reductions=1, stop_after_last=True, monitor="val_loss",
                                  patience=2, verbose=0)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]):
        cb.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            break
    assert cb.reductions == 1 and cb.stopped_epoch == 6
    # without the option the schedule never ends a run
    model = _schedule_model()
    cb = LimitedReduceLROnPlateau(max_reductions=3, monitor="val_loss", patience=1, verbose=0)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(30):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
    assert cb.reductions == 3 and not model.stop_training and cb.stopped_epoch is None


def test_schedule_stops_a_keras_fit():
    from twobranch.optim import LimitedReduceLROnPlateau

    model = _schedule_model(lr=1e-9)  # nothing learns: a plateau from the first epoch
    x = np.zeros((8, 1), "float32")
    cb = LimitedReduceLROnPlateau(max_reductions=2, stop_after_last=True, monitor="loss",
                                  patience=1, min_lr=0.0, verbose=0)
    history = model.fit(x, x + 1.0, epochs=50, verbose=0, callbacks=[cb])
    # epoch 0 sets the best value; reductions after epochs 1 and 2; stop after epoch 3
    assert cb.reductions == 2 and len(history.history["loss"]) == 4
