"""clrnet.registry: one registry for every model of both papers, saved models that know their family."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

import twobranch  # noqa: F401 - the test suite uses both families
from clrnet import registry
from clrnet.errors import ClrnetError, ModelError, UnknownModelError, WeightsError
from clrnet.scoring import fake_probability, output_kind

TINY_CLIP = {"input_shape": (3, 32, 32, 3), "repetitions": [1, 1, 1, 1], "initial_filters": 4}
TINY_RNN = {"input_shape": (3, 32, 32, 3), "backbone": "tiny", "width": 4, "units": 4}
TINY_TB = {"input_size": 32, "blocks": (1, 1), "growth_rate": 4, "stem_filters": 8,
           "lstm_units": 4, "bottleneck": 1}
#: A tiny configuration of every registered model (the test below fails when one is missing).
TINY = {
    "clrnet": TINY_CLIP,
    "clrnet18": TINY_CLIP,
    "clrnet34": TINY_CLIP,
    "clrnet101": TINY_CLIP,
    "meso4": {"input_shape": (32, 32, 3)},
    "mesoinception4": {"input_shape": (32, 32, 3)},
    "xception": {"input_shape": (71, 71, 3)},
    "shallownet_v3": {"input_shape": (32, 32, 3), "dense_units": 8},
    "dbirnn": TINY_RNN,
    "cnn_lstm": {**TINY_RNN, "dense_units": 4},
    "two_branch": {**TINY_TB, "frames": 3},
    "two_branch_frame": TINY_TB,
}


def _input_for(model: keras.Model, batch: int = 2, seed: int = 0) -> np.ndarray:
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_one_registry_lists_both_papers_with_sourced_facts():
    names = registry.names()
    assert set(TINY) == set(names)
    assert set(registry.names("twobranch")) == {"two_branch", "two_branch_frame"}
    for name in names:
        spec = registry.get(name)
        assert spec.paper and spec.source, name
        assert (spec.kind == "clip") == (spec.clip_len is not None), name
        assert spec.output in ("softmax2", "sigmoid", "embedding")
    clr = registry.get("clrnet")
    assert (clr.lr, clr.clip_len, clr.input_size, clr.epochs, clr.epochs_transfer) == (
        5e-5, 5, 240, 300, 150)
    meso = registry.get("mesoinception4")
    assert (meso.loss, meso.lr, meso.input_size, meso.output) == ("mse", 1e-3, 256, "sigmoid")
    assert registry.get("shallownet_v3").input_size == 128
    assert registry.get("cnn_lstm").clip_len == 20
    tb = registry.get("two_branch")
    assert (tb.family, tb.clip_len, tb.output, tb.clip_stride) == ("twobranch", 10, "embedding", 7)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_model_roundtrips_through_plain_load_model(name, tmp_path):
    model = registry.build_model(name, **TINY[name])
    assert isinstance(model, registry.Detector)
    assert (model.registry_name, model.family) == (name, registry.get(name).family)
    x = _input_for(model)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.models.load_model(path)
    assert isinstance(again, registry.Detector)
    assert (again.registry_name, again.family) == (model.registry_name, model.family)
    assert registry.spec_of(again) is registry.get(name)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(again(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)))
    info = registry.saved_model_info(path)
    assert info["registry_name"] == name and info["family"] == model.family
    if output_kind(model) != "embedding":
        p = fake_probability(again, x)
        assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_input_size_and_clip_len_arguments():
    clip = registry.build_model("clrnet", input_size=32, clip_len=3, repetitions=[1, 1, 1, 1],
                                initial_filters=4)
    assert tuple(clip.inputs[0].shape) == (None, 3, 32, 32, 3)
    frame = registry.build_model("meso4", input_size=64)
    assert tuple(frame.inputs[0].shape) == (None, 64, 64, 3)
    tb = registry.build_model("two_branch", clip_len=4, **TINY_TB)
    assert tuple(tb.inputs[0].shape) == (None, 4, 32, 32, 3)


def test_unknown_names_and_bad_arguments():
    with pytest.raises(UnknownModelError, match="valid names: clrnet") as info:
        registry.build_model("resnet50")
    assert isinstance(info.value, ValueError) and isinstance(info.value, ClrnetError)
    with pytest.raises(ModelError, match="does not accept"):
        registry.build_model("meso4", widths=3)
    with pytest.raises(UnknownModelError, match="mesoinception4_df"):
        registry.get_pretrained("nope")


def test_pretrained_weights_know_what_they_were_trained_on():
    model = registry.load_pretrained("mesoinception4_df")
    assert model.name == "mesoinception4_df" and model.registry_name == "mesoinception4"
    assert "Deepfake (DF)" in model.trained_on and "DariusAf/MesoNet" in model.weights_source
    assert "not to transfer" in registry.get_pretrained("mesoinception4_df").caveat


def test_embedding_models_score_through_their_family(tmp_path):
    from twobranch.losses import IsolationLoss

    model = registry.build_model("two_branch", frames=3, **TINY_TB)
    center = np.zeros(int(model.output.shape[-1]), np.float32)
    model.compile(loss=IsolationLoss(center, 0.1, 1.0))
    path = tmp_path / "emb.keras"
    model.save(path)
    again = registry.load_model(path)
    x = _input_for(again)
    p = fake_probability(again, x)  # wrapped by twobranch's scorer through the registry
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    bare = registry.build_model("two_branch", frames=3, **TINY_TB)
    with pytest.raises(ModelError, match="isolation-loss centre"):
        fake_probability(bare, x)


def test_load_model_errors_are_one_line(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        registry.load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(WeightsError, match="not a loadable .keras model"):
        registry.load_model(bad)


def test_a_saved_model_names_its_family_and_loads_without_importing_it_first(tmp_path):
    model = registry.build_model("two_branch", frames=3, **TINY_TB)
    path = tmp_path / "tb.keras"
    model.save(path)
    code = ("import sys; import clrnet; from clrnet import registry; "
            "assert 'twobranch' not in sys.modules; "
            f"m = registry.load_model({str(path)!r}); "
            "print(type(m).__name__, m.family, 'twobranch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Detector", "twobranch", "True"]
