"""Numba on demand: building, printing and evaluating graphs never imports Numba.

``import numba`` and its first compile set-up take about half a second, more than everything
else ``import symdiff`` does. Modules whose Numba helpers only generated kernels call (the
LAPACK helpers of ``ops/decomp.py``, the scans of ``ops/statistics.py``) decorate them with
this module's ``njit``, which records the function and its options; ``bind`` turns the records
into real Numba dispatchers when a kernel first needs them (``compiler/runtime.py`` binds both
modules as it is imported, and every kernel imports it).

``numba()`` is the one way symdiff imports Numba: it imports ``compiler/cache.py`` first, so
the safe cache locator is in front of Numba's own before any ``cache=True`` function exists.
"""
from __future__ import annotations

import importlib
import threading

_lock = threading.RLock()


def numba():
    """The ``numba`` module, imported with symdiff's safe cache locator installed."""
    from . import cache  # noqa: F401  (puts SafeCacheLocator in front of Numba's locators)
    import numba as nb

    return nb


class LazyJit:
    """A function to be compiled with ``numba.njit(**options)`` once a kernel needs it."""

    def __init__(self, fn, options: dict):
        self.py_func, self.options = fn, options
        self.__name__, self.__doc__ = fn.__name__, fn.__doc__
        self._dispatcher = None

    def dispatcher(self):
        """The Numba dispatcher (made on the first request)."""
        with _lock:
            if self._dispatcher is None:
                self._dispatcher = numba().njit(**self.options)(self.py_func)
            return self._dispatcher

    def __call__(self, *args):
        return self.dispatcher()(*args)

    def __repr__(self) -> str:
        return f"<lazy njit {self.__name__}>"


class LazyAttribute:
    """``getattr(import_module(module), name)`` on demand, or ``fallback`` where that fails (for
    Numba internals that a helper uses when they exist)."""

    def __init__(self, module: str, name: str, fallback=None):
        self.module, self.name, self.fallback = module, name, fallback

    def resolve(self):
        try:
            return getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError):
            return self.fallback.dispatcher() if isinstance(self.fallback, LazyJit) else self.fallback


def njit(**options):
    """``@njit(cache=True, ...)`` that compiles nothing and imports nothing until ``bind``."""
    def decorate(fn):
        return LazyJit(fn, options)

    return decorate


def bind(module) -> None:
    """Replace every lazy entry of ``module``'s namespace by what it stands for (Numba
    dispatchers), so that Numba-compiled code resolves them as globals."""
    with _lock:
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if isinstance(value, LazyJit):
                namespace[name] = value.dispatcher()
            elif isinstance(value, LazyAttribute):
                namespace[name] = value.resolve()
