"""The checkpoint format: exact round trips, atomic writes, and files that cannot run code or crash the loader."""

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search import checkpoint as ck


def _state():
  return {
      "config": {"particles": 8, "lr_grid": (0.1, 0.01), "task": "digits_mlp", "chunk": None, "flag": True},
      "ga": {"generation": 3, "fitness": np.array([0.5, -1.0, np.nan], np.float32),
             "particles": {"kind": np.arange(12, dtype=np.int32).reshape(3, 4), "flip": np.array([True, False, True])},
             "seen": (("fp1", "fp2"), ())},
      "archive": [{"fitness": 0.75, "genome_arrays": {"inputs": np.zeros((0, 3), np.int8)}}],
      "numbers": [2**70, -0.0, float("inf"), float("nan"), 1e-310, "", "ünïcode"],
      "scalars": (np.float32(1.5), np.int64(-3), np.bool_(True), np.complex64(1 + 2j), np.uint8(255)),
      "arrays": [np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.arange(10, dtype=np.uint64)[::3],
                 np.float16([1, 2]), np.array(7.0), np.array([[1 + 1j]], np.complex128)],
      "empty": ({}, [], ()),
  }


def _assert_same(a, b, where="state"):
  """Equal values of identical types (dtype and shape for arrays); NaN equals NaN; dict key order kept."""
  assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
  if isinstance(a, dict):
    assert list(a) == list(b), where
    for k in a:
      _assert_same(a[k], b[k], f"{where}[{k!r}]")
  elif isinstance(a, (list, tuple)):
    assert len(a) == len(b), where
    for i, (x, y) in enumerate(zip(a, b)):
      _assert_same(x, y, f"{where}[{i}]")
  elif isinstance(a, (np.ndarray, np.generic)):
    assert a.dtype == b.dtype and np.shape(a) == np.shape(b), where
    np.testing.assert_array_equal(a, b, err_msg=where)
  elif isinstance(a, float) and np.isnan(a):
    assert np.isnan(b), where
  else:
    assert a == b and (not isinstance(a, float) or np.copysign(1, a) == np.copysign(1, b)), where


def test_round_trip_is_exact(tmp_path):
  state = _state()
  ck.save_checkpoint(tmp_path / "checkpoint.npz", state)
  _assert_same(state, ck.load_checkpoint(tmp_path / "checkpoint.npz"))
  _assert_same(state, ck.decode_checkpoint(ck.encode_checkpoint(state)))
  with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as npz:  # a plain npz: readable by NumPy alone
    meta = json.loads(npz["checkpoint"].tobytes())
  assert (meta["format"], meta["version"]) == (ck.FORMAT, ck.VERSION)


def test_jax_arrays_come_back_as_numpy():
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  out = ck.decode_checkpoint(ck.encode_checkpoint({"w": jnp.arange(3, dtype=jnp.float32)}))
  assert type(out["w"]) is np.ndarray and out["w"].dtype == np.float32


@pytest.mark.parametrize("value, where", [
    ({1: 2}, "keys must be str"), ({"a": {1, 2}}, "set at state['a']"), ([np.array([object()])], "object array"),
    ({"s": np.array(["x"])}, "<U1 array at state['s']"), ({"t": [0, pickle]}, "module at state['t'][1]"),
    ({"n": ck.zipfile.ZipInfo()}, "ZipInfo"),
])
def test_unsupported_values_are_refused_naming_where(tmp_path, value, where):
  with pytest.raises(TypeError, match=where.replace("[", r"\[").replace("]", r"\]")):
    ck.save_checkpoint(tmp_path / "c.npz", value)
  assert not os.listdir(tmp_path)  # nothing written


class _RunsCode:
  """Unpickling this creates the folder ``marker``: the test fails if any loader unpickles it."""

  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return os.mkdir, (self.marker,)


def test_an_old_pickle_checkpoint_runs_no_code_and_is_refused(tmp_path):
  marker = tmp_path / "pwned"
  (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"state": _RunsCode(marker)}))
  with pytest.raises(InputError, match="is a Python pickle .* pickles can run code, so they are not loaded"):
    ck.load_checkpoint(tmp_path / "checkpoint.pkl")
  assert not marker.exists()


def _zip(members: dict[str, bytes]) -> bytes:
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as zf:
    for name, data in members.items():
      zf.writestr(name, data)
  return buffer.getvalue()


def _npy(array, allow_pickle=False) -> bytes:
  buffer = io.BytesIO()
  np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
  return buffer.getvalue()


def _meta(tree, arrays=1, **fields) -> bytes:
  meta = {"format": ck.FORMAT, "version": ck.VERSION, "arrays": arrays, "tree": tree, **fields}
  return _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def test_an_npz_with_object_arrays_runs_no_code_and_is_refused(tmp_path):
  marker = tmp_path / "pwned"
  evil = np.array([_RunsCode(marker)], dtype=object)
  for data in (_zip({"checkpoint.npy": _meta({"array": 0}), "a0.npy": _npy(evil, allow_pickle=True)}),
               _zip({"checkpoint.npy": _npy(evil, allow_pickle=True)})):
    (tmp_path / "c.npz").write_bytes(data)
    with pytest.raises(InputError, match="corrupt"):
      ck.load_checkpoint(tmp_path / "c.npz")
  np.savez(tmp_path / "plain.npz", x=evil)  # any other npz: not a checkpoint
  with pytest.raises(InputError, match="not an optix_evo checkpoint"):
    ck.load_checkpoint(tmp_path / "plain.npz")
  assert not marker.exists()


@pytest.mark.parametrize("members, match", [
    ({"checkpoint.npy": _meta({"array": 0}, version=2), "a0.npy": _npy(np.zeros(2))}, "version 2, but this"),
    ({"checkpoint.npy": _meta({"array": 0}, version="1"), "a0.npy": _npy(np.zeros(2))}, "version 1, but"),
    ({"checkpoint.npy": _meta({"array": 0}, format="orbax"), "a0.npy": _npy(np.zeros(2))}, "format is 'orbax'"),
    ({"checkpoint.npy": _meta({"array": 1}), "a0.npy": _npy(np.zeros(2))}, "not one of the file's 1 arrays"),
    ({"checkpoint.npy": _meta({"array": 0}, arrays=10**12), "a0.npy": _npy(np.zeros(2))}, "do not match"),
    ({"checkpoint.npy": _meta({"scalar": 0}), "a0.npy": _npy(np.zeros(2))}, "scalar 0 has shape"),
    ({"checkpoint.npy": _meta({"set": [1]}, arrays=0)}, "unexpected entry"),
    ({"checkpoint.npy": _meta({"tuple": [], "dict": {}}, arrays=0)}, "unexpected entry"),
    ({"checkpoint.npy": _meta({"array": 0}), "a0.npy": _npy(np.zeros(2)), "b.npy": b""}, "do not match"),
    ({"checkpoint.npy": _meta({"array": 0}), "a0.npy": _npy(np.zeros(2))[:-3]}, "holds 13 bytes"),
    ({"checkpoint.npy": _meta({"array": 0}), "a0.npy": _npy(np.zeros(2)).replace(b"(2,)", b"(9,)")}, "shape"),
    ({"checkpoint.npy": _meta({"array": 0}), "a0.npy": _npy(np.zeros(1, "V8"))}, "dtype"),
    ({"checkpoint.npy": b"\x93NUMPY\x01\x00" + b"{" * 5000}, "corrupt"),
    ({"checkpoint.npy": _npy(np.frombuffer(b"[" * 100000 + b"]" * 100000, np.uint8))}, "corrupt"),
    ({"checkpoint.npy": _npy(np.frombuffer(b"\xff\xfe", np.uint8))}, "corrupt"),
])
def test_crafted_files_are_refused_with_one_line(tmp_path, members, match):
  (tmp_path / "c.npz").write_bytes(_zip(members))
  with pytest.raises(InputError, match=match) as e:
    ck.load_checkpoint(tmp_path / "c.npz")
  assert "\n" not in str(e.value)


def test_compressed_members_are_refused():
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    zf.writestr("checkpoint.npy", _meta(None, arrays=0))
  with pytest.raises(InputError, match="compressed"):
    ck.decode_checkpoint(buffer.getvalue())


def test_truncated_and_damaged_files_are_refused_or_intact():
  state = {"x": np.arange(5, dtype=np.int32), "y": (1.5, "z")}
  data = ck.encode_checkpoint(state)
  for cut in range(len(data)):  # a file cut anywhere: refused
    with pytest.raises(InputError):
      ck.decode_checkpoint(data[:cut])
  for i in range(len(data)):  # any damaged byte: refused (CRC, headers), or harmless (e.g. a timestamp)
    damaged = bytearray(data)
    damaged[i] ^= 0xFF
    try:
      _assert_same(state, ck.decode_checkpoint(bytes(damaged)))
    except InputError:
      pass


def test_missing_file_and_folder_are_input_errors(tmp_path):
  with pytest.raises(InputError, match="cannot read the checkpoint .*No such file"):
    ck.load_checkpoint(tmp_path / "none.npz")
  with pytest.raises(InputError, match="cannot read the checkpoint"):
    ck.load_checkpoint(tmp_path)


def test_files_get_normal_permissions_and_no_temporaries(tmp_path):
  umask = os.umask(0o022)
  os.umask(umask)
  ck.save_checkpoint(tmp_path / "c.npz", {"a": 1})
  ck.atomic_write_text(tmp_path / "r.md", "x")
  for name in ("c.npz", "r.md"):
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
  assert sorted(os.listdir(tmp_path)) == ["c.npz", "r.md"]


def test_a_failed_write_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
  ck.save_checkpoint(tmp_path / "c.npz", {"generation": 1})

  def crash(*args):
    raise KeyboardInterrupt  # a kill between writing the new file and renaming it

  monkeypatch.setattr(os, "replace", crash)
  with pytest.raises(KeyboardInterrupt):
    ck.save_checkpoint(tmp_path / "c.npz", {"generation": 2})
  monkeypatch.undo()
  assert ck.load_checkpoint(tmp_path / "c.npz") == {"generation": 1}
  assert os.listdir(tmp_path) == ["c.npz"]


_WRITER = """
import sys
import numpy as np
from optix_evo.runs.folder import atomic_write_bytes
from optix_evo.search.checkpoint import encode_checkpoint
path = sys.argv[1]
for generation in range(10**9):
  atomic_write_bytes(path, encode_checkpoint({"generation": generation, "w": np.full(50_000, generation, np.int64)}))
  if generation == 0:
    print("first", flush=True)
"""


def test_kill_minus_9_mid_write_leaves_a_whole_checkpoint(tmp_path):
  path = tmp_path / "c.npz"
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
  proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, env=env)
  try:
    assert proc.stdout.readline() == b"first\n"
    time.sleep(0.3)  # a few hundred rewrites of a 400 kB checkpoint: the kill lands anywhere in one
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  state = ck.load_checkpoint(path)
  assert state["generation"] > 0 and (state["w"] == state["generation"]).all()


def test_broadcast_uses_the_checkpoint_format(monkeypatch):
  import jax  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(jax, "process_index", lambda: 0)
  sent = []
  monkeypatch.setattr(multihost_utils, "broadcast_one_to_all", lambda x: sent.append(x) or x)
  monkeypatch.setattr(pickle, "dumps", None)  # pickle is not used
  monkeypatch.setattr(pickle, "loads", None)
  state = _state()
  _assert_same(state, ck.broadcast_from_process_zero(lambda: state))
  assert ck.decode_checkpoint(np.asarray(sent[-1]).tobytes())["value"]["ga"]["generation"] == 3

  def refuse(error):
    def make():
      raise error
    return make

  with pytest.raises(InputError, match="no checkpoint"):
    ck.broadcast_from_process_zero(refuse(InputError("no checkpoint")))
  with pytest.raises(ValueError, match="bad") as e:
    ck.broadcast_from_process_zero(refuse(ValueError("bad")))
  assert type(e.value) is ValueError


def test_fill_defaults_errors_are_input_errors():
  import dataclasses  # pylint: disable=import-outside-toplevel

  @dataclasses.dataclass
  class Config:
    a: int
    b: int = 2

  assert ck.fill_defaults(Config, {"a": 1}) == {"a": 1, "b": 2}
  with pytest.raises(InputError, match="does not know"):
    ck.fill_defaults(Config, {"a": 1, "c": 3})
  with pytest.raises(InputError, match="no default"):
    ck.fill_defaults(Config, {"b": 1})
