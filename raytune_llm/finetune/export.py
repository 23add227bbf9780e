"""A PEFT LoRA adapter written as the GGUF LoRA adapter llama.cpp loads (``lora_path``).

The layout is llama.cpp's (the one its ``convert_lora_to_gguf.py`` writes for Llama models):
``general.type = "adapter"``, ``adapter.type = "lora"``, ``adapter.lora.alpha``, and for each
adapted weight ``blk.N.<name>.weight.lora_a`` (rank x inputs) and ``.lora_b`` (outputs x rank),
with the query and key ``lora_b`` rows permuted the way llama.cpp stores those weights for its
rotary embedding (``transformers`` un-permutes them when it reads the GGUF, so the adapter is
trained in its layout and put back here).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from raytune_llm._imports import require
from raytune_llm.llm.gguf_header import check_lora_adapter

_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
          "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
_PATTERN = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def _permute(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order of a query/key projection (pairs of rotary halves interleaved)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def export_gguf(adapter_dir: str | os.PathLike[str], path: str | os.PathLike[str], *,
                metadata: Mapping[str, str] | None = None) -> Path:
    """Write the PEFT adapter in ``adapter_dir`` as a GGUF LoRA adapter at ``path`` (float16).

    Args:
        adapter_dir: a folder with ``adapter_config.json`` and ``adapter_model.safetensors``.
        path: the ``.gguf`` file to write (atomically).
        metadata: extra ``general.*`` strings (description, source, training command...).

    Returns:
        ``path``.

    Raises:
        ValueError: the adapter has weights llama.cpp cannot take (embeddings, biases, unknown modules).
    """
    require("gguf", extra="finetune", feature="writing GGUF LoRA adapters")
    require("safetensors", extra="finetune", feature="reading PEFT adapters")
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    from raytune_llm._io import atomic_path
    from raytune_llm.finetune.train import base_model_file

    folder = Path(adapter_dir)
    config = json.loads((folder / "adapter_config.json").read_text())
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    n_head, n_head_kv = _heads()
    pairs: dict[str, dict[str, Any]] = {}
    for name, value in tensors.items():
        match = _PATTERN.search(name)
        if match is None or match.group(2) not in _NAMES:
            raise ValueError(f"adapter weight {name!r} has no llama.cpp counterpart; train LoRA on the projections "
                             f"{sorted(_NAMES)} only")
        layer, module, half = int(match.group(1)), match.group(2), match.group(3)
        pairs.setdefault(f"blk.{layer}.{_NAMES[module]}.weight", {})[half] = (module, value.astype(np.float32))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
        writer.add_name("SmolLM2-135M-Instruct raytune-llm proposal LoRA")
        for key, text in (metadata or {}).items():
            writer.add_string(f"general.{key}", str(text))
        for name in sorted(pairs, key=_order):
            pair = pairs[name]
            if set(pair) != {"A", "B"}:
                raise ValueError(f"adapter weight {name} lacks its lora_A or lora_B half")
            module, a = pair["A"]
            _, b = pair["B"]
            if module == "q_proj":
                b = _permute(b, n_head)
            elif module == "k_proj":
                b = _permute(b, n_head_kv)
            writer.add_tensor(name + ".lora_a", np.ascontiguousarray(a.astype(np.float16)))
            writer.add_tensor(name + ".lora_b", np.ascontiguousarray(b.astype(np.float16)))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        check_lora_adapter(tmp, base_model_file())
    return out


def _order(name: str) -> tuple[int, str]:
    return int(name.split(".")[1]), name


def _heads() -> tuple[int, int]:
    """Attention heads and key/value heads of the base model, from its GGUF metadata."""
    from raytune_llm.finetune.train import base_model_file
    from raytune_llm.llm.gguf_header import read_metadata

    meta = read_metadata(base_model_file())
    return int(meta["llama.attention.head_count"]), int(meta["llama.attention.head_count_kv"])


__all__ = ["export_gguf"]
