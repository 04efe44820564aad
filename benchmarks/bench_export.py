"""Exported-model speed: CLRNet as SavedModel and TFLite (``clrnet.export``) beside the Keras path.

One JSON line per (batch, mode), each with :func:`benchmarks.common.machine_info`:

* ``keras``: :func:`clrnet.scoring.fake_probability` (plain eager Keras call);
* ``fused``: :func:`clrnet.inference.make_predict_fn` float32 (fused ConvLSTM, one tf.function);
* ``savedmodel``: the ``serving_default`` signature of ``python -m clrnet.export`` reloaded with
  ``tf.saved_model.load``;
* ``tflite``: the exported ``.tflite`` file in ``tf.lite.Interpreter`` (XNNPACK, ``--threads``).

Rows give seconds per clip (median wall and process CPU time of ``--iters`` calls after one
warm-up), the export time and artefact size, and the largest |P(fake) - P(fake) of keras| on the
timed input. ``--model tiny`` is a small CLRNet (5x64x64, repetitions 1-1-1-1, width 8) for smoke
runs; ``clrnet`` is full-size CLRNet-50 (5x240x240x3, 248M parameters: a ~1 GB SavedModel and
TFLite file; the TFLite conversion needs several GB of memory and minutes); ``mesoinception4`` a
frame model. Random weights, head multiplied by ``--head-scale`` so that P(fake) spreads.

Usage::

    python -m benchmarks.bench_export --model tiny --batch 1 8 --iters 3
    python -m benchmarks.bench_export --model clrnet --batch 1 8 --modes keras savedmodel tflite
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import emit, git_sha, quiet_tf  # noqa: E402

MODES = ("keras", "fused", "savedmodel", "tflite")
MODELS = ("tiny", "clrnet", "mesoinception4")


def build(name: str, head_scale: float, seed: int = 0):
    """The benchmarked Keras model with random weights (head scaled)."""
    import keras

    from clrnet.registry import build_model

    keras.utils.set_random_seed(seed)
    if name == "tiny":
        model = build_model("clrnet", input_shape=(5, 64, 64, 3), repetitions=(1, 1, 1, 1),
                            initial_filters=8)
    else:
        model = build_model(name)
    if head_scale != 1.0:
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
        kernel, *rest = dense.get_weights()
        dense.set_weights([kernel * head_scale, *rest])
    return model


def timed(fn, iters: int) -> tuple[float, float, list[float]]:
    """One warm-up call, then ``iters`` timed calls: (median wall s, median CPU s, wall times)."""
    fn()
    walls, cpus = [], []
    for _ in range(iters):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), walls


def predictors(model, modes, batch: int, workdir: Path, threads: int | None, info: dict):
    """``{mode: predict}``; export facts (seconds, MB) go into ``info[mode]``."""
    from clrnet.export import artefact_size_mb, export_model, load_exported
    from clrnet.inference import make_predict_fn
    from clrnet.scoring import fake_probability

    out = {}
    for mode in modes:
        t0 = time.perf_counter()
        if mode == "keras":
            out[mode] = lambda x: fake_probability(model, x, batch_size=batch)
        elif mode == "fused":
            out[mode] = make_predict_fn(model, "float32", jit_compile=False, batch_size=batch)
        else:
            path = workdir / ("model.tflite" if mode == "tflite" else "savedmodel")
            if not path.exists():
                c0 = time.process_time()
                export_model(model, path, mode)
                info[mode] = {"export_s": round(time.perf_counter() - t0, 1),
                              "export_cpu_s": round(time.process_time() - c0, 1),
                              "size_mb": round(artefact_size_mb(path), 1)}
            out[mode] = load_exported(path, mode, num_threads=threads)
        info.setdefault(mode, {})["setup_s"] = round(time.perf_counter() - t0, 2)
    return out


def run(args: argparse.Namespace) -> None:
    """One row per (batch, mode)."""
    import numpy as np

    model = build(args.model, args.head_scale)
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    info: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_export_", dir=args.workdir) as tmp:
        for batch in args.batch:
            fns = predictors(model, args.modes, batch, Path(tmp), args.threads, info)
            x = rng.random((batch, *shape), dtype=np.float32)
            ref = None
            for mode in args.modes:
                fn = fns[mode]
                load_before = round(os.getloadavg()[0], 2)
                t0 = time.perf_counter()
                p = np.asarray(fn(x)).reshape(-1)
                first_s = time.perf_counter() - t0
                if ref is None:
                    ref = p
                wall, cpu, walls = timed(lambda fn=fn, x=x: fn(x), args.iters)
                emit({
                    "benchmark": "export_inference", "model": args.model, "input": list(shape),
                    "mode": mode, "batch": batch, "s_per_clip": round(wall / batch, 4),
                    "cpu_s_per_clip": round(cpu / batch, 4), "s_per_batch": round(wall, 3),
                    "times_s": [round(t, 3) for t in walls], "first_call_s": round(first_s, 2),
                    "tflite_threads": args.threads if mode == "tflite" else None,
                    **info.get(mode, {}),
                    "reference_mode": args.modes[0],
                    "max_abs_dp_vs_reference": float(np.abs(p - ref).max()),
                    "p_fake_range": [round(float(p.min()), 4), round(float(p.max()), 4)],
                    "head_scale": args.head_scale, "load_before": load_before,
                    "load_after": round(os.getloadavg()[0], 2),
                }, args.out)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny", choices=MODELS)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                   help="the first is the reference of max_abs_dp_vs_reference")
    p.add_argument("--iters", type=int, default=3, help="timed calls after one warm-up")
    p.add_argument("--threads", type=int, default=None,
                   help="TFLite interpreter threads (default: all cores)")
    p.add_argument("--head-scale", type=float, default=30.0)
    p.add_argument("--workdir", default=None, help="folder for the exported files (temporary)")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print JSON lines."""
    args = build_parser().parse_args(argv)
    quiet_tf()
    git_sha()  # record the commit that is running now
    try:
        run(args)
    except Exception as exc:  # a benchmark failure is one line, not a traceback
        print(f"error: bench_export: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
