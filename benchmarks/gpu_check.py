"""``python -m benchmarks gpu``: the prepared GPU check of the training path.

Trains full-size CLRNet-50 (5 x 240 x 240 x 3 clips, two-way softmax, binary cross-entropy, the
fused ConvLSTM every CLRNet trains with) and the full-size two-branch network (10 x 224 x 224 x 3
sequences, isolation loss around the centre of the untrained network's real embeddings) for a few
steps under ``tf.distribute.MirroredStrategy`` with the ``mixed_float16`` policy (Keras wraps the
optimiser in a loss-scale optimiser), exactly as ``clrnet.train`` / ``twobranch.train`` set them
up (:func:`clrnet.training.get_strategy`, :func:`clrnet.training.set_precision`, the registry's
builders and losses). The data is a fixed set of random batches repeated, so a network that
trains must lower its loss on them.

Checks, per model: every step's loss is finite, and the mean loss of the last third of the steps
is below that of the first third. Prints one JSON line per model: steps/s (after the first,
compiling step), seconds of the first step, peak memory per GPU (``tf.config.experimental.
get_memory_info``) and the losses; exits 1 when a check fails.

Usage::

    python -m benchmarks gpu                                  # on a GPU machine
    python -m benchmarks.gpu_check --steps 12 --batch 8       # per-replica batch 8
    python -m benchmarks.gpu_check --tiny --precision float32 --cpu-devices 2   # CPU smoke run

``--tiny`` shrinks both networks and their inputs (a smoke run of the same code; numbers not for
reporting); ``--cpu-devices N`` splits the CPU into N logical devices and mirrors over them.

References:
    TensorFlow, "Distributed training with Keras" (MirroredStrategy); Keras 3 mixed precision
    (``keras.mixed_precision``, ``LossScaleOptimizer``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("clrnet", "two_branch")
TINY = {
    "clrnet": {"input_size": 32, "clip_len": 3, "repetitions": (1, 1), "initial_filters": 4},
    "two_branch": {"input_size": 32, "frames": 3, "blocks": (1, 1, 1, 1), "growth_rate": 8,
                   "stem_filters": 16, "lstm_units": 8},
}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--steps", type=int, default=9, help="training steps per model (9)")
    p.add_argument("--batch", type=int, default=4, help="samples per replica and step (4)")
    p.add_argument("--distinct-batches", type=int, default=2,
                   help="random batches cycled through (2)")
    p.add_argument("--precision", default="mixed_float16",
                   choices=("mixed_float16", "mixed_bfloat16", "float32"))
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (1e-4)")
    p.add_argument("--tiny", action="store_true", help="small networks and inputs (smoke run)")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="split the CPU into N logical devices and mirror over them (tests)")
    p.add_argument("--out", help="also append the JSON lines to this file")
    return p


def _devices(cpu_devices: int) -> list[str] | None:
    """Logical CPU devices to mirror over (None: the strategy's own choice, i.e. every GPU)."""
    import tensorflow as tf

    if not cpu_devices:
        gpus = tf.config.list_logical_devices("GPU")
        # one GPU: MirroredStrategy over it (get_strategy would pick the default strategy)
        return [gpus[0].name] if len(gpus) == 1 else None
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpu_devices)])
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def _clrnet(args: argparse.Namespace, strategy: Any, n: int):
    """CLRNet-50 (or tiny), compiled as clrnet.train does, and its (x, y) batches."""
    import keras
    import numpy as np

    from clrnet.registry import build_model
    from clrnet.scoring import loss_for, targets_for

    kw = dict(TINY["clrnet"]) if args.tiny else {"input_size": 240, "clip_len": 5}
    size, frames = kw.pop("input_size"), kw.pop("clip_len")
    with strategy.scope():
        model = build_model("clrnet", input_size=size, clip_len=frames, **kw)
        model.compile(optimizer=keras.optimizers.Adam(args.lr), loss=loss_for(model))
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.distinct_batches):
        x = rng.random((n, frames, size, size, 3), dtype=np.float32)
        y = targets_for(model, np.arange(n) % 2)
        batches.append((x, y))
    return model, batches


def _two_branch(args: argparse.Namespace, strategy: Any, n: int):
    """The two-branch network (or tiny) with the isolation loss, and its (x, y) batches."""
    import keras
    import numpy as np

    from twobranch.losses import IsolationLoss, default_radii
    from twobranch.models import build_model, compute_center

    kw = dict(TINY["two_branch"]) if args.tiny else {}
    size, frames = kw.pop("input_size", 224), kw.pop("frames", 10)
    with strategy.scope():
        model = build_model("two_branch", input_size=size, frames=frames, **kw)
    rng = np.random.default_rng(0)
    batches = [(rng.random((n, frames, size, size, 3), dtype=np.float32),
                (np.arange(n) % 2).astype("float32").reshape(-1, 1))
               for _ in range(args.distinct_batches)]
    reals = [(x[y[:, 0] == 0], y[y[:, 0] == 0]) for x, y in batches]
    center = compute_center(model, reals, recalibrate_bn=True)
    rm, rp = default_radii(int(center.size))
    with strategy.scope():
        model.compile(optimizer=keras.optimizers.Adam(args.lr), loss=IsolationLoss(center, rm, rp))
    return model, batches


def _peak_gpu_memory() -> dict[str, float]:
    """Peak bytes allocated per GPU since start, in GiB ({} without GPUs)."""
    import tensorflow as tf

    out = {}
    for dev in tf.config.list_logical_devices("GPU"):
        name = dev.name.split("device:")[-1]
        out[name] = round(tf.config.experimental.get_memory_info(name)["peak"] / 2**30, 2)
    return out


def check(name: str, args: argparse.Namespace, strategy: Any) -> dict[str, Any]:
    """Train ``name`` for ``args.steps`` steps and return its JSON row (``ok`` says pass/fail)."""
    import keras
    import tensorflow as tf

    n = args.batch * strategy.num_replicas_in_sync
    keras.utils.set_random_seed(0)
    model, batches = (_clrnet if name == "clrnet" else _two_branch)(args, strategy, n)
    xs = tf.concat([b[0] for b in batches], 0)
    ys = tf.concat([b[1] for b in batches], 0)
    data = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(n).repeat()
    losses: list[float] = []
    secs: list[float] = []
    t0 = [0.0]
    timer = keras.callbacks.LambdaCallback(  # wall time and loss of every step
        on_train_batch_begin=lambda batch, logs: t0.__setitem__(0, time.perf_counter()),
        on_train_batch_end=lambda batch, logs: (
            secs.append(time.perf_counter() - t0[0]),
            losses.append(float((logs or {}).get("loss", math.nan)))))
    model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[timer])
    third = max(1, len(losses) // 3)
    first, last = sum(losses[:third]) / third, sum(losses[-third:]) / third
    finite = all(math.isfinite(v) for v in losses)
    later = secs[1:] or secs
    row = {
        "benchmark": "gpu_check", "model": name, "tiny": args.tiny,
        "precision": keras.mixed_precision.global_policy().name,
        "optimizer": type(model.optimizer).__name__,
        "replicas": strategy.num_replicas_in_sync, "global_batch": n,
        "parameters": int(model.count_params()),
        "steps": len(losses), "first_step_s": round(secs[0], 2),
        "steps_per_s": round(len(later) / sum(later), 3),
        "samples_per_s": round(n * len(later) / sum(later), 2),
        "peak_gpu_gib": _peak_gpu_memory(),
        "losses": [round(v, 5) for v in losses],
        "finite": finite, "falling": finite and last < first,
    }
    row["ok"] = row["finite"] and row["falling"]
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the check; exit status 0 when every model passed, 1 otherwise."""
    args = build_parser().parse_args(argv)
    from benchmarks.common import emit, quiet_tf

    quiet_tf()
    devices = _devices(args.cpu_devices)
    from clrnet.errors import ClrnetError
    from clrnet.training import get_strategy, set_precision

    try:
        set_precision(args.precision)
    except ClrnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    strategy = get_strategy(devices)
    ok = True
    for name in args.models:
        row = check(name, args, strategy)
        ok &= row["ok"]
        emit(row, args.out)
    if not ok:
        print("error: a model's loss was not finite or did not fall (see the JSON lines)",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
