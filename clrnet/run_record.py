"""The run record: which code, which library versions and which machine produced a result.

One implementation for every output of the package: training runs (``env.json``), table scripts
(``env.json``/``run.json``), benchmark rows and predict reports. Facts:

* **code**: the git commit (and whether tracked files were modified) when the package runs from
  a git checkout of this project; otherwise (``pip install .``) the installed package version;
* **versions**: Python and the pinned libraries that decide numbers (TensorFlow, Keras, NumPy,
  OpenCV, scikit-learn, pandas, mtcnn);
* **machine**: CPU model, cores (and how many this process may use), speed-relevant CPU flags,
  memory, GPUs, load average, platform.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from data_prep.fileio import json_default, write_json_atomic

__all__ = ["CPU_FLAGS", "code_version", "cpu_model_and_flags", "environment", "machine",
           "versions", "write_run_record"]

PACKAGE = "deepfake-repro"
_ROOT = Path(__file__).resolve().parents[1]
#: CPU flags that decide TensorFlow's speed and which reduced precisions run natively.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
_LIBRARIES = ("tensorflow", "keras", "numpy", "opencv-python-headless", "scikit-learn", "pandas",
              "mtcnn", "h5py")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True,
                          check=True, timeout=10).stdout.strip()


@functools.cache
def code_version() -> dict[str, Any]:
    """The code that runs: ``git_sha``/``git_dirty`` in a checkout, else the package version.

    Cached, so a long job records the code it started with even if the checkout moves on.

    Returns:
        ``{"git_sha": str | None, "git_dirty": bool | None, "package_version": str | None}``.
    """
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = None
    sha, dirty = None, None
    if (_ROOT / ".git").exists() and (_ROOT / "setup.cfg").is_file():
        try:
            sha = _git("rev-parse", "HEAD")
            dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.SubprocessError):
            sha, dirty = None, None
    return {"git_sha": sha, "git_dirty": dirty, "package_version": version}


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """CPU model name and the flags of :data:`CPU_FLAGS` it has (Linux ``/proc/cpuinfo``).

    Returns:
        ``(model, flags)``; ``(platform.processor(), [])`` where ``/proc/cpuinfo`` is missing.
    """
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        return platform.processor(), []
    return model, [f for f in CPU_FLAGS if f in flags]


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def machine() -> dict[str, Any]:
    """The machine this process runs on (JSON-ready)."""
    model, flags = cpu_model_and_flags()
    gpus: list[str] = []
    if "tensorflow" in sys.modules:  # never import TensorFlow just to look
        gpus = [d.name for d in sys.modules["tensorflow"].config.list_physical_devices("GPU")]
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_flags": flags,
        "memory_gb": _memory_gb(),
        "gpus": gpus,
        "loadavg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
    }


def versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries that decide results."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def environment() -> dict[str, Any]:
    """Code, versions, machine, Keras precision policy, time and command line of this process."""
    policy = None
    if "keras" in sys.modules:
        policy = sys.modules["keras"].mixed_precision.global_policy().name
    return {
        "code": code_version(),
        "versions": versions(),
        "machine": machine(),
        "precision_policy": policy,
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": list(sys.argv),
    }


def write_run_record(run_dir: str | os.PathLike, args: Mapping[str, Any],
                     extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``args.json`` (resolved arguments) and ``env.json`` (:func:`environment`).

    When ``args.json`` already exists (a resumed run), the original record is kept and this
    run's arguments and environment are appended to ``resumes.jsonl``.

    Args:
        run_dir: the run or results folder.
        args: the fully resolved arguments (defaults filled in).
        extra: more facts, stored under ``"extra"`` in ``env.json``.

    Returns:
        The folder.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    if extra:
        env["extra"] = dict(extra)
    if (run_dir / "args.json").exists():
        with open(run_dir / "resumes.jsonl", "a") as fh:
            fh.write(json.dumps({"args": dict(args), "env": env}, default=json_default) + "\n")
    else:
        write_json_atomic(run_dir / "args.json", dict(args), sort_keys=True)
        write_json_atomic(run_dir / "env.json", env, sort_keys=True)
    return run_dir
