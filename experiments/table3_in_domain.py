"""CLRNet paper, Table 3: in-domain detection (train and test on the same dataset), six methods.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 3 (F1 score %, fake
class): for every dataset D in DF, FS, DFD, DFDC, F2F, NT a model is trained on D's train split
(single-domain learning) and tested on D's test split (fakes + their real videos), for CNN+LSTM,
DBiRNN, ShallowNet, Xception, MesoNet (MesoInception4) and CLRNet.

Command::

    python experiments/table3_in_domain.py                                   # quick, mini benchmark
    python experiments/table3_in_domain.py --data /path/FF++ --dfdc /path/DFDC-preview

Quick profile: mini benchmark (synthetic stand-in, not FaceForensics++), 64x64, 2 clips/video,
tiny widths, 3 epochs. The mini benchmark has no DFDC preview, so that column is left out unless
``--dfdc`` is given. Measured runtime: see experiments/README.md. Outputs go to
results/<quick|full>/table3_in_domain/ (CSV, Markdown, PNG, run record, cells/, runs/); finished
cells are not recomputed on re-run.

Differences from the paper: one seed instead of mean ± std; F1 on clip scores at 0.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "table3_in_domain"
HEADING = "CLRNet Table 3 — in-domain detection (F1 %)"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
COLUMNS = ["DF", "FS", "DFD", "DFDC", "F2F", "NT"]


def build_parser():
    """Command-line arguments."""
    p = H.base_parser(__doc__, models=MODELS)
    p.add_argument("--dfdc", type=Path, default=None, help="DFDC preview root (dataset.json)")
    p.add_argument("--domains", nargs="+", default=COLUMNS, choices=COLUMNS,
                   help="datasets (columns) to run (default: all available)")
    return p


def run(ctx: H.RunContext):
    """Train/test one model per (model, dataset) cell; returns (rows, failed cells)."""
    H.check_models(ctx.args.models)
    sources = {}
    for code in ctx.args.domains:
        manifest = H.manifest_for(ctx, code)
        if manifest is None:
            print(f"note: no data for {code} (pass --dfdc for DFDC); column skipped", file=sys.stderr)
            continue
        if H.DOMAINS[code][0] == "ffpp" and not H.available_codes(manifest, [code]):
            print(f"note: {manifest} holds no {code} clips; column skipped", file=sys.stderr)
            continue
        sources[code] = manifest

    def cell_fn(cell: H.Cell):
        model, code = cell.key
        path = H.train_single(ctx, model, sources[code], [code], f"single-{code}")
        return H.f1_rows("in-domain", model, H.score_codes(ctx, path, sources[code], [code]))

    cells = [H.Cell((m, c)) for m in ctx.args.models for c in sources]
    rows, failed = H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE, ctx=ctx,
                               progress=ctx.progress)
    return H.add_average(rows, list(sources)), failed


def main(argv=None) -> int:
    """Run the table script."""
    return H.main(TABLE, HEADING, build_parser(), run, paper_table="clrnet_table3", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
