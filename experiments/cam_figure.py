"""CLRNet paper, Fig. 8: class activation maps of CLRNet on DF, FS, DFD, F2F, NT and DFW clips.

Reproduces the figure of Tariq et al., "One Detector to Rule Them All" (WWW'21), Fig. 8: for
one test fake clip of every dataset, the class activation map (``clrnet.cam``) of a CLRNet
detector over each frame, overlaid on the faces; one strip per dataset and a grid of all.

Command::

    python experiments/cam_figure.py                                 # quick, mini benchmark
    python experiments/cam_figure.py --data /path/FF++ --wild /path/DFW [--model clrnet.keras]
    python experiments/cam_figure.py --profile full --show-config    # every cell's settings

Without ``--model`` each dataset's strip comes from the model the official heatmap notebooks
used (the protocol's ``model_from``): the single-domain CLRNet of that dataset (Table 3's
training), and for DFW the NT -> {DF, FS, DFD, F2F} transfer model (Table 6's), each trained
here with the protocol's settings (``experiments/PROTOCOL.md``; the quick profile is its
reductions). Runtime: the quick run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/cam_figure/ (cam_<dataset>.png strips, cam_grid.png, results.csv with
each clip's P(fake), results.md, run record). Finished cells are not recomputed on re-run.

The paper does not say which clips it shows; each strip is the first test fake clip of its
dataset in deterministic order.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import clrnet_runs as R  # noqa: E402
from experiments import context as C  # noqa: E402
from experiments import data as D  # noqa: E402
from experiments.cells import Cell, ExperimentError, run_cells  # noqa: E402

TABLE = "cam_figure"
CODES = ["DF", "FS", "DFD", "F2F", "NT", "DFW"]


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__)
    p.add_argument("--model", type=Path, default=None,
                   help="a trained CLRNet .keras file for every strip (default: train the "
                   "protocol's model of each dataset)")
    p.add_argument("--wild", type=Path, default=None,
                   help="in-the-wild set (real/ and fake/ folders or CSV); default: mini benchmark's")
    return p


def first_fake_clip(manifest: Path, code: str, clip_len: int, size: int):
    """The first test fake clip of domain ``code``: ``(clip (T,H,W,3) float32, video_id)``."""
    from data_prep.pipeline import get_dataset

    methods = D.domain_methods([code], real=False) or None
    ds = get_dataset(str(manifest), 1, False, frames=clip_len, image_size=size, methods=methods,
                     splits=["test"], return_meta=True)
    for x, y, meta in ds:
        if int(y.numpy().reshape(-1)[0]) == 1:
            vid = meta["video_id"].numpy().reshape(-1)[0]
            return x.numpy()[0], vid.decode() if isinstance(vid, bytes) else str(vid)
    raise ExperimentError(f"{manifest}: no test fake clip of {code}")


def model_for(ctx: C.RunContext, s) -> Path:
    """The cell's CLRNet: ``--model``, else its ``model_from`` training (single or transfer)."""
    if ctx.args.model is not None:
        if not ctx.args.model.is_file():
            raise ExperimentError(f"--model {ctx.args.model}: no such file")
        return ctx.args.model
    manifest = D.clip_set(ctx, s)
    known = D.available_codes(manifest, s["train_domains"])
    if "source_domain" in s:
        source = s["source_domain"]
        if source not in known:
            raise ExperimentError(f"{manifest}: no {source} clips for the transfer source")
        return R.train_transfer(ctx, s, manifest, source, [c for c in known if c != source],
                                f"transfer-{source}")
    (code,) = s["train_domains"]
    if code not in known:
        raise ExperimentError(f"{manifest}: no {code} clips to train on")
    return R.train_single(ctx, s, manifest, [code], f"single-{code}")


def run(ctx: C.RunContext):
    """One cell per dataset: CAM strip of its first test fake clip; returns (rows, failed)."""
    import numpy as np

    from clrnet import cam
    from clrnet.scoring import fake_probability

    def cell_fn(cell: Cell):
        s = cell.params
        (code,) = s["test_domains"]
        source = D.clip_set(ctx, s, code)
        if source is None:
            raise ExperimentError(f"no data for {code} (pass --wild for DFW)")
        model = R.load_model(model_for(ctx, s))
        clip_len, size = model.inputs[0].shape[1], model.inputs[0].shape[2]
        clip, vid = first_fake_clip(source, code, clip_len, size)
        strip = cam.overlay(clip, cam.class_activation_maps(model, clip))
        path = ctx.out / f"cam_{code}.png"
        _save_png(strip, path)
        p_fake = float(np.asarray(fake_probability(model, clip[None])).reshape(-1)[0])
        return [{"section": "CAM", "row": code, "col": "P(fake)", "metric": "P(fake)",
                 "ours": p_fake, "video_id": vid, "png": str(path)}]

    rows, failed = run_cells(ctx.cell_list(), cell_fn, ctx.out, rerun=ctx.args.rerun,
                             desc=TABLE, ctx=ctx, progress=ctx.progress)
    strips = {r["row"]: r["png"] for r in rows}
    grid = _grid(strips, ctx.out / "cam_grid.png", ctx.title)
    ctx.cache["figures"] = [grid, *map(Path, strips.values())] if grid else []
    return rows, failed


def _save_png(image, path: Path) -> None:
    import cv2
    import numpy as np

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img * (255 if img.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    tmp = path.with_name(path.stem + ".tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    tmp.replace(path)


def _grid(strips: dict[str, str], path: Path, title: str) -> Path | None:
    """Stack the per-dataset strips into one labelled figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not strips:
        return None
    fig, axes = plt.subplots(len(strips), 1, figsize=(10, 2.0 * len(strips)), squeeze=False)
    for ax, (code, png) in zip(axes[:, 0], strips.items(), strict=True):
        ax.imshow(plt.imread(png))
        ax.set_ylabel(code, rotation=0, labelpad=25)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    """Run the figure script."""
    return C.main(TABLE, build_parser(), run, paper_table=None, argv=argv, digits=3,
                  isolate=True)


if __name__ == "__main__":
    sys.exit(main())
