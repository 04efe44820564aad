"""CLRNet paper, Table 4: single-domain detector (trained on F2F) against out-of-domain and DFW.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 4 (F1 score %, fake
class): each of the six methods (CNN+LSTM, DBiRNN, ShallowNet, Xception, MesoNet =
MesoInception4, CLRNet) is trained on Face2Face only and tested on F2F (in-domain), DF, FS, DFD,
NT (out-of-domain) and the DeepFake-in-the-Wild set (open-domain).

Command::

    python experiments/table4_out_of_domain.py                                # quick, mini benchmark
    python experiments/table4_out_of_domain.py --data /path/FF++ --wild /path/DFW

Quick profile: the mini benchmark (synthetic stand-in, not FaceForensics++) and its in-the-wild
folder (a manipulation none of the five FF++ stand-ins uses), 64x64, tiny widths, 3 epochs.
``--wild`` takes real/ and fake/ folders of videos or a CSV (the ``folder`` adapter); without it
the DFW column is skipped on user data. Measured runtime: see experiments/README.md. Outputs:
results/<quick|full>/table4_out_of_domain/; finished cells are not recomputed on re-run.

Differences from the paper: one seed instead of mean ± std; F1 on clip scores at 0.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "table4_out_of_domain"
HEADING = "CLRNet Table 4 — trained on F2F, tested out-of-domain and in the wild (F1 %)"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
TRAIN = "F2F"
COLUMNS = ["F2F", "DF", "FS", "DFD", "NT"]


def build_parser():
    """Command-line arguments."""
    p = H.base_parser(__doc__, models=MODELS)
    p.add_argument("--wild", type=Path, default=None,
                   help="in-the-wild set (real/ and fake/ folders or CSV); default: mini benchmark's")
    return p


def run(ctx: H.RunContext):
    """One cell per model: train on F2F, test on every column; returns (rows, failed cells)."""
    H.check_models(ctx.args.models)
    manifest = H.prepare_clips(ctx)
    cols = H.available_codes(manifest, COLUMNS)
    if TRAIN not in cols:
        raise H.ExperimentError(f"{manifest}: no Face2Face clips to train on")
    wild = H.manifest_for(ctx, "DFW")
    if wild is None:
        print("note: no --wild set given; DFW column skipped", file=sys.stderr)

    def cell_fn(cell: H.Cell):
        (model,) = cell.key
        path = H.train_single(ctx, model, manifest, [TRAIN], f"single-{TRAIN}")
        scores = H.score_codes(ctx, path, manifest, cols)
        if wild is not None:
            scores.update(H.score_codes(ctx, path, wild, ["DFW"]))
        return H.f1_rows(f"single-domain {TRAIN}", model, scores)

    cells = [H.Cell((m,)) for m in ctx.args.models]
    return H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE, ctx=ctx,
                       progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="clrnet_table4", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
