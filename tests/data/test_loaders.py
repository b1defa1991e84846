"""Offline data loaders: shapes, determinism, task semantics; CIFAR-10/100 from tiny pickle files written as the
official (Python 2) ones are, malicious batches refused; TinyImageNet from a tiny folder of JPEGs."""

import builtins
import io
import os
import pickle
import struct

import numpy as np
import pytest

from optix_evo import data
from optix_evo.errors import InputError


class _Py2Pickler(pickle._Pickler):  # noqa: SLF001 - the pure-Python pickler lets us choose the opcodes
  """Byte strings as Python 2 ``str`` opcodes (no ``_codecs.encode``), as in the official CIFAR files."""

  def save_bytes(self, obj):
    n = len(obj)
    self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
    self.memoize(obj)

  dispatch = dict(pickle._Pickler.dispatch)  # noqa: SLF001
  dispatch[bytes] = save_bytes


def py2_pickle(obj) -> bytes:
  """``obj`` pickled as Python 2's cPickle wrote the CIFAR files (protocol 2, ``numpy.core`` globals)."""
  f = io.BytesIO()
  _Py2Pickler(f, protocol=2).dump(obj)
  return f.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "adding", "copy", "sbm"])
def test_splits_are_deterministic_and_disjoint(name):
  a, b, c = data.load_dataset(name, seed=3), data.load_dataset(name, seed=3), data.load_dataset(name, seed=4)
  np.testing.assert_array_equal(a.train.x, b.train.x)
  assert not np.array_equal(a.train.y, c.train.y) or not np.array_equal(a.train.x, c.train.x)
  assert a.train.num_examples > a.valid.num_examples > 0 and a.test.num_examples > 0


def test_mnist1d_cache_holds_the_generated_arrays_and_a_bad_file_is_generated_again(tmp_path, monkeypatch):
  from optix_evo.data import mnist1d  # pylint: disable=import-outside-toplevel

  monkeypatch.setenv("OPTIX_EVO_DATA_CACHE", str(tmp_path))
  x, y = mnist1d._make(300, 7)  # pylint: disable=protected-access
  mnist1d._generate.cache_clear()  # pylint: disable=protected-access
  first = mnist1d._generate(300, 7)  # pylint: disable=protected-access
  (path,) = tmp_path.glob("mnist1d-*-300-7.npz")
  mnist1d._generate.cache_clear()  # pylint: disable=protected-access
  cached = mnist1d._generate(300, 7)  # pylint: disable=protected-access
  for got in (first, cached):
    np.testing.assert_array_equal(got[0], x)
    np.testing.assert_array_equal(got[1], y)
  np.savez(path, x=x + 1, y=y)  # a valid file is read, not generated again
  mnist1d._generate.cache_clear()  # pylint: disable=protected-access
  np.testing.assert_array_equal(mnist1d._generate(300, 7)[0], x + 1)  # pylint: disable=protected-access
  bad = {"garbage": lambda: path.write_bytes(b"not an npz"),
         "shape": lambda: np.savez(path, x=x[:10], y=y[:10]),
         "dtype": lambda: np.savez(path, x=x.astype(np.float64), y=y),
         "pickled": lambda: np.savez(path, x=np.array([object()] * 300, object), y=y)}
  for name, write in bad.items():
    write()
    mnist1d._generate.cache_clear()  # pylint: disable=protected-access
    got = mnist1d._generate(300, 7)  # pylint: disable=protected-access
    np.testing.assert_array_equal(got[0], x, err_msg=name)
    np.testing.assert_array_equal(got[1], y, err_msg=name)
    assert (got[0].dtype, got[1].dtype) == (np.float32, np.int32), name
    assert mnist1d._read_cached(str(path), 300) is not None, name  # pylint: disable=protected-access
  monkeypatch.setenv("OPTIX_EVO_DATA_CACHE", "off")
  assert mnist1d.data_cache_dir() is None
  mnist1d._generate.cache_clear()  # pylint: disable=protected-access
  path.unlink()
  mnist1d._generate(300, 7)  # pylint: disable=protected-access
  assert not list(tmp_path.iterdir())
  mnist1d._generate.cache_clear()  # pylint: disable=protected-access


def test_mnist1d_generated_locally():
  split = data.load_mnist1d(seed=0, num_samples=500)
  assert split.train.x.shape[1:] == (40,) and split.num_classes == 10
  assert split.train.num_examples + split.valid.num_examples + split.test.num_examples == 500
  assert set(np.unique(split.train.y)) == set(range(10))
  again = data.load_dataset("mnist1d", seed=0, num_samples=500)
  np.testing.assert_array_equal(split.test.x, again.test.x)


def test_adding_problem_targets():
  split = data.load_adding(seed=1, num_examples=50, length=10)
  x, y = split.train.x, split.train.y
  assert x.shape[1:] == (10, 2) and split.num_classes == 0
  np.testing.assert_array_equal(x[..., 1].sum(1), 2.0)
  np.testing.assert_allclose(y, (x[..., 0] * x[..., 1]).sum(1), rtol=1e-6)
  assert np.all(x[:, :5, 1].sum(1) == 1) and np.all(x[:, 5:, 1].sum(1) == 1)


def test_copy_problem_targets():
  split = data.load_copy(seed=0, num_examples=40, symbols=4, length=3, delay=2)
  x, y = split.train.x, split.train.y
  assert x.shape[1:] == (2 * 3 + 2, 6) and y.shape[1:] == (3,)
  tokens = x.argmax(-1)
  np.testing.assert_array_equal(tokens[:, :3], y)
  assert np.all(tokens[:, 3 + 2] == 5) and np.all(tokens[:, 3:5] == 4) and np.all(tokens[:, 6:] == 4)
  with pytest.raises(ValueError, match="symbols"):
    data.load_copy(symbols=1)


def test_sbm_graph():
  split = data.load_sbm(seed=0, nodes=80, communities=4, p_in=0.3, p_out=0.02)
  a = split.graph.adjacency
  np.testing.assert_array_equal(a, a.T)
  assert np.all(np.diag(a) == 0) and split.graph.features.shape[0] == 80
  nodes = np.concatenate([split.train.x, split.valid.x, split.test.x])
  assert sorted(nodes.tolist()) == list(range(80)) and nodes.dtype == np.int32
  labels = np.empty(80, int)
  for part in (split.train, split.valid, split.test):
    labels[part.x] = part.y
  same = labels[:, None] == labels[None, :]
  assert a[same].mean() > 5 * a[~same].mean()  # communities are denser inside
  with pytest.raises(ValueError, match="communities"):
    data.load_sbm(communities=1)


def _batch(rng, n, classes=10, label_key=b"labels", extra=None):
  return {b"batch_label": b"training batch 1 of 5", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
          label_key: rng.integers(0, classes, n).tolist(), b"filenames": [b"img_%d.png" % i for i in range(n)],
          **(extra or {})}


def _write_cifar(folder, per_batch=6, seed=0):
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True)
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    (folder / name).write_bytes(py2_pickle(_batch(rng, per_batch)))
  return folder


def test_cifar10_from_tiny_pickles(tmp_path):
  folder = _write_cifar(tmp_path / "cifar-10-batches-py")
  split = data.load_cifar10(seed=0, root=tmp_path, valid_size=5)
  assert split.train.x.shape == (25, 32, 32, 3) and split.valid.x.shape == (5, 32, 32, 3)
  assert split.test.x.shape == (6, 32, 32, 3) and split.num_classes == 10
  np.testing.assert_allclose(split.train.x.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
  np.testing.assert_allclose(split.train.x.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
  # Channel layout: the pickle stores 1024 R, then G, then B values per image, row-major.
  raw = data.load_restricted(folder / "test_batch")[b"data"][0]
  img = (split.test.x[0] * split.train.x.std(axis=(0, 1, 2)))  # standardised: compare orderings via correlation
  assert np.corrcoef(img[..., 1].ravel(), raw[1024:2048].astype(float))[0, 1] > 0.99
  assert data.load_cifar10(seed=0, root=folder, valid_size=5, max_train=10).train.x.shape[0] == 10
  assert data.load_dataset("cifar10", seed=0, root=tmp_path, valid_size=5).name == "cifar10"


def test_cifar10_missing_files_say_where(tmp_path, monkeypatch):
  monkeypatch.setenv("OPTIX_EVO_DATA", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*OPTIX_EVO_DATA"):
    data.load_cifar10()


def test_unknown_dataset_lists_known():
  with pytest.raises(ValueError, match="mnist1d"):
    data.load_dataset("nope")


def test_cifar100_fine_and_coarse(tmp_path):
  rng = np.random.default_rng(1)
  folder = tmp_path / "cifar-100-python"
  folder.mkdir()
  for name, n in (("train", 12), ("test", 4)):
    batch = _batch(rng, n, 100, b"fine_labels", {b"coarse_labels": rng.integers(0, 20, n).tolist()})
    (folder / name).write_bytes(py2_pickle(batch))
  (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": [b"apple"] * 100}))
  split = data.load_cifar100(seed=0, root=tmp_path, valid_size=2)
  assert split.train.x.shape == (10, 32, 32, 3) and split.test.x.shape == (4, 32, 32, 3)
  assert split.num_classes == 100 and split.name == "cifar100" and split.train.y.dtype == np.int32
  coarse = data.load_dataset("cifar100", seed=0, root=folder, valid_size=2, labels="coarse")
  assert coarse.num_classes == 20 and coarse.train.y.max() < 20
  with pytest.raises(InputError, match="fine"):
    data.load_cifar100(root=tmp_path, labels="medium")
  os.remove(folder / "test")
  with pytest.raises(FileNotFoundError, match="cifar-100-python files test not found"):
    data.load_cifar100(root=tmp_path)


def test_batches_written_by_python3_pickle_also_load(tmp_path):
  rng = np.random.default_rng(2)
  for protocol in (2, 4, 5):
    path = tmp_path / f"p{protocol}"
    path.write_bytes(pickle.dumps(_batch(rng, 3), protocol=protocol))
    batch = data.load_restricted(path)
    assert batch[b"data"].shape == (3, 3072) and batch[b"data"].dtype == np.uint8


class _Evil:
  def __init__(self, call, *args):
    self.call, self.args = call, args

  def __reduce__(self):
    return self.call, self.args


@pytest.mark.parametrize("payload, asks", [
    (lambda marker: _Evil(os.system, f"touch {marker}"), f"asks for {os.system.__module__}.system"),
    (lambda marker: _Evil(eval, f"open({str(marker)!r}, 'w')"), "builtin__.eval,"),  # protocol 2: __builtin__
    (lambda marker: _Evil(exec, f"open({str(marker)!r}, 'w')"), "builtin__.exec,"),
    (lambda marker: _Evil(builtins.__import__, "subprocess"), "builtin__.__import__,"),
    (lambda marker: np.array([_Evil(os.system, f"touch {marker}")], dtype=object), "dtype object"),
    (lambda marker: np.array([1, "a"], dtype=object), "dtype object"),
])
def test_malicious_cifar_batch_is_refused_without_running_code(tmp_path, payload, asks):
  marker = tmp_path / "pwned"
  folder = _write_cifar(tmp_path / "cifar-10-batches-py")
  batch = _batch(np.random.default_rng(0), 6)
  batch[b"labels"] = payload(marker)
  (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
  with pytest.raises(InputError, match="Refused to load .*data_batch_3") as info:
    data.load_cifar10(root=tmp_path, valid_size=5)
  assert asks in str(info.value)
  assert not marker.exists()


def test_crafted_opcodes_are_refused(tmp_path):
  marker = tmp_path / "pwned"
  crafted = {
      "global": b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.",
      "codec": b"c_codecs\nencode\n(X\x01\x00\x00\x00aX\x04\x00\x00\x00rot13tR.",
      "persistent": b"(S'x'\nP.",
      "ndarray call": b"cnumpy\nndarray\n(K\x01tR.",
  }
  for name, raw in crafted.items():
    path = tmp_path / name.replace(" ", "_")
    path.write_bytes(raw)
    with pytest.raises(InputError, match="Refused to load|Cannot read"):
      data.load_restricted(path)
  assert not marker.exists()


def test_damaged_or_foreign_cifar_files(tmp_path):
  folder = _write_cifar(tmp_path / "cifar-10-batches-py")
  good = (folder / "test_batch").read_bytes()
  (folder / "test_batch").write_bytes(good[: len(good) // 2])
  with pytest.raises(InputError, match="Cannot read .*test_batch.*complete"):
    data.load_cifar10(root=tmp_path, valid_size=5)
  for bad, message in (([1, 2, 3], "not a CIFAR batch"),
                       ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"shape \[N, 3072\]"),
                       ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels in \[0, 10\)")):
    (folder / "test_batch").write_bytes(py2_pickle(bad))
    with pytest.raises(InputError, match=message):
      data.load_cifar10(root=tmp_path, valid_size=5)


def _write_tiny_imagenet(root, classes=("n03", "n01", "n02"), per_class=4, val_per_class=2):
  from PIL import Image  # noqa: PLC0415

  rng = np.random.default_rng(0)
  folder = root / "tiny-imagenet-200"
  (folder / "val" / "images").mkdir(parents=True)
  (folder / "test" / "images").mkdir(parents=True)  # unlabelled: never read
  (folder / "wnids.txt").write_text("\n".join(classes) + "\n")
  lines = []
  for c, wnid in enumerate(classes):
    (folder / "train" / wnid / "images").mkdir(parents=True)
    for i in range(per_class):
      pixels = np.full((64, 64, 3), 60 * c, np.uint8) + rng.integers(0, 20, (64, 64, 3), dtype=np.uint8)
      image = Image.fromarray(pixels) if (c, i) != (1, 0) else Image.fromarray(pixels[..., 0], "L")  # one grayscale
      image.save(folder / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", quality=95)
    for i in range(val_per_class):
      name = f"val_{c}_{i}.JPEG"
      Image.fromarray(np.full((64, 64, 3), 60 * c, np.uint8)).save(folder / "val" / "images" / name, quality=95)
      lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
  (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
  return folder


def test_tiny_imagenet_from_a_tiny_folder(tmp_path):
  folder = _write_tiny_imagenet(tmp_path)
  split = data.load_tiny_imagenet(seed=0, root=tmp_path, valid_size=3)
  assert split.train.x.shape == (9, 64, 64, 3) and split.valid.x.shape == (3, 64, 64, 3)
  assert split.test.x.shape == (6, 64, 64, 3) and split.num_classes == 3 and split.train.x.dtype == np.float32
  assert sorted(split.test.y.tolist()) == [0, 0, 1, 1, 2, 2]
  means = [split.test.x[split.test.y == c].mean() for c in range(3)]
  assert means[0] < means[1] < means[2]  # labels follow wnids.txt order (not sorted: n03 is class 0, the darkest)
  small = data.load_dataset("tiny_imagenet", seed=0, root=folder, valid_size=1, max_per_class=2)
  assert small.train.num_examples + small.valid.num_examples == 6 and small.test.num_examples == 6
  a, b = data.load_tiny_imagenet(seed=5, root=tmp_path, valid_size=3), data.load_tiny_imagenet(seed=5, root=tmp_path,
                                                                                               valid_size=3)
  np.testing.assert_array_equal(a.train.x, b.train.x)


def test_tiny_imagenet_errors(tmp_path, monkeypatch):
  monkeypatch.setenv("OPTIX_EVO_DATA", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="tiny-imagenet-200.*OPTIX_EVO_DATA"):
    data.load_tiny_imagenet()
  folder = _write_tiny_imagenet(tmp_path)
  with open(folder / "val" / "val_annotations.txt", "a") as f:
    f.write("val_x.JPEG\tn99\t0\t0\t1\t1\n")
  with pytest.raises(InputError, match="line 7.*n99"):
    data.load_tiny_imagenet()
  folder = _write_tiny_imagenet(tmp_path / "b")
  (folder / "train" / "n02" / "images" / "n02_1.JPEG").write_bytes(b"not a jpeg")
  with pytest.raises(InputError, match="n02_1.JPEG"):
    data.load_tiny_imagenet(root=folder)
  real_import = builtins.__import__

  def no_pillow(name, *args, **kwargs):
    if name == "PIL" or name.startswith("PIL."):
      raise ImportError("No module named 'PIL'")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_pillow)
  with pytest.raises(InputError, match="needs Pillow: pip install pillow"):
    data.load_tiny_imagenet(root=folder)
