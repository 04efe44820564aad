"""Masi et al. (ECCV'20), Table 2: frame- and video-level results on FF++ (four manipulations).

Reproduces Table 2 of "Two-branch Recurrent Network for Isolating Deepfakes in Videos": the
two-branch recurrent network trained on real videos + Deepfakes, FaceSwap, Face2Face and
NeuralTextures (one model for c23, one for c40), tested on the test split. Frame level: one score
per 10-frame sequence (the model's unit); video level: the mean of a video's sequence scores.
Metrics in %: AUC, pAUC@10% (McClish), tAUC@10%, TAR@10% (``clrnet.metrics``).

Command::

    python experiments/twobranch_table2_ffpp.py                    # quick, mini benchmark
    python experiments/twobranch_table2_ffpp.py --data /path/FF++  # c23 and c40 folders needed

Quick profile: mini benchmark (synthetic stand-in, not FaceForensics++; no c40 copies, so the
c40 rows run on c23 — the table says so), 64x64, tiny widths, 5-frame sequences, 10 epochs of 20 batches.
Measured runtime: see experiments/README.md. Outputs: results/<quick|full>/twobranch_table2_ffpp/
(CSV, Markdown, PNG bars and ROC curves, run record); finished cells are not recomputed.

Only our row is computed; the XceptionNet and DSP-FWA rows are the paper's numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "twobranch_table2_ffpp"
HEADING = "Masi et al. Table 2 — FF++ frame and video level (%)"
COLS = ["AUC", "pAUC@0.1", "tAUC@0.1", "TAR@0.1"]


def build_parser():
    """Command-line arguments."""
    p = H.base_parser(__doc__)
    p.add_argument("--compressions", nargs="+", default=["c23", "c40"], choices=["c23", "c40"])
    return p


def run(ctx: H.RunContext):
    """One cell per compression level; returns (rows, failed cells)."""
    from experiments.figures import roc_curves

    curves = {}
    for comp in ctx.args.compressions:
        H.resolve_compression(ctx, comp)

    def cell_fn(cell: H.Cell):
        (comp,) = cell.key
        manifest = H.prepare_masi(ctx, comp)
        path = H.train_twobranch(ctx, f"four-{comp}", manifest, H.FFPP_FOUR)
        scores = H.score_twobranch(ctx, path, manifest, H.FFPP_FOUR)
        scores.to_csv(ctx.out / f"scores_{comp}.csv", index=False)
        rows = []
        for level in ("frame", "video"):
            rows += H.masi_rows(f"{comp} {level}", "two_branch", scores, level=level, cols=COLS)
        return rows

    cells = [H.Cell((c,)) for c in ctx.args.compressions]
    rows, failed = H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                               progress=ctx.progress)
    import pandas as pd

    for comp in ctx.args.compressions:
        f = ctx.out / f"scores_{comp}.csv"
        if f.exists():
            df = pd.read_csv(f)
            curves[f"{comp} sequences"] = (df["label"], df["score"])
    if curves:
        png = roc_curves(curves, ctx.out / "roc.png", title=ctx.title, log_x=False)
        ctx.cache["figures"] = [png]
    return rows, failed


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="masi_table2", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
