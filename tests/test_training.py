"""Tests of clrnet.training: run record, precision, strategy, resumable fit (tiny models only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from clrnet import training
from clrnet.errors import ConfigError, PrecisionError, ResumeError

N, D, BATCH = 64, 8, 16


def _toy_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    return x, y


def _toy_model() -> keras.Model:
    inp = keras.Input((D,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_fake")(h)
    return keras.Model(inp, out, name="toy")


def _compile_kwargs(lr: float = 1e-2) -> dict:
    return {"optimizer": keras.optimizers.Adam(lr), "loss": "binary_crossentropy",
            "metrics": ["accuracy"]}


def _epoch_data(x: np.ndarray, y: np.ndarray, seed: int = 7):
    """Callable f(initial_epoch) whose epoch e order depends only on (seed, e)."""
    def make(initial_epoch: int) -> tf.data.Dataset:
        xs, ys = tf.constant(x), tf.constant(y)

        def one_epoch(e):
            perm = tf.argsort(tf.random.stateless_uniform([N], seed=tf.stack([seed, e])))
            return tf.data.Dataset.from_tensor_slices((tf.gather(xs, perm), tf.gather(ys, perm)))

        epochs = tf.data.Dataset.range(initial_epoch, 10_000).map(lambda e: tf.cast(e, tf.int32))
        return epochs.flat_map(one_epoch).batch(BATCH, drop_remainder=True)
    return make


def _val(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def test_run_dir_and_record(tmp_path):
    run = training.make_run_dir(tmp_path, "clr net/single")
    run2 = training.make_run_dir(tmp_path, "clr net/single")
    assert run != run2 and run.name.startswith("clr_net_single-")
    assert (run / "checkpoints").is_dir() and (run / "logs").is_dir()
    training.write_run_record(run, {"model": "clrnet", "data": tmp_path, "lr": 5e-5},
                              extra={"note": "x"})
    args = json.loads((run / "args.json").read_text())
    env = json.loads((run / "env.json").read_text())
    assert args == {"model": "clrnet", "data": str(tmp_path), "lr": 5e-5}
    assert env["versions"]["tensorflow"] == tf.__version__
    assert env["versions"]["keras"] == keras.__version__
    code = env["code"]
    assert code["package_version"] == "0.1.0" or code["git_sha"] is not None
    assert code["git_sha"] is None or len(code["git_sha"]) == 40
    assert env["extra"] == {"note": "x"} and env["machine"]["cpu_count"] == os.cpu_count()
    # a second record (a resume) keeps the original args and appends
    training.write_run_record(run, {"model": "other"})
    assert json.loads((run / "args.json").read_text())["model"] == "clrnet"
    assert "other" in (run / "resumes.jsonl").read_text()


def test_precision_modes():
    with pytest.raises(PrecisionError, match="unknown precision"):
        training.set_precision("float8")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(PrecisionError, match="needs a GPU"):
            training.set_precision("mixed_float16")
    if not training.cpu_supports_bf16() and not tf.config.list_physical_devices("GPU"):
        pytest.skip("no bfloat16 hardware here")
    try:
        assert training.set_precision("mixed_bfloat16") == "mixed_bfloat16"
        model = training.ensure_float32_output(_toy_model())
        assert model.layers[1].compute_dtype == "bfloat16"
        assert model.outputs[0].dtype == "float32"
    finally:
        training.set_precision("float32")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_get_strategy_default_and_bad_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.get_strategy().num_replicas_in_sync == 1
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        training.get_strategy()


def test_fit_reduces_loss_and_writes_run(tmp_path):
    x, y = _toy_arrays()
    res = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "run",
                             epochs=4, steps_per_epoch=N // BATCH, seed=1,
                             compile_kwargs=_compile_kwargs(), verbose=0, tensorboard=True)
    loss = res.history["loss"]
    assert len(loss) == 4 and loss[-1] < loss[0]
    run = tmp_path / "run"
    for name in ("final.keras", "best.keras", "metrics.json", "state.json", "history.csv"):
        assert (run / name).exists(), name
    # only the newest two epoch checkpoints are kept
    assert [e for e, _ in training.list_checkpoints(run)] == [3, 4]
    assert any((run / "logs").rglob("*tfevents*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_done"] == 4 and metrics["monitor"] == "val_loss"
    best = int(np.argmin(res.history["val_loss"])) + 1
    assert metrics["best_epoch"] == best == res.best_epoch
    assert not list(run.rglob("*.tmp*"))
    # final.keras is the last epoch's checkpoint (linked, not serialised a second time) and
    # holds the trained weights; best.keras is the best epoch's
    last = run / "checkpoints" / "epoch-004.keras"
    assert os.path.samefile(run / "final.keras", last)
    assert os.path.samefile(run / "best.keras", last) == (best == 4)
    reloaded = keras.models.load_model(run / "final.keras")
    for wa, wb in zip(res.model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_resume_matches_uninterrupted_run(tmp_path):
    x, y = _toy_arrays()
    common = dict(steps_per_epoch=N // BATCH, compile_kwargs=_compile_kwargs(), verbose=0,
                  tensorboard=False, keep_checkpoints=None)
    straight = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "a",
                                  epochs=4, seed=3, **common)
    keras.backend.clear_session()
    part = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "b",
                              epochs=2, seed=3, **common)
    assert part.epochs_done == 2
    keras.backend.clear_session()
    # "interrupt": pretend a crash after the CSV row of epoch 3 was written but before its
    # checkpoint; the resumed run must drop that row and redo epoch 3
    with open(tmp_path / "b" / "history.csv", "a") as fh:
        fh.write("2,0.5,0.5,0.5,0.5\n")
    resumed = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "b",
                                 epochs=4, seed=99, resume=True, **common)
    assert resumed.initial_epoch == 2 and resumed.epochs_done == 4
    assert resumed.history["epoch"] == [0.0, 1.0, 2.0, 3.0]
    for wa, wb in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    np.testing.assert_allclose(straight.history["val_loss"], resumed.history["val_loss"],
                               atol=1e-6)
    # a finished run resumed again does no more work
    again = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "b",
                               epochs=4, resume=True, **common)
    assert again.initial_epoch == 4 and again.epochs_done == 4


def test_early_stopping_and_resume_errors(tmp_path):
    x, y = _toy_arrays()
    res = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "es",
                             epochs=6, steps_per_epoch=N // BATCH, patience=1, seed=0,
                             compile_kwargs=_compile_kwargs(lr=0.0), verbose=0,
                             tensorboard=False)
    # lr = 0: validation loss never improves after epoch 1, so patience 1 stops after epoch 2
    assert res.stopped_early and res.epochs_done == 2 and res.best_epoch == 1
    state = json.loads((tmp_path / "es" / "state.json").read_text())
    assert state["stopped_early"] and state["wait"] == 1
    again = training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "es",
                               epochs=6, resume=True, verbose=0, tensorboard=False)
    assert again.epochs_done == 2  # a run stopped early stays stopped
    with pytest.raises(ConfigError, match="not among the logged values"):
        training.fit_model(_toy_model, _epoch_data(x, y), _val(x, y), tmp_path / "bad",
                           epochs=1, steps_per_epoch=2, monitor="val_auc",
                           compile_kwargs=_compile_kwargs(), verbose=0, tensorboard=False)
    (tmp_path / "es" / "state.json").write_text(json.dumps({"epoch": 5}))
    with pytest.raises(ResumeError, match="state.json says epoch 5"):
        training.fit_model(_toy_model, _epoch_data(x, y), None, tmp_path / "es", epochs=6,
                           resume=True, verbose=0, tensorboard=False)


MIRRORED_SCRIPT = textwrap.dedent("""
    import os, sys, json
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras, numpy as np
    from clrnet import training
    strategy = training.get_strategy(devices=["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32"); y = (x[:, 0] > 0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    def build():
        inp = keras.Input((8,)); out = keras.layers.Dense(1, activation="sigmoid")(inp)
        return keras.Model(inp, out)
    res = training.fit_model(build, ds, ds, sys.argv[1], epochs=3, strategy=strategy, seed=0,
                             compile_kwargs={"optimizer": keras.optimizers.Adam(0.05),
                                             "loss": "binary_crossentropy"},
                             verbose=0, tensorboard=False)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "loss": res.history["loss"],
                      "n_vars": len(res.model.trainable_variables)}))
""")


def test_mirrored_strategy_two_logical_cpus(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert out["loss"][-1] < out["loss"][0]
    meta = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert meta["replicas"] == 2 and (tmp_path / "run" / "final.keras").exists()


def test_read_history_treats_keras_na_as_nan(tmp_path):
    """Keras' CSVLogger writes NA for val_* columns of a run without validation data."""
    from clrnet.training import read_history

    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,0.5,NA\n1,0.25,\n")
    hist = read_history(tmp_path)
    assert hist["loss"] == [0.5, 0.25]
    assert all(np.isnan(v) for v in hist["val_loss"])


def test_copy_atomic_links_or_copies_whole_files(tmp_path, monkeypatch):
    from data_prep.fileio import copy_atomic

    src = tmp_path / "a.keras"
    src.write_bytes(b"model bytes")
    copy_atomic(src, tmp_path / "out" / "b.keras")
    assert os.path.samefile(src, tmp_path / "out" / "b.keras")

    def no_links(*_a, **_k):
        raise OSError("links not supported")

    monkeypatch.setattr(os, "link", no_links)
    copy_atomic(src, tmp_path / "c.keras")
    assert (tmp_path / "c.keras").read_bytes() == b"model bytes"
    assert not os.path.samefile(src, tmp_path / "c.keras")
    assert not list(tmp_path.rglob("*.tmp*"))


def test_reused_traced_model_trains_exactly_like_a_new_one(tmp_path):
    """Inside reuse_traced_models a second training of the same model reuses the first one's
    model object and traced functions, and ends with the weights, optimizer state and history
    of a training in a newly built model (the quick tables' cell children rely on this)."""
    from clrnet.training.batchnorm import _statistics_for
    from clrnet.training.reuse import clear_keras_state, reuse_enabled, reuse_traced_models

    x, y = _toy_arrays()

    def run(name: str, seed: int, model_fn=_toy_model) -> training.FitResult:
        clear_keras_state()  # as between the cells of a table child
        return training.fit_model(model_fn, _epoch_data(x, y), _val(x, y), tmp_path / name,
                                  epochs=2, steps_per_epoch=3, seed=seed, bn_recalibration=2,
                                  compile_kwargs=_compile_kwargs(), verbose=0,
                                  tensorboard=False)

    def state(res: training.FitResult) -> list[np.ndarray]:
        return ([v.numpy() for v in res.model.variables]
                + [v.numpy() for v in res.model.optimizer.variables])

    run("warm", 1)
    fresh = run("fresh", 2)
    fresh_state, fresh_loss = state(fresh), fresh.history["loss"]
    assert not reuse_enabled()
    with reuse_traced_models():
        first = run("first", 1)
        traced = first.model.train_function
        stats = _statistics_for(first.model)
        second = run("second", 2)
        assert second.model is first.model and second.model.train_function is traced
        assert _statistics_for(second.model) is stats  # its recalibration pass is kept too

        def frozen() -> keras.Model:
            model = _toy_model()
            model.get_layer("d1").trainable = False
            return model

        assert run("frozen", 2, frozen).model is not first.model  # another key, another model
    assert not reuse_enabled()
    for got, want in zip(state(second), fresh_state, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(second.history["loss"], fresh_loss, rtol=0, atol=1e-6)
    assert int(second.model.optimizer.iterations.numpy()) == 6


def test_clear_keras_state_and_seeding_keep_the_kernel_cache_only_while_models_are_kept(
        monkeypatch):
    """Between a child's cells Keras' layer names restart (so a rebuilt model matches its kept
    twin) and the seeds are set again, but TensorFlow's kernel cache, where the kept models'
    functions are instantiated, is not cleared; outside reuse_traced_models both clear it, as
    clear_session and keras.utils.set_random_seed do."""
    import random

    from tensorflow.python import pywrap_tfe

    from clrnet.training.reuse import clear_keras_state, reuse_traced_models, set_random_seed

    calls = []
    monkeypatch.setattr(pywrap_tfe, "TFE_ContextClearCaches", lambda handle: calls.append(1))
    with reuse_traced_models():
        keras.layers.Dense(1)
        clear_keras_state()
        assert keras.layers.Dense(1).name == "dense"
        set_random_seed(3)
        drawn = random.random(), np.random.random(), float(keras.random.uniform(()))
        set_random_seed(3)
        assert (random.random(), np.random.random(), float(keras.random.uniform(()))) == drawn
        assert calls == []
    clear_keras_state()
    set_random_seed(3)
    assert calls == [1, 1]
