"""Tests for twobranch training: layer-wise LR, the LR schedule, isolation training, the CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import twobranch  # noqa: F401 - registers custom objects
from twobranch.losses import IsolationLoss, default_radii
from twobranch.models import build_model, compute_center, distances
from twobranch.optim import LayerwiseAdam, LayerwiseSGD, LimitedReduceLROnPlateau, paper_lr_rules
from twobranch.train import TrainConfig, build_parser, config_from_args, main

TINY = {"input_size": 32, "frames": 3, "blocks": (1, 1, 1, 1), "growth_rate": 8,
        "stem_filters": 16, "lstm_units": 8}


# ----------------------------------------------------------------------------- optimizer
def _three_vars():
    return [keras.Variable(np.ones(3, "float32"), name=n) for n in ("frozen", "slow", "fast")]


def test_layerwise_sgd_multipliers_scale_the_step():
    v = _three_vars()
    opt = LayerwiseSGD(learning_rate=0.1, lr_rules=[["frozen", 0.0], ["slow", 0.1]])
    grads = [tf.constant([1.0, -2.0, 0.5])] * 3
    opt.apply_gradients(zip(grads, v, strict=True))
    deltas = [1.0 - x.numpy() for x in v]
    np.testing.assert_array_equal(v[0].numpy(), np.ones(3))  # multiplier 0: unchanged
    np.testing.assert_allclose(deltas[2], 0.1 * np.array([1.0, -2.0, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(deltas[1], deltas[2] / 10.0, rtol=1e-5)  # 0.1: ten times less


def test_layerwise_adam_scales_update_not_gradient_and_keeps_config():
    v = _three_vars()
    opt = LayerwiseAdam(learning_rate=0.01, lr_rules=[["frozen", 0.0], ["slow", 0.1]], l2=0.0)
    opt.apply_gradients(zip([tf.constant([1.0, 2.0, 3.0])] * 3, v, strict=True))
    d_slow, d_fast = 1.0 - v[1].numpy(), 1.0 - v[2].numpy()
    np.testing.assert_array_equal(v[0].numpy(), np.ones(3))
    # Adam's first step is lr * sign(g); a scaled gradient would not change it, a scaled lr does.
    np.testing.assert_allclose(d_fast, 0.01, rtol=1e-3)
    np.testing.assert_allclose(d_slow, 0.001, rtol=1e-3)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, LayerwiseAdam)
    assert again.lr_rules == [["frozen", 0.0], ["slow", 0.1]] and again.l2 == 0.0


def test_coupled_l2_moves_weights_with_zero_gradient():
    v = keras.Variable(np.full(2, 2.0, "float32"), name="w")
    opt = LayerwiseSGD(learning_rate=0.5, l2=0.1)
    opt.apply_gradients([(tf.zeros(2), v)])
    np.testing.assert_allclose(v.numpy(), 2.0 - 0.5 * 0.1 * 2.0, rtol=1e-6)


def test_paper_rules_on_model_variables():
    model = build_model("two_branch", **TINY)
    opt = LayerwiseAdam(lr_rules=paper_lr_rules())
    mult = {v.path: opt.multiplier_for(v.path) for v in model.trainable_variables}
    assert mult["conv1_conv/kernel"] == 1 / 16
    assert mult["conv2_block1_1_conv/kernel"] == 1 / 16
    assert mult["conv3_block1_1_conv/kernel"] == 1 / 8
    assert mult["pool3_conv/kernel"] == 1 / 8  # a transition belongs to the block it ends
    assert mult["conv4_block1_1_conv/kernel"] == 1 / 4
    assert mult["conv5_block1_2_conv/kernel"] == 1 / 2
    assert mult["bn/gamma"] == 1 / 2
    assert mult["log_conv1_conv/kernel"] == 1.0 and mult["fusion_conv/kernel"] == 1.0
    assert mult["deep_log/w1x1/kernel"] == 1.0
    assert all(m == 1.0 for p, m in mult.items() if p.startswith("bilstm/"))
    # only the paper's 1 / 2**L values occur
    assert set(mult.values()) <= {1.0, 0.5, 0.25, 0.125, 0.0625}


def test_limited_reduce_lr_on_plateau_stops_after_three():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss="mse")
    cb = LimitedReduceLROnPlateau(max_reductions=3, monitor="val_loss", patience=1, min_lr=0.0,
                                  verbose=0)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(12):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
    assert cb.reductions == 3
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-6, rel=1e-4)
    # a resumed run recovers how many reductions were made from the current rate
    model.optimizer.learning_rate = 1e-5
    cb2 = LimitedReduceLROnPlateau(max_reductions=3, initial_lr=1e-3, monitor="val_loss")
    cb2.set_model(model)
    cb2.on_train_begin()
    assert cb2.reductions == 2


# ----------------------------------------------------------------------------- isolation training
def _synthetic_sequences(n: int, seed: int, frames: int = 3, size: int = 32):
    """Real = smooth random fields; fake = the same kind plus a high-frequency checkerboard."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((2 * n, frames, 4, 4, 3)).astype("float32")
    smooth = tf.image.resize(coarse.reshape(-1, 4, 4, 3), (size, size), method="bicubic").numpy()
    smooth = np.clip(smooth.reshape(2 * n, frames, size, size, 3), 0.1, 0.9)
    yy, xx = np.mgrid[:size, :size]
    checker = (((yy + xx) % 2) * 2 - 1).astype("float32")[None, None, :, :, None] * 0.08
    x = smooth.copy()
    x[n:] = np.clip(x[n:] + checker, 0.0, 1.0)
    y = np.r_[np.zeros(n), np.ones(n)].astype("float32")
    return x, y


def test_short_isolation_training_moves_reals_in_and_fakes_beyond_r_plus():
    keras.utils.set_random_seed(7)
    model = build_model("two_branch", dropout=0.0, bn_momentum=0.9, **{**TINY, "frames": 2})
    x, y = _synthetic_sequences(12, seed=0, frames=2)
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(x), 8)]
    center = compute_center(model, batches, recalibrate_bn=True)
    rm, rp = default_radii(16)
    d0 = distances(model, x, center)
    model.compile(optimizer=LayerwiseAdam(learning_rate=1e-2, lr_rules=paper_lr_rules()),
                  loss=IsolationLoss(center, rm, rp))
    model.fit(x, y, batch_size=8, epochs=15, shuffle=True, verbose=0)
    xt, yt = _synthetic_sequences(8, seed=1, frames=2)  # held-out sequences of the same kinds
    d1, dt = distances(model, x, center), distances(model, xt, center)
    assert d1[y == 0].mean() < 0.5 * d0[y == 0].mean()  # reals pulled toward c
    assert d1[y == 1].mean() > rp  # fakes pushed beyond r+ on average
    assert d1[y == 1].mean() > 3 * d1[y == 0].mean()
    assert dt[yt == 1].mean() > 2 * dt[yt == 0].mean()  # held out: fakes further from c


# ----------------------------------------------------------------------------- TrainConfig
def test_cli_fills_the_same_typed_config_code_builds():
    argv = ["--train", "a.csv", "--val", "a.csv", "--train-splits", "train", "--methods",
            "original", "Deepfakes", "--epochs", "3", "--no-ft", "--lr-patience", "2",
            "--stop-after-schedule", "4", "--verbose", "0", "--override", "blocks=(1,1,1,1)",
            "--override", "branches=rgb", "--densenet-weights", "imagenet"]
    cfg = config_from_args(build_parser().parse_args(argv))
    direct = TrainConfig(train="a.csv", val="a.csv", train_splits=("train",),
                         methods=("original", "Deepfakes"), epochs=3, ft=False, lr_patience=2,
                         stop_after_schedule=4, verbose=0, densenet_weights="imagenet",
                         model_overrides={"blocks": (1, 1, 1, 1), "branches": "rgb"})
    assert cfg == direct
    assert cfg.model_overrides["blocks"] == (1, 1, 1, 1)  # a real tuple, parsed once
    kwargs = cfg.builder_kwargs()
    assert kwargs["blocks"] == (1, 1, 1, 1) and kwargs["head"] == "isolation"
    assert kwargs["densenet_weights"] == "imagenet" and kwargs["input_size"] == 224
    assert json.loads(json.dumps(cfg.as_record()))["model_overrides"]["branches"] == "rgb"


def test_train_config_rejects_bad_values_in_one_line():
    from twobranch.errors import TwoBranchConfigError

    with pytest.raises(TwoBranchConfigError, match="growth"):
        TrainConfig(model_overrides={"growth": 3})
    with pytest.raises(TwoBranchConfigError, match="loss"):
        TrainConfig(loss="mse")
    with pytest.raises(TwoBranchConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="TrainConfig"):
        from twobranch.train import train

        train(build_parser().parse_args([]))  # a Namespace is not a configuration


# ----------------------------------------------------------------------------- CLI
def _write_records(folder, n_videos: int = 3, clips: int = 2, frames: int = 3, size: int = 32):
    from data_prep.records import ClipMeta, encode_clip

    x, _ = _synthetic_sequences(n_videos * clips, seed=3, frames=frames, size=size)
    path = folder / "mini.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        for label in (0, 1):
            for v in range(n_videos):
                for c in range(clips):
                    k = label * n_videos * clips + v * clips + c
                    meta = ClipMeta(label=label, video_id=f"{label}_{v:03d}", dataset="synthetic",
                                    method="original" if label == 0 else "Deepfakes", split="train",
                                    source_path=f"v{label}_{v}.mp4", clip_index=c,
                                    frame_indices=list(range(c * frames, (c + 1) * frames)))
                    w.write(encode_clip((x[k] * 255).astype("uint8"), meta))
    return path


CLI_TINY = ["--override", "blocks=(1,1,1,1)", "--override", "growth_rate=8",
            "--override", "stem_filters=16", "--override", "lstm_units=8"]


@pytest.mark.slow
def test_cli_trains_resumes_and_saves_a_self_contained_scorer(tmp_path, capsys):
    data = _write_records(tmp_path)
    common = ["--train", str(data), "--val", str(data), "--image-size", "32", "--frames", "3",
              "--batch-size", "4", "--lr-patience", "1", "--verbose", "0", *CLI_TINY]
    assert main([*common, "--run-root", str(tmp_path / "runs"), "--epochs", "1"]) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    center = json.loads((run_dir / "center.json").read_text())
    assert len(center["center"]) == 16 and center["before"]["n_real"] == 6
    assert main([*common, "--resume", str(run_dir), "--epochs", "2"]) == 0
    capsys.readouterr()
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3  # header + 2 epochs
    assert json.loads((run_dir / "center.json").read_text())["center"] == center["center"]
    stats = json.loads((run_dir / "distances.json").read_text())
    assert stats["after"]["n_fake"] == 6 and stats["r_plus"] == pytest.approx(default_radii(16)[1])
    scorer = keras.models.load_model(run_dir / "scorer.keras")
    clips, _ = _synthetic_sequences(2, seed=5)
    p = scorer.predict(clips, verbose=0)
    assert p.shape == (4, 1) and ((p >= 0) & (p <= 1)).all()
    assert scorer.get_layer("distance_to_center").center == pytest.approx(center["center"])
    # the package's predict CLI scores every clip and averages per video
    from twobranch.predict import main as predict_main

    out = tmp_path / "scores.csv"
    assert predict_main(["--model", str(run_dir / "scorer.keras"), "--data", str(data),
                         "--out", str(out)]) == 0
    import pandas as pd

    clips_df, videos_df = pd.read_csv(out), pd.read_csv(tmp_path / "scores_videos.csv")
    assert len(clips_df) == 12 and len(videos_df) == 6 and set(videos_df["clips"]) == {2}
    assert clips_df["score"].between(0, 1).all()


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["--train", str(tmp_path / "nope.tfrecord"), "--run-root", str(tmp_path / "r"),
               "--image-size", "32", "--frames", "3", *CLI_TINY])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "nope.tfrecord" in err and "\n" not in err
    rc = main(["--summary", "--override", "growth=3"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "growth=3" in err
    from twobranch.predict import main as predict_main

    rc = predict_main(["--model", str(tmp_path / "none.keras"), "--data", "x", "--out", "y.csv"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err
    assert str(tmp_path / "none.keras") in err and "not found" in err


def test_cli_summary_prints_counts_and_shapes(capsys):
    assert main(["--summary", "--image-size", "32", "--frames", "3", *CLI_TINY]) == 0
    out = capsys.readouterr().out
    assert "parameters: total" in out and "LoG branch: (4, 4," in out and "embedding: (16,)" in out


@pytest.mark.slow
def test_cli_frame_variant_with_bce(tmp_path, capsys):
    data = _write_records(tmp_path)
    assert main(["--model", "two_branch_frame", "--loss", "bce", "--train", str(data), "--val",
                 str(data), "--image-size", "32", "--batch-size", "6", "--epochs", "1",
                 "--verbose", "0", "--run-root", str(tmp_path / "runs"), *CLI_TINY]) == 0
    capsys.readouterr()
    run_dir = next((tmp_path / "runs").iterdir())
    assert not (run_dir / "center.json").exists()
    scorer = keras.models.load_model(run_dir / "scorer.keras")
    assert tuple(scorer.input.shape) == (None, 32, 32, 3)  # single frames
    p = scorer.predict(np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32"), verbose=0)
    assert p.shape == (3, 1) and ((p >= 0) & (p <= 1)).all()


MIRRORED_SCRIPT = """
import os, sys
os.environ["CUDA_VISIBLE_DEVICES"] = ""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
from twobranch.train import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_cli_mirrored_strategy_two_logical_cpus(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    data = _write_records(tmp_path)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(repo))
    env.pop("TF_CONFIG", None)
    args = ["--train", str(data), "--val", str(data), "--image-size", "32", "--frames", "3",
            "--batch-size", "4", "--epochs", "1", "--verbose", "0", "--run-root", str(tmp_path / "runs"),
            "--devices", "/cpu:0", "/cpu:1", *CLI_TINY]
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "metrics.json").read_text())["replicas"] == 2
    assert (run_dir / "scorer.keras").exists()


# ----------------------------------------------------------------------------- mini benchmark
@pytest.fixture(scope="module")
def mini_swaps(tmp_path_factory):
    """Face clips of a small mini benchmark (Deepfakes + FaceSwap + their originals).

    The real path: ``data_prep.synth.generate`` (FF++ layout) -> ``data_prep.extract.prepare``
    (MTCNN, aligned 64x64 crops, 2 clips of 5 frames per video) -> manifest with the FF++ splits.
    """
    from data_prep.extract import prepare
    from data_prep.synth import generate

    tmp = tmp_path_factory.mktemp("tb_mini")
    root = generate(tmp / "bench", videos_per_method=16, frames=12, seed=0,
                    methods=("Deepfakes", "FaceSwap"), wild=False, progress=False)
    return prepare("ffpp", root, tmp / "clips", clip_len=5, clips_per_video=2, size=64,
                   progress=False)


def test_short_training_on_mini_benchmark_isolates_held_out_reals_and_fakes(mini_swaps, tmp_path,
                                                                          capsys):
    """``python -m twobranch.train`` on the mini benchmark: on the *validation* videos (never
    trained on) reals end up closer to c than before and fakes beyond r+ (Masi et al. Fig. 4)."""
    common = ["--train", str(mini_swaps), "--val", str(mini_swaps), "--train-splits", "train",
              "--val-splits", "val", "--image-size", "64", "--frames", "5", "--batch-size", "8",
              "--epochs", "15", "--steps-per-epoch", "20", "--lr-patience", "3", "--verbose", "0",
              "--run-root", str(tmp_path), *CLI_TINY, "--override", "lstm_units=16"]
    assert main(common) == 0
    capsys.readouterr()
    stats = json.loads(next(tmp_path.iterdir()).joinpath("distances.json").read_text())
    before, after, rp = stats["before"], stats["after"], stats["r_plus"]
    assert after["n_real"] >= 8 and after["n_fake"] >= 16, stats  # held-out val sequences
    assert before["auc"] < 0.9, stats  # the untrained network does not separate them yet
    assert after["mean_real"] < 0.8 * before["mean_real"], stats  # reals pulled toward c
    assert after["mean_fake"] > rp and after["mean_fake"] > 1.5 * after["mean_real"], stats
    assert after["fake_beyond_r_plus"] >= 0.6 and after["auc"] >= 0.85, stats  # fakes beyond r+


def test_a_run_folder_in_use_is_refused_in_one_line(tmp_path, capsys):
    from data_prep.locking import FolderLock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with FolderLock(run_dir, what="another training", name="train"):
        rc = main(["--train", str(tmp_path / "x.tfrecord"), "--resume", str(run_dir),
                   "--image-size", "32", "--frames", "3", *CLI_TINY])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err
    assert "another training" in err and not (run_dir / "args.json").exists()
