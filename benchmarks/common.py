"""Shared pieces of the benchmark harness: the machine/version row and JSON-line output.

Every row printed by ``python -m benchmarks`` carries :func:`machine_info` (cores, CPU model and
flags, GPUs, load average, library versions, git SHA) so numbers from different machines and
commits are never mixed up. ``bench_faces.machine`` and ``bench_pipeline.machine_info`` (owned by
their authors) record the same facts in their own rows.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """CPU model name and the speed-relevant flags of :data:`CPU_FLAGS` (Linux /proc/cpuinfo).

    Returns:
        ``(model, flags)``; ``("", [])`` where /proc/cpuinfo is missing.
    """
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model, [f for f in CPU_FLAGS if f in flags]


@functools.cache
def git_sha() -> str:
    """HEAD of the checkout holding this package, ``+dirty`` when tracked files changed.

    Cached: the first call (made when a benchmark starts) names the code that runs, even if
    the checkout moves on while a long benchmark is still running.
    """
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True, timeout=10).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    """The machine and software a row was measured on.

    Returns:
        JSON-ready dict: cpu_model, cpu_count, cpu_affinity, cpu_flags, gpus, loadavg (1, 5,
        15 min), python, tensorflow, keras, numpy, tf threads, git_sha, time_utc.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    model, flags = cpu_model_and_flags()
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_flags": flags,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default(on)"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "git_sha": git_sha(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def emit(row: dict[str, Any], out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Print one JSON line (and append it to ``out`` when given).

    Args:
        row: the measurement; machine facts are added under their own keys when absent.
        out: optional JSON-lines file to append to.

    Returns:
        The row as printed.
    """
    full = {**machine_info(), **row}
    line = json.dumps(full, sort_keys=False)
    print(line, flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(line + "\n")
    return full


def quiet_tf() -> None:
    """Silence TensorFlow's C++ info logs (call before importing TensorFlow)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
