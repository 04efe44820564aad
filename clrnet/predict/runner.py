"""How ``clrnet.predict`` runs the model: one traced function, a warm-up, a scoring thread.

* :class:`BatchScorer` calls the model on batches of ``batch_size`` samples; a video's last,
  shorter batch runs as it is. Measured on full-size CLRNet-50 (float32, batch 8, 2 shared cores
  of an AMD EPYC without AVX512): a clip costs 2.5-2.8 CPU s through
  :func:`clrnet.inference.make_predict_fn`'s traced function (3.2 CPU s eagerly), the trace
  6.3-7.5 CPU s, the graph's one-off set-up ~5 CPU s, a batch size not seen before 0-2.4 CPU s
  (kernel set-up; the function's input signature leaves the batch free, so it is not traced
  again). Padding the last batch to the full size would cost ~2.6 CPU s per padded clip, so it
  is not done. :meth:`BatchScorer.warm_up` makes the first call, on one sample of zeros, so the
  trace and the set-up happen then, not on the first video's clips. A float32 run of fewer
  samples than :data:`GRAPH_MIN_SAMPLES` (one video of 16 clips) runs the model eagerly
  instead: it has nothing to trace and costs less in all.
* :class:`ScoringWorker` runs a scorer in its own thread: it warms the model up as soon as it
  starts, then scores the crops the decoding thread hands it, one video at a time, so the
  model works on one video's clips while the next clips are decoded and their faces detected
  (the warm-up itself overlaps with decoding the first video). Its input queue is bounded (two
  batches of uint8 crops and a few more), so memory does not grow with the number or length of
  the videos.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from clrnet.predict.base import PredictUsageError, first_line

__all__ = ["GRAPH_MIN_SAMPLES", "BatchScorer", "ScoringWorker", "make_scorer", "to_model_input"]


def to_model_input(crops: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (..., S, S, 3) -> float32 [0, 1] (..., H, W, 3), resized when not square."""
    h, w = size
    if crops.shape[-3:-1] != (h, w):
        import cv2

        flat = crops.reshape(-1, *crops.shape[-3:])
        flat = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in flat])
        crops = flat.reshape(*crops.shape[:-3], h, w, 3)
    return crops.astype(np.float32) / 255.0


class BatchScorer:
    """``x -> P(fake)``, calling ``fn`` with at most ``batch_size`` samples at a time.

    Args:
        fn: ``x (n, ...) float32 -> (n,) P(fake)`` (:func:`clrnet.inference.make_predict_fn`'s
            traced function, or an eager call).
        batch_size: samples per call (the last call of a video may have fewer).
        sample_shape: one sample's shape (``(T, H, W)`` or ``(H, W)``; channels added).
        precision: the precision ``fn`` runs in.

    Attributes:
        warm_up_s: seconds the warm-up call took (None before it ran).
        calls: model calls made so far (the warm-up included).
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], batch_size: int,
                 sample_shape: tuple[int, ...], precision: str = "float32") -> None:
        self.fn = fn
        self.batch_size = int(batch_size)
        self.sample_shape = (*sample_shape, 3)
        self.precision = precision
        self.warm_up_s: float | None = None
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        outs = []
        with self._lock:  # one caller at a time (the warm-up may still be running)
            for start in range(0, len(x), self.batch_size):
                chunk = x[start:start + self.batch_size]
                outs.append(np.asarray(self.fn(chunk), np.float64).reshape(-1))
                self.calls += 1
        return np.concatenate(outs) if outs else np.zeros((0,))

    def warm_up(self) -> float:
        """Make the first (tracing) call on one sample of zeros; return its seconds."""
        with self._lock:
            if self.warm_up_s is None:
                started = time.perf_counter()
                self.fn(np.zeros((1, *self.sample_shape), np.float32))
                self.calls += 1
                self.warm_up_s = time.perf_counter() - started
        return self.warm_up_s


#: Samples a run must score before the traced function pays for itself (float32). On full-size
#: CLRNet-50 (2 shared cores of an AMD EPYC without AVX512, batch 8) the trace and the graph's
#: one-off set-up cost ~11-13.5 CPU s and then save ~0.45 CPU s per clip over eager calls (2.8
#: vs 3.25 CPU s/clip): about 30 clips, i.e. two videos of 16 clips.
GRAPH_MIN_SAMPLES = 32


def make_scorer(model: Any, precision: str, batch_size: int, sample_shape: tuple[int, ...],
                graph: bool = True) -> BatchScorer:
    """A :class:`BatchScorer` for ``model``.

    Args:
        model: a model giving P(fake) (embedding models already wrapped by their scorer).
        precision: as :func:`clrnet.inference.resolve_precision`.
        batch_size: samples per call.
        sample_shape: ``(T, H, W)`` (clips) or ``(H, W)`` (frames).
        graph: run :func:`clrnet.inference.make_predict_fn`'s traced function; False runs the
            model eagerly (after :func:`clrnet.inference.fuse_convlstm`), which has no trace to
            pay for and suits runs of few samples (:data:`GRAPH_MIN_SAMPLES`). Only float32 can
            run eagerly; other precisions always use the traced function.

    Returns:
        The scorer (not yet warmed up; an eager one needs no warm-up).

    Raises:
        PredictUsageError: a precision this machine cannot run, or a model the fast path cannot
            take.
    """
    import keras

    from clrnet.fast_load import skip_random_init
    from clrnet.inference import InferenceError, fuse_convlstm, make_predict_fn, resolve_precision
    from clrnet.scoring import check_input, fake_from_outputs, output_kind

    try:
        with skip_random_init():  # a clone (fused / cast) gets every weight copied in
            if graph or resolve_precision(precision) != "float32":
                fn = make_predict_fn(model, precision, batch_size=batch_size)
                return BatchScorer(fn, batch_size, sample_shape, fn.precision)
            runner = fuse_convlstm(model)
    except InferenceError as exc:
        raise PredictUsageError(f"--precision {precision}: {first_line(exc)}") from exc
    kind = output_kind(model)

    def eager(x: np.ndarray) -> np.ndarray:
        x = check_input(model, np.asarray(x, np.float32))
        return fake_from_outputs(keras.ops.convert_to_numpy(runner(x, training=False)), kind)

    scorer = BatchScorer(eager, batch_size, sample_shape, "float32")
    scorer.warm_up_s = 0.0  # nothing to trace
    return scorer


class _Job:
    """One video's crops inside the worker."""

    def __init__(self) -> None:
        self.probs: list[np.ndarray] = []
        self.model_s = 0.0
        self.done = threading.Event()
        self.error: str | None = None


class ScoringWorker:
    """Score videos' crops in a background thread while the caller decodes the next ones.

    Usage: ``key = worker.open()``, ``worker.add(key, crops)`` per clip (uint8 ``([T,] S, S, 3)``
    crops), ``worker.close(key)``, later ``worker.result(key)``; ``worker.stop()`` at the end.

    Args:
        scorer: the model's :class:`BatchScorer` (its ``batch_size`` crops are scored together).
        size: the model's ``(H, W)`` (crops of another size are resized).
        max_queued: queued items at most (``add`` blocks beyond); default 2 batches + 8.
        warm_up: make the warm-up call as soon as the thread starts.
    """

    def __init__(self, scorer: BatchScorer, size: tuple[int, int], max_queued: int | None = None,
                 warm_up: bool = True) -> None:
        self.scorer = scorer
        self.size = size
        self._queue: queue.Queue = queue.Queue(max_queued or 2 * scorer.batch_size + 8)
        self._jobs: dict[int, _Job] = {}
        self._next = 0
        self._warm = warm_up
        self._abandon = False
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="clrnet-predict-model",
                                        daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------------------
    def open(self) -> int:
        """Start a video; returns its key."""
        key = self._next
        self._next += 1
        self._jobs[key] = _Job()
        return key

    def add(self, key: int, crops: np.ndarray) -> float:
        """Queue one clip's (or frame's) uint8 crops of video ``key``; blocks while the queue is
        full and returns the seconds it blocked."""
        return self._put(("add", key, crops))

    def close(self, key: int) -> None:
        """No more crops for video ``key``: score what is left."""
        self._put(("close", key, None))

    def result(self, key: int) -> tuple[np.ndarray, float]:
        """Wait for video ``key``: its P(fake) per added crop, in order, and its model seconds.

        Raises:
            RuntimeError: the model failed on this video (one line).
        """
        job = self._jobs[key]
        job.done.wait()
        del self._jobs[key]
        if job.error:
            raise RuntimeError(job.error)
        probs = np.concatenate(job.probs) if job.probs else np.zeros((0,))
        return probs, job.model_s

    def ready(self, key: int) -> bool:
        """Whether :meth:`result` would return at once."""
        return self._jobs[key].done.is_set()

    def stop(self, wait: bool = True) -> None:
        """End the thread: after the queued work (``wait``), or at once, dropping it."""
        if not wait:
            self._abandon = True
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(("stop", None, None))
            return
        if self._thread.is_alive():
            self._put(("stop", None, None))
        self._thread.join()

    def _put(self, item: tuple) -> float:
        started = time.perf_counter()
        while True:
            if not self._thread.is_alive():
                raise RuntimeError(self.failure or "the model thread stopped")
            try:
                self._queue.put(item, timeout=0.5)
                return time.perf_counter() - started
            except queue.Full:
                continue

    # -- worker side ------------------------------------------------------------------------
    def _score(self, job: _Job, crops: list[np.ndarray]) -> None:
        if not crops or job.error:
            return
        started = time.perf_counter()
        try:
            x = to_model_input(np.stack(crops), self.size)
            job.probs.append(self.scorer(x))
        except Exception as exc:  # noqa: BLE001 - reported on the video, the batch goes on
            job.error = f"model failed: {type(exc).__name__}: {first_line(exc)}"
        job.model_s += time.perf_counter() - started

    def _run(self) -> None:
        try:
            if self._warm:
                self.scorer.warm_up()
            pending: dict[int, list[np.ndarray]] = {}
            while True:
                kind, key, crops = self._queue.get()
                if kind == "stop" or self._abandon:
                    return
                job = self._jobs[key]
                if kind == "add":
                    buf = pending.setdefault(key, [])
                    buf.append(crops)
                    if len(buf) >= self.scorer.batch_size:
                        self._score(job, buf)
                        pending[key] = []
                else:
                    self._score(job, pending.pop(key, []))
                    job.done.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.failure = f"model thread failed: {type(exc).__name__}: {first_line(exc)}"
            for job in self._jobs.values():
                job.error = job.error or self.failure
                job.done.set()
