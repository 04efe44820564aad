"""Masi et al. (ECCV'20) figures: Fig. 1 sequence strip, Fig. 3 RGB vs Deep LoG maps, Fig. 4 plots.

Reproduces the figures of "Two-branch Recurrent Network for Isolating Deepfakes in Videos" with a
two-branch recurrent network trained on FF++ (real + four manipulations):

* ``fig1_strip.png``: a real and a fake test sequence, frame by frame, with the network's P(fake)
  and distance to the centre c;
* ``fig3_maps.png``: for one face, the RGB branch's maps after its first convolution beside the
  LoG branch's maps after the Deep LoG layer (strongest channels);
* ``fig4b_tsne.png``: t-SNE of the test embeddings Phi(I), real vs each manipulation;
* ``fig4cd_distances.png``: histograms of the distance to c of real and fake test sequences,
  with r- and r+ (isolation loss) — plus ``roc.png`` of the same scores.

Command::

    python experiments/twobranch_figures.py                  # quick, mini benchmark
    python experiments/twobranch_figures.py --data /path/FF++
    python experiments/twobranch_figures.py --profile full --show-config

The network is the protocol's (``model_from``: Table 2's c40 training, trained here with its
settings; ``experiments/PROTOCOL.md``); the quick profile is its listed reductions (mini
benchmark — synthetic stand-in, not FaceForensics++ — c23, tiny widths). Runtime: the quick
run's measured runtime is in experiments/README.md. Outputs:
./results/<quick|full>/twobranch_figures/ (PNGs, results.csv/md with the distance statistics,
run record). The trained model is reused on re-run; figures are redrawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import context as C  # noqa: E402
from experiments import data as D  # noqa: E402
from experiments import masi_runs as M  # noqa: E402
from experiments.cells import ExperimentError  # noqa: E402
from experiments.clrnet_runs import load_model  # noqa: E402

TABLE = "twobranch_figures"


def build_parser():
    """Command-line arguments."""
    p = C.base_parser(__doc__, densenet=True)
    p.add_argument("--max-sequences", type=int, default=400,
                   help="test sequences embedded for t-SNE and histograms (default 400)")
    return p


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def collect(manifest: Path, cell, limit: int):
    """Test sequences with labels/methods: ``(x, labels, methods)`` as NumPy arrays."""
    import numpy as np

    from data_prep.pipeline import get_dataset

    ds = get_dataset(str(manifest), int(cell["batch_size"]), False, frames=int(cell["clip_len"]),
                     image_size=int(cell["input_size"]),
                     methods=D.domain_methods(cell["test_domains"]), splits=["test"],
                     return_meta=True)
    xs, ys, ms = [], [], []
    n = 0
    for x, y, meta in ds:
        xs.append(x.numpy())
        ys.append(y.numpy().reshape(-1))
        ms += [m.decode() if isinstance(m, bytes) else str(m) for m in meta["method"].numpy()]
        n += len(xs[-1])
        if n >= limit:
            break
    if not xs:
        raise ExperimentError(f"{manifest}: no test sequences")
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit].astype(int), np.array(ms[:limit])


def fig1_strip(x, labels, scores, dists, path: Path, title: str) -> Path:
    """One real and one fake sequence with their scores."""
    import numpy as np

    plt = _plt()
    picks = [int(np.argmax(labels == 0)), int(np.argmax(labels == 1))]
    frames = x.shape[1]
    fig, axes = plt.subplots(2, frames, figsize=(1.6 * frames, 3.8), squeeze=False)
    for r, i in enumerate(picks):
        for t in range(frames):
            ax = axes[r, t]
            ax.imshow(np.clip(x[i, t], 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
        kind = "real" if labels[i] == 0 else "fake"
        axes[r, 0].set_ylabel(f"{kind}\nP(fake)={scores[i]:.2f}\nd={dists[i]:.3g}", fontsize=7)
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def fig3_maps(encoder, face, path: Path, title: str, channels: int = 6) -> Path:
    """RGB maps after the first convolution vs LoG maps after Deep LoG, strongest channels."""
    import keras
    import numpy as np

    plt = _plt()
    names = {"RGB conv1": "conv1_relu", "Deep LoG": "deep_log_relu"}
    probe = keras.Model(encoder.input, [encoder.get_layer(n).output for n in names.values()])
    maps = [np.asarray(m)[0] for m in probe(face[None], training=False)]
    fig, axes = plt.subplots(2, channels + 1, figsize=(1.7 * (channels + 1), 3.8), squeeze=False)
    for r, (label, fmap) in enumerate(zip(names, maps, strict=True)):
        axes[r, 0].imshow(np.clip(face, 0, 1))
        axes[r, 0].set_ylabel(label, fontsize=8)
        order = np.argsort(-fmap.reshape(-1, fmap.shape[-1]).std(0))[:channels]
        for k, c in enumerate(order):
            axes[r, k + 1].imshow(fmap[..., c], cmap="viridis")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def fig4b_tsne(emb, methods, path: Path, title: str, seed: int) -> Path:
    """t-SNE of the embeddings coloured by method."""
    from sklearn.manifold import TSNE

    plt = _plt()
    perplexity = float(max(2, min(30, (len(emb) - 1) // 3)))
    pts = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(emb)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for m in sorted(set(methods)):
        sel = methods == m
        ax.scatter(pts[sel, 0], pts[sel, 1], s=10, label=f"{m} ({int(sel.sum())})")
    ax.legend(fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def run(ctx: C.RunContext):
    """Train (or reuse) the model, draw the figures; one row per distance statistic."""
    import json

    import numpy as np

    from clrnet import metrics as MT
    from experiments import figures
    from twobranch.models import frame_encoder_of

    (cell,) = ctx.cells.values()
    manifest = M.masi_clips(ctx, cell)
    scorer_path = M.train_twobranch(ctx, cell, manifest)
    run_dir = scorer_path.parent
    center_info = json.loads((run_dir / "center.json").read_text())
    center = np.asarray(center_info["center"], "float32")
    rm, rp = center_info["r_minus"], center_info["r_plus"]
    embedder = load_model(run_dir / "best.keras" if (run_dir / "best.keras").exists()
                          else run_dir / "final.keras")
    scorer = load_model(scorer_path)
    batch = ctx.smoke.batch(int(cell["batch_size"]))
    x, labels, methods = collect(manifest, {**cell, "batch_size": batch}, ctx.args.max_sequences)
    emb = np.asarray(embedder.predict(x, batch_size=batch, verbose=0))
    dists = np.sqrt(((emb.astype("float64") - center.astype("float64")) ** 2).sum(-1))
    scores = np.asarray(scorer.predict(x, batch_size=batch, verbose=0)).reshape(-1)
    out = ctx.out
    out.mkdir(parents=True, exist_ok=True)
    pngs = [
        fig1_strip(x, labels, scores, dists, out / "fig1_strip.png", ctx.title),
        fig3_maps(frame_encoder_of(embedder), x[int(np.argmax(labels == 1)), 0],
                  out / "fig3_maps.png", ctx.title),
        fig4b_tsne(emb, methods, out / "fig4b_tsne.png", ctx.title, ctx.args.seed),
        figures.score_histograms(labels, dists, out / "fig4cd_distances.png", title=ctx.title,
                                 xlabel="distance to c", lines={"r-": rm, "r+": rp}),
        figures.roc_curves({"distance to c": (labels, dists)}, out / "roc.png", title=ctx.title),
    ]
    ctx.cache["figures"] = pngs
    rows = []
    for name, sel in (("real", labels == 0), ("fake", labels == 1)):
        d = dists[sel]
        rows += [
            {"section": "distances", "row": name, "col": "mean d", "metric": "",
             "ours": float(d.mean()) if d.size else float("nan")},
            {"section": "distances", "row": name, "col": "inside r-", "metric": "fraction",
             "ours": float((d < rm).mean()) if d.size else float("nan")},
            {"section": "distances", "row": name, "col": "beyond r+", "metric": "fraction",
             "ours": float((d > rp).mean()) if d.size else float("nan")},
        ]
    rows.append({"section": "distances", "row": "all", "col": "AUC", "metric": "",
                 "ours": MT.roc_auc(labels, dists)})
    return rows, []


def main(argv=None) -> int:
    """Run the figure script."""
    return C.main(TABLE, build_parser(), run, paper_table=None, argv=argv, digits=3)


if __name__ == "__main__":
    sys.exit(main())
