"""The MesoNet authors' packaged weights reproduce their own architecture's outputs as P(fake).

The reference here is an independent, plain re-statement of ``DariusAf/MesoNet: classifiers.py``
with Keras-2 default layer names, loaded with Keras' own legacy ``load_weights(by_name=True)``; our
loader maps by per-type creation order with shape checks and folds in the label flip. Images go
through the authors' pipeline: ``load_img(target_size=(256, 256))`` (nearest) and ``/255``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras import layers

from clrnet import registry
from clrnet.errors import WeightsError
from clrnet.models import DEFAULT_PRETRAINED
from clrnet.registry import build_model, load_pretrained
from clrnet.scoring import fake_probability

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "data" / "mesonet_test_images"
WEIGHTS = REPO / "clrnet" / "weights"


def _faces() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The authors' test faces as (N, 256, 256, 3) in [0, 1], labels (fake = 1), names."""
    paths = sorted(FACES.glob("df/*.jpg")) + sorted(FACES.glob("real/*.jpg"))
    x = np.stack(
        [keras.utils.img_to_array(keras.utils.load_img(p, target_size=(256, 256))) for p in paths]
    )
    y = np.array([1 if p.parent.name == "df" else 0 for p in paths])
    return (x / 255.0).astype(np.float32), y, [p.name for p in paths]


class _Names:
    """Keras-2 style global name counters (``conv2d_5`` = fifth Conv2D created)."""

    def __init__(self, conv: int, bn: int, dense: int):
        self.n = {"conv2d": conv, "batch_normalization": bn, "dense": dense}

    def __call__(self, kind: str) -> str:
        self.n[kind] += 1
        return f"{kind}_{self.n[kind]}"


def _reference(kind: str, names: _Names, leaky: bool = True) -> keras.Model:
    """Plain restatement of the authors' Meso4 / MesoInception4 (sigmoid = P(real))."""
    inp = keras.Input((256, 256, 3))

    def conv(t, f, k, dil=1):
        return layers.Conv2D(
            f, k, padding="same", dilation_rate=dil, activation="relu", name=names("conv2d")
        )(t)

    def incep(t, a, b, c, d):
        x1 = conv(t, a, 1)
        x2 = conv(conv(t, b, 1), b, 3)
        x3 = conv(conv(t, c, 1), c, 3, 2)
        x4 = conv(conv(t, d, 1), d, 3, 3)
        return layers.Concatenate()([x1, x2, x3, x4])

    def bn_pool(t, p):
        t = layers.BatchNormalization(name=names("batch_normalization"))(t)
        return layers.MaxPooling2D((p, p), padding="same")(t)

    if kind == "meso4":
        x = bn_pool(conv(inp, 8, 3), 2)
        x = bn_pool(conv(x, 8, 5), 2)
    else:
        x = bn_pool(incep(inp, 1, 4, 4, 2), 2)
        x = bn_pool(incep(x, 2, 4, 4, 2), 2)
    x = bn_pool(conv(x, 16, 5), 2)
    x = bn_pool(conv(x, 16, 5), 4)
    y = layers.Dropout(0.5)(layers.Flatten()(x))
    y = layers.Dense(16, name=names("dense"))(y)
    if leaky:
        y = layers.LeakyReLU(negative_slope=0.1)(y)
    y = layers.Dropout(0.5)(y)
    y = layers.Dense(1, activation="sigmoid", name=names("dense"))(y)
    return keras.Model(inp, y)


# (our registry name, file, Keras-2 name counters before the model was built)
CASES = [
    ("meso4", "Meso4_DF.h5", (4, 4, 2)),
    ("meso4", "Meso4_F2F.h5", (4, 4, 2)),
    ("mesoinception4", "MesoInception_DF.h5", (0, 0, 0)),
    ("mesoinception4", "MesoInception_F2F.h5", (0, 0, 0)),
]


@pytest.mark.parametrize(("name", "fname", "offsets"), CASES)
def test_authors_weights_match_reference(name, fname, offsets):
    x, _, _ = _faces()
    ref = _reference(name, _Names(*offsets))
    ref.load_weights(str(WEIGHTS / fname), by_name=True)
    p_real = keras.ops.convert_to_numpy(ref(x, training=False))[:, 0]
    ours = build_model(name, weights=WEIGHTS / fname)
    p_fake = fake_probability(ours, x)
    np.testing.assert_allclose(p_fake, 1.0 - p_real, atol=1e-5)
    # every weight tensor was really loaded (reference and ours agree tensor by tensor)
    ref_sum = sum(float(np.abs(w).sum()) for w in ref.get_weights())
    our_sum = sum(float(np.abs(w).sum()) for w in ours.get_weights())
    assert our_sum == pytest.approx(ref_sum, rel=1e-6)


def test_default_pretrained_separates_test_faces():
    x, y, names = _faces()
    model = load_pretrained(DEFAULT_PRETRAINED)
    p = fake_probability(model, x)
    print(dict(zip(names, np.round(p, 4).tolist(), strict=True)))
    assert model.name == DEFAULT_PRETRAINED
    assert "on Deepfake (DF)" in model.trained_on
    assert p[y == 1].min() > 0.5 > p[y == 0].max()


def test_pretrained_entries_exist_and_roundtrip(tmp_path):
    for name in registry.pretrained_names():
        assert registry.get_pretrained(name).path.is_file()
    model = load_pretrained("meso4_df")
    x, _, _ = _faces()
    path = tmp_path / "meso4_df.keras"
    model.save(path)
    again = keras.models.load_model(path)
    assert (again.trained_on, again.weights_source) == (model.trained_on, model.weights_source)
    np.testing.assert_allclose(fake_probability(again, x), fake_probability(model, x), atol=1e-6)


def test_wrong_architecture_weights_are_refused():
    with pytest.raises(WeightsError, match="does not fit meso4"):
        build_model("meso4", weights=WEIGHTS / "MesoInception_DF.h5")
    with pytest.raises(WeightsError, match="does not fit mesoinception4"):
        build_model("mesoinception4", weights=WEIGHTS / "Meso4_DF.h5")


def test_bad_weight_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(WeightsError, match="notes.h5"):
        build_model("meso4", weights=text)
    with pytest.raises(WeightsError, match="not found"):
        build_model("meso4", weights=tmp_path / "missing.h5")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match="layer_names"):
        build_model("mesoinception4", weights=empty)
