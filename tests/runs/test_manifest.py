"""run.json manifests and `optix-evo reproduce`, exercised with a tiny fake command registered in the CLI."""

import inspect
import json
import os
import pickle

import numpy as np
import pytest

import optix_evo.cli
from optix_evo.runs import folder, manifest, reproduction
from optix_evo.errors import InputError

# The fake command's result is seed-determined plus DRIFT, so a test can make a re-run disagree.
DRIFT = {"value": 0.0}


CALLS = []


def _fake_run(args):
  CALLS.append(args)
  x = np.random.default_rng(args.seed).normal(size=(32, 3)).astype(np.float32)
  argv = ["fake-train", "--seed", str(args.seed), "--out", args.out]
  manifest.write_manifest(
      args.out, argv=argv, config={"seed": args.seed, "lr": np.float32(0.1), "shape": x.shape}, seeds=[args.seed],
      data_fingerprint=manifest.fingerprint_arrays(x), headline={"loss": float(x.mean()) + DRIFT["value"], "count": 32},
  )
  return 0


@pytest.fixture
def fake_cli(monkeypatch):
  build = optix_evo.cli.build_parser

  def build_with_fake():
    parser = build()
    sub = next(a for a in parser._actions if a.dest == "command")
    fake = sub.add_parser("fake-train")
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--data-dir", default=None)
    fake.add_argument("--cache", default=None, metavar="DIR")
    fake.add_argument("--set", action="append", default=[])
    fake.add_argument("--task", default=None)
    fake.add_argument("--tasks", default=None)
    fake.add_argument("--resume", action="store_true")
    folder.add_out_argument(fake)
    fake.set_defaults(func=_fake_run)
    return parser

  monkeypatch.setattr(optix_evo.cli, "build_parser", build_with_fake)
  monkeypatch.setitem(DRIFT, "value", 0.0)
  CALLS.clear()


def test_manifest_contents(tmp_path, fake_cli):
  assert optix_evo.cli.main(["fake-train", "--seed", "3", "--out", str(tmp_path / "run")]) == 0
  m = manifest.read_manifest(tmp_path / "run")
  assert m["argv"] == ["fake-train", "--seed", "3", "--out", str(tmp_path / "run")]
  assert m["config"] == {"seed": 3, "lr": pytest.approx(0.1), "shape": [32, 3]}
  assert m["seeds"] == [3] and m["data_fingerprint"].startswith("sha256:")
  env = m["environment"]
  assert set(env["versions"]) == {"optix_evo", "jax", "jaxlib", "optax", "flax", "numpy", "python"}
  assert env["jax_backend"] == "cpu" and env["device_count"] >= 1
  assert m["git"] is None or set(m["git"]) == {"commit", "dirty"}
  assert json.loads((tmp_path / "run" / "run.json").read_text()) == m


def test_fingerprint():
  a, b = np.arange(6.0), np.arange(6.0).reshape(2, 3)
  assert manifest.fingerprint_arrays(a) == manifest.fingerprint_arrays(a.copy())
  assert manifest.fingerprint_arrays(a) != manifest.fingerprint_arrays(b)  # same bytes, other shape
  assert manifest.fingerprint_arrays(a) != manifest.fingerprint_arrays(a.astype(np.float32))
  assert manifest.fingerprint_arrays(a, b) != manifest.fingerprint_arrays(b, a)


def test_reproduce_matches(tmp_path, fake_cli, capsys):
  optix_evo.cli.main(["fake-train", "--seed", "1", "--out", str(tmp_path / "run")])
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run")]) == 0
  assert "all headline figures match" in capsys.readouterr().out
  assert manifest.read_manifest(tmp_path / "run.reproduce1")["argv"][-1] == str(tmp_path / "run.reproduce1")
  report = reproduction.reproduce(tmp_path / "run")  # a second reproduction goes to the next fresh folder
  assert report.ok and report.out_dir == tmp_path / "run.reproduce2"
  assert [c.name for c in report.checks] == ["loss", "count"] and report.environment_changes == {}


def test_reproduce_reports_mismatch(tmp_path, fake_cli, capsys, monkeypatch):
  optix_evo.cli.main(["fake-train", "--seed", "1", "--out", str(tmp_path / "run")])
  monkeypatch.setitem(DRIFT, "value", 1e-3)
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run"), "--into", str(tmp_path / "again")]) == 1
  out = capsys.readouterr().out
  assert "| loss |" in out and "NO" in out and "REPRODUCTION FAILED" in out
  # A loose enough tolerance accepts the drift.
  assert reproduction.reproduce(tmp_path / "run", tmp_path / "loose", atol=1e-2).ok


def test_bad_input(tmp_path):
  with pytest.raises(ValueError, match="--out"):
    manifest.write_manifest(tmp_path, argv=["search", "--preset", "quick"], config={}, seeds=0)
  with pytest.raises(ValueError, match="list of strings"):
    manifest.write_manifest(tmp_path, argv="search --out x", config={}, seeds=0)
  with pytest.raises(ValueError, match="scalar"):
    manifest.write_manifest(tmp_path, argv=["x", "--out", "d"], config={}, seeds=0, headline={"a": [1, 2]})
  with pytest.raises(InputError, match="No run.json"):
    manifest.read_manifest(tmp_path / "nowhere")
  with pytest.raises(TypeError, match="JSON-ready"):
    manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={"f": object()}, seeds=0)
  assert manifest.with_out(["x", "--out=d", "--k"], "e") == ["x", "--out=e", "--k"]


def _crafted(tmp_path, argv, **fields):
  """A received results folder whose run.json holds ``argv``."""
  run = tmp_path / "received"
  run.mkdir(exist_ok=True)
  (run / "run.json").write_text(json.dumps({"argv": argv, "headline": {"loss": 1.0}, **fields}))
  return run


@pytest.mark.parametrize("argv, match", [
    (["fake-train", "--out", "x", "--out", "{run}"], "--out is given more than once"),
    (["fake-train", "--out=x", "--out", "{run}"], "--out is given more than once"),
    (["fake-train", "--ou", "x", "--out", "{run}"], "'--ou' is not an option"),
    (["fake-train", "--resume", "--out", "x"], "--resume, which reproduce refuses: a reproduction always starts"),
    (["fake-train", "--force", "--out", "x"], "--force, which reproduce refuses"),
    (["fake-train", "--seed", "1", "--seed=2", "--out", "x"], "--seed is given more than once"),
    (["fake-train", "--evil", "--out", "x"], "'--evil' is not an option"),
    (["fake-train", "extra", "--out", "x"], "'extra' is not an option"),
    (["fake-train", "-h", "--out", "x"], "'-h' is not an option"),
    (["fake-train", "--help", "--out", "x"], "--help, which reproduce refuses"),
    (["fake-train", "--data-dir", "/etc", "--out", "x"], "--data-dir reads '/etc', outside"),
    (["fake-train", "--data-dir", "{run}/../elsewhere", "--out", "x"], "outside"),
    (["fake-train", "--data-dir", "{run}/link", "--out", "x"], "outside"),  # a symlink out of the folder
    (["fake-train", "--cache=~", "--out", "x"], "--cache reads '~', outside"),  # metavar DIR: a path
    (["fake-train", "--set", "data_dir=/tmp", "--out", "x"], "--set reads '/tmp', outside"),
    (["fake-train", "--seed"], "--seed has no value"),
    (["fake-train", "--seed", "1"], "has no --out"),
    (["fake-train", "--resume=1", "--out", "x"], "reproduce refuses"),
    (["reproduce", "--out", "x"], "not an optix-evo command that writes a results folder"),
    (["zoo", "--task", "digits"], "writes no results folder"),
    (["--debug", "fake-train", "--out", "x"], "not an optix-evo command"),
    (["rm", "-rf", "/"], "not an optix-evo command"),
    ("fake-train --out x", "must be a non-empty list of strings"),
    ([], "must be a non-empty list of strings"),
])
def test_reproduce_refuses_a_crafted_run_json_without_running_it(tmp_path, fake_cli, argv, match):
  run = tmp_path / "received"
  run.mkdir()
  (run / "link").symlink_to(tmp_path)
  if isinstance(argv, list):
    argv = [a.replace("{run}", str(run)) for a in argv]
  _crafted(tmp_path, argv)
  with pytest.raises(InputError, match=match):
    reproduction.reproduce(run, tmp_path / "into")
  assert not CALLS and not (tmp_path / "into").exists()
  assert sorted(os.listdir(run)) == ["link", "run.json"]


def test_reproduce_cli_refusal_is_one_line(tmp_path, fake_cli, capsys):
  run = _crafted(tmp_path, ["fake-train", "--out", "x", "--out", "y"])
  assert optix_evo.cli.main(["reproduce", str(run)]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("optix-evo reproduce: error: ") and "more than once" in err
  (run / "run.json").write_text("{not json")
  assert optix_evo.cli.main(["reproduce", str(run)]) == 2
  assert "cannot read" in capsys.readouterr().err and not CALLS


def test_rebuilt_command_reads_inside_the_folder_and_always_writes_into(tmp_path, fake_cli):
  run = _crafted(tmp_path, [])
  (run / "data").mkdir()
  argv = ["fake-train", "--seed=-1", "--data-dir", str(run / "data"), "--set", "a=1", "--set", "b=--out", "--out", "o"]
  rebuilt = reproduction.rebuild_argv(argv, run, tmp_path / "into")
  assert rebuilt == ["fake-train", "--seed=-1", f"--data-dir={run / 'data'}", "--set=a=1", "--set=b=--out",
                     f"--out={tmp_path / 'into'}"]
  args = optix_evo.cli.build_parser().parse_args(rebuilt)
  assert (args.seed, args.set, args.out) == (-1, ["a=1", "b=--out"], str(tmp_path / "into"))
  outside = ["fake-train", "--data-dir", str(tmp_path), "--out", "o"]
  with pytest.raises(InputError, match="--allow-outside-paths"):
    reproduction.rebuild_argv(outside, run, tmp_path / "into")
  assert reproduction.rebuild_argv(outside, run, "i", allow_outside_paths=True, force=True)[-2:] == ["--force", "--out=i"]


def test_reproduce_into_a_folder_that_holds_files_needs_force(tmp_path, fake_cli, capsys):
  optix_evo.cli.main(["fake-train", "--seed", "1", "--out", str(tmp_path / "run")])
  (tmp_path / "into").mkdir()
  (tmp_path / "into" / "notes.txt").write_text("mine")
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run"), "--into", str(tmp_path / "into")]) == 2
  assert "--into" in capsys.readouterr().err and len(CALLS) == 1
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run"), "--into", str(tmp_path / "into"), "--force"]) == 0
  assert CALLS[-1].force and CALLS[-1].out == str(tmp_path / "into")
  assert (tmp_path / "into" / "notes.txt").read_text() == "mine"


class _RunsCode:
  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return os.mkdir, (self.marker,)


def test_reproducing_a_received_bench_run_with_pickles_in_its_data_dir_runs_no_code(tmp_path, capsys):
  run = _crafted(tmp_path, ["bench", "--tasks", "cifar10_cnn", "--optimizers", "adam", "--data-dir", "DATA",
                            "--out", "o"])
  batches = run / "data" / "cifar-10-batches-py"
  batches.mkdir(parents=True)
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    (batches / name).write_bytes(pickle.dumps({b"data": _RunsCode(tmp_path / "pwned"), b"labels": [0]}))
  argv = json.loads((run / "run.json").read_text())["argv"]
  (run / "run.json").write_text(json.dumps({"argv": [a.replace("DATA", str(run / "data")) for a in argv],
                                            "headline": {}}))
  assert optix_evo.cli.main(["reproduce", str(run), "--into", str(tmp_path / "again")]) == 1
  assert not (tmp_path / "pwned").exists()
  assert "optix-evo bench: error:" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--task", "evil_h5:make"], ["--tasks", "digits_mlp,evil_h5:make"],
                                    ["--set", "task=evil_h5:make"], ["--set", "holdout_tasks=('iris_mlp', 'evil_h5:f')"],
                                    ["--set", "pool_task=evil_h5:make"], ["--set", "tasks=evil_h5:make"]])
def test_reproduce_never_imports_code_named_by_a_received_file_without_the_flag(tmp_path, fake_cli, capsys, option,
                                                                                 monkeypatch):
  (tmp_path / "evil_h5.py").write_text(f"import os\nos.mkdir({str(tmp_path / 'pwned')!r})\ndef make(): pass\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  run = _crafted(tmp_path, ["fake-train", *option, "--out", "x"])
  assert optix_evo.cli.main(["reproduce", str(run), "--into", str(tmp_path / "into")]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "whose module would be imported and run; pass --allow-imports" in err
  assert not CALLS and not (tmp_path / "pwned").exists() and "evil_h5" not in __import__("sys").modules
  rebuilt = reproduction.rebuild_argv(["fake-train", *option, "--out", "x"], run, tmp_path / "into",
                                      allow_imports=True)
  assert rebuilt[1].startswith(option[0])  # with the flag, the task is passed on (the command imports it)


def test_built_in_task_names_need_no_flag(tmp_path, fake_cli):
  run = _crafted(tmp_path, [])
  argv = ["fake-train", "--task", "digits_mlp", "--tasks", "digits_mlp,iris_mlp", "--set", "holdout_tasks=iris_mlp",
          "--out", "x"]
  assert reproduction.rebuild_argv(argv, run, tmp_path / "i")[1:4] == [
      "--task=digits_mlp", "--tasks=digits_mlp,iris_mlp", "--set=holdout_tasks=iris_mlp"]
