"""Masi et al. (ECCV'20), Table 1: ablation study of the two-branch network on FF++ Deepfakes.

Reproduces Table 1 of "Two-branch Recurrent Network for Isolating Deepfakes in Videos": every row
is a model trained on Deepfakes + real videos and tested on their test split (frame = one score
per sample: a frame for the single-frame model, a sequence for the recurrent one), in %:

* (a) c40, no LSTM: the DenseNet encoder alone trained with binary cross-entropy, one learning
  rate, no dropout ("Encoder [52]") vs "+ft, +drop, +loss" (per-layer rates, dropout 0.2,
  isolation loss); RGB branch only — tAUC@1%, tAUC@10%, TAR@1%;
* (b) c23, no LSTM: single (RGB) branch vs two branches (RGB + Deep LoG), isolation loss;
* (c) c40, with the bidirectional LSTM: without "+ft"; fusion in one group (p=1) vs two (p=2);
  LSTM with twice the hidden units; the chosen configuration — tAUC@1%, TAR@1%.

Command::

    python experiments/twobranch_table1_ablation.py                # quick, mini benchmark
    python experiments/twobranch_table1_ablation.py --data /path/FF++

Quick profile: mini benchmark (synthetic stand-in, not FaceForensics++; it has no c40 copies, so
the c40 rows run on c23 — the table says so), 64x64 faces, tiny DenseNet widths, 5-frame
sequences, 10 epochs of 20 batches. Measured runtime: see experiments/README.md. Outputs:
results/<quick|full>/twobranch_table1_ablation/; finished rows are not recomputed on re-run.

Not reproduced: row "128 sum p=1" of (c) (summing the two LSTM directions) — the model offers
only concatenation. With ~20 test videos a TAR at 1% FAR is the TPR at FAR 0 (few negatives).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "twobranch_table1_ablation"
HEADING = "Masi et al. Table 1 — ablation on FF++ Deepfakes (%)"
COLS_AB = ["tAUC@0.01", "tAUC@0.1", "TAR@0.01"]
COLS_C = ["tAUC@0.01", "TAR@0.01"]

# (section, row, compression, model, loss, ft, overrides, columns)
ROWS = [
    ("1a c40 frame (no LSTM)", "Encoder [52] (BCE)", "c40", "two_branch_frame", "bce", False,
     {"branches": "rgb", "dropout": 0.0}, COLS_AB),
    ("1a c40 frame (no LSTM)", "+ft, +drop, +loss", "c40", "two_branch_frame", "isolation", True,
     {"branches": "rgb"}, COLS_AB),
    ("1b c23 frame (no LSTM)", "Single-Branch", "c23", "two_branch_frame", "isolation", True,
     {"branches": "rgb"}, COLS_AB),
    ("1b c23 frame (no LSTM)", "Two-Branch", "c23", "two_branch_frame", "isolation", True, {},
     COLS_AB),
    ("1c c40 with LSTM", "no +ft", "c40", "two_branch", "isolation", False, {}, COLS_C),
    ("1c c40 with LSTM", "128 cat p=1", "c40", "two_branch", "isolation", True,
     {"fusion_groups": 1}, COLS_C),
    ("1c c40 with LSTM", "256 cat p=2", "c40", "two_branch", "isolation", True,
     {"lstm_units": "2x"}, COLS_C),
    ("1c c40 with LSTM", "128 cat p=2 (chosen)", "c40", "two_branch", "isolation", True, {},
     COLS_C),
]


def build_parser():
    """Command-line arguments."""
    return H.base_parser(__doc__)


def run(ctx: H.RunContext):
    """One cell per ablation row; returns (rows, failed cells)."""
    base_units = ctx.profile.tb_overrides.get("lstm_units", 128)
    for comp in {r[2] for r in ROWS}:
        H.resolve_compression(ctx, comp)

    def cell_fn(cell: H.Cell):
        section, row, comp, model, loss, ft, over, cols = ROWS[cell.params["index"]]
        over = {k: (2 * base_units if v == "2x" else v) for k, v in over.items()}
        manifest = H.prepare_masi(ctx, comp)
        path = H.train_twobranch(ctx, cell.id, manifest, ["DF"], model=model, loss=loss, ft=ft,
                                 overrides=over)
        scores = H.score_twobranch(ctx, path, manifest, ["DF"])
        return H.masi_rows(section, row, scores, level="frame", cols=cols)

    cells = [H.Cell((r[0].split()[0], r[1]), {"index": i}) for i, r in enumerate(ROWS)]
    return H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                       progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="masi_table1", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
