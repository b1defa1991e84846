"""Seed variability: how much an optimizer's final metric moves when only the seed changes.

The input is, per optimizer, the final metric of the same experiment run with several seeds (e.g. test accuracy
from a ``jax.vmap`` over seeds). Runs whose metric is not finite (diverged) are counted separately and left out of
the statistics, so one blow-up shows as ``diverged=1`` instead of a NaN standard deviation.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np


class SeedStats(NamedTuple):
  """Summary over seeds of one optimizer's final metric (finite runs only).

  Attributes:
    n: the number of finite runs.
    diverged: the number of runs with a non-finite metric.
    mean: the mean of the finite runs.
    std: their sample standard deviation (``ddof=1``; 0 for a single run).
    min: their minimum.
    max: their maximum.

  Examples:
    >>> import optix_evo as ox
    >>> stats = ox.seed_variability({"adam": [0.91, 0.93, 0.92]})["adam"]
    >>> print(stats.n, round(stats.mean, 3), round(stats.range, 3))
    3 0.92 0.02
  """

  n: int  # finite runs
  diverged: int  # runs with a non-finite metric
  mean: float
  std: float  # sample standard deviation (ddof=1); 0 for a single run
  min: float
  max: float

  @property
  def range(self) -> float:
    return self.max - self.min


def seed_variability(results: Mapping[str, Sequence[float] | np.ndarray]) -> dict[str, SeedStats]:
  """Per optimizer: mean, std, min, max (and ``range``) of the final metric over seeds.

  Args:
    results: optimizer name → final metric of each seed (any array-like; flattened).

  Returns:
    Name → :class:`SeedStats`, in the order of ``results``. All-diverged entries have NaN statistics.

  Raises:
    ValueError: if ``results`` is empty or an entry has no runs.

  Examples:
    >>> import optix_evo as ox
    >>> stats = ox.seed_variability({"adam": [0.91, 0.93, 0.92], "sgd": [0.88, float("nan"), 0.90]})
    >>> print(round(stats["adam"].std, 3), stats["sgd"].diverged, stats["sgd"].mean)
    0.01 1 0.89
  """
  if not results:
    raise ValueError("results is empty; pass {optimizer name: final metric per seed}.")
  stats = {}
  for name, values in results.items():
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
      raise ValueError(f"results[{name!r}] has no runs; give one final metric per seed.")
    finite = v[np.isfinite(v)]
    if finite.size == 0:
      stats[name] = SeedStats(0, int(v.size), *(float("nan"),) * 4)
      continue
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    stats[name] = SeedStats(
        int(finite.size), int(v.size - finite.size), float(finite.mean()), std, float(finite.min()), float(finite.max())
    )
  return stats


def seed_variability_table(stats: Mapping[str, SeedStats], *, metric: str = "metric", digits: int = 4) -> str:
  """A markdown table of :func:`seed_variability` output: mean ± std, range, min–max, seeds, diverged.

  Args:
    stats: name → :class:`SeedStats`, as :func:`seed_variability` returns.
    metric: the name of the metric in the header.
    digits: decimals of the numbers.

  Returns:
    The table as one string.

  Examples:
    >>> import optix_evo as ox
    >>> stats = ox.seed_variability({"adam": [0.91, 0.93, 0.92], "sgd": [0.88, float("nan"), 0.90]})
    >>> print(ox.seed_variability_table(stats, metric="accuracy", digits=3))
    | optimizer | accuracy mean ± std | range (max − min) | min – max | seeds | diverged |
    |---|---|---|---|---|---|
    | adam | 0.920 ± 0.010 | 0.020 | 0.910 – 0.930 | 3 | 0 |
    | sgd | 0.890 ± 0.014 | 0.020 | 0.880 – 0.900 | 3 | 1 |
  """
  f = lambda x: f"{x:.{digits}f}"
  lines = [
      f"| optimizer | {metric} mean ± std | range (max − min) | min – max | seeds | diverged |",
      "|---|---|---|---|---|---|",
  ]
  for name, s in stats.items():
    runs = s.n + s.diverged
    lines.append(f"| {name} | {f(s.mean)} ± {f(s.std)} | {f(s.range)} | {f(s.min)} – {f(s.max)} | {runs} | {s.diverged} |")
  return "\n".join(lines)


def plot_seed_variability(
    results: Mapping[str, Sequence[float] | np.ndarray],
    path: str | os.PathLike,
    *,
    metric: str = "final metric",
    title: str | None = None,
) -> pathlib.Path:
  """Writes a PNG with one column per optimizer: every seed's final metric as a dot, mean ± std as an error bar.

  Diverged (non-finite) runs are listed in the tick label. Uses matplotlib's Agg canvas (no display needed).

  Args:
    results: optimizer name → final metric of each seed.
    path: the PNG file to write (its folder is created).
    metric: the label of the metric axis.
    title: the figure title.

  Returns:
    The path of the PNG file.

  Raises:
    ValueError: as :func:`seed_variability`.

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> import optix_evo as ox
    >>> path = ox.plot_seed_variability({"adam": [0.91, 0.93], "sgd": [0.88, 0.9]},
    ...                                 pathlib.Path(tempfile.mkdtemp()) / "seeds.png")
    >>> print(path.name)
    seeds.png
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  stats = seed_variability(results)
  fig = Figure(figsize=(max(4.0, 0.8 * len(stats) + 1.5), 3.6), layout="constrained")
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  jitter = np.random.default_rng(0)
  for i, (name, values) in enumerate(results.items()):
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    ax.scatter(i + jitter.uniform(-0.12, 0.12, v.size), v, s=14, alpha=0.6, color="C0")
    ax.errorbar(i + 0.25, stats[name].mean, yerr=stats[name].std, fmt="o", color="C3", capsize=3)
  labels = [f"{n}\n({s.diverged} diverged)" if s.diverged else n for n, s in stats.items()]
  ax.set_xticks(range(len(stats)), labels, rotation=30)
  ax.set_ylabel(metric)
  ax.set_title(title or f"{metric} over seeds (dots: seeds, red: mean ± std)")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  return path
