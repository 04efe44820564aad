"""The table scripts' shared modules: resumable cells (experiments.cells), result rendering
(experiments.results) and the command line / run context (experiments.context)."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

import pytest

from experiments import cells as CL
from experiments import context as C
from experiments import results as RS
from experiments.paper_tables import PAPER_TABLES, paper_value


def _fn(calls: list[str], fail: set[str] = frozenset()):
    def fn(cell: CL.Cell):
        calls.append(cell.id)
        if cell.id in fail:
            raise RuntimeError("boom\nsecond line")
        return [{"section": "s", "row": cell.key[0], "col": cell.key[1], "metric": "f1",
                 "ours": float(len(cell.id))}]

    return fn


# ------------------------------------------------------------------------------- cells
def test_finished_cells_are_not_recomputed(tmp_path):
    cells = [CL.Cell(("clrnet", "DF")), CL.Cell(("meso", "DF")), CL.Cell(("meso", "FS"))]
    calls: list[str] = []
    rows, failed = CL.run_cells(cells, _fn(calls, {"meso__FS"}), tmp_path, progress=False)
    assert failed == ["meso__FS"]
    assert calls == ["clrnet__DF", "meso__DF", "meso__FS"]
    assert len(rows) == 2 and not any(r["cached"] for r in rows)
    assert (tmp_path / "cells" / "clrnet__DF.json").exists()
    assert not (tmp_path / "cells" / "meso__FS.json").exists()
    assert not list((tmp_path / "cells").glob("*.tmp"))
    calls.clear()
    rows, failed = CL.run_cells(cells, _fn(calls), tmp_path, progress=False)
    assert calls == ["meso__FS"] and failed == []
    assert [r["cached"] for r in rows] == [True, True, False]
    calls.clear()
    CL.run_cells(cells, _fn(calls), tmp_path, rerun=True, progress=False)
    assert len(calls) == 3


def test_a_cell_whose_settings_changed_is_recomputed(tmp_path, capsys):
    calls: list[str] = []
    CL.run_cells([CL.Cell(("a", "b"), {"epochs": 3})], _fn(calls), tmp_path, progress=False)
    CL.run_cells([CL.Cell(("a", "b"), {"epochs": 3})], _fn(calls), tmp_path, progress=False)
    assert calls == ["a__b"]
    rows, _ = CL.run_cells([CL.Cell(("a", "b"), {"epochs": 5})], _fn(calls), tmp_path,
                           progress=False)
    assert calls == ["a__b", "a__b"] and rows[0]["cached"] is False
    assert "settings changed" in capsys.readouterr().err
    stored = json.loads(CL.cell_path(tmp_path, CL.Cell(("a", "b"))).read_text())
    assert stored["params"] == {"epochs": 5}


def test_corrupt_cell_file_is_recomputed(tmp_path):
    cell = CL.Cell(("a", "b"))
    CL.cell_path(tmp_path, cell).parent.mkdir(parents=True)
    CL.cell_path(tmp_path, cell).write_text("{not json")
    calls: list[str] = []
    rows, _ = CL.run_cells([cell], _fn(calls), tmp_path, progress=False)
    assert calls == ["a__b"] and rows[0]["ours"] == 4.0


def test_duplicate_cell_ids_rejected(tmp_path):
    with pytest.raises(CL.ExperimentError, match="duplicate"):
        CL.run_cells([CL.Cell(("a",)), CL.Cell(("a",))], _fn([]), tmp_path, progress=False)


def test_cell_id_is_the_protocol_id():
    from experiments.protocol import cell_id

    assert CL.Cell(("transfer", "FS->{DF, NT}")).id == "transfer__FS--DF-NT-" == cell_id(
        ("transfer", "FS->{DF, NT}"))


class _ChildCtx:
    """Stands in for a RunContext: each cell's 'child process' is a small Python command."""

    def __init__(self, out: Path, only: str | None = None, fail: str = ""):
        self.out, self.only_cell, self.fail = out, only, fail

    def child_env(self):
        return None

    def child_command(self, cell: CL.Cell) -> list[str] | None:
        if self.only_cell:
            return None
        if cell.id == self.fail:
            return [sys.executable, "-c", "raise SystemExit(3)"]
        record = {"cell": list(cell.key), "params": {}, "seconds": 0.1,
                  "rows": [{"row": cell.id, "ours": 1.0, "pid": "child"}]}
        code = (f"from data_prep.fileio import write_json_atomic; "
                f"write_json_atomic({str(CL.cell_path(self.out, cell))!r}, {record!r})")
        return [sys.executable, "-c", code]


def test_run_cells_in_child_processes(tmp_path, capsys):
    cells = [CL.Cell(("a",)), CL.Cell(("b",)), CL.Cell(("c",))]

    def in_process(cell):
        return [{"row": cell.id, "ours": 2.0, "pid": "parent"}]

    rows, failed = CL.run_cells(cells, in_process, tmp_path, progress=False,
                                ctx=_ChildCtx(tmp_path, fail="b"))
    assert failed == ["b"] and [r["pid"] for r in rows] == ["child", "child"]
    assert "cell b: its child process ended with exit code 3" in capsys.readouterr().err
    rows, failed = CL.run_cells(cells, in_process, tmp_path, progress=False,
                                ctx=_ChildCtx(tmp_path, only="b"))
    assert failed == [] and [(r["cell"], r["pid"], r["cached"]) for r in rows] == [
        ("b", "parent", False)]
    rows, _ = CL.run_cells(cells, in_process, tmp_path, progress=False, ctx=_ChildCtx(tmp_path))
    assert [r["cached"] for r in rows] == [True, True, True]


def test_unknown_only_cell_is_a_one_line_error(tmp_path):
    with pytest.raises(CL.ExperimentError, match="--only-cell zz: no such cell"):
        CL.run_cells([CL.Cell(("a",))], lambda c: [], tmp_path, progress=False,
                     ctx=_ChildCtx(tmp_path, only="zz"))


class _TalkingChildCtx(_ChildCtx):
    """Children that print Keras-like lines on stdout and stderr before writing their result."""

    def child_command(self, cell: CL.Cell) -> list[str] | None:
        if cell.id == self.fail:
            return [sys.executable, "-c",
                    "import sys; print('Epoch 1/3 loss 0.69'); "
                    "print('error: cell b: ValueError: no clips', file=sys.stderr); "
                    "raise SystemExit(1)"]
        record = {"cell": list(cell.key), "params": {}, "seconds": 0.1, "rows": [
            {"col": "FS", "ours": 90.0, "auc": 0.98, "auc_lo": 0.9, "auc_hi": 1.0,
             "called_fake": 0.5},
            {"col": "DF", "ours": 66.7, "auc": 0.5, "auc_lo": 0.4, "auc_hi": 0.6,
             "called_fake": 1.0}]}
        code = ("import sys; print('Epoch 1/3 - 2s - loss: 0.6931'); "
                "print('W0000 tensorflow warning', file=sys.stderr); "
                "from data_prep.fileio import write_json_atomic; "
                f"write_json_atomic({str(CL.cell_path(self.out, cell))!r}, {record!r})")
        return [sys.executable, "-c", code]


def test_child_output_goes_to_the_cell_log_and_one_line_per_cell_to_the_terminal(
        tmp_path, capfd):
    cells = [CL.Cell(("merge", "xception")), CL.Cell(("b",))]
    rows, failed = CL.run_cells(cells, lambda c: [], tmp_path, progress=False,
                                ctx=_TalkingChildCtx(tmp_path, fail="b"))
    out, err = capfd.readouterr()
    assert failed == ["b"] and len(rows) == 2
    terminal = out + err
    assert "Epoch 1/3" not in terminal and "tensorflow warning" not in terminal
    log = CL.log_path(tmp_path, cells[0]).read_text()
    assert "Epoch 1/3 - 2s - loss: 0.6931" in log and "W0000 tensorflow warning" in log
    (line,) = [x for x in err.splitlines() if x.startswith("merge__xception")]
    assert line.startswith("merge__xception  AUC FS 0.98  DF 0.50 (all fake)  (")
    assert line.endswith(" s)")
    (error,) = [x for x in err.splitlines() if x.startswith("error: cell b:")]
    assert "exit code 1" in error and "ValueError: no clips" in error
    assert str(CL.log_path(tmp_path, cells[1])) in error
    assert "Epoch 1/3 loss 0.69" in CL.log_path(tmp_path, cells[1]).read_text()
    CL.run_cells(cells[:1], lambda c: [], tmp_path, progress=False, ctx=_TalkingChildCtx(tmp_path))
    assert "merge__xception  AUC FS 0.98  DF 0.50 (all fake)  (cached)" in capfd.readouterr().err


def test_in_process_cell_output_goes_to_its_log(tmp_path, capsys):
    def fn(cell):
        print("Epoch 1/1 loss 0.5")
        print("a warning", file=sys.stderr)
        return [{"col": "X", "ours": 1.0}]

    CL.run_cells([CL.Cell(("a",))], fn, tmp_path, progress=False)
    out, err = capsys.readouterr()
    assert "Epoch" not in out + err and "a warning" not in out + err
    assert "a  X 1.00  (" in err
    log = CL.log_path(tmp_path, CL.Cell(("a",))).read_text()
    assert "Epoch 1/1 loss 0.5" in log and "a warning" in log


def test_running_child_shows_its_last_log_line_on_the_bar(tmp_path):
    class Bar:
        disable, posts = False, []

        def set_postfix_str(self, text):
            self.posts.append(text)

    cell, bar = CL.Cell(("a",)), Bar()
    cmd = [sys.executable, "-c", "import time; print('Epoch 2/3'); time.sleep(2.5)"]
    pool = CL.ChildPool(None, 1, bar)
    pool.start(cell, cmd, CL.log_path(tmp_path, cell), CL.cell_path(tmp_path, cell))
    ((child, code),) = pool.wait_any()
    assert code == 0 and not pool.succeeded(child, code)  # no result file written
    assert any(p.startswith("a ") and p.endswith(": Epoch 2/3") for p in bar.posts)
    assert child.peak_rss_mb > 1.0  # a Python interpreter's memory was sampled


class _ParallelCtx:
    """Children that sleep, then write their result; a preparation child writes a marker."""

    only_cell = None
    cache: dict = {}

    def __init__(self, out, jobs):
        self.out, self.jobs, self.cache = out, jobs, {}

    def prepare_command(self):
        code = f"import pathlib, time; time.sleep(0.5); pathlib.Path({str(self.out)!r}, 'prep').write_text('x')"
        return [sys.executable, "-c", code]

    def child_command(self, cell):
        path = CL.cell_path(self.out, cell)
        code = (
            "import json, pathlib, time, sys\n"
            f"assert pathlib.Path({str(self.out)!r}, 'prep').exists(), 'not prepared'\n"
            f"t0 = time.time(); time.sleep(2.0)\n"
            f"p = pathlib.Path({str(path)!r}); p.parent.mkdir(parents=True, exist_ok=True)\n"
            f"p.write_text(json.dumps({{'cell': {list(cell.key)!r}, 'params': {{}}, "
            f"'rows': [{{'col': 'X', 'ours': 1.0, 't0': t0}}]}}))\n")
        return [sys.executable, "-c", code]

    def child_env(self):
        return None

    def cell_cost(self, cell):
        return {"a": 1, "b": 4, "c": 3, "d": 2}[cell.key[0]]


def test_cells_run_in_parallel_children_after_the_preparation(tmp_path):
    cells = [CL.Cell((k,)) for k in "abcd"]
    ctx = _ParallelCtx(tmp_path, jobs=2)
    rows, failed = CL.run_cells(cells, lambda c: [], tmp_path, progress=False, ctx=ctx)
    assert not failed and [r["cell"] for r in rows] == ["a", "b", "c", "d"]  # table order
    starts = sorted(r["t0"] for r in rows)
    assert starts[1] - starts[0] < 1.5 and starts[2] - starts[0] > 1.5  # two at a time
    first_two = {r["cell"] for r in rows if r["t0"] < starts[0] + 1.5}
    assert first_two == {"b", "c"}  # the costliest cells start first
    record = json.loads(CL.cell_path(tmp_path, cells[0]).read_text())
    assert record["child_peak_rss_mb"] > 0 and ctx.cache["children_peak_rss_mb"] > 0
    assert (tmp_path / "cells" / "prepare.log").exists()


class _GroupCtx(_ParallelCtx):
    """Cells a, b, c share one child (group "g"), which writes their results one after the
    other and none for b; d has a child of its own."""

    def child_group(self, cell):
        return "g" if cell.key[0] in "abc" else None

    def group_command(self, cells):
        lines = ["import json, pathlib, time"]
        for cell in cells:
            path = CL.cell_path(self.out, cell)
            if cell.key[0] == "b":  # as a real child: its error line in its own log
                log = CL.log_path(self.out, cell)
                lines.append(f"pathlib.Path({str(log)!r}).write_text('error: cell b: "
                             "ValueError: no clips')")
                continue
            lines += ["time.sleep(0.6)",
                      f"p = pathlib.Path({str(path)!r}); p.parent.mkdir(parents=True, exist_ok=True)",
                      f"p.write_text(json.dumps({{'cell': {list(cell.key)!r}, 'params': {{}}, "
                      f"'rows': [{{'col': 'X', 'ours': 1.0, 't1': time.time()}}]}}))"]
        return [sys.executable, "-c", "\n".join(lines)]


def test_a_group_of_cells_runs_in_one_child_and_each_cell_is_reported_when_done(
        tmp_path, capsys):
    import time

    cells = [CL.Cell((k,)) for k in "abcd"]
    ctx = _GroupCtx(tmp_path, jobs=2)
    assert [[c.id for c in g] for g in CL._child_groups(cells, ctx, 2)] == [["a", "b", "c"], ["d"]]
    t0 = time.time()
    rows, failed = CL.run_cells(cells, lambda c: [], tmp_path, progress=False, ctx=ctx)
    err = capsys.readouterr().err
    assert failed == ["b"] and [r["cell"] for r in rows] == ["a", "c", "d"]
    (error,) = [x for x in err.splitlines() if x.startswith("error: cell b:")]
    assert "ValueError: no clips" in error  # the child's line, from the group's log
    a_line = [i for i, x in enumerate(err.splitlines()) if x.startswith("a  X 1.00")]
    assert len(a_line) == 1  # one line per cell of the group
    by_cell = {r["cell"]: r for r in rows}
    assert by_cell["c"]["t1"] - by_cell["a"]["t1"] > 0.5 > by_cell["a"]["t1"] - t0 - 1.5


class _MemoryCtx(_ParallelCtx):
    """Cells b and c each need 3 GB, a and d 1 GB, under a 4 GB budget."""

    memory_budget_mb = 4096.0

    def child_memory_mb(self, cells):
        return 3072.0 if cells[0].key[0] in "bc" else 1024.0


def test_children_that_would_exceed_the_memory_budget_together_do_not_overlap(tmp_path):
    cells = [CL.Cell((k,)) for k in "abcd"]
    rows, failed = CL.run_cells(cells, lambda c: [], tmp_path, progress=False,
                                ctx=_MemoryCtx(tmp_path, jobs=2))
    assert not failed
    t0 = {r["cell"]: r["t0"] for r in rows}  # each child sleeps 2 s after its start
    assert abs(t0["c"] - t0["b"]) > 1.5  # the two 3 GB children never ran together
    assert min(abs(t0["a"] - t0["b"]), abs(t0["d"] - t0["b"])) < 1.0  # a 1 GB one beside b


class _SoloCtx(_MemoryCtx):
    """Cells b and c need 3.5 GB each, so neither can run beside anything under 4 GB."""

    def child_memory_mb(self, cells):
        return 3584.0 if cells[0].key[0] in "bc" else 1024.0

    def child_env(self):
        return {**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}

    def solo_env(self):
        return {**os.environ, "TF_NUM_INTRAOP_THREADS": "2"}


def test_a_child_that_runs_alone_gets_all_the_cores(tmp_path):
    cells = [CL.Cell((k,)) for k in "abcd"]
    rows, failed = CL.run_cells(cells, lambda c: [], tmp_path, progress=False,
                                ctx=_SoloCtx(tmp_path, jobs=2))
    assert not failed and len(rows) == 4
    threads = {c.id: re.search(r"^# started .* with (\d) threads$",
                               CL.log_path(tmp_path, c).read_text(), re.M).group(1)
               for c in cells}
    # b and c (3.5 GB) ran alone; a and d (1 GB) ran beside each other, or d was the last
    assert threads["b"] == threads["c"] == "2" and threads["a"] == "1", threads


def test_a_child_of_several_cells_computes_them_in_order_into_their_own_logs(tmp_path):
    import subprocess
    import textwrap

    code = textwrap.dedent(f"""
        from experiments import cells as CL

        class Ctx:
            only_cell = "b,c,a"

        def fn(cell):
            print(f"training {{cell.id}}", flush=True)
            if cell.id == "c":
                raise ValueError("no clips")
            return [{{"col": "X", "ours": 1.0}}]

        cells = [CL.Cell((k,)) for k in "abc"]
        rows, failed = CL.run_cells(cells, fn, {str(tmp_path)!r}, progress=False, ctx=Ctx())
        print("rows", [r["cell"] for r in rows], "failed", failed)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(C.PACKAGE_ROOT)}, check=True)
    assert "training b" in out.stdout and "training a" not in out.stdout + out.stderr
    log_a, log_c = (CL.log_path(tmp_path, CL.Cell((k,))).read_text() for k in "ac")
    assert log_c.startswith("# cell c: computed after b") and "training c" in log_c
    assert "error: cell c: ValueError: no clips" in log_c
    assert "training a" in log_a and "rows ['b', 'a'] failed ['c']" in log_a
    assert CL.cell_path(tmp_path, CL.Cell(("a",))).exists()
    assert not CL.cell_path(tmp_path, CL.Cell(("c",))).exists()


def test_last_line_skips_the_header_and_carriage_returns(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("# cell x: cmd\n# started now\n")
    assert CL.last_line(log) == ""
    log.write_text("# cell x: cmd\nEpoch 1/2\r 3/9 steps\r 9/9 steps\n\n")
    assert CL.last_line(log) == "9/9 steps"
    assert CL.last_line(tmp_path / "missing.log") == ""
    log.write_text("mini benchmark: 4/46 jobs\n"
                   "I0000 00:00:1796148070.946404   13476 cudart_stub.cc:31] Could not find cuda\n"
                   "E0000 00:00:1796148076.814361   13476 cuda_platform.cc:52] failed call to "
                   "cuInit: INTERNAL\n")
    assert CL.last_line(log) == "mini benchmark: 4/46 jobs"  # TensorFlow's start-up chatter
    log.write_text("Epoch 1/2\nE0000 00:00:1.0 1 op.cc:1] Invalid argument: bad shape\n")
    assert CL.last_line(log).endswith("bad shape")  # a real native error stays visible


# ------------------------------------------------------------------------------- results
def test_average_and_paper_columns():
    rows = [{"section": "transfer", "row": "clrnet", "col": c, "metric": "f1", "ours": v}
            for c, v in [("FS", 90.0), ("DF", 80.0), ("DFD", 70.0), ("F2F", 60.0), ("NT", 50.0)]]
    rows = RS.add_average(rows, ["FS", "DF", "DFD", "F2F", "NT"])
    avg = [r for r in rows if r["col"] == "Avg."]
    assert len(avg) == 1 and avg[0]["ours"] == pytest.approx(70.0)
    rows = RS.attach_paper(rows, "clrnet_table5")
    by_col = {r["col"]: r["paper"] for r in rows}
    assert by_col["DF"] == 97.23 and by_col["Avg."] == 97.57
    md = RS.markdown_table(rows, title="T", citation="C")
    assert "| clrnet | **90.00** (98.70)" in md
    assert "**70.00** (97.57)" in md


def _auc_rows():
    rows = [{"section": "transfer", "row": "clrnet", "col": c, "metric": "F1 %", "ours": f1,
             "auc": a, "auc_lo": a - 0.1, "auc_hi": min(1.0, a + 0.05), "called_fake": cf}
            for c, f1, a, cf in [("FS", 90.0, 0.91, 0.5), ("DF", 66.67, 0.55, 1.0)]]
    return RS.attach_paper(RS.add_average(rows, ["FS", "DF"]), "clrnet_table5")


def test_average_column_has_the_mean_auc_and_counts_one_class_cells():
    avg = [r for r in _auc_rows() if r["col"] == "Avg."]
    assert len(avg) == 1 and avg[0]["auc"] == pytest.approx(0.73)
    assert avg[0]["ours"] == pytest.approx(78.335) and avg[0]["n_one_class"] == 1
    assert "auc_lo" not in avg[0]  # a mean of intervals is not an interval


def test_markdown_cells_show_f1_paper_and_auc_with_interval_and_mark_one_class():
    md = RS.markdown_table(_auc_rows(), title="T", citation="C")
    assert "| clrnet | **90.00** (98.70) · AUC 0.91 [0.81, 0.96] |" in md
    assert "**66.67** (97.23) · AUC 0.55 [0.45, 0.60] †" in md
    assert "**78.34** (—)" not in md and "· AUC 0.73 mean (1†) |" in md
    assert "clip AUC [95 % bootstrap interval over test videos]" in md
    assert "†: every test sample was called one class" in md
    rows = [r for r in _auc_rows() if r["col"] == "FS"]
    assert "†" not in RS.markdown_table(rows, title="T")
    assert RS.one_class({"called_fake": 0.0}) and not RS.one_class({"called_fake": 0.3})
    assert not RS.one_class({"called_fake": math.nan}) and not RS.one_class({})


def test_csv_keeps_every_field(tmp_path):
    RS.write_csv(_auc_rows(), tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["section", "row", "col", "metric", "ours", "paper"]
    assert {"auc", "auc_lo", "auc_hi", "called_fake", "n_one_class"} <= set(header)


def test_cell_summary_line():
    rows = [r for r in _auc_rows() if r["col"] != "Avg."]
    assert RS.cell_summary("merge__xception", rows, 312.4) == (
        "merge__xception  AUC FS 0.91  DF 0.55 (all fake)  (312 s)")
    assert RS.cell_summary("c", [{"col": "AUC", "ours": 97.5, "called_fake": 0.0}],
                           cached=True) == "c  AUC 97.50 (all real)  (cached)"


def test_f1_rows_per_sample_with_macro_and_video_f1():
    import pandas as pd

    df = pd.DataFrame({"video_id": ["r1", "r1", "f1", "f1"], "method": ["original"] * 2 +
                       ["FaceSwap"] * 2, "clip_index": [0, 1, 0, 1], "label": [0, 0, 1, 1],
                       "score": [0.2, 0.7, 0.9, 0.6]})
    (row,) = RS.f1_rows("merge", "clrnet", {"FS": df})
    # per sample: TP 2, FP 1, FN 0 -> F1 fake 0.8; real: TN 1, FN 0, FP 1 -> 2/3
    assert row["ours"] == pytest.approx(80.0) and row["n_samples"] == 4
    assert row["f1_macro"] == pytest.approx(100 * (0.8 + 2 / 3) / 2)
    assert row["f1_video"] == pytest.approx(100.0) and row["n_videos"] == 2
    assert row["called_fake"] == pytest.approx(0.75)
    # one video per class: every resample is the same pair of videos, so the interval is a point
    assert row["auc_lo"] == pytest.approx(row["auc"]) == pytest.approx(row["auc_hi"])


def test_paper_tables_are_consistent():
    for section in ("merge", "transfer"):
        for row in ("clrnet", "xception", "cnn_lstm"):
            vals = [paper_value("clrnet_table5", section, row, c)
                    for c in ("FS", "DF", "DFD", "F2F", "NT")]
            assert sum(vals) / 5 == pytest.approx(
                paper_value("clrnet_table5", section, row, "Avg."), abs=0.02)
    assert math.isnan(paper_value("clrnet_table5", "merge", "clrnet", "nope"))
    assert paper_value("masi_table2", "c23 video", "two_branch", "AUC") == 99.12
    assert all(len(t) > 0 for t in PAPER_TABLES.values())


# ------------------------------------------------------------------------------- context
def _args(**kw):
    base = dict(data=None, profile=None, quick=False, out=None, work=None, seed=0, epochs=None,
                rerun=False, no_progress=True, max_steps=None, max_batch=None, in_process=False,
                only_cell=None, show_config=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_context_profiles_titles_and_folders(tmp_path):
    ctx = C.resolve_context("table5_transfer", _args())
    assert ctx.mini and ctx.profile == "quick" and len(ctx.cells) == 12
    assert C.QUICK_TITLE in ctx.title and "not FaceForensics++" in ctx.title
    assert ctx.out.parts[-3:] == ("results", "quick", "table5_transfer")
    full = C.resolve_context("table5_transfer", _args(data=tmp_path))
    assert full.profile == "full" and "full protocol" in full.title
    assert full.out.parts[-2] == "full"
    assert full.cells["transfer__clrnet"]["epochs"] == 150  # the protocol's value
    quick_user = C.resolve_context("table5_transfer", _args(data=tmp_path, quick=True))
    assert quick_user.out.parts[-2] == "quick-userdata" and "quick profile" in quick_user.title
    also = C.resolve_context("table5_transfer", _args(data=tmp_path, profile="quick"))
    assert also.profile == "quick"
    with pytest.raises(CL.ExperimentError, match="no such file"):
        C.resolve_context("table5_transfer", _args(data=tmp_path / "missing"))
    with pytest.raises(CL.ExperimentError, match="needs --data"):
        C.resolve_context("table5_transfer", _args(profile="full"))
    one = C.resolve_context("table5_transfer", _args(epochs=1)).cells["transfer__clrnet"]
    assert one["epochs"] == one["source_epochs"] == 1  # --epochs covers every phase


def test_smoke_caps_are_titled_recorded_and_kept_apart(tmp_path):
    ctx = C.resolve_context("table5_transfer", _args(data=tmp_path, max_steps=2, max_batch=3))
    assert "smoke run" in ctx.title and "at most 2 step" in ctx.title
    assert ctx.out.parts[-2] == "full-smoke"  # never mixed with real full results
    assert ctx.cells["merge__clrnet"]["batch_size"] == 40  # settings stay the protocol's
    assert ctx.smoke.batch(40) == 3 and ctx.smoke.epochs(150) == 1 and ctx.smoke.steps(None) == 2
    _, extra = C.run_record(ctx, [], [], None)
    assert extra["smoke"] == {"max_steps": 2, "max_batch": 3}
    assert extra["cells"]["merge__clrnet"]["input_size"] == 128
    with pytest.raises(CL.ExperimentError, match="max-steps"):
        C.resolve_context("table5_transfer", _args(max_steps=0))


def test_finish_table_writes_outputs_and_the_resolved_cells(tmp_path, monkeypatch):
    recorded = {}

    def fake_record(out: Path, args, extra):
        recorded.update(extra)
        C.write_json_atomic(out / "args.json", dict(args))

    monkeypatch.setattr(C, "write_run_record", fake_record)
    ctx = C.resolve_context("table5_transfer", _args(out=tmp_path / "o"))
    ctx.note("a note")
    rows = [{"section": "merge", "row": "clrnet", "col": c, "metric": "f1", "ours": 50.0 + i}
            for i, c in enumerate(["FS", "DF"])]
    md = C.finish_table(ctx, rows, paper_table="clrnet_table5", failed=["x__y"])
    out = tmp_path / "o"
    for name in ("results.csv", "results.md", "results.png", "args.json"):
        assert (out / name).exists(), name
    assert "x__y" in md and C.P.MINI_LABEL in (out / "results.md").read_text()
    assert "Note: a note" in md
    assert (out / "results.csv").read_text().splitlines()[0].startswith(
        "section,row,col,metric,ours,paper")
    assert recorded["mini_benchmark"] is True and recorded["failed_cells"] == ["x__y"]
    assert recorded["profile"] == "quick"
    assert recorded["cells"]["merge__clrnet"] == ctx.cells["merge__clrnet"]  # the resolved cell
    assert recorded["claims"] == []


def test_child_processes_keep_per_epoch_lines_for_their_log(tmp_path):
    assert not C.resolve_context("table5_transfer", _args(out=tmp_path)).progress
    child = C.resolve_context("table5_transfer", _args(out=tmp_path, only_cell="merge__clrnet"))
    assert child.progress  # its output is the cell's log, even under --no-progress


def test_main_reports_one_line_error(tmp_path, capsys):
    parser = C.base_parser("Doc.")

    def run(ctx):
        raise CL.ExperimentError(f"{ctx.out}: nothing here")

    code = C.main("table5_transfer", parser, run, paper_table=None,
                  argv=["--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "nothing here" in err[-1]


def test_a_started_child_skips_teardown_with_its_exit_code(tmp_path, monkeypatch):
    """``--only-cell`` returns its code, unless the parent started it (``CHILD_ENV``): then the
    process ends with ``os._exit`` and the same code."""

    class Exited(BaseException):
        pass

    exits = []

    def fake_exit(code):
        exits.append(code)
        raise Exited

    monkeypatch.setattr(os, "_exit", fake_exit)
    argv = ["--out", str(tmp_path), "--only-cell", "merge__clrnet", "--no-progress"]
    run = lambda ctx: ([], ["merge__clrnet"])  # noqa: E731 - one failed cell
    assert C.main("table5_transfer", C.base_parser("Doc."), run, paper_table=None,
                  argv=argv) == 1
    assert exits == []
    monkeypatch.setenv(C.CHILD_ENV, "1")
    with pytest.raises(Exited):
        C.main("table5_transfer", C.base_parser("Doc."), run, paper_table=None, argv=argv)
    assert exits == [1]


def test_child_command_runs_the_module_with_the_package_on_the_path(tmp_path, monkeypatch):
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    ctx = C.resolve_context("table5_transfer", _args(out=tmp_path), isolate=True)
    ctx.argv = ["--out", str(tmp_path)]
    cmd = ctx.child_command(CL.Cell(("merge", "clrnet")))
    assert cmd[1:] == ["-m", "experiments.table5_transfer", "--out", str(tmp_path),
                       "--only-cell", "merge__clrnet"]
    env = ctx.child_env()
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(C.PACKAGE_ROOT)
    assert env[C.CHILD_ENV] == "1" and C.CHILD_ENV not in os.environ
    assert (C.PACKAGE_ROOT / "experiments" / "__init__.py").is_file()
    ctx.args.jobs = 2
    assert ctx.child_env()["TF_NUM_INTRAOP_THREADS"] == str(max(1, C.cpu_count() // 2))
    assert ctx.solo_env()["OMP_NUM_THREADS"] == str(C.cpu_count())
    ctx.args.in_process = True
    assert ctx.child_command(CL.Cell(("merge", "clrnet"))) is None
    plain = C.resolve_context("table5_transfer", _args(out=tmp_path))  # isolate=False
    assert plain.child_command(CL.Cell(("merge", "clrnet"))) is None


def test_child_module_command_works_without_the_package_installed(tmp_path):
    """``python -m experiments.<table>`` from another folder, site-packages off (``-S``: no
    editable install), finds the package through ``child_env``'s PYTHONPATH alone."""
    import subprocess

    ctx = C.resolve_context("table5_transfer", _args(out=tmp_path), isolate=True)
    cmd = [sys.executable, "-S", "-m", "experiments.table5_transfer", "--show-config",
           "--models", "clrnet"]
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=bare, timeout=120)
    assert res.returncode != 0 and "No module named 'experiments'" in res.stderr
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                         env={**ctx.child_env(), "PATH": os.environ.get("PATH", "")}, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    assert [json.loads(line)["cell"] for line in res.stdout.splitlines()] == [
        "merge__clrnet", "transfer__clrnet"]


def test_a_training_is_reused_from_its_twin_folder_only_with_the_same_settings(tmp_path):
    from experiments.clrnet_runs import trained

    calls = []

    def train(folder):
        def run():
            calls.append(folder.name)
            (folder / "final.keras").write_bytes(b"m")
            return folder / "final.keras"
        return run

    single, source = tmp_path / "single-FS", tmp_path / "source-FS"
    for f in (single, source):
        f.mkdir()
    first = trained(single, train(single), {"lr": 1}, [source])
    assert trained(source, train(source), {"lr": 1}, [single]) == first  # reused
    assert trained(source, train(source), {"lr": 2}, [single]) == source / "final.keras"
    assert calls == ["single-FS", "source-FS"]  # other settings: trained again


@pytest.mark.parametrize("table", ["table3_in_domain", "table4_out_of_domain",
                                   "table5_transfer", "table6_open_domain"])
def test_prepare_cells_visits_every_domain_once_with_list_sources(table, monkeypatch):
    """Table 6's transfer cells name several source domains (a list): the data preparation
    takes each once (it raised ``unhashable type: 'list'`` before)."""
    from experiments import data as D
    from experiments.settings import resolved_cells

    seen = []
    monkeypatch.setattr(D, "clip_set", lambda ctx, cell, code: seen.append(code) or
                        Path(f"/x/{code}.csv"))
    cells = resolved_cells(table, "quick")
    done = D.prepare_cells(None, cells)
    wanted = {c for cell in cells for key in ("train_domains", "val_domains", "test_domains")
              for c in cell.get(key, ()) if c in D.DOMAINS}
    assert set(seen) >= wanted and set(done) == {Path(f"/x/{c}.csv") for c in set(seen)}
    sources = [cell.get("source_domain") for cell in cells if cell.get("source_domain")]
    assert all(c in seen for s in sources for c in ([s] if isinstance(s, str) else s))
