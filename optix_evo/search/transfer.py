"""Transfer: found and known optimizers against tuned baselines on tasks of your choice, with the final-run protocol
of the NOS paper (Morgan & Hougen 2024): warmup ``T/15``, hold ``2T/15``, cosine decay; momentum 0.95 → 0.85 →
0.95; every optimizer's peak learning rate tuned on the same grid with the same seeds; test accuracy reported per
seed, with paired differences against every baseline and their 95% intervals.

:data:`PAPER_PLAN` holds the paper's transfer rows (CIFAR-100 and TinyImageNet from scratch; EfficientNetV2-S
fine-tuned on Flowers102, Caltech101 and Cars196) as built-in tasks with their budgets; :func:`paper_plan` turns them
into ``optix-evo transfer`` commands with an estimate of their GPU hours (``optix-evo transfer --preset paper``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from optix_evo import graph
from optix_evo.errors import InputError
from optix_evo.runs.folder import atomic_write_json, atomic_write_text
from optix_evo.search import ga
from optix_evo.search.config import BASELINES, baseline_optimizer
from optix_evo.search.evaluate import Evaluator, plain_genome, zoo_optimizer
from optix_evo.search.protocol import tune
from optix_evo.search.statistics import mean_interval, paired_difference, verdict
from optix_evo.tasks import resolve_task


def hall_of_fame(run_dir: str, top: int) -> list[dict[str, Any]]:
  """The first ``top`` entries of ``run_dir/hall_of_fame.json`` (genomes by op names, with their space)."""
  path = os.path.join(run_dir, "hall_of_fame.json")
  try:
    with open(path, encoding="utf-8") as f:
      entries = json.load(f)["hall_of_fame"]
  except FileNotFoundError:
    raise InputError(f"{path} not found: give the results folder of `optix-evo search`.") from None
  except (ValueError, KeyError, TypeError) as e:
    raise InputError(f"{path} is not a search's hall of fame ({e}).") from None
  if not isinstance(entries, list) or not entries:
    raise InputError(f"{path} holds an empty hall of fame.")
  return entries[:top]


def transfer(tasks: Sequence[str], *, run_dir: str | None = None, top: int = 3, references: Sequence[str] = (),
             baselines: Sequence[str] = ("adam", "adamw", "sgd"), seeds: int = 5, steps: int = 300,
             lr_grid: Sequence[float] = (1e-1, 1e-2, 1e-3), data_dir: str | None = None, seed: int = 0,
             population_loop: str = "auto", chunk_size: int | None = None) -> dict[str, Any]:
  """Tunes the ``top`` hall-of-fame optimizers of ``run_dir`` (if given), the ``references`` (known genomes) and
  the ``baselines`` (genomes or zoo optimizers, :func:`~optix_evo.search.baseline_optimizer`) on every task with the
  paper's final-run protocol. ``chunk_size``: runs trained at once per
  device with the ``"vmap"`` loop (1 for networks whose activations fill a device, e.g. EfficientNetV2-S).

  Returns:
    ``{"participants": [...], "tasks": {task: {"learning_rate", "valid", "test", "comparisons"}}, "settings"}``:
    per task the chosen learning rate and the per-seed validation and test accuracy of every participant, and every
    non-baseline participant's paired test-accuracy difference against every baseline with its verdict.
  """
  if chunk_size is not None and chunk_size < 1:
    raise InputError(f"--chunk-size must be positive, got {chunk_size}.")
  if seeds < 2:
    raise InputError(f"--seeds must be at least 2 for intervals over seeds (5 or more recommended), got {seeds}.")
  if not baselines:
    raise InputError(f"baselines must name at least one optimizer (e.g. {', '.join(BASELINES)}), got none.")
  zoo_names = {name: baseline_optimizer(name) for name in baselines}
  for name in references:
    if name not in graph.KNOWN:
      raise InputError(f"Unknown reference optimizer {name!r}. Known genomes: {', '.join(graph.KNOWN)}.")
  if not tasks:
    raise InputError("Give at least one task (--tasks).")
  participants, genomes = [], []
  for rec in hall_of_fame(run_dir, top) if run_dir else []:
    space = graph.get_space(rec["space"]) if "space" in rec else graph.space_of(rec["genome"])  # older files: none
    genomes.append(graph.convert(graph.from_json(rec["genome"], space), space, graph.DEFAULT_SPEC))
    participants.append({"name": f"found #{rec['rank']}", "kind": "found", "equation": rec["equation"]})
  for name in references:
    genomes.append(graph.known(name))
    participants.append({"name": name, "kind": "reference"})
  zoo_rows = {}
  for name in baselines:
    if zoo_names[name] is not None:
      zoo_rows[len(genomes)] = zoo_names[name]
    genomes.append(graph.known(BASELINES[name]) if zoo_names[name] is None else plain_genome())
    participants.append({"name": name, "kind": "baseline"})
  batch = ga.stack(genomes)
  out = {"participants": participants, "tasks": {},
         "settings": {"steps": steps, "seeds": seeds, "lr_grid": list(lr_grid), "warmup": steps // 15,
                      "hold": 2 * steps // 15, "seed": seed}}
  for t_idx, name in enumerate(tasks):
    task = resolve_task(name, seed=seed, data_dir=data_dir)
    evaluator = lambda optimizer=None: Evaluator(  # noqa: E731
        task, graph.DEFAULT_SPEC, max_steps=steps, batch=max(jax.device_count() * 8, 16),
        population_loop=population_loop, chunk_size=chunk_size,
        make_optimizer=None if optimizer is None else zoo_optimizer(optimizer))
    scores = tune(evaluator(), batch, steps=steps, lr_grid=tuple(lr_grid), seeds=seeds, seed=seed * 1000 + t_idx,
                  epoch=max(steps // 10, 1), warmup_steps=steps // 15, hold_steps=2 * steps // 15,
                  zoo={i: evaluator(name) for i, name in zoo_rows.items()})
    comparisons = []
    for i, p in enumerate(participants):
      for j, b in enumerate(participants):
        if p["kind"] != "baseline" and b["kind"] == "baseline":
          diff = paired_difference(scores.test[i], scores.test[j])
          comparisons.append({"optimizer": p["name"], "baseline": b["name"], "difference": diff._asdict(),
                              "verdict": verdict(diff)})
    out["tasks"][task.name] = {"learning_rate": scores.learning_rate.tolist(), "valid": scores.valid.tolist(),
                               "test": scores.test.tolist(), "comparisons": comparisons}
  return out


def format_tables(result: dict[str, Any]) -> str:
  """Markdown: per task every participant's tuned learning rate and test accuracy, then the paired differences."""
  lines = []
  for task, table in result["tasks"].items():
    lines += [f"### `{task}`", "", "| optimizer | kind | tuned lr | test accuracy (mean, 95% interval) |",
              "|---|---|---|---|"]
    for i, p in enumerate(result["participants"]):
      ci = mean_interval(np.nan_to_num(np.asarray(table["test"][i], float), nan=0.0))
      lines.append(f"| {p['name']} | {p['kind']} | {table['learning_rate'][i]:g} | {ci.estimate:.4f} "
                   f"[{ci.low:.4f}, {ci.high:.4f}] |")
    lines += ["", "| optimizer | vs | test accuracy difference (95% interval) | verdict |", "|---|---|---|---|"]
    for c in table["comparisons"]:
      d = c["difference"]
      lines.append(f"| {c['optimizer']} | {c['baseline']} | {d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
                   f"| {c['verdict']} |")
    lines.append("")
  return "\n".join(lines)


def write_transfer(out_dir: str, result: dict[str, Any], header: str) -> None:
  """``transfer.json`` and ``transfer.md`` in ``out_dir``."""
  atomic_write_json(os.path.join(out_dir, "transfer.json"), result)
  atomic_write_text(os.path.join(out_dir, "transfer.md"), f"# Transfer\n\n{header}\n\n{format_tables(result)}\n")


class PlanRow(NamedTuple):
  """One row of a transfer table: a built-in task, the data it reads and its final-run budget.

  Attributes:
    task: the :data:`~optix_evo.tasks.TASKS` name.
    table: the paper's table the row belongs to.
    image_shape: ``(height, width, channels)`` of the task's images.
    classes: the number of classes.
    sizes: ``(train, valid, test)`` images of the full data set.
    steps: training steps of every run (warmup ``T/15``, hold ``2T/15``).
    batch_size: examples per step (the task's default).
    chunk_size: runs vmapped together on a device (1 for the large networks: one run's activations fill it).
    note: what is known and what is our choice.
  """

  task: str
  table: str
  image_shape: tuple[int, int, int]
  classes: int
  sizes: tuple[int, int, int]
  steps: int
  batch_size: int
  chunk_size: int | None
  note: str


PAPER_REFERENCES = tuple(f"nos_opt{i}" for i in range(1, 11)) + tuple(f"nos_adam_clip{i}" for i in range(5))
"""The authors' final optimizers and Adam-clip variants (``finalOptimizers.py``), the paper's transfer participants."""

_T = 96000  # the authors' usage example in finalOptimizers.py: total_steps=96000, warmup_steps=6400, hold=12800
_SCRATCH = ("T = 96000 (the authors' usage example in finalOptimizers.py); the paper's network for this row could not "
            "be established")
_FINE = ("EfficientNetV2-S as in the paper, from ImageNet weights (inferred), at Keras' default 384x384 input; "
         "resolution, steps, batch and augmentation are our choice (the paper's fine-tuning settings could not be "
         "established)")
PAPER_PLAN = (
    PlanRow("cifar100_cnn", "large-scale: CIFAR-100", (32, 32, 3), 100, (45000, 5000, 10000), _T, 128, None, _SCRATCH),
    PlanRow("cifar100_effnetv2s", "large-scale: CIFAR-100", (32, 32, 3), 100, (45000, 5000, 10000), _T, 128, 1,
            _SCRATCH),
    PlanRow("tiny_imagenet_cnn", "large-scale: TinyImageNet", (64, 64, 3), 200, (90000, 10000, 10000), _T, 128, None,
            _SCRATCH),
    PlanRow("tiny_imagenet_effnetv2s", "large-scale: TinyImageNet", (64, 64, 3), 200, (90000, 10000, 10000), _T, 128,
            1, _SCRATCH),
    PlanRow("flowers102_effnetv2s", "fine-tuning: Flowers102", (384, 384, 3), 102, (1020, 1020, 6149), _T // 20, 32, 1,
            _FINE),
    PlanRow("caltech101_effnetv2s", "fine-tuning: Caltech101", (384, 384, 3), 102, (2754, 306, 6084), _T // 20, 32, 1,
            _FINE),
    PlanRow("cars196_effnetv2s", "fine-tuning: Cars196", (384, 384, 3), 196, (7330, 814, 8041), _T // 20, 32, 1,
            _FINE),
)
"""The transfer rows of the NOS paper (Morgan & Hougen 2024) as built-in tasks with their budgets."""

PAPER_SETTINGS = {"seeds": 5, "lr_grid": (1.0, 1e-1, 1e-2, 1e-3, 1e-4), "baselines": ("adam", "adamw", "sgd"),
                  "references": PAPER_REFERENCES, "validations": 10}
"""The tuned comparison of every row: seeds, peak-learning-rate grid (the search's final grid), participants, and the
validations per run (``transfer`` validates every ``steps // 10`` steps)."""


def step_flops(row: PlanRow) -> tuple[float, float]:
  """``(training FLOPs per step, evaluation FLOPs per example)`` of ``row``'s model, from XLA's cost analysis of the
  lowered programs (nothing is compiled or run; no data is read)."""
  import optax  # pylint: disable=import-outside-toplevel

  from optix_evo.data import Dataset, Split  # pylint: disable=import-outside-toplevel
  from optix_evo.tasks import TASKS  # pylint: disable=import-outside-toplevel

  spec = TASKS[row.task]
  dtype = np.uint8 if spec.pretrained else np.float32
  fake = Dataset(np.zeros((1, *row.image_shape), dtype), np.zeros(1, np.int32))
  model = spec.model(Split(fake, fake, fake, row.classes, row.task))
  example = jax.ShapeDtypeStruct((1, *row.image_shape), dtype)
  variables = jax.eval_shape(lambda k, x: model.init(k, x, train=False), jax.random.PRNGKey(0), example)
  params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}

  def train(params, state, x, y, key):
    def loss(p):
      logits, new = model.apply({"params": p, **state}, x, train=True, rngs={"dropout": key}, mutable=list(state))
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new
    return jax.grad(loss, has_aux=True)(params)

  batch = jax.ShapeDtypeStruct((row.batch_size, *row.image_shape), dtype)
  labels = jax.ShapeDtypeStruct((row.batch_size,), np.int32)
  flops = lambda lowered: float((lowered.cost_analysis() or {}).get("flops", 0.0))  # noqa: E731
  train_flops = flops(jax.jit(train).lower(params, state, batch, labels, jax.random.PRNGKey(0)))
  infer = lambda params, state, x: model.apply({"params": params, **state}, x, train=False)  # noqa: E731
  eval_flops = flops(jax.jit(infer).lower(params, state, example))
  return train_flops, eval_flops


def paper_plan(*, data_dir: str = "DATA", out: str = "runs/transfer", gpu_tflops: float = 100.0,
               rows: Sequence[PlanRow] = PAPER_PLAN) -> list[dict[str, Any]]:
  """The commands the paper's transfer tables need, one per row, with an estimate of each one's GPU hours.

  Estimate: runs = participants × learning rates × seeds; FLOPs = runs × (steps × training FLOPs per step +
  validations × (valid + test images) × evaluation FLOPs per image), both per-step counts from XLA's cost analysis
  of the row's model (:func:`step_flops`); hours = FLOPs / (``gpu_tflops`` × 10¹² × 3600). ``gpu_tflops`` is the
  sustained throughput assumed (default 100 TFLOP/s, about a fifth of an H100's dense TF32 peak); small networks do
  not keep a GPU busy, so their rows are lower bounds.

  Returns:
    Per row: ``{"task", "table", "command", "runs", "steps", "train_flops_per_step", "petaflops", "gpu_hours",
    "note"}``.
  """
  if not gpu_tflops > 0:
    raise InputError(f"--gpu-tflops must be positive, got {gpu_tflops}.")
  s = PAPER_SETTINGS
  participants = len(s["references"]) + len(s["baselines"])
  runs = participants * len(s["lr_grid"]) * s["seeds"]
  plan = []
  for row in rows:
    train_flops, eval_flops = step_flops(row)
    per_run = row.steps * train_flops + s["validations"] * (row.sizes[1] + row.sizes[2]) * eval_flops
    total = runs * per_run
    command = (f"optix-evo transfer --tasks {row.task} --references {','.join(s['references'])} "
               f"--baselines {','.join(s['baselines'])} --steps {row.steps} --seeds {s['seeds']} "
               f"--lr-grid {','.join(f'{lr:g}' for lr in s['lr_grid'])} --data-dir {data_dir}"
               + (f" --chunk-size {row.chunk_size}" if row.chunk_size else "") + f" --out {out}/{row.task}")
    plan.append({"task": row.task, "table": row.table, "command": command, "runs": runs, "steps": row.steps,
                 "train_flops_per_step": train_flops, "petaflops": total / 1e15,
                 "gpu_hours": total / (gpu_tflops * 1e12 * 3600), "note": row.note})
  return plan


def format_plan(plan: list[dict[str, Any]], gpu_tflops: float) -> str:
  """Markdown: the commands, then a table of runs, FLOPs and estimated GPU hours per row."""
  lines = ["# The NOS paper's transfer experiments", "",
           "Data: CIFAR-100 (`cifar-100-python/`), TinyImageNet (`tiny-imagenet-200/`), Flowers102 (`flowers-102/`), "
           "Caltech101 (`caltech101/`), Stanford Cars (`stanford_cars/`) in DATA, and EfficientNetV2-S's ImageNet "
           "weights as DATA/efficientnetv2-s.msgpack (`python scripts/convert_weights.py --help`).", "", "```"]
  lines += [row["command"] for row in plan] + ["```", "",
            f"| task | table | runs × steps | TFLOP / step | PFLOP | GPU hours at {gpu_tflops:g} TFLOP/s |",
            "|---|---|---|---|---|---|"]
  for row in plan:
    lines.append(f"| `{row['task']}` | {row['table']} | {row['runs']} × {row['steps']} | "
                 f"{row['train_flops_per_step'] / 1e12:.3f} | {row['petaflops']:.0f} | {row['gpu_hours']:.1f} |")
  total = sum(row["gpu_hours"] for row in plan)
  lines += ["", f"Total: {total:.0f} GPU hours. Hours = runs × (steps × training FLOPs per step + 10 validations × "
            "(valid + test images) × evaluation FLOPs per image) / sustained throughput; FLOPs from XLA's cost "
            "analysis of each model's lowered training step. Networks far below a TFLOP per step do not keep a GPU "
            "busy: their hours are lower bounds.", ""]
  lines += [f"- `{row['task']}`: {row['note']}." for row in plan]
  return "\n".join(lines) + "\n"
