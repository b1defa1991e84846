"""Decisions of ``optix_evo.search.transfer`` with planted outcomes: ``tune`` is replaced by a fake that returns chosen
per-seed test accuracies, so the participants, which rows are paired, the direction of every difference
(optimizer − baseline), the verdicts, the protocol handed to ``tune`` and the tables are all determined. Nothing is
compiled or trained."""

import json
import re
import types

import jax
import numpy as np
import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from optix_evo.search import transfer as tr


class _Fake:
  """Stands in for ``tune``, ``resolve_task`` and ``Evaluator``; records what each was given."""

  def __init__(self, test):
    self.test, self.calls, self.evaluators = np.asarray(test, float), [], []

  def tune(self, evaluator, batch, **kw):
    self.calls.append({"evaluator": evaluator, "n": int(np.shape(batch.kind)[0]), "batch": batch, **kw})
    n = self.test.shape[0]
    return types.SimpleNamespace(test=self.test + (len(self.calls) - 1), valid=self.test / 2,
                                 learning_rate=np.arange(n, dtype=float) / 10)

  def evaluator(self, task, spec, **kw):
    self.evaluators.append({"task": task, "spec": spec, **kw})
    return ("evaluator", kw["make_optimizer"])


@pytest.fixture
def fake(monkeypatch):
  def make(test):
    f = _Fake(test)
    monkeypatch.setattr(tr, "tune", f.tune)
    monkeypatch.setattr(tr, "Evaluator", f.evaluator)
    monkeypatch.setattr(tr, "resolve_task", lambda name, seed, data_dir: types.SimpleNamespace(
        name=f"task:{name}", seed=seed, data_dir=data_dir))
    monkeypatch.setattr(tr, "zoo_optimizer", lambda name: f"zoo({name})")
    return f
  return make


def _hall(tmp_path, names=("lion", "rmsprop", "adam"), space=True):
  """A search's hall of fame (its records name their space; an older file's do not)."""
  entries = [{"rank": r + 1, "equation": f"eq{r}", "genome": ox.graph.to_json(ox.graph.known(n), ox.graph.DEFAULT_SPEC),
              **({"space": "extended"} if space else {})} for r, n in enumerate(names)]
  (tmp_path / "hall_of_fame.json").write_text(json.dumps({"hall_of_fame": entries}))
  return str(tmp_path)


def test_every_difference_is_optimizer_minus_baseline_paired_by_seed(fake, tmp_path):
  # rows: found #1, found #2, nos_opt1 (reference), adam, zoo:adam, sgd (baselines)
  test = [[0.90, 0.80, 0.70], [0.50, 0.50, 0.50], [0.40, 0.60, 0.50], [0.60, 0.50, 0.40], [0.70, 0.70, 0.70],
          [0.10, 0.20, 0.30]]
  f = fake(test)
  out = tr.transfer(["t1"], run_dir=_hall(tmp_path), top=2, references=("nos_opt1",),
                    baselines=("adam", "zoo:adam", "sgd"), seeds=3, steps=150, lr_grid=(1.0, 0.5), seed=2)
  assert [(p["name"], p["kind"]) for p in out["participants"]] == [
      ("found #1", "found"), ("found #2", "found"), ("nos_opt1", "reference"), ("adam", "baseline"),
      ("zoo:adam", "baseline"), ("sgd", "baseline")]
  assert out["participants"][0]["equation"] == "eq0" and "equation" not in out["participants"][2]
  table = out["tasks"]["task:t1"]
  got = [(c["optimizer"], c["baseline"]) for c in table["comparisons"]]
  assert got == [(o, b) for o in ("found #1", "found #2", "nos_opt1") for b in ("adam", "zoo:adam", "sgd")]
  rows = {p["name"]: i for i, p in enumerate(out["participants"])}
  for c in table["comparisons"]:
    d = np.asarray(test[rows[c["optimizer"]]]) - np.asarray(test[rows[c["baseline"]]])
    assert c["difference"] == pytest.approx(ox.search.statistics.paired_difference(
        np.asarray(test[rows[c["optimizer"]]]), np.asarray(test[rows[c["baseline"]]]))._asdict(), abs=1e-12)
    assert c["difference"]["estimate"] == pytest.approx(d.mean())
  by = {(c["optimizer"], c["baseline"]): c for c in table["comparisons"]}
  assert by[("found #1", "sgd")]["verdict"] == "beats" and by[("found #1", "sgd")]["difference"]["estimate"] > 0
  assert by[("found #2", "zoo:adam")]["verdict"] == "loses"
  assert by[("found #2", "zoo:adam")]["difference"]["estimate"] == pytest.approx(-0.2)
  assert table["test"] == test and table["valid"] == (np.asarray(test) / 2).tolist()
  assert table["learning_rate"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_the_protocol_handed_to_tune_is_the_papers_final_run(fake):
  f = fake([[0.5, 0.6], [0.4, 0.5], [0.3, 0.3]])
  out = tr.transfer(["a", "b"], references=("lion",), baselines=("adamw", "zoo:sgd"), seeds=2, steps=151,
                    lr_grid=(0.3,), seed=3, data_dir="D", population_loop="map", chunk_size=4)
  assert out["settings"] == {"steps": 151, "seeds": 2, "lr_grid": [0.3], "warmup": 10, "hold": 20, "seed": 3}
  assert list(out["tasks"]) == ["task:a", "task:b"]
  for t, call in enumerate(f.calls):
    assert (call["steps"], call["lr_grid"], call["seeds"], call["seed"], call["epoch"], call["warmup_steps"],
            call["hold_steps"]) == (151, (0.3,), 2, 3000 + t, 15, 10, 20)
    assert call["n"] == 3 and call["evaluator"] == ("evaluator", None)
    assert call["zoo"] == {2: ("evaluator", "zoo(sgd)")}
  first = f.evaluators[0]
  assert first["task"].name == "task:a" and first["task"].seed == 3 and first["task"].data_dir == "D"
  assert first["spec"] == ox.graph.DEFAULT_SPEC
  assert (first["max_steps"], first["batch"], first["population_loop"], first["chunk_size"]) == (
      151, max(jax.device_count() * 8, 16), "map", 4)
  # the second task's comparisons read the second call's scores (the fake adds 1): the same differences
  for t in ("task:a", "task:b"):
    assert [c["difference"]["estimate"] for c in out["tasks"][t]["comparisons"]] == pytest.approx([0.1, 0.25])
  assert out["tasks"]["task:b"]["test"][0] == pytest.approx([1.5, 1.6])


def test_the_genomes_are_the_hall_of_fame_the_references_and_the_named_baselines(fake, tmp_path):
  f = fake(np.zeros((6, 2)))
  tr.transfer(["a"], run_dir=_hall(tmp_path, space=False), top=2, references=("nos_opt9",),
              baselines=("adam", "sgd", "zoo:adam"),
              seeds=2, steps=30)
  batch = f.calls[0]["batch"]
  expected = [ox.graph.known(n) for n in ("lion", "rmsprop", "nos_opt9", "adam", "momentum")]
  expected.append(ox.search.evaluate.plain_genome())
  want = ox.search.ga.stack(expected)
  for name in want._fields:
    np.testing.assert_array_equal(getattr(batch, name), getattr(want, name), err_msg=name)
  assert f.calls[0]["zoo"] == {5: ("evaluator", "zoo(adam)")}
  assert (f.calls[0]["epoch"], f.calls[0]["warmup_steps"], f.calls[0]["hold_steps"]) == (3, 2, 4)


def test_short_runs_keep_a_positive_validation_interval(fake):
  f = fake(np.zeros((1, 2)))
  tr.transfer(["a"], baselines=("adam",), seeds=2, steps=9)
  assert (f.calls[0]["epoch"], f.calls[0]["warmup_steps"], f.calls[0]["hold_steps"]) == (1, 0, 1)
  assert f.calls[0]["zoo"] == {}


@pytest.mark.parametrize("kw, message", [
    ({"chunk_size": 0}, "--chunk-size must be positive, got 0."),
    ({"seeds": 1}, "--seeds must be at least 2 for intervals over seeds (5 or more recommended), got 1."),
    ({"baselines": ()}, "baselines must name at least one optimizer (e.g. adam, adamw, sgd), got none."),
    ({"references": ("lion", "nope")}, "Unknown reference optimizer 'nope'. Known genomes: "),
    ({"tasks": []}, "Give at least one task (--tasks)."),
    ({"baselines": ("nope",)}, "Unknown baseline 'nope'."),
])
def test_refusals_come_before_any_training(fake, kw, message):
  f = fake(np.zeros((1, 2)))
  kw = {"tasks": ["a"], **kw}
  with pytest.raises(InputError, match="^" + re.escape(message)):
    tr.transfer(kw.pop("tasks"), **kw)
  assert f.calls == [] and f.evaluators == []
  tr.transfer(["a"], baselines=("adam",), seeds=2, chunk_size=1)  # the edges are accepted


def test_the_hall_of_fame_is_read_up_to_top_and_refused_when_absent_or_malformed(tmp_path):
  run = _hall(tmp_path)
  assert [e["rank"] for e in tr.hall_of_fame(run, 2)] == [1, 2]
  assert [e["rank"] for e in tr.hall_of_fame(run, 10)] == [1, 2, 3]
  path = tmp_path / "hall_of_fame.json"
  for text, message in [("{}", f"{path} is not a search's hall of fame ("), ("[1]", f"{path} is not a search's hall"),
                        ('{"hall_of_fame": []}', f"{path} holds an empty hall of fame."),
                        ('{"hall_of_fame": {"a": 1}}', f"{path} holds an empty hall of fame."),
                        ("{", f"{path} is not a search's hall of fame (")]:
    path.write_text(text)
    with pytest.raises(InputError, match="^" + re.escape(message)):
      tr.hall_of_fame(run, 3)
  with pytest.raises(InputError, match="^" + re.escape(f"{tmp_path / 'x' / 'hall_of_fame.json'} not found: give the "
                                                       "results folder of `optix-evo search`.") + "$"):
    tr.hall_of_fame(str(tmp_path / "x"), 3)


def test_the_tables_print_each_difference_with_its_sign_and_the_mean_test_accuracy(tmp_path):
  result = {"participants": [{"name": "found #1", "kind": "found"}, {"name": "adam", "kind": "baseline"}],
            "tasks": {"t": {"learning_rate": [0.1, 0.01], "test": [[0.5, float("nan")], [0.25, 0.75]],
                            "comparisons": [{"optimizer": "found #1", "baseline": "adam", "verdict": "ties",
                                             "difference": {"estimate": -0.25, "low": -0.5, "high": 0.125}}]}}}
  text = tr.format_tables(result)
  ci = ox.search.statistics.mean_interval(np.array([0.5, 0.0]))
  assert f"| found #1 | found | 0.1 | 0.2500 [{ci.low:.4f}, {ci.high:.4f}] |" in text  # NaN (diverged) counts as 0
  assert "| found #1 | adam | -0.2500 [-0.5000, +0.1250] | ties |" in text
  assert ("\n\n| optimizer | vs | test accuracy difference (95% interval) | verdict |\n|---|---|---|---|\n"
          "| found #1") in text
  assert text.startswith("### `t`\n\n| optimizer | kind | tuned lr | test accuracy (mean, 95% interval) |\n|---|")
  tr.write_transfer(str(tmp_path), result, "HEAD")
  assert (tmp_path / "transfer.md").read_text() == f"# Transfer\n\nHEAD\n\n{text}\n"
  assert json.loads((tmp_path / "transfer.json").read_text())["participants"] == result["participants"]


def test_the_paper_plan_estimate_and_command(monkeypatch):
  monkeypatch.setattr(tr, "step_flops", lambda row: (2e12, 1e9))
  row = tr.PAPER_PLAN[4]._replace(chunk_size=None)
  plan = tr.paper_plan(rows=(tr.PAPER_PLAN[4], row), data_dir="D", out="O", gpu_tflops=50.0)
  s = tr.PAPER_SETTINGS
  runs = (len(s["references"]) + len(s["baselines"])) * len(s["lr_grid"]) * s["seeds"]
  assert runs == 18 * 5 * 5 and plan[0]["runs"] == runs
  per_run = 4800 * 2e12 + 10 * (1020 + 6149) * 1e9
  assert plan[0]["petaflops"] == pytest.approx(runs * per_run / 1e15)
  assert plan[0]["gpu_hours"] == pytest.approx(runs * per_run / (50e12 * 3600))
  assert plan[0]["command"].endswith("--lr-grid 1,0.1,0.01,0.001,0.0001 --data-dir D --chunk-size 1 "
                                     "--out O/flowers102_effnetv2s")
  assert plan[1]["command"].endswith("--data-dir D --out O/flowers102_effnetv2s")
  for bad in (0.0, -1.0, float("nan")):
    with pytest.raises(InputError, match=re.escape(f"--gpu-tflops must be positive, got {bad}.")):
      tr.paper_plan(gpu_tflops=bad)


def test_the_plan_table_lists_every_command_row_and_the_total():
  plan = [{"task": "a", "table": "T1", "command": "optix-evo transfer --tasks a", "runs": 10, "steps": 5,
           "train_flops_per_step": 2.5e12, "petaflops": 12.4, "gpu_hours": 1.25, "note": "n1"},
          {"task": "b", "table": "T2", "command": "optix-evo transfer --tasks b", "runs": 3, "steps": 7,
           "train_flops_per_step": 1e9, "petaflops": 0.6, "gpu_hours": 2.0, "note": "n2"}]
  text = tr.format_plan(plan, 50.0)
  lines = text.splitlines()
  assert lines[0] == "# The NOS paper's transfer experiments" and text.endswith("- `b`: n2.\n")
  start = lines.index("```")
  assert lines[start + 1:start + 4] == ["optix-evo transfer --tasks a", "optix-evo transfer --tasks b", "```"]
  assert "| task | table | runs × steps | TFLOP / step | PFLOP | GPU hours at 50 TFLOP/s |" in lines
  assert "| `a` | T1 | 10 × 5 | 2.500 | 12 | 1.2 |" in lines and "| `b` | T2 | 3 × 7 | 0.001 | 1 | 2.0 |" in lines
  assert any(line.startswith("Total: 3 GPU hours. Hours = runs × (steps × training FLOPs per step") for line in lines)
  assert "- `a`: n1." in lines


def _planted_task(monkeypatch, pretrained, default_train=True):
  """A task whose network records every call (mode, input shape and dtype) and the split its builder is given. Its
  evaluation is one read-out of the flattened input, ``2·D·C + C`` FLOPs per example; training adds dropout, a counter
  in ``batch_stats`` and two extra ``D×H`` products. Its default mode is ``default_train`` (the library's networks
  default to evaluation)."""
  import flax.linen as nn  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  calls, splits = [], []

  class Planted(nn.Module):
    outputs: int

    @nn.compact
    def __call__(self, x, train: bool = default_train):
      calls.append((train, x.shape, np.dtype(x.dtype)))
      count = self.variable("batch_stats", "count", jnp.zeros, ())
      h = x.reshape(x.shape[0], -1).astype(jnp.float32)
      w = self.param("extra", nn.initializers.normal(), (h.shape[1], 64))
      if train:
        h = nn.Dropout(0.5, deterministic=False)(h)
        h = h + (h @ w) @ w.T
        count.value = count.value + 1
      return nn.Dense(self.outputs)(h)

  def build(split):
    splits.append(split)
    return Planted(split.num_classes)

  monkeypatch.setitem(ox.tasks.TASKS, "planted", ox.tasks.TaskSpec("cnn", "planted", build, 10, 4, stateful=True,
                                                                    pretrained=pretrained))
  return calls, splits


@pytest.mark.parametrize("pretrained, dtype, default_train", [(None, np.float32, True), ("w.msgpack", np.uint8, True),
                                                             (None, np.float32, False)])
def test_step_flops_count_one_training_step_in_training_mode_and_one_evaluation_example_in_evaluation_mode(
    monkeypatch, pretrained, dtype, default_train):
  calls, splits = _planted_task(monkeypatch, pretrained, default_train)
  b, shape, classes, hidden = 4, (2, 3, 5), 7, 64
  d = int(np.prod(shape))
  train_flops, eval_flops = tr.step_flops(tr.PlanRow("planted", "T", shape, classes, (9, 9, 9), 10, b, None, "n"))
  # the model is built from a split of one example of the row's shape (uint8 images for a pretrained backbone) in
  # every part, with the row's classes and the task's name
  assert len(splits) == 1
  split = splits[0]
  for part in (split.train, split.valid, split.test):
    assert part.x.shape == (1, *shape) and part.x.dtype == dtype
    assert part.y.shape == (1,) and part.y.dtype == np.int32
  assert (split.num_classes, split.name) == (classes, "planted")
  # initialised and evaluated in evaluation mode on one example, trained in training mode on a batch
  assert calls == [(False, (1, *shape), dtype), (True, (b, *shape), dtype), (False, (1, *shape), dtype)]
  # the read-out alone (evaluation mode, per example), after converting uint8 images (one FLOP per value)
  assert eval_flops == 2 * d * classes + classes + (d if pretrained else 0)
  # a step's products: forward 2·D·H twice and 2·D·C; backward 3 × 2·D·H and 2 × 2·D·C (per example); plus the
  # elementwise work (dropout, softmax, sums: under 15 %)
  products = b * (10 * d * hidden + 6 * d * classes)
  assert products < train_flops < 1.15 * products


def test_the_defaults_are_the_top_3_adam_adamw_sgd_5_seeds_300_steps_and_the_three_rate_grid(fake, tmp_path):
  f = fake(np.zeros((6, 5)))
  out = tr.transfer(["a"], run_dir=_hall(tmp_path, names=("lion", "rmsprop", "adam", "sgd")))
  assert [p["name"] for p in out["participants"]] == ["found #1", "found #2", "found #3", "adam", "adamw", "sgd"]
  assert out["settings"] == {"steps": 300, "seeds": 5, "lr_grid": [0.1, 0.01, 0.001], "warmup": 20, "hold": 40,
                             "seed": 0}
  call = f.calls[0]
  assert (call["steps"], call["seeds"], call["lr_grid"], call["seed"]) == (300, 5, (0.1, 0.01, 0.001), 0)
  assert (f.evaluators[0]["population_loop"], f.evaluators[0]["chunk_size"]) == ("auto", None)
  assert f.evaluators[0]["task"].data_dir is None and f.evaluators[0]["task"].seed == 0


def test_the_paper_plans_defaults_are_the_data_folder_the_runs_folder_and_100_tflops(monkeypatch):
  monkeypatch.setattr(tr, "step_flops", lambda row: (1e12, 1e9))
  plan = tr.paper_plan()
  assert [p["task"] for p in plan] == [row.task for row in tr.PAPER_PLAN]
  for p, row in zip(plan, tr.PAPER_PLAN):
    assert p["command"] == (
        f"optix-evo transfer --tasks {row.task} --references {','.join(tr.PAPER_REFERENCES)} --baselines "
        f"adam,adamw,sgd --steps {row.steps} --seeds 5 --lr-grid 1,0.1,0.01,0.001,0.0001 --data-dir DATA"
        + (f" --chunk-size {row.chunk_size}" if row.chunk_size else "") + f" --out runs/transfer/{row.task}")
    per_run = row.steps * 1e12 + 10 * (row.sizes[1] + row.sizes[2]) * 1e9
    assert p["gpu_hours"] == pytest.approx(p["runs"] * per_run / (100e12 * 3600))


def test_the_plan_names_the_data_folders_and_the_weights_file_under_the_commands_data_dir():
  lines = tr.format_plan([], 100.0).splitlines()
  assert lines[2] == (
      "Data: CIFAR-100 (`cifar-100-python/`), TinyImageNet (`tiny-imagenet-200/`), Flowers102 (`flowers-102/`), "
      "Caltech101 (`caltech101/`), Stanford Cars (`stanford_cars/`) in DATA, and EfficientNetV2-S's ImageNet weights "
      f"as DATA/{ox.tasks.EFFICIENTNET_WEIGHTS} (`python scripts/convert_weights.py --help`).")
  assert f"(`{ox.data.cifar.CIFAR100_DIRNAME}/`)" in lines[2]
  assert lines[:2] == ["# The NOS paper's transfer experiments", ""] and lines[3:7] == ["", "```", "```", ""]


def test_the_tables_of_two_tasks_word_for_word():
  comparison = {"optimizer": "found #1", "baseline": "sgd", "verdict": "beats",
                "difference": {"estimate": 0.5, "low": 0.25, "high": 0.75}}
  result = {"participants": [{"name": "found #1", "kind": "found"}, {"name": "sgd", "kind": "baseline"}],
            "tasks": {t: {"learning_rate": [0.5, 1e-3], "test": [[1.0, 1.0], [0.5, 0.5]], "comparisons": [comparison]}
                      for t in ("a", "b")}}
  table = ["| optimizer | kind | tuned lr | test accuracy (mean, 95% interval) |", "|---|---|---|---|",
           "| found #1 | found | 0.5 | 1.0000 [1.0000, 1.0000] |",
           "| sgd | baseline | 0.001 | 0.5000 [0.5000, 0.5000] |",
           "", "| optimizer | vs | test accuracy difference (95% interval) | verdict |", "|---|---|---|---|",
           "| found #1 | sgd | +0.5000 [+0.2500, +0.7500] | beats |", ""]
  assert tr.format_tables(result) == "\n".join(["### `a`", "", *table, "### `b`", "", *table])


@pytest.mark.parametrize("analysis, want", [(None, 0.0), ({}, 0.0), ({"bytes accessed": 9.0}, 0.0),
                                            ({"flops": 5.0}, 5.0)])
def test_step_flops_are_0_where_the_backend_has_no_cost_analysis(monkeypatch, analysis, want):
  _planted_task(monkeypatch, None)
  monkeypatch.setattr(jax.stages.Lowered, "cost_analysis", lambda self: analysis)
  assert tr.step_flops(tr.PlanRow("planted", "T", (2, 3, 5), 7, (9, 9, 9), 10, 4, None, "n")) == (want, want)
