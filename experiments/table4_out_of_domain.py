"""CLRNet paper, Table 4: single-domain detector (trained on F2F) against out-of-domain and DFW.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 4 (F1 score %, fake
class): each of the six methods (CNN+LSTM, DBiRNN, ShallowNet, Xception, MesoNet =
MesoInception4, CLRNet) is trained on Face2Face only and tested on F2F (in-domain), DF, FS, DFD,
NT (out-of-domain) and the DeepFake-in-the-Wild set (open-domain).

Command::

    python experiments/table4_out_of_domain.py                                # quick, mini benchmark
    python experiments/table4_out_of_domain.py --data /path/FF++ --wild /path/DFW
    python experiments/table4_out_of_domain.py --profile full --show-config   # every cell's settings

Every setting of every cell comes from the protocol (``experiments/PROTOCOL.md``); the quick
profile is its listed reductions and uses the mini benchmark's in-the-wild folder (a
manipulation none of the five FF++ stand-ins uses). ``--wild`` takes real/ and fake/ folders of
videos or a CSV (the ``folder`` adapter); without it the DFW column is skipped on user data.
Runtime: the quick run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/table4_out_of_domain/; finished cells are not recomputed on re-run.
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
from experiments.results import f1_rows  # noqa: E402

TABLE = "table4_out_of_domain"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, models=MODELS)
    p.add_argument("--wild", type=Path, default=None,
                   help="in-the-wild set (real/ and fake/ folders or CSV); default: mini benchmark's")
    return p


def select(cells, args):
    """The protocol cells of the models asked for."""
    return [c for c in cells if c["model"] in args.models]


def run(ctx: C.RunContext):
    """One cell per model: train on F2F, test on every column; returns (rows, failed cells)."""
    R.check_models(ctx.args.models)

    def cell_fn(cell: Cell):
        s = cell.params
        manifest = D.clip_set(ctx, s)
        (train,) = s["train_domains"]
        ffpp = D.available_codes(manifest, [c for c in s["test_domains"] if c != "DFW"])
        if train not in ffpp:
            raise ExperimentError(f"{manifest}: no {train} clips to train on")
        path = R.train_single(ctx, s, manifest, [train], f"single-{train}")
        scores = R.score_codes(ctx, s, path, manifest, ffpp)
        wild = D.clip_set(ctx, s, "DFW") if "DFW" in s["test_domains"] else None
        if wild is None:
            ctx.note("no --wild set given; DFW column skipped")
        else:
            scores.update(R.score_codes(ctx, s, path, wild, ["DFW"]))
        return f1_rows(f"single-domain {train}", s["model"], scores)

    return run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                     ctx=ctx, progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="clrnet_table4", argv=argv,
                  select=select, isolate=True, claims=CLM.claims_for(TABLE))


if __name__ == "__main__":
    sys.exit(main())
