"""TinyImageNet (200 classes of 64×64 images; Le & Yang 2015, Stanford CS231N) from its standard folder on disk.

The folder ``tiny-imagenet-200/`` as distributed (http://cs231n.stanford.edu/tiny-imagenet-200.zip):

* ``wnids.txt``: the 200 class ids (WordNet ids such as ``n01443537``), one per line, in label order;
* ``train/<wnid>/images/*.JPEG``: 500 training images per class;
* ``val/images/*.JPEG`` with ``val/val_annotations.txt`` (``file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1``): 10,000
  labelled images, used as the test split (the official test images carry no labels).

Decoding JPEGs needs Pillow (installed with matplotlib, or ``pip install "optix-evo[data]"``). Nothing is
downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from optix_evo.data.datasets import Dataset, Split, data_dir, image_split
from optix_evo.errors import InputError

TINY_IMAGENET_DIRNAME = "tiny-imagenet-200"
IMAGE_SIZE = 64


def tiny_imagenet_dir(root: str | os.PathLike | None = None) -> Path:
  """Where ``tiny-imagenet-200`` is looked for: ``root`` if given, else ``$OPTIX_EVO_DATA``, else
  ``~/.cache/optix_evo``; it may be the folder itself or its parent.

  Args:
    root: an explicit location (the folder or its parent).

  Returns:
    The ``tiny-imagenet-200`` folder (it need not exist).

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> print(ox.data.tiny_imagenet_dir(tempfile.mkdtemp()).name)
    tiny-imagenet-200
  """
  return data_dir(root, TINY_IMAGENET_DIRNAME, "wnids.txt")


def _pillow():
  try:
    from PIL import Image  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise InputError("Reading TinyImageNet's JPEG files needs Pillow: pip install pillow "
                     "(or pip install \"optix-evo[data]\").") from None
  return Image


def _read_images(paths: list[Path]) -> np.ndarray:
  """``uint8 [N, 64, 64, 3]``; grayscale images (a few hundred in the set) are converted to RGB."""
  image_module = _pillow()
  out = np.empty((len(paths), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
  for i, path in enumerate(paths):
    try:
      with image_module.open(path) as img:
        rgb = img.convert("RGB")
    except (OSError, ValueError) as e:
      raise InputError(f"Cannot decode {path} as an image: {e}.") from None
    if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
      raise InputError(f"{path} is {rgb.size[0]}×{rgb.size[1]}; TinyImageNet images are {IMAGE_SIZE}×{IMAGE_SIZE}.")
    out[i] = np.asarray(rgb, np.uint8)
  return out


def _read_wnids(folder: Path) -> list[str]:
  wnids = [line.strip() for line in (folder / "wnids.txt").read_text().splitlines() if line.strip()]
  if not wnids or len(set(wnids)) != len(wnids):
    raise InputError(f"{folder / 'wnids.txt'} must list distinct class ids, one per line.")
  return wnids


def _train_files(folder: Path, wnids: list[str], max_per_class: int | None) -> tuple[list[Path], np.ndarray]:
  paths, labels = [], []
  for label, wnid in enumerate(wnids):
    files = sorted((folder / "train" / wnid / "images").glob("*.JPEG"))
    if not files:
      raise InputError(f"No training images in {folder / 'train' / wnid / 'images'} (class {wnid} of wnids.txt).")
    files = files[:max_per_class]
    paths += files
    labels += [label] * len(files)
  return paths, np.asarray(labels, np.int32)


def _val_files(folder: Path, wnids: list[str], max_per_class: int | None) -> tuple[list[Path], np.ndarray]:
  index = {wnid: i for i, wnid in enumerate(wnids)}
  annotations = folder / "val" / "val_annotations.txt"
  paths, labels, counts = [], [], dict.fromkeys(wnids, 0)
  for number, line in enumerate(annotations.read_text().splitlines(), 1):
    if not line.strip():
      continue
    fields = line.split("\t")
    if len(fields) < 2 or fields[1] not in index:
      raise InputError(f"{annotations}, line {number}: expected 'file<TAB>wnid<TAB>...' with a wnid of wnids.txt, "
                       f"got {line[:80]!r}.")
    if max_per_class is not None and counts[fields[1]] >= max_per_class:
      continue
    counts[fields[1]] += 1
    paths.append(folder / "val" / "images" / fields[0])
    labels.append(index[fields[1]])
  return paths, np.asarray(labels, np.int32)


def load_tiny_imagenet(
    seed: int = 0, *, root: str | os.PathLike | None = None, valid_size: int = 10000, max_train: int | None = None,
    max_per_class: int | None = None,
) -> Split:
  """TinyImageNet as NHWC float32 64×64 images, standardised per channel with the training split's statistics.

  The 100,000 training images are shuffled with ``seed``; the last ``valid_size`` of them are the validation split;
  the official (labelled) validation images are the test split. At full size the float32 splits take about 4.9 GB:
  ``max_per_class`` keeps only the first that many images of each class (training and test), ``max_train`` only the
  first that many shuffled training images.

  Args:
    seed: the seed of the shuffle.
    root: where the folder is (see :func:`tiny_imagenet_dir`).
    valid_size: the number of training images held out for validation.
    max_train: keep only the first that many shuffled training images.
    max_per_class: keep only the first that many images of each class.

  Returns:
    A :class:`Split` of ``[N, 64, 64, 3]`` float32 images and int32 labels, 200 classes.

  Raises:
    FileNotFoundError: when the folder or its files are missing; the message says where to put them.
    InputError: malformed ``wnids.txt`` / ``val_annotations.txt``, an undecodable image, or Pillow missing.

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_tiny_imagenet(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Le & Yang, `Tiny ImageNet Visual Recognition Challenge
    <http://vision.stanford.edu/teaching/cs231n/reports/2015/pdfs/yle_project.pdf>`_, Stanford CS231N, 2015.
  """
  folder = tiny_imagenet_dir(root)
  needed = [folder / "wnids.txt", folder / "train", folder / "val" / "val_annotations.txt", folder / "val" / "images"]
  missing = [str(p.relative_to(folder)) for p in needed if not p.exists()]
  if missing:
    raise FileNotFoundError(
        f"TinyImageNet files {', '.join(missing)} not found in {folder}. Download "
        f"http://cs231n.stanford.edu/tiny-imagenet-200.zip, extract it, and put the '{TINY_IMAGENET_DIRNAME}' folder "
        "in $OPTIX_EVO_DATA or ~/.cache/optix_evo (or pass root=...).")
  if max_per_class is not None and max_per_class < 1:
    raise InputError(f"max_per_class must be None or >= 1, got {max_per_class}.")
  wnids = _read_wnids(folder)
  train_paths, train_y = _train_files(folder, wnids, max_per_class)
  test_paths, test_y = _val_files(folder, wnids, max_per_class)
  train = Dataset(_read_images(train_paths), train_y)
  test = Dataset(_read_images(test_paths), test_y)
  return image_split(train, test, seed=seed, valid_size=valid_size, max_train=max_train, num_classes=len(wnids),
                     name="tiny_imagenet")
