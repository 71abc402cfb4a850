"""Every script in examples/ runs as written (each in a subprocess, with a timeout).

Scripts are discovered with a glob, so new examples are picked up without editing this file.
A script whose imports are not installed (scikit-learn, say) is skipped with the reason. A line
``# symdiff-test: slow`` in a script marks it slow (left out of the default run, which takes
``-m 'not slow'``); ``# symdiff-test: timeout=SECONDS`` changes its timeout (default 120 s).
"""
import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DEFAULT_TIMEOUT = 120


def _missing_imports(path: Path) -> list[str]:
    """Top-level modules the script imports that are not installed."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(n for n in names if importlib.util.find_spec(n) is None)


def _params():
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        marks = [pytest.mark.slow] if re.search(r"^# symdiff-test: slow\b", text, re.M) else []
        yield pytest.param(path, id=path.name, marks=marks)


def test_examples_exist():
    assert any(p.name == "quickstart.py" for p in EXAMPLES)


def _timeout(path: Path) -> int:
    m = re.search(r"^# symdiff-test: timeout=(\d+)", path.read_text(encoding="utf-8"), re.M)
    return int(m.group(1)) if m else DEFAULT_TIMEOUT


@pytest.fixture(scope="module")
def launched(request, tmp_path_factory):
    """Start every selected example at once (they mostly wait on imports and compilation), each in
    a scratch directory so files an example writes do not land in the repository."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    selected = [item.callspec.params["path"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_example_runs" and hasattr(item, "callspec")]
    procs = {}
    for path in selected:
        if not _missing_imports(path):
            cwd = tmp_path_factory.mktemp(path.stem)
            procs[path] = subprocess.Popen([sys.executable, str(path)], cwd=cwd, env=env, text=True,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("path", list(_params()))
def test_example_runs(path: Path, launched):
    missing = _missing_imports(path)
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, which is not installed")
    proc = launched[path]
    timeout = _timeout(path)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{path.name} did not finish within {timeout} s")
    assert proc.returncode == 0, f"{path.name} failed:\n{out[-3000:]}\n{err[-3000:]}"


def _python_blocks(markdown: str) -> str:
    return "\n".join(re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S))


@pytest.mark.slow
def test_tutorial_code_runs(tmp_path):
    """The tutorial's Python blocks, run in order as one script (it trains the MLP: slow)."""
    pytest.importorskip("sklearn")
    script = tmp_path / "tutorial.py"
    script.write_text(_python_blocks((ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training accuracy 1.000" in proc.stdout or "training accuracy 0.99" in proc.stdout


def test_docs_build_strictly(tmp_path):
    """mkdocs build --strict (needs the docs extra; skipped without it)."""
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()
