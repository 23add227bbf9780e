"""Serve a GGUF model over an OpenAI-compatible HTTP API (llama-cpp-python's server).

``python -m raytune_llm.llm.serve --model PATH --host 127.0.0.1 --port 8000`` takes the same
arguments as ``python -m llama_cpp.server`` (extra ``serve``: ``pip install 'raytune-llm[serve]'``)
and loads models with raytune-llm's safe defaults (no CPU weight repacking, see
:class:`~raytune_llm.llm.llama_cpp.LlamaCppBackend`). ``--model embedded`` serves the embedded
SmolLM2 model (extra ``local``). Searchers reach it with
``llm="openai:MODEL", llm_options={"base_url": "http://HOST:PORT/v1"}``.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from raytune_llm._imports import require
    from raytune_llm.llm.llama_cpp import embedded_model_path, repack_off_globally

    args = list(sys.argv[1:] if argv is None else argv)
    if "--model" in args:
        i = args.index("--model") + 1
        if i < len(args) and args[i] == "embedded":
            args[i] = str(embedded_model_path())
    require("llama_cpp.server", extra="serve", feature="serving a model over HTTP (llama-cpp-python[server])")
    repack_off_globally()
    sys.argv = ["llama_cpp.server", *args]
    runpy.run_module("llama_cpp.server", run_name="__main__")


if __name__ == "__main__":
    main()
