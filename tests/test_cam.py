"""Tests of clrnet.cam: CAM identity, localisation on a hand-built model, Grad-CAM, CLI."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from clrnet import cam
from clrnet.errors import CamError

T, S = 3, 16


def _brightness_model() -> keras.Model:
    """Clip model whose 'fake' channel is pixel brightness: CAM must light up bright pixels."""
    inp = keras.Input((T, S, S, 3))
    feat = keras.layers.Conv3D(2, 1, use_bias=False, name="feat")(inp)
    pooled = keras.layers.GlobalAveragePooling3D(name="gap")(feat)
    pooled = keras.layers.Dropout(0.25)(pooled)
    out = keras.layers.Dense(2, activation="softmax", name="head")(pooled)
    model = keras.Model(inp, out, name="bright")
    model.get_layer("feat").set_weights([np.stack([-np.ones(3), np.ones(3)], -1)
                                         .reshape(1, 1, 1, 3, 2) / 3])
    model.get_layer("head").set_weights([np.eye(2, dtype="float32") * 4, np.zeros(2, "float32")])
    return model


def _clip_with_square(r0: int, c0: int) -> np.ndarray:
    clip = np.full((T, S, S, 3), 0.1, np.float32)
    clip[:, r0:r0 + 4, c0:c0 + 4] = 0.9
    return clip


def test_cam_localises_the_bright_square():
    model = _brightness_model()
    clip = _clip_with_square(2, 9)
    for method in ("cam", "gradcam"):
        maps = cam.class_activation_maps(model, clip, method=method)
        assert maps.shape == (T, S, S) and maps.dtype == np.float32
        assert maps.min() == 0.0 and maps.max() == pytest.approx(1.0)
        inside = maps[:, 3:5, 10:12].mean()
        outside = maps[:, 10:, :6].mean()
        assert inside > 0.9 and outside < 0.1, (method, inside, outside)
    # the real class (index 0) highlights the opposite: the dark background
    real = cam.class_activation_maps(model, clip, class_index=0)
    assert real[:, 3:5, 10:12].mean() < 0.1 < real[:, 10:, :6].mean()


def test_cam_identity_with_tiny_clrnet():
    from clrnet.registry import build_model
    model = build_model("clrnet18", input_shape=(T, 24, 24, 3), repetitions=[1],
                        initial_filters=2)
    rng = np.random.default_rng(0)
    clip = rng.random((T, 24, 24, 3)).astype(np.float32)
    raw = cam.class_activation_maps(model, clip, raw=True)
    feats, dense = cam.find_cam_head(model)
    assert feats.shape[1:4] == (T, *raw.shape[1:])
    # mean over (T, h, w) of the raw CAM = the fake-class logit minus its bias (GAP is linear)
    pooled = keras.Model(model.inputs[0], dense.input)(clip[None], training=False)
    kernel, bias = dense.get_weights()
    logit = float(np.asarray(pooled)[0] @ kernel[:, 1])
    assert raw.mean() == pytest.approx(logit, rel=1e-4, abs=1e-5)
    maps = cam.class_activation_maps(model, clip)
    assert maps.shape == (T, 24, 24) and 0.0 <= maps.min() and maps.max() <= 1.0


def test_gradcam_for_frame_model_and_errors():
    inp = keras.Input((S, S, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    frame_model = keras.Model(inp, out, name="frames")
    clip = _clip_with_square(4, 4)
    maps = cam.class_activation_maps(frame_model, clip, method="gradcam")
    assert maps.shape == (T, S, S)
    with pytest.raises(CamError, match="gradcam"):
        cam.class_activation_maps(frame_model, clip, method="cam")
    with pytest.raises(CamError, match="does not fit"):
        cam.class_activation_maps(_brightness_model(), clip[:, :8])
    with pytest.raises(CamError, match="unknown CAM method"):
        cam.class_activation_maps(_brightness_model(), clip, method="saliency")


def test_overlay_strip():
    clip = _clip_with_square(0, 0)
    maps = cam.class_activation_maps(_brightness_model(), clip)
    strip = cam.overlay(clip, maps)
    assert strip.shape == (2 * S, T * S, 3) and strip.dtype == np.uint8
    np.testing.assert_array_equal(strip[:S, :S], np.uint8(clip[0] * 255 + 0.5))
    # hot (red) where the map is 1, blue-ish where it is 0
    hot, cold = strip[S + 1, 1].astype(int), strip[S + 12, 12].astype(int)
    assert hot[0] > hot[2] and cold[2] > cold[0]
    with pytest.raises(CamError):
        cam.overlay(clip, maps[:, :4])


def test_cli_writes_png_and_reports_errors(tmp_path, capsys):
    import cv2
    model = _brightness_model()
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "clip.npy", _clip_with_square(2, 2))
    out = tmp_path / "cam.png"
    assert cam.main(["--model", str(tmp_path / "m.keras"), "--clip", str(tmp_path / "clip.npy"),
                     "--out", str(out)]) == 0
    img = cv2.imread(str(out))
    assert img.shape == (2 * S, T * S, 3)
    code = cam.main(["--model", str(tmp_path / "m.keras"), "--clip", str(tmp_path / "no.npy"),
                     "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "no.npy" in err[0]
    (tmp_path / "bad.keras").write_text("x")
    code = cam.main(["--model", str(tmp_path / "bad.keras"), "--clip",
                     str(tmp_path / "clip.npy"), "--out", str(out)])
    assert code == 2 and "bad.keras" in capsys.readouterr().err
