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
    python experiments/twobranch_table1_ablation.py --profile full --show-config

Every row's training (model, loss, "+ft", learning rate, dropout, branches, fusion groups,
LSTM width, radii, schedule, initialisation) is its protocol cell (``experiments/PROTOCOL.md``);
the quick profile is its listed reductions (mini benchmark — synthetic stand-in, not
FaceForensics++ — without c40 copies, so the c40 rows run on c23 and the table says so).
Runtime: the quick run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/twobranch_table1_ablation/; finished rows are not recomputed on re-run.

Not reproduced: row "128 sum p=1" of (c) (summing the two LSTM directions) — the model offers
only concatenation. With ~20 test videos a TAR at 1% FAR is the TPR at FAR 0 (few negatives).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import context as C  # noqa: E402
from experiments import masi_runs as M  # noqa: E402
from experiments import protocol as P  # noqa: E402
from experiments.cells import Cell, run_cells  # noqa: E402
from experiments.results import masi_rows  # noqa: E402

TABLE = "twobranch_table1_ablation"
COLS_AB = ["tAUC@0.01", "tAUC@0.1", "TAR@0.01"]
COLS_C = ["tAUC@0.01", "TAR@0.01"]

# (section shown in the table, row, columns); each row's training is its protocol cell
ROWS = [
    ("1a c40 frame (no LSTM)", "Encoder [52] (BCE)", COLS_AB),
    ("1a c40 frame (no LSTM)", "+ft, +drop, +loss", COLS_AB),
    ("1b c23 frame (no LSTM)", "Single-Branch", COLS_AB),
    ("1b c23 frame (no LSTM)", "Two-Branch", COLS_AB),
    ("1c c40 with LSTM", "no +ft", COLS_C),
    ("1c c40 with LSTM", "128 cat p=1", COLS_C),
    ("1c c40 with LSTM", "256 cat p=2", COLS_C),
    ("1c c40 with LSTM", "128 cat p=2 (chosen)", COLS_C),
]


def build_parser():
    """Command-line arguments."""
    return C.base_parser(__doc__, densenet=True)


def run(ctx: C.RunContext):
    """One cell per ablation row; returns (rows, failed cells)."""
    by_id = {P.cell_id((r[0].split()[0], r[1])): r for r in ROWS}

    def cell_fn(cell: Cell):
        s = cell.params
        section, row, cols = by_id[s["cell"]]
        manifest = M.masi_clips(ctx, s)
        path = M.train_twobranch(ctx, s, manifest)
        scores = M.score_twobranch(ctx, s, path, manifest, s["test_domains"])
        return masi_rows(section, row, scores, level="frame", cols=cols)

    for s in ctx.cells.values():
        M.masi_clips(ctx, s)  # extract (and note a missing compression) in this process
    return run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                     progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="masi_table1", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
