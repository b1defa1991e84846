"""The fine-tuning sets of the NOS paper (Morgan & Hougen 2024): Oxford Flowers-102, Caltech-101 and Stanford Cars
(Cars196), read from their standard local files (the layouts torchvision uses, which are the archives as
distributed); nothing is downloaded.

* Flowers-102 (Nilsback & Zisserman 2008): ``flowers-102/`` with ``jpg/image_00001.jpg`` ..., ``imagelabels.mat``
  (``labels``, 1..102) and ``setid.mat`` (``trnid``, ``valid``, ``tstid``: 1-based image numbers). The official
  train / validation / test splits (1020 / 1020 / 6149 images).
* Caltech-101 (Fei-Fei et al. 2004): ``caltech101/101_ObjectCategories/<category>/image_0001.jpg``. No official
  split: as TensorFlow Datasets, 30 training images per category drawn with the seed, the rest for testing;
  ``BACKGROUND_Google`` is a class as in TensorFlow Datasets (102 labels) unless ``include_background=False``
  (torchvision's 101).
* Stanford Cars (Krause et al. 2013): ``stanford_cars/`` with ``cars_train/*.jpg``, ``cars_test/*.jpg``,
  ``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat`` (``annotations``: ``fname``, ``class``
  1..196, bounding box). The official train / test splits (8144 / 8041); whole images (the boxes are not used).

Images are decoded with Pillow (``pip install "optix-evo[data]"``), converted to RGB and resized to
``image_size × image_size`` (bilinear), and kept as ``uint8`` pixels in [0, 255] (a quarter of float32's memory; the
fine-tuning model scales them, :class:`optix_evo.models.EfficientNetV2`). Where a set has no validation split, a
``valid_fraction`` of the training images (drawn with the seed) validates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from optix_evo.data.datasets import Dataset, Split, data_dir
from optix_evo.errors import InputError

FLOWERS_DIRNAME, CALTECH_DIRNAME, CARS_DIRNAME = "flowers-102", "caltech101", "stanford_cars"


def _pillow():
  try:
    from PIL import Image  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise InputError("Reading JPEG files needs Pillow: pip install pillow "
                     "(or pip install \"optix-evo[data]\").") from None
  return Image


def read_images(paths: list[Path], image_size: int) -> np.ndarray:
  """``uint8 [N, image_size, image_size, 3]``: each file decoded, converted to RGB, resized (bilinear).

  Raises:
    InputError: naming a file that is not an image, or for a non-positive ``image_size``.
  """
  if image_size < 1:
    raise InputError(f"image_size must be positive, got {image_size}.")
  image_module = _pillow()
  out = np.empty((len(paths), image_size, image_size, 3), np.uint8)
  for i, path in enumerate(paths):
    try:
      with image_module.open(path) as img:
        rgb = img.convert("RGB").resize((image_size, image_size), image_module.BILINEAR)
    except (OSError, ValueError) as e:
      raise InputError(f"Cannot decode {path} as an image: {e}.") from None
    out[i] = np.asarray(rgb, np.uint8)
  return out


def _loadmat(path: Path) -> dict:
  from scipy import io as sio  # pylint: disable=import-outside-toplevel

  try:
    return sio.loadmat(path, squeeze_me=True)
  except (OSError, ValueError, TypeError) as e:
    raise InputError(f"Cannot read {path} as a MATLAB file: {e}.") from None


def _missing(folder: Path, names: list[str], what: str, dirname: str, url: str) -> None:
  missing = [n for n in names if not (folder / n).exists()]
  if missing:
    raise FileNotFoundError(
        f"{what} files {', '.join(missing)} not found in {folder}. Get them from {url}, extract, and put the "
        f"'{dirname}' folder in $OPTIX_EVO_DATA or ~/.cache/optix_evo (or pass root=...).")


def _carve(train_x: np.ndarray, train_y: np.ndarray, seed: int, valid_fraction: float) -> tuple[Dataset, Dataset]:
  if not 0 < valid_fraction < 1:
    raise InputError(f"valid_fraction must be in (0, 1), got {valid_fraction}.")
  order = np.random.default_rng(seed).permutation(len(train_y))
  n_valid = max(1, int(round(valid_fraction * len(train_y))))
  if n_valid >= len(train_y):
    raise InputError(f"valid_fraction={valid_fraction} leaves no training images of {len(train_y)}.")
  valid, train = order[:n_valid], np.sort(order[n_valid:])
  return Dataset(train_x[train], train_y[train]), Dataset(train_x[valid], train_y[valid])


def _labels(values, count: int, where: str) -> np.ndarray:
  try:
    labels = np.asarray(values, np.int64).reshape(-1)
  except (TypeError, ValueError):
    raise InputError(f"{where}: labels must be integers.") from None
  if labels.size and (labels.min() < 1 or labels.max() > count):
    raise InputError(f"{where}: labels must be in 1..{count}, got {labels.min()}..{labels.max()}.")
  return (labels - 1).astype(np.int32)


def load_flowers102(seed: int = 0, *, root: str | os.PathLike | None = None, image_size: int = 384,
                    max_per_split: int | None = None) -> Split:
  """Oxford Flowers-102 with its official train / validation / test splits, ``uint8`` images.

  Args:
    seed: unused (the splits are official); kept for the loader signature.
    root: the ``flowers-102`` folder or its parent (default ``$OPTIX_EVO_DATA``, else ``~/.cache/optix_evo``).
    image_size: the side images are resized to.
    max_per_split: keep only the first that many images of each split (quick runs).

  Returns:
    A :class:`Split` of ``uint8 [N, image_size, image_size, 3]`` images and int32 labels, 102 classes.

  Raises:
    FileNotFoundError: missing files (the message says where to put them).
    InputError: malformed ``.mat`` files or images, or Pillow missing.

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_flowers102(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Nilsback & Zisserman, `Automated Flower Classification over a Large Number of Classes
    <https://www.robots.ox.ac.uk/~vgg/data/flowers/102/>`_, ICVGIP 2008.
  """
  del seed
  folder = data_dir(root, FLOWERS_DIRNAME, "setid.mat")
  _missing(folder, ["jpg", "imagelabels.mat", "setid.mat"], "Flowers-102", FLOWERS_DIRNAME,
           "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/")
  labels = _labels(_loadmat(folder / "imagelabels.mat").get("labels"), 102, str(folder / "imagelabels.mat"))
  ids = _loadmat(folder / "setid.mat")
  parts = []
  for key in ("trnid", "valid", "tstid"):
    if key not in ids:
      raise InputError(f"{folder / 'setid.mat'} lacks {key!r} (expected trnid, valid, tstid).")
    numbers = np.asarray(ids[key], np.int64).reshape(-1)[:max_per_split]
    if numbers.size == 0 or numbers.min() < 1 or numbers.max() > len(labels):
      raise InputError(f"{folder / 'setid.mat'}: {key} must hold image numbers in 1..{len(labels)}.")
    paths = [folder / "jpg" / f"image_{n:05d}.jpg" for n in numbers]
    parts.append(Dataset(read_images(paths, image_size), labels[numbers - 1]))
  return Split(*parts, num_classes=102, name="flowers102")


def load_caltech101(seed: int = 0, *, root: str | os.PathLike | None = None, image_size: int = 384,
                    train_per_class: int = 30, valid_fraction: float = 0.1, include_background: bool = True,
                    max_per_class: int | None = None) -> Split:
  """Caltech-101: ``train_per_class`` images of each category (drawn with ``seed``) to train and validate
  (``valid_fraction`` of them validate), the rest to test, as TensorFlow Datasets splits it; ``uint8`` images.

  Args:
    seed: draws the training images and the validation images.
    root: the ``caltech101`` folder (holding ``101_ObjectCategories``) or its parent.
    image_size: the side images are resized to.
    train_per_class: training (and validation) images per category.
    valid_fraction: the fraction of the training images held out for validation.
    include_background: keep ``BACKGROUND_Google`` as a class (TensorFlow Datasets: 102 labels; torchvision: no).
    max_per_class: read only the first that many images of each category (quick runs).

  Returns:
    A :class:`Split`, classes = the categories in sorted order.

  Raises:
    FileNotFoundError: missing folder.
    InputError: a category with too few images, an undecodable image, or Pillow missing.

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_caltech101(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Fei-Fei, Fergus & Perona, `Learning generative visual models from few training examples
    <https://data.caltech.edu/records/mzrjq-6wc02>`_, CVPR Workshops 2004.
  """
  folder = data_dir(root, CALTECH_DIRNAME, "101_ObjectCategories")
  _missing(folder, ["101_ObjectCategories"], "Caltech-101", CALTECH_DIRNAME,
           "https://data.caltech.edu/records/mzrjq-6wc02")
  categories = sorted(p.name for p in (folder / "101_ObjectCategories").iterdir() if p.is_dir())
  if not include_background:
    categories = [c for c in categories if c != "BACKGROUND_Google"]
  if len(categories) < 2:
    raise InputError(f"{folder / '101_ObjectCategories'} must hold one folder per category (found {len(categories)}).")
  rng = np.random.default_rng(seed)
  train_paths, train_y, test_paths, test_y = [], [], [], []
  for label, name in enumerate(categories):
    files = sorted(p for p in (folder / "101_ObjectCategories" / name).iterdir()
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:max_per_class]
    if len(files) <= train_per_class:
      raise InputError(f"Category {name!r} has {len(files)} images; train_per_class={train_per_class} leaves none "
                       "to test.")
    chosen = set(rng.choice(len(files), train_per_class, replace=False).tolist())
    for i, path in enumerate(files):
      (train_paths if i in chosen else test_paths).append(path)
      (train_y if i in chosen else test_y).append(label)
  train, valid = _carve(read_images(train_paths, image_size), np.asarray(train_y, np.int32), seed, valid_fraction)
  test = Dataset(read_images(test_paths, image_size), np.asarray(test_y, np.int32))
  return Split(train, valid, test, num_classes=len(categories), name="caltech101")


def _cars_annotations(path: Path) -> tuple[list[str], np.ndarray]:
  annotations = _loadmat(path).get("annotations")
  if annotations is None or getattr(annotations, "dtype", None) is None or annotations.dtype.names is None \
      or not {"fname", "class"} <= set(annotations.dtype.names):
    raise InputError(f"{path} must hold a struct array 'annotations' with fields fname and class.")
  annotations = np.atleast_1d(annotations)
  names = [str(n) for n in annotations["fname"]]
  return names, _labels(annotations["class"], 196, str(path))


def load_stanford_cars(seed: int = 0, *, root: str | os.PathLike | None = None, image_size: int = 384,
                       valid_fraction: float = 0.1, max_per_split: int | None = None) -> Split:
  """Stanford Cars (Cars196) with its official train / test splits (``valid_fraction`` of the training images,
  drawn with ``seed``, validate); whole images, ``uint8``.

  Args:
    seed: draws the validation images.
    root: the ``stanford_cars`` folder or its parent.
    image_size: the side images are resized to.
    valid_fraction: the fraction of the training images held out for validation.
    max_per_split: read only the first that many images of the training and the test files (quick runs).

  Returns:
    A :class:`Split`, 196 classes.

  Raises:
    FileNotFoundError: missing files.
    InputError: malformed annotations or images, or Pillow missing.

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_stanford_cars(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Krause, Stark, Deng & Fei-Fei, `3D Object Representations for Fine-Grained Categorization
    <https://ai.stanford.edu/~jkrause/cars/car_dataset.html>`_, ICCV Workshops 2013.
  """
  folder = data_dir(root, CARS_DIRNAME, "cars_test_annos_withlabels.mat")
  _missing(folder, ["cars_train", "cars_test", "devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat"],
           "Stanford Cars", CARS_DIRNAME, "https://ai.stanford.edu/~jkrause/cars/car_dataset.html")
  parts = []
  for images, annos in (("cars_train", "devkit/cars_train_annos.mat"), ("cars_test", "cars_test_annos_withlabels.mat")):
    names, labels = _cars_annotations(folder / annos)
    names, labels = names[:max_per_split], labels[:max_per_split]
    parts.append((read_images([folder / images / n for n in names], image_size), labels))
  train, valid = _carve(*parts[0], seed, valid_fraction)
  return Split(train, valid, Dataset(*parts[1]), num_classes=196, name="stanford_cars")
