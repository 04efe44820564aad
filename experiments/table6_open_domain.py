"""CLRNet paper, Table 6: open-domain attack (DeepFake-in-the-Wild) under four training strategies.

Reproduces Tariq et al., "One Detector to Rule Them All" (WWW'21), Table 6 (F1 score %, fake
class, on DFW only) for the six methods, with the detector trained by

* single-domain learning on FS;
* merge learning on the union of FS, DF, DFD, F2F and NT;
* transfer learning NT -> {DF, FS, DFD, F2F} (K = 10 real + 10 fake videos per domain);
* the restricted grid search of Algorithm 1 (facial reenactment {F2F, NT} x identity swap
  {DF, FS, DFD}; for each pair the better of transfer and merge learning), reporting the best
  candidate on DFW — as the paper's "Best (RGS)" column this is an oracle choice on the
  evaluation set, shown only for comparison; every candidate's checkpoint is chosen on its
  training domains' validation videos.

Command::

    python experiments/table6_open_domain.py                                 # quick, mini benchmark
    python experiments/table6_open_domain.py --data /path/FF++ --wild /path/DFW
    python experiments/table6_open_domain.py --profile full --show-config    # every cell's settings

Every setting of every cell comes from the protocol (``experiments/PROTOCOL.md``); the quick
profile is its listed reductions and uses the mini benchmark's in-the-wild folder.
``--no-rgs`` skips the grid search (its cost is one merge and one transfer training per pair).
Runtime: the quick run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/table6_open_domain/; finished cells are not recomputed on re-run.
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

TABLE = "table6_open_domain"
MODELS = ["cnn_lstm", "dbirnn", "shallownet_v3", "xception", "mesoinception4", "clrnet"]
COL = {"single": "single FS", "merge": "merge", "transfer": "transfer NT->rest", "rgs": "best RGS"}


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, models=MODELS)
    p.add_argument("--wild", type=Path, default=None,
                   help="in-the-wild set (real/ and fake/ folders or CSV); default: mini benchmark's")
    p.add_argument("--no-rgs", action="store_true", help="skip the restricted grid search column")
    return p


def select(cells, args):
    """The protocol cells of the models (and strategies) asked for."""
    return [c for c in cells if c["model"] in args.models
            and not (args.no_rgs and c["strategy"] == "rgs")]


def run(ctx: C.RunContext):
    """Cells (strategy, model), each scored on DFW; returns (rows, failed cells)."""
    R.check_models(ctx.args.models)

    def cell_fn(cell: Cell):
        s = cell.params
        strategy = s["strategy"]
        manifest = D.clip_set(ctx, s)
        wild = D.clip_set(ctx, s, "DFW")
        if wild is None:
            raise ExperimentError("Table 6 is evaluated on an in-the-wild set: pass --wild DIR")
        known = D.available_codes(manifest, s["train_domains"])
        extra = {}
        if strategy == "single":
            (code,) = s["train_domains"]
            path = R.train_single(ctx, s, manifest, [code], f"single-{code}")
        elif strategy == "merge":
            path = R.train_merge(ctx, s, manifest, known, "merge")
        elif strategy == "transfer":
            source = s["source_domain"]
            if source not in known:
                raise ExperimentError(f"{manifest}: no {source} clips for the transfer source")
            path = R.train_transfer(ctx, s, manifest, source, [c for c in known if c != source],
                                    f"transfer-{source}")
        else:
            pairs = s["rgs_pairs"]
            reenact = [c for c in dict.fromkeys(p[0] for p in pairs) if c in known]
            swap = [c for c in dict.fromkeys(p[1] for p in pairs) if c in known]
            path, extra = R.restricted_grid_search(ctx, s, manifest, reenact, swap, wild)
        rows = f1_rows("open-domain DFW", s["model"], {
            COL[strategy]: R.score_codes(ctx, s, path, wild, ["DFW"])["DFW"]})
        return [{**r, **extra} for r in rows]

    return run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                     ctx=ctx, progress=ctx.progress)


def main(argv=None) -> int:
    """Run the table script."""
    return C.main(TABLE, build_parser(), run, paper_table="clrnet_table6", argv=argv,
                  select=select, isolate=True, claims=CLM.claims_for(TABLE))


if __name__ == "__main__":
    sys.exit(main())
