"""The ``symdiff`` command-line tool and its safe expression parser."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import symdiff as sd
from symdiff.cli import ExpressionError, main, parse_expression

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def value_lines(out: str, comment: str = "#") -> dict:
    """The values printed after ``<comment> at x=...:``."""
    values, after = {}, False
    for line in out.splitlines():
        if line.startswith(f"{comment} at "):
            after = True
        elif after:
            assert line.startswith(comment + " ")
            label, v = line[len(comment) + 1:].rsplit(" = ", 1)
            values[label] = float(v)
    return values


def test_fourth_derivative_text_and_value(capsys):
    rc, out, err = cli(capsys, "grad", "exp(sin(x**2))", "--wrt", "x", "--order", "4", "--at", "x=0.7")
    assert rc == 0 and err == ""
    assert out.startswith("# f = exp(sin(x**2))\n")
    assert "d^4f/dx^4 = " in out
    t = sp.Symbol("t")
    want = float(sp.diff(sp.exp(sp.sin(t ** 2)), t, 4).subs(t, 0.7))
    assert value_lines(out)["d^4f/dx^4"] == pytest.approx(want, rel=1e-12)


def test_several_variables_give_every_partial(capsys):
    rc, out, _ = cli(capsys, "grad", "x*y + sin(x)/y", "--wrt", "x", "--wrt", "y", "--order", "2",
                     "--at", "x=1,y=2")
    assert rc == 0
    vals = value_lines(out)
    assert set(vals) == {"d^2f/dx^2", "d^2f/dx dy", "d^2f/dy^2"}
    import math
    assert vals["d^2f/dx^2"] == pytest.approx(-math.sin(1) / 2)
    assert vals["d^2f/dx dy"] == pytest.approx(1 - math.cos(1) / 4)
    assert vals["d^2f/dy^2"] == pytest.approx(2 * math.sin(1) / 8)


def test_text_output_is_comment_header_then_definitions(capsys):
    rc, out, _ = cli(capsys, "grad", "sin(x)*sin(x)")
    assert rc == 0
    assert out.splitlines() == ["# f = sin(x) * sin(x)", "t1 = sin(x) * cos(x)", "df/dx = t1 + t1"]


def test_gradient_with_respect_to_an_absent_variable_is_zero(capsys):
    rc, out, _ = cli(capsys, "grad", "x**3", "--wrt", "x", "--wrt", "z", "--at", "x=2")
    assert rc == 0
    assert value_lines(out) == {"df/dx": 12.0, "df/dz": 0.0}


def test_latex_tree_and_dot_formats(capsys, tmp_path):
    rc, out, _ = cli(capsys, "grad", "sin(x)*y", "--wrt", "x", "--format", "latex", "--at", "x=0,y=3")
    assert rc == 0
    assert out.splitlines()[0] == r"\frac{\partial f}{\partial x} = y \cos{\left(x \right)}"
    assert value_lines(out, "%") == {"df/dx": 3.0}
    rc, out, _ = cli(capsys, "grad", "tanh(w*x + b)", "--wrt", "w", "--format", "tree")
    assert rc == 0 and out.startswith("df/dw = ") and "(grad wrt w)" in out.splitlines()[0]
    rc, out, _ = cli(capsys, "grad", "tanh(w*x + b)", "--wrt", "w", "--wrt", "b", "--format", "dot",
                     "--at", "w=1,x=2,b=0")
    assert rc == 0 and out.startswith('digraph "symdiff" {')
    assert set(value_lines(out, "//")) == {"df/dw", "df/db"}
    if shutil.which("dot"):  # the output, values included as comments, is valid DOT
        proc = subprocess.run(["dot", "-Tsvg"], input=out.encode(), capture_output=True)
        assert proc.returncode == 0, proc.stderr


def test_default_wrt_is_the_only_variable(capsys):
    rc, out, _ = cli(capsys, "grad", "sin(x) * pi", "--at", "x=0")
    assert rc == 0 and "df/dx = " in out and value_lines(out)["df/dx"] == pytest.approx(3.141592653589793)
    rc, _, err = cli(capsys, "grad", "x*y")
    assert rc == 2 and "--wrt" in err and "x, y" in err


HOSTILE = [
    ("__import__('os').system('touch {marker}')", "only the allowed functions can be called"),
    ("x.real", "attribute access"),
    ("x.__class__", "attribute access"),
    ("x[0]", "subscripts"),
    ("(lambda: 1)()", "only the allowed functions"),
    ("lambda: 1", "lambda"),
    ("'touch {marker}'", "strings"),
    ("open('{marker}', 'w')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exp.__globals__", "attribute access"),
    ("exp", "is a function"),
    ("[x]", "lists"),
    ("x if x else 1", "conditional"),
    ("x < 1", "comparisons"),
    ("(y := 2)", "assignments"),
    ("f'{{x}}'", "f-strings"),
    ("x @ x", "MatMult"),
    ("~x", "Invert"),
    ("1j * x", "only real numbers"),
    ("True * x", "only real numbers"),
    ("__builtins__", "not allowed as a variable"),
    ("exp(x, y)", "takes 1 arguments"),
    ("exp(x=1)", "keyword"),
    ("clip(x, y, 1)", "must be numbers"),
    ("x +", "invalid expression"),
    ("import os", "invalid expression"),
    ("x; import os", "invalid expression"),
    ("(" * 300 + "x" + ")" * 300, "invalid expression"),
    ("x" * 20_000, "longer than"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_or_invalid_input_is_refused(capsys, tmp_path, text, message):
    marker = tmp_path / "pwned"
    rc, out, err = cli(capsys, "grad", text.format(marker=marker), "--wrt", "x")
    assert rc == 2
    assert out == ""
    assert err.startswith("symdiff: error: ") and message in err
    assert not marker.exists()


def test_bad_options(capsys):
    assert cli(capsys, "grad", "x", "--at", "y=1")[2].count("does not use") == 1
    rc, _, err = cli(capsys, "grad", "x*y", "--wrt", "x", "--at", "x=1")
    assert rc == 2 and "no value for y" in err
    rc, _, err = cli(capsys, "grad", "x", "--at", "x=os.system('id')")
    assert rc == 2 and "is not a number" in err
    rc, _, err = cli(capsys, "grad", "x", "--order", "0")
    assert rc == 2 and "--order" in err
    rc, _, err = cli(capsys, "grad", "x", "--wrt", "x.y")
    assert rc == 2 and "not a variable name" in err
    with pytest.raises(SystemExit) as exc:
        main(["grad", "x", "--format", "html"])
    assert exc.value.code == 2


def test_parse_expression_builds_the_graph():
    f, variables = parse_expression("-x**2 + leaky_relu(y, 0.2) * clip(x, -1, 1) / 2e0")
    assert set(variables) == {"x", "y"}
    assert sd.pretty(f) == "-x**2 + leaky_relu(y, alpha=0.2) * clip(x, -1, 1) / 2"
    with pytest.raises(ExpressionError):
        parse_expression("x.y")
    assert issubclass(ExpressionError, sd.SymdiffError)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_help_documents_the_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["grad", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "never run as Python" in out and "--order" in out and "--at" in out and "--format" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "symdiff grad" in capsys.readouterr().out


def test_python_dash_m_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    proc = subprocess.run([sys.executable, "-m", "symdiff", "grad", f"__import__('os').system('touch {marker}')"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 2 and "symdiff: error:" in proc.stderr and not marker.exists()


def test_console_script():
    exe = shutil.which("symdiff") or str(Path(sys.executable).parent / "symdiff")
    if not os.path.exists(exe):
        pytest.skip("the symdiff console script is not installed")
    proc = subprocess.run([exe, "grad", "x**3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "# f = x**3\ndf/dx = 3 * x**2\n"
