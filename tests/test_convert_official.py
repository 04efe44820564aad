"""clrnet.convert_official on checkpoints written here in the tf.keras 2.x full-model HDF5 layout.

A tiny CLRNet stands in for the authors' model (its Keras-2 hard sigmoid is the function their
tf.keras ran). Its graph is re-written as a tf.keras 2.x ``model_config`` (``time_major``,
``batch_input_shape``, list-form ``inbound_nodes``, default names such as ``conv_lst_m2d_3``, and
the layers listed in a shuffled topological order) and its weights under
``model_weights/<layer>/<layer>/<var>:0``. After conversion, our P(fake) must equal the original's
probability of its class 0 (the authors used real = 1).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from clrnet.convert_official import ConversionError, convert_checkpoint, main
from clrnet.models import build_clrnet, fake_probability, registry_name

REPO = Path(__file__).resolve().parents[1]
TINY = {"input_shape": (3, 32, 32, 3), "repetitions": [1, 2, 1, 1], "initial_filters": 4}

_DEFAULT_NAMES = {
    "ConvLSTM2D": "conv_lst_m2d",
    "BatchNormalization": "batch_normalization",
    "Activation": "activation",
    "Dropout": "dropout",
    "Add": "add",
    "MaxPooling3D": "max_pooling3d",
    "GlobalAveragePooling3D": "global_average_pooling3d",
    "Dense": "dense",
    "InputLayer": "input",
}


def _official_like(seed: int = 0, **overrides) -> keras.Model:
    """A tiny CLRNet with non-trivial BN statistics and head, as a stand-in official model."""
    model = build_clrnet(**{**TINY, **overrides})
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, c),
                    rng.normal(0, 0.2, c),
                    rng.normal(0, 0.2, c),
                    rng.uniform(0.5, 2.0, c),
                ]
            )
        if isinstance(layer, keras.layers.Dense):
            layer.set_weights([rng.normal(0, 1, layer.kernel.shape), rng.normal(0, 1, 2)])
    return model


def _legacy_layer_config(layer: keras.layers.Layer, name: str, inbound: list[str]) -> dict:
    """Layer config in the tf.keras 2.x form (what ``model.save`` wrote into model_config)."""
    kind = type(layer).__name__
    if kind == "InputLayer":
        cfg = {"batch_input_shape": [None, *layer.output.shape[1:]], "dtype": "float32",
               "sparse": False, "ragged": False, "name": name}  # fmt: skip
    else:
        cfg = {"name": name, "trainable": True, "dtype": "float32"}
    if kind == "ConvLSTM2D":
        cfg.update(
            filters=layer.filters, kernel_size=list(layer.kernel_size), strides=list(layer.strides),
            padding=layer.padding, data_format="channels_last", dilation_rate=[1, 1],
            activation="tanh", recurrent_activation="hard_sigmoid", use_bias=True,
            kernel_initializer={"class_name": "HeNormal", "config": {"seed": None}},
            kernel_regularizer={"class_name": "L2", "config": {"l2": 1e-4}},
            unit_forget_bias=True, return_sequences=True, return_state=False,
            go_backwards=False, stateful=False, unroll=False, time_major=False,
            dropout=0.0, recurrent_dropout=0.0,
        )  # fmt: skip
    elif kind == "BatchNormalization":
        cfg.update(axis=[4], momentum=0.99, epsilon=0.001, center=True, scale=True)
    elif kind == "Activation":
        cfg.update(activation="relu")
    elif kind == "Dropout":
        cfg.update(rate=layer.rate, noise_shape=None, seed=None)
    elif kind == "MaxPooling3D":
        cfg.update(pool_size=[1, 3, 3], padding="same", strides=[1, 3, 3])
    elif kind == "Dense":
        cfg.update(units=layer.units, activation="softmax", use_bias=True)
    return {
        "class_name": kind,
        "config": cfg,
        "name": name,
        "inbound_nodes": [[[src, 0, 0, {}] for src in inbound]] if inbound else [],
    }


def _inbound_of(layer: keras.layers.Layer) -> list[str]:
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def write_legacy_checkpoint(
    model: keras.Model, path: Path, seed: int = 0, chunked: bool = False
) -> None:
    """Dump ``model`` as a tf.keras 2.x full-model HDF5 checkpoint with default layer names.

    ``chunked`` splits ``layer_names`` into ``layer_names0``, ``layer_names1`` as Keras does for
    attributes over the HDF5 header limit.
    """
    counters: dict[str, int] = {}
    rename = {}
    for layer in model.layers:  # tf.keras default names: conv_lst_m2d, conv_lst_m2d_1, ...
        base = _DEFAULT_NAMES[type(layer).__name__]
        k = counters.get(base, 0)
        counters[base] = k + 1
        rename[layer.name] = base if k == 0 else f"{base}_{k}"
    # a shuffled, still topological, layer list
    rng = random.Random(seed)
    done: set[str] = set()
    ordered = []
    pending = list(model.layers)
    while pending:
        ready = [lay for lay in pending if set(_inbound_of(lay) if lay._inbound_nodes and
                 not isinstance(lay, keras.layers.InputLayer) else []) <= done]  # fmt: skip
        pick = rng.choice(ready)
        pending.remove(pick)
        done.add(pick.name)
        ordered.append(pick)
    layers_cfg = []
    for layer in ordered:
        inbound = [] if isinstance(layer, keras.layers.InputLayer) else _inbound_of(layer)
        layers_cfg.append(_legacy_layer_config(layer, rename[layer.name],
                                               [rename[n] for n in inbound]))  # fmt: skip
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": layers_cfg,
            "input_layers": [[rename[model.layers[0].name], 0, 0]],
            "output_layers": [[rename[model.layers[-1].name], 0, 0]],
        },
    }
    var_names = {
        keras.layers.ConvLSTM2D: ["kernel", "recurrent_kernel", "bias"],
        keras.layers.BatchNormalization: ["gamma", "beta", "moving_mean", "moving_variance"],
        keras.layers.Dense: ["kernel", "bias"],
    }
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf-8")
        group = f.create_group("model_weights")
        names = [rename[layer.name].encode() for layer in ordered]
        if chunked:
            group.attrs["layer_names0"] = names[: len(names) // 2]
            group.attrs["layer_names1"] = names[len(names) // 2 :]
        else:
            group.attrs["layer_names"] = names
        for layer in ordered:
            lname = rename[layer.name]
            g = group.create_group(lname)
            names = var_names.get(type(layer), [])
            g.attrs["weight_names"] = [f"{lname}/{v}:0".encode() for v in names]
            for v, w in zip(names, layer.get_weights(), strict=True):
                g.create_dataset(f"{lname}/{v}:0", data=w)


def _clip(n: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *TINY["input_shape"]), dtype=np.float32)


def test_converted_model_reproduces_original_class0(tmp_path):
    original = _official_like(seed=0)
    src = tmp_path / "103-1.00.hdf5"
    write_legacy_checkpoint(original, src, seed=5)
    out = tmp_path / "converted.keras"
    model = convert_checkpoint(src, out)
    x = _clip()
    p_original_class0 = keras.ops.convert_to_numpy(original(x, training=False))[:, 0]
    np.testing.assert_allclose(fake_probability(model, x), p_original_class0, atol=1e-5)
    assert model.count_params() == original.count_params()
    # the written file reloads with plain load_model and gives the same P(fake)
    assert out.is_file() and not list(tmp_path.glob("*.tmp.keras"))
    again = keras.models.load_model(out)
    np.testing.assert_allclose(fake_probability(again, x), p_original_class0, atol=1e-5)
    assert again.name == "clrnet_official" and registry_name(again) == "clrnet"


def test_hyperparameters_are_inferred(tmp_path):
    original = _official_like(seed=2, block="basic", repetitions=[2, 1, 1, 2], dropout=0.5,
                              initial_filters=3)  # fmt: skip
    src = tmp_path / "basic.h5"
    write_legacy_checkpoint(original, src, seed=9, chunked=True)
    model = convert_checkpoint(src)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ConvLSTM2D)]
    assert len(convs) == len([la for la in original.layers if isinstance(la, type(convs[0]))])
    assert {d.rate for d in model.layers if isinstance(d, keras.layers.Dropout)} == {0.5}
    assert model.get_layer("stem_conv").filters == 3
    x = _clip(2)
    np.testing.assert_allclose(
        fake_probability(model, x),
        keras.ops.convert_to_numpy(original(x, training=False))[:, 0],
        atol=1e-5,
    )


def test_not_a_checkpoint_errors(tmp_path):
    text = tmp_path / "notes.hdf5"
    text.write_text("hello\n")
    with pytest.raises(ConversionError, match="not an HDF5 file"):
        convert_checkpoint(text)
    with pytest.raises(ConversionError, match="no 'model_config'"):
        convert_checkpoint(REPO / "clrnet" / "weights" / "Meso4_DF.h5")
    with pytest.raises(ConversionError, match="not found"):
        convert_checkpoint(tmp_path / "missing.hdf5")


def test_other_architecture_and_bad_shapes_are_refused(tmp_path):
    inp = keras.Input((8, 8, 3))
    other = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inp))))  # fmt: skip
    src = tmp_path / "other.h5"
    layers_cfg = []
    prev = None
    for layer in other.layers:
        layers_cfg.append({"class_name": type(layer).__name__, "name": layer.name,
                           "config": {"name": layer.name},
                           "inbound_nodes": [[[prev, 0, 0, {}]]] if prev else []})  # fmt: skip
        prev = layer.name
    with h5py.File(src, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional",
                                              "config": {"layers": layers_cfg}})  # fmt: skip
        f.create_group("model_weights").attrs["layer_names"] = []
    with pytest.raises(ConversionError, match="not a CLRNet checkpoint: it has a Conv2D"):
        convert_checkpoint(src)
    # right architecture, one tampered weight shape
    good = tmp_path / "good.h5"
    write_legacy_checkpoint(_official_like(), good)
    with h5py.File(good, "a") as f:
        del f["model_weights/dense/dense/kernel:0"]
        f["model_weights/dense/dense"].create_dataset("kernel:0", data=np.zeros((5, 2)))
    with pytest.raises(ConversionError, match=r"layer 'dense' has weight shapes \[\(5, 2\)"):
        convert_checkpoint(good)
    # right weights, but a pooling stride the weights cannot reveal
    other_pool = tmp_path / "pool.h5"
    write_legacy_checkpoint(_official_like(), other_pool)
    with h5py.File(other_pool, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "MaxPooling3D":
                layer["config"]["strides"] = [1, 2, 2]
        f.attrs["model_config"] = json.dumps(cfg).encode()
    with pytest.raises(ConversionError, match="MaxPooling3D"):
        convert_checkpoint(other_pool)


def test_cli_success_and_error_exit(tmp_path, capsys):
    src = tmp_path / "ckpt.hdf5"
    write_legacy_checkpoint(_official_like(), src)
    out = tmp_path / "sub" / "model.keras"
    assert main([str(src), str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"\x00" * 16)
    assert main([str(bad), str(tmp_path / "x.keras")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.hdf5" in err[0]
    assert not (tmp_path / "x.keras").exists()
    wrong_suffix = tmp_path / "model.h5"
    assert main([str(src), str(wrong_suffix)]) == 2
    assert "must end in .keras" in capsys.readouterr().err


@pytest.mark.slow
def test_full_depth_official_structure_converts(tmp_path):
    """All 207 layers of the official CLRNet-50 graph (width 4 instead of 64 to stay cheap)."""
    original = _official_like(seed=3, input_shape=(5, 240, 240, 3), repetitions=[3, 4, 6, 3])
    src = tmp_path / "full_depth.hdf5"
    write_legacy_checkpoint(original, src, seed=11)
    model = convert_checkpoint(src)
    assert len(model.layers) == 207
    x = np.random.default_rng(0).random((1, 5, 240, 240, 3), dtype=np.float32)
    np.testing.assert_allclose(
        fake_probability(model, x),
        keras.ops.convert_to_numpy(original(x, training=False))[:, 0],
        atol=1e-5,
    )
