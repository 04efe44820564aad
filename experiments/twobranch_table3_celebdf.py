"""Masi et al. (ECCV'20), Table 3: cross-dataset evaluation on Celeb-DF.

Reproduces Table 3 of "Two-branch Recurrent Network for Isolating Deepfakes in Videos": the
two-branch recurrent network trained on FF++ (real + four manipulations, c40) and tested, without
re-training, on the Celeb-DF v2 test list (518 videos): (a) frame- and video-level AUC, pAUC@10%,
tAUC@10%, TAR@10%; (b) AUC on FF++ Deepfakes and on Celeb-DF (in %).

Command::

    python experiments/twobranch_table3_celebdf.py                  # quick, mini benchmark
    python experiments/twobranch_table3_celebdf.py --data /path/FF++ --celebdf /path/Celeb-DF-v2
    python experiments/twobranch_table3_celebdf.py --profile full --show-config

Both cells use the protocol's cross-testing model (``model_from``: Table 2's c40 training,
trained here with its settings; ``experiments/PROTOCOL.md``). The quick profile is the
protocol's reductions: trained on the mini benchmark (synthetic stand-in, not FaceForensics++;
c23, as it has no c40 copies) and tested on its in-the-wild folder as the Celeb-DF stand-in (a
manipulation absent from training, other identities) — the table says so. Runtime: the quick
run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/twobranch_table3_celebdf/; finished cells are not recomputed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import context as C  # noqa: E402
from experiments import data as D  # noqa: E402
from experiments import masi_runs as M  # noqa: E402
from experiments.cells import Cell, ExperimentError, run_cells  # noqa: E402
from experiments.results import masi_rows  # noqa: E402

TABLE = "twobranch_table3_celebdf"
COLS = ["AUC", "pAUC@0.1", "tAUC@0.1", "TAR@0.1"]


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, densenet=True)
    p.add_argument("--celebdf", type=Path, default=None,
                   help="Celeb-DF v2 root (List_of_testing_videos.txt); quick default: the mini "
                   "benchmark's in-the-wild folder as a stand-in")
    return p


def cross_manifest(ctx: C.RunContext, s) -> Path:
    """Clips of the cross-dataset test set (Celeb-DF, or the in-the-wild stand-in)."""
    if ctx.args.celebdf is not None:
        manifest = D.clip_set(ctx, s, "CelebDF")
        assert manifest is not None
        return manifest
    if not ctx.mini:
        raise ExperimentError("pass --celebdf DIR (the Celeb-DF v2 root)")
    ctx.note("Celeb-DF columns are computed on the mini benchmark's in-the-wild folder "
             "(stand-in).")
    manifest = D.clip_set(ctx, s, "DFW")
    assert manifest is not None
    return manifest


def run(ctx: C.RunContext):
    """Cells: the FF++ model's Celeb-DF rows and the FF++ Deepfakes AUC; returns (rows, failed)."""
    from clrnet import metrics as MT

    def cell_fn(cell: Cell):
        s = cell.params
        manifest = M.masi_clips(ctx, s)
        path = M.train_twobranch(ctx, s, manifest)
        if s["cell"] == "celebdf":
            scores = M.score_twobranch(ctx, s, path, cross_manifest(ctx, s), None)
            rows = []
            for level in ("frame", "video"):
                rows += masi_rows(f"3a Celeb-DF {level}", "two_branch", scores, level=level,
                                  cols=COLS)
            rows.append({"section": "3b AUC", "row": "two_branch", "col": "Celeb-DF",
                         "metric": "%", "ours": 100 * MT.roc_auc(scores["label"],
                                                                 scores["score"])})
            return rows
        scores = M.score_twobranch(ctx, s, path, manifest, s["test_domains"])
        return [{"section": "3b AUC", "row": "two_branch", "col": "FF++ (DF)", "metric": "%",
                 "ours": 100 * MT.roc_auc(scores["label"], scores["score"])}]

    for s in ctx.cells.values():
        M.masi_clips(ctx, s)
        if s["cell"] == "celebdf":
            cross_manifest(ctx, s)
    return run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                     progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="masi_table3", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
