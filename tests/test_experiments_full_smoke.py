"""Every table script in its FULL profile, end to end, on a small FF++-layout fixture (CPU).

``experiments.smoke`` builds the fixture (mini benchmark generator, 14 videos per method of 20
frames, c23 + c40, renamed into the CLRNet split rule's ranges, plus Celeb-DF and DFDC-preview
layouts) and each script runs every protocol cell with the full-size models at their official
input sizes for one training step of one sample (``--max-steps 1 --max-batch 1``). Slow: hours
on 2 CPU cores (CLRNet-50 alone has 248 M parameters); opt in with ``--runslow``. The same run
is ``python -m experiments.smoke --out DIR`` (experiments/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from experiments import protocol as P
from experiments.smoke import TABLES, build_fixture, table_argv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    """Fixture and shared clips (``DEEPFAKE_REPRO_SMOKE_DIR`` keeps them between sessions)."""
    given = os.environ.get("DEEPFAKE_REPRO_SMOKE_DIR")
    root = Path(given) if given else tmp_path_factory.mktemp("smoke")
    return root, build_fixture(root / "fixture")


@pytest.mark.parametrize("table", TABLES)
def test_full_profile_smoke_run(table, smoke_dir, tmp_path):
    import importlib

    root, paths = smoke_dir
    mod = importlib.import_module(f"experiments.{table}")
    argv = table_argv(table, paths, tmp_path, root / "_prepared", max_steps=1, max_batch=1)
    try:
        assert mod.main(argv) == 0
        out = tmp_path / table
        md = (out / "results.md").read_text()
        assert "full protocol" in md and "smoke run" in md
        run = json.loads((out / "run.json").read_text())
        assert run["profile"] == "full" and run["smoke"] == {"max_steps": 1, "max_batch": 1}
        assert run["cells"] == {c["cell"]: c for c in P.cells(table, "full")}
        assert (out / "results.csv").read_text().count("\n") >= 2
    finally:
        shutil.rmtree(tmp_path / table / "runs", ignore_errors=True)  # ~1 GB per CLRNet-50
