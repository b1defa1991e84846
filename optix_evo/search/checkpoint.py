"""Checkpoints in a format that cannot run code: one ``.npz`` file (a zip of ``.npy`` arrays) whose JSON member
describes the state, read back with ``allow_pickle=False``.

A state is any nesting of ``dict`` (``str`` keys, order kept), ``list``, ``tuple``, ``str``, ``int``, ``float``,
``bool``, ``None``, NumPy arrays of boolean or numeric dtype and NumPy scalars; it comes back equal, with the same
types, dtypes and shapes (JAX arrays are stored as NumPy arrays and come back as such). The file is written
atomically (a run killed at any instant leaves either the previous or the new checkpoint, whole) and versioned
(:data:`FORMAT`, :data:`VERSION`); an unknown version, a pickle (the ``checkpoint.pkl`` of older versions), a
truncated or otherwise corrupt file is refused with :class:`~optix_evo.errors.InputError`, and nothing in the file
is ever executed.

Layout of the zip (members stored uncompressed, so a file cannot claim more memory than its own size):
``checkpoint.npy`` holds the UTF-8 JSON ``{"format": FORMAT, "version": VERSION, "arrays": n, "tree": ...}`` as
``uint8``; ``a0.npy`` .. ``a{n-1}.npy`` hold the arrays. In ``tree``, JSON numbers, strings, booleans, ``null`` and
lists stand for themselves; every JSON object has one key: ``{"dict": {...}}``, ``{"tuple": [...]}``,
``{"array": i}`` or ``{"scalar": i}`` (member ``a{i}.npy``; a scalar is stored as a 0-d array).

Also :func:`fill_defaults`, which lets a checkpoint written before a setting existed be read back (the new setting
takes its default), and :func:`broadcast_from_process_zero`, which hands process 0's view of the results folder to
the other processes of a multi-host run (only process 0 reads or writes that folder), in the same format.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import sys
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from optix_evo.errors import InputError
from optix_evo.runs.folder import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: F401 (re-exported)

FORMAT = "optix_evo.checkpoint"
VERSION = 1
_META = "checkpoint.npy"
_DTYPE_KINDS = "biufc"  # bool, signed/unsigned integers, floats, complex: no objects, strings or raw bytes
_PICKLE_PROTOCOL_2_PLUS = b"\x80"


def _is_jax_array(x: Any) -> bool:
  jax = sys.modules.get("jax")  # only loaded when the caller uses JAX; then its arrays are stored as NumPy arrays
  return jax is not None and isinstance(x, jax.Array)


class _Encoder:
  """Turns a state into (JSON tree, arrays); unsupported values raise ``TypeError`` naming where they are."""

  def __init__(self):
    self.arrays: list[np.ndarray] = []

  def _store(self, array: np.ndarray, where: str) -> int:
    if array.dtype.kind not in _DTYPE_KINDS or array.dtype.fields is not None:
      raise TypeError(f"cannot checkpoint the {array.dtype} array at {where}: only boolean and numeric dtypes are "
                      "stored (convert it, e.g. bfloat16 to float32).")
    self.arrays.append(array)
    return len(self.arrays) - 1

  def encode(self, x: Any, where: str) -> Any:
    if x is None or type(x) in (bool, int, str):
      return x
    if type(x) is float:
      return x  # json writes nan/inf as NaN/Infinity, which json.loads reads back
    if isinstance(x, np.generic):
      return {"scalar": self._store(np.asarray(x), where)}
    if isinstance(x, np.ndarray) or _is_jax_array(x):
      return {"array": self._store(np.asarray(x), where)}
    if type(x) is list:
      return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if type(x) is tuple:
      return {"tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(x)]}
    if type(x) is dict:
      bad = [k for k in x if type(k) is not str]
      if bad:
        raise TypeError(f"cannot checkpoint the dict at {where}: its keys must be str, got {bad[0]!r}.")
      return {"dict": {k: self.encode(v, f"{where}[{k!r}]") for k, v in x.items()}}
    raise TypeError(f"cannot checkpoint the {type(x).__name__} at {where}: a state holds only dicts (str keys), lists, "
                    "tuples, str, int, float, bool, None, NumPy arrays and NumPy scalars; convert it first.")


def encode_checkpoint(state: Any) -> bytes:
  """``state`` (see the module docstring) as the bytes of a checkpoint file.

  Raises:
    TypeError: naming the place in ``state`` of a value the format cannot hold.
  """
  encoder = _Encoder()
  tree = encoder.encode(state, "state")
  meta = json.dumps({"format": FORMAT, "version": VERSION, "arrays": len(encoder.arrays), "tree": tree})
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
    members = [(_META, np.frombuffer(meta.encode("utf-8"), np.uint8))]
    members += [(f"a{i}.npy", a) for i, a in enumerate(encoder.arrays)]
    for name, array in members:
      with zf.open(name, "w", force_zip64=True) as f:
        np.lib.format.write_array(f, array, allow_pickle=False)
  return buffer.getvalue()


class _Corrupt(Exception):
  """A structural fault of the file, turned into an InputError by :func:`decode_checkpoint`."""


def _read_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
  info = zf.getinfo(name)
  if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
    raise _Corrupt(f"member {name} is compressed (this format stores its arrays uncompressed)")
  data = io.BytesIO(zf.read(name))  # bounded by the file's own size; the zip checks the CRC
  version = np.lib.format.read_magic(data)
  if version == (1, 0):
    shape, _, dtype = np.lib.format.read_array_header_1_0(data)
  elif version == (2, 0):
    shape, _, dtype = np.lib.format.read_array_header_2_0(data)
  else:
    raise _Corrupt(f"member {name} has .npy format version {version}, not 1.0 or 2.0")
  if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.hasobject:
    raise _Corrupt(f"member {name} has dtype {dtype}, not a boolean or numeric one")
  payload = len(data.getbuffer()) - data.tell()
  if math.prod(shape) * dtype.itemsize != payload:
    raise _Corrupt(f"member {name} declares shape {shape} of {dtype} but holds {payload} bytes")
  data.seek(0)
  return np.lib.format.read_array(data, allow_pickle=False)


class _Decoder:
  def __init__(self, zf: zipfile.ZipFile, count: int):
    self.zf, self.count = zf, count

  def array(self, index: Any) -> np.ndarray:
    if type(index) is not int or not 0 <= index < self.count:
      raise _Corrupt(f"array reference {index!r} is not one of the file's {self.count} arrays")
    return _read_member(self.zf, f"a{index}.npy")

  def decode(self, node: Any) -> Any:
    if node is None or type(node) in (bool, int, float, str):
      return node
    if type(node) is list:
      return [self.decode(v) for v in node]
    if type(node) is not dict or len(node) != 1:
      raise _Corrupt(f"unexpected entry {str(node)[:80]}")
    (tag, value), = node.items()
    if tag == "dict" and type(value) is dict:
      return {k: self.decode(v) for k, v in value.items()}
    if tag == "tuple" and type(value) is list:
      return tuple(self.decode(v) for v in value)
    if tag == "array":
      return self.array(value)
    if tag == "scalar":
      array = self.array(value)
      if array.ndim != 0:
        raise _Corrupt(f"scalar {value} has shape {array.shape}")
      return array[()]
    raise _Corrupt(f"unexpected entry {str(node)[:80]}")


def decode_checkpoint(data: bytes, *, source: str = "the checkpoint") -> Any:
  """The state held by checkpoint bytes (:func:`encode_checkpoint`); nothing in them is executed.

  Args:
    data: the bytes of a checkpoint file.
    source: how the messages name the file.

  Raises:
    InputError: for a pickle, a file of another format or of an unknown version, or a truncated or corrupt file.
  """
  if data[:1] == _PICKLE_PROTOCOL_2_PLUS:
    raise InputError(f"{source} is a Python pickle (the checkpoint.pkl of older optix_evo versions?); pickles can run "
                     "code, so they are not loaded. Start the run afresh in a new folder.")
  try:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
      names = set(zf.namelist())
      if _META not in names:
        raise InputError(f"{source} is not an optix_evo checkpoint (no {_META} inside); was it written by "
                         "save_checkpoint?")
      meta = json.loads(_read_member(zf, _META).tobytes().decode("utf-8"))
      found = meta.get("format") if type(meta) is dict else None
      if found != FORMAT:
        raise InputError(f"{source} is not an optix_evo checkpoint (its format is {str(found)[:40]!r}, "
                         f"not {FORMAT!r}).")
      version, count = meta.get("version"), meta.get("arrays")
      if type(version) is not int or version < 1 or version > VERSION:
        raise InputError(f"{source} has checkpoint format version {str(version)[:20]}, but this optix_evo reads "
                         f"version {VERSION}; use the optix_evo version that wrote it (or a newer one).")
      if type(count) is not int or count != len(names) - 1 or names != {_META} | {f"a{i}.npy" for i in range(count)}:
        raise _Corrupt(f"its members {sorted(names)[:6]} do not match the {count!r} arrays it declares")
      return _Decoder(zf, count).decode(meta.get("tree"))
  except InputError:
    raise
  except (_Corrupt, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, KeyError, EOFError, OSError,
          NotImplementedError, RuntimeError, zlib.error, TypeError) as e:  # RuntimeError: encrypted, RecursionError
    raise InputError(f"{source} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]}); it cannot be read. "
                     "Resume from an intact copy or start afresh in a new folder.") from e


def save_checkpoint(path: str | os.PathLike, state: Any) -> None:
  """Writes ``state`` (see the module docstring) atomically to ``path`` (by convention a ``.npz`` name).

  Raises:
    TypeError: naming the place in ``state`` of a value the format cannot hold (nothing is written then).
  """
  atomic_write_bytes(path, encode_checkpoint(state))


def load_checkpoint(path: str | os.PathLike) -> Any:
  """The state saved by :func:`save_checkpoint` at ``path``, with its types, dtypes and shapes; never runs code.

  Raises:
    InputError: the file is missing or unreadable, a pickle, of another format or version, truncated or corrupt.
  """
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise InputError(f"cannot read the checkpoint {os.fspath(path)}: {e.strerror or e}.") from None
  return decode_checkpoint(data, source=f"the checkpoint {os.fspath(path)}")


def _expected_genome_fields(spec) -> dict[str, tuple[int, ...]]:
  from optix_evo.graph.validation import _field_shapes  # pylint: disable=import-outside-toplevel,protected-access

  return _field_shapes(spec)


def check_state_arrays(state: Any, *, space: str, population: int | None = None,
                       source: str = "the checkpoint") -> None:
  """Checks every array of a search state against the shape and dtype it must have, before anything uses it.

  A dict holding the genome fields (a population, e.g. the GA's particles) must hold ``int32`` arrays of shape
  ``(population, *field shape of the space)`` that form valid genomes (:func:`optix_evo.graph.validate_genome`); a
  ``fitness`` array beside it must be a float vector of the population's length; any other array must be numeric
  (the decoder refuses the rest). A file whose JSON is intact but one of whose arrays was reshaped or retyped is
  thereby one line, not an ``IndexError`` deep inside the search.

  Args:
    state: the decoded state (:func:`load_checkpoint`).
    space: the genome space's name (``config.space``).
    population: the expected population size (``config.particles``), or ``None`` to take the stored one.
    source: how the messages name the file.

  Raises:
    InputError: naming the first array that does not fit, its shape and dtype and the expected ones.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> from optix_evo.search.checkpoint import check_state_arrays
    >>> pop = ox.search.ga.stack([ox.graph.known("adam"), ox.graph.known("lion")])._asdict()
    >>> check_state_arrays({"ga": {"particles": pop, "fitness": np.zeros(2)}}, space="extended", population=2)
    >>> pop["inputs"] = pop["inputs"].reshape(2, 12)
    >>> check_state_arrays({"ga": {"particles": pop, "fitness": np.zeros(2)}}, space="extended")
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: the checkpoint: ga/particles/inputs has shape (2, 12) and dtype int32, expected ...
  """
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  spec = graph.get_space(space)
  fields = _expected_genome_fields(spec)

  def refuse(where: str, array: np.ndarray, expected: str) -> None:
    raise InputError(f"{source}: {where} has shape {array.shape} and dtype {array.dtype}, expected {expected}; the "
                     "file was changed or is corrupt. Resume from an intact copy or start afresh in a new folder.")

  def walk(node: Any, where: str) -> None:
    if isinstance(node, dict):
      if set(node) == set(fields) and all(isinstance(v, np.ndarray) for v in node.values()):
        size = population if population is not None else np.shape(node["momentum"])[0] if np.ndim(
            node["momentum"]) == 1 else None
        for name, shape in fields.items():
          array = node[name]
          if array.dtype != np.int32 or size is None or array.shape != (size, *shape):
            refuse(f"{where}/{name}".lstrip("/"), array, f"shape {(size if size is not None else 'P', *shape)} and "
                   f"dtype int32 (a population of {spec.name!r} genomes)")
        try:
          graph.validate_genome(graph.Genome(**node), spec)
        except InputError as e:
          raise InputError(f"{source}: {where.lstrip('/')}: {e} The file was changed or is corrupt.") from None
        return
      population_size = None
      particles = node.get("particles")
      if isinstance(particles, dict) and isinstance(particles.get("momentum"), np.ndarray):
        population_size = np.shape(particles["momentum"])[0] if np.ndim(particles["momentum"]) == 1 else None
      for key, value in node.items():
        if key == "fitness" and isinstance(value, np.ndarray):
          n = population if population is not None else population_size
          if value.dtype.kind != "f" or value.ndim != 1 or (n is not None and value.shape != (n,)):
            refuse(f"{where}/{key}".lstrip("/"), value, f"a float vector of the population's length ({n})")
        walk(value, f"{where}/{key}")
    elif isinstance(node, (list, tuple)):
      for i, value in enumerate(node):
        walk(value, f"{where}[{i}]")

  walk(state, "")


def fill_defaults(cls: type, stored: dict[str, Any], *, what: str = "the stored configuration") -> dict[str, Any]:
  """``stored`` (the ``dataclasses.asdict`` of an older ``cls``) with every field it lacks set to its default.

  Raises:
    InputError: naming the field, when ``stored`` has a field ``cls`` does not know, or lacks one without a default.
  """
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(stored) - set(fields))
  if unknown:
    raise InputError(f"{what} has setting(s) {unknown} that {cls.__name__} does not know (written by another version "
                     f"of optix_evo?). Known settings: {', '.join(fields)}.")
  out = dict(stored)
  for name, field in fields.items():
    if name in out:
      continue
    if field.default is not dataclasses.MISSING:
      out[name] = field.default
    elif field.default_factory is not dataclasses.MISSING:
      out[name] = field.default_factory()
    else:
      raise InputError(f"{what} lacks the {cls.__name__} setting {name!r}, which has no default; it cannot be read.")
  return out


def broadcast_from_process_zero(make: Callable[[], Any]) -> Any:
  """``make()`` evaluated on process 0 only, its result (a checkpoint state, see the module docstring) handed to
  every process in the checkpoint format (no pickle).

  A ``ValueError`` raised by ``make`` on process 0 is raised, with the same message (and as an
  :class:`~optix_evo.errors.InputError` if it was one), on every process, so that all of them stop together instead
  of the others waiting forever in the next collective. With one process this is just ``make()``.
  """
  import jax  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  if jax.process_count() == 1:
    return make()
  payload = b""
  if jax.process_index() == 0:
    try:
      payload = encode_checkpoint({"value": make()})
    except ValueError as e:
      payload = encode_checkpoint({"error": str(e), "input_error": isinstance(e, InputError)})
  size = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
  host = np.frombuffer(payload, np.uint8) if jax.process_index() == 0 else np.zeros(size, np.uint8)
  message = decode_checkpoint(np.asarray(multihost_utils.broadcast_one_to_all(host)).tobytes(),
                              source="process 0's broadcast")
  if "error" in message:
    raise (InputError if message["input_error"] else ValueError)(message["error"])
  return message["value"]
