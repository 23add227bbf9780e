"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

A reader (a restoring Tune driver, a second process) sees either the old file or the new one,
never half of one; a failed write leaves no temporary file behind. One helper for every writer
in the project (searcher state, JSONL exports, meta-store exports, benchmark logs).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    For writers that want a path rather than a file object (``sqlite3``, ``pyarrow``).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "state.json"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> target.read_text()
        '{}'
    """
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".raytune_llm-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: str | bytes | Callable[[IO[Any]], Any], *,
                 encoding: str = "utf-8") -> Path:
    """Write ``data`` (text, bytes, or a function given the open file) to ``path`` atomically.

    Returns:
        The path written.

    Example:
        >>> import json, tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.json"
        >>> _ = atomic_write(target, lambda f: json.dump({"x": 1}, f))
        >>> json.loads(target.read_text())
        {'x': 1}
    """
    out = Path(path).expanduser()
    binary = isinstance(data, (bytes, bytearray))
    with atomic_path(out) as tmp:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": encoding})) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
    return out
