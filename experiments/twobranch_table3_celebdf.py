"""Masi et al. (ECCV'20), Table 3: cross-dataset evaluation on Celeb-DF.

Reproduces Table 3 of "Two-branch Recurrent Network for Isolating Deepfakes in Videos": the
two-branch recurrent network trained on FF++ (real + four manipulations, c40) and tested, without
re-training, on the Celeb-DF v2 test list (518 videos): (a) frame- and video-level AUC, pAUC@10%,
tAUC@10%, TAR@10%; (b) AUC on FF++ Deepfakes and on Celeb-DF (in %).

Command::

    python experiments/twobranch_table3_celebdf.py                  # quick, mini benchmark
    python experiments/twobranch_table3_celebdf.py --data /path/FF++ --celebdf /path/Celeb-DF-v2

Quick profile: trained on the mini benchmark (synthetic stand-in, not FaceForensics++; c23, as
it has no c40 copies) and tested on its in-the-wild folder as the Celeb-DF stand-in (a
manipulation absent from training, other identities) — the table says so. 64x64, tiny widths,
10 epochs of 20 batches. Measured runtime: see experiments/README.md. Outputs:
results/<quick|full>/twobranch_table3_celebdf/; finished cells are not recomputed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "twobranch_table3_celebdf"
HEADING = "Masi et al. Table 3 — cross-dataset Celeb-DF (%)"
COLS = ["AUC", "pAUC@0.1", "tAUC@0.1", "TAR@0.1"]


def build_parser():
    """Command-line arguments."""
    p = H.base_parser(__doc__)
    p.add_argument("--celebdf", type=Path, default=None,
                   help="Celeb-DF v2 root (List_of_testing_videos.txt); quick default: the mini "
                   "benchmark's in-the-wild folder as a stand-in")
    p.add_argument("--compression", default="c40", choices=["c23", "c40"],
                   help="FF++ training compression (paper: c40)")
    return p


def cross_manifest(ctx: H.RunContext) -> Path:
    """Clips of the cross-dataset test set (Celeb-DF, or the in-the-wild stand-in)."""
    p = ctx.profile
    kw = dict(clip_len=p.window, sampling=p.masi_sampling, size=p.masi_size)
    if ctx.args.celebdf is not None:
        if not ctx.args.celebdf.exists():
            raise H.ExperimentError(f"--celebdf {ctx.args.celebdf}: no such directory")
        return H.prepare_clips(ctx, "celebdf", ctx.args.celebdf, **kw)
    if not ctx.mini:
        raise H.ExperimentError("pass --celebdf DIR (the Celeb-DF v2 root)")
    ctx.cache.setdefault("notes", []).append(
        "Celeb-DF columns are computed on the mini benchmark's in-the-wild folder (stand-in).")
    return H.prepare_clips(ctx, "folder", H.wild_root(ctx), **kw)


def run(ctx: H.RunContext):
    """Cells: the FF++ model's Celeb-DF rows and the FF++ Deepfakes AUC; returns (rows, failed)."""
    manifest = H.prepare_masi(ctx, ctx.args.compression)
    cross = cross_manifest(ctx)

    def model_path():
        return H.train_twobranch(ctx, f"four-{ctx.args.compression}", manifest, H.FFPP_FOUR)

    def cell_fn(cell: H.Cell):
        from clrnet import metrics as M

        if cell.key == ("celebdf",):
            scores = H.score_twobranch(ctx, model_path(), cross, None)
            rows = []
            for level in ("frame", "video"):
                rows += H.masi_rows(f"3a Celeb-DF {level}", "two_branch", scores, level=level,
                                    cols=COLS)
            auc = M.roc_auc(scores["label"], scores["score"])
            rows.append({"section": "3b AUC", "row": "two_branch", "col": "Celeb-DF",
                         "metric": "%", "ours": 100 * auc})
            return rows
        scores = H.score_twobranch(ctx, model_path(), manifest, ["DF"])
        return [{"section": "3b AUC", "row": "two_branch", "col": "FF++ (DF)", "metric": "%",
                 "ours": 100 * M.roc_auc(scores["label"], scores["score"])}]

    cells = [H.Cell(("celebdf",)), H.Cell(("ffpp_df",))]
    return H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                       progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="masi_table3", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
