"""Python source that makes modules unimportable, to run code as on an install without an extra."""

from __future__ import annotations

#: torch and Lightning: an install without the ``train`` extra.
TORCH = ("torch", "pytorch_lightning", "lightning")


def block_modules(names: tuple[str, ...] | list[str]) -> str:
    """Source to prepend to a ``python -c`` script: importing any of ``names`` (or a submodule)
    then raises ``ModuleNotFoundError``."""
    return (
        "import importlib.abc, sys\n"
        f"BLOCKED = {set(names)!r}\n"
        "class Blocker(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked for the test)')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Blocker())\n"
    )


def block_in_process(monkeypatch, names: tuple[str, ...] | list[str]) -> None:
    """Make ``names`` (and their submodules) unimportable in this process until the test ends.

    ``sys.modules[name] = None`` stops ``import name`` and makes ``importlib.util.find_spec`` report
    it missing; ``importlib.import_module`` (what ``raytune_llm._imports.require`` calls) raises
    ``ModuleNotFoundError`` for submodules too, even those already imported.
    """
    import importlib
    import sys

    blocked = set(names)
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)
    real = importlib.import_module

    def import_module(name: str, package: str | None = None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked for the test)", name=name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
