"""Model speed: inference per clip (CLRNet-50, two-branch), per-layer profile, training step.

Subjects (one JSON line per measurement, each with :func:`benchmarks.common.machine_info`):

* ``inference``: seconds per clip of full-size CLRNet-50 (5x240x240x3) or the two-branch network
  (10x224x224x3, ``head="bce"``) with random weights, at each ``--batch``, for each ``--modes``:
  ``keras`` = :func:`clrnet.scoring.fake_probability` (the plain Keras call every script used
  before the fused paths), ``graph`` = the plain model in one ``tf.function``, and
  :func:`clrnet.inference.make_predict_fn` variants ``fused`` (fused ConvLSTM, float32),
  ``fused_jit`` (+ XLA), ``bf16`` (fused, bfloat16), ``bf16_jit``. Each row also gives the largest
  |P(fake) - P(fake) of keras| on the timed input (``--head-scale`` multiplies the random head so
  that P(fake) spreads over [0, 1] instead of sitting at 0.5).
* ``profile``: per-layer CPU seconds of the fused CLRNet-50 (each layer run alone, compiled, on its
  real input), grouped by layer type, with analytic GFLOP and GFLOP per CPU second for ConvLSTM
  layers (CPU seconds so that the profile holds on a shared machine).
* ``train``: seconds per training step (Adam, the official BCE on the 2-way softmax, L2 terms
  included) on random data, ``build_clrnet(convlstm="keras")`` (Keras' ``ConvLSTM2D``) vs
  ``convlstm="fused"`` (:class:`clrnet.models.convlstm.FusedConvLSTM2D`, the default), per ``--train-precisions``: ``--train-model tiny`` (CLRNet (1,1,1,1) x16, 5x64x64)
  or ``clrnet50`` (full size, 5x240x240x3; use ``--train-batch 2``).

Timings: one warm-up call, then ``--iters`` timed calls; the median wall time and the median
process CPU time (all threads) are reported with the load average before and after (the 2-core
development machine is shared: CPU seconds are the steadier number there).

Usage::

    python -m benchmarks.bench_models inference --model clrnet --batch 1 8 --modes keras bf16
    python -m benchmarks.bench_models profile --batch 8
    python -m benchmarks.bench_models train
    python -m benchmarks.bench_models train --train-model clrnet50 --train-batch 2 \\
        --train-precisions float32 --iters 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import emit, git_sha, quiet_tf  # noqa: E402

MODES = {
    "keras": None,
    "graph": None,
    "fused": ("float32", False),
    "fused_jit": ("float32", True),
    "bf16": ("bfloat16", False),
    "bf16_jit": ("bfloat16", True),
    "bf16_unfused": ("bfloat16", False),
}


def timed(fn: Callable[[], object], iters: int, cpu: list | None = None) -> tuple[float, list[float]]:
    """Run ``fn`` once to warm up, then ``iters`` times.

    Args:
        fn: the call to time.
        iters: timed repetitions.
        cpu: when given, receives the process CPU seconds (all threads) of each timed call;
            on a shared machine CPU seconds are far less disturbed by other processes than wall
            time (on an idle machine wall ~= CPU / cores used).

    Returns:
        ``(median wall seconds, all wall timings)``.
    """
    fn()
    times = []
    for _ in range(iters):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return statistics.median(times), times


def build(name: str, head_scale: float = 1.0, seed: int = 0, convlstm: str = "keras"):
    """Full-size model with random weights (``clrnet`` = CLRNet-50, ``two_branch`` = Masi et al.).

    Args:
        name: ``"clrnet"`` or ``"two_branch"``.
        head_scale: multiply the last Dense kernel by this (spreads P(fake) for agreement checks).
        seed: random seed.
        convlstm: CLRNet's ConvLSTM layer (``build_clrnet(convlstm=...)``). ``"keras"`` by default
            so that the ``keras``/``graph``/``bf16_unfused`` modes time Keras' own ConvLSTM2D,
            as older saved files do, and the fused modes fuse it themselves (same weights).

    Returns:
        The Keras model.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if name == "two_branch":
        from twobranch.models import build_model as build_tb

        model = build_tb("two_branch", head="bce")
    else:
        from clrnet.registry import build_model

        model = build_model(name, convlstm=convlstm)
    if head_scale != 1.0:
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
        kernel, *rest = dense.get_weights()
        dense.set_weights([kernel * head_scale, *rest])
    return model


def predictor(model, mode: str, batch: int):
    """The ``x -> P(fake)`` callable of a mode.

    Args:
        model: the Keras model.
        mode: a key of :data:`MODES`.
        batch: batch size.

    Returns:
        Callable on a numpy batch.
    """
    import tensorflow as tf

    from clrnet.inference import make_predict_fn
    from clrnet.scoring import fake_probability

    if mode == "keras":
        return lambda x: fake_probability(model, x, batch_size=batch)
    if mode == "graph":
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return lambda x: fn(tf.constant(x)).numpy()[:, -1]
    precision, jit = MODES[mode]
    return make_predict_fn(model, precision, jit_compile=jit, batch_size=batch,
                           fuse=mode != "bf16_unfused")


def run_inference(args: argparse.Namespace) -> None:
    """One row per (batch, mode): seconds per clip and agreement with ``keras``."""
    import numpy as np

    model = build(args.model, args.head_scale)
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    for batch in args.batch:
        x = rng.random((batch, *shape), dtype=np.float32)
        ref = None
        for mode in args.modes:
            load_before = round(os.getloadavg()[0], 2)
            t0 = time.perf_counter()
            fn = predictor(model, mode, batch)
            setup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            p = np.asarray(fn(x))
            first_s = time.perf_counter() - t0
            if mode == "keras":
                ref = p
            cpu: list[float] = []
            med, times = timed(lambda fn=fn, x=x: fn(x), args.iters, cpu)
            emit({
                "benchmark": "inference", "model": args.model, "input": list(shape),
                "mode": mode, "batch": batch, "s_per_clip": round(med / batch, 4),
                "cpu_s_per_clip": round(statistics.median(cpu) / batch, 4),
                "s_per_batch": round(med, 3), "times_s": [round(t, 3) for t in times],
                "setup_s": round(setup_s, 2), "first_call_s": round(first_s, 2),
                "max_abs_dp_vs_keras": None if ref is None else float(np.abs(p - ref).max()),
                "p_fake_range": [round(float(p.min()), 4), round(float(p.max()), 4)],
                "head_scale": args.head_scale, "load_before": load_before,
                "load_after": round(os.getloadavg()[0], 2),
            }, args.out)


def convlstm_gflop(layer, out_shape, steps: int, batch: int) -> tuple[float, float]:
    """Analytic GFLOP (2 per multiply-add) of a ConvLSTM layer's input and recurrent convolutions.

    Args:
        layer: the (Fused)ConvLSTM2D layer.
        out_shape: its output shape (B, T, H', W', F).
        steps: clip length T.
        batch: batch size.

    Returns:
        ``(input conv GFLOP, recurrent conv GFLOP)``; the recurrent part counts T - 1 steps (the
        fused layer skips the zero first step; Keras computes T).
    """
    kh, kw, cin, four_f = layer.cell.kernel.shape
    f = four_f // 4
    pixels = out_shape[2] * out_shape[3]
    inp = 2 * batch * steps * pixels * kh * kw * cin * four_f
    rec = 2 * batch * (steps - 1) * pixels * kh * kw * f * four_f
    return inp / 1e9, rec / 1e9


def profile_layers(model, x, iters: int = 2) -> tuple[dict[str, dict], list[dict]]:
    """CPU seconds of each layer of a flat functional model, run alone on its real input.

    Args:
        model: functional model without nested models (CLRNet).
        x: a numpy input batch.
        iters: timed calls per layer after one warm-up.

    Returns:
        ``(by_type, rows)``: per layer type {layers, cpu_s, gflop, share}; per layer {layer,
        type, cpu_s[, gflop_input, gflop_recurrent, gflop_per_cpu_s]}.
    """
    import keras
    import tensorflow as tf

    values: dict[int, object] = {id(model.inputs[0]): tf.constant(x)}
    groups: dict[str, dict] = {}
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        ins = [values[id(t)] for t in node.input_tensors]
        arg = ins[0] if len(ins) == 1 else ins
        fn = tf.function(lambda a, layer=layer: layer(a, training=False))
        cpu: list[float] = []
        timed(lambda fn=fn, arg=arg: [o.numpy() for o in tf.nest.flatten(fn(arg))], iters, cpu)
        med = statistics.median(cpu)
        out = fn(arg)
        for t, v in zip(node.output_tensors, tf.nest.flatten(out), strict=True):
            values[id(t)] = v
        kind = type(layer).__name__
        g = groups.setdefault(kind, {"layers": 0, "cpu_s": 0.0, "gflop": 0.0})
        g["layers"] += 1
        g["cpu_s"] += med
        row = {"layer": layer.name, "type": kind, "cpu_s": round(med, 4)}
        if hasattr(layer, "cell"):
            gi, gr = convlstm_gflop(layer, out.shape, x.shape[1], len(x))
            g["gflop"] += gi + gr
            row.update(gflop_input=round(gi, 3), gflop_recurrent=round(gr, 3),
                       gflop_per_cpu_s=round((gi + gr) / med, 1))
        rows.append(row)
    total = sum(g["cpu_s"] for g in groups.values()) or 1.0
    for g in groups.values():
        g["share"] = round(g["cpu_s"] / total, 3)
        g["cpu_s"] = round(g["cpu_s"], 3)
        g["gflop"] = round(g["gflop"], 4)
    return groups, rows


def run_profile(args: argparse.Namespace) -> None:
    """Per-layer CPU seconds of the fused model (each layer compiled alone, on its real input)."""
    import numpy as np

    from clrnet.inference import fast_model, resolve_precision

    precision = resolve_precision(args.precision)
    model = fast_model(build(args.model), precision)
    batch = args.batch[0]
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    t0 = time.perf_counter()
    groups, rows = profile_layers(model, x, args.iters)
    total = sum(g["cpu_s"] for g in groups.values())
    slowest = sorted(rows, key=lambda r: r["cpu_s"], reverse=True)[: args.top]
    emit({"benchmark": "profile", "model": args.model, "precision": precision, "batch": batch,
          "sum_of_layers_cpu_s": round(total, 3), "cpu_s_per_clip": round(total / batch, 4),
          "by_type": groups, "slowest_layers": slowest,
          "wall_s": round(time.perf_counter() - t0, 1),
          "load_after": round(os.getloadavg()[0], 2)}, args.out)


#: ``--train-model`` choices: CLRNet builder arguments and the default square input size.
TRAIN_MODELS = {
    "tiny": ({"repetitions": (1, 1, 1, 1), "initial_filters": 16}, 64),
    "clrnet50": ({}, 240),  # official CLRNet-50: 248,160,514 parameters
}


def train_step_rows(model_key: str, size: int, batch: int, precisions, iters: int,
                    convlstms=("keras", "fused")):
    """Time ``train_on_batch`` of a CLRNet built with each ConvLSTM layer, on random data.

    Each model is built from the same seed (identical weights), compiled with Adam and the
    official binary cross-entropy on the 2-way softmax (L2 terms of the ConvLSTMs included), and
    run once to warm up (tracing) before ``iters`` timed steps.

    Args:
        model_key: a key of :data:`TRAIN_MODELS`.
        size: square input side (clips 5 x size x size x 3).
        batch: clips per step.
        precisions: Keras dtype policies (``"float32"``, ``"mixed_bfloat16"``).
        iters: timed steps after the warm-up step.
        convlstms: ``build_clrnet(convlstm=...)`` choices to compare.

    Yields:
        One row per (precision, ConvLSTM layer): median wall and process-CPU seconds per step,
        the first (tracing) step, the loss of the first step (equal for both layers up to
        rounding: same weights, same data), the process's peak resident memory so far (GiB; run one
        layer per process, ``--train-convlstms``, for a peak of its own) and the load average.
    """
    import gc
    import resource

    import keras
    import numpy as np

    from clrnet.models import build_clrnet

    kwargs, _ = TRAIN_MODELS[model_key]
    shape = (5, size, size, 3)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, batch)]
    for precision in precisions:
        for convlstm in convlstms:
            keras.backend.clear_session()
            gc.collect()
            keras.mixed_precision.set_global_policy(precision)
            keras.utils.set_random_seed(0)
            t0 = time.perf_counter()
            model = build_clrnet(input_shape=shape, convlstm=convlstm, **kwargs)
            build_s = time.perf_counter() - t0
            keras.mixed_precision.set_global_policy("float32")
            model.compile(keras.optimizers.Adam(5e-5), keras.losses.BinaryCrossentropy())
            load_before = round(os.getloadavg()[0], 2)
            t0 = time.perf_counter()
            first_loss = float(model.train_on_batch(x, y))
            first_s = time.perf_counter() - t0
            cpu: list[float] = []
            times = []
            for _ in range(iters):
                c0, t0 = time.process_time(), time.perf_counter()
                model.train_on_batch(x, y)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            yield {"benchmark": "train_step", "model": _train_model_name(model_key, kwargs),
                   "params": model.count_params(), "input": list(shape), "batch": batch,
                   "precision": precision, "convlstm": convlstm,
                   "optimizer": "Adam", "loss": "binary_crossentropy (2-way softmax) + L2",
                   "s_per_step": round(statistics.median(times), 4),
                   "cpu_s_per_step": round(statistics.median(cpu), 4),
                   "times_s": [round(t, 4) for t in times], "first_step_s": round(first_s, 2),
                   "build_s": round(build_s, 1), "first_step_loss": round(first_loss, 6),
                   "peak_rss_gb": round(
                       resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                   "load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}
            del model
            gc.collect()


def _train_model_name(model_key: str, kwargs: dict) -> str:
    if model_key == "tiny":
        return f"clrnet tiny {tuple(kwargs['repetitions'])} x{kwargs['initial_filters']}"
    return "clrnet50 (full size)"


def run_train(args: argparse.Namespace) -> None:
    """Seconds per training step of CLRNet, Keras vs fused ConvLSTM (tiny or full CLRNet-50)."""
    size = args.train_size or TRAIN_MODELS[args.train_model][1]
    for row in train_step_rows(args.train_model, size, args.train_batch, args.train_precisions,
                               args.iters, args.train_convlstms):
        emit(row, args.out)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("subject", choices=("inference", "profile", "train"))
    p.add_argument("--model", default="clrnet", choices=("clrnet", "two_branch"))
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--modes", nargs="+", default=["keras", "fused", "bf16"], choices=list(MODES))
    p.add_argument("--iters", type=int, default=3, help="timed calls after one warm-up")
    p.add_argument("--head-scale", type=float, default=1.0)
    p.add_argument("--precision", default="auto", help="profile: float32, bfloat16 or auto")
    p.add_argument("--top", type=int, default=8, help="profile: slowest layers listed")
    p.add_argument("--train-model", default="tiny", choices=list(TRAIN_MODELS),
                   help="train: tiny CLRNet (1,1,1,1)x16 or full-size CLRNet-50")
    p.add_argument("--train-size", type=int, default=None,
                   help="train: input side (default 64 for tiny, 240 for clrnet50)")
    p.add_argument("--train-batch", type=int, default=4)
    p.add_argument("--train-precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--train-convlstms", nargs="+", default=["keras", "fused"],
                   choices=["keras", "fused"], help="train: ConvLSTM layers compared, in order")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one subject; print JSON lines."""
    args = build_parser().parse_args(argv)
    quiet_tf()
    git_sha()  # record the commit that is running now
    try:
        {"inference": run_inference, "profile": run_profile, "train": run_train}[args.subject](args)
    except Exception as exc:  # a benchmark failure is one line, not a traceback
        print(f"error: bench_models {args.subject}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
