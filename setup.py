"""The one compiled part of posecli: the DTW kernel (posecli/align/_dtw.c; why C is said at its top).

Everything else is declared in pyproject.toml; setuptools merges the two. Building needs a C compiler (gcc or
clang on Linux and macOS, MSVC on Windows), as any source install of a package with a C extension does.
"""
import sys

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so every build rounds each cell's cost the same way.
flags = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]
setup(ext_modules=[Extension("posecli.align._dtw", ["posecli/align/_dtw.c"], extra_compile_args=flags)])
