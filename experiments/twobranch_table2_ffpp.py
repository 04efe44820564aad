"""Masi et al. (ECCV'20), Table 2: frame- and video-level results on FF++ (four manipulations).

Reproduces Table 2 of "Two-branch Recurrent Network for Isolating Deepfakes in Videos": the
two-branch recurrent network trained on real videos + Deepfakes, FaceSwap, Face2Face and
NeuralTextures (one model for c23, one for c40), tested on the test split. Frame level: one score
per 10-frame sequence (the model's unit); video level: the mean of a video's sequence scores.
Metrics in %: AUC, pAUC@10% (McClish), tAUC@10%, TAR@10% (``clrnet.metrics``).

Command::

    python experiments/twobranch_table2_ffpp.py                    # quick, mini benchmark
    python experiments/twobranch_table2_ffpp.py --data /path/FF++  # c23 and c40 folders needed
    python experiments/twobranch_table2_ffpp.py --profile full --show-config

Every setting of both cells comes from the protocol (``experiments/PROTOCOL.md``); the quick
profile is its listed reductions (mini benchmark — synthetic stand-in, not FaceForensics++ —
without c40 copies, so the c40 rows run on c23; the table says so). Runtime: the quick run's
measured runtime is in experiments/README.md. Outputs: ./results/<quick|full>/twobranch_table2_ffpp/
(CSV, Markdown, PNG bars and ROC curves, run record); finished cells are not recomputed.

Only our row is computed; the XceptionNet and DSP-FWA rows are the paper's numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import context as C  # noqa: E402
from experiments import masi_runs as M  # noqa: E402
from experiments.cells import Cell, run_cells  # noqa: E402
from experiments.results import masi_rows  # noqa: E402

TABLE = "twobranch_table2_ffpp"
COLS = ["AUC", "pAUC@0.1", "tAUC@0.1", "TAR@0.1"]


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, densenet=True)
    p.add_argument("--compressions", nargs="+", default=["c23", "c40"], choices=["c23", "c40"])
    return p


def select(cells, args):
    """The protocol cells of the compressions asked for."""
    return [c for c in cells if c["cell"] in args.compressions]


def run(ctx: C.RunContext):
    """One cell per compression level; returns (rows, failed cells)."""
    import pandas as pd

    from experiments.figures import roc_curves

    def cell_fn(cell: Cell):
        s = cell.params
        manifest = M.masi_clips(ctx, s)
        path = M.train_twobranch(ctx, s, manifest)
        scores = M.score_twobranch(ctx, s, path, manifest, s["test_domains"])
        scores.to_csv(ctx.out / f"scores_{s['cell']}.csv", index=False)
        rows = []
        for level in ("frame", "video"):
            rows += masi_rows(f"{s['cell']} {level}", "two_branch", scores, level=level,
                              cols=COLS)
        return rows

    for s in ctx.cells.values():
        M.masi_clips(ctx, s)  # extract (and note a missing compression) in this process
    rows, failed = run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun,
                             desc=TABLE, progress=ctx.progress)
    curves = {}
    for cid in ctx.cells:
        f = ctx.out / f"scores_{cid}.csv"
        if f.exists():
            df = pd.read_csv(f)
            curves[f"{cid} sequences"] = (df["label"], df["score"])
    if curves:
        ctx.cache["figures"] = [roc_curves(curves, ctx.out / "roc.png", title=ctx.title,
                                           log_x=False)]
    return rows, failed


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="masi_table2", argv=argv,
                  select=select)


if __name__ == "__main__":
    sys.exit(main())
