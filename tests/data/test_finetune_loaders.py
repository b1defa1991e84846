"""Flowers-102, Caltech-101 and Stanford Cars from tiny folders in their standard layouts (JPEGs and MATLAB files
written by the test): official splits, label order, resizing, the seed's draws, and errors that say what is wrong."""

import numpy as np
import pytest
from fake_image_files import write_caltech, write_cars, write_flowers
from scipy import io as sio

from optix_evo import data
from optix_evo.errors import InputError


def test_flowers102_official_splits(tmp_path):
  write_flowers(tmp_path)
  split = data.load_flowers102(root=tmp_path, image_size=16)
  assert split.num_classes == 102 and split.train.x.shape == (6, 16, 16, 3) and split.train.x.dtype == np.uint8
  np.testing.assert_array_equal(split.train.y, [0, 1, 2, 0, 1, 2])  # 1-based .mat labels → 0-based
  np.testing.assert_array_equal(split.valid.y, [0, 1, 2])
  np.testing.assert_array_equal(split.test.y, [0, 1, 2])
  # Image k is the file image_0000k.jpg: its shade follows its label.
  np.testing.assert_allclose(split.test.x.mean(axis=(1, 2, 3)), [0, 80, 160], atol=2)
  assert data.load_dataset("flowers102", root=tmp_path / "flowers-102", image_size=8, max_per_split=2).train.x.shape \
      == (2, 8, 8, 3)


def test_caltech101_draws_thirty_per_class_style(tmp_path):
  write_caltech(tmp_path)
  split = data.load_caltech101(seed=0, root=tmp_path, image_size=8, train_per_class=3, valid_fraction=0.25)
  # Sorted categories, BACKGROUND_Google kept (TensorFlow Datasets' 102 labels): "BACKGROUND_Google" < "accordion"
  # < "airplanes" (upper case sorts first).
  assert split.num_classes == 3
  assert split.train.num_examples + split.valid.num_examples == 9 and split.test.num_examples == 15 - 9
  labels = np.concatenate([split.train.y, split.valid.y])
  np.testing.assert_array_equal(np.bincount(labels), [3, 3, 3])
  shades = {0: 60, 1: 0, 2: 120}  # written shade of the category with that label
  for part in (split.train, split.valid, split.test):
    np.testing.assert_allclose(part.x.mean(axis=(1, 2, 3)), [shades[y] for y in part.y], atol=2)
  other = data.load_caltech101(seed=1, root=tmp_path, image_size=8, train_per_class=3, valid_fraction=0.25)
  assert not np.array_equal(np.sort(split.test.x.sum(axis=(1, 2, 3))), np.sort(other.test.x.sum(axis=(1, 2, 3)))) \
      or not np.array_equal(split.valid.y, other.valid.y)
  no_background = data.load_caltech101(root=tmp_path, image_size=8, train_per_class=3, include_background=False)
  assert no_background.num_classes == 2
  with pytest.raises(InputError, match="airplanes.*4 images"):
    data.load_caltech101(root=tmp_path, image_size=8, train_per_class=4)


def test_stanford_cars_annotations(tmp_path):
  write_cars(tmp_path)
  split = data.load_stanford_cars(seed=0, root=tmp_path, image_size=8, valid_fraction=0.2)
  assert split.num_classes == 196 and split.train.num_examples == 8 and split.valid.num_examples == 2
  np.testing.assert_array_equal(split.test.y, [0, 195, 0, 195])  # class 196 → label 195
  np.testing.assert_allclose(split.test.x.mean(axis=(1, 2, 3)), [0, 200, 0, 200], atol=2)
  for part in (split.train, split.valid):
    np.testing.assert_allclose(part.x.mean(axis=(1, 2, 3)), 100 * part.y, atol=2)


def test_finetune_loader_errors(tmp_path, monkeypatch):
  monkeypatch.setenv("OPTIX_EVO_DATA", str(tmp_path))
  for loader, name in ((data.load_flowers102, "flowers-102"), (data.load_caltech101, "caltech101"),
                       (data.load_stanford_cars, "stanford_cars")):
    with pytest.raises(FileNotFoundError, match=f"{name}.*OPTIX_EVO_DATA"):
      loader()
  folder = write_flowers(tmp_path)
  sio.savemat(folder / "setid.mat", {"trnid": np.array([[1, 99]]), "valid": np.array([[2]]), "tstid": np.array([[3]])})
  with pytest.raises(InputError, match="trnid must hold image numbers in 1..12"):
    data.load_flowers102(image_size=8)
  folder = write_cars(tmp_path / "b")
  sio.savemat(folder / "cars_test_annos_withlabels.mat", {"annotations": np.arange(3)})
  with pytest.raises(InputError, match="struct array 'annotations'"):
    data.load_stanford_cars(root=folder, image_size=8)
  (folder / "cars_train" / "00001.jpg").write_bytes(b"not a jpeg")
  with pytest.raises(InputError, match="00001.jpg"):
    data.load_stanford_cars(root=folder, image_size=8)
