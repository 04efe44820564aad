"""Tests for twobranch.models: builders, shapes, scoring, centre, local DenseNet weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import twobranch  # noqa: F401 - registers custom objects
from clrnet.errors import ModelError
from clrnet.scoring import fake_probability
from twobranch.layers import DistanceToCenter
from twobranch.losses import IsolationLoss
from twobranch.models import (
    DenseNetWeightsError,
    build_model,
    compute_center,
    distances,
    embedding_dim,
    frame_encoder_of,
    load_densenet_weights,
    make_scorer,
    summary_lines,
)

TINY = {"input_size": 32, "frames": 3, "blocks": (1, 1, 1, 1), "growth_rate": 8,
        "stem_filters": 16, "lstm_units": 8}


def _clips(n: int, seed: int = 0, frames: int = 3, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((n, frames, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def tiny_two_branch():
    keras.utils.set_random_seed(0)
    return build_model("two_branch", **TINY)


def test_tiny_two_branch_shapes(tiny_two_branch):
    model = tiny_two_branch
    assert tuple(model.input.shape) == (None, 3, 32, 32, 3)
    assert tuple(model.output.shape) == (None, 16)  # 2 x lstm_units, directions concatenated
    enc = frame_encoder_of(model)
    rgb, log = enc.get_layer("pool2_pool").output, enc.get_layer("log_pool2_pool").output
    assert tuple(rgb.shape) == tuple(log.shape)  # aligned branch maps (input / 8)
    assert tuple(rgb.shape[1:3]) == (4, 4)
    assert tuple(enc.get_layer("fusion_conv").output.shape) == tuple(rgb.shape)
    assert enc.get_layer("fusion_conv").groups == 2
    y = model(_clips(2), training=False)
    assert tuple(y.shape) == (2, 16) and np.isfinite(np.asarray(y)).all()


def test_unshared_branches_and_dropout(tiny_two_branch):
    enc = frame_encoder_of(tiny_two_branch)
    a, b = enc.get_layer("conv1_conv"), enc.get_layer("log_conv1_conv")
    assert a is not b and a.kernel is not b.kernel
    drops = [layer for layer in enc.layers if isinstance(layer, keras.layers.Dropout)]
    # one dropout per dense layer: 1 per block x 4 blocks + the LoG branch's block 1
    assert len(drops) == 5 and all(d.rate == pytest.approx(0.2) for d in drops)
    assert enc.get_layer("deep_log") is not None


def test_frame_variant_and_heads():
    frame = build_model("two_branch_frame", **TINY)
    assert tuple(frame.input.shape) == (None, 32, 32, 3)
    # final width of the tiny backbone = GAP vector = embedding
    assert embedding_dim(frame) == int(frame.get_layer("avg_pool").output.shape[-1])
    bce = build_model("two_branch_frame", head="bce", **TINY)
    p = np.asarray(bce(np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")))
    assert p.shape == (2, 1) and ((p >= 0) & (p <= 1)).all()
    single = build_model("two_branch_frame", branches="rgb", **TINY)
    assert not any(layer.name.startswith(("log_", "deep_log", "fusion")) for layer in single.layers)
    assert single.count_params() < frame.count_params()
    with pytest.raises(ModelError, match="does not accept"):
        build_model("two_branch", growth=3)
    with pytest.raises(ModelError, match="unknown model 'three_branch'"):  # the registry's error
        build_model("three_branch")


def test_log_at_input_variant():
    model = build_model("two_branch_frame", log_position="input", **TINY)
    assert model.get_layer("deep_log").output.shape[-1] == 3


def test_keras_round_trip_and_scorer(tmp_path, tiny_two_branch):
    model = tiny_two_branch
    x = _clips(2, seed=1)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    center = np.zeros(16, "float32")
    scorer = make_scorer(model, center)  # paper radii for 16-d are scaled from 256-d
    spath = tmp_path / "scorer.keras"
    scorer.save(spath)
    reloaded = keras.models.load_model(spath)
    layer = reloaded.get_layer("distance_to_center")
    assert isinstance(layer, DistanceToCenter) and layer.center == pytest.approx(list(center))
    assert reloaded.registry_name == "two_branch" and reloaded.family == "twobranch"
    s1, s2 = fake_probability(scorer, x), fake_probability(reloaded, x)
    assert s1.shape == (2,) and np.allclose(s1, s2, atol=1e-5)
    d = distances(model, x, center)
    np.testing.assert_allclose(d, np.linalg.norm(model.predict(x, verbose=0), axis=1), rtol=1e-5)
    # probability is monotone in the distance
    assert np.argsort(s1).tolist() == np.argsort(d).tolist()
    with pytest.raises(ModelError, match="centre"):
        fake_probability(model, x)  # an embedding model without a compiled isolation loss


def test_compiled_isolation_loss_centre_scores_embedding_models(tiny_two_branch):
    model = tiny_two_branch
    center = np.full(16, 0.5, "float32")
    model.compile(optimizer="sgd", loss=IsolationLoss(center, 0.01, 1.0))
    x = _clips(2, seed=2)
    emb = model.predict(x, verbose=0)
    expected = make_scorer(model, center, 0.01, 1.0).predict(x, verbose=0).reshape(-1)
    np.testing.assert_allclose(fake_probability(model, x), expected, rtol=1e-5)
    np.testing.assert_allclose(distances(model, x, center), np.linalg.norm(emb - center, axis=1),
                               rtol=1e-5)


def test_compute_center_averages_real_embeddings_only(tiny_two_branch):
    model = tiny_two_branch
    x = _clips(6, seed=3)
    y = np.array([0, 1, 0, 1, 0, 0], "float32")
    batches = [(x[:3], y[:3]), (x[3:], y[3:])]
    c = compute_center(model, batches)
    emb = np.asarray(model(x, training=False))
    np.testing.assert_allclose(c, emb[y == 0].mean(axis=0), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="no real"):
        compute_center(model, [(x[:2], np.ones(2))])


def test_load_local_densenet_weights(tmp_path):
    from keras.src.applications import densenet

    keras.utils.set_random_seed(4)
    ref = densenet.DenseNet(blocks=[1, 1, 1, 1], include_top=False, weights=None,
                            input_shape=(32, 32, 3))
    w3 = tmp_path / "dn.weights.h5"
    ref.save_weights(w3)
    model = build_model("two_branch_frame", input_size=32, blocks=(1, 1, 1, 1))
    n = load_densenet_weights(model, w3)
    assert n > 0
    for name in ("conv1_conv", "conv2_block1_2_conv", "conv5_block1_1_bn", "bn"):
        for got, want in zip(model.get_layer(name).get_weights(), ref.get_layer(name).get_weights(),
                             strict=True):
            np.testing.assert_array_equal(got, want)
    # the LoG branch starts from the same ImageNet-style filters
    np.testing.assert_array_equal(model.get_layer("log_conv1_conv").get_weights()[0],
                                  ref.get_layer("conv1_conv").get_weights()[0])
    # legacy full-model .h5 also works, through the build_model option
    legacy = tmp_path / "dn.h5"
    ref.save(legacy)
    model2 = build_model("two_branch", input_size=32, frames=2, blocks=(1, 1, 1, 1),
                         densenet_weights=str(legacy))
    np.testing.assert_array_equal(frame_encoder_of(model2).get_layer("pool2_conv").get_weights()[0],
                                  ref.get_layer("pool2_conv").get_weights()[0])
    # mismatching layout and missing files fail with one clear line naming the path
    tiny = build_model("two_branch_frame", **TINY)
    with pytest.raises(DenseNetWeightsError, match="dn.weights.h5"):
        load_densenet_weights(tiny, w3)
    with pytest.raises(DenseNetWeightsError, match="not found"):
        load_densenet_weights(tiny, tmp_path / "missing.h5")


def _keras_cached_densenet121(folder) -> tuple[keras.Model, object]:
    """A DenseNet-121 (random weights, 32 px) saved exactly as Keras caches its ImageNet file:
    a legacy weights-only HDF5 (``layer_names`` attribute, one group per layer)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from twobranch.models import IMAGENET_FILES

    keras.utils.set_random_seed(7)
    ref = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = folder / "models" / IMAGENET_FILES[(6, 12, 24, 16)][0]
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    return ref, path


def test_imagenet_initialisation_from_the_keras_cache(tmp_path, monkeypatch):
    from twobranch import models

    ref, path = _keras_cached_densenet121(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def no_download(*args):
        raise AssertionError("the cached file must be used, nothing downloaded")

    monkeypatch.setattr(models, "_download_imagenet", no_download)
    assert models.imagenet_weights_file() == path
    model = build_model("two_branch_frame", input_size=32, densenet_weights="imagenet")
    # every DenseNet layer of the RGB branch and the backbone ...
    for name in ("conv1_conv", "conv1_bn", "conv2_block6_2_conv", "pool3_conv",
                 "conv5_block16_1_bn", "bn"):
        for got, want in zip(model.get_layer(name).get_weights(), ref.get_layer(name).get_weights(),
                             strict=True):
            np.testing.assert_array_equal(got, want)
    # ... and the same ImageNet filters in the LoG branch's stem and dense block 1
    for name in ("conv1_conv", "conv2_block3_1_conv", "pool2_conv"):
        np.testing.assert_array_equal(model.get_layer(f"log_{name}").get_weights()[0],
                                      ref.get_layer(name).get_weights()[0])


def test_imagenet_without_cache_or_network_fails_with_one_line(tmp_path, monkeypatch):
    from twobranch import models

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "keras_cache_dirs", lambda: [tmp_path / "models"])

    def offline(name, url, md5):
        assert name.startswith("densenet121") and url.endswith(name) and len(md5) == 32
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(models, "_download_imagenet", offline)
    with pytest.raises(DenseNetWeightsError) as e:
        build_model("two_branch_frame", input_size=32, densenet_weights="imagenet")
    text = str(e.value)
    assert "\n" not in text and "--densenet-weights FILE" in text and "connected machine" in text
    assert "no network" in text
    with pytest.raises(DenseNetWeightsError, match="no ImageNet weights exist"):
        models.imagenet_weights_file((1, 1, 1, 1))


def test_full_size_summary_matches_paper():
    model = build_model("two_branch")
    text = "\n".join(summary_lines(model))
    assert "RGB branch: (28, 28, 128)" in text and "LoG branch: (28, 28, 128)" in text
    assert "global average pooling: (1024,)" in text and "embedding: (256,)" in text
    # RGB branch + backbone is exactly Keras DenseNet-121 without top.
    dn = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(224, 224, 3))
    enc = frame_encoder_of(model)
    ours = sum(layer.count_params() for layer in enc.layers
               if not layer.name.startswith(("log_", "deep_log", "fusion", "imagenet_norm")))
    assert ours == dn.count_params() == 7_037_504
    assert model.get_layer("bilstm").count_params() == 2 * 4 * (128 * (1024 + 128) + 128)


def test_figures_write_pngs(tmp_path, tiny_two_branch):
    from twobranch.figures import (
        ASTRONAUT_FACE_BOX,
        branch_feature_maps,
        distance_histograms,
        feature_maps_figure,
        load_face,
        tsne_figure,
    )

    face = load_face("data_prep/media/astronaut.png", box=ASTRONAUT_FACE_BOX)
    assert face.shape == (220, 220, 3) and 0.0 <= face.min() and face.max() <= 1.0
    fm = branch_feature_maps(tiny_two_branch, face)
    assert fm["rgb"].shape == (3, 16, 16) and fm["log"].shape == (3, 3, 16, 16)
    # the LoG maps are band-passed RGB maps: their mean (DC) is small next to the RGB maps'
    for k in range(3):
        assert abs(fm["log"][k].mean()) < 0.25 * fm["rgb"][k].mean()
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20), np.ones(20)]
    dist = np.r_[rng.uniform(0.0, 0.05, 20), rng.uniform(1.5, 3.0, 20)]
    emb = rng.normal(size=(40, 8)) + labels[:, None] * 3
    paths = [feature_maps_figure(tiny_two_branch, face, tmp_path / "f3.png"),
             distance_histograms(dist, labels, tmp_path / "f4d.png", 0.042, 1.638, log_x=True),
             tsne_figure(emb, labels, tmp_path / "f4b.png", center=emb[:20].mean(axis=0))]
    for p in paths:
        assert p.exists() and p.stat().st_size > 5000
        assert not list(tmp_path.glob("*.tmp.png"))
    with pytest.raises(ValueError, match="labels"):
        distance_histograms(dist, labels[:5], tmp_path / "bad.png")
