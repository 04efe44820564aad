"""Tests of clrnet.strategies on tiny in-test models and in-memory datasets.

A stand-in registry (``toy`` = Dense -> BN -> Dense -> Dense(2, softmax)) is patched in so these
tests exercise the strategies themselves, independent of the real model zoo.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from clrnet import registry, strategies
from clrnet.errors import (
    ConfigError,
    EmptyDatasetError,
    InputShapeError,
    UnknownModelError,
    WeightsError,
)

D = 6


def _toy_model(input_shape=(D,)) -> keras.Model:
    inp = keras.Input(input_shape, name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.Dense(16, activation="relu", name="d2")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.Dense(8, activation="relu", name="d3")(h)
    out = keras.layers.Dense(2, activation="softmax", name="head")(h)
    return keras.Model(inp, out, name="toy")


@pytest.fixture
def toy_registry():
    """A toy frame model registered for the test (removed afterwards)."""
    spec = registry.register(registry.ModelSpec(
        name="toy", family="clrnet", builder=_toy_model, kind="frame", input_size=D,
        clip_len=None, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=0.01,
        batch_size=16, epochs=300, epochs_transfer=150, paper="test", source="test",
        shape_kwargs=lambda size, clip_len: {}))
    yield spec
    registry._SPECS.pop("toy", None)


def _domain(n: int, sign: float, seed: int, batch: int = 16) -> tf.data.Dataset:
    """Labels fake = 1 when sign * x0 > 0 (sign -1: the opposite rule)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    y = (sign * x[:, 0] > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


HP = dict(epochs=6, batch_size=16, lr=0.02, seed=0, verbose=0, keep_checkpoints=1)


def test_resolve_hp_defaults_and_errors(toy_registry):
    h = strategies.resolve_hp(None)
    assert (h.lr, h.batch_size, h.clip_len) == (5e-5, 16, 5)  # official CLRNet values
    h = strategies.resolve_hp("clrnet", transfer=True)
    assert (h.lr, h.epochs, h.image_size) == (5e-5, 150, 240)
    with pytest.raises(UnknownModelError):
        strategies.resolve_hp("clrnet_not_registered")
    h = strategies.resolve_hp("toy", epochs=3)
    assert h.lr == 0.01 and h.clip_len is None and h.epochs == 3
    with pytest.raises(ConfigError, match="unknown hyper-parameter"):
        strategies.resolve_hp("toy", learning_rat=1)


def test_dataspec_errors(tmp_path):
    with pytest.raises(EmptyDatasetError, match="data not found"):
        strategies.DataSpec(tmp_path / "missing").files()
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="no training records"):
        strategies.DataSpec(tmp_path / "empty", methods=["Deepfakes"]).files()
    assert strategies.DataSpec("x", methods="FaceSwap").methods == ("FaceSwap",)


def test_single_reduces_loss_and_checks_shapes(toy_registry, tmp_path):
    res = strategies.train_single("toy", _domain(128, 1, 0), _domain(64, 1, 1),
                                  tmp_path / "single", **HP)
    loss = res.fit.history["loss"]
    assert loss[-1] < loss[0]
    assert (tmp_path / "single" / "best.keras").exists()
    bad = tf.data.Dataset.from_tensor_slices((np.zeros((4, D + 1), "float32"),
                                              np.zeros(4, "int64"))).batch(2)
    with pytest.raises(InputShapeError, match=r"expects \(6,\)"):
        strategies.train_single("toy", bad, None, tmp_path / "bad", **HP)


def test_freeze_first_half_and_top_k():
    model = _toy_model()
    n = len(model.layers)  # Input + 6 layers = 7
    assert strategies.freeze_layers(model) == n // 2 == 3
    assert [layer.trainable for layer in model.layers] == [False] * 3 + [True] * (n - 3)
    assert strategies.freeze_layers(model, top_k_layers=2) == n - 2
    assert [layer.trainable for layer in model.layers][-3:] == [False, True, True]
    with pytest.raises(ConfigError, match="top_k_layers"):
        strategies.freeze_layers(model, top_k_layers=n + 1)


def test_transfer_freezes_first_half(toy_registry, tmp_path):
    src = _toy_model()
    src.compile("adam", "binary_crossentropy")
    src.fit(_domain(64, 1, 0).map(lambda x, y: (x, tf.one_hot(y, 2))), epochs=1, verbose=0)
    path = tmp_path / "source.keras"
    src.save(path)
    res = strategies.train_transfer(path, {"target": _domain(64, -1, 3)}, _domain(32, -1, 4),
                                    tmp_path / "transfer", **HP)
    assert res.info["frozen_layers"] == 3 and res.info["layers"] == 7
    tuned = res.model
    for name in ("d1", "bn1"):  # layers 1, 2: first half, BN moving statistics included
        for a, b in zip(src.get_layer(name).get_weights(), tuned.get_layer(name).get_weights(),
                        strict=True):
            np.testing.assert_array_equal(a, b)
        assert not tuned.get_layer(name).trainable
    for name in ("bn2", "d3", "head"):
        before, after = src.get_layer(name).get_weights()[0], tuned.get_layer(name).get_weights()[0]
        assert np.abs(before - after).max() > 1e-4, name
    with pytest.raises(WeightsError, match="not a loadable"):
        (tmp_path / "junk.keras").write_text("not a model")
        strategies.train_transfer(tmp_path / "junk.keras", {"t": _domain(8, 1, 0)}, None,
                                  tmp_path / "t2", **HP)


def test_merge_interleaves_domains(toy_registry, tmp_path):
    res = strategies.train_merge("toy", {"a": _domain(64, 1, 0), "b": _domain(32, 1, 1)},
                                 _domain(32, 1, 2), tmp_path / "merge", **HP)
    # sample_from_datasets stops when the smaller domain (32) runs out: about 2 x 32 samples
    assert res.info["domains"] == ["a", "b"] and res.fit.history["loss"][-1] < 0.7


def test_evaluate_and_video_scores():
    from clrnet.aggregation import aggregate_scores
    from clrnet.evaluation import evaluate, score_frame

    inp = keras.Input((1,))
    model = keras.Model(inp, keras.layers.Concatenate()([1.0 - inp, inp]))
    x = np.array([[0.9], [0.7], [0.2], [0.4]], "float32")
    meta = {"video_id": np.array([b"v1", b"v1", b"v2", b"v2"]),
            "method": np.array([b"Deepfakes"] * 2 + [b"original"] * 2),
            "clip_index": np.array([0, 1, 0, 1])}
    ds = tf.data.Dataset.from_tensor_slices((x, np.array([1, 1, 0, 0]), meta)).batch(3)
    df = evaluate(model, ds, batch_size=3)
    assert list(df.columns[:5]) == ["video_id", "method", "clip_index", "label", "score"]
    np.testing.assert_allclose(df["score"], [0.9, 0.7, 0.2, 0.4], atol=1e-6)
    assert df["video_id"].tolist() == ["v1", "v1", "v2", "v2"]
    vids = aggregate_scores(df).set_index("video_id")
    assert vids.loc["v1", "score"] == pytest.approx(0.8) and vids.loc["v2", "label"] == 0
    assert aggregate_scores(df, how="fraction").set_index("video_id").loc["v1", "score"] == 1.0
    assert score_frame(df, "accuracy") == 1.0
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_scores(df, how="mode")


def test_grid_search_picks_consistent_pair(toy_registry, tmp_path):
    # the "good" domains share the validation rule; "bad_s" inverts it
    reenact = {"good_r": _domain(128, 1, 10)}
    swap = {"bad_s": _domain(128, -1, 13), "good_s": _domain(128, 1, 12)}
    val = _domain(128, 1, 14, batch=32)
    res = strategies.restricted_grid_search("toy", reenact, swap, val, tmp_path / "grid",
                                            **{**HP, "epochs": 4})
    assert isinstance(res.table, pd.DataFrame) and len(res.table) == 4
    assert res.pair == ("good_r", "good_s") and res.score >= 0.85
    bad = res.table[res.table.swap == "bad_s"]
    assert bad["accuracy"].max() < res.score
    assert res.table["chosen"].sum() == 1
    assert (tmp_path / "grid" / "grid_search.csv").exists()
    assert (tmp_path / "grid" / "source-good_r" / "final.keras").exists()


@pytest.mark.slow
def test_grid_search_two_by_two(toy_registry, tmp_path):
    reenact = {"good_r": _domain(128, 1, 10), "bad_r": _domain(128, -1, 11)}
    swap = {"good_s": _domain(128, 1, 12), "bad_s": _domain(128, -1, 13)}
    val = _domain(128, 1, 14, batch=32)
    res = strategies.restricted_grid_search("toy", reenact, swap, val, tmp_path / "grid",
                                            **HP)
    assert len(res.table) == 8
    assert res.pair == ("good_r", "good_s") and res.score >= 0.85
    worst = res.table[(res.table.reenactment == "bad_r") & (res.table.swap == "bad_s")]
    assert worst["accuracy"].max() < 0.5
