"""Build hook for the one optional C extension (the project metadata is in pyproject.toml).

``symdiff/compiler/_fastcall.c`` takes calls of compiled functions on ready arguments (Python
floats, C-contiguous arrays of the right dtype) from C. It is optional: without a C compiler (or
NumPy's headers) the install still succeeds and the Python wrapper serves every call.
"""
from setuptools import Extension, setup

try:
    import numpy
except ImportError:  # NumPy is a build requirement (pyproject.toml); without it, no extension
    numpy = None

extensions = [] if numpy is None else [
    Extension("symdiff.compiler._fastcall", ["symdiff/compiler/_fastcall.c"],
              include_dirs=[numpy.get_include()], optional=True),
]
setup(ext_modules=extensions)
