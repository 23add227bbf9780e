"""Read the metadata of a GGUF file (no tensors, no dependency): enough to check an adapter.

llama.cpp reports why it refused a LoRA adapter only in its own log; this reader lets the backends
say it in the error instead: not a GGUF file, not a LoRA adapter, or made for another architecture.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

from raytune_llm.errors import LLMConfigError

# GGUF value types: uint8, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_KEYS = 1 << 16


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("file ends inside the GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    if n > 1 << 26:
        raise ValueError(f"implausible string length {n}")
    data = f.read(n)
    if len(data) != n:
        raise EOFError("file ends inside the GGUF header")
    return data.decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        return _read(f, _SCALARS[kind])
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item, n = _read(f, "<I"), _read(f, "<Q")
        if item in _SCALARS:  # skipped, not kept: token lists are large
            f.seek(struct.calcsize(_SCALARS[item]) * n, os.SEEK_CUR)
            return None
        for _ in range(n):
            _value(f, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """The key/value metadata (arrays as ``None``) and the tensor shapes (GGUF order, ``ne[0]`` first)
    of a GGUF file, without reading any tensor data.

    Raises:
        LLMConfigError: the file cannot be read or is not a GGUF file; the message names it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise LLMConfigError(f"{str(path)!r} is not a GGUF file (it does not start with the GGUF magic "
                                     "bytes); pass a .gguf file written by llama.cpp's tools or raytune-llm finetune")
            version = _read(f, "<I")
            n_tensors = _read(f, "<Q")
            n_kv = _read(f, "<Q")
            if version < 2 or n_kv > _MAX_KEYS or n_tensors > _MAX_KEYS:
                raise ValueError(f"GGUF version {version} with {n_kv} keys and {n_tensors} tensors")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = _string(f)
                meta[key] = _value(f, _read(f, "<I"))
            shapes: dict[str, tuple[int, ...]] = {}
            for _ in range(n_tensors):
                name = _string(f)
                n_dims = _read(f, "<I")
                if n_dims > 8:
                    raise ValueError(f"tensor {name!r} has {n_dims} dimensions")
                shapes[name] = tuple(_read(f, "<Q") for _ in range(n_dims))
                _read(f, "<I")  # type
                _read(f, "<Q")  # offset
            return meta, shapes
    except OSError as exc:
        raise LLMConfigError(f"cannot read {str(path)!r}: {exc}") from exc
    except (EOFError, ValueError, struct.error) as exc:
        raise LLMConfigError(f"{str(path)!r} is a corrupt or truncated GGUF file ({exc}); write it again") from exc


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (arrays as ``None``); see :func:`read_header`."""
    return read_header(path)[0]


def adapter_provenance(path: str | os.PathLike[str]) -> str:
    """One line saying where a LoRA adapter came from: the ``raytune-llm finetune`` command recorded
    in its metadata (``general.source.command``), or that none is recorded or the file is unreadable."""
    try:
        command = read_metadata(path).get("general.source.command")
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})"
    return f"trained by `{command}`" if command else "no training command recorded"


def check_lora_adapter(adapter: str | os.PathLike[str], model: str | os.PathLike[str]) -> None:
    """Check that ``adapter`` is a GGUF LoRA adapter for ``model``'s architecture.

    Raises:
        LLMConfigError: missing file, not GGUF, corrupt, not a LoRA adapter, or another architecture;
            the message names the adapter file and what to do.
    """
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise LLMConfigError(f"LoRA adapter not found: {str(path)!r}; pass the path of a GGUF LoRA adapter "
                             "(e.g. one written by `raytune-llm finetune`)")
    meta = read_metadata(path)
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise LLMConfigError(
            f"{str(path)!r} is not a LoRA adapter (general.type={meta.get('general.type')!r}, "
            f"adapter.type={meta.get('adapter.type')!r}); a model file goes in the spec "
            "('llama-cpp:/path/model.gguf'), an adapter in llm_options={'lora': ...}")
    base_meta, base_shapes = read_header(model)
    base_arch = base_meta.get("general.architecture")
    if meta.get("general.architecture") != base_arch:
        raise LLMConfigError(
            f"the LoRA adapter {str(path)!r} was made for a {meta.get('general.architecture')!r} model, but "
            f"{str(Path(model))!r} is {base_arch!r}; use an adapter trained on this base model")
    # llama.cpp checks these shapes too, but a mismatch can crash the process there: refuse it here
    _, shapes = read_header(path)
    for name, a in shapes.items():
        if not name.endswith(".lora_a"):
            continue
        target = name[:-len(".lora_a")]
        b = shapes.get(target + ".lora_b")
        w = base_shapes.get(target)
        if b is None or w is None or len(a) < 2 or len(b) < 2 or len(w) < 2 \
                or a[0] != w[0] or b[1] != w[1] or a[1] != b[0]:
            raise LLMConfigError(
                f"the LoRA adapter {str(path)!r} does not fit {str(Path(model))!r}: tensor {target!r} is "
                f"{w} in the model, the adapter's lora_a/lora_b are {a}/{b}; use an adapter trained on this "
                "base model (raytune-llm finetune writes one)")


__all__ = ["adapter_provenance", "check_lora_adapter", "read_header", "read_metadata"]
