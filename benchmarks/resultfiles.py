"""Result files, plain or gzipped: the one place that opens what the benchmarks write.

The committed results keep their large files gzipped (``X.json.gz``, ``X-runs.jsonl.gz``); the
benchmarks write them plain. Every loader asks for the plain name and gets whichever of the two
exists (:func:`resolve`), so a command, ``--resume`` or :mod:`benchmarks.compare` works on both.
``python -m benchmarks.resultfiles pack DIR`` gzips a folder's large files after a run (the same
bytes every time: no time stamp or name in the gzip header).

Example::

    python -m benchmarks.resultfiles pack benchmarks/results
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

#: plain files at least this large are gzipped by :func:`pack` (run logs always are)
PACK_MIN_BYTES = 64 * 1024


def resolve(path: str | Path) -> Path:
    """``path`` if it exists, else its gzipped sibling ``path.gz`` if that exists, else ``path``.

    A ``.gz`` path is returned as it is.
    """
    path = Path(path)
    if path.suffix == ".gz" or path.exists():
        return path
    packed = path.with_name(path.name + ".gz")
    return packed if packed.exists() else path


def open_text(path: str | Path) -> IO[str]:
    """Opens a result file for reading as UTF-8 text, gunzipping a ``.gz`` one (see :func:`resolve`).

    Raises:
        FileNotFoundError: neither ``path`` nor ``path.gz`` exists.
    """
    path = resolve(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_text(path: str | Path) -> str:
    """The whole text of a plain or gzipped result file."""
    with open_text(path) as fh:
        return fh.read()


def read_json(path: str | Path) -> Any:
    """The JSON object of a plain or gzipped result file."""
    with open_text(path) as fh:
        return json.load(fh)


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzipped at level 9 with a fixed header (no name, time stamp 0): same input, same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def pack(folder: str | Path, *, min_bytes: int = PACK_MIN_BYTES) -> list[tuple[Path, Path]]:
    """Gzips the run logs (``*-runs.jsonl`` that start with a run-log header) and the ``*.json`` files of
    at least ``min_bytes`` in ``folder``, replacing each by ``NAME.gz``; returns ``(old, new)`` pairs.

    A plain file is newer than a ``.gz`` beside it (a rerun writes plain files), so it replaces it.
    Caches that their benchmark appends to as plain text (``meta-seed-runs.jsonl``, the
    ``--cache`` of ``metallmix_bench``) are not run logs and stay plain.
    """
    from raytune_llm._io import atomic_write

    done = []
    for path in sorted(Path(folder).iterdir()):
        target = path.with_name(path.name + ".gz")
        if not path.is_file() or path.suffix == ".gz":
            continue
        if path.name.endswith("-runs.jsonl"):
            with path.open(encoding="utf-8") as fh:
                first = fh.readline()
            try:
                if "settings" not in json.loads(first):
                    continue
            except ValueError:
                continue
        elif not (path.suffix == ".json" and path.stat().st_size >= min_bytes):
            continue
        atomic_write(target, gzip_bytes(path.read_bytes()))
        os.chmod(target, path.stat().st_mode & 0o777)
        os.remove(path)
        done.append((path, target))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resultfiles",
                                     description="Gzip the large result files of a folder (run logs, big JSON).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="gzip run logs and JSON files of at least --min-bytes")
    p.add_argument("folder", nargs="?", default="benchmarks/results")
    p.add_argument("--min-bytes", type=int, default=PACK_MIN_BYTES)
    args = parser.parse_args(argv)
    for old, new in pack(args.folder, min_bytes=args.min_bytes):
        print(f"{old} -> {new.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
