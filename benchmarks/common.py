"""Shared pieces of the benchmark harness: the machine/version row and JSON-line output.

Every row printed by ``python -m benchmarks`` carries :func:`machine_info` (cores, CPU model and
flags, GPUs, load average, library versions, git SHA; facts from :mod:`clrnet.run_record`) so
numbers from different machines and commits are never mixed up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def git_sha() -> str:
    """The code measured: short git SHA (``+dirty`` when tracked files changed) or the package
    version, from :func:`clrnet.run_record.code_version` (cached at its first call, so a long
    benchmark names the code it started with)."""
    from clrnet.run_record import code_version

    code = code_version()
    if code["git_sha"]:
        return code["git_sha"][:12] + ("+dirty" if code["git_dirty"] else "")
    return f"version {code['package_version']}" if code["package_version"] else "unknown"


def machine_info() -> dict[str, Any]:
    """The machine and software a row was measured on (:mod:`clrnet.run_record`), as flat keys.

    Returns:
        JSON-ready dict: cpu_model, cpu_count, cpu_affinity, cpu_flags, memory_gb, gpus,
        loadavg (1, 5, 15 min), python, tensorflow, keras, numpy, oneDNN setting, TF thread
        pools, git_sha, time_utc.
    """
    import tensorflow as tf

    from clrnet.run_record import machine, versions

    facts = machine()
    ver = versions()
    return {
        **{k: facts[k] for k in ("cpu_model", "cpu_count", "cpu_affinity", "cpu_flags",
                                 "memory_gb", "gpus", "loadavg")},
        "python": ver["python"],
        "tensorflow": ver["tensorflow"],
        "keras": ver["keras"],
        "numpy": ver["numpy"],
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
