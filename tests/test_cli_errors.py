"""The command line's error style: one line and exit 2 for user errors, 130 for Ctrl-C, tracebacks for bugs."""

import pytest

import optix_evo.cli
from optix_evo.errors import InputError


@pytest.fixture
def boom(monkeypatch):
  """A command ``boom`` that raises the exception it is given."""
  build = optix_evo.cli.build_parser
  errors = {
      "input": InputError("the --thing 'x' is not a thing; use one of a, b."),
      "value": ValueError("operands could not be broadcast\n  together with shapes (2,) (3,)"),
      "missing": FileNotFoundError(2, "No such file or directory", "data/x.csv"),
      "custom-missing": FileNotFoundError("CIFAR-10 files test_batch not found in /d; put them there."),
      "denied": PermissionError(13, "Permission denied", "/ro/run"),
      "rename": OSError(18, "Invalid cross-device link", "/a", None, "/b"),
      "pipe": BrokenPipeError(32, "Broken pipe"),
      "interrupt": KeyboardInterrupt(),
      "bug": KeyError("oops"),
  }

  def run(args):
    raise errors[args.what]

  def build_with_boom():
    parser = build()
    sub = next(a for a in parser._actions if a.dest == "command")
    cmd = sub.add_parser("boom")
    cmd.add_argument("what")
    cmd.add_argument("--debug", action="store_true", default=__import__("argparse").SUPPRESS)
    cmd.set_defaults(func=run)
    return parser

  monkeypatch.setattr(optix_evo.cli, "build_parser", build_with_boom)
  return errors


@pytest.mark.parametrize("what, code, message", [
    ("input", 2, "optix-evo boom: error: the --thing 'x' is not a thing; use one of a, b."),
    ("value", 2, "optix-evo boom: error: operands could not be broadcast together with shapes (2,) (3,) "
                 "(--debug shows the traceback)"),
    ("missing", 2, "optix-evo boom: error: data/x.csv: No such file or directory"),
    ("custom-missing", 2, "optix-evo boom: error: CIFAR-10 files test_batch not found in /d; put them there."),
    ("denied", 2, "optix-evo boom: error: /ro/run: Permission denied"),
    ("rename", 2, "optix-evo boom: error: /a -> /b: Invalid cross-device link"),
    ("pipe", 2, "optix-evo boom: error: the output was closed before everything was written (broken pipe)"),
    ("interrupt", 130, "optix-evo boom: interrupted"),
])
def test_user_errors_are_one_line(boom, capsys, what, code, message):
  assert optix_evo.cli.main(["boom", what]) == code
  captured = capsys.readouterr()
  assert captured.err == message + "\n" and captured.out == ""


@pytest.mark.parametrize("argv", [["--debug", "boom"], ["boom", "--debug"]])
@pytest.mark.parametrize("what", ["input", "missing", "interrupt"])
def test_debug_shows_the_traceback(boom, argv, what):
  with pytest.raises(type(boom[what])):
    optix_evo.cli.main([*argv, what])


def test_bugs_keep_their_traceback(boom):
  with pytest.raises(KeyError, match="oops"):
    optix_evo.cli.main(["boom", "bug"])


def test_every_command_accepts_debug():
  parser = optix_evo.cli.build_parser()
  commands = next(a for a in parser._actions if a.dest == "command").choices
  assert {"aldvi", "bench", "render", "reproduce", "search"} <= set(commands)
  for name, command in commands.items():
    assert "--debug" in {o for a in command._actions for o in a.option_strings}, name
