"""Data of the table scripts: paper domain codes, dataset roots, clip extraction, selections.

* Domain codes (``DF``, ``FS``, ``F2F``, ``NT``, ``DFD``, ``DFDC``, ``CelebDF``, ``DFW``) name
  a dataset adapter and its fake methods; :func:`domain_methods` adds the real videos that go
  with each (FF++ youtube originals; the DFD actors' originals).
* :func:`clip_set` extracts, once and resumably, the face clips a cell's settings ask for
  (``face_size``, ``clip_len``, ``frames_per_video``, ``compression``, sampling); cells of
  different clip lengths get different clip sets (records cannot be read longer than stored:
  CNN+LSTM's 20-frame clips have their own), frame models read the frames of the 5-frame set
  (10-frame windows for Masi et al.).
* :func:`data_spec` builds the :class:`clrnet.strategies.DataSpec` of some domains, with the
  protocol's split rule of each dataset (``splits`` setting, e.g. ``tariq_ffpp``) applied at
  read time where the installed ``DataSpec`` supports it (see :func:`split_rule_supported`).
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments import protocol as P
from experiments.cells import ExperimentError

if TYPE_CHECKING:
    from experiments.context import RunContext

MINI_LABEL = P.MINI_LABEL
FFPP_FOUR = ("DF", "FS", "F2F", "NT")

#: Paper domain code -> (dataset adapter, its fake method names in the manifest).
DOMAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "DF": ("ffpp", ("Deepfakes",)),
    "FS": ("ffpp", ("FaceSwap",)),
    "F2F": ("ffpp", ("Face2Face",)),
    "NT": ("ffpp", ("NeuralTextures",)),
    "DFD": ("ffpp", ("DeepFakeDetection",)),
    "DFDC": ("dfdc_preview", ()),
    "CelebDF": ("celebdf", ()),
    "DFW": ("folder", ()),
}
#: The real videos that go with each fake set.
REAL_FOR: dict[str, tuple[str, ...]] = {
    "DF": ("original",),
    "FS": ("original",),
    "F2F": ("original",),
    "NT": ("original",),
    "DFD": ("original_actors",),
}
#: Protocol dataset name (keys of a cell's ``splits``) of each code.
DATASET_OF: dict[str, str] = {"DF": "FF++", "FS": "FF++", "F2F": "FF++", "NT": "FF++",
                              "DFD": "DFD", "DFDC": "DFDC", "DFW": "DFW", "CelebDF": "Celeb-DF"}
#: Split rules the records' stored splits already implement (no re-split at read time).
STORED_RULES = {"mini_benchmark", "ffpp_official", "celebdf_official", "dfdc_preview_masi"}


def domain_methods(codes: Iterable[str], *, real: bool = True) -> list[str]:
    """Adapter method names of paper domain codes (plus their real videos).

    Args:
        codes: e.g. ``["FS", "DF"]``.
        real: add the matching real sources.

    Returns:
        Method names as stored in the manifest.

    Raises:
        ExperimentError: an unknown code.
    """
    out: list[str] = []
    for code in codes:
        if code not in DOMAINS:
            raise ExperimentError(f"unknown domain {code!r}; expected one of {sorted(DOMAINS)}")
        out += DOMAINS[code][1]
        if real:
            out += REAL_FOR.get(code, ())
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------------- roots
def benchmark_root(ctx: RunContext) -> Path:
    """The FF++-layout root: ``--data`` or the (cached, built on first use) mini benchmark."""
    if ctx.data_root is not None:
        return Path(ctx.data_root)
    if "mini_root" not in ctx.cache:
        from data_prep.synth import ensure_mini_benchmark

        ctx.cache["mini_root"] = Path(ensure_mini_benchmark(workers=ctx.workers))
    return ctx.cache["mini_root"]


def wild_root(ctx: RunContext) -> Path:
    """The in-the-wild (DFW stand-in) folder: ``--wild`` or the mini benchmark's own.

    Raises:
        ExperimentError: ``--wild`` missing on user data, or a path that does not exist.
    """
    given = getattr(ctx.args, "wild", None)
    if given is not None:
        if not Path(given).exists():
            raise ExperimentError(f"--wild {given}: no such file or directory")
        return Path(given)
    if not ctx.mini:
        raise ExperimentError("this table needs an in-the-wild set: pass --wild DIR "
                              "(real/ and fake/ folders of videos, or a CSV)")
    root = benchmark_root(ctx)
    for name in ("in_the_wild", "in-the-wild", "wild", "DFW"):
        if (root / name).is_dir():
            return root / name
    raise ExperimentError(f"{root}: the mini benchmark has no in-the-wild folder")


def resolve_compression(ctx: RunContext, compression: str) -> str:
    """``compression``, or ``"c23"`` when the mini benchmark lacks it (noted in the table)."""
    if compression == "c23" or not ctx.mini:
        return compression
    root = benchmark_root(ctx)
    if any(root.glob(f"*_sequences/*/{compression}/videos/*.mp4")):
        return compression
    ctx.note(f"{compression} sections were computed on c23 videos: the mini benchmark has no "
             f"{compression} copies")
    return "c23"


# ----------------------------------------------------------------------------------- clips
def extraction_of(cell: Mapping[str, Any]) -> dict[str, Any]:
    """How the clips a cell reads are extracted (one clip set per distinct answer).

    Clip models read clips of their ``clip_len``; frame models read the frames of the 5-frame
    clip set (Tariq et al. Sec. 5.1.3) or of the 10-frame windows (Masi et al. Sec. 4); the set
    holds ``frames_per_video`` frames per video at ``face_size`` px.

    Args:
        cell: a resolved cell (:func:`experiments.protocol.cells`).

    Returns:
        ``{"clip_len", "clips_per_video", "sampling", "size", "compression"}``.
    """
    masi = cell["sampling"] in (P._MASI_SAMPLING, P._MASI_FRAME_SAMPLING)
    sampling = "masi" if masi else "clrnet"
    clip_len = cell["clip_len"] if cell["clip_len"] > 1 else (10 if masi else 5)
    return {"clip_len": clip_len, "clips_per_video": max(1, cell["frames_per_video"] // clip_len),
            "sampling": sampling, "size": cell["face_size"], "compression": cell["compression"]}


def eval_clips_of(cell: Mapping[str, Any]) -> int | None:
    """Clips per test video to score when fewer than the extraction holds (None: all).

    Frame models score the frames of the first ``eval_frames_per_video // clip_len`` stored
    clips; clip models the first ``eval_clips_per_video`` clips.

    Args:
        cell: a resolved cell.

    Returns:
        The number of clips per video to read, or None when every stored clip is scored.
    """
    ext = extraction_of(cell)
    frame_model = cell["clip_len"] <= 1
    want = (int(cell["eval_frames_per_video"]) // ext["clip_len"] if frame_model
            else int(cell["eval_clips_per_video"]))
    return want if 0 < want < ext["clips_per_video"] else None


def prepare_clips(ctx: RunContext, dataset: str = "ffpp", root: Path | None = None, *,
                  clip_len: int, clips_per_video: int, sampling: str = "clrnet",
                  compression: str = "c23", size: int) -> Path:
    """Extract face clips once (resumable, shared by all scripts using the same ``--work``).

    Args:
        ctx: the run context.
        dataset: adapter name.
        root: dataset root (default: :func:`benchmark_root`).
        clip_len: frames per clip.
        clips_per_video: clips per video.
        sampling: ``"clrnet"`` (consecutive clips from the start) or ``"masi"`` (windows).
        compression: FF++ compression folder.
        size: stored face size.

    Returns:
        The manifest path.
    """
    from data_prep.extract import prepare

    root = Path(root) if root is not None else benchmark_root(ctx)
    tag = f"{dataset}-{compression}-{sampling}-s{size}-t{clip_len}-n{clips_per_video}"
    key = (tag, str(root))
    if key in ctx.cache:
        return ctx.cache[key]
    out = ctx.work / tag
    if not ctx.only_cell:  # child processes re-open the parent's clips silently
        print(f"preparing clips: {dataset} {root} -> {out}", file=sys.stderr)
    from data_prep.locking import LockHeldError

    waited = False
    while True:
        try:
            manifest = prepare(
                dataset, root, out, compression=compression, clip_len=clip_len,
                clips_per_video=clips_per_video, sampling=sampling, size=size,
                progress=ctx.progress and not ctx.only_cell, workers=ctx.workers)
            break
        except LockHeldError as exc:  # another cell's process extracts (or checks) this set:
            if not waited:            # wait for it, then find the clips done
                print(f"waiting: {exc}", file=sys.stderr)
                waited = True
            time.sleep(1.0)
    ctx.cache[key] = Path(manifest)
    return ctx.cache[key]


def clip_set(ctx: RunContext, cell: Mapping[str, Any], code: str = "FS") -> Path | None:
    """The manifest of the clips ``cell`` reads for domain ``code`` (None: data not given).

    FF++ codes come from the benchmark root (the compression the mini benchmark has);
    ``DFW`` from :func:`wild_root`; ``DFDC`` and ``CelebDF`` from ``--dfdc`` / ``--celebdf``.
    """
    ext = extraction_of(cell)
    adapter = DOMAINS[code][0]
    if adapter == "ffpp":
        ext["compression"] = resolve_compression(ctx, ext["compression"])
        return prepare_clips(ctx, **ext)
    ext["compression"] = "c23"
    if code == "DFW":
        if ctx.mini or getattr(ctx.args, "wild", None) is not None:
            return prepare_clips(ctx, "folder", wild_root(ctx), **ext)
        return None
    given = getattr(ctx.args, {"DFDC": "dfdc", "CelebDF": "celebdf"}[code], None)
    if given is None:
        return None
    if not Path(given).exists():
        raise ExperimentError(f"--{code.lower()} {given}: no such file or directory")
    return prepare_clips(ctx, adapter, Path(given), **ext)


def prepare_cells(ctx: RunContext, cells: Iterable[Mapping[str, Any]]) -> list[Path]:
    """Extract the clips of every domain the cells train, validate or test on (once each).

    Args:
        ctx: the run context.
        cells: resolved cells.

    Returns:
        The manifests prepared (domains without data, e.g. DFDC without ``--dfdc``, skipped).
    """
    done: list[Path] = []
    for cell in cells:
        codes = [*cell.get("train_domains", ()), *cell.get("val_domains", ()),
                 *cell.get("test_domains", ())]
        source = cell.get("source_domain")
        if source:  # one code, or several (Table 6's transfer sources)
            codes.extend([source] if isinstance(source, str) else source)
        for code in dict.fromkeys(codes):
            if code not in DOMAINS:
                continue
            manifest = clip_set(ctx, cell, code)
            if manifest is not None and manifest not in done:
                done.append(manifest)
    return done


def available_codes(manifest: Path, codes: Iterable[str]) -> list[str]:
    """The domain codes whose fake videos exist in a manifest (others are skipped)."""
    from data_prep.records import read_manifest

    frame = read_manifest(manifest)
    ok = (frame[frame["clips_written"].fillna(0).astype(int) > 0]
          if "clips_written" in frame else frame)
    present = {m.lower() for m in ok["method"].unique()}
    return [c for c in codes if DOMAINS[c][1] and all(m.lower() in present for m in DOMAINS[c][1])]


# ----------------------------------------------------------------------------------- selections
@functools.cache
def split_rule_supported() -> bool:
    """Whether the installed :class:`clrnet.strategies.DataSpec` applies split rules at read
    time (its ``split_rule`` field); without it the records' stored splits are used."""
    from clrnet.strategies import DataSpec

    return "split_rule" in inspect.signature(DataSpec).parameters


def split_rule(cell: Mapping[str, Any], code: str) -> str | None:
    """The protocol split rule of ``code``'s dataset in ``cell`` (None: the stored splits)."""
    rules = cell.get("splits") or {}
    rule = rules.get(DATASET_OF.get(code, ""))
    return None if rule is None or rule in STORED_RULES else rule


def data_spec(ctx: RunContext, cell: Mapping[str, Any], manifest: Path, codes: Sequence[str],
              splits: Sequence[str], *, real: bool = True):
    """The selection of ``codes`` (with their real videos) in ``splits`` of ``manifest``.

    Codes of datasets with different split rules become one ``DataSpec`` per rule (a list,
    which the strategies and :func:`clrnet.strategies.evaluation.evaluate` read as their union).

    Returns:
        A ``DataSpec`` or a list of them.
    """
    from clrnet.strategies import DataSpec

    groups: dict[str | None, list[str]] = {}
    for code in codes:
        groups.setdefault(split_rule(cell, code), []).append(code)
    specs = []
    for rule, group in groups.items():
        methods = domain_methods(group, real=real)
        kwargs: dict[str, Any] = {"methods": tuple(methods) if methods else None,
                                  "splits": tuple(splits)}
        if rule is not None:
            if split_rule_supported():
                kwargs["split_rule"] = rule
            else:
                ctx.note(f"split rule {rule} not applied (clrnet.strategies.DataSpec has no "
                         "split_rule yet): the records' stored splits were used")
        specs.append(DataSpec(manifest, **kwargs))
    return specs[0] if len(specs) == 1 else specs
