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

Splits (generator version 5): at the default 60 videos per method the FF++ pairs split
12 / 2 / 16 (24 / 4 / 32 videos per class and method), the DFD actors 8 / 2 / 16 (16 / 4 / 32
videos per class), and the 32 in-the-wild videos are all test. Version 4 had the same val and
test splits and half the training data (6 pairs, 4 actors); its large test split narrows the
bootstrap intervals of the test AUC (:func:`split_sizes`, :func:`actor_quota`,
:func:`wild_count`).

The jobs (one per FF++ pair, DFD actor and in-the-wild video) are independent and seeded on
their own, so ``generate(..., workers=N)`` renders them in N forked processes and writes the
same files as one process.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from data_prep.fileio import atomic_path, write_text_atomic
from data_prep.synth import manipulations as mp
from data_prep.synth.animate import Clip, Identity, make_identity, render_clip
from data_prep.synth.faces_source import FaceSource, SynthError, load_sources

#: 2: every DFD fake swaps in an actor of the target actor's own split (version 1 took the next
#: actor in id order, so a test actor's face appeared in training only inside fakes and the face
#: swapped into the test fakes only in real training videos: identity leakage that inverted the
#: DFD column, clip AUC 0.05-0.61); 8 actors for 20 videos per method (2 in val and test).
#: 3: a larger test split, same train/val sizes: 32 videos per method = 16 pairs split 6/2/8
#: (:func:`split_sizes`), DFD actors 4/2/8 (:func:`actor_quota`), 16 in-the-wild videos.
#: 4: twice version 3's test split, same train/val sizes: 48 videos per method = 24 pairs split
#: 6/2/16, DFD actors 4/2/16, 32 in-the-wild videos (32 test videos per class and column: at
#: 16, 58 of 150 quick CLRNet-table cells had a 95 % AUC interval wider than +-0.15).
#: 5: twice version 4's training split, same val and test: 60 videos per method = 30 pairs split
#: 12/2/16, DFD actors 8/2/16, still 32 in-the-wild videos (with 6 training pairs and 4
#: training actors the quick CLRNet reached training accuracy 0.99 and validation 0.35-0.60 on
#: the DFD stand-in).
GENERATOR_VERSION = 5
MINI_BENCHMARK_LABEL = "mini benchmark (synthetic stand-in), not FaceForensics++"
MARKER = "MINI_BENCHMARK.json"
FF_METHODS: tuple[str, ...] = ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures")
ALL_METHODS: tuple[str, ...] = (*FF_METHODS, "DeepFakeDetection")
SCENES: tuple[str, ...] = ("meeting_serious", "talking_against_wall", "outside_laughing",
                           "kitchen_still", "podium_speech_happy", "walking_down_street")
FPS = 25.0
SIZE = (256, 256)
WILD_SIZE = (320, 240)
DEFAULTS = {"videos_per_method": 60, "frames": 48, "seed": 0}


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


#: Train + val pairs of version 4's default tree (kept from version 2 when the test split grew).
HELD_IN_PAIRS = 8
#: Most test and val pairs (version 5: pairs beyond 16 + 2 + 6 go to train).
MAX_TEST_PAIRS, MAX_VAL_PAIRS = 16, 2
#: Most in-the-wild videos (version 5; all test).
MAX_WILD = 32
SCENES_PER_ACTOR = 2


def split_sizes(n_pairs: int) -> dict[str, int]:
    """How many FF++ pairs go to train, val and test (the rule behind :func:`split_pairs`).

    * test: a fifth of the pairs (rounded, at least one; version 2's rule), or more from 10
      pairs on: every pair beyond the first :data:`HELD_IN_PAIRS`, up to two thirds of the
      pairs (version 3: up to half; the same split up to 16 pairs), and at most
      :data:`MAX_TEST_PAIRS` (version 5);
    * val: a quarter of the remaining pairs (rounded half up), at least one when two remain,
      at most as many as test and at most :data:`MAX_VAL_PAIRS` (version 5);
    * train: the rest.

    At the default 30 pairs this gives train 12, val 2, test 16: version 4's validation and
    test data (24 pairs: 6 / 2 / 16) and twice its training pairs. Up to 24 pairs the split is
    version 4's, up to 10 pairs exactly version 2's 60/20/20 split. Examples (train / val /
    test): 2 pairs 1 / 0 / 1, 3 pairs 1 / 1 / 1, 4 pairs 2 / 1 / 1, 6 pairs 4 / 1 / 1,
    7 pairs 5 / 1 / 1, 8 pairs 4 / 2 / 2, 12 pairs 6 / 2 / 4, 16 pairs 6 / 2 / 8, 20 pairs
    6 / 2 / 12, 24 pairs 6 / 2 / 16, 32 pairs 14 / 2 / 16.

    Args:
        n_pairs: number of FF++ pairs (``videos_per_method // 2``, at least 2).

    Returns:
        ``{"train": n, "val": n, "test": n}`` summing to ``n_pairs``.
    """
    n_test = min(MAX_TEST_PAIRS,
                 max(1, round(n_pairs / 5), min(n_pairs - HELD_IN_PAIRS, 2 * n_pairs // 3)))
    rest = n_pairs - n_test
    n_val = min(n_test, MAX_VAL_PAIRS, max(1, math.floor(rest / 4 + 0.5))) if rest >= 2 else 0
    return {"train": rest - n_val, "val": n_val, "test": n_test}


def split_pairs(n_ids: int, seed: int) -> dict[str, list[list[str]]]:
    """FF++-style pair splits: ids (2i, 2i+1) form a pair; pairs shuffled into the splits.

    Args:
        n_ids: number of youtube ids (even).
        seed: shuffling seed.

    Returns:
        ``{"test": [[a, b], ...], "val": [...], "train": [...]}`` with the sizes of
        :func:`split_sizes` (a pair and its two fakes per method are never split).
    """
    pairs = [[f"{2 * i:03d}", f"{2 * i + 1:03d}"] for i in range(n_ids // 2)]
    order = np.random.default_rng([seed, 99]).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    sizes = split_sizes(len(pairs))
    n_test, n_val = sizes["test"], sizes["val"]
    return {"test": sorted(pairs[:n_test]), "val": sorted(pairs[n_test:n_test + n_val]),
            "train": sorted(pairs[n_test + n_val:])}


def actor_quota(pair_sizes: dict[str, int]) -> dict[str, int]:
    """How many DFD actors each split gets, from the FF++ pair split (:func:`split_sizes`).

    Test and val: as many actors as the split has pairs, at least two whenever it has any (so
    every held-out DFD fake swaps in another actor of its own split, :func:`actor_sources`);
    train: two thirds of the train pairs (rounded, at least one). The default tree (pairs
    6 / 2 / 16) gets 4 / 2 / 16 actors, two scenes each: 8 / 4 / 32 videos per class.

    Args:
        pair_sizes: ``{"train": n, "val": n, "test": n}`` pairs.

    Returns:
        ``{"train": n, "val": n, "test": n}`` actors.
    """
    held = {s: max(2, pair_sizes[s]) if pair_sizes[s] else 0 for s in ("val", "test")}
    return {"train": max(1, round(2 * pair_sizes["train"] / 3)), **held}


def pick_actor_ids(quota: dict[str, int]) -> list[str]:
    """DFD actor ids (``01``-``99``, then ``100``...) whose actor hash split meets ``quota``.

    The adapter (``data_prep.datasets.ffpp``) puts an actor's videos in
    ``hash_split("dfd-actor:<id>")``; we take the smallest ids of each split until its quota
    is filled.

    Args:
        quota: actors wanted per split (:func:`actor_quota`).

    Returns:
        The ids in increasing order.

    Raises:
        SynthError: if ids 01-999 cannot fill the quota (far beyond any sensible size).
    """
    from data_prep.datasets.base import hash_split

    left = {s: quota.get(s, 0) for s in ("train", "val", "test")}
    chosen: list[str] = []
    for k in range(1, 1000):
        if not any(left.values()):
            break
        aid = f"{k:02d}"
        s = hash_split(f"dfd-actor:{aid}")
        if left[s] > 0:
            left[s] -= 1
            chosen.append(aid)
    if any(left.values()):
        raise SynthError(f"too many DFD actors asked for ({quota}); use fewer videos per "
                         "method", None)
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


def wild_count(videos_per_method: int) -> int:
    """In-the-wild videos (all test): two thirds of the videos per method, rounded down to an
    even number so real and fake are as many, at least 2 and at most :data:`MAX_WILD` (32 at
    the default 60 as at version 4's 48; version 3: half, 16 at its default 32)."""
    return max(2, min(MAX_WILD, 2 * videos_per_method // 3 // 2 * 2))


class _Writer:
    """Writes one video (and its c40 copy), skipping finished files."""

    def __init__(self, out: Path, c40: bool) -> None:
        self.out, self.c40 = out, c40

    def done(self, rels: list[str]) -> bool:
        comps = ["c23", "c40"] if self.c40 else ["c23"]
        return all((self.out / r.replace("<c>", c)).exists() for r in rels for c in comps)

    def __call__(self, rel: str, frames: np.ndarray) -> None:
        path = self.out / rel.replace("<c>", "c23")
        if not path.exists():
            write_video(path, frames)
        if self.c40 and "<c>" in rel:
            path40 = self.out / rel.replace("<c>", "c40")
            if not path40.exists():
                write_video(path40, degrade_c40(frames))


def _seed(*parts: int) -> int:
    """A deterministic 30-bit seed from integers (independent of Python's hash salt)."""
    return int(np.random.default_rng([abs(int(p)) for p in parts]).integers(1 << 30))


def _clip_for(ident: Identity, sources: list[FaceSource], frames: int, seed: int,
              size: tuple[int, int] = SIZE, shake: float = 1.0, noise: float = 2.0) -> Clip:
    return render_clip(ident, sources, frames, size, seed, shake=shake, noise=noise)


@dataclass(frozen=True)
class _Plan:
    """Everything a job needs; built once in the parent and inherited by forked workers."""

    root: Path
    c40: bool
    sources: list[FaceSource]
    seed: int
    frames: int
    ff: tuple[str, ...]
    actor_ids: tuple[str, ...]
    partner: dict[str, str | None]


#: The plan of the build in progress (set before the worker pool forks, cleared after).
_PLAN: _Plan | None = None


def _info(plan: _Plan, idents: dict[int, Identity], label: int, method: str, target: int,
          source: int | None = None, **kw) -> dict:
    """One video's metadata record."""
    d = {"label": label, "method": method, "target_identity": target,
         "target_media": plan.sources[idents[target].source].name}
    if source is not None:
        d.update(source_identity=source, source_media=plan.sources[idents[source].source].name)
    return {**d, **kw}


def _pair_job(plan: _Plan, p: int) -> dict[str, dict]:
    """Youtube originals 2p, 2p+1 and their fakes A_B, B_A for every FF++ method."""
    a, b = 2 * p, 2 * p + 1
    idents = {i: make_identity(i, plan.sources, plan.seed) for i in (a, b)}
    write = _Writer(plan.root, plan.c40)
    origs = {i: f"original_sequences/youtube/<c>/videos/{i:03d}.mp4" for i in (a, b)}
    fakes = {(m, x, y): f"manipulated_sequences/{m}/<c>/videos/{x:03d}_{y:03d}.mp4"
             for x, y in ((a, b), (b, a)) for m in plan.ff}
    meta = {origs[i]: _info(plan, idents, 0, "original", i) for i in (a, b)}
    meta.update({rel: _info(plan, idents, 1, m, x, y) for (m, x, y), rel in fakes.items()})
    if not write.done(list(meta)):
        clips = {i: _clip_for(idents[i], plan.sources, plan.frames, _seed(plan.seed, 1, i))
                 for i in (a, b)}
        for i in (a, b):
            write(origs[i], clips[i].frames)
        for (m, x, y), rel in fakes.items():
            if write.done([rel]):
                continue
            tgt, src = clips[x], clips[y]
            js = _seed(plan.seed, 10 + FF_METHODS.index(m), x, y)
            if m == "Deepfakes":
                fake = mp.identity_swap(tgt, src, "bottleneck", js)
            elif m == "FaceSwap":
                fake = mp.identity_swap(tgt, src, "poisson", js)
            elif m == "Face2Face":
                fake = mp.reenact(tgt, plan.seed * 1000 + y, eyes=True, retexture=False)
            else:
                fake = mp.reenact(tgt, plan.seed * 1000 + y, eyes=False, retexture=True)
            write(rel, fake)
    return meta


def _actor_job(plan: _Plan, k: int) -> dict[str, dict]:
    """Actor ``k``'s scenes (originals) and their flickering DFD swaps."""
    aid = plan.actor_ids[k]
    ia = 1000 + k
    bid = plan.partner[aid]
    # the swapped-in face: an actor of the same split, else an identity used nowhere else
    ib = 1000 + plan.actor_ids.index(bid) if bid is not None else 1500 + k
    bid = bid if bid is not None else f"{50 + k:02d}"
    idents = {i: make_identity(i, plan.sources, plan.seed) for i in (ia, ib)}
    write = _Writer(plan.root, plan.c40)
    meta: dict[str, dict] = {}
    for s in range(SCENES_PER_ACTOR):
        scene = SCENES[(k + s) % len(SCENES)]
        orig = f"original_sequences/actors/<c>/videos/{aid}__{scene}.mp4"
        fake_rel = (f"manipulated_sequences/DeepFakeDetection/<c>/videos/"
                    f"{aid}_{bid}__{scene}__SYNTH{k * SCENES_PER_ACTOR + s + 1:03d}.mp4")
        meta[orig] = _info(plan, idents, 0, "original_actors", ia, scene=scene)
        meta[fake_rel] = _info(plan, idents, 1, "DeepFakeDetection", ia, ib, scene=scene)
        if write.done([orig, fake_rel]):
            continue
        shift = s * 37.0
        ta = replace(idents[ia], start=idents[ia].start + shift)
        tb = replace(idents[ib], start=idents[ib].start + shift)
        scene_seed = _seed(plan.seed, 2, k, s)
        tgt = _clip_for(ta, plan.sources, plan.frames, scene_seed)
        src = _clip_for(tb, plan.sources, plan.frames, scene_seed + 1)
        write(orig, tgt.frames)
        write(fake_rel, mp.identity_swap(tgt, src, "flicker", scene_seed))
    return meta


def _wild_job(plan: _Plan, k: int) -> dict[str, dict]:
    """In-the-wild video ``k``: another pseudo-identity, other camera; odd ``k`` are SBI fakes."""
    i = 2000 + k
    idents = {i: make_identity(i, plan.sources, plan.seed)}
    wseed = _seed(plan.seed, 3, k)
    label = k % 2
    kind = "fake" if label else "real"
    rel = f"in_the_wild/{kind}/wild_{kind}_{k // 2:03d}.mp4"
    if not (plan.root / rel).exists():
        clip = _clip_for(idents[i], plan.sources, plan.frames, wseed, size=WILD_SIZE, shake=1.8,
                         noise=3.0)
        data = mp.self_blend(clip, wseed, flicker=0.7) if label else clip.frames
        _Writer(plan.root, plan.c40)(rel, data)
    return {rel: _info(plan, idents, label, "SBI+flicker" if label else "wild_real", i)}


_JOBS = {"pair": _pair_job, "actor": _actor_job, "wild": _wild_job}


def _run_job(job: tuple[str, int]) -> dict[str, dict]:
    """Run one job of the current plan; returns its metadata keyed by the c23 path."""
    if _PLAN is None:
        raise RuntimeError("no mini benchmark build in progress")
    meta = _JOBS[job[0]](_PLAN, job[1])
    return {rel.replace("/<c>/", "/c23/"): v for rel, v in meta.items()}


def _run_jobs(plan: _Plan, jobs: list[tuple[str, int]], workers: int, bar: tqdm) -> dict:
    """Run ``jobs`` inline (``workers == 1``) or in a pool of forked processes.

    Every job is seeded on its own (:func:`_seed`) and writes files no other job writes, so
    the files do not depend on the worker count or the order in which jobs finish; the
    metadata is merged and sorted by path by the caller.
    """
    global _PLAN
    meta: dict[str, dict] = {}
    _PLAN = plan
    try:
        if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            # OpenCV's thread pool does not survive a fork (a child using or resizing it
            # waits forever on the parent's threads): stop it before forking, so every worker
            # runs OpenCV on one thread (the processes fill the cores), and restore it after.
            cv_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                ctx = multiprocessing.get_context("fork")  # workers inherit plan and faces
                with ctx.Pool(min(workers, len(jobs))) as pool:
                    for part in pool.imap_unordered(_run_job, jobs, chunksize=1):
                        meta.update(part)
                        bar.update(1)
            finally:
                cv2.setNumThreads(cv_threads)
        else:
            for job in jobs:
                meta.update(_run_job(job))
                bar.update(1)
    finally:
        _PLAN = None
    return meta


def _readme(args: dict, sources: list[FaceSource], counts: dict[str, int],
            split_counts: dict[str, dict[str, int]]) -> str:
    from data_prep.synth.readme_text import render_readme

    return render_readme(args, [s.name for s in sources], counts, MINI_BENCHMARK_LABEL,
                         GENERATOR_VERSION, split_counts)


def generate(out: str | os.PathLike, *, faces: str | os.PathLike | None = None,
             videos_per_method: int = DEFAULTS["videos_per_method"],
             frames: int = DEFAULTS["frames"], seed: int = DEFAULTS["seed"], c40: bool = False,
             preview: bool = False, progress: bool = True,
             methods: tuple[str, ...] | list[str] | None = None, wild: bool = True,
             workers: int = 1) -> Path:
    """Build the mini benchmark (synthetic stand-in, not FaceForensics++) under ``out``.

    Deterministic for a given seed and face material, whatever ``workers``. Resumable:
    finished videos are kept and skipped; every video is written to a hidden temporary file
    and renamed.

    Args:
        out: output root (created).
        faces: folder of images/videos of real people; ``None`` = the media shipped in
            ``data_prep/media``.
        videos_per_method: youtube originals, and fakes per FF++ method (even, >= 4).
        frames: frames per video (25 fps).
        seed: generator seed.
        c40: also write the stronger-compression ``c40`` copies.
        preview: write ``preview.png``, one frame per method.
        progress: show a tqdm progress bar (one step per job: a pair, an actor, a wild video).
        methods: subset of the five FF++ methods to generate (default all).
        wild: also write the in-the-wild folder.
        workers: processes rendering jobs in parallel (forked from this one, so the face
            material is loaded once); 1 = in this process. Where ``fork`` is not available
            (Windows, macOS spawn-only builds) the jobs run in this process.

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
    if workers < 1:
        raise SynthError(f"--workers must be >= 1, got {workers}", out)
    methods = tuple(ALL_METHODS if methods is None else methods)
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise SynthError(f"unknown methods {unknown}; expected some of {list(ALL_METHODS)}", out)
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for pattern in (".*.partial.mp4", ".*.tmp.mp4"):  # temporaries of an interrupted build
            for stale in root.rglob(pattern):
                stale.unlink()
    except OSError as exc:
        raise SynthError(f"cannot write the output folder ({exc.strerror})", root) from exc
    t0 = time.time()
    sources = load_sources(faces)
    n = videos_per_method
    splits = split_pairs(n, seed)
    pair_sizes = {s: len(v) for s, v in splits.items()}
    quota = actor_quota(pair_sizes) if "DeepFakeDetection" in methods else {}
    actor_ids = pick_actor_ids(quota) if quota else []
    n_wild = wild_count(n) if wild else 0
    ff = tuple(m for m in FF_METHODS if m in methods)
    plan = _Plan(root=root, c40=c40, sources=sources, seed=seed, frames=frames, ff=ff,
                 actor_ids=tuple(actor_ids), partner=actor_sources(actor_ids))
    # heaviest first (a pair job renders 2 clips and 8 fakes), so the pool ends together
    jobs = ([("pair", p) for p in range(n // 2)] + [("actor", k) for k in range(len(actor_ids))]
            + [("wild", k) for k in range(n_wild)])
    bar = tqdm(total=len(jobs), desc="mini benchmark", unit="job", disable=not progress)
    try:
        meta = _run_jobs(plan, jobs, workers, bar)
    finally:
        bar.close()
    # --- splits, README, metadata, preview, marker ----------------------------------------
    for name, pairs in splits.items():
        write_text_atomic(root / "splits" / f"{name}.json", json.dumps(pairs) + "\n")
    actors_per_split = {s: quota.get(s, 0) for s in ("train", "val", "test")}
    split_counts = {
        "ff_pairs": pair_sizes,
        "ff_videos_per_class_per_method": {s: 2 * v for s, v in pair_sizes.items()},
        "dfd_actors": actors_per_split,
        "dfd_videos_per_class": {s: SCENES_PER_ACTOR * v for s, v in actors_per_split.items()},
        "wild_videos": {"real": (n_wild + 1) // 2, "fake": n_wild // 2},
    }
    counts = {"youtube_originals": n, "fakes_per_ff_method": n if ff else 0,
              "ff_methods": len(ff), "actors": len(actor_ids),
              "actor_originals": len(actor_ids) * SCENES_PER_ACTOR,
              "dfd_fakes": len(actor_ids) * SCENES_PER_ACTOR, "wild_real": (n_wild + 1) // 2,
              "wild_fake": n_wild // 2, "frames_per_video": frames}
    args = {"faces": None if faces is None else str(faces), "videos_per_method": n,
            "frames": frames, "seed": seed, "c40": c40, "methods": list(methods), "wild": wild}
    write_text_atomic(root / "README.md", _readme(args, sources, counts, split_counts))
    write_text_atomic(root / "synth_metadata.json", json.dumps(
        {"label": MINI_BENCHMARK_LABEL, "generator_version": GENERATOR_VERSION, "args": args,
         "sources": [s.name for s in sources], "splits": splits, "counts": counts,
         "split_counts": split_counts, "videos": dict(sorted(meta.items()))}, indent=1) + "\n")
    if preview:
        from data_prep.synth.preview import make_preview

        make_preview(root)
    marker = {"label": MINI_BENCHMARK_LABEL, "generator_version": GENERATOR_VERSION,
              "seed": seed, "args": args, "build_seconds": round(time.time() - t0, 1)}
    write_text_atomic(root / MARKER, json.dumps(marker, indent=1) + "\n")
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
                          progress: bool = True, workers: int = 1) -> Path:
    """Return the default mini benchmark, building it first if it is not there yet.

    The tree is built in a temporary sibling folder and renamed into place, so an interrupted
    build never leaves a half tree behind; the marker file records the generator version and
    seed, and a tree from another generator version is rebuilt.

    Args:
        cache_dir: where the tree lives; default :func:`default_cache_dir`.
        progress: show the progress bar while building.
        workers: processes building it (:func:`generate`; the tree does not depend on it).

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
    generate(tmp, progress=progress, workers=workers, **DEFAULTS)
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
