"""What reusing a traced model saves: one short training, three times in one process.

``python -m benchmarks.bench_reuse [--model clrnet] [--steps 20]`` trains the quick profile's
model (its quick configuration and input size, random clips, batch 8, one thread) through
:func:`clrnet.training.fit_model` three times in one process and prints one JSON line each:

* ``first``: the first training of the process (imports warm, nothing traced);
* ``rebuilt``: a second, newly built model after ``keras.backend.clear_session()`` (what every
  cell of a table child did before ``clrnet.training.reuse``);
* ``kept``: the same training inside :func:`clrnet.training.reuse.reuse_traced_models`, after a
  first one there and :func:`clrnet.training.reuse.clear_keras_state` (what the later cells of a
  quick table child do now);
* ``kept_cleared``: as ``kept``, but after ``keras.backend.clear_session()``, which also clears
  TensorFlow's kernel cache (what they did before ``clear_keras_state``).

Each row has the training's wall seconds (build, compile, ``steps`` steps, one validation pass
of 4 batches, BatchNorm recalibration, checkpoints) and its first step's seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import emit, quiet_tf  # noqa: E402

#: model -> (overrides, input size, clip length): the quick profile's values
#: (``experiments/PROTOCOL.md``; the benchmarks do not import the experiments)
MODELS = {
    "clrnet": ({"repetitions": [1, 1, 1, 1], "initial_filters": 4, "dropout": 0.0}, 128, 5),
    "xception": ({}, 72, 1),
}


def _quick_hp(model: str):
    from clrnet.strategies.hparams import resolve_hp

    overrides, size, clip = MODELS[model]
    return resolve_hp(model, image_size=size, clip_len=clip, model_overrides=dict(overrides))


def build_parser() -> argparse.ArgumentParser:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="clrnet", choices=sorted(MODELS),
                   help="a quick-profile model (default clrnet)")
    p.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    p.add_argument("--out", type=Path, default=None, help="also append the rows to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the three trainings and print their rows."""
    args = build_parser().parse_args(argv)
    quiet_tf()
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from clrnet import training
    from clrnet.strategies.learning import _compile_kwargs, build_for_data
    from clrnet.training.reuse import clear_keras_state, reuse_traced_models

    hp = _quick_hp(args.model)
    probe = build_for_data(args.model, hp)
    shape, classes = tuple(probe.input_shape[1:]), probe.output_shape[-1]
    rng = np.random.default_rng(0)
    x = rng.random((16, *shape), dtype=np.float32)
    labels = np.arange(16) % 2
    y = keras.utils.to_categorical(labels, 2) if classes == 2 else labels[:, None].astype("f4")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    class FirstStep(keras.callbacks.Callback):
        seconds = float("nan")

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.seconds = time.perf_counter() - self.t0

    def train(folder: str, clear=keras.backend.clear_session) -> dict:
        clear()
        first = FirstStep()
        t0 = time.perf_counter()
        training.fit_model(lambda: build_for_data(args.model, hp), ds.repeat(), ds.take(2),
                           folder, epochs=1, steps_per_epoch=args.steps, seed=0,
                           compile_kwargs=_compile_kwargs(probe, hp), bn_recalibration=2,
                           extra_callbacks=[first], tensorboard=False, verbose=0)
        return {"seconds": round(time.perf_counter() - t0, 2),
                "first_step_s": round(first.seconds, 2)}

    with tempfile.TemporaryDirectory() as tmp:
        rows = [("first", train(f"{tmp}/a")), ("rebuilt", train(f"{tmp}/b"))]
        with reuse_traced_models():
            train(f"{tmp}/c")
            rows.append(("kept", train(f"{tmp}/d", clear_keras_state)))
            rows.append(("kept_cleared", train(f"{tmp}/e")))
    for case, row in rows:
        emit({"benchmark": "reuse", "model": args.model, "case": case, "steps": args.steps,
              "threads": 1, **row}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
