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
