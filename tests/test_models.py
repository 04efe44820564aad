"""clrnet.models: official CLRNet structure and counts, baselines, P(fake) helpers."""

from __future__ import annotations

import collections
import time

import keras
import numpy as np
import pytest

from clrnet.errors import ClrnetError, InputShapeError, ModelError, UnknownModelError, WeightsError
from clrnet.models import build_clrnet, count_clrnet_params, hard_sigmoid_keras2
from clrnet.registry import build_model
from clrnet.scoring import fake_probability, loss_for, output_kind, targets_for

OFFICIAL_PARAMS = 248_160_514
TINY_CLIP = {"input_shape": (3, 32, 32, 3), "repetitions": [1, 1, 1, 1], "initial_filters": 4}


def _input_for(model: keras.Model, batch: int = 2, seed: int = 0) -> np.ndarray:
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_output_kinds():
    clip = build_model("clrnet", **TINY_CLIP)
    frame = build_model("meso4", input_shape=(32, 32, 3))
    assert (output_kind(clip), output_kind(frame)) == ("softmax2", "sigmoid")


def test_unknown_name_and_bad_overrides():
    with pytest.raises(UnknownModelError, match="valid names: clrnet") as info:
        build_model("resnet50")
    assert isinstance(info.value, ValueError) and isinstance(info.value, ClrnetError)
    with pytest.raises(ModelError, match="does not accept"):
        build_model("meso4", repetitions=[1, 1])
    with pytest.raises(ModelError, match="block"):
        build_model("clrnet", **{**TINY_CLIP, "block": "wide"})
    # None overrides are dropped: the variant's defaults stay
    model = build_model("clrnet18", **TINY_CLIP, dropout=None, block=None)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert "stage0_block0_b_conv" in [layer.name for layer in model.layers]
    assert "stage0_block0_c_conv" not in [layer.name for layer in model.layers]  # basic block


def test_analytic_count_matches_keras_and_official_total():
    assert count_clrnet_params() == OFFICIAL_PARAMS
    for kw in (
        {"repetitions": (1, 2, 1, 1), "initial_filters": 4},
        {"repetitions": (2, 1, 2, 1), "initial_filters": 3, "block": "basic"},
    ):
        model = build_clrnet(input_shape=(2, 64, 64, 3), **kw)
        assert model.count_params() == count_clrnet_params(**kw)


def test_official_layer_structure_at_full_depth():
    # Full depth and full 240x240 input; width 2 only so that construction is cheap.
    model = build_clrnet(input_shape=(5, 240, 240, 3), initial_filters=2)
    counts = collections.Counter(type(layer).__name__ for layer in model.layers)
    assert len(model.layers) == 207
    assert counts["FusedConvLSTM2D"] == 53 and counts["BatchNormalization"] == 53
    assert counts["Activation"] == 48 and counts["Dropout"] == 33 and counts["Add"] == 16
    assert model.get_layer("stem_pool").output.shape[1:4] == (5, 40, 40)  # stride-3 pooling
    assert model.get_layer("stage0_block0_add").output.shape[1:4] == (5, 20, 20)  # stage 0 /2
    assert model.get_layer("head_bn").input.shape[1:4] == (5, 3, 3)
    first = model.get_layer("stage0_block0_a_conv")
    assert first.kernel_size == (3, 3) and first.strides == (2, 2)
    assert isinstance(first.input._keras_history.operation, keras.layers.MaxPooling3D)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ConvLSTM2D)]
    shortcuts = [c for c in convs if c.padding == "valid"]
    assert len(shortcuts) == 4 and all(c.kernel_size == (1, 1) for c in shortcuts)
    assert all(c.return_sequences for c in convs)
    assert all(c.cell.recurrent_activation is hard_sigmoid_keras2 for c in convs)
    # head: BN -> GAP3D -> Dropout -> Dense(2, softmax), no ReLU
    tail = [type(layer).__name__ for layer in model.layers[-4:]]
    assert tail == ["BatchNormalization", "GlobalAveragePooling3D", "Dropout", "Dense"]
    assert model.layers[-1].units == 2
    model128 = build_clrnet(input_shape=(5, 128, 128, 3), initial_filters=2)
    assert model128.get_layer("head_bn").input.shape[1:4] == (5, 2, 2)


def test_basic_block_variants():
    model = build_model("clrnet18", input_shape=(5, 64, 64, 3), initial_filters=2)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ConvLSTM2D)]
    assert len(adds) == 8 and len(convs) == 1 + 16 + 4
    assert model.count_params() == count_clrnet_params((2, 2, 2, 2), 2, "basic")
    assert count_clrnet_params((3, 4, 6, 3), block="basic") < OFFICIAL_PARAMS
    assert count_clrnet_params((3, 4, 23, 3)) > OFFICIAL_PARAMS


def test_hard_sigmoid_keras2_and_switch():
    x = np.array([-5.0, -2.5, 0.0, 1.0, 2.5, 5.0], np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(hard_sigmoid_keras2(x)), [0, 0, 0.5, 0.7, 1, 1], atol=1e-7
    )
    keras3 = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(x))
    assert abs(keras3[3] - 0.7) > 0.02  # Keras 3's hard_sigmoid is a different function
    model = build_model("clrnet", **TINY_CLIP, recurrent_activation="sigmoid")
    conv = model.get_layer("stem_conv")
    assert conv.cell.recurrent_activation is keras.activations.sigmoid
    with pytest.raises(ModelError, match="recurrent_activation"):
        build_model("clrnet", **TINY_CLIP, recurrent_activation="swishy")


def test_baseline_parameter_counts():
    assert build_model("meso4").count_params() == 28_073
    assert build_model("mesoinception4").count_params() == 28_725
    assert build_model("shallownet_v3").count_params() == 25_806_626
    assert build_model("xception").count_params() == 20_865_578


def test_fake_probability_reads_the_right_column():
    inp = keras.Input((4,))
    two = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp), name="two")
    one = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp), name="one")
    x = np.random.default_rng(1).random((5, 4), dtype=np.float32)
    np.testing.assert_allclose(
        fake_probability(two, x, batch_size=2), keras.ops.convert_to_numpy(two(x))[:, 1], 1e-6
    )
    np.testing.assert_allclose(fake_probability(one, x), keras.ops.convert_to_numpy(one(x))[:, 0])
    assert fake_probability(two, x[0]).shape == (1,)  # single sample without batch axis


def test_fake_probability_rejects_bad_inputs():
    model = build_model("clrnet", **TINY_CLIP)
    with pytest.raises(InputShapeError, match=r"\(2, 5, 32, 32, 3\).*'clrnet'.*\(batch, 3, 32"):
        fake_probability(model, np.zeros((2, 5, 32, 32, 3), np.float32))
    with pytest.raises(InputShapeError, match="rank|expects"):
        fake_probability(model, np.zeros((2, 32, 32, 3), np.float32)[None, None])
    with pytest.raises(InputShapeError, match="divide uint8"):
        fake_probability(model, np.full((1, 3, 32, 32, 3), 255, np.uint8))


def test_loss_and_targets():
    clip = build_model("clrnet", **TINY_CLIP)
    meso = build_model("meso4", input_shape=(32, 32, 3))
    labels = [1, 0, 1]
    np.testing.assert_array_equal(targets_for(clip, labels), [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(targets_for(meso, labels), [[1], [0], [1]])
    assert isinstance(loss_for(clip), keras.losses.BinaryCrossentropy)
    assert isinstance(loss_for(meso), keras.losses.MeanSquaredError)
    assert isinstance(loss_for(meso, "bce"), keras.losses.BinaryCrossentropy)
    with pytest.raises(ModelError, match="labels"):
        targets_for(clip, [0, 2])
    # the clip loss is BCE over the one-hot pair, as the official CLRNet compiled it
    x = _input_for(clip, batch=3, seed=3)
    pred = keras.ops.convert_to_numpy(clip(x, training=False))
    y = targets_for(clip, labels)
    manual = -np.mean(y * np.log(pred) + (1 - y) * np.log(1 - pred))
    assert float(loss_for(clip)(y, pred)) == pytest.approx(manual, rel=1e-4)
    # MesoNet's official loss is the MSE between the sigmoid and the 0/1 target
    pm = keras.ops.convert_to_numpy(meso(_input_for(meso, batch=3, seed=4), training=False))
    ym = targets_for(meso, labels)
    assert float(loss_for(meso)(ym, pm)) == pytest.approx(float(np.mean((ym - pm) ** 2)), 1e-5)


def test_weights_file_for_another_architecture(tmp_path):
    small = build_model("shallownet_v3", input_shape=(32, 32, 3), dense_units=8)
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    same = build_model("shallownet_v3", weights=path, input_shape=(32, 32, 3), dense_units=8)
    np.testing.assert_array_equal(same.get_weights()[-1], small.get_weights()[-1])
    with pytest.raises(WeightsError, match=r"small.weights.h5 does not fit model .shallownet_v3.: layer dense1 expects"):
        build_model("shallownet_v3", weights=path, input_shape=(32, 32, 3), dense_units=16)
    with pytest.raises(WeightsError, match="not found"):
        build_model("xception", weights=tmp_path / "none.weights.h5")


def test_package_import_registers_objects():
    from clrnet.registry import Detector

    assert keras.saving.get_registered_object("deepfake_repro>hard_sigmoid_keras2") is (
        hard_sigmoid_keras2
    )
    assert keras.saving.get_registered_object("deepfake_repro>Detector") is Detector


@pytest.mark.slow
def test_full_size_clrnet_has_official_parameter_count():
    start = time.perf_counter()
    model = build_model("clrnet")
    seconds = time.perf_counter() - start
    print(f"full CLRNet-50 construction: {seconds:.1f} s")
    assert model.count_params() == OFFICIAL_PARAMS
    assert len(model.layers) == 207
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 248_107_394
