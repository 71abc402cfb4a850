"""docs/numpy.md lists every public function of symdiff.numpy, symdiff.nn and symdiff.linalg."""
from pathlib import Path

import symdiff.linalg
import symdiff.nn
import symdiff.numpy as snp

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "numpy.md").read_text(encoding="utf-8")
INTERNAL = {"annotations", "builtins", "Node", "Constant", "ShapeError", "SymdiffError", "as_node",
            "as_dtype", "format_shape", "Callable", "Sequence", "linalg", "ndarray", "dtype",
            "float_", "int_"}


def _public(module):
    return sorted(n for n in dir(module) if not n.startswith("_") and n not in INTERNAL)


def test_every_numpy_name_is_documented():
    missing = [n for n in _public(snp) if f"`{n}`" not in PAGE]
    assert not missing, f"add these to docs/numpy.md: {missing}"


def test_every_nn_and_linalg_name_is_documented():
    missing = [n for n in symdiff.nn.__all__ if f"`{n}`" not in PAGE]
    missing += [n for n in _public(symdiff.linalg) if f"`{n}`" not in PAGE]
    assert not missing, f"add these to docs/numpy.md: {missing}"
