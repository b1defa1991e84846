"""Offline data loaders: shapes, determinism, task semantics, and CIFAR-10 from tiny pickle files."""

import pickle

import numpy as np
import pytest

from optix_evo import data


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "adding", "copy", "sbm"])
def test_splits_are_deterministic_and_disjoint(name):
  a, b, c = data.load_dataset(name, seed=3), data.load_dataset(name, seed=3), data.load_dataset(name, seed=4)
  np.testing.assert_array_equal(a.train.x, b.train.x)
  assert not np.array_equal(a.train.y, c.train.y) or not np.array_equal(a.train.x, c.train.x)
  assert a.train.num_examples > a.valid.num_examples > 0 and a.test.num_examples > 0


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


def _write_cifar(folder, per_batch=6, seed=0):
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True)
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, per_batch))}
    with open(folder / name, "wb") as f:
      pickle.dump(batch, f)
  return folder


def test_cifar10_from_tiny_pickles(tmp_path):
  folder = _write_cifar(tmp_path / "cifar-10-batches-py")
  split = data.load_cifar10(seed=0, root=tmp_path, valid_size=5)
  assert split.train.x.shape == (25, 32, 32, 3) and split.valid.x.shape == (5, 32, 32, 3)
  assert split.test.x.shape == (6, 32, 32, 3) and split.num_classes == 10
  np.testing.assert_allclose(split.train.x.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
  np.testing.assert_allclose(split.train.x.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
  # Channel layout: the pickle stores 1024 R, then G, then B values per image, row-major.
  with open(folder / "test_batch", "rb") as f:
    raw = pickle.load(f, encoding="bytes")[b"data"][0]
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
