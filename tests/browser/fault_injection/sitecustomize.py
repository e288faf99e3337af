"""Fault injection for tests/browser/test_faults.py: never active unless asked for.

Python imports ``sitecustomize`` at start-up from the first directory on ``sys.path`` that has
one. The fault test starts ``streamlit run`` with this folder on ``PYTHONPATH`` and
``EXPLORER_FAULT_INJECTION=1``; nothing else puts it on the path, and without the variable this
module does nothing at all.

When active it installs an import hook that, once ``explorer.ui.compute`` has been imported,
wraps the ``compare`` that module calls (it did ``from explorer.experiments.compare import
compare``, so its own name is the one to replace; patching
``explorer.experiments.compare.compare`` afterwards would not reach it). The wrapper fails on
magic feature seeds and passes every other call through:

  seed 4242  a real failed allocation in numpy (``np.empty`` of 256 TiB): MemoryError
  seed 4243  a real failed allocation in torch (``torch.empty`` of 256 TiB): torch's CPU
             allocator raises RuntimeError("... DefaultCPUAllocator: can't allocate memory")
  seed 4244  a plain RuntimeError("injected fault ..."): a bug in the computation

Product code is not changed. Exceptions are not cached by ``st.cache_data``, so a failing
config fails again on every run, and other configs are untouched.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys

TARGET = "explorer.ui.compute"
MEMORY_SEED, TORCH_OOM_SEED, RAISE_SEED = 4242, 4243, 4244
HUGE = 2**48  # bytes: 256 TiB, refused by any allocator at once (nothing is touched)


def _fail(seed: int) -> None:
    if seed == MEMORY_SEED:
        import numpy as np

        np.empty(HUGE, dtype=np.uint8)
    elif seed == TORCH_OOM_SEED:
        import torch

        torch.empty(HUGE, dtype=torch.uint8)
    elif seed == RAISE_SEED:
        raise RuntimeError(f"injected fault (seed {seed}): a bug in the computation")


def _faulty(compare):
    @functools.wraps(compare)
    def wrapper(config, inputs=None, *args, **kwargs):
        _fail(int(getattr(config, "seed", -1)))
        return compare(config, inputs, *args, **kwargs)

    wrapper.fault_injected = True
    return wrapper


def _patch(module) -> None:
    module.compare = _faulty(module.compare)
    print(f"fault injection: {TARGET}.compare wrapped", file=sys.stderr, flush=True)


class _PatchAfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds TARGET with the other finders, then patches it right after it executes."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        sys.meta_path.remove(self)  # one shot: let the normal finders locate the module
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)
        sys.meta_path.remove(self)  # done: the module is imported once per process


if os.environ.get("EXPLORER_FAULT_INJECTION") == "1":
    if TARGET in sys.modules:  # pragma: no cover - only if imported before site ran
        _patch(sys.modules[TARGET])
    else:
        sys.meta_path.insert(0, _PatchAfterImport())
