"""CLRNet paper, Fig. 8: class activation maps of CLRNet on DF, FS, DFD, F2F, NT and DFW clips.

Reproduces the figure of Tariq et al., "One Detector to Rule Them All" (WWW'21), Fig. 8: for
one test fake clip of every dataset, the class activation map (``clrnet.cam``) of a CLRNet
detector over each frame, overlaid on the faces; one strip per dataset and a grid of all.

Command::

    python experiments/cam_figure.py                                 # quick, mini benchmark
    python experiments/cam_figure.py --data /path/FF++ --wild /path/DFW --model clrnet.keras

Without ``--model`` a CLRNet is trained by merge learning on the known datasets (quick profile:
tiny width, 64x64, 3 epochs on the mini benchmark — synthetic stand-in, not FaceForensics++).
Measured runtime: see experiments/README.md. Outputs: results/<quick|full>/cam_figure/
(cam_<dataset>.png strips, cam_grid.png, results.csv with each clip's P(fake), results.md, run
record). Finished cells (one per dataset) are not recomputed on re-run.

Differences from the paper: the paper does not say which clips it shows; we take the first test
fake clip of each dataset (deterministic order).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import harness as H  # noqa: E402

TABLE = "cam_figure"
HEADING = "CLRNet Fig. 8 — class activation maps"
CODES = ["DF", "FS", "DFD", "F2F", "NT", "DFW"]


def build_parser():
    """Command-line arguments."""
    p = H.base_parser(__doc__)
    p.add_argument("--model", type=Path, default=None,
                   help="a trained CLRNet .keras file (default: train one by merge learning)")
    p.add_argument("--wild", type=Path, default=None,
                   help="in-the-wild set (real/ and fake/ folders or CSV); default: mini benchmark's")
    return p


def first_fake_clip(manifest: Path, code: str, clip_len: int, size: int):
    """The first test fake clip of domain ``code``: ``(clip (T,H,W,3) float32, video_id)``."""
    from data_prep.pipeline import get_dataset

    methods = H.domain_methods([code], real=False) or None
    ds = get_dataset(str(manifest), 1, False, frames=clip_len, image_size=size, methods=methods,
                     splits=["test"], return_meta=True)
    for x, y, meta in ds:
        if int(y.numpy().reshape(-1)[0]) == 1:
            vid = meta["video_id"].numpy().reshape(-1)[0]
            return x.numpy()[0], vid.decode() if isinstance(vid, bytes) else str(vid)
    raise H.ExperimentError(f"{manifest}: no test fake clip of {code}")


def run(ctx: H.RunContext):
    """One cell per dataset: CAM strip of its first test fake clip; returns (rows, failed)."""
    import numpy as np

    from clrnet import cam
    from clrnet.models import fake_probability

    manifest = H.prepare_clips(ctx)
    known = H.available_codes(manifest, CODES[:-1])
    if ctx.args.model is not None:
        if not ctx.args.model.is_file():
            raise H.ExperimentError(f"--model {ctx.args.model}: no such file")
        model_path = ctx.args.model
    else:
        model_path = H.train_merge(ctx, "clrnet", manifest, known, "merge")
    model = H.load_model(model_path)
    clip_len, size = model.inputs[0].shape[1], model.inputs[0].shape[2]
    sources = {c: manifest for c in known}
    wild = H.manifest_for(ctx, "DFW")
    if wild is not None:
        sources["DFW"] = wild
    strips = {}

    def cell_fn(cell: H.Cell):
        (code,) = cell.key
        clip, vid = first_fake_clip(sources[code], code, clip_len, size)
        maps = cam.class_activation_maps(model, clip)
        strip = cam.overlay(clip, maps)
        path = ctx.out / f"cam_{code}.png"
        _save_png(strip, path)
        p_fake = float(np.asarray(fake_probability(model, clip[None])).reshape(-1)[0])
        return [{"section": "CAM", "row": code, "col": "P(fake)", "metric": "P(fake)",
                 "ours": p_fake, "video_id": vid, "png": str(path)}]

    cells = [H.Cell((c,)) for c in sources]
    rows, failed = H.run_cells(cells, cell_fn, ctx.out, rerun=ctx.args.rerun, desc=TABLE,
                               progress=ctx.progress)
    for r in rows:
        strips[r["row"]] = r["png"]
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
    return H.main(TABLE, HEADING, build_parser(), run, paper_table=None, argv=argv, digits=3)


if __name__ == "__main__":
    sys.exit(main())
