"""Arrow for the modules that reading a spec imports (the generators and what they use): ``pa`` and ``pc`` are
pyarrow and pyarrow.compute, imported where first used. Reading a spec needs no Arrow, so a command's --help and
its usage errors answer without its start-up (tests/test_every_command.py)."""

from __future__ import annotations

import importlib


class _OnFirstUse:
    def __init__(self, module: str):
        self._module = module

    def __getattr__(self, name: str):
        value = getattr(importlib.import_module(self._module), name)
        setattr(self, name, value)  # looked up once: later uses read it as they would a module's attribute
        return value


pa = _OnFirstUse("pyarrow")
pc = _OnFirstUse("pyarrow.compute")
