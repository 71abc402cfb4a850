"""Bad input raises subclasses of sd.SymdiffError with informative messages."""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd


def test_hierarchy():
    for cls in (sd.ShapeError, sd.DTypeError, sd.ConstantError, sd.GradError, sd.DisconnectedError,
                sd.InputError, sd.GradCheckError):
        assert issubclass(cls, sd.SymdiffError)
    assert issubclass(sd.DisconnectedError, sd.GradError)


# ---------------------------------------------------------------------------------------------
# shapes: the message names the op and both shapes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op,make",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a ** b),
        ("maximum", sd.maximum),
        ("minimum", sd.minimum),
        ("greater", lambda a, b: a > b),
        ("less_equal", lambda a, b: a <= b),
        ("equal", sd.equal),
    ],
)
def test_elementwise_shape_mismatch(op, make):
    a, b = sd.tensor("a", (2, 3)), sd.tensor("b", (4,))
    with pytest.raises(sd.ShapeError) as info:
        make(a, b)
    msg = str(info.value)
    assert op in msg and "(2, 3)" in msg and "(4,)" in msg


def test_named_dims_do_not_broadcast_against_other_names():
    a, b = sd.vector("a", "n"), sd.vector("b", "m")
    with pytest.raises(sd.ShapeError, match=r"add.*\(n,\).*\(m,\)"):
        a + b


def test_where_shape_mismatch():
    a, b = sd.vector("a", 3), sd.vector("b", 4)
    with pytest.raises(sd.ShapeError, match=r"where.*\(3,\).*\(4,\)"):
        sd.where(a > 0, a, b)


@pytest.mark.parametrize(
    "sa,sb",
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((3,), (2, 4)),
     ((5, 2, 3), (4, 3, 2))],
    ids=["mat_mat", "vec_vec", "mat_vec", "vec_mat", "batch"],
)
def test_matmul_shape_mismatch(sa, sb):
    a, b = sd.tensor("a", sa), sd.tensor("b", sb)
    with pytest.raises(sd.ShapeError) as info:
        a @ b
    msg = str(info.value)
    assert "matmul" in msg
    assert str(sa) in msg and str(sb) in msg


def test_matmul_scalar_operand():
    with pytest.raises(sd.ShapeError, match=r"matmul.*\(\).*\(3,\)"):
        sd.matmul(sd.scalar("s"), sd.vector("v", 3))


@pytest.mark.parametrize(
    "what,make,substrings",
    [
        ("outer", lambda: sd.outer(sd.matrix("A", 2, 3), sd.vector("v", 3)), ["outer", "(2, 3)", "(3,)"]),
        ("dot", lambda: sd.dot(sd.tensor("T", (2, 2, 3)), sd.vector("v", 3)), ["dot", "(2, 2, 3)", "(3,)"]),
        ("reshape", lambda: sd.reshape(sd.vector("v", 3), (2, 2)), ["reshape", "(3,)", "(2, 2)"]),
        ("reshape_two_free", lambda: sd.reshape(sd.vector("v", 4), (-1, -1)), ["reshape", "-1"]),
        ("broadcast_to", lambda: sd.broadcast_to(sd.vector("v", 3), (4,)), ["broadcast_to", "(3,)", "(4,)"]),
        ("squeeze", lambda: sd.squeeze(sd.vector("v", 3), 0), ["squeeze", "(3,)"]),
        ("sum_axis", lambda: sd.sum(sd.vector("v", 3), axis=1), ["sum", "axis 1"]),
        ("max_axis", lambda: sd.max(sd.matrix("A", 2, 3), axis=-3), ["max", "-3"]),
        ("repeated_axis", lambda: sd.sum(sd.matrix("A", 2, 3), axis=(0, -2)), ["sum", "repeated"]),
        ("softmax_axis", lambda: sd.softmax(sd.vector("v", 3), axis=1), ["softmax", "axis 1"]),
        ("transpose_perm", lambda: sd.transpose(sd.matrix("A", 2, 3), (0, 0)), ["transpose", "(2, 3)"]),
        ("concat", lambda: sd.concatenate([sd.matrix("A", 2, 3), sd.matrix("B", 2, 4)], 0),
         ["concatenate", "(2, 3)", "(2, 4)"]),
        ("concat_scalar", lambda: sd.concatenate([sd.scalar("s"), sd.scalar("t")]), ["concatenate", "zero"]),
        ("concat_empty", lambda: sd.concatenate([]), ["concatenate"]),
        ("stack", lambda: sd.stack([sd.vector("a", 3), sd.vector("b", 4)]), ["stack", "same shape", "(3,)", "(4,)"]),
        ("index_oob", lambda: sd.vector("v", 3)[3], ["index", "3", "size 3"]),
        ("index_too_many", lambda: sd.vector("v", 3)[0, 0], ["index", "too many"]),
        ("index_fancy", lambda: sd.vector("v", 3)[[0, 3]], ["index", "out of bounds"]),
        ("index_float", lambda: sd.vector("v", 3)[1.0], ["index", "unsupported"]),
        ("index_two_ellipses", lambda: sd.matrix("A", 2, 2)[..., ...], ["index", "Ellipsis"]),
        ("index_zero_step", lambda: sd.vector("v", 3)[::0], ["index", "zero"]),
        ("index_named_slice", lambda: sd.vector("v", "n")[::2], ["index", "named dim"]),
        ("expand_dims_axis", lambda: sd.expand_dims(sd.vector("v", 3), 3), ["expand_dims", "axis 3"]),
    ],
)
def test_structural_errors(what, make, substrings):
    with pytest.raises(sd.ShapeError) as info:
        make()
    for s in substrings:
        assert s in str(info.value), (s, str(info.value))


def test_transpose_out_of_range_axes():
    with pytest.raises(sd.ShapeError, match="transpose"):
        sd.transpose(sd.matrix("A", 2, 3), (0, 3))


def test_swapaxes_out_of_range_axis():
    with pytest.raises(sd.ShapeError, match="swapaxes"):
        sd.swapaxes(sd.matrix("A", 2, 3), 0, 5)


def test_bad_shapes_for_variables():
    with pytest.raises(sd.ShapeError, match="negative"):
        sd.tensor("x", (-1, 2))
    with pytest.raises(sd.ShapeError, match="1.5"):
        sd.tensor("x", (1.5,))
    with pytest.raises(sd.ShapeError, match="True"):
        sd.tensor("x", (True,))
    with pytest.raises(sd.ShapeError):
        sd.tensor("x", object())
    with pytest.raises(sd.SymdiffError, match="name"):
        sd.tensor("", (2,))
    with pytest.raises(sd.SymdiffError, match="name"):
        sd.tensor(3, (2,))


def test_clip_bounds():
    with pytest.raises(sd.SymdiffError, match="lo=2.*hi=1"):
        sd.clip(sd.vector("v", 3), 2.0, 1.0)


# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "complex128", "float16", "uint8", "object"])
def test_unsupported_dtypes(dtype):
    with pytest.raises(sd.DTypeError) as info:
        sd.tensor("x", (2,), dtype=dtype)
    msg = str(info.value)
    assert "float64" in msg and "float32" in msg
    assert np.dtype(dtype).name in msg or str(dtype) in msg


@pytest.mark.parametrize("dtype", ["nonsense", "floaty64"])
def test_unknown_dtype_names(dtype):
    with pytest.raises(sd.DTypeError, match=dtype):
        sd.vector("x", 3, dtype=dtype)


def test_cast_to_unsupported_dtype():
    with pytest.raises(sd.DTypeError, match="int8"):
        sd.cast(sd.vector("x", 3), "int8")


def test_where_needs_boolean_condition():
    x = sd.vector("x", 3)
    with pytest.raises(sd.DTypeError, match="where.*bool"):
        sd.where(x, x, x)


def test_constant_with_unsupported_dtype():
    with pytest.raises(sd.DTypeError, match="complex"):
        sd.constant([1.0, 2.0], dtype="complex64")


# ---------------------------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,substring",
    [("abc", "abc"), (object(), "object"), ([1.0, "a"], "1.0"), ([[1.0, 2.0], [3.0]], "[[1.0, 2.0], [3.0]]"),
     (1 + 2j, "complex"), (np.array([1j]), "complex"), (None, "None")],
)
def test_non_numeric_constants(value, substring):
    with pytest.raises(sd.ConstantError) as info:
        sd.constant(value)
    assert substring in str(info.value) or "real numbers" in str(info.value), str(info.value)


@pytest.mark.parametrize("value", ["abc", object(), None, {"a": 1}, 1 + 2j, b"bytes"])
def test_non_numeric_operands(value):
    x = sd.vector("x", 3)
    with pytest.raises(sd.ConstantError) as info:
        x + value
    assert type(value).__name__ in str(info.value) or "real numbers" in str(info.value)
    with pytest.raises(sd.ConstantError):
        value * x


@pytest.mark.parametrize("value", [float("nan"), [1.0, float("nan")], np.array([[np.nan]]), np.float32("nan")])
def test_nan_constants(value):
    with pytest.raises(sd.ConstantError, match="NaN"):
        sd.constant(value)
    x = sd.vector("x", 1)
    with pytest.raises(sd.ConstantError, match="NaN"):
        x * value


def test_constant_from_node():
    with pytest.raises(sd.ConstantError, match="node"):
        sd.constant(sd.scalar("s"))


def test_infinite_constants_are_allowed():
    c = sd.constant([np.inf, -np.inf, 1.0])
    assert c.shape == (3,)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
def test_grad_of_non_scalar_without_seed():
    x = sd.matrix("x", 2, 3)
    with pytest.raises(sd.GradError) as info:
        sd.grad(x * 2.0, x)
    msg = str(info.value)
    assert "(2, 3)" in msg and "seed" in msg


def test_seed_of_wrong_shape():
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match=r"\(2,\).*\(3,\)"):
        sd.grad(sd.sin(x), x, seed=np.ones(2))
    with pytest.raises(sd.GradError, match="seed"):
        sd.grad(sd.sin(x), x, seed=sd.vector("D", 3) > 0)


@pytest.mark.parametrize("wrt", ["x", [2.0], [None], [np.ones(3)]])
def test_wrt_not_a_node(wrt):
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="wrt"):
        sd.grad(sd.sum(x), wrt)
    with pytest.raises(sd.GradError, match="wrt"):
        sd.build_grad(sd.sum(x), wrt if isinstance(wrt, list) else [wrt])


@pytest.mark.parametrize("wrt", [3, 2.5, None])
def test_wrt_a_bare_non_node(wrt):
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="wrt"):
        sd.grad(sd.sum(x), wrt)


def test_target_not_a_node():
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="target"):
        sd.grad(3.0, x)
    with pytest.raises(sd.GradError, match="target"):
        sd.grad(np.ones(3), [x])


def test_boolean_target():
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="boolean"):
        sd.grad(sd.sum(x) > 0, x)


def test_disconnected_option():
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="disconnected"):
        sd.grad(sd.sum(x), x, disconnected="ignore")


def test_disconnected_raise_names_the_variable():
    x, lonely = sd.vector("x", 3), sd.scalar("lonely")
    with pytest.raises(sd.DisconnectedError, match="lonely"):
        sd.grad(sd.sum(x), [x, lonely], disconnected="raise")


def test_check_grad_error_names_variable_and_entry():
    x = sd.vector("x", 3)

    class Wrong(sd.ops.elementwise.Exp):
        name = "wrong_exp"

        def grad(self, inputs, output, D):
            return [D * output * 2.0]

    with pytest.raises(sd.GradCheckError) as info:
        sd.check_grad(sd.sum(Wrong()(x)), x, {x: np.zeros(3)})
    msg = str(info.value)
    assert "x" in msg and "index" in msg and "symbolic" in msg and "numeric" in msg
    assert isinstance(info.value, AssertionError)


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------
def test_evaluate_missing_input():
    x, y = sd.vector("x", 3), sd.vector("y", 3)
    with pytest.raises(sd.InputError) as info:
        sd.evaluate(x + y, {x: np.zeros(3)})
    assert "'y'" in str(info.value) and "(3,)" in str(info.value)
    with pytest.raises(sd.InputError, match="'x'"):
        sd.evaluate(x * 2.0)


def test_evaluate_unknown_name():
    x = sd.vector("x", 3)
    with pytest.raises(sd.InputError) as info:
        sd.evaluate(x * 2.0, {"x": np.zeros(3), "q": 1.0})
    assert "'q'" in str(info.value) and "x" in str(info.value)


def test_evaluate_ambiguous_name():
    a, b = sd.scalar("x"), sd.scalar("x")
    with pytest.raises(sd.InputError, match="several"):
        sd.evaluate(a + b, {"x": 1.0})


def test_evaluate_bad_key():
    x = sd.vector("x", 3)
    with pytest.raises(sd.InputError, match="int"):
        sd.evaluate(x * 2.0, {0: np.zeros(3)})


def test_evaluate_wrong_shape():
    x = sd.matrix("x", 2, 3)
    with pytest.raises(sd.ShapeError) as info:
        sd.evaluate(x * 2.0, {x: np.zeros((3, 2))})
    msg = str(info.value)
    assert "x" in msg and "(2, 3)" in msg and "(3, 2)" in msg
    with pytest.raises(sd.ShapeError, match="2 dims"):
        sd.evaluate(x * 2.0, {x: np.zeros(6)})
    s = sd.scalar("s")
    with pytest.raises(sd.ShapeError, match="s"):
        sd.evaluate(s * 2.0, {s: [1.0, 2.0]})


def test_evaluate_inconsistent_named_dims():
    a, b = sd.vector("a", "n"), sd.matrix("b", "n", 2)
    with pytest.raises(sd.ShapeError) as info:
        sd.evaluate(sd.sum(a) + sd.sum(b), {a: np.zeros(3), b: np.zeros((4, 2))})
    msg = str(info.value)
    assert "'n'" in msg and ("3" in msg and "4" in msg)


def test_evaluate_consistent_named_dims_work():
    a, b = sd.vector("a", "n"), sd.matrix("b", "n", 2)
    v = sd.evaluate(sd.sum(a) + sd.sum(b), {a: np.ones(4), b: np.ones((4, 2))})
    assert v == 12.0


@pytest.mark.parametrize("value", [np.array([1 + 2j, 0, 0]), [1j, 2.0, 3.0], np.zeros(3, dtype=np.complex64)])
def test_evaluate_complex_input(value):
    x = sd.vector("x", 3)
    with pytest.raises(sd.DTypeError) as info:
        sd.evaluate(x * 2.0, {x: value})
    assert "complex" in str(info.value) and "x" in str(info.value)


@pytest.mark.parametrize("value", [["a", "b", "c"], np.array([object(), 1, 2], dtype=object), "abc"])
def test_evaluate_non_numeric_input(value):
    x = sd.vector("x", 3)
    with pytest.raises(sd.SymdiffError) as info:
        sd.evaluate(x * 2.0, {x: value})
    assert "x" in str(info.value)


def test_evaluate_node_as_value():
    x = sd.vector("x", 3)
    with pytest.raises(sd.InputError, match="symbolic"):
        sd.evaluate(x * 2.0, {x: x})


def test_evaluate_outputs_must_be_nodes():
    x = sd.vector("x", 3)
    with pytest.raises(sd.SymdiffError, match="nodes"):
        sd.evaluate([x, 3.0], {x: np.zeros(3)})


def test_evaluate_accepts_lists_ints_and_nan_inputs():
    """Real inputs are cast; NaN in inputs (unlike constants) propagates."""
    x = sd.vector("x", 3)
    np.testing.assert_array_equal(sd.evaluate(x * 2.0, {x: [1, 2, 3]}), [2.0, 4.0, 6.0])
    v = sd.evaluate(x * 2.0, {x: [np.nan, 1.0, 2.0]})
    assert np.isnan(v[0]) and v[1] == 2.0


# ---------------------------------------------------------------------------------------------
# nodes in Python control flow
# ---------------------------------------------------------------------------------------------
def test_truth_value_raises():
    x = sd.scalar("x")
    with pytest.raises(sd.SymdiffError, match="where"):
        if x:
            pass
    with pytest.raises(sd.SymdiffError):
        bool(x > 0)
    with pytest.raises(sd.SymdiffError):
        x and 1
    with pytest.raises(sd.SymdiffError):
        not sd.vector("v", 2)


def test_iteration_over_named_dim_raises():
    v = sd.vector("v", "n")
    with pytest.raises(sd.SymdiffError, match=r"\(n,\)"):
        iter(v)
    with pytest.raises(sd.SymdiffError, match=r"\(n,\)"):
        list(v)
    with pytest.raises(sd.SymdiffError, match=r"\(n,\)"):
        for _ in v:
            pass
    with pytest.raises(sd.SymdiffError, match="len"):
        len(v)
    with pytest.raises(sd.SymdiffError, match=r"\(n, 3\)"):
        a, b = sd.matrix("m", "n", 3)


def test_iteration_over_scalar_raises():
    with pytest.raises(sd.SymdiffError, match=r"\(\)"):
        list(sd.scalar("s"))


def test_equality_is_identity_not_elementwise():
    """``==`` stays identity so nodes can be dict keys (sd.equal is the elementwise comparison)."""
    x, y = sd.scalar("x"), sd.scalar("x")
    assert (x == x) is True and (x == y) is False
    assert len({x: 1, y: 2}) == 2
