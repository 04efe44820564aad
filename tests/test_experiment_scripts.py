"""Table scripts: --help, --show-config (the protocol's cells), light imports, errors, and slow
quick-profile end-to-end runs.

The slow tests run the real pipeline on the mini benchmark (built once into the cache given by
``DEEPFAKE_REPRO_CACHE`` or ``~/.cache/deepfake-repro``) and take minutes each; the full-profile
smoke run of every script is ``tests/test_experiments_full_smoke.py``.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = [
    "table3_in_domain",
    "table4_out_of_domain",
    "table5_transfer",
    "table6_open_domain",
    "cam_figure",
    "twobranch_table1_ablation",
    "twobranch_table2_ffpp",
    "twobranch_table3_celebdf",
    "twobranch_table4_ffpp_dfdc",
    "twobranch_figures",
]


def _module(name: str):
    path = REPO / "experiments" / f"{name}.py"
    assert path.is_file(), f"experiments/{name}.py is missing"
    return importlib.import_module(f"experiments.{name}")


def _readme_row(name: str) -> str:
    rows = [line for line in (REPO / "experiments" / "README.md").read_text().splitlines()
            if line.startswith("|") and f"experiments/{name}.py" in line]
    assert rows, f"experiments/README.md has no table row for experiments/{name}.py"
    return rows[0]


def test_every_protocol_table_has_its_script():
    from experiments.protocol import TABLES

    assert sorted(SCRIPTS) == sorted(TABLES)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_docstring_and_measured_runtime(name, capsys):
    mod = _module(name)
    doc = mod.__doc__ or ""
    assert "Command" in doc and f"experiments/{name}.py" in doc, "docstring must give the command"
    assert "--show-config" in doc, "docstring must say how to print the cells' settings"
    # the docstring points to the README for the runtime: the README must hold a measured one
    assert "experiments/README.md" in doc
    row = _readme_row(name)
    assert re.search(r"\*\*\d+(\.\d+)? ?(s|min)\b|\*\*\d+ min \d+ s", row), (
        f"experiments/README.md row of {name} states no measured runtime: {row[:120]}")
    with pytest.raises(SystemExit) as exc:
        mod.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--data", "--profile", "--show-config", "--quick", "--out", "--max-steps"):
        assert flag in out, f"{name} --help lacks {flag}"


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("profile", ["quick", "full"])
def test_show_config_prints_exactly_the_protocol_cells(name, profile, capsys, tmp_path,
                                                       monkeypatch):
    """``--show-config`` prints protocol.cells(table, profile), one JSON object per line,
    without data (the full profile's --data is not needed) and without training."""
    from experiments import protocol as P

    monkeypatch.chdir(tmp_path)
    mod = _module(name)
    assert mod.main(["--profile", profile, "--show-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == P.cells(name, profile)
    assert not (tmp_path / "results").exists()  # nothing was run or written


@pytest.mark.parametrize("name", SCRIPTS)
def test_import_and_show_config_are_light(name):
    """Importing a script, and --show-config, must not import TensorFlow."""
    code = (f"import sys, io, contextlib; import experiments.{name} as m; "
            "buf = io.StringIO(); "
            "ctx = contextlib.redirect_stdout(buf); ctx.__enter__(); "
            "rc = m.main(['--profile', 'full', '--show-config']); ctx.__exit__(None, None, None); "
            "bad = [k for k in ('tensorflow', 'keras') if k in sys.modules]; "
            "sys.exit(rc or (3 if bad else 0))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr[-500:]


def test_script_runs_by_path_and_rejects_missing_data(tmp_path):
    """`python experiments/x.py` works without installing, and bad --data is one clear line."""
    res = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "table5_transfer.py"),
         "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "nope" in lines[-1]
    assert "Traceback" not in res.stderr


def test_bad_argument_value_is_rejected():
    mod = _module("table3_in_domain")
    with pytest.raises(SystemExit) as exc:
        mod.main(["--domains", "XYZ"])
    assert exc.value.code == 2


@pytest.mark.parametrize("flag", ["--jobs", "--workers"])
def test_jobs_and_workers_below_one_are_refused_in_one_line(flag, tmp_path, capsys):
    code = _module("table5_transfer").main([flag, "0", "--out", str(tmp_path / "t5")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"error: {flag} must be >= 1, got 0"


def test_a_negative_memory_budget_is_refused_before_any_work(tmp_path, capsys):
    code = _module("table5_transfer").main(["--max-memory-gb", "-1", "--out",
                                            str(tmp_path / "t5")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "error: --max-memory-gb must be >= 0, got -1.0"
    assert not (tmp_path / "t5" / "cells").exists()  # refused before preparing any data


def _run_quick(name: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / name
    mod = _module(name)
    code = mod.main(["--out", str(out), "--work", str(tmp_path / "_prepared"), "--no-progress",
                     *extra])
    assert code == 0
    return out


def _check_outputs(out: Path, png: bool = True) -> str:
    for f in ("results.csv", "results.md", "args.json", "env.json"):
        assert (out / f).is_file(), f
    if png:
        assert list(out.glob("*.png")), "no PNG figure"
    md = (out / "results.md").read_text()
    assert "mini benchmark (synthetic stand-in), not FaceForensics++" in md
    return md


@pytest.mark.slow
def test_table5_quick_end_to_end_and_resume(tmp_path):
    out = _run_quick("table5_transfer", tmp_path, "--models", "mesoinception4", "clrnet")
    md = _check_outputs(out)
    assert "merge" in md and "transfer" in md and "(97.57)" in md
    cells = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert cells == ["merge__clrnet.json", "merge__mesoinception4.json",
                     "transfer__clrnet.json", "transfer__mesoinception4.json"]
    stamp = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    _run_quick("table5_transfer", tmp_path, "--models", "mesoinception4", "clrnet")
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp, "finished cells were recomputed"


@pytest.mark.slow
@pytest.mark.parametrize("name,extra", [
    ("table3_in_domain", ["--models", "mesoinception4", "--domains", "DF", "F2F"]),
    ("table4_out_of_domain", ["--models", "mesoinception4"]),
    ("table6_open_domain", ["--models", "mesoinception4", "--no-rgs"]),
])
def test_clrnet_tables_quick(name, extra, tmp_path):
    _check_outputs(_run_quick(name, tmp_path, *extra))


@pytest.mark.slow
def test_cam_figure_quick(tmp_path):
    out = _run_quick("cam_figure", tmp_path)
    assert list(out.glob("*.png"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "twobranch_table1_ablation",
    "twobranch_table2_ffpp",
    "twobranch_table3_celebdf",
    "twobranch_table4_ffpp_dfdc",
])
def test_twobranch_tables_quick(name, tmp_path):
    _check_outputs(_run_quick(name, tmp_path))


@pytest.mark.slow
def test_twobranch_figures_quick(tmp_path):
    out = _run_quick("twobranch_figures", tmp_path)
    assert len(list(out.glob("*.png"))) >= 3


def test_a_results_folder_in_use_is_refused_in_one_line(tmp_path, capsys):
    """A second run into the same --out stops at once, naming the first; nothing is written."""
    import os

    from data_prep.locking import FolderLock

    out = tmp_path / "t5"
    out.mkdir()
    mod = _module("table5_transfer")
    with FolderLock(out, what="another table5_transfer run", name="table5_transfer"):
        code = mod.main(["--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and f"pid {os.getpid()}" in err[-1]
    assert "another table5_transfer run" in err[-1]
    assert sorted(p.name for p in out.iterdir()) == []  # the lock file went with the holder
