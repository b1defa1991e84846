"""One convention per thing, across every ``optix-evo`` sub-command (see ``optix_evo.cli``'s module docstring): the
results-folder option and --force from one helper, --set KEY=VALUE where there are settings, counts typed
positive_int (seeds and indexes nonnegative_int, no bare int), one handler naming scheme, and run.json's argv from
one builder (the parser travels with the arguments)."""

import argparse
import inspect

import pytest

import optix_evo.cli
from optix_evo.cli import build_parser, nonnegative_int, positive_float, positive_int
from optix_evo.runs.manifest import command_argv

PARSER = build_parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices
RESULTS_FOLDER = {"search": "--out", "transfer": "--out", "bench": "--out", "aldvi": "--out", "reproduce": "--into"}
SETTINGS = {"search", "transfer", "bench"}  # commands with settings to override
COUNTS = {"seeds", "steps", "max_steps", "top", "devices", "num_processes", "batch_size", "rank", "length", "lags",
          "train_size", "test_size", "epochs"}


def test_every_command_is_covered():
  assert set(COMMANDS) == {"aldvi", "bench", "render", "reproduce", "search", "transfer", "zoo"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_conventions(name):
  command = COMMANDS[name]
  actions = {a.dest: a for a in command._actions}
  # one handler naming scheme: _cmd_<command> in its package's cli module
  handler = command.get_default("func")
  assert handler.__name__ == f"_cmd_{name}" and handler.__module__.endswith(".cli"), handler
  # counts are positive_int, seeds and indexes nonnegative_int; no bare int anywhere
  for action in command._actions:
    assert action.type is not int, f"{name} {action.option_strings}: bare int"
    if action.dest in COUNTS:
      assert action.type is positive_int, f"{name} --{action.dest}: {action.type}"
    if action.dest in ("seed", "process_id"):
      assert action.type is nonnegative_int
    if action.type is float:
      pytest.fail(f"{name} {action.option_strings}: bare float (use positive_float or a checked type)")
  # the results folder: one helper (add_out_argument), with --force
  option = RESULTS_FOLDER.get(name)
  if option is None:
    assert "out" not in actions and "force" not in actions
  else:
    out = next(a for a in command._actions if option in a.option_strings)
    assert out.metavar == "DIR" and "one run at a time (a lock)" in out.help
    assert "what an earlier optix-evo run wrote there is deleted first" in actions["force"].help
  # one override style where there are settings
  if name in SETTINGS:
    assert isinstance(actions["set"], argparse._AppendAction) and actions["set"].metavar == "KEY=VALUE"
  # one argv builder for the manifests: the parser travels with the parsed arguments
  if option == "--out":
    assert command.get_default("parser") is command


@pytest.mark.parametrize("argv, recorded", [
    (["bench", "--seeds", "2", "--set", "steps=5", "--out", "o"], ["bench", "--seeds=2", "--steps=5", "--out=o"]),
    (["search", "--set", "particles=4", "--seed", "1", "--out", "o", "--force"],
     ["search", "--seed=1", "--set=particles=4", "--out=o"]),
    (["aldvi", "--seeds", "2", "--out", "o"], ["aldvi", "--seeds=2", "--out=o"]),
])
def test_the_manifest_argv_is_built_once_from_the_parsed_arguments(argv, recorded):
  args = PARSER.parse_args(argv)
  if argv[0] == "bench":
    optix_evo.cli.apply_set(args, args.parser, ["steps"], what="bench")
  assert command_argv(argv[0], args, args.parser) == recorded
  again = PARSER.parse_args(recorded)  # the recorded argv parses back to the same settings
  if argv[0] == "bench":
    assert (again.seeds, again.steps) == (args.seeds, args.steps)


def test_the_count_types_refuse_what_they_should():
  assert positive_int("3") == 3 and nonnegative_int("0") == 0 and positive_float("0.5") == 0.5
  for parse, bad in ((positive_int, "0"), (positive_int, "x"), (nonnegative_int, "-1"), (positive_float, "inf")):
    with pytest.raises(argparse.ArgumentTypeError):
      parse(bad)
  assert "positive_int" in inspect.getsource(optix_evo.cli)


@pytest.mark.parametrize("argv", [["zoo", "--seeds", "100000000"], ["aldvi", "--seeds", "100000000"],
                                  ["bench", "--tasks", "iris_mlp", "--main-only", "--seeds", "100000000"]])
def test_seeds_that_cannot_fit_in_memory_are_one_line_before_training(argv, tmp_path, one_error_line, monkeypatch):
  import optix_evo.bench.core  # pylint: disable=import-outside-toplevel
  import optix_evo.optimizers.cli  # pylint: disable=import-outside-toplevel
  import optix_evo.schedules.cli  # pylint: disable=import-outside-toplevel

  def trained(*args, **kwargs):
    raise AssertionError("training started")

  monkeypatch.setattr(optix_evo.optimizers.cli, "compare_zoo", trained)
  monkeypatch.setattr(optix_evo.schedules.cli, "make_walk_forward", trained)
  monkeypatch.setattr(optix_evo.bench.core, "run_cell", trained)
  out = ["--out", str(tmp_path / "o")] if argv[0] != "zoo" else []
  assert optix_evo.cli.main([*argv, *out]) == 2
  one_error_line(argv[0], "--seeds 100000000", "GiB are available; use fewer seeds")
  assert not (tmp_path / "o").exists()


def test_zoo_refuses_steps_above_the_limit(one_error_line):
  assert optix_evo.cli.main(["zoo", "--steps", "1000000000000"]) == 2
  one_error_line("zoo", "--steps 1000000000000 is above the limit of 1000000 steps per run; pass --max-steps")
