"""CLRNet paper, Table 5: merge learning vs transfer learning FS -> {DF, DFD, F2F, NT}, six methods.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 5 (F1 score %, fake
class), for CNN+LSTM, DBiRNN, ShallowNet, Xception, MesoNet (MesoInception4) and CLRNet:

* merge learning: one model trained on the union of the training videos of FS, DF, DFD, F2F
  and NT;
* transfer learning: a model fully trained on FaceSwap (source), then trained on K = 10 real
  + 10 fake videos of each target domain (DF, DFD, F2F, NT) and of the source, the first half
  of its layers frozen;
* both evaluated on the test videos (fakes + their real videos) of FS, DF, DFD, F2F and NT.

Command (the package's main job)::

    python experiments/table5_transfer.py                    # mini benchmark, quick profile
    python experiments/table5_transfer.py --data /path/FF++  # full protocol on FaceForensics++
    python experiments/table5_transfer.py --profile full --show-config   # every cell's settings

Every setting of every cell (input size per model and phase, epochs, batch size, lr, loss,
augmentation, checkpoint selection, transfer data, splits) is the protocol's
(``experiments/PROTOCOL.md``, ``--show-config``); the quick profile is its listed reductions.
Runtime: the quick run's measured runtime is in experiments/README.md; the full protocol takes
days on a GPU. Outputs: ./results/<quick|full>/table5_transfer/ (results.csv, results.md,
results.png, args.json, env.json, run.json, cells/, runs/). Re-running resumes: finished cells
are not recomputed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import claims as CLM  # noqa: E402
from experiments import clrnet_runs as R  # noqa: E402
from experiments import context as C  # noqa: E402
from experiments import data as D  # noqa: E402
from experiments.cells import Cell, ExperimentError, run_cells  # noqa: E402
from experiments.results import add_average, f1_rows  # noqa: E402

TABLE = "table5_transfer"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
COLUMNS = ["FS", "DF", "DFD", "F2F", "NT"]


def build_parser():
    """Command-line arguments."""
    return C.base_parser(__doc__, models=MODELS)


def select(cells, args):
    """The protocol cells of the models asked for."""
    return [c for c in cells if c["model"] in args.models]


def run(ctx: C.RunContext):
    """Train and evaluate every (strategy, model) cell; returns (rows, failed cells)."""
    R.check_models(ctx.args.models)

    def cell_fn(cell: Cell):
        s = cell.params
        manifest = D.clip_set(ctx, s)
        cols = D.available_codes(manifest, s["test_domains"])
        train = [c for c in s["train_domains"] if c in cols]
        if s["strategy"] == "merge":
            path = R.train_merge(ctx, s, manifest, train, "merge")
        else:
            source = s["source_domain"]
            if source not in cols:
                raise ExperimentError(f"{manifest}: no {source} videos to use as the source")
            path = R.train_transfer(ctx, s, manifest, source, [c for c in train if c != source],
                                    "transfer")
        return f1_rows(s["strategy"], s["model"], R.score_codes(ctx, s, path, manifest, cols))

    rows, failed = run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                             ctx=ctx, progress=ctx.progress)
    return add_average(rows, [c for c in COLUMNS if any(r["col"] == c for r in rows)]), failed


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="clrnet_table5", argv=argv,
                  select=select, isolate=True, claims=CLM.claims_for(TABLE))


if __name__ == "__main__":
    sys.exit(main())
