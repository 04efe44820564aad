"""Export a model of this package for deployment: a SavedModel or a TFLite file serving P(fake).

``python -m clrnet.export MODEL.keras OUT --format savedmodel|tflite``

The exported artefact has one serving signature, ``serving_default``:

* input ``clips`` (B, T, H, W, 3) float32 RGB in [0, 1] for clip models (CLRNet: T = 5), or
  ``frames`` (B, H, W, 3) for frame models (MesoNet, Xception, ShallowNetV3); B is free;
* output ``p_fake`` (B,) float32: column 1 of a two-way head, or the single sigmoid (fake = 1,
  as everywhere in the package).

It runs without this package (plain TensorFlow, or any TFLite runtime). Two rewrites, neither of
which changes what the model computes, make the graph loop-free and TFLite-builtin only:

* ConvLSTM layers run through the fused ConvLSTM (:func:`clrnet.inference.fuse_convlstm`): the
  time loop is unrolled at trace time (T is static), so the graph holds no ``While`` /
  ``StatelessWhile`` op (plain Keras ``ConvLSTM2D`` exports a ``While`` loop);
* a ``MaxPooling3D`` whose window and stride are 1 along time (CLRNet's stem pool, (1, 3, 3))
  runs as a 2-D pool over the B*T frames (:class:`FrameMaxPooling3D`): TFLite has no builtin 3-D
  max pool, and ``MaxPool3D`` would otherwise need the Flex (select TF ops) runtime.

So the TFLite file needs no Flex / select-TF op (``--allow-select-tf-ops`` exists for models
that would).

After writing, the command reloads the artefact (``tf.saved_model.load`` /
``tf.lite.Interpreter``), runs it and the Keras model on the same random inputs, prints the
largest |ΔP(fake)| and fails (exit 1) above :data:`TOLERANCE` (1e-4, float32). Exit 2: a missing
or unreadable model file, an unknown format, a bad option or output path.

ONNX is not offered. The route from TensorFlow to ONNX is ``tf2onnx``; its latest release on
PyPI, 1.17.0 (checked with ``pip download --no-deps tf2onnx``), states in its README that its CI
tests TensorFlow 2.13-2.15 only and that the project is looking for a new maintainer, and its
issues on TensorFlow >= 2.16 / Keras 3 (onnx/tensorflow-onnx #2329 "Tensorflow 2.16 / Keras 3
support", #2348 "from_keras does not work anymore with tensorflow >= 2.16") are open. Keras 3.15's
own ``export(format="onnx")`` goes through the same tf2onnx and monkey-patches it for NumPy 2
(``keras/src/export/tf2onnx_lib.py``). So no maintained converter states support for TensorFlow
2.21, and the package does not depend on one. Tried once by hand (not part of the package or its
tests): ``python -m tf2onnx.convert --saved-model OUT --opset 17`` (tf2onnx 1.17.0, onnx 1.23.2)
converted the SavedModels of a tiny CLRNet and of MesoInception4 written by this module, and
onnxruntime 1.31.1 reproduced their P(fake) to 1.5e-7 and 3e-8.

References:
    TensorFlow SavedModel and TFLite converter guides (``tf.saved_model.save`` with signatures,
    ``tf.lite.TFLiteConverter.from_saved_model``).

Size: about 500 lines for one job (export, reload, check) over two formats; the TFLite
path needs its own op rewrites, kept beside the SavedModel path they share a signature with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from data_prep.fileio import write_bytes_atomic

__all__ = [
    "FORMATS",
    "TOLERANCE",
    "ExportError",
    "FrameMaxPooling3D",
    "artefact_size_mb",
    "export_model",
    "export_savedmodel",
    "export_tflite",
    "load_exported",
    "load_keras_model",
    "max_difference",
    "saved_model_op_types",
    "serving_function",
    "tflite_op_names",
]

#: Formats of ``--format``.
FORMATS = ("savedmodel", "tflite")
#: Largest |P(fake) exported - P(fake) Keras| accepted (float32).
TOLERANCE = 1e-4
#: Ops that mean a loop survived in the graph.
LOOP_OPS = ("While", "StatelessWhile")


class ExportError(ValueError):
    """A model that cannot be exported, or an export that failed or disagrees with Keras."""


class BadInputError(ExportError):
    """A missing or unreadable model file, an unknown format, a bad option: exit status 2."""


@keras.saving.register_keras_serializable(package="deepfake_repro")
class FrameMaxPooling3D(keras.layers.MaxPooling3D):
    """``MaxPooling3D`` whose window and stride are 1 along time, run as a 2-D pool per frame.

    Same arguments, same result; TFLite has a builtin 2-D max pool but none in 3-D (CLRNet's stem
    pool is ``(1, 3, 3)``), so the exported graph uses this. Other pools defer to the parent.
    """

    def call(self, inputs):
        if tuple(self.pool_size)[0] != 1 or tuple(self.strides)[0] != 1 \
                or self.data_format != "channels_last":
            return super().call(inputs)
        shape = keras.ops.shape(inputs)
        frames = keras.ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))
        pooled = keras.ops.max_pool(frames, tuple(self.pool_size)[1:], tuple(self.strides)[1:],
                                    padding=self.padding)
        pshape = keras.ops.shape(pooled)
        return keras.ops.reshape(pooled, (shape[0], shape[1], pshape[1], pshape[2], pshape[3]))


def _frame_pools(model: keras.Model) -> keras.Model:
    """``model`` with each time-free ``MaxPooling3D`` replaced by :class:`FrameMaxPooling3D`.

    The other layers are shared (same objects, same weights); ``model`` itself when it has no
    such pool.
    """
    def time_free(layer) -> bool:
        return (type(layer) is keras.layers.MaxPooling3D and tuple(layer.pool_size)[0] == 1
                and tuple(layer.strides)[0] == 1)

    if not any(time_free(layer) for layer in model.layers):
        return model

    def clone(layer):
        return FrameMaxPooling3D.from_config(layer.get_config()) if time_free(layer) else layer

    return keras.models.clone_model(model, clone_function=clone)


def load_keras_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` file of any registered family (:func:`clrnet.registry.load_model`).

    Embedding models (two-branch checkpoints with a compiled isolation loss) come back wrapped
    by their family's scorer (:func:`clrnet.scoring.as_scorer`), so every export returns P(fake).

    Args:
        path: the ``.keras`` file.

    Returns:
        The model.

    Raises:
        BadInputError: missing file, or one Keras cannot load, or an embedding model without
            a scorer.
    """
    from clrnet import registry
    from clrnet.errors import ModelError
    from clrnet.scoring import as_scorer

    try:
        return as_scorer(registry.load_model(path, compile=True))
    except ModelError as exc:
        raise BadInputError(str(exc).splitlines()[0]) from exc


def _p_fake_column(model: keras.Model) -> int:
    """Output column holding P(fake): 1 of a two-way head, 0 of a single sigmoid."""
    from clrnet.scoring import output_kind

    kind = output_kind(model)
    if len(model.outputs) != 1 or kind == "embedding":
        raise ExportError(
            f"model {model.name!r} has outputs {[tuple(o.shape) for o in model.outputs]}; export "
            "needs one two-way (index 1 = fake) or one-sigmoid (P(fake)) head")
    return 1 if kind == "softmax2" else 0


def serving_function(model: keras.Model, fuse: bool = True):
    """The ``x -> {"p_fake": (B,)}`` function exported, its input spec and the model it runs.

    Args:
        model: a model of this package taking clips (B, T, H, W, 3) or frames (B, H, W, 3).
        fuse: replace ``ConvLSTM2D`` by the fused layer (no while loop in the graph).

    Returns:
        ``(fn, spec, runner)``: ``fn`` takes one float32 tensor named ``clips`` or ``frames``.

    Raises:
        ExportError: a model with another input rank or head.
    """
    from clrnet.inference import fuse_convlstm

    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or len(shape) not in (3, 4):
        raise ExportError(f"model {model.name!r} takes {[tuple(i.shape) for i in model.inputs]}; "
                          "export needs one clip (B, T, H, W, 3) or frame (B, H, W, 3) input")
    if any(d is None for d in shape):
        raise ExportError(f"model {model.name!r} has an input of unknown size {shape}; "
                          "export needs a static clip length and image size")
    column = _p_fake_column(model)
    runner = _frame_pools(fuse_convlstm(model) if fuse else model)
    name = "clips" if len(shape) == 4 else "frames"
    spec = tf.TensorSpec((None, *shape), tf.float32, name=name)

    def p_fake(x):
        return {"p_fake": tf.cast(runner(x, training=False)[:, column], tf.float32)}

    if name == "clips":
        def fn(clips):
            return p_fake(clips)
    else:
        def fn(frames):
            return p_fake(frames)
    return fn, spec, runner


def _write_savedmodel(model: keras.Model, directory: Path, fuse: bool) -> None:
    """Trace the serving function once and save it with exactly the variables it reads.

    A ``tf.Module`` rather than ``keras.export.ExportArchive``: in Keras 3.15 the archive saves
    every variable twice (the Keras variable it tracks and the ``tf.Variable`` the traced
    function captures), which made CLRNet-50's SavedModel 2.0 GB instead of 1.0 GB.
    """
    fn, spec, _ = serving_function(model, fuse)
    serve = tf.function(fn, input_signature=[spec], autograph=False)
    concrete = serve.get_concrete_function()
    module = tf.Module()
    module.serve = serve
    module.captured_variables = list(concrete.variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf.saved_model.save(module, str(directory), signatures={"serving_default": concrete})


@contextlib.contextmanager
def _atomic_dir(out: Path):
    """Yield a temporary folder beside ``out``; on success it replaces ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def export_savedmodel(model: keras.Model, out: str | Path, fuse: bool = True) -> Path:
    """Write ``model`` as a SavedModel folder with the ``serving_default`` P(fake) signature.

    Args:
        model: a model of this package.
        out: the folder (replaced atomically if it already holds a SavedModel).
        fuse: export ConvLSTM layers through the fused layer (default; no while loop).

    Returns:
        ``out``.

    Raises:
        BadInputError: ``out`` exists and is not a SavedModel folder.
        ExportError: a model that cannot be exported.
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and ((out / "saved_model.pb").is_file()
                                                or not any(out.iterdir()))):
        raise BadInputError(f"{out} exists and is not a SavedModel folder; choose another path")
    with _atomic_dir(out) as tmp:
        _write_savedmodel(model, tmp, fuse)
    return out


def _flex_ops(message: str) -> list[str]:
    """TF op names a TFLite conversion error lists as unsupported (best effort)."""
    import re

    names = re.findall(r"'tf\.(\w+)' op is neither", message)
    for line in re.findall(r"TF Select ops: ([\w, ]+)", message):
        names += [n.strip() for n in line.split(",") if n.strip()]
    return sorted(set(names))


def export_tflite(model: keras.Model, out: str | Path, fuse: bool = True,
                  select_tf_ops: bool = False) -> Path:
    """Write ``model`` as a float32 TFLite file with the ``serving_default`` P(fake) signature.

    Args:
        model: a model of this package.
        out: the ``.tflite`` file (written atomically).
        fuse: export ConvLSTM layers through the fused layer (default).
        select_tf_ops: allow TensorFlow (Flex) ops where TFLite has no builtin; off by default
            (the package's models need none; a Flex op needs the larger Flex runtime).

    Returns:
        ``out``.

    Raises:
        BadInputError: ``out`` does not end in ``.tflite``.
        ExportError: conversion failed (e.g. it needs Flex ops and ``select_tf_ops`` is off).
    """
    import tempfile

    out = Path(out)
    if out.suffix != ".tflite":
        raise BadInputError(f"a TFLite output must end in .tflite: {out}")
    with tempfile.TemporaryDirectory(prefix="export_tflite_") as tmp:
        _write_savedmodel(model, Path(tmp) / "sm", fuse)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "sm"),
                                                             signature_keys=["serving_default"])
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if select_tf_ops:
            ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter.target_spec.supported_ops = ops
        try:
            content = converter.convert()
        except Exception as exc:  # ConverterError and friends, with long multi-line text
            text = str(exc)
            needed = _flex_ops(text)
            hint = (f"it needs TensorFlow ops {needed}; rerun with --allow-select-tf-ops"
                    if needed and not select_tf_ops else
                    next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:200])
            raise ExportError(f"TFLite conversion of {model.name!r} failed: {hint}") from exc
    write_bytes_atomic(out, content)
    return out


def export_model(model: keras.Model, out: str | Path, fmt: str, fuse: bool = True,
                 select_tf_ops: bool = False) -> Path:
    """Export ``model`` in format ``fmt`` (:data:`FORMATS`).

    Raises:
        BadInputError: unknown format or bad output path.
        ExportError: as :func:`export_savedmodel` / :func:`export_tflite`.
    """
    if fmt == "savedmodel":
        return export_savedmodel(model, out, fuse)
    if fmt == "tflite":
        return export_tflite(model, out, fuse, select_tf_ops)
    raise BadInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def load_exported(path: str | Path, fmt: str,
                  num_threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Reload an exported artefact as ``predict(x) -> (B,) P(fake)`` (no Keras involved).

    Args:
        path: the SavedModel folder or ``.tflite`` file.
        fmt: ``"savedmodel"`` or ``"tflite"``.
        num_threads: TFLite interpreter threads (default: all cores).

    Returns:
        The predict function; it carries ``.input_name``.
    """
    path = Path(path)
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
        input_name = next(iter(signature.structured_input_signature[1]))

        def predict(x: np.ndarray) -> np.ndarray:
            return signature(**{input_name: tf.constant(x, tf.float32)})["p_fake"].numpy()

        predict.loaded = loaded  # keep the variables alive
    elif fmt == "tflite":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's move-to-LiteRT notice
            interpreter = tf.lite.Interpreter(model_path=str(path),
                                              num_threads=num_threads or os.cpu_count())
        runner = interpreter.get_signature_runner("serving_default")
        input_name = next(iter(runner.get_input_details()))

        def predict(x: np.ndarray) -> np.ndarray:
            return runner(**{input_name: np.asarray(x, np.float32)})["p_fake"]

        predict.interpreter = interpreter
    else:
        raise BadInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    predict.input_name = input_name
    return predict


def saved_model_op_types(directory: str | Path) -> set[str]:
    """Every op type in a SavedModel's graphs, functions included (read from saved_model.pb).

    Args:
        directory: a SavedModel folder.

    Returns:
        Op type names (``Conv2D``, ``While``, ...).
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(directory) / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    for meta in proto.meta_graphs:
        ops |= {node.op for node in meta.graph_def.node}
        for function in meta.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def tflite_op_names(path: str | Path) -> list[str] | None:
    """Operator names of a TFLite file (``CONV_2D``, ``FlexConv2D`` ...); None if unavailable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    details = getattr(interpreter, "_get_ops_details", None)
    if details is None:
        return None
    return sorted({op["op_name"] for op in details()})


def max_difference(model: keras.Model, predict: Callable[[np.ndarray], np.ndarray],
                   batch: int = 2, seed: int = 0) -> float:
    """Largest |P(fake) of ``predict`` - P(fake) of the Keras model| on random inputs in [0, 1].

    Args:
        model: the Keras model (the reference; run as it is, unfused).
        predict: e.g. :func:`load_exported`'s function.
        batch: inputs compared.
        seed: random seed of the inputs.

    Returns:
        The largest absolute difference.
    """
    from clrnet.scoring import fake_probability

    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)
    want = fake_probability(model, x)
    got = np.asarray(predict(x)).reshape(-1)
    if got.shape != want.shape:
        raise ExportError(f"exported model returned {got.shape} for {batch} inputs")
    return float(np.abs(got - want).max())


def artefact_size_mb(path: str | Path) -> float:
    """Size of a file or folder in MB (10^6 bytes)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    return path.stat().st_size / 1e6


def get_parser() -> argparse.ArgumentParser:
    """Command-line parser of ``python -m clrnet.export``."""
    p = argparse.ArgumentParser(
        prog="python -m clrnet.export",
        description="Export a .keras model as a SavedModel folder or a TFLite file whose "
        "serving signature maps clips/frames in [0, 1] to P(fake); the artefact is reloaded "
        "and checked against the Keras model.",
        epilog="""examples (also installed as clrnet-export):
  python -m clrnet.export runs/clrnet/best.keras clrnet_savedmodel --format savedmodel
  python -m clrnet.export runs/clrnet/best.keras clrnet.tflite --format tflite""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="the .keras model")
    p.add_argument("out", type=Path, help="output SavedModel folder or .tflite file")
    p.add_argument("--format", default="savedmodel", help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--check-batch", type=int, default=2,
                   help="random inputs compared with the Keras model (default 2)")
    p.add_argument("--allow-select-tf-ops", action="store_true",
                   help="TFLite: allow TensorFlow (Flex) ops (needs the Flex runtime)")
    p.add_argument("--no-fuse", action="store_true",
                   help="export Keras' ConvLSTM2D as it is (a while loop) instead of fused")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the export CLI; 0 = exported and checked, 1 = failed or disagrees, 2 = bad input."""
    parser = get_parser()
    args = parser.parse_args(argv)
    try:
        if args.format not in FORMATS:
            raise BadInputError(f"unknown format {args.format!r}; choose one of "
                                f"{', '.join(FORMATS)}")
        if args.check_batch < 1:
            raise BadInputError(f"--check-batch must be >= 1, got {args.check_batch}")
        if args.format == "tflite" and args.out.suffix != ".tflite":
            raise BadInputError(f"a TFLite output must end in .tflite: {args.out}")
        model = load_keras_model(args.model)
        t0 = time.perf_counter()
        out = export_model(model, args.out, args.format, fuse=not args.no_fuse,
                           select_tf_ops=args.allow_select_tf_ops)
        export_s = time.perf_counter() - t0
        diff = max_difference(model, load_exported(out, args.format), args.check_batch)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    kind = "clips" if len(model.inputs[0].shape) == 5 else "frames"
    print(f"wrote {out} ({args.format}, {artefact_size_mb(out):.1f} MB, {export_s:.1f} s): "
          f"serving_default({kind} (B, {', '.join(map(str, model.inputs[0].shape[1:]))}) "
          f"float32 in [0, 1]) -> p_fake (B,)")
    print(f"reloaded and compared with the Keras model on {args.check_batch} random {kind}: "
          f"max |dP(fake)| = {diff:.2e} (tolerance {TOLERANCE:g})")
    if diff > TOLERANCE:
        print(f"error: the exported model disagrees with the Keras model: max |dP(fake)| = "
              f"{diff:.2e} > {TOLERANCE:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
