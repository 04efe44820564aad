"""Tests for the benchmark harness (benchmarks/__main__.py, common.py) and its subjects' arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import benchmarks.__main__ as harness
from benchmarks.bench_models import build_parser, convlstm_gflop
from benchmarks.common import emit, machine_info

FAKE = """
import json, sys
print("some log line")
print(json.dumps({"benchmark": "fake", "value": 3, "git_sha": "from-script"}))
print("{not json")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


@pytest.fixture()
def fake_subject(tmp_path, monkeypatch):
    (tmp_path / "fakebench.py").write_text(FAKE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setitem(harness.SUBJECTS, "fake", ("fakebench", [], ["1"]))
    return "fake"


def test_machine_info_records_machine_versions_and_sha():
    info = machine_info()
    for key in ("cpu_count", "cpu_flags", "gpus", "loadavg", "tensorflow", "keras", "git_sha"):
        assert key in info
    assert info["cpu_count"] >= 1 and len(info["loadavg"]) == 3
    assert info["git_sha"] == "unknown" or len(info["git_sha"].split("+")[0]) == 12


def test_emit_prints_and_appends_json(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    emit({"benchmark": "x", "s": 1.5}, out)
    emit({"benchmark": "y", "s": 2.0}, out)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    stored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["benchmark"] for r in stored] == ["x", "y"] == [r["benchmark"] for r in printed]
    assert "cpu_flags" in stored[0] and stored[1]["s"] == 2.0


def test_harness_collects_rows_and_adds_machine(fake_subject):
    rows = harness.run_subject(fake_subject)
    assert len(rows) == 1
    row = rows[0]
    assert row["subject"] == "fake" and row["value"] == 3
    assert row["git_sha"] == "from-script"  # the script's own facts win
    assert "cpu_count" in row and "tensorflow" in row


def test_harness_reports_failure_as_one_row(fake_subject):
    rows = harness.run_subject(fake_subject, quick=True)  # quick args make it exit 1
    assert rows[-1]["subject"] == "fake" and rows[-1]["error"].startswith("exit 1")


def test_harness_cli_unknown_subject_and_list(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=harness.REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown benchmark subject(s) nope")
    assert "Traceback" not in proc.stderr
    listed = subprocess.run([sys.executable, "-m", "benchmarks", "--list", "--quick"],
                            cwd=harness.REPO, capture_output=True, text=True, check=True).stdout
    assert set(harness.SUBJECTS) <= {line.split(":")[0] for line in listed.splitlines()}


@pytest.mark.parametrize("subject", sorted(harness.SUBJECTS))
def test_every_subject_command_parses(subject):
    """Each subject's full and --quick arguments are accepted by its own script's parser."""
    import importlib

    module, full, quick = harness.SUBJECTS[subject]
    parser = importlib.import_module(module).build_parser()
    for args in (full, quick):
        parsed = vars(parser.parse_args(args))
        for flag in (a for a in args if a.startswith("--")):
            assert flag[2:].replace("-", "_") in parsed, (subject, flag)


def test_a_wrong_subject_argument_is_caught(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inference", "--no-such-flag"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_convlstm_gflop_counts_input_and_recurrent_convs():
    import keras

    layer = keras.layers.ConvLSTM2D(4, 3, strides=2, padding="same", return_sequences=True)
    out = layer(keras.ops.zeros((1, 5, 8, 8, 2)))
    gi, gr = convlstm_gflop(layer, out.shape, steps=5, batch=2)
    # input: 2 FLOP * B2 * T5 * 4x4 px * 3*3*2 * 16 ; recurrent: T-1 steps, 3*3*4 * 16
    assert gi == pytest.approx(2 * 2 * 5 * 16 * 18 * 16 / 1e9)
    assert gr == pytest.approx(2 * 2 * 4 * 16 * 36 * 16 / 1e9)


@pytest.mark.slow
def test_quick_train_subject_runs_end_to_end():
    rows = harness.run_subject("train", quick=True, timeout=900)
    assert not any("error" in r for r in rows), rows
    kinds = {r["convlstm"] for r in rows}
    assert kinds == {"keras", "fused"} and all(r["s_per_step"] > 0 for r in rows)


def test_profile_layers_covers_every_layer_of_a_tiny_fused_clrnet():
    import numpy as np

    from benchmarks.bench_models import profile_layers
    from clrnet.inference import fuse_convlstm
    from clrnet.registry import build_model

    model = fuse_convlstm(build_model("clrnet", input_shape=(3, 16, 16, 3), repetitions=(1,),
                                      initial_filters=4))
    x = np.random.default_rng(0).random((2, 3, 16, 16, 3), dtype=np.float32)
    groups, rows = profile_layers(model, x, iters=1)
    assert len(rows) == len(model.layers) - 1  # every layer but the input
    assert groups["FusedConvLSTM2D"]["layers"] == 5  # stem, a, b, c, shortcut
    assert groups["FusedConvLSTM2D"]["gflop"] > 0
    assert sum(g["share"] for g in groups.values()) == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_gpu_check_trains_under_mixed_float16_with_loss_scaling(monkeypatch, capsys):
    """The GPU check's code path on CPU: the mixed_float16 policy (forced here; the package
    refuses it without a GPU), a loss-scale optimiser, finite and falling losses."""
    import keras

    from benchmarks import gpu_check
    from clrnet import training

    monkeypatch.setattr(training, "set_precision", keras.mixed_precision.set_global_policy)
    # two_branch: the CPU has no float16 MaxPool3D kernel, which CLRNet needs (GPUs have one)
    try:
        code = gpu_check.main(["--tiny", "--models", "two_branch", "--steps", "6",
                               "--precision", "mixed_float16"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()
            if line.startswith("{")]
    assert code == 0 and len(rows) == 1, rows
    row = rows[0]
    assert row["precision"] == "mixed_float16" and row["optimizer"] == "LossScaleOptimizer"
    assert row["finite"] and row["falling"] and row["steps"] == 6 and row["steps_per_s"] > 0


@pytest.mark.slow
def test_gpu_check_mirrors_both_networks_over_two_cpu_devices():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--tiny",
                           "--precision", "float32", "--cpu-devices", "2"],
                          cwd=harness.REPO, capture_output=True, text=True, timeout=900)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-500:]
    assert [r["model"] for r in rows] == ["clrnet", "two_branch"]
    assert all(r["replicas"] == 2 and r["global_batch"] == 8 and r["ok"] for r in rows)
