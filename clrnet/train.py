"""``python -m clrnet.train``: train a CLRNet-paper model with one of the paper's strategies.

Follows the training set-up of Tariq et al. (WWW'21, Sec. 4.2, 5.2, Algorithm 1) and the official
notebooks (``shahroztariq/CLRNet``, ``src/CLRNET_*.ipynb``): Adam(5e-5), binary cross-entropy on
the two-way softmax, 16 clips of 5 frames per batch, each model's official values from
the registry (``clrnet.registry``, entries in ``clrnet.models.specs``); every value can be overridden on the command line.

Data come from ``python -m data_prep extract`` (a TFRecord folder or its manifest). A *domain*
is a set of methods; since FF++ keeps all real videos under method ``original``, every domain
and ``--methods`` selection gets the ``--real-methods`` added (default ``original``), so
``--methods Deepfakes`` means "Deepfakes fakes + original reals".

Examples::

    python -m clrnet.train --model clrnet --data out/ --methods FaceSwap
    python -m clrnet.train --model clrnet --data out/ --strategy merge \\
        --domain DF=Deepfakes --domain FS=FaceSwap
    python -m clrnet.train --model clrnet --data out/ --strategy transfer \\
        --source-model runs/clrnet-single-.../final.keras --domain DF=Deepfakes --k-videos 10
    python -m clrnet.train --model clrnet --data out/ --strategy grid \\
        --reenact F2F=Face2Face --reenact NT=NeuralTextures --swap DF=Deepfakes --swap FS=FaceSwap
    python -m clrnet.train --resume runs/clrnet-single-20260101-000000

Bad input (unknown model, empty selection, wrong input shape, a weights file for another
architecture, an unusable precision) ends with one line ``error: ...`` on stderr and exit code 2,
before any training starts. A run holds a lock on its run folder (``.train.lock``), so a second
``--resume`` of the same folder while the first still runs stops at once with one line naming
the other run (pid, host, start time) and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, NoReturn

STRATEGIES = ("single", "merge", "transfer", "grid")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class _Parser(argparse.ArgumentParser):
    """Argument parser that reports a bad argument in one line and exits with 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _model_names() -> list[str]:
    from clrnet import registry
    return registry.names("clrnet")


def parse_model_arg(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (value as JSON when possible: ``4``, ``[1,1,1,1]``, ``"x"``).

    Raises:
        argparse.ArgumentTypeError: no ``=``.
    """
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def parse_domain(text: str) -> tuple[str, tuple[str, ...]]:
    """Parse ``NAME=METHOD[,METHOD...]`` (or just ``METHOD``, named after itself).

    Raises:
        argparse.ArgumentTypeError: an empty name or method list.
    """
    name, _, methods = text.partition("=")
    methods = methods if _ else name
    parts = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not name.strip() or not parts:
        raise argparse.ArgumentTypeError(f"expected NAME=METHOD[,METHOD...], got {text!r}")
    return name.strip(), parts


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``python -m clrnet.train``."""
    p = _Parser(prog="python -m clrnet.train", description=__doc__.split("\n\n")[0],
                epilog="examples (also installed as clrnet-train):\n" + textwrap.indent(
                    textwrap.dedent(__doc__.split("Examples::")[1].split("\n\n")[1]), "  "),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=_model_names(), help="registered model name")
    p.add_argument("--data", type=Path, help="TFRecord folder or manifest from data_prep")
    p.add_argument("--strategy", choices=STRATEGIES, default=None, help="default: single")
    p.add_argument("--methods", nargs="+", help="single: training methods (default: all)")
    p.add_argument("--domain", action="append", type=parse_domain, default=None,
                   metavar="NAME=METHOD[,METHOD]", help="merge/transfer domains (repeat)")
    p.add_argument("--reenact", action="append", type=parse_domain, default=None,
                   metavar="NAME=METHOD", help="grid: facial-reenactment domains (repeat)")
    p.add_argument("--swap", action="append", type=parse_domain, default=None,
                   metavar="NAME=METHOD", help="grid: identity-swap domains (repeat)")
    p.add_argument("--real-methods", nargs="*", default=None,
                   help="methods holding real videos, added to every selection (default: original)")
    p.add_argument("--datasets", nargs="+", help="keep only these datasets")
    p.add_argument("--train-split", default=None, help="default: train")
    p.add_argument("--val-split", default=None, help="default: val (never test)")
    p.add_argument("--val-data", type=Path, help="validation data (default: --data)")
    p.add_argument("--val-methods", nargs="+", help="validation methods (default: training's)")
    p.add_argument("--source-model", type=Path, help="transfer: .keras source model")
    p.add_argument("--k-videos", type=int, default=None,
                   help="transfer: K real + K fake videos per domain (10)")
    p.add_argument("--no-per-label", action="store_true",
                   help="transfer: K videos per domain whatever their label")
    p.add_argument("--source-domain", type=parse_domain, default=None,
                   metavar="NAME=METHOD[,METHOD]",
                   help="transfer: the source domain, whose K real + K fake videos are mixed "
                   "in (as the official notebooks)")
    p.add_argument("--select-on", type=parse_domain, default=None,
                   metavar="NAME=METHOD[,METHOD]",
                   help="grid: the selection that chooses the pair (default: the validation "
                   "data; a test set makes it an oracle choice, as the paper's DFW analysis)")
    p.add_argument("--select-data", type=Path, help="grid: data of --select-on (default --data)")
    p.add_argument("--select-split", default=None, help="grid: split of --select-on (test)")
    p.add_argument("--split-rule", default=None,
                   help="assign train/val/test by a protocol rule at read time: tariq_ffpp, "
                   "tariq_dfd, tariq_dfdc, ... (data_prep.splits; default: the stored splits)")
    p.add_argument("--freeze", choices=("first_half", "none"), default=None)
    p.add_argument("--top-k-layers", type=int, default=None,
                   help="transfer: train only the last K layers (official notebooks: 120)")
    p.add_argument("--metric", choices=("accuracy", "f1", "auc"), default=None,
                   help="grid: selection metric (default accuracy)")
    p.add_argument("--weights", type=Path, help="initial weights for single/merge")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--image-size", type=int)
    p.add_argument("--clip-len", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--patience", type=int, help="early-stopping patience (default: none)")
    p.add_argument("--balance", choices=("weights", "batches", "none"), default=None,
                   help="class balance: loss weights, alternating batches or none (default: "
                   "weights for single-domain, batches for merge and transfer)")
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", choices=PRECISIONS, default=None)
    p.add_argument("--devices", nargs="+", help="explicit devices for MirroredStrategy")
    p.add_argument("--model-arg", action="append", type=parse_model_arg, default=None,
                   metavar="KEY=VALUE", help="model builder override (repeat), JSON values")
    p.add_argument("--out", type=Path, default=None, help="runs folder (default runs/)")
    p.add_argument("--name", help="run name (default <model>-<strategy>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an earlier run")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    return p


DEFAULTS: dict[str, Any] = {
    "strategy": "single", "real_methods": ["original"], "train_split": "train",
    "val_split": "val", "k_videos": 10, "freeze": "first_half", "metric": "accuracy",
    "seed": 0, "precision": "float32", "out": "runs", "select_split": "test",
}


def resolve_args(ns: argparse.Namespace) -> dict[str, Any]:
    """Merge command line, the resumed run's ``args.json`` and defaults into one dict.

    Raises:
        ResumeError: ``--resume`` names a folder without ``args.json``.
        ConfigError: a missing argument for the chosen strategy.
    """
    from clrnet.errors import ConfigError, ResumeError

    given = {k: v for k, v in vars(ns).items() if v is not None and v is not False}
    args: dict[str, Any] = {}
    if ns.resume is not None:
        record = Path(ns.resume) / "args.json"
        if not record.is_file():
            raise ResumeError(f"cannot resume {ns.resume}: no args.json there")
        args.update(json.loads(record.read_text()))
    args.update({k: v for k, v in given.items()})
    for k, v in DEFAULTS.items():
        args.setdefault(k, v)
    args["quiet"] = bool(ns.quiet)
    for k in ("data", "val_data", "source_model", "weights", "out", "resume"):
        if args.get(k) is not None:
            args[k] = str(args[k])
    for k in ("domain", "reenact", "swap"):
        if args.get(k):
            args[k] = [[name, list(methods)] for name, methods in args[k]]
    for k in ("source_domain", "select_on"):
        if args.get(k):
            args[k] = [args[k][0], list(args[k][1])]
    for k in ("select_data",):
        if args.get(k) is not None:
            args[k] = str(args[k])
    if args.get("model_arg"):
        args["model_arg"] = [list(kv) for kv in args["model_arg"]]
    if not args.get("model"):
        raise ConfigError("--model is required")
    if not args.get("data"):
        raise ConfigError("--data is required")
    if str(args["val_split"]).lower() == "test":
        raise ConfigError("--val-split test: the best model is chosen on validation data, never "
                          "on the test split")
    strategy = args["strategy"]
    if strategy in ("merge", "transfer") and not args.get("domain"):
        raise ConfigError(f"--strategy {strategy} needs at least one --domain NAME=METHOD")
    if strategy == "transfer" and not args.get("source_model"):
        raise ConfigError("--strategy transfer needs --source-model PATH")
    if strategy == "grid" and not (args.get("reenact") and args.get("swap")):
        raise ConfigError("--strategy grid needs --reenact and --swap domains")
    return args


def _specs(args: dict[str, Any]):
    """Build training domains, the validation spec and the spec maker from resolved arguments."""
    from clrnet.strategies import DataSpec

    reals = list(args["real_methods"] or [])
    datasets = args.get("datasets")

    def spec(methods, split, source=None) -> DataSpec:
        ms = None if not methods else tuple(dict.fromkeys([*methods, *reals]))
        return DataSpec(source or args["data"], methods=ms, splits=(split,), datasets=datasets,
                        split_rule=args.get("split_rule"))

    def domains(key: str) -> dict[str, DataSpec]:
        return {name: spec(methods, args["train_split"]) for name, methods in args.get(key) or []}

    all_methods: list[str] = []
    for key in ("domain", "reenact", "swap"):
        for _, methods in args.get(key) or []:
            all_methods.extend(methods)
    if args.get("methods"):
        all_methods.extend(args["methods"])
    val_methods = args.get("val_methods") or all_methods or None
    val = spec(val_methods, args["val_split"], args.get("val_data"))
    return spec(args.get("methods"), args["train_split"]), domains, val, spec


def _hp(args: dict[str, Any], resume: bool) -> dict[str, Any]:
    overrides = dict(args.get("model_arg") or [])
    if args.get("weights"):
        overrides["weights"] = args["weights"]
    return {
        "epochs": args.get("epochs"), "batch_size": args.get("batch_size"), "lr": args.get("lr"),
        "image_size": args.get("image_size"), "clip_len": args.get("clip_len"),
        "steps_per_epoch": args.get("steps_per_epoch"), "patience": args.get("patience"),
        "seed": args["seed"], "precision": args["precision"], "model_overrides": overrides,
        "balance": args.get("balance"), "resume": resume,
        "verbose": 2 if args["quiet"] else "auto",
    }


def precheck(args: dict[str, Any]) -> None:
    """Cheap checks before any model is built: data selections exist and are non-empty.

    Raises:
        EmptyDatasetError / WeightsError: naming the path or selection.
    """
    from clrnet.errors import WeightsError

    single, domains, val, spec = _specs(args)
    strategy = args["strategy"]
    if strategy == "single":
        single.files()
    for key in ("domain", "reenact", "swap"):
        for selection in domains(key).values():
            selection.files()
    val.files()
    if args.get("source_domain"):
        spec(args["source_domain"][1], args["train_split"]).files()
    if args.get("select_on"):
        spec(args["select_on"][1], args["select_split"], args.get("select_data")).files()
    for key in ("source_model", "weights"):
        if args.get(key) and not Path(args[key]).is_file():
            raise WeightsError(f"{key.replace('_', ' ')} file not found: {args[key]}")


def run(args: dict[str, Any]) -> dict[str, Any]:
    """Train as ``args`` says; return a summary (run folder, metrics)."""
    from clrnet import training
    from data_prep.locking import FolderLock

    resume = args.get("resume") is not None
    precheck(args)
    training.set_precision(args["precision"])
    dist = training.get_strategy(args.get("devices"))
    if resume:
        run_dir = Path(args["resume"])
    else:
        name = args.get("name") or f"{args['model']}-{args['strategy']}"
        run_dir = training.make_run_dir(args["out"], name)
    with FolderLock(run_dir, what=f"training into {run_dir}", name="train",
                    hint="or resume another run folder"):
        return _train(args, run_dir, dist, resume)


def _train(args: dict[str, Any], run_dir: Path, dist: Any, resume: bool) -> dict[str, Any]:
    """The training of :func:`run`, inside the run folder's lock."""
    from clrnet import strategies, training
    from clrnet.run_record import write_run_record

    write_run_record(run_dir, args, extra={"replicas": dist.num_replicas_in_sync})
    single, domains, val, spec = _specs(args)
    hp = _hp(args, resume)
    model_name, strategy = args["model"], args["strategy"]
    if strategy == "single":
        res = strategies.train_single(model_name, single, val, run_dir, strategy=dist, **hp)
        summary = {"run_dir": str(run_dir)}
    elif strategy == "merge":
        res = strategies.train_merge(model_name, domains("domain"), val, run_dir, strategy=dist,
                                     **hp)
        summary = {"run_dir": str(run_dir)}
    elif strategy == "transfer":
        hp.pop("model_overrides")
        source = args.get("source_domain")
        res = strategies.train_transfer(args["source_model"], domains("domain"), val, run_dir,
                                        k_videos=args["k_videos"],
                                        per_label=not args.get("no_per_label"),
                                        source_data=spec(source[1], args["train_split"])
                                        if source else None,
                                        freeze=args["freeze"],
                                        top_k_layers=args.get("top_k_layers"), strategy=dist,
                                        **hp)
        summary = {"run_dir": str(run_dir), "frozen_layers": res.info["frozen_layers"]}
    else:
        chooser = args.get("select_on")
        grid = strategies.restricted_grid_search(
            model_name, domains("reenact"), domains("swap"), val, run_dir,
            select_on=spec(chooser[1], args["select_split"], args.get("select_data"))
            if chooser else None,
            metric=args["metric"], k_videos=args["k_videos"],
            per_label=not args.get("no_per_label"), freeze=args["freeze"],
            top_k_layers=args.get("top_k_layers"), strategy=dist, **hp)
        training.save_model_atomic(grid.model, run_dir / "best_pair.keras")
        return {"run_dir": str(run_dir), "pair": list(grid.pair), "strategy": grid.strategy,
                args["metric"]: grid.score, "selected_on": grid.selected_on,
                "oracle": grid.oracle}
    metrics = json.loads((Path(res.run_dir) / "metrics.json").read_text())
    summary.update({k: metrics[k] for k in ("best_epoch", "best_value", "epochs_done",
                                            "stopped_early", "last_epoch")})
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 success, 2 bad input)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ns = build_parser().parse_args(argv)
    from clrnet.errors import ClrnetError
    from data_prep.errors import DataPrepError

    try:
        args = resolve_args(ns)
        summary = run(args)
    except (ClrnetError, DataPrepError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
