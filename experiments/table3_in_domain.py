"""CLRNet paper, Table 3: in-domain detection (train and test on the same dataset), six methods.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 3 (F1 score %, fake
class): for every dataset D in DF, FS, DFD, DFDC, F2F, NT a model is trained on D's training
videos (single-domain learning) and tested on D's test videos (fakes + their real videos), for
CNN+LSTM, DBiRNN, ShallowNet, Xception, MesoNet (MesoInception4) and CLRNet.

Command::

    python experiments/table3_in_domain.py                                   # quick, mini benchmark
    python experiments/table3_in_domain.py --data /path/FF++ --dfdc /path/DFDC-preview
    python experiments/table3_in_domain.py --profile full --show-config      # every cell's settings

Every setting of every cell comes from the protocol (``experiments/PROTOCOL.md``); the quick
profile is its listed reductions. The mini benchmark has no DFDC preview, so that column is left
out of the quick profile; on user data it needs ``--dfdc``. Runtime: the quick run's measured
runtime is in experiments/README.md. Outputs go to ./results/<quick|full>/table3_in_domain/
(CSV, Markdown, PNG, run record, cells/, runs/); finished cells are not recomputed on re-run.
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

TABLE = "table3_in_domain"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
COLUMNS = ["DF", "FS", "DFD", "DFDC", "F2F", "NT"]


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, models=MODELS)
    p.add_argument("--dfdc", type=Path, default=None, help="DFDC preview root (dataset.json)")
    p.add_argument("--domains", nargs="+", default=COLUMNS, choices=COLUMNS,
                   help="datasets (columns) to run (default: all available)")
    return p


def select(cells, args):
    """The protocol cells of the models and datasets asked for."""
    return [c for c in cells if c["model"] in args.models and c["train_domains"][0] in args.domains]


def run(ctx: C.RunContext):
    """Train/test one model per (model, dataset) cell; returns (rows, failed cells)."""
    R.check_models(ctx.args.models)
    cells = []
    for s in ctx.cells.values():
        (code,) = s["train_domains"]
        manifest = D.clip_set(ctx, s, code)
        if manifest is None:
            ctx.note(f"no data for {code} (pass --dfdc for DFDC); column skipped")
            continue
        if D.DOMAINS[code][0] == "ffpp" and not D.available_codes(manifest, [code]):
            ctx.note(f"{manifest} holds no {code} clips; column skipped")
            continue
        cells.append(s)

    def cell_fn(cell: Cell):
        s = cell.params
        (code,) = s["train_domains"]
        manifest = D.clip_set(ctx, s, code)
        if manifest is None:
            raise ExperimentError(f"no data for {code}")
        path = R.train_single(ctx, s, manifest, [code], f"single-{code}")
        return f1_rows("in-domain", s["model"], R.score_codes(ctx, s, path, manifest, [code]))

    rows, failed = run_cells(ctx.cell_list(cells), cell_fn, ctx.out, rerun=ctx.args.rerun,
                             desc=TABLE, ctx=ctx, progress=ctx.progress)
    cols = [c for c in COLUMNS if any(r["col"] == c for r in rows)]
    return add_average(rows, cols), failed


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="clrnet_table3", argv=argv,
                  select=select, isolate=True, claims=CLM.claims_for(TABLE))


if __name__ == "__main__":
    sys.exit(main())
