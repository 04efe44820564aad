"""CLRNet paper, Table 5: merge learning vs transfer learning FS -> {DF, DFD, F2F, NT}, six methods.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 5 (F1 score %, fake class):

* merge learning: one model trained on FS ∪ DF ∪ DFD ∪ F2F ∪ NT with equal samples per domain;
* transfer learning: a model fully trained on FaceSwap (source), then transfer-learned on K = 10
  videos of each target domain (DF, DFD, F2F, NT) with the first half of its layers frozen;
* both evaluated on the test videos (fakes + their real videos) of FS, DF, DFD, F2F and NT,
  for CNN+LSTM, DBiRNN, ShallowNet, Xception, MesoNet (MesoInception4) and CLRNet.

Command (the package's main job)::

    python experiments/table5_transfer.py                    # mini benchmark, quick profile
    python experiments/table5_transfer.py --data /path/FF++  # full protocol on FaceForensics++

Quick profile (no --data): builds the mini benchmark (synthetic stand-in, not FaceForensics++)
if needed, extracts 2 clips of 5 frames per video at 64x64, trains tiny-width models for 3 epochs
and K = 3 target videos, and prints the table beside the paper's. Measured runtime: see
experiments/README.md. The full protocol (240x240, 16 clips/video, official widths) takes days
on a GPU. Outputs: results/<quick|full>/table5_transfer/{results.csv,results.md,results.png,
args.json,env.json,run.json,cells/,runs/}. Re-running resumes: finished cells are not recomputed.

Differences from the paper: the paper reports mean ± std over runs; we run one seed (``--seed``).
F1 is computed on clip scores at threshold 0.5 (video-level F1 and AUC are in the CSV).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "table5_transfer"
HEADING = "CLRNet Table 5 — merge vs transfer learning (F1 %)"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
SOURCE = "FS"
TARGETS = ["DF", "DFD", "F2F", "NT"]
COLUMNS = [SOURCE, *TARGETS]


def build_parser():
    """Command-line arguments."""
    return H.base_parser(__doc__, models=MODELS)


def run(ctx: H.RunContext):
    """Train and evaluate every (strategy, model) cell; returns (rows, failed cells)."""
    manifest = H.prepare_clips(ctx)
    cols = H.available_codes(manifest, COLUMNS)
    if SOURCE not in cols:
        raise H.ExperimentError(f"{manifest}: no FaceSwap videos to use as the transfer source")
    targets = [c for c in TARGETS if c in cols]

    def cell_fn(cell: H.Cell):
        strategy, model = cell.key
        if strategy == "merge":
            path = H.train_merge(ctx, model, manifest, cols, "merge")
        else:
            path = H.train_transfer(ctx, model, manifest, SOURCE, targets, "transfer")
        return H.f1_rows(strategy, model, H.score_codes(ctx, path, manifest, cols))

    cells = [H.Cell((s, m), {"columns": cols}) for s in ("merge", "transfer") for m in ctx.args.models]
    rows, failed = H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE, ctx=ctx,
                               progress=ctx.progress)
    return H.add_average(rows, cols), failed


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="clrnet_table5", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
