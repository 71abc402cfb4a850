"""The Numba back end: lowering graphs to jitted kernels (codegen), calling them (function)."""
from .function import Function, cache_dir, function

__all__ = ["Function", "function", "cache_dir"]
