"""Write the mini benchmark in the FaceForensics++ layout (plus an in-the-wild folder).

Layout (as the official FF++ download script writes it, ondyari/FaceForensics
``dataset/README.md``)::

    <out>/original_sequences/youtube/c23/videos/000.mp4 ...
    <out>/original_sequences/actors/c23/videos/01__meeting_serious.mp4 ...
    <out>/manipulated_sequences/<Method>/c23/videos/<target>_<source>.mp4   (4 FF++ methods)
    <out>/manipulated_sequences/DeepFakeDetection/c23/videos/01_02__meeting_serious__SYNTH001.mp4
    <out>/splits/{train,val,test}.json      official pair format: [["000", "001"], ...]
    <out>/in_the_wild/{real,fake}/*.mp4     a different manipulation (SBI + flicker), other people
    <out>/README.md, synth_metadata.json, MINI_BENCHMARK.json (written last: the completion marker)

Differences from FF++, all stated in the generated README: pseudo-identities instead of 1000
YouTube people; stand-in manipulations; MPEG-4 Part 2 (``mp4v``, the only encoder in the
opencv-python-headless wheel) instead of H.264 CRF 23, and "c40" = frames down-scaled 2x, JPEG
quality 30 and up-scaled before the same encoder, instead of H.264 CRF 40.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from data_prep.fileio import atomic_path
from data_prep.synth import manipulations as mp
from data_prep.synth.animate import Clip, Identity, make_identity, render_clip
from data_prep.synth.faces_source import FaceSource, SynthError, load_sources

#: 2: every DFD fake swaps in an actor of the target actor's own split (version 1 took the next
#: actor in id order, so a test actor's face appeared in training only inside fakes and the face
#: swapped into the test fakes only in real training videos: identity leakage that inverted the
#: DFD column, clip AUC 0.05-0.61); 8 actors for 20 videos per method (2 in val and test).
GENERATOR_VERSION = 2
MINI_BENCHMARK_LABEL = "mini benchmark (synthetic stand-in), not FaceForensics++"
MARKER = "MINI_BENCHMARK.json"
FF_METHODS: tuple[str, ...] = ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures")
ALL_METHODS: tuple[str, ...] = (*FF_METHODS, "DeepFakeDetection")
SCENES: tuple[str, ...] = ("meeting_serious", "talking_against_wall", "outside_laughing",
                           "kitchen_still", "podium_speech_happy", "walking_down_street")
FPS = 25.0
SIZE = (256, 256)
WILD_SIZE = (320, 240)
DEFAULTS = {"videos_per_method": 20, "frames": 48, "seed": 0}


def write_video(path: Path, frames: np.ndarray, fps: float = FPS) -> None:
    """Write RGB frames as an MPEG-4 (``mp4v``) file atomically (partial file, then rename).

    Args:
        path: final ``.mp4`` path (parents are created).
        frames: uint8 RGB (T, H, W, 3).
        fps: frame rate.

    Raises:
        SynthError: if OpenCV cannot open a writer at that place.
    """
    h, w = frames.shape[1:3]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise SynthError("cannot open an mp4v video writer", tmp)
        try:
            for f in frames:
                writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()


def degrade_c40(frames: np.ndarray, quality: int = 30) -> np.ndarray:
    """Stronger compression stand-in: 2x down-scale, JPEG at ``quality``, up-scale back.

    Args:
        frames: uint8 RGB (T, H, W, 3).
        quality: JPEG quality.

    Returns:
        Degraded uint8 RGB frames, same shape.
    """
    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        small = cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        small = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else small
        out[i] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def split_pairs(n_ids: int, seed: int) -> dict[str, list[list[str]]]:
    """FF++-style pair splits: ids (2i, 2i+1) form a pair; pairs shuffled into 60/20/20.

    Args:
        n_ids: number of youtube ids (even).
        seed: shuffling seed.

    Returns:
        ``{"train": [[a, b], ...], "val": [...], "test": [...]}``.
    """
    pairs = [[f"{2 * i:03d}", f"{2 * i + 1:03d}"] for i in range(n_ids // 2)]
    order = np.random.default_rng([seed, 99]).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    n_test = max(1, round(0.2 * len(pairs)))
    n_val = max(1, round(0.2 * len(pairs))) if len(pairs) > 2 else 0
    return {"test": sorted(pairs[:n_test]), "val": sorted(pairs[n_test:n_test + n_val]),
            "train": sorted(pairs[n_test + n_val:])}


def pick_actor_ids(n_actors: int) -> list[str]:
    """Two-digit DFD actor ids chosen so the FF++ adapter's actor hash split covers every split.

    The adapter (``data_prep.datasets.ffpp``) puts an actor's videos in
    ``hash_split("dfd-actor:<id>")``; we pick ids so about 60/20/20 of the actors land in
    train/val/test (at least one each when ``n_actors >= 3``).
    """
    from data_prep.datasets.base import hash_split

    quota = {"test": max(1, round(0.2 * n_actors)), "val": max(1, round(0.2 * n_actors))}
    if n_actors >= 6:  # two per held-out split, so swaps stay inside a split (actor_sources)
        quota = {s: max(2, q) for s, q in quota.items()}
    quota["train"] = max(1, n_actors - quota["test"] - quota["val"])
    if n_actors < 3:
        quota = {"train": n_actors, "val": 0, "test": 0}
    chosen: list[str] = []
    for k in range(1, 100):
        aid = f"{k:02d}"
        s = hash_split(f"dfd-actor:{aid}")
        if quota.get(s, 0) > 0:
            quota[s] -= 1
            chosen.append(aid)
        if len(chosen) == n_actors:
            break
    return chosen


def actor_sources(actor_ids: list[str]) -> dict[str, str | None]:
    """The actor whose face is swapped into each actor's DFD fakes, from the same split.

    Actors are grouped by the FF++ adapter's actor hash split and paired in a cycle inside each
    group (like the FF++ pairs A_B / B_A), so no identity of a held-out actor is seen in
    training, neither in a real nor in a fake video. An actor alone in its split gets None
    (a dedicated source identity that appears in no other video).

    Args:
        actor_ids: the actor ids (:func:`pick_actor_ids`).

    Returns:
        ``{actor id: source actor id or None}``.
    """
    from data_prep.datasets.base import hash_split

    groups: dict[str, list[str]] = {}
    for aid in actor_ids:
        groups.setdefault(hash_split(f"dfd-actor:{aid}"), []).append(aid)
    out: dict[str, str | None] = {}
    for group in groups.values():
        for i, aid in enumerate(group):
            out[aid] = group[(i + 1) % len(group)] if len(group) > 1 else None
    return out


class _Writer:
    """Writes one video (and its c40 copy), skipping finished files, recording metadata."""

    def __init__(self, out: Path, c40: bool, meta: dict) -> None:
        self.out, self.c40, self.meta = out, c40, meta

    def done(self, rels: list[str]) -> bool:
        comps = ["c23", "c40"] if self.c40 else ["c23"]
        return all((self.out / r.replace("<c>", c)).exists() for r in rels for c in comps)

    def __call__(self, rel: str, frames: np.ndarray, info: dict) -> None:
        path = self.out / rel.replace("<c>", "c23")
        if not path.exists():
            write_video(path, frames)
        if self.c40 and "<c>" in rel:
            path40 = self.out / rel.replace("<c>", "c40")
            if not path40.exists():
                write_video(path40, degrade_c40(frames))
        self.meta[rel.replace("/<c>/", "/c23/")] = info


def _seed(*parts: int) -> int:
    """A deterministic 30-bit seed from integers (independent of Python's hash salt)."""
    return int(np.random.default_rng([abs(int(p)) for p in parts]).integers(1 << 30))


def _clip_for(ident: Identity, sources: list[FaceSource], frames: int, seed: int,
              size: tuple[int, int] = SIZE, shake: float = 1.0, noise: float = 2.0) -> Clip:
    return render_clip(ident, sources, frames, size, seed, shake=shake, noise=noise)


def _readme(out: Path, args: dict, sources: list[FaceSource], counts: dict[str, int]) -> str:
    from data_prep.synth.readme_text import render_readme

    return render_readme(args, [s.name for s in sources], counts, MINI_BENCHMARK_LABEL,
                         GENERATOR_VERSION)


def generate(out: str | os.PathLike, *, faces: str | os.PathLike | None = None,
             videos_per_method: int = DEFAULTS["videos_per_method"],
             frames: int = DEFAULTS["frames"], seed: int = DEFAULTS["seed"], c40: bool = False,
             preview: bool = False, progress: bool = True,
             methods: tuple[str, ...] | list[str] | None = None, wild: bool = True) -> Path:
    """Build the mini benchmark (synthetic stand-in, not FaceForensics++) under ``out``.

    Deterministic for a given seed and face material. Resumable: finished videos are kept and
    skipped; every video is written to a hidden partial file and renamed.

    Args:
        out: output root (created).
        faces: folder of images/videos of real people; ``None`` = the media shipped in
            ``data_prep/media``.
        videos_per_method: youtube originals, and fakes per FF++ method (even, >= 4).
        frames: frames per video (25 fps).
        seed: generator seed.
        c40: also write the stronger-compression ``c40`` copies.
        preview: write ``preview.png``, one frame per method.
        progress: show a tqdm progress bar.
        methods: subset of the five FF++ methods to generate (default all).
        wild: also write the in-the-wild folder.

    Returns:
        The output root.

    Raises:
        SynthError: bad arguments, no usable faces, or an unwritable output folder.
    """
    if videos_per_method < 4 or videos_per_method % 2:
        raise SynthError(f"--videos-per-method must be an even number >= 4, got "
                         f"{videos_per_method}", out)
    if frames < 8:
        raise SynthError(f"--frames must be >= 8, got {frames}", out)
    methods = tuple(ALL_METHODS if methods is None else methods)
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise SynthError(f"unknown methods {unknown}; expected some of {list(ALL_METHODS)}", out)
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.rglob(".*.partial.mp4"):
            stale.unlink()
    except OSError as exc:
        raise SynthError(f"cannot write the output folder ({exc.strerror})", root) from exc
    t0 = time.time()
    sources = load_sources(faces)
    n = videos_per_method
    n_actors = max(2, (2 * n) // 5) if "DeepFakeDetection" in methods else 0
    n_wild = max(2, (3 * n) // 10) if wild else 0
    actor_ids = pick_actor_ids(n_actors) if n_actors else []
    splits = split_pairs(n, seed)
    meta: dict[str, dict] = {}
    write = _Writer(root, c40, meta)
    ff = [m for m in FF_METHODS if m in methods]
    steps = n // 2 + len(actor_ids) + n_wild
    bar = tqdm(total=steps, desc="mini benchmark", unit="job", disable=not progress)
    idents = [make_identity(i, sources, seed) for i in range(n)]

    def info(label: int, method: str, target: int, source: int | None = None, **kw) -> dict:
        d = {"label": label, "method": method, "target_identity": target,
             "target_media": sources[idents_all[target].source].name}
        if source is not None:
            d.update(source_identity=source, source_media=sources[idents_all[source].source].name)
        return {**d, **kw}

    idents_all: dict[int, Identity] = {i: idents[i] for i in range(n)}
    # --- youtube originals and the four FF++ methods, pair by pair -------------------------
    for p in range(n // 2):
        a, b = 2 * p, 2 * p + 1
        rels = [f"original_sequences/youtube/<c>/videos/{i:03d}.mp4" for i in (a, b)]
        rels += [f"manipulated_sequences/{m}/<c>/videos/{x:03d}_{y:03d}.mp4"
                 for m in ff for x, y in ((a, b), (b, a))]
        if not write.done(rels):
            clips = {i: _clip_for(idents[i], sources, frames, _seed(seed, 1, i)) for i in (a, b)}
            for i in (a, b):
                write(f"original_sequences/youtube/<c>/videos/{i:03d}.mp4", clips[i].frames,
                      info(0, "original", i))
            for x, y in ((a, b), (b, a)):
                tgt, src = clips[x], clips[y]
                for m in ff:
                    js = _seed(seed, 10 + FF_METHODS.index(m), x, y)
                    if m == "Deepfakes":
                        fake = mp.identity_swap(tgt, src, "bottleneck", js)
                    elif m == "FaceSwap":
                        fake = mp.identity_swap(tgt, src, "poisson", js)
                    elif m == "Face2Face":
                        fake = mp.reenact(tgt, seed * 1000 + y, eyes=True, retexture=False)
                    else:
                        fake = mp.reenact(tgt, seed * 1000 + y, eyes=False, retexture=True)
                    write(f"manipulated_sequences/{m}/<c>/videos/{x:03d}_{y:03d}.mp4", fake,
                          info(1, m, x, y))
        bar.update(1)
    # --- DeepFakeDetection: actors' originals (scenes) and flickering swaps -----------------
    scenes_per_actor = 2
    partner = actor_sources(actor_ids)
    for k, aid in enumerate(actor_ids):
        ia = 1000 + k
        bid = partner[aid]
        # the swapped-in face: an actor of the same split, else an identity used nowhere else
        ib = 1000 + actor_ids.index(bid) if bid is not None else 1500 + k
        bid = bid if bid is not None else f"{50 + k:02d}"
        for i in (ia, ib):
            idents_all[i] = make_identity(i, sources, seed)
        for s in range(scenes_per_actor):
            scene = SCENES[(k + s) % len(SCENES)]
            orig = f"original_sequences/actors/<c>/videos/{aid}__{scene}.mp4"
            fake_rel = (f"manipulated_sequences/DeepFakeDetection/<c>/videos/"
                        f"{aid}_{bid}__{scene}__SYNTH{k * scenes_per_actor + s + 1:03d}.mp4")
            if write.done([orig, fake_rel]):
                continue
            shift = s * 37.0
            ta = replace(idents_all[ia], start=idents_all[ia].start + shift)
            tb = replace(idents_all[ib], start=idents_all[ib].start + shift)
            scene_seed = _seed(seed, 2, k, s)
            tgt = _clip_for(ta, sources, frames, scene_seed)
            src = _clip_for(tb, sources, frames, scene_seed + 1)
            write(orig, tgt.frames, info(0, "original_actors", ia, scene=scene))
            write(fake_rel, mp.identity_swap(tgt, src, "flicker", scene_seed),
                  info(1, "DeepFakeDetection", ia, ib, scene=scene))
        bar.update(1)
    # --- in the wild: other pseudo-identities, other camera, SBI + flicker fakes -----------
    for k in range(n_wild):
        i = 2000 + k
        idents_all[i] = make_identity(i, sources, seed)
        wseed = _seed(seed, 3, k)
        label = k % 2
        rel = (f"in_the_wild/{'fake' if label else 'real'}/"
               f"wild_{'fake' if label else 'real'}_{k // 2:03d}.mp4")
        if not (root / rel).exists():
            clip = _clip_for(idents_all[i], sources, frames, wseed, size=WILD_SIZE, shake=1.8,
                             noise=3.0)
            data = mp.self_blend(clip, wseed, flicker=0.7) if label else clip.frames
            write(rel, data, info(label, "SBI+flicker" if label else "wild_real", i))
        else:
            meta[rel] = info(label, "SBI+flicker" if label else "wild_real", i)
        bar.update(1)
    bar.close()
    # --- splits, README, metadata, preview, marker ----------------------------------------
    (root / "splits").mkdir(exist_ok=True)
    for name, pairs in splits.items():
        (root / "splits" / f"{name}.json").write_text(json.dumps(pairs) + "\n")
    counts = {"youtube_originals": n, "fakes_per_ff_method": n if ff else 0,
              "ff_methods": len(ff), "actors": len(actor_ids),
              "actor_originals": len(actor_ids) * scenes_per_actor,
              "dfd_fakes": len(actor_ids) * scenes_per_actor, "wild_real": (n_wild + 1) // 2,
              "wild_fake": n_wild // 2, "frames_per_video": frames}
    args = {"faces": None if faces is None else str(faces), "videos_per_method": n,
            "frames": frames, "seed": seed, "c40": c40, "methods": list(methods), "wild": wild}
    (root / "README.md").write_text(_readme(root, args, sources, counts))
    (root / "synth_metadata.json").write_text(json.dumps(
        {"label": MINI_BENCHMARK_LABEL, "generator_version": GENERATOR_VERSION, "args": args,
         "sources": [s.name for s in sources], "splits": splits, "counts": counts,
         "videos": dict(sorted(meta.items()))}, indent=1) + "\n")
    if preview:
        from data_prep.synth.preview import make_preview

        make_preview(root)
    marker = {"label": MINI_BENCHMARK_LABEL, "generator_version": GENERATOR_VERSION,
              "seed": seed, "args": args, "build_seconds": round(time.time() - t0, 1)}
    (root / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
    return root


def default_cache_dir() -> Path:
    """``$DEEPFAKE_REPRO_CACHE/mini_benchmark_v<version>`` or the same under ``~/.cache``."""
    base = os.environ.get("DEEPFAKE_REPRO_CACHE")
    base_dir = Path(base) if base else Path.home() / ".cache" / "deepfake-repro"
    return base_dir / f"mini_benchmark_v{GENERATOR_VERSION}"


def read_marker(root: str | os.PathLike) -> dict | None:
    """The completion marker of a generated tree, or ``None`` if absent/unreadable."""
    try:
        return json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_mini_benchmark(root: str | os.PathLike) -> bool:
    """Whether ``root`` (or its parent, for a sub-folder such as ``in_the_wild``) is a generated
    mini benchmark; reporting code then labels results with :data:`MINI_BENCHMARK_LABEL`."""
    p = Path(root)
    return read_marker(p) is not None or read_marker(p.parent) is not None


def ensure_mini_benchmark(cache_dir: str | os.PathLike | None = None, *,
                          progress: bool = True) -> Path:
    """Return the default mini benchmark, building it first if it is not there yet.

    The tree is built in a temporary sibling folder and renamed into place, so an interrupted
    build never leaves a half tree behind; the marker file records the generator version and
    seed, and a tree from another generator version is rebuilt.

    Args:
        cache_dir: where the tree lives; default :func:`default_cache_dir`.
        progress: show the progress bar while building.

    Returns:
        The root of the tree (an FF++-layout folder).

    Raises:
        SynthError: if ``cache_dir`` exists but is not a mini benchmark built by this package.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    marker = read_marker(root)
    if marker is not None and marker.get("generator_version") == GENERATOR_VERSION:
        return root
    if root.exists() and marker is None and any(root.iterdir()):
        raise SynthError("mini benchmark cache folder exists but holds no "
                         f"{MARKER}; remove it or pick another cache_dir", root)
    print(f"Building the mini benchmark (synthetic stand-in, not FaceForensics++) in {root} ...",
          file=sys.stderr, flush=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    generate(tmp, progress=progress, **DEFAULTS)
    done = read_marker(root)
    if done is not None and done.get("generator_version") == GENERATOR_VERSION:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first: keep its tree
        return root
    if root.exists():
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        os.replace(root, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:
        if read_marker(root) is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    return root
