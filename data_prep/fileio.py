"""Atomic file writes: the one place every package writes its outputs through.

A file written here either keeps its old content or gets the whole new content, never half of
it: the data go to a temporary file in the same folder, which is then moved over the final name
with ``os.replace`` (atomic on POSIX and Windows for files on one file system). The temporary
name is unique per call (process id and a random token) and keeps the final suffix, so

* two processes writing the same file never clobber each other's temporary file;
* writers that choose the format from the suffix (Keras wants ``.keras``, Matplotlib ``.png``)
  work unchanged through :func:`atomic_path`;
* a crash leaves at most a hidden ``.<name>.<pid>.<token>.tmp<suffix>`` file, never a partial
  file under the final name: the data are flushed to disk (``fsync``) before the rename, and the
  folder entry after it.

Everything above ``data_prep`` (models, training, experiments, predict, benchmarks) imports its
atomic writes from here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "json_default",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def _temp_name(path: Path) -> Path:
    token = secrets.token_hex(4)
    return path.with_name(f".{path.stem}.{os.getpid()}.{token}.tmp{path.suffix}")


def _fsync(path: Path) -> None:
    """Flush a file (or folder entry) to disk; best effort where the OS does not allow it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success move it over ``path``.

    The parent folder is created. If the block raises, the temporary file is removed and
    ``path`` is left as it was.

    Args:
        path: the final file name.

    Yields:
        A path in the same folder with the same suffix (e.g. for ``model.save(tmp)``).

    Example:
        >>> with atomic_path("out/model.keras") as tmp:  # doctest: +SKIP
        ...     model.save(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: destination.
        data: the bytes.

    Returns:
        The destination path.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: destination.
        text: the content.

    Returns:
        The destination path.
    """
    return write_bytes_atomic(path, text.encode("utf-8"))


def copy_atomic(src: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Give ``path`` the content of the finished file ``src`` atomically.

    A hard link when the file system allows it (no data copied: both names share the file,
    which is never rewritten in place, only replaced), else a byte copy; either way through a
    temporary name and ``os.replace``.

    Args:
        src: an existing, complete file.
        path: destination.

    Returns:
        The destination path.
    """
    import shutil

    with atomic_path(path) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return Path(path)


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for paths, NumPy values, sets, tuples and dataclasses."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):  # NumPy scalars and arrays
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    return repr(obj)


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2,
                      sort_keys: bool = False) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (NaN written as ``NaN``, as Python's json).

    Args:
        path: destination.
        data: JSON-serialisable content (paths, NumPy values, sets and dataclasses converted).
        indent: indentation (None: one line).
        sort_keys: sort object keys.

    Returns:
        The destination path.
    """
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, default=json_default)
    return write_text_atomic(path, text + "\n")


def write_csv_atomic(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]] | Any,
                     columns: Sequence[str] | None = None) -> Path:
    """Write rows (dicts) or a pandas DataFrame as CSV to ``path`` atomically.

    Args:
        path: destination.
        rows: a sequence of dicts, or a ``pandas.DataFrame`` (written without its index).
        columns: column order for dict rows (default: the union of keys in first-seen order);
            keys outside it are an error.

    Returns:
        The destination path.
    """
    if hasattr(rows, "to_csv"):
        return write_text_atomic(path, rows.to_csv(index=False))
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())
