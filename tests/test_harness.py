"""Tests for experiments.harness: resumable cells, outputs, profiles and context resolution."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from experiments import harness as H
from experiments.paper_tables import PAPER_TABLES, paper_value


def _fn(calls: list[str], fail: set[str] = frozenset()):
    def fn(cell: H.Cell):
        calls.append(cell.id)
        if cell.id in fail:
            raise RuntimeError("boom\nsecond line")
        return [{"section": "s", "row": cell.key[0], "col": cell.key[1], "metric": "f1",
                 "ours": float(len(cell.id))}]

    return fn


def test_finished_cells_are_not_recomputed(tmp_path):
    cells = [H.Cell(("clrnet", "DF")), H.Cell(("meso", "DF")), H.Cell(("meso", "FS"))]
    calls: list[str] = []
    rows, failed = H.run_cells(cells, _fn(calls, {"meso__FS"}), tmp_path, progress=False)
    assert failed == ["meso__FS"]
    assert calls == ["clrnet__DF", "meso__DF", "meso__FS"]
    assert len(rows) == 2 and not any(r["cached"] for r in rows)
    assert (tmp_path / "cells" / "clrnet__DF.json").exists()
    assert not (tmp_path / "cells" / "meso__FS.json").exists()
    assert not list((tmp_path / "cells").glob("*.tmp"))
    # second run: only the failed cell is computed again
    calls.clear()
    rows, failed = H.run_cells(cells, _fn(calls), tmp_path, progress=False)
    assert calls == ["meso__FS"] and failed == []
    assert [r["cached"] for r in rows] == [True, True, False]
    # --rerun recomputes everything
    calls.clear()
    H.run_cells(cells, _fn(calls), tmp_path, rerun=True, progress=False)
    assert len(calls) == 3


def test_corrupt_cell_file_is_recomputed(tmp_path):
    cell = H.Cell(("a", "b"))
    H.cell_path(tmp_path, cell).parent.mkdir(parents=True)
    H.cell_path(tmp_path, cell).write_text("{not json")
    calls: list[str] = []
    rows, _ = H.run_cells([cell], _fn(calls), tmp_path, progress=False)
    assert calls == ["a__b"] and rows[0]["ours"] == 4.0
    assert json.loads(H.cell_path(tmp_path, cell).read_text())["cell"] == ["a", "b"]


def test_duplicate_cell_ids_rejected(tmp_path):
    with pytest.raises(H.ExperimentError, match="duplicate"):
        H.run_cells([H.Cell(("a",)), H.Cell(("a",))], _fn([]), tmp_path, progress=False)


def test_cell_id_is_filesystem_safe():
    assert H.Cell(("transfer", "FS->{DF, NT}")).id == "transfer__FS--DF-NT-"


def test_average_and_paper_columns():
    rows = [{"section": "transfer", "row": "clrnet", "col": c, "metric": "f1", "ours": v}
            for c, v in [("FS", 90.0), ("DF", 80.0), ("DFD", 70.0), ("F2F", 60.0), ("NT", 50.0)]]
    rows = H.add_average(rows, ["FS", "DF", "DFD", "F2F", "NT"])
    avg = [r for r in rows if r["col"] == "Avg."]
    assert len(avg) == 1 and avg[0]["ours"] == pytest.approx(70.0)
    rows = H.attach_paper(rows, "clrnet_table5")
    by_col = {r["col"]: r["paper"] for r in rows}
    assert by_col["DF"] == 97.23 and by_col["Avg."] == 97.57
    md = H.markdown_table(rows, title="T", citation="C")
    assert "| clrnet | **90.00** (98.70)" in md
    assert "**70.00** (97.57)" in md


def test_paper_tables_are_consistent():
    # the printed averages of CLRNet Table 5 equal the mean of the five columns (to rounding)
    for section in ("merge", "transfer"):
        for row in ("clrnet", "xception", "cnn_lstm"):
            vals = [paper_value("clrnet_table5", section, row, c)
                    for c in ("FS", "DF", "DFD", "F2F", "NT")]
            assert sum(vals) / 5 == pytest.approx(
                paper_value("clrnet_table5", section, row, "Avg."), abs=0.02)
    assert math.isnan(paper_value("clrnet_table5", "merge", "clrnet", "nope"))
    assert paper_value("masi_table2", "c23 video", "two_branch", "AUC") == 99.12
    assert all(len(t) > 0 for t in PAPER_TABLES.values())


def _args(**kw):
    base = dict(data=None, quick=False, out=None, work=None, seed=0, epochs=None, rerun=False,
                no_progress=True)
    base.update(kw)
    return argparse.Namespace(**base)


def test_context_quick_without_data_and_titles(tmp_path):
    ctx = H.resolve_context("table5_transfer", "CLRNet Table 5", _args())
    assert ctx.mini and ctx.profile.name == "quick"
    assert H.QUICK_TITLE in ctx.title and "not FaceForensics++" in ctx.title
    assert ctx.out.parts[-3:] == ("results", "quick", "table5_transfer")
    full = H.resolve_context("t", "T", _args(data=tmp_path))
    assert full.profile.name == "full" and "full protocol" in full.title
    assert full.out.parts[-2] == "full"
    quick_user = H.resolve_context("t", "T", _args(data=tmp_path, quick=True))
    assert quick_user.out.parts[-2] == "quick-userdata" and "quick profile" in quick_user.title
    with pytest.raises(H.ExperimentError, match="no such file"):
        H.resolve_context("t", "T", _args(data=tmp_path / "missing"))
    one = H.resolve_context("t", "T", _args(epochs=1)).profile
    assert one.epochs == one.transfer_epochs == one.tb_epochs == 1  # --epochs covers both papers
    assert ctx.profile.tb_epochs * ctx.profile.tb_steps_per_epoch >= 200  # enough two-branch steps


def test_finish_table_writes_all_outputs(tmp_path, monkeypatch):
    recorded = {}

    def fake_record(out: Path, args, extra):
        recorded.update(extra)
        H.write_json_atomic(out / "args.json", dict(args))

    monkeypatch.setattr(H, "write_run_record", fake_record)
    ctx = H.resolve_context("t5", "CLRNet Table 5", _args(out=tmp_path / "o"))
    rows = [{"section": "merge", "row": "clrnet", "col": c, "metric": "f1", "ours": 50.0 + i}
            for i, c in enumerate(["FS", "DF"])]
    md = H.finish_table(ctx, rows, paper_table="clrnet_table5", failed=["x__y"])
    out = tmp_path / "o"
    for name in ("results.csv", "results.md", "results.png", "args.json"):
        assert (out / name).exists(), name
    assert "x__y" in md and H.MINI_LABEL in (out / "results.md").read_text()
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("section,row,col,metric,ours,paper")
    assert recorded["mini_benchmark"] is True and recorded["failed_cells"] == ["x__y"]


def test_main_reports_one_line_error(tmp_path, capsys):
    parser = H.base_parser("Doc.")

    def run(ctx):
        raise H.ExperimentError(f"{ctx.out}: nothing here")

    code = H.main("t", "T", parser, run, paper_table=None,
                  argv=["--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "nothing here" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_trained_reuses_finished_model(tmp_path):
    calls = []

    def train():
        calls.append(1)
        model = tmp_path / "run" / "inner" / "scorer.keras"
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_text("x")
        return model

    run_dir = tmp_path / "run"
    first = H.trained(run_dir, train)
    assert first.name == "scorer.keras" and (run_dir / "done.json").exists()
    assert H.trained(run_dir, train) == first and len(calls) == 1
    with pytest.raises(H.ExperimentError, match="without a model file"):
        H.trained(tmp_path / "other", lambda: object())


class _ChildCtx:
    """Stands in for a RunContext: each cell's 'child process' is a small Python command."""

    def __init__(self, out: Path, only: str | None = None, fail: str = ""):
        self.out, self.only_cell, self.fail = out, only, fail

    def child_command(self, cell: H.Cell) -> list[str] | None:
        import sys

        if self.only_cell:
            return None
        if cell.id == self.fail:
            return [sys.executable, "-c", "raise SystemExit(3)"]
        record = {"cell": list(cell.key), "params": {}, "seconds": 0.1,
                  "rows": [{"row": cell.id, "ours": 1.0, "pid": "child"}]}
        code = (f"from experiments.harness import write_json_atomic; "
                f"write_json_atomic({str(H.cell_path(self.out, cell))!r}, {record!r})")
        return [sys.executable, "-c", code]


def test_run_cells_in_child_processes(tmp_path, capsys):
    cells = [H.Cell(("a",)), H.Cell(("b",)), H.Cell(("c",))]

    def in_process(cell):
        return [{"row": cell.id, "ours": 2.0, "pid": "parent"}]

    rows, failed = H.run_cells(cells, in_process, tmp_path, progress=False,
                               ctx=_ChildCtx(tmp_path, fail="b"))
    assert failed == ["b"] and [r["pid"] for r in rows] == ["child", "child"]
    assert "cell b: its child process ended with exit code 3" in capsys.readouterr().err
    # a re-run only computes the failed cell; a child (only_cell) computes just its own cell
    rows, failed = H.run_cells(cells, in_process, tmp_path, progress=False,
                               ctx=_ChildCtx(tmp_path, only="b"))
    assert failed == [] and [(r["cell"], r["pid"], r["cached"]) for r in rows] == [
        ("b", "parent", False)]
    rows, _ = H.run_cells(cells, in_process, tmp_path, progress=False, ctx=_ChildCtx(tmp_path))
    assert [r["cached"] for r in rows] == [True, True, True]


def test_child_command_repeats_the_script_arguments(tmp_path):
    args = argparse.Namespace(data=None, quick=False, out=tmp_path, work=None, seed=0, epochs=None,
                              rerun=False, workers=1, no_progress=False, in_process=False,
                              only_cell=None)
    ctx = H.resolve_context("table5_transfer", "T", args)
    ctx.argv, ctx.script = ["--out", str(tmp_path)], Path("experiments/table5_transfer.py")
    cmd = ctx.child_command(H.Cell(("merge", "clrnet")))
    assert cmd[1:] == ["experiments/table5_transfer.py", "--out", str(tmp_path), "--only-cell",
                       "merge__clrnet"]
    args.in_process = True
    assert ctx.child_command(H.Cell(("merge", "clrnet"))) is None


def test_unknown_only_cell_is_a_one_line_error(tmp_path):
    with pytest.raises(H.ExperimentError, match="--only-cell zz: no such cell"):
        H.run_cells([H.Cell(("a",))], lambda c: [], tmp_path, progress=False,
                    ctx=_ChildCtx(tmp_path, only="zz"))
