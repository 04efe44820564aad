"""clrnet.convert_official on checkpoints written here in the tf.keras 1.x/2.x HDF5 layouts.

A model built by the package with random weights stands in for each of the authors' models
(CLRNet bottleneck and basic at tiny widths, ShallowNetV3, MesoInception4, Meso4, Xception). It is
dumped as tf.keras would have written it, in both layouts:

* ``weights``: ``model.save_weights`` / ``ModelCheckpoint(save_weights_only=True)``: root
  attributes ``layer_names`` (``model.layers`` order), ``backend``, ``keras_version``; one group
  per layer (created in sorted-name order) with ``weight_names`` and datasets
  ``<layer>/<weight name>``, plus Keras >= 2.11's ``top_level_model_weights`` group;
* ``full``: ``model.save``: the same under ``model_weights`` and a tf.keras 2.x ``model_config``
  (``time_major``, ``batch_input_shape``, list-form ``inbound_nodes``, ``alpha`` for LeakyReLU).

Layer names are tf.keras defaults numbered per type in the order the official builder creates
the layers (written out here from our layer names, independently of the converter), with the
official CLRNet's one custom name ``res0a_branch2a`` and Xception's ``keras.applications`` names.
The stand-in's head uses the authors' labels (real = 1), so after conversion our P(fake) must
equal the stand-in's class-0 output (two-way heads) or 1 - its sigmoid (MesoNet).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from clrnet.convert_official import (
    ConversionError,
    convert_cached,
    convert_checkpoint,
    is_official_checkpoint,
    main,
    read_checkpoint,
)
from clrnet.registry import build_model
from clrnet.scoring import fake_probability

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "clrnet" / "weights"
TINY = {"input_shape": (3, 32, 32, 3), "repetitions": [1, 2, 1, 1], "initial_filters": 4}

_DEFAULT_NAMES = {
    "ConvLSTM2D": "conv_lst_m2d",
    "Conv2D": "conv2d",
    "SeparableConv2D": "separable_conv2d",
    "BatchNormalization": "batch_normalization",
    "Activation": "activation",
    "Dropout": "dropout",
    "Add": "add",
    "MaxPooling3D": "max_pooling3d",
    "MaxPooling2D": "max_pooling2d",
    "GlobalAveragePooling3D": "global_average_pooling3d",
    "GlobalAveragePooling2D": "global_average_pooling2d",
    "Dense": "dense",
    "Concatenate": "concatenate",
    "LeakyReLU": "leaky_re_lu",
    "Flatten": "flatten",
    "InputLayer": "input",
}
_ROLES = {"a": 0, "b": 1, "c": 2, "shortcut": 3}


def _tf_kind(layer: keras.layers.Layer) -> str:
    kind = type(layer).__name__
    return "ConvLSTM2D" if isinstance(layer, keras.layers.ConvLSTM2D) else kind


def _creation_key(arch: str, layer: keras.layers.Layer, index: int):
    """Position of a layer in the official builder's creation order (from our layer names)."""
    name = layer.name
    if arch == "clrnet":  # stem, then per block a, b, c, shortcut (BN before its conv), head
        m = re.fullmatch(r"stage(\d+)_block(\d+)_(a|b|c|shortcut)_\w+", name)
        if m:
            return (1, int(m.group(1)), int(m.group(2)), _ROLES[m.group(3)])
        return (0,) if name.startswith("stem") else (2,)
    if arch in ("mesoinception4", "meso4"):  # Inception branches one after the other
        order = ["inc1", "bn1", "inc2", "bn2", "conv1", "bn1", "conv2", "bn2", "conv3", "bn3",
                 "conv4", "bn4", "dense1", "dense2"]
        branch = {"a": 0, "b1": 1, "b3": 2, "c1": 3, "c3": 4, "d1": 5, "d3": 6}
        prefix, _, rest = name.partition("_")
        if prefix in ("inc1", "inc2") and rest in branch:
            return (order.index(prefix), branch[rest])
        return (order.index(name), 0) if name in order else (99, index)
    if arch == "xception":  # unnamed residual convs / BNs: Keras 3 numbers them in creation order
        m = re.fullmatch(r"(?:conv2d|batch_normalization)(?:_(\d+))?", name)
        return (int(m.group(1) or 0) if m else -1, index)
    return (index,)  # ShallowNetV3: a chain


def tf_keras_names(model: keras.Model, arch: str, offset: int = 0) -> dict[str, str]:
    """Our layer names -> the names tf.keras would have given the authors' layers.

    Args:
        model: our model.
        arch: architecture (for the creation order).
        offset: first number of each default name (a session that built other models before).
    """
    layers = list(model.layers)
    ordered = sorted(range(len(layers)), key=lambda i: _creation_key(arch, layers[i], i))
    counters: dict[str, int] = {}
    rename = {}
    for i in ordered:
        layer = layers[i]
        if arch == "xception" and not re.fullmatch(r"(conv2d|batch_normalization)(_\d+)?",
                                                   layer.name):
            rename[layer.name] = layer.name  # keras.applications names
            continue
        if arch == "clrnet" and layer.name == "stage0_block0_a_conv":
            rename[layer.name] = "res0a_branch2a"  # the official file's only custom name
            continue
        base = _DEFAULT_NAMES[_tf_kind(layer)]
        k = counters.get(base, offset)
        counters[base] = k + 1
        rename[layer.name] = f"{base}_{k}" if k or base == "input" else base
    return rename


def _inbound_of(layer: keras.layers.Layer) -> list[str]:
    if isinstance(layer, keras.layers.InputLayer):
        return []
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def _legacy_layer_config(layer: keras.layers.Layer, name: str, inbound: list[str]) -> dict:
    """Layer config in the tf.keras 2.x form (what ``model.save`` wrote into model_config)."""
    kind = _tf_kind(layer)
    if kind == "InputLayer":
        cfg = {"batch_input_shape": [None, *layer.output.shape[1:]], "dtype": "float32",
               "sparse": False, "ragged": False, "name": name}  # fmt: skip
    else:
        cfg = dict(layer.get_config())
        cfg.update(name=name, dtype="float32")
    if kind == "ConvLSTM2D":
        cfg.update(activation="tanh", recurrent_activation="hard_sigmoid", time_major=False,
                   unit_forget_bias=True)  # fmt: skip
    if kind == "LeakyReLU":
        cfg["alpha"] = cfg.pop("negative_slope")
    return {
        "class_name": kind,
        "config": cfg,
        "name": name,
        "inbound_nodes": [[[src, 0, 0, {}] for src in inbound]] if inbound else [],
    }


def write_tf_keras_h5(
    model: keras.Model,
    path: Path,
    arch: str,
    layout: str = "weights",
    tf_version: str = "2.4.0",
    chunked: bool = False,
    offset: int = 0,
) -> dict[str, str]:
    """Dump ``model`` as a tf.keras HDF5 file of one layout; returns the name mapping.

    Args:
        model: the stand-in (our model, authors' label order).
        path: output file.
        arch: architecture, for the authors' creation order of layers.
        layout: ``"weights"`` (save_weights) or ``"full"`` (model.save).
        tf_version: ``keras_version`` written; from ``"2.2"`` on, recurrent weights are named
            ``<layer>/<cell>/<var>:0`` as TF >= 2.2 does, before that ``<layer>/<var>:0``.
        chunked: split ``layer_names`` into ``layer_names0``, ``layer_names1`` (as Keras does
            past the HDF5 header limit).
        offset: first number of default names.
    """
    rename = tf_keras_names(model, arch, offset)
    cell_names = tuple(int(p) for p in tf_version.split(".")[:2]) >= (2, 2)
    with h5py.File(path, "w") as f:
        if layout == "full":
            layers_cfg = [
                _legacy_layer_config(la, rename[la.name], [rename[n] for n in _inbound_of(la)])
                for la in model.layers
            ]
            config = {"class_name": "Functional", "config": {
                "name": "model", "layers": layers_cfg,
                "input_layers": [[rename[model.layers[0].name], 0, 0]],
                "output_layers": [[rename[model.layers[-1].name], 0, 0]]}}  # fmt: skip
            f.attrs["model_config"] = json.dumps(config, default=str).encode("utf-8")
            f.attrs["keras_version"] = tf_version.encode()
            f.attrs["backend"] = b"tensorflow"
            group = f.create_group("model_weights")
        else:
            group = f
        group.attrs["keras_version"] = tf_version.encode()
        group.attrs["backend"] = b"tensorflow"
        names = [rename[la.name].encode() for la in model.layers]
        if chunked:
            group.attrs["layer_names0"] = names[: len(names) // 2]
            group.attrs["layer_names1"] = names[len(names) // 2 :]
        else:
            group.attrs["layer_names"] = names
        for layer in sorted(model.layers, key=lambda la: rename[la.name]):
            lname = rename[layer.name]
            g = group.create_group(lname)
            prefix = lname
            if cell_names and isinstance(layer, keras.layers.ConvLSTM2D):
                prefix = f"{lname}/{lname.replace('conv_lst_m2d', 'conv_lst_m2d_cell')}"
            wnames = [f"{prefix}/{w.name}:0" for w in layer.weights]
            g.attrs["weight_names"] = [w.encode() for w in wnames]
            for wname, value in zip(wnames, layer.get_weights(), strict=True):
                g.create_dataset(wname, data=value)
        g = group.create_group("top_level_model_weights")
        g.attrs["weight_names"] = np.array([], dtype="S1")
    return rename


def _randomise(model: keras.Model, seed: int = 0) -> keras.Model:
    """Non-trivial BN statistics, and a head whose outputs spread over (0, 1) on test inputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])  # fmt: skip
    dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)][-1]
    feats = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], dense.input)(_inputs(model)))
    centred = feats - feats.mean(0)
    kernel = np.zeros(dense.kernel.shape, np.float32)
    bias = np.zeros(dense.bias.shape, np.float32)
    for j in range(kernel.shape[1]):  # each unit: its own random direction, logits of std ~2
        direction = rng.normal(size=feats.shape[1]) / (centred.std(0) + 1e-6)
        z = centred @ direction
        kernel[:, j] = 2.0 * direction / (z.std() + 1e-12)
        bias[j] = -2.0 * float(feats.mean(0) @ direction) / (z.std() + 1e-12) + rng.normal(0, .3)
    dense.set_weights([kernel, bias])
    return model


def _official_like(seed: int = 0, **overrides) -> keras.Model:
    """A tiny CLRNet with non-trivial BN statistics and head, as a stand-in official model."""
    return _randomise(build_model("clrnet", **{**TINY, **overrides}), seed)


STAND_INS = {
    "clrnet": lambda: _official_like(0),
    "clrnet_basic": lambda: _official_like(2, block="basic", repetitions=[2, 1, 1, 2],
                                           dropout=0.5, initial_filters=3),
    "shallownet_v3": lambda: _randomise(build_model("shallownet_v3", dense_units=16), 3),
    "mesoinception4": lambda: _randomise(build_model("mesoinception4"), 4),
    "meso4": lambda: _randomise(build_model("meso4"), 5),
    "xception": lambda: _randomise(build_model("xception", input_shape=(71, 71, 3)), 6),
}


def _arch(key: str) -> str:
    return "clrnet" if key.startswith("clrnet") else key


def _inputs(model: keras.Model, n: int = 3, seed: int = 1) -> np.ndarray:
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def expected_p_fake(source: keras.Model, x: np.ndarray) -> np.ndarray:
    """The authors' P(fake): class 0 of a two-way head, 1 - P(real) of one sigmoid."""
    out = keras.ops.convert_to_numpy(source(x, training=False))
    return out[:, 0] if out.shape[1] == 2 else 1.0 - out[:, 0]


@pytest.fixture(scope="module")
def stand_ins():
    cache: dict[str, keras.Model] = {}

    def get(key: str) -> keras.Model:
        if key not in cache:
            keras.utils.set_random_seed(7)
            cache[key] = STAND_INS[key]()
        return cache[key]

    return get


@pytest.mark.parametrize("layout", ["weights", "full"])
@pytest.mark.parametrize("key", list(STAND_INS))
def test_every_architecture_converts_in_both_layouts(key, layout, stand_ins, tmp_path, capsys):
    source = stand_ins(key)
    arch = _arch(key)
    src = tmp_path / f"{key}_Ebest.h5"
    write_tf_keras_h5(source, src, arch, layout, tf_version="2.4.0" if layout == "full" else "2.2.4")
    out = tmp_path / "converted.keras"
    # one command, no architecture flag; a weights-only file leaves CLRNet's and Xception's
    # input size free (default 5 x 240 x 240), so the stand-in's size is given
    size = {}
    if layout == "weights" and arch in ("clrnet", "xception"):
        shape = tuple(source.inputs[0].shape[1:])
        size = {"image_size": shape[-2], "clip_len": shape[0] if arch == "clrnet" else None}
    flags = [f for k, v in size.items() if v for f in (f"--{k.replace('_', '-')}", str(v))]
    assert main([str(src), str(out), *flags]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and f"{arch}_official" in printed
    x = _inputs(source)
    want = expected_p_fake(source, x)
    assert want.std() > 0.05  # a head that says something
    again = keras.models.load_model(out)
    got = fake_probability(again, x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert again.count_params() == source.count_params()
    assert tuple(again.inputs[0].shape) == tuple(source.inputs[0].shape)
    assert again.name == f"{arch}_official"
    assert src.name in getattr(again, "trained_on", src.name)


def test_clrnet_weights_only_variants(stand_ins, tmp_path):
    """TF 2.1 weight names, chunked layer_names, numbering that does not start at 0."""
    source = stand_ins("clrnet")
    src = tmp_path / "CLR_DF_E50.h5"
    rename = write_tf_keras_h5(source, src, "clrnet", "weights", tf_version="2.1.0",
                               chunked=True, offset=53)  # fmt: skip
    assert rename["stem_conv"] == "conv_lst_m2d_53" and "res0a_branch2a" in rename.values()
    with h5py.File(src) as f:
        assert "layer_names" not in f.attrs and "conv_lst_m2d_53/kernel:0" in f["conv_lst_m2d_53"]
    model = convert_checkpoint(src, image_size=32, clip_len=3)
    x = _inputs(source, 2)
    np.testing.assert_allclose(fake_probability(model, x), expected_p_fake(source, x), atol=1e-5)
    # hyper-parameters came from the weights
    assert model.get_layer("stem_conv").filters == TINY["initial_filters"]
    assert {d.rate for d in model.layers if isinstance(d, keras.layers.Dropout)} == {0.25}


def test_clrnet_weights_only_input_size_is_free(stand_ins, tmp_path, capsys):
    source = stand_ins("clrnet_basic")
    src = tmp_path / "basic.h5"
    write_tf_keras_h5(source, src, "clrnet", "weights")
    default = convert_checkpoint(src)
    assert tuple(default.inputs[0].shape) == (None, 5, 240, 240, 3)
    out = tmp_path / "at32.keras"
    assert main([str(src), str(out), "--image-size", "32", "--clip-len", "3"]) == 0
    model = keras.models.load_model(out)
    assert tuple(model.inputs[0].shape) == (None, 3, 32, 32, 3)
    convs = [la for la in model.layers if isinstance(la, keras.layers.ConvLSTM2D)]
    assert len(convs) == len([la for la in source.layers if isinstance(la, keras.layers.ConvLSTM2D)])
    assert model.get_layer("stem_conv").filters == 3
    x = _inputs(source, 2)
    np.testing.assert_allclose(fake_probability(model, x), expected_p_fake(source, x), atol=1e-5)
    capsys.readouterr()


def test_frame_model_input_size_follows_the_dense_kernel(stand_ins, tmp_path, capsys):
    source = stand_ins("shallownet_v3")
    src = tmp_path / "SNV3_DF_Ebest.h5"
    write_tf_keras_h5(source, src, "shallownet_v3", "weights")
    model = convert_checkpoint(src)
    assert tuple(model.inputs[0].shape) == (None, 128, 128, 3)
    assert model.get_layer("dense1").units == 16
    assert main([str(src), str(tmp_path / "x.keras"), "--image-size", "200"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit the checkpoint" in err[0] and "128x128" in err[0]


@pytest.mark.parametrize("name", ["mesoinception4_df", "meso4_f2f"])
def test_mesonet_authors_weights_convert_like_the_packaged_loader(name, tmp_path):
    """A real Keras 2.1.5 weights-only file: the converter agrees with the registry's loader."""
    from clrnet.registry import load_pretrained

    fname = {"mesoinception4_df": "MesoInception_DF.h5", "meso4_f2f": "Meso4_F2F.h5"}[name]
    src = WEIGHTS / fname
    assert is_official_checkpoint(src)
    model = convert_checkpoint(src)
    assert model.name == f"{name.split('_')[0]}_official"
    x = np.random.default_rng(0).random((4, 256, 256, 3), dtype=np.float32)
    np.testing.assert_allclose(fake_probability(model, x),
                               fake_probability(load_pretrained(name), x), atol=1e-6)


def test_not_a_checkpoint_errors(tmp_path):
    text = tmp_path / "notes.hdf5"
    text.write_text("hello\n")
    with pytest.raises(ConversionError, match="not an HDF5 file"):
        convert_checkpoint(text)
    with pytest.raises(ConversionError, match="not found"):
        convert_checkpoint(tmp_path / "missing.hdf5")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ConversionError, match="not a Keras weights file"):
        convert_checkpoint(empty)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and not captured.out
    return err[0]


def test_other_architecture_is_refused(tmp_path, capsys):
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="c")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    other = keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="d")(
        keras.layers.Flatten(name="f")(x)))  # fmt: skip
    for layout in ("weights", "full"):
        src = tmp_path / f"other_{layout}.h5"
        write_tf_keras_h5(other, src, "shallownet_v3", layout)
        line = _one_line_error(capsys, [str(src), str(tmp_path / "o.keras")])
        assert "not a checkpoint of CLRNet, ShallowNetV3" in line
        assert "1 BatchNormalization, 1 Conv2D, 1 Dense" in line and src.name in line
        assert not is_official_checkpoint(src)
    # a CLRNet whose graph has a layer CLRNet cannot have
    src = tmp_path / "clr_other.h5"
    write_tf_keras_h5(_official_like(), src, "clrnet", "full")
    with h5py.File(src, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Activation":
                layer["class_name"] = "ELU"
                break
        f.attrs["model_config"] = json.dumps(cfg).encode()
    assert "not a CLRNet checkpoint: it has a ELU" in _one_line_error(
        capsys, [str(src), str(tmp_path / "o.keras")])


@pytest.mark.parametrize("layout", ["weights", "full"])
def test_truncated_file_is_refused(layout, tmp_path, capsys):
    src = tmp_path / "CLR_FS_Ebest.h5"
    write_tf_keras_h5(_official_like(), src, "clrnet", layout)
    data = src.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    line = _one_line_error(capsys, [str(cut), str(tmp_path / "o.keras")])
    assert "truncated or damaged" in line and "cut.h5" in line
    assert not (tmp_path / "o.keras").exists()
    assert not is_official_checkpoint(cut)


@pytest.mark.parametrize("layout", ["weights", "full"])
def test_one_changed_weight_shape_is_refused(layout, tmp_path, capsys):
    src = tmp_path / "good.h5"
    rename = write_tf_keras_h5(_official_like(), src, "clrnet", layout)
    lname = rename["stage1_block0_b_conv"]  # a 3x3 ConvLSTM in the middle of the network
    with h5py.File(src, "a") as f:
        g = f[lname] if layout == "weights" else f["model_weights"][lname]
        wname = next(w for w in map(_text, g.attrs["weight_names"]) if "recurrent" in w)
        shape = g[wname].shape
        del g[wname]
        g.create_dataset(wname, data=np.zeros((*shape[:2], shape[2] + 1, shape[3]), np.float32))
    line = _one_line_error(capsys, [str(src), str(tmp_path / "o.keras")])
    assert f"layer {lname!r} has weight shapes" in line and "expects" in line
    # ShallowNetV3: a Dense kernel whose rows are no square map
    src = tmp_path / "snv3.h5"
    rename = write_tf_keras_h5(_randomise(build_model("shallownet_v3", dense_units=8)), src,
                               "shallownet_v3", layout)  # fmt: skip
    with h5py.File(src, "a") as f:
        g = f[rename["dense1"]] if layout == "weights" else f["model_weights"][rename["dense1"]]
        wname = next(w for w in map(_text, g.attrs["weight_names"]) if "kernel" in w)
        del g[wname]
        g.create_dataset(wname, data=np.zeros((25000, 8), np.float32))
    line = _one_line_error(capsys, [str(src), str(tmp_path / "o.keras")])
    assert "25000" in line


def test_full_model_setting_the_weights_cannot_reveal_is_checked(tmp_path):
    src = tmp_path / "pool.h5"
    write_tf_keras_h5(_official_like(), src, "clrnet", "full")
    with h5py.File(src, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "MaxPooling3D":
                layer["config"]["strides"] = [1, 2, 2]
        f.attrs["model_config"] = json.dumps(cfg).encode()
    with pytest.raises(ConversionError, match="MaxPooling3D"):
        convert_checkpoint(src)
    src = tmp_path / "meso.h5"
    write_tf_keras_h5(_randomise(build_model("mesoinception4")), src, "mesoinception4", "full")
    with h5py.File(src, "a") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Conv2D" and layer["config"]["dilation_rate"] == [3, 3]:
                layer["config"]["dilation_rate"] = [2, 2]
        f.attrs["model_config"] = json.dumps(cfg).encode()
    with pytest.raises(ConversionError, match="dilation_rate"):
        convert_checkpoint(src)


def test_cli_output_suffix_and_not_hdf5(tmp_path, capsys):
    src = tmp_path / "ckpt.hdf5"
    write_tf_keras_h5(_official_like(), src, "clrnet", "full")
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"\x00" * 16)
    line = _one_line_error(capsys, [str(bad), str(tmp_path / "x.keras")])
    assert "bad.hdf5" in line and "not an HDF5 file" in line
    assert not (tmp_path / "x.keras").exists()
    assert "must end in .keras" in _one_line_error(capsys, [str(src), str(tmp_path / "m.h5")])
    assert "positive" in _one_line_error(
        capsys, [str(src), str(tmp_path / "m.keras"), "--image-size", "0"])


def test_is_official_checkpoint_sniffs_without_reading_weights(tmp_path):
    model = _official_like()
    src = tmp_path / "CLR_DF_Ebest.h5"
    write_tf_keras_h5(model, src, "clrnet", "weights")
    full = tmp_path / "103-1.00.hdf5"
    write_tf_keras_h5(model, full, "clrnet", "full")
    assert is_official_checkpoint(src) and is_official_checkpoint(full)
    assert read_checkpoint(src, load_values=False).layers[0].values is None
    keras_file = tmp_path / "model.keras"
    model.save(keras_file)
    assert zipfile.is_zipfile(keras_file) and not is_official_checkpoint(keras_file)
    text = tmp_path / "a.h5"
    text.write_text("not hdf5")
    assert not is_official_checkpoint(text)
    assert not is_official_checkpoint(tmp_path / "missing.h5")
    assert not is_official_checkpoint(tmp_path)


def test_convert_cached_converts_once_per_file_content(tmp_path, monkeypatch):
    import clrnet.convert_official as co

    source = _randomise(build_model("meso4"), 1)
    src = tmp_path / "M4_DF_Ebest.h5"
    write_tf_keras_h5(source, src, "meso4", "weights")
    cache = tmp_path / "cache"
    first = convert_cached(src, cache)
    assert first.is_file() and first.parent == cache and first.suffix == ".keras"
    x = _inputs(source, 2)
    np.testing.assert_allclose(fake_probability(keras.models.load_model(first), x),
                               expected_p_fake(source, x), atol=1e-5)
    stamp = first.stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(co, "convert_checkpoint", lambda *a, **k: calls.append(a))
    assert convert_cached(src, cache) == first  # reused, not converted again
    assert calls == [] and first.stat().st_mtime_ns == stamp
    copy = tmp_path / "copy" / "renamed.h5"
    copy.parent.mkdir()
    shutil.copy(src, copy)
    key = first.name.split("-")[1]
    convert_cached(copy, cache)  # same bytes: same content key
    assert calls and calls[-1][1].name.split("-")[1] == key
    calls.clear()
    convert_cached(src, cache, image_size=256)  # another option: another entry
    assert calls and calls[-1][1] != first
    monkeypatch.undo()
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]
    # a changed file converts again
    write_tf_keras_h5(_randomise(build_model("meso4"), 9), src, "meso4", "weights")
    second = convert_cached(src, cache)
    assert second != first and second.is_file()
    assert not np.allclose(fake_probability(keras.models.load_model(second), x),
                           expected_p_fake(source, x), atol=1e-3)
    with pytest.raises(ConversionError, match="not found"):
        convert_cached(tmp_path / "nope.h5", cache)


def test_default_cache_dir_follows_environment(tmp_path, monkeypatch):
    from clrnet.convert_official import default_cache_dir

    monkeypatch.setenv("DEEPFAKE_REPRO_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "converted"
    monkeypatch.delenv("DEEPFAKE_REPRO_CACHE")
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "deepfake-repro" / \
        "converted"


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["weights", "full"])
def test_full_depth_official_structure_converts(layout, tmp_path):
    """All 207 layers of the official CLRNet-50 graph (width 4 instead of 64 to stay cheap)."""
    original = _official_like(seed=3, input_shape=(5, 240, 240, 3), repetitions=[3, 4, 6, 3])
    src = tmp_path / "full_depth.hdf5"
    write_tf_keras_h5(original, src, "clrnet", layout)
    model = convert_checkpoint(src)
    assert len(model.layers) == 207
    x = np.random.default_rng(0).random((1, 5, 240, 240, 3), dtype=np.float32)
    np.testing.assert_allclose(fake_probability(model, x), expected_p_fake(original, x),
                               atol=1e-5)


def _tf_keras_clrnet(k, input_shape=(3, 32, 32, 3), reps=(1, 2, 1, 1), f0=4):
    """A tiny CLRNet written with genuine tf.keras 2 layers, default names as the official file."""
    layers = k.layers

    def conv(x, f, size, stride, padding="same", name=None):
        return layers.ConvLSTM2D(f, (size, size), strides=(stride, stride), padding=padding,
                                 return_sequences=True, name=name)(x)  # fmt: skip

    def bn_relu(x):
        return layers.Activation("relu")(layers.BatchNormalization(axis=4)(x))

    inp = layers.Input(input_shape)
    x = layers.MaxPooling3D((1, 3, 3), padding="same")(bn_relu(conv(inp, f0, 7, 2)))
    f = f0
    for stage, blocks in enumerate(reps):
        for i in range(blocks):
            stride = 2 if i == 0 else 1
            y = (conv(x, f, 3, stride, name="res0a_branch2a") if stage == 0 and i == 0
                 else conv(bn_relu(x), f, 1, stride))  # fmt: skip
            y = conv(bn_relu(layers.Dropout(0.25)(y)), f, 3, 1)
            y = conv(bn_relu(layers.Dropout(0.25)(y)), 4 * f, 1, 1)
            shortcut = x
            if i == 0:  # the official projection: stride round(in / out)
                stride = round(x.shape[2] / y.shape[2])
                shortcut = layers.BatchNormalization(axis=4)(conv(x, 4 * f, 1, stride, "valid"))
            x = layers.add([shortcut, y])
        f *= 2
    x = layers.Dropout(0.25)(layers.GlobalAveragePooling3D()(layers.BatchNormalization(axis=4)(x)))
    return k.Model(inp, layers.Dense(2, activation="softmax")(x))


def test_genuine_tf_keras_files_convert(tmp_path):
    """Files written by tf.keras 2 itself (tf_keras 2.21, optional): both layouts, three models."""
    k = pytest.importorskip("tf_keras")
    rng = np.random.default_rng(0)
    cases = {
        "clrnet": (lambda: _tf_keras_clrnet(k), (3, 32, 32, 3)),
        "xception": (lambda: k.applications.Xception(weights=None, input_shape=(71, 71, 3),
                                                     classes=2), (71, 71, 3)),  # fmt: skip
    }
    for arch, (make, shape) in cases.items():
        theirs = make()
        for layer in theirs.layers:
            if isinstance(layer, k.layers.BatchNormalization):
                c = layer.gamma.shape[0]
                layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                                   rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])  # fmt: skip
        x = rng.random((3, *shape), dtype=np.float32)
        want = theirs(x, training=False).numpy()[:, 0]  # their class 0 = fake
        size = {"image_size": shape[-2]} | ({"clip_len": shape[0]} if arch == "clrnet" else {})
        for layout in ("weights", "full"):
            src = tmp_path / f"{arch}_{layout}.h5"
            theirs.save_weights(str(src)) if layout == "weights" else theirs.save(str(src))
            assert is_official_checkpoint(src)
            model = convert_checkpoint(src, **(size if layout == "weights" else {}))
            assert model.name == f"{arch}_official"
            np.testing.assert_allclose(fake_probability(model, x), want, atol=1e-5)
