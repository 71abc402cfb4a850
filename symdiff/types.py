"""Static types of graph values: dtypes and shapes with named symbolic dims.

A shape is a tuple whose entries are ``int`` (a known size) or ``str`` (a named dim such as
``"n"`` whose size is bound when values are supplied). Two named dims are equal only if they have
the same name, so ``("n", 3)`` and ``("m", 3)`` do not broadcast against each other.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from .errors import DTypeError, ShapeError

Dim = Union[int, str]
Shape = tuple  # tuple[Dim, ...]

FLOAT_DTYPES = (np.dtype("float64"), np.dtype("float32"))
INT_DTYPES = (np.dtype("int64"), np.dtype("int32"))
BOOL = np.dtype("bool")
DEFAULT_FLOAT = np.dtype("float64")


def as_dtype(dtype) -> np.dtype:
    """Normalise a dtype spec: float64 and float32 (values that carry gradients), int64 and
    int32 (indices, counts) and bool (masks, comparisons). Python ``int`` means int64."""
    if dtype is int:
        return np.dtype("int64")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {dtype!r}; symdiff supports float64, float32, int64, int32 and bool") from exc
    if dt not in FLOAT_DTYPES and dt not in INT_DTYPES and dt != BOOL:
        raise DTypeError(f"unsupported dtype {dt}; symdiff supports float64, float32, int64, int32 and bool")
    return dt


def is_float(dtype) -> bool:
    """Whether values of ``dtype`` carry gradients (float64, float32)."""
    return np.dtype(dtype).kind == "f"


class DimExpr(str):
    """An affine expression of named dims, such as ``n - 1`` (the length of ``x[1:]`` for ``x`` of
    shape ``("n",)``) or ``n + m`` (a concatenation). It is a ``str`` (its canonical text), so it
    compares, hashes and prints like a dim name; ``terms`` and ``const`` hold its meaning, and
    ``concrete_shape`` / the code generator evaluate it from the bound dims. Users cannot declare
    such dims: declared names must be identifiers."""

    terms: tuple  # ((name, coeff), ...) sorted by name, coeffs non-zero
    const: int

    def __new__(cls, terms: dict, const: int = 0):
        items = tuple(sorted((k, int(v)) for k, v in terms.items() if v))
        if not items:
            return int(const)
        if items == ((items[0][0], 1),) and const == 0:
            return items[0][0]  # a plain name
        parts = []
        for name, c in items:
            term = name if abs(c) == 1 else f"{abs(c)}*{name}"
            parts.append(term if not parts and c > 0 else (f"-{term}" if not parts else (f" + {term}" if c > 0 else f" - {term}")))
        if const:
            parts.append(f" + {const}" if const > 0 else f" - {-const}")
        obj = super().__new__(cls, "".join(parts))
        obj.terms, obj.const = items, int(const)
        return obj

    def __reduce__(self):
        return (DimExpr, (dict(self.terms), self.const))

    def value(self, dims: dict) -> int:
        try:
            v = self.const + sum(c * dims[name] for name, c in self.terms)
        except KeyError as exc:
            raise ShapeError(f"dim {exc.args[0]!r} is not bound by any input") from None
        if v < 0:
            raise ShapeError(f"the dim {self} is {v} for {', '.join(f'{n}={dims[n]}' for n, _ in self.terms)}: "
                             "a slice or split asks for more entries than the axis has")
        return v


def _affine(d) -> tuple[dict, int]:
    if isinstance(d, DimExpr):
        return dict(d.terms), d.const
    if isinstance(d, str):
        return {d: 1}, 0
    return {}, int(d)


def dim_add(*dims, scale: Sequence[int] | None = None):
    """``sum(scale[k] * dims[k])`` as a dim: an int when static, else a name or a ``DimExpr``."""
    terms: dict = {}
    const = 0
    for k, d in enumerate(dims):
        c = 1 if scale is None else scale[k]
        t, k0 = _affine(d)
        for name, v in t.items():
            terms[name] = terms.get(name, 0) + c * v
        const += c * k0
    return DimExpr(terms, const)


def dim_names(d) -> tuple:
    """The named dims a dim depends on."""
    if isinstance(d, DimExpr):
        return tuple(n for n, _ in d.terms)
    return (d,) if isinstance(d, str) else ()


def as_shape(shape: Sequence[Dim] | Dim) -> Shape:
    """Validate a user-given shape: a tuple of non-negative ints and identifier-like names."""
    if isinstance(shape, (int, np.integer, str)):
        shape = (shape,)
    if isinstance(shape, (dict, set, frozenset)) or hasattr(shape, "keys"):  # unordered, or keys only
        raise ShapeError(f"a shape must be a tuple of ints and dim names, got a {type(shape).__name__} {shape!r:.60}")
    try:
        entries = tuple(shape)
    except TypeError as exc:
        raise ShapeError(f"a shape must be a tuple of ints and dim names, got {shape!r}") from exc
    out = []
    for d in entries:
        if isinstance(d, (bool, np.bool_)):
            raise ShapeError(f"invalid dim {d!r} in shape {shape!r}")
        if isinstance(d, (int, np.integer)):
            if d < 0:
                raise ShapeError(f"negative dim {d} in shape {shape!r}")
            out.append(int(d))
        elif isinstance(d, DimExpr):
            out.append(d)
        elif isinstance(d, str) and d.isidentifier():
            out.append(d)
        elif isinstance(d, str) and d:
            raise ShapeError(f"invalid dim name {d!r} in shape {shape!r}: names must be identifiers like 'n'")
        else:
            raise ShapeError(f"invalid dim {d!r} in shape {shape!r}: use an int or a name")
    return tuple(out)


def result_dtype(*dtypes: np.dtype) -> np.dtype:
    """The float dtype of an arithmetic result: float64 if any input is float64, else float32."""
    floats = [d for d in dtypes if np.dtype(d).kind == "f"]
    if not floats:
        return DEFAULT_FLOAT
    return np.dtype("float64") if any(d == np.dtype("float64") for d in floats) else np.dtype("float32")


def broadcast_shapes(op: str, *shapes: Shape) -> Shape:
    """NumPy broadcasting of static shapes; raises a ShapeError naming ``op`` and the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dim: Dim = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
            else:
                raise ShapeError(
                    f"{op}: shapes {' and '.join(map(format_shape, shapes))} do not broadcast "
                    f"(dim {d!r} against {dim!r})"
                )
        out.append(dim)
    return tuple(out)


def broadcast_axes(in_shape: Shape, out_shape: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Axes of ``out_shape`` over which an input of ``in_shape`` was broadcast.

    Returns ``(leading, stretched)``: leading axes the input lacks, and axes (in output numbering)
    where the input has size 1 but the output does not.
    """
    lead = len(out_shape) - len(in_shape)
    leading = tuple(range(lead))
    stretched = tuple(
        lead + i for i, d in enumerate(in_shape) if d == 1 and out_shape[lead + i] != 1
    )
    return leading, stretched


def normalize_axis(op: str, axis, ndim: int) -> tuple[int, ...]:
    """Turn ``axis`` (None, int or tuple, negatives allowed) into a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list, range, np.ndarray)):
        axes = tuple(axis)
    else:
        raise ShapeError(f"{op}: axis must be None, an int or a tuple of ints, got {type(axis).__name__} {axis!r:.40}")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise ShapeError(f"{op}: axis must be an int, got {a!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{op}: axis {a} is out of range for an input with {ndim} dims")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def format_shape(shape: Shape) -> str:
    """``(n, 3)`` style text for messages."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def bind_dims(name: str, declared: Shape, actual: tuple[int, ...], dims: dict) -> None:
    """Check an array shape against a declared shape, binding named dims into ``dims``."""
    if len(declared) != len(actual):
        raise ShapeError(
            f"{name}: expected {len(declared)} dims {format_shape(declared)}, got shape {tuple(actual)}"
        )
    for d, a in zip(declared, actual):
        if isinstance(d, str):
            bound = dims.setdefault(d, a)
            if bound != a:
                raise ShapeError(
                    f"{name}: dim {d!r} is {a} here but {bound} in another argument "
                    f"(shape {tuple(actual)} against {format_shape(declared)})"
                )
        elif d != a:
            raise ShapeError(f"{name}: expected shape {format_shape(declared)}, got {tuple(actual)}")


def concrete_shape(shape: Shape, dims: dict) -> tuple[int, ...]:
    """Resolve named dims through ``dims``."""
    try:
        return tuple(d if isinstance(d, int) else d.value(dims) if isinstance(d, DimExpr) else dims[d] for d in shape)
    except KeyError as exc:
        raise ShapeError(f"dim {exc.args[0]!r} is not bound by any input") from None
