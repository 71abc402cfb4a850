"""Build hook for the one optional C extension (the project metadata is in pyproject.toml).

``symdiff/compiler/_fastcall.c`` speeds up calls of compiled functions on Python floats. It is
optional: without a C compiler the install still succeeds and the Python wrapper serves every call.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("symdiff.compiler._fastcall", ["symdiff/compiler/_fastcall.c"], optional=True)])
