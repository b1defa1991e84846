"""The restricted unpickler's decisions: the exact allow-list, each reconstructor's own refusals, and what comes back.

A pickle names a global with the GLOBAL opcode (``c<module>\\n<name>\\n``); a file holding only that opcode and STOP
loads as the global itself, so each entry of the allow-list is checked alone, and every other name is refused."""

import pickle

import numpy as np
import pytest

from optix_evo.data import restricted_pickle
from optix_evo.data.restricted_pickle import load_restricted
from optix_evo.errors import InputError

ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    *((f"{core}.multiarray", "_reconstruct") for core in ("numpy.core", "numpy._core")),
    *((f"{core}.multiarray", "scalar") for core in ("numpy.core", "numpy._core")),
    *((f"{core}.numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")),
}
# Names a crafted file could ask for, including near misses of the allowed ones.
REFUSED = [
    ("os", "system"), ("builtins", "eval"), ("builtins", "getattr"), ("posix", "system"), ("subprocess", "Popen"),
    ("numpy", "load"), ("numpy", "frombuffer"), ("numpy", "array"), ("numpy.core.multiarray", "fromstring"),
    ("numpy._core.multiarray", "array"), ("numpy.core.numeric", "frombuffer"), ("codecs", "encode"),
    ("_codecs", "decode"), ("numpy.ma.core", "_mareconstruct"), ("numpy", "ndarray.__new__"), ("numpy.core", "dtype"),
    ("copyreg", "_reconstructor"), ("collections", "OrderedDict"),
]


def _write(tmp_path, data: bytes):
  path = tmp_path / "batch"
  path.write_bytes(data)
  return path


def _global(module, name) -> bytes:
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n."


def test_the_allow_list_is_exactly_the_names_cifar_files_need():
  assert set(restricted_pickle._ALLOWED) == ALLOWED


@pytest.mark.parametrize("module, name", sorted(ALLOWED))
def test_each_allowed_name_resolves_to_its_safe_stand_in(tmp_path, module, name):
  assert load_restricted(_write(tmp_path, _global(module, name))) is restricted_pickle._ALLOWED[(module, name)]


@pytest.mark.parametrize("module, name", REFUSED)
def test_every_other_name_is_refused_naming_it(tmp_path, module, name):
  path = _write(tmp_path, _global(module, name))
  with pytest.raises(InputError) as e:
    load_restricted(path, what="CIFAR batch")
  assert str(e.value) == (f"Refused to load {path}: the file asks for {module}.{name}, which a CIFAR batch never "
                          "contains (only dicts, lists, strings, numbers and numpy arrays are allowed); it may be "
                          "crafted to run code. Use the official files.")


def test_a_persistent_id_is_refused(tmp_path):
  with pytest.raises(InputError, match=r"asks for persistent id '7'"):
    load_restricted(_write(tmp_path, b"P7\n."))


def test_arrays_scalars_and_byte_strings_come_back_exactly(tmp_path):
  data = {b"labels": [3, 1, 4], b"data": np.arange(24, dtype=np.uint8).reshape(2, 12), b"name": b"batch 1",
          "mean": np.float32(1.5), "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))}
  for protocol in (2, 5):
    out = load_restricted(_write(tmp_path, pickle.dumps(data, protocol=protocol)))
    assert out.keys() == data.keys() and out[b"labels"] == [3, 1, 4] and out[b"name"] == b"batch 1"
    for key in (b"data", "fortran"):
      assert type(out[key]) is np.ndarray and out[key].dtype == data[key].dtype
      np.testing.assert_array_equal(out[key], data[key])
      assert out[key].flags.writeable  # a copy, not a view of the file's read-only bytes
    assert type(out["mean"]) is np.float32 and out["mean"] == 1.5


def test_python_2_strings_come_back_as_bytes(tmp_path):
  assert load_restricted(_write(tmp_path, b"U\x03abc.")) == b"abc"  # SHORT_BINSTRING, as Python 2 wrote str


def test_a_scalar_without_data_is_the_dtypes_zero(tmp_path):
  # scalar(dtype('<f4')): numpy.dtype('f4', False, True) then multiarray.scalar(dtype)
  data = (b"cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R\x85R.")
  out = load_restricted(_write(tmp_path, data))
  assert type(out) is np.float32 and out == 0


@pytest.mark.parametrize("size", [3, 8])
def test_a_scalar_whose_data_is_not_one_item_is_refused(tmp_path, size):
  # scalar(dtype('<f4'), <size bytes>): numpy writes exactly 4
  data = (b"cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"
          + b"C" + bytes([size]) + bytes(size) + b"\x86R.")
  with pytest.raises(InputError, match=f"asks for a float32 scalar from {size} bytes \\(it holds 4\\)"):
    load_restricted(_write(tmp_path, data))
  ok = data.replace(b"C" + bytes([size]) + bytes(size), b"C\x04\x00\x00\xc0\x3f")
  assert load_restricted(_write(tmp_path, ok)) == np.float32(1.5)


@pytest.mark.parametrize("encoding", ["latin1", "latin-1", "iso-8859-1", "L1"])
def test_codecs_encode_is_allowed_for_latin_1_only(tmp_path, encoding):
  data = b"c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X" + bytes([len(encoding)]) + b"\x00\x00\x00" + encoding.encode()
  assert load_restricted(_write(tmp_path, data + b"\x86R.")) == b"\xe9"


@pytest.mark.parametrize("encoding", ["utf-8", "rot13", "zlib"])
def test_codecs_encode_with_another_encoding_is_refused(tmp_path, encoding):
  data = b"c_codecs\nencode\nX\x01\x00\x00\x00aX" + bytes([len(encoding)]) + b"\x00\x00\x00" + encoding.encode()
  with pytest.raises(InputError, match=f"asks for _codecs.encode with encoding '{encoding}'"):
    load_restricted(_write(tmp_path, data + b"\x86R."))


def test_object_dtypes_are_refused_in_every_reconstructor(tmp_path):
  for protocol in (2, 5):
    with pytest.raises(InputError, match=r"an array of dtype object \(Python objects\)"):
      load_restricted(_write(tmp_path, pickle.dumps(np.array([1, None], dtype=object), protocol=protocol)))
  with pytest.raises(InputError, match=r"an array of dtype object \(Python objects\)"):  # numpy.dtype('O8') alone
    load_restricted(_write(tmp_path, b"cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R."))


def test_reconstruct_refuses_a_subtype_other_than_ndarray(tmp_path):
  # _reconstruct(numpy.dtype, (0,), b'b'): the subtype slot holds another allowed global
  data = (b"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\ndtype\nK\x00\x85C\x01btR.")
  with pytest.raises(InputError, match="asks for an array of subtype"):
    load_restricted(_write(tmp_path, data))


def test_an_incomplete_file_is_an_input_error_naming_what_it_is(tmp_path):
  path = _write(tmp_path, pickle.dumps({b"data": [1, 2, 3]}, protocol=2)[:-5])
  with pytest.raises(InputError) as e:
    load_restricted(path, what="CIFAR batch")
  assert str(e.value).startswith(f"Cannot read {path} as a CIFAR batch: ") and "Is the file complete?" in str(e.value)


def test_reconstruct_refuses_an_object_dtype_itself(tmp_path):
  # _reconstruct(numpy.ndarray, (0,), b'O'): numpy writes b'b' there and the real dtype in __setstate__
  data = b"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\nndarray\nK\x00\x85C\x01OtR."
  with pytest.raises(InputError, match=r"an array of dtype object \(Python objects\)"):
    load_restricted(_write(tmp_path, data))


def test_codecs_encode_without_an_encoding_is_utf_8_and_refused(tmp_path):
  with pytest.raises(InputError, match="asks for _codecs.encode with encoding 'utf-8'"):
    load_restricted(_write(tmp_path, b"c_codecs\nencode\nX\x01\x00\x00\x00a\x85R."))


def test_messages_name_a_data_file_by_default(tmp_path):
  path = _write(tmp_path, _global("os", "system"))
  with pytest.raises(InputError, match="which a data file never contains"):
    load_restricted(path)
  path.write_bytes(b"\x80\x02")
  with pytest.raises(InputError, match="as a data file: EOFError"):
    load_restricted(path)
