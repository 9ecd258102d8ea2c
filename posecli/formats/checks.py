"""Checks shared by the readers: NPZ archives read without ``pickle`` (sizes from the .npy headers capped by
what the archive really holds), and the types and ranges of values read from any file, each failing as one
clear :class:`SchemaError`.

VideoPose3D's NPZ files are pickled dictionaries. They are read with a restricted unpickler that rebuilds only
dicts, lists, tuples, strings, numbers and numpy arrays: no other class or function named in the file is ever
looked up or called, so a crafted file cannot run code (unlike ``np.load(..., allow_pickle=True)``).
"""
from __future__ import annotations

import io
import math
import pickle
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, SchemaError

MAX_MEMBER_BYTES = 4 * 2 ** 30  # one array of an NPZ, uncompressed
MAX_FRAME = 2 ** 53  # frame indices and ids beyond this are damage, not video (and would overflow int64 math)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, struct.error)


def npz_keys(path: str | Path) -> set[str]:
    """The array names of an NPZ archive (members without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return {n.removesuffix(".npy") for n in zf.namelist()}
    except (*_ZIP_ERRORS, ValueError, RuntimeError) as exc:
        raise InputError(f"not a readable NPZ file ({_short(exc)})", "check the file was fully written",
                         path) from None


def load_npz(path: str | Path, objects: bool = False) -> dict[str, Any]:
    """Every member of an NPZ as an array. ``objects``: pickled object arrays are rebuilt by the restricted
    unpickler (VideoPose3D files); otherwise an object array is an error. Never calls ``pickle.load``."""
    path = Path(path)
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                with zf.open(info) as fh:
                    out[key] = _read_member(fh, info, key, objects, path)
    except SchemaError:
        raise
    except (*_ZIP_ERRORS, ValueError, RuntimeError, tokenize.TokenError, SyntaxError) as exc:
        # RuntimeError: an encrypted member; TokenError, SyntaxError: numpy parsing a damaged .npy header
        raise InputError(f"not a readable NPZ file ({_short(exc)})", "check the file was fully written",
                         path) from None
    return out


def _read_member(fh, info: zipfile.ZipInfo, key: str, objects: bool, path: Path) -> Any:
    if fh.read(6) != b"\x93NUMPY":
        raise SchemaError(f"member {info.filename!r} is not a .npy array", "the file is damaged", path)
    major = fh.read(2)[:1]
    if major not in (b"\x01", b"\x02"):
        raise SchemaError(f"member {info.filename!r} has an unknown .npy version", "the file is damaged", path)
    reader = np.lib.format.read_array_header_1_0 if major == b"\x01" else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(fh)  # numpy's own parser (ast.literal_eval), at most 10000 header bytes
    available = info.file_size - fh.tell()
    if available < 0 or available > MAX_MEMBER_BYTES:
        raise SchemaError(f"member {info.filename!r} declares {info.file_size} bytes",
                          "the file is damaged (or over the 4 GiB posecli reads per array)", path)
    if dtype.hasobject:
        if not objects:
            raise SchemaError(f"array {key!r} is a pickled object array; posecli files never hold pickles",
                              "give an NPZ written by posecli (pickled files are not loaded, for safety)", path)
        return _restricted_load(fh.read(available), key, path)
    if any(d < 0 for d in shape) or dtype.itemsize == 0:
        raise SchemaError(f"array {key!r} declares shape {shape} of {dtype}", "the file is damaged", path)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available:
        raise SchemaError(f"array {key!r} declares {nbytes} bytes ({shape} of {dtype}) but holds {available}",
                          "the file is damaged or cut short", path)
    raw = fh.read(nbytes)
    if len(raw) != nbytes:
        raise SchemaError(f"array {key!r} is cut short ({len(raw)} of {nbytes} bytes)",
                          "check the file was fully written", path)
    count = math.prod(shape)
    flat = np.frombuffer(raw, dtype=dtype, count=count).copy()
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


def _numpy_reconstruct(cls, shape, dtype):
    """numpy's pickles start every array as an empty one and fill it in ``__setstate__``: never allocate the
    shape the file names here (a crafted file could name terabytes)."""
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays may be rebuilt")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


def _numpy_dtype(*args):
    if not args or not isinstance(args[0], str):
        raise pickle.UnpicklingError("a dtype must be named by a string")
    return np.dtype(*args)


_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
}


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}") from None


def _restricted_load(data: bytes, key: str, path: Path) -> Any:
    try:
        value = _Restricted(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, struct.error, RecursionError) as exc:  # the unpickler's ways of failing on bad data
        raise SchemaError(f"array {key!r} is not a readable pickled dictionary ({_short(exc)})",
                          "only dictionaries, lists and numpy arrays are loaded from VideoPose3D files",
                          path) from None
    if not isinstance(value, np.ndarray):
        raise SchemaError(f"array {key!r} does not hold an array", "the file is damaged", path)
    return value


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


# ---- values read from files ----

def is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def optional_number(v: Any, what: str, path: str | Path, integer: bool = False) -> Any:
    """``v`` if it is None or a (finite, for integers in range) number; else one SchemaError."""
    if v is None:
        return None
    try:
        f = float(v) if is_number(v) else None
    except OverflowError:  # an int beyond float range
        f = None
    if f is None or (integer and not (abs(f) <= MAX_FRAME and f.is_integer())):
        raise SchemaError(f"{what} is {_show(v)}, expected {'an integer' if integer else 'a number'}",
                          "the file is damaged or was edited by hand", path)
    return int(v) if integer else f


def index(v: Any, what: str, path: str | Path) -> int:
    """A frame index or id read from a file: an integer (or an integral number) within +-2**53."""
    if isinstance(v, str):
        try:
            v = float(v) if any(c in v for c in ".eEnN") else int(v)
        except ValueError:
            raise SchemaError(f"{what} is {_show(v)}, expected an integer", path=path) from None
    if not is_number(v) or not abs(v) <= MAX_FRAME or not float(v).is_integer():
        raise SchemaError(f"{what} is {_show(v)}, expected an integer up to {MAX_FRAME}",
                          "the file is damaged or was edited by hand", path)
    return int(v)


def numeric(a: Any, what: str, path: str | Path, kinds: str = "biuf") -> np.ndarray:
    """``a`` as an array whose dtype is one of ``kinds`` (bool, int, unsigned, float by default)."""
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds:
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise SchemaError(f"{what} is {kind}, expected numbers", "the file is damaged or was edited by hand", path)
    return a


def need(ok: bool, what: str, path: str | Path, fix: str = "the file is damaged or was edited by hand") -> None:
    if not ok:
        raise SchemaError(what, fix, path)


def _show(v: Any) -> str:
    """A value read from a file, shown on one line and short (numpy arrays' repr spans lines)."""
    text = repr(v) if not isinstance(v, int) or abs(v) < 10 ** 40 else f"an integer of {len(hex(v))} hex digits"
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
