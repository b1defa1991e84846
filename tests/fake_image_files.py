"""Tiny image-set folders in the standard layouts (Flowers-102, Caltech-101, Stanford Cars), written by tests."""

import numpy as np
from PIL import Image
from scipy import io as sio


def _jpeg(path, shade, size=(50, 40)):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((size[1], size[0], 3), shade, np.uint8)).save(path, quality=95)


def write_flowers(root, n=12):
  folder = root / "flowers-102"
  labels = np.arange(n) % 3 + 1  # image k has label (k-1) % 3 + 1, shade 80 * (label - 1)
  for k in range(1, n + 1):
    _jpeg(folder / "jpg" / f"image_{k:05d}.jpg", 80 * (labels[k - 1] - 1))
  sio.savemat(folder / "imagelabels.mat", {"labels": labels[None]})
  sio.savemat(folder / "setid.mat", {"trnid": np.array([[1, 2, 3, 4, 5, 6]]), "valid": np.array([[7, 8, 9]]),
                                     "tstid": np.array([[10, 11, 12]])})
  return folder


def write_caltech(root, per_class=(5, 6, 4)):
  folder = root / "caltech101" / "101_ObjectCategories"
  for c, name in enumerate(["accordion", "BACKGROUND_Google", "airplanes"][: len(per_class)]):
    for i in range(per_class[c]):
      _jpeg(folder / name / f"image_{i + 1:04d}.jpg", 60 * c)
  return folder.parent


def _annotations(names, classes):
  dtype = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
  return np.array([(1, 1, 10, 10, c, n) for n, c in zip(names, classes)], dtype=dtype)


def write_cars(root, n_train=10, n_test=4):
  folder = root / "stanford_cars"
  train_cls, test_cls = [1 + i % 2 for i in range(n_train)], [196 if i % 2 else 1 for i in range(n_test)]
  for i, c in enumerate(train_cls):
    _jpeg(folder / "cars_train" / f"{i + 1:05d}.jpg", 100 * (c - 1) % 256)
  for i, c in enumerate(test_cls):
    _jpeg(folder / "cars_test" / f"{i + 1:05d}.jpg", 0 if c == 1 else 200)
  (folder / "devkit").mkdir()
  sio.savemat(folder / "devkit" / "cars_train_annos.mat",
              {"annotations": _annotations([f"{i + 1:05d}.jpg" for i in range(n_train)], train_cls)})
  sio.savemat(folder / "cars_test_annos_withlabels.mat",
              {"annotations": _annotations([f"{i + 1:05d}.jpg" for i in range(n_test)], test_cls)})
  return folder
