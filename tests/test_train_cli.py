"""Tests of ``python -m clrnet.train`` on tiny TFRecord fixtures and a tiny CLRNet."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from clrnet import train
from data_prep.records import ClipMeta, ShardWriter, encode_clip

T, S = 4, 24
TINY = ["--model-arg", "repetitions=[1]", "--model-arg", "initial_filters=2",
        "--model-arg", "dropout=0.0"]


def _clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """Real: dark smooth frames; fake: bright frames with a flickering square."""
    base = rng.integers(20, 60, size=(T, S, S, 3)) if label == 0 else \
        rng.integers(150, 200, size=(T, S, S, 3))
    if label:
        for t in range(T):
            base[t, 4:12, 4:12] = 255 * (t % 2)
    return base.astype(np.uint8)


def write_fixture(root: Path, methods=("Deepfakes", "FaceSwap"), videos: int = 4,
                  clips: int = 2, splits=("train", "val")) -> Path:
    """root/ffpp/<method>/<split>/clips-00000.nNNNN.tfrecord with real 'original' videos too."""
    rng = np.random.default_rng(0)
    for split in splits:
        for method in ("original", *methods):
            label = 0 if method == "original" else 1
            with ShardWriter(root / "ffpp" / method / split, "clips") as w:
                for v in range(videos):
                    for c in range(clips):
                        meta = ClipMeta(label=label, video_id=f"{method[:3]}{split}{v:03d}",
                                        dataset="ffpp", method=method, split=split,
                                        source_path=f"{method}/{v}.mp4", clip_index=c,
                                        frame_indices=list(range(c * T, c * T + T)))
                        w.write(encode_clip(_clip(label, rng), meta))
    return root


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("records"))


def _run(capsys, argv):
    code = train.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_unknown_model_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        train.main(["--model", "clrnet_xl", "--data", str(tmp_path)])
    assert exc.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "clrnet_xl" in line and "invalid choice" in line


def test_bad_data_errors(capsys, tmp_path, fixture_data):
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", tmp_path / "nope"])
    assert code == 2 and "data not found" in _one_error_line(err) and "nope" in err
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--methods", "NeuralTextures", "--real-methods"])
    assert code == 2 and "no training records" in _one_error_line(err)
    assert "NeuralTextures" in err
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--strategy", "transfer", "--domain", "DF=Deepfakes"])
    assert code == 2 and "--source-model" in _one_error_line(err)
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--strategy", "transfer", "--domain", "DF=Deepfakes",
                                 "--source-model", tmp_path / "missing.keras"])
    assert code == 2 and "missing.keras" in _one_error_line(err)
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--val-split", "test"])
    assert code == 2 and "never on the test split" in _one_error_line(err)
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--precision", "mixed_float16", "--out", tmp_path / "runs"])
    if not __import__("tensorflow").config.list_physical_devices("GPU"):
        assert code == 2 and "needs a GPU" in _one_error_line(err)
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_weights_for_another_architecture(capsys, tmp_path, fixture_data):
    inp = keras.Input((8,))
    other = keras.Model(inp, keras.layers.Dense(2)(inp))
    other.save_weights(tmp_path / "other.weights.h5")
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data, "--methods",
                                 "Deepfakes", "--image-size", S, "--clip-len", T, *TINY,
                                 "--weights", tmp_path / "other.weights.h5",
                                 "--out", tmp_path / "runs"])
    line = _one_error_line(err)
    assert code == 2 and "other.weights.h5" in line and "clrnet18" in line


def test_wrong_clip_length_for_source_model(capsys, tmp_path, fixture_data):
    from clrnet.registry import build_model
    src = build_model("clrnet18", input_shape=(T + 3, S, S, 3), repetitions=[1, 1, 1, 1],
                      initial_filters=2)
    src.save(tmp_path / "src.keras")
    code, _, err = _run(capsys, ["--model", "clrnet18", "--data", fixture_data,
                                 "--strategy", "transfer", "--domain", "DF=Deepfakes",
                                 "--source-model", tmp_path / "src.keras", "--k-videos", 2,
                                 "--epochs", 1, "--out", tmp_path / "runs"])
    line = _one_error_line(err)
    assert code == 2 and str(T + 3) in line, line


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _train_and_resume(capsys, tmp_path, data, model_args):
    """Run 3 epochs straight, and 1 epoch + resume to 3: same history and final weights."""
    common = ["--data", data, *model_args, "--lr", 0.01, "--quiet"]
    code, out, err = _run(capsys, [*common, "--epochs", 3, "--out", tmp_path / "a"])
    assert code == 0, err
    straight = Path(_last_json(out)["run_dir"])
    keras.backend.clear_session()
    code, out, err = _run(capsys, [*common, "--epochs", 1, "--out", tmp_path / "b",
                                   "--name", "tiny"])
    assert code == 0, err
    summary = _last_json(out)
    run = Path(summary["run_dir"])
    assert summary["epochs_done"] == 1 and run.name.startswith("tiny-")
    args = json.loads((run / "args.json").read_text())
    assert args["lr"] == 0.01 and args["batch_size"] == 4
    assert json.loads((run / "env.json").read_text())["versions"]["keras"] == keras.__version__
    keras.backend.clear_session()
    code, out, err = _run(capsys, ["--resume", run, "--epochs", 3, "--quiet"])
    assert code == 0, err
    summary = _last_json(out)
    assert summary["run_dir"] == str(run) and summary["epochs_done"] == 3
    history = (run / "history.csv").read_text()
    assert history == (straight / "history.csv").read_text()
    rows = history.strip().splitlines()
    assert len(rows) == 4  # header + 3 epochs
    losses = [float(r.split(",")[rows[0].split(",").index("loss")]) for r in rows[1:]]
    assert losses[-1] < losses[0], losses
    import clrnet.models  # noqa: F401 - registers custom objects
    resumed = keras.models.load_model(run / "final.keras").get_weights()
    uninterrupted = keras.models.load_model(straight / "final.keras").get_weights()
    for wa, wb in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    assert (run / "best.keras").exists()
    return run


def test_frame_model_trains_and_resumes_like_uninterrupted(capsys, tmp_path, fixture_data):
    run = _train_and_resume(capsys, tmp_path, fixture_data,
                            ["--model", "meso4", "--methods", "Deepfakes", "--image-size", 32,
                             "--batch-size", 4])
    assert json.loads((run / "args.json").read_text())["model"] == "meso4"
    assert not (run / ".train.lock").exists()  # released when the run ended
    # a second run on the same folder while one holds it is refused in one line
    from data_prep.locking import FolderLock

    with FolderLock(run, what="another training", name="train"):
        code, _, err = _run(capsys, ["--resume", run, "--epochs", 4, "--quiet"])
    assert code == 2
    line = _one_error_line(err)
    assert f"pid {os.getpid()}" in line and "another training" in line
    assert json.loads((run / "metrics.json").read_text())["epochs_done"] == 3  # untouched


@pytest.mark.slow
def test_tiny_clrnet_trains_and_resumes_like_uninterrupted(capsys, tmp_path, fixture_data):
    _train_and_resume(capsys, tmp_path, fixture_data,
                      ["--model", "clrnet18", "--methods", "Deepfakes", "--image-size", S,
                       "--clip-len", T, *TINY, "--batch-size", 4])


@pytest.mark.slow
def test_merge_transfer_grid_on_fixture(capsys, tmp_path):
    data = write_fixture(tmp_path / "rec", methods=("Deepfakes", "FaceSwap", "Face2Face"),
                         videos=3, splits=("train", "val", "test"))
    base = ["--model", "meso4", "--data", data, "--image-size", 32, "--batch-size", 8,
            "--epochs", 2, "--quiet"]
    code, out, err = _run(capsys, [*base, "--strategy", "merge", "--domain", "DF=Deepfakes",
                                   "--domain", "FS=FaceSwap", "--out", tmp_path / "m"])
    assert code == 0, err
    source = Path(_last_json(out)["run_dir"]) / "final.keras"
    code, out, err = _run(capsys, [*base, "--strategy", "transfer", "--source-model", source,
                                   "--domain", "F2F=Face2Face", "--k-videos", 2,
                                   "--source-domain", "FS=FaceSwap", "--out", tmp_path / "t"])
    assert code == 0, err
    assert _last_json(out)["frozen_layers"] == len(keras.models.load_model(source).layers) // 2
    code, out, err = _run(capsys, [*base, "--strategy", "grid", "--reenact", "F2F=Face2Face",
                                   "--swap", "DF=Deepfakes", "--swap", "FS=FaceSwap",
                                   "--k-videos", 2, "--select-on", "ALL=Deepfakes,FaceSwap",
                                   "--out", tmp_path / "g"])
    assert code == 0, err
    result = _last_json(out)
    assert result["pair"][0] == "F2F" and result["pair"][1] in ("DF", "FS")
    assert result["oracle"] is True and "test" in result["selected_on"]
    assert (Path(result["run_dir"]) / "grid_search.csv").exists()
