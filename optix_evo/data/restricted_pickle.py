"""Reading the pickle files of data sets (CIFAR) without letting them run code.

A pickle may name any importable callable and call it while loading: ``pickle.load`` on a file received from
someone else runs whatever it was crafted to run. The CIFAR batches are Python 2 pickles of a dict of byte strings,
lists of ints and numpy ``uint8`` arrays; :func:`load_restricted` resolves only the few globals those need (numpy's
array and scalar reconstructors, ``numpy.dtype`` without object dtypes, ``_codecs.encode`` for latin-1, which
Python 3 writes for byte strings at protocol 2) and refuses every other one, and any persistent id, with an
:class:`~optix_evo.errors.InputError` that names what the file asked for.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from typing import Any

import numpy as np

from optix_evo.errors import InputError


class _Refused(pickle.UnpicklingError):
  """The file asks for something a data file never holds."""


_NDARRAY = object()  # what the name numpy.ndarray resolves to: an argument of _reconstruct, not a callable


def _reconstruct(subtype, shape, dtype):
  if subtype is not _NDARRAY:
    raise _Refused(f"an array of subtype {subtype!r}")
  return np.ndarray.__new__(np.ndarray, shape, _dtype(dtype))


def _dtype(*args):
  dtype = np.dtype(*args)
  if dtype.hasobject:
    raise _Refused(f"an array of dtype {dtype} (Python objects)")
  return dtype


def _frombuffer(buffer, dtype, shape, order):
  return np.frombuffer(buffer, dtype=_dtype(dtype)).reshape(shape, order=order).copy()


def _scalar(dtype, data=None):
  dtype = _dtype(dtype)
  if data is None:
    return dtype.type()
  if not isinstance(data, bytes) or len(data) != dtype.itemsize:  # numpy writes exactly one item's bytes
    raise _Refused(f"a {dtype} scalar from {len(data) if isinstance(data, bytes) else type(data).__name__} "
                   f"{'bytes' if isinstance(data, bytes) else 'data'} (it holds {dtype.itemsize})")
  return np.frombuffer(data, dtype=dtype)[0]


def _latin1(text, encoding="utf-8"):
  if codecs.lookup(encoding).name != "iso8859-1":
    raise _Refused(f"_codecs.encode with encoding {encoding!r}")
  return text.encode("latin-1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
}
for _core in ("numpy.core", "numpy._core"):  # the official files name numpy.core; numpy 2 writes numpy._core
  _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
  _ALLOWED[(f"{_core}.multiarray", "scalar")] = _scalar
  _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class _Unpickler(pickle.Unpickler):

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    raise _Refused(f"{module}.{name}")

  def persistent_load(self, pid: Any) -> Any:
    raise _Refused(f"persistent id {pid!r}")


def load_restricted(path: str | os.PathLike, what: str = "data file") -> Any:
  """Unpickles ``path`` (``encoding="bytes"``, as Python 2 files need) allowing only dicts, lists, tuples, byte and
  text strings, numbers and numpy arrays / scalars of non-object dtypes.

  Args:
    path: the pickle file.
    what: what the file is, for messages (``"CIFAR batch"``, ...).

  Returns:
    The unpickled object.

  Raises:
    InputError: the file asks for anything else (it may be crafted to run code), or is not a complete pickle.

  Examples:
    >>> import os
    >>> import pickle
    >>> import tempfile
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> path = os.path.join(tempfile.mkdtemp(), "batch")
    >>> with open(path, "wb") as f:
    ...   pickle.dump({b"labels": [3, 1], b"data": np.zeros((2, 4), np.uint8)}, f, protocol=2)
    >>> print(ox.data.load_restricted(path)[b"labels"])
    [3, 1]
    >>> with open(path, "wb") as f:
    ...   pickle.dump(os.system, f)  # a file that would call a function while loading
    >>> ox.data.load_restricted(path)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: ...

  References:
    Python's documentation, `Restricting Globals
    <https://docs.python.org/3/library/pickle.html#restricting-globals>`_ (the pattern used here).
  """
  with open(path, "rb") as f:
    raw = f.read()
  try:
    return _Unpickler(io.BytesIO(raw), encoding="bytes").load()
  except _Refused as e:
    raise InputError(f"Refused to load {path}: the file asks for {e}, which a {what} never contains (only dicts, "
                     "lists, strings, numbers and numpy arrays are allowed); it may be crafted to run code. Use the "
                     "official files.") from None
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
          OverflowError, MemoryError, UnicodeDecodeError) as e:
    raise InputError(f"Cannot read {path} as a {what}: {type(e).__name__}: {e}. Is the file complete?") from None
