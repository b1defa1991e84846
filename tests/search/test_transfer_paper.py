"""The paper's transfer experiments as library commands: `optix-evo transfer --preset paper` lists one command per
table row with a GPU-hour estimate whose arithmetic and FLOP counts are checked; every row is a built-in task."""

import argparse
import shlex

import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo import cli, tasks
from optix_evo.data import Dataset, Split
from optix_evo.search import cli as search_cli
from optix_evo.search import transfer


def _parser():
  parser = argparse.ArgumentParser(prog="optix-evo")
  search_cli.register(parser.add_subparsers(dest="command"))
  return parser


def test_plan_rows_are_the_paper_tables_as_built_in_tasks():
  tables = {row.table.split(": ")[1] for row in transfer.PAPER_PLAN}
  assert tables == {"CIFAR-100", "TinyImageNet", "Flowers102", "Caltech101", "Cars196"}
  datasets = {"CIFAR-100": "cifar100", "TinyImageNet": "tiny_imagenet", "Flowers102": "flowers102",
              "Caltech101": "caltech101", "Cars196": "stanford_cars"}
  for row in transfer.PAPER_PLAN:
    spec = tasks.TASKS[row.task]
    assert spec.dataset == datasets[row.table.split(": ")[1]] and spec.needs_files and spec.stateful
    fake = Dataset(np.zeros((1, *row.image_shape), np.float32), np.zeros(1, np.int32))
    model = spec.model(Split(fake, fake, fake, row.classes, "fake"))
    assert model.outputs == row.classes
    if row.table.startswith("fine-tuning"):  # the paper: EfficientNetV2-S, pretrained, a new head
      assert type(model).__name__ == "EfficientNetV2" and spec.pretrained == tasks.EFFICIENTNET_WEIGHTS
      assert model.width == 1.0 and model.depth == 1.0 and model.preprocessing == "keras"
  assert transfer.PAPER_REFERENCES[:10] == tuple(f"nos_opt{i}" for i in range(1, 11))


def test_plan_commands_parse_and_estimate_follows_the_stated_formula(monkeypatch):
  monkeypatch.setattr(transfer, "step_flops", lambda row: (2e12, 1e10))
  plan = transfer.paper_plan(data_dir="/data", out="runs/t", gpu_tflops=50.0)
  assert [p["task"] for p in plan] == [row.task for row in transfer.PAPER_PLAN]
  settings = transfer.PAPER_SETTINGS
  runs = (len(settings["references"]) + len(settings["baselines"])) * len(settings["lr_grid"]) * settings["seeds"]
  for p, row in zip(plan, transfer.PAPER_PLAN):
    flops = runs * (row.steps * 2e12 + 10 * (row.sizes[1] + row.sizes[2]) * 1e10)
    assert p["runs"] == runs == 450 and p["gpu_hours"] == pytest.approx(flops / (50e12 * 3600))
    argv = shlex.split(p["command"])
    assert argv[0] == "optix-evo"
    args = _parser().parse_args(argv[1:])
    assert args.tasks == row.task and args.steps == row.steps and args.data_dir == "/data"
    assert args.out == f"runs/t/{row.task}" and args.chunk_size == row.chunk_size
    assert args.references.split(",") == list(transfer.PAPER_REFERENCES)
  assert transfer.PAPER_PLAN[0].steps == 96000  # the authors' total_steps in finalOptimizers.py's usage example


def test_step_flops_count_the_convnet():
  """XLA's count of the width-64 ConvNet's forward pass on a 32×32 image is within 5% of the convolutions' and the
  read-out's multiply-adds (2 FLOPs each); a training step costs 2-4 forward passes per example."""
  row = transfer.PAPER_PLAN[0]
  assert row.task == "cifar100_cnn"
  train_flops, eval_flops = transfer.step_flops(row._replace(batch_size=4))
  convs = 2 * 9 * (32 * 32 * 3 * 64 + 16 * 16 * 64 * 128 + 8 * 8 * 128 * 256) + 2 * 256 * 100
  assert eval_flops == pytest.approx(convs, rel=0.05)
  assert 2 * 4 * eval_flops < train_flops < 4 * 4 * eval_flops


def test_cli_preset_paper_prints_the_plan(monkeypatch, capsys):
  monkeypatch.setattr(transfer, "step_flops", lambda row: (1e12, 1e9))
  assert cli.main(["transfer", "--preset", "paper", "--data-dir", "/d"]) == 0
  out = capsys.readouterr().out
  assert out.count("optix-evo transfer --tasks") == len(transfer.PAPER_PLAN)
  assert "GPU hours at 100 TFLOP/s" in out and "--data-dir /d" in out


def test_cli_transfer_bad_input(one_error_line):
  assert cli.main(["transfer", "--tasks", "digits_mlp"]) == 2
  one_error_line("transfer", "--out DIR is required")
  with pytest.raises(SystemExit) as exit_info:  # argparse's own type check (positive_float)
    cli.main(["transfer", "--preset", "paper", "--gpu-tflops", "0"])
  assert exit_info.value.code == 2


@pytest.mark.slow  # trains 2 optimizers × 2 rates × 2 seeds of the paper ConvNet (a minute on 2 cores)
def test_transfer_runs_a_stateful_task_end_to_end():
  result = transfer.transfer(["digits_paper_cnn"], references=["nos_opt1"], baselines=["adam"], seeds=2, steps=40,
                             lr_grid=(1e-2, 1e-3))
  table = result["tasks"]["digits_paper_cnn"]
  assert np.asarray(table["test"]).shape == (2, 2) and np.all(np.asarray(table["test"]) > 0.1)
  assert jnp.isfinite(jnp.asarray(table["comparisons"][0]["difference"]["estimate"]))


def _write_cifar100(root, n_train=12, n_test=4):
  import pickle  # noqa: PLC0415

  folder = root / "cifar-100-python"
  folder.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for name, n in (("train", n_train), ("test", n_test)):
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"fine_labels": (np.arange(n) * 7 % 100).tolist(), b"coarse_labels": (np.arange(n) % 20).tolist()}
    (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def _write_tiny_imagenet(root, wnids=("n01", "n02"), per_class=3):
  from PIL import Image  # noqa: PLC0415

  folder = root / "tiny-imagenet-200"
  (folder / "val" / "images").mkdir(parents=True)
  (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
  lines = []
  for c, wnid in enumerate(wnids):
    (folder / "train" / wnid / "images").mkdir(parents=True)
    for i in range(per_class):
      Image.fromarray(np.full((64, 64, 3), 90 * c, np.uint8)).save(folder / "train" / wnid / "images" / f"{i}.JPEG")
    Image.fromarray(np.full((64, 64, 3), 90 * c, np.uint8)).save(folder / "val" / "images" / f"v{c}.JPEG")
    lines.append(f"v{c}.JPEG\t{wnid}\t0\t0\t63\t63")
  (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name, writer, kwargs, classes", [
    ("cifar100_cnn", _write_cifar100, {"valid_size": 2}, 100),
    ("tiny_imagenet_cnn", _write_tiny_imagenet, {"valid_size": 2}, 2),
])
def test_large_scale_tasks_build_from_tiny_files(tmp_path, name, writer, kwargs, classes):
  import jax  # noqa: PLC0415

  writer(tmp_path)
  task = tasks.get_task(name, data_dir=str(tmp_path), dataset_kwargs=kwargs, batch_size=4)
  assert task.modes is not None and task.augment is tasks.augment_images and task.chance == pytest.approx(1 / classes)
  params, state = task.init(jax.random.PRNGKey(0)), task.initial_state(jax.random.PRNGKey(0))
  step = jax.jit(lambda p, s, x, y: task.training_loss(p, s, x, y, jax.random.PRNGKey(1)))
  loss, (_, new_state) = step(params, state, task.train.x[:4], task.train.y[:4])
  assert np.isfinite(loss) and not np.allclose(new_state["batch_stats"]["BatchNorm_0"]["mean"], 0.0)
  assert params["Dense_0"]["kernel"].shape == (256, classes)  # the width-64 ConvNet's 4·64 features
