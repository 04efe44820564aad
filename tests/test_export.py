"""clrnet.export: SavedModel and TFLite round trips of a tiny CLRNet and MesoInception4.

Each export is reloaded without Keras (``tf.saved_model.load`` / ``tf.lite.Interpreter``) and its
P(fake) compared with the Keras model's on the same inputs. The fused ConvLSTM must leave no
while loop in the graph (and a plain ``ConvLSTM2D`` exported without fusion must show one, so the
check can fail), and the TFLite files must use builtin operators only.
"""

from __future__ import annotations

import numpy as np
import pytest

import clrnet  # noqa: F401
from clrnet.export import (
    LOOP_OPS,
    TOLERANCE,
    ExportError,
    export_savedmodel,
    export_tflite,
    load_exported,
    main,
    max_difference,
    saved_model_op_types,
    tflite_op_names,
)
from clrnet.registry import build_model
from clrnet.scoring import fake_probability

TINY = {"input_shape": (3, 32, 32, 3), "repetitions": (1, 1), "initial_filters": 4}


def _spread_head(model, scale: float = 30.0):
    import keras

    dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * scale, bias])
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(3)
    root = tmp_path_factory.mktemp("export_models")
    out = {}
    for name, model in (("clrnet", _spread_head(build_model("clrnet", **TINY))),
                        ("mesoinception4", _spread_head(build_model("mesoinception4"), 3.0))):
        path = root / f"{name}.keras"
        model.save(path)
        out[name] = (model, path)
    return out


def _inputs(model, n: int = 3, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *model.inputs[0].shape[1:]), dtype=np.float32)


@pytest.mark.parametrize("name", ["clrnet", "mesoinception4"])
def test_savedmodel_round_trip(name, models, tmp_path, capsys):
    model, path = models[name]
    out = tmp_path / "sm"
    assert main([str(path), str(out), "--format", "savedmodel", "--check-batch", "2"]) == 0
    printed = capsys.readouterr().out
    assert "max |dP(fake)| = " in printed and "serving_default" in printed
    assert float(printed.split("max |dP(fake)| = ")[1].split()[0]) <= TOLERANCE
    predict = load_exported(out, "savedmodel")
    assert predict.input_name == ("clips" if name == "clrnet" else "frames")
    x = _inputs(model)
    want = fake_probability(model, x)
    assert want.std() > 1e-3
    got = predict(x)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    np.testing.assert_allclose(predict(x[:1]), want[:1], atol=TOLERANCE)  # the batch is free
    assert not set(LOOP_OPS) & saved_model_op_types(out)


def test_fusion_removes_the_while_loop_of_keras_convlstm(tmp_path):
    """A CLRNet built with Keras' own ConvLSTM2D: a While loop unless exported fused."""
    import keras

    keras.utils.set_random_seed(4)
    plain = _spread_head(build_model("clrnet", convlstm="keras", input_shape=(2, 16, 16, 3),
                                     repetitions=(1,), initial_filters=2))
    unfused = export_savedmodel(plain, tmp_path / "unfused", fuse=False)
    assert set(LOOP_OPS) & saved_model_op_types(unfused)
    fused = export_savedmodel(plain, tmp_path / "fused")
    assert not set(LOOP_OPS) & saved_model_op_types(fused)
    # the fused export computes what the Keras ConvLSTM2D model computes
    assert max_difference(plain, load_exported(fused, "savedmodel"), batch=2) <= TOLERANCE


def test_savedmodel_export_replaces_an_earlier_one(tmp_path):
    import keras

    inputs = keras.Input((4, 4, 3), name="frame")
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    out = tmp_path / "sm"
    export_savedmodel(model, out)
    (out / "stale.txt").write_text("from the first export")
    assert export_savedmodel(model, out) == out
    assert (out / "saved_model.pb").is_file() and not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]
    assert max_difference(model, load_exported(out, "savedmodel")) <= TOLERANCE


@pytest.mark.parametrize("name", ["clrnet", "mesoinception4"])
def test_tflite_round_trip_with_builtin_ops_only(name, models, tmp_path, capsys):
    model, path = models[name]
    out = tmp_path / "model.tflite"
    assert main([str(path), str(out), "--format", "tflite"]) == 0
    assert "max |dP(fake)| = " in capsys.readouterr().out
    ops = tflite_op_names(out)
    assert ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    assert ("MAX_POOL_2D" in ops) and ("CONV_2D" in ops)  # CLRNet's 3-D stem pool runs per frame
    predict = load_exported(out, "tflite", num_threads=1)
    x = _inputs(model)
    np.testing.assert_allclose(predict(x), fake_probability(model, x), atol=TOLERANCE)
    np.testing.assert_allclose(predict(x[:1]), fake_probability(model, x[:1]), atol=TOLERANCE)


def test_tflite_names_the_tensorflow_ops_a_model_would_need(tmp_path):
    """A pool over time has no TFLite builtin: the error names it; --allow-select-tf-ops works."""
    import keras

    inputs = keras.Input((4, 8, 8, 3), name="clip")
    x = keras.layers.MaxPooling3D((2, 2, 2))(inputs)
    x = keras.layers.GlobalAveragePooling3D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(ExportError, match=r"needs TensorFlow ops \['MaxPool3D'\]"):
        export_tflite(model, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()
    path = export_tflite(model, tmp_path / "m.tflite", select_tf_ops=True)
    assert any(op.startswith("Flex") for op in tflite_op_names(path))


def _one_line_error(capsys, argv, status=2) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in captured.err
    return err[0]


def test_cli_errors_are_one_line(models, tmp_path, capsys):
    _, path = models["mesoinception4"]
    line = _one_line_error(capsys, [str(tmp_path / "nope.keras"), str(tmp_path / "o")])
    assert "not found" in line
    garbage = tmp_path / "bad.keras"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    assert "bad.keras" in _one_line_error(capsys, [str(garbage), str(tmp_path / "o")])
    text = tmp_path / "text.keras"
    text.write_text("hello")
    assert "not a loadable .keras model" in _one_line_error(capsys, [str(text), str(tmp_path / "o")])
    line = _one_line_error(capsys, [str(path), str(tmp_path / "o"), "--format", "onnx"])
    assert "unknown format 'onnx'" in line
    line = _one_line_error(capsys, [str(path), str(tmp_path / "o.bin"), "--format", "tflite"])
    assert "must end in .tflite" in line
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    line = _one_line_error(capsys, [str(path), str(busy), "--format", "savedmodel"])
    assert "is not a SavedModel folder" in line and (busy / "notes.txt").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
