"""``python -m benchmarks [SUBJECT ...]``: the package's speed measurements in one place.

Runs each subject's script in its own subprocess (so TensorFlow state, thread pools and peak
memory never leak between subjects) and prints their JSON lines, one measurement per line, each
tagged with ``"subject"`` and completed with the machine facts of
:func:`benchmarks.common.machine_info` (cores, CPU flags, GPUs, load average, versions, git SHA)
where the script did not record them itself. ``--out FILE`` also appends the lines to FILE.

Subjects (scripts): ``clrnet`` and ``two_branch`` (inference seconds per clip at batch 1 and 8,
``bench_models inference``), ``profile`` (per-layer time of fused CLRNet-50), ``train`` (training
step of a tiny CLRNet, Keras vs fused ConvLSTM), ``train_full`` (a full-size CLRNet-50 training
step at batch 2, fused vs Keras; about 16 GB free needed for the Keras variant), ``reuse`` (a quick
model's short training: first in a process, rebuilt, and kept traced, ``bench_reuse``), ``pipeline`` (input pipeline clips/s, ``bench_pipeline``), ``faces``
(face-extraction frames/s, ``bench_faces``), ``predict`` (end-to-end real-time factor,
``bench_predict``), ``export`` (latency of the exported SavedModel / TFLite CLRNet beside
the Keras path, ``bench_export``), ``gpu`` (the prepared GPU check: full-size CLRNet-50 and
two-branch training steps under MirroredStrategy + mixed_float16, ``gpu_check``). ``--quick`` shrinks every subject to a smoke run (numbers not for reporting).
A subject that fails gives one ``{"subject": ..., "error": ...}`` row; the others still run and
the exit status is 1.

Usage::

    python -m benchmarks                      # everything (about 30-60 min on 2 busy cores)
    python -m benchmarks clrnet profile --out perf.jsonl
    python -m benchmarks --quick train pipeline
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import REPO, git_sha, machine_info, quiet_tf  # noqa: E402

#: subject -> (script module, full arguments, --quick arguments)
SUBJECTS: dict[str, tuple[str, list[str], list[str]]] = {
    "clrnet": ("benchmarks.bench_models",
               ["inference", "--model", "clrnet", "--batch", "1", "8",
                "--modes", "keras", "fused", "bf16", "--iters", "3", "--head-scale", "30"],
               ["inference", "--model", "clrnet", "--batch", "1", "--modes", "fused",
                "--iters", "1"]),
    "two_branch": ("benchmarks.bench_models",
                   ["inference", "--model", "two_branch", "--batch", "1", "8",
                    "--modes", "keras", "graph", "bf16", "--iters", "3", "--head-scale", "30"],
                   ["inference", "--model", "two_branch", "--batch", "1", "--modes", "graph",
                    "--iters", "1"]),
    "profile": ("benchmarks.bench_models", ["profile", "--batch", "8", "--iters", "2"],
                ["profile", "--batch", "1", "--iters", "1"]),
    "train": ("benchmarks.bench_models", ["train", "--iters", "5"],
              ["train", "--iters", "2", "--train-size", "32", "--train-precisions", "float32"]),
    "train_full": ("benchmarks.bench_models",
                   ["train", "--train-model", "clrnet50", "--train-batch", "2",
                    "--train-precisions", "float32", "--train-convlstms", "fused", "keras",
                    "--iters", "2"],
                   ["train", "--train-model", "clrnet50", "--train-size", "64",
                    "--train-batch", "1", "--train-precisions", "float32",
                    "--train-convlstms", "fused", "--iters", "1"]),
    "reuse": ("benchmarks.bench_reuse", ["--steps", "20"], ["--steps", "2"]),
    "pipeline": ("benchmarks.bench_pipeline", [], ["--clips", "24", "--measure", "48"]),
    "faces": ("benchmarks.bench_faces", [], ["--naive-frames", "5", "--repeat", "1"]),
    "predict": ("benchmarks.bench_predict", [], ["--repeat", "1", "--no-cli"]),
    "gpu": ("benchmarks.gpu_check", [], ["--tiny", "--precision", "float32", "--steps", "3"]),
    "export": ("benchmarks.bench_export",
               ["--model", "clrnet", "--batch", "1", "8", "--iters", "2", "--threads", "2"],
               ["--model", "tiny", "--batch", "1", "--iters", "1"]),
}


def subject_command(subject: str, quick: bool = False) -> list[str]:
    """The command line that measures ``subject``.

    Args:
        subject: a key of :data:`SUBJECTS`.
        quick: use the smoke-run arguments.

    Returns:
        ``[python, -m, module, args...]``.
    """
    module, full, small = SUBJECTS[subject]
    return [sys.executable, "-m", module, *(small if quick else full)]


def iter_subject(subject: str, quick: bool = False, timeout: float | None = None):
    """Run one subject's script and yield its JSON-object lines as they are printed.

    Args:
        subject: a key of :data:`SUBJECTS`.
        quick: smoke-run arguments.
        timeout: seconds before the script is stopped (None = no limit).

    Yields:
        Rows, each with ``"subject"`` and the machine facts added where the script has not
        recorded them; last, one ``"error"`` row when the script failed or printed no row.
    """
    cmd = subject_command(subject, quick)
    env_machine = machine_info()
    n_rows = 0
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    n_rows += 1
                    yield {"subject": subject,
                           **{k: v for k, v in env_machine.items() if k not in row}, **row}
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        lines = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
    if rc != 0 or not n_rows:
        errs = [ln for ln in lines if ln.startswith("error")] or lines[-1:] or ["no output"]
        why = "killed (timeout?)" if rc < 0 else errs[-1]
        yield {"subject": subject, "error": f"exit {rc}: {why}", "command": " ".join(cmd[1:]),
               **env_machine}


def run_subject(subject: str, quick: bool = False, timeout: float | None = None) -> list[dict]:
    """All rows of :func:`iter_subject` as a list."""
    return list(iter_subject(subject, quick, timeout))


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description=__doc__.split("\n\n")[0].split(": ", 1)[-1])
    p.add_argument("subjects", nargs="*", metavar="SUBJECT",
                   help=f"any of {', '.join(SUBJECTS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="tiny smoke runs (not for reporting)")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    p.add_argument("--timeout", type=float, default=None, help="seconds per subject")
    p.add_argument("--list", action="store_true", help="print the commands and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the chosen subjects; print one JSON line per measurement."""
    args = build_parser().parse_args(argv)
    quiet_tf()
    git_sha()  # the commit measured, fixed at start
    unknown = [s for s in args.subjects if s not in SUBJECTS]
    if unknown:
        print(f"error: unknown benchmark subject(s) {', '.join(unknown)}; "
              f"choose from {', '.join(SUBJECTS)}", file=sys.stderr)
        return 2
    subjects = args.subjects or list(SUBJECTS)
    if args.list:
        for s in subjects:
            print(f"{s}: {' '.join(subject_command(s, args.quick)[1:])}")
        return 0
    failed = False
    for subject in subjects:
        for row in iter_subject(subject, args.quick, args.timeout):
            failed |= "error" in row
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(line + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
