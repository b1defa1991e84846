"""``optix-evo`` command line: a thin layer over library functions.

Each feature package that has commands holds a ``cli`` module with ``register(subparsers)``, which adds its
sub-commands and sets ``func`` (called with the parsed arguments, returning an exit code) on each.

Errors: bad input (:class:`~optix_evo.errors.InputError` and other ``ValueError``\\ s from validation), missing or
unreadable files, permissions, a file where a folder is expected, and a closed output pipe (``render ... | head``)
end the command with one line ``optix-evo <command>: error: ...`` on stderr and exit code 2, without a traceback;
Ctrl-C ends it with one line and exit code 130. Any other exception is a bug and keeps its traceback. ``--debug``
(before or after the command name) shows the traceback of every error.

Conventions every command follows (``tests/test_cli_conventions.py`` checks them over every sub-command):

* the results folder is ``--out DIR`` with ``--force``, added by :func:`optix_evo.runs.folder.add_out_argument`
  (``reproduce`` names it ``--into``), opened with :func:`optix_evo.runs.folder.open_run_folder` after validation;
* settings are overridden with ``--set KEY=VALUE`` (repeatable), split by :func:`parse_set`;
* counts have type :func:`positive_int`, seeds and indexes :func:`nonnegative_int`; no bare ``int``;
* ``run.json``'s argv is built by :func:`optix_evo.runs.manifest.command_argv`;
* the handler of command ``NAME`` is ``_cmd_NAME`` in its package's ``cli`` module.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Sequence

import optix_evo
from optix_evo.errors import InputError
from optix_evo.runs import folder as run_folder

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="optix-evo", description=optix_evo.__doc__.splitlines()[0])
  parser.add_argument("--version", action="version", version=f"optix-evo {optix_evo.__version__}")
  parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
  for package in sorted(m.name for m in pkgutil.iter_modules(optix_evo.__path__) if m.ispkg):
    if importlib.util.find_spec(f"optix_evo.{package}.cli") is not None:
      importlib.import_module(f"optix_evo.{package}.cli").register(subparsers)
  for sub in subparsers.choices.values():  # also accepted after the command name
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
  return parser


def _positive(convert, noun: str, name: str, low: int = 1):
  def parse(text: str):
    try:
      value = convert(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"expected a{' positive' if low else ' non-negative'} {noun}, got {text!r}") \
          from None
    if not (value > 0 if low else value >= 0) or not value < float("inf"):
      raise argparse.ArgumentTypeError(f"must be {'>= 0' if low == 0 else '> 0'}{'' if convert is int else ' and finite'}"
                                       f", got {text}")
    return value

  parse.__name__ = name
  parse.__doc__ = f"``argparse`` type: a {noun} {'>= 0' if low == 0 else '> 0'} (the message says what was given)."
  return parse


positive_int = _positive(int, "integer", "positive_int")
positive_float = _positive(float, "number", "positive_float")
nonnegative_int = _positive(int, "integer", "nonnegative_int", low=0)


def parse_set(items: Sequence[str], known: Sequence[str], *, what: str) -> dict[str, str]:
  """``--set KEY=VALUE`` items → ``{KEY: VALUE text}``, the one override style of every command.

  Args:
    items: the ``--set`` values, in order.
    known: the settings that may be set.
    what: what the settings configure, for the messages (e.g. ``"search"``).

  Raises:
    InputError: for an item without ``=``, an unknown setting (the message lists the known ones), or one given twice.

  Examples:
    >>> from optix_evo.cli import parse_set
    >>> print(parse_set(["steps=100", "seeds=2"], ["steps", "seeds"], what="bench"))
    {'steps': '100', 'seeds': '2'}
  """
  out: dict[str, str] = {}
  for item in items:
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep:
      raise InputError(f"--set expects KEY=VALUE, got {item!r}.")
    if name not in known:
      raise InputError(f"Unknown {what} setting {name!r}. Known settings: {', '.join(sorted(known))}.")
    if name in out:
      raise InputError(f"--set {name}= is given twice; give each setting once.")
    out[name] = text.strip()
  return out


def apply_set(args: argparse.Namespace, parser: argparse.ArgumentParser, names: Sequence[str], *, what: str) -> None:
  """Applies ``args.set`` (``--set KEY=VALUE`` items) to the options of ``parser`` named ``names`` (by ``dest``), each
  value converted and checked by the option's own type; then clears ``args.set`` (the values live in ``args``).

  Raises:
    InputError: as :func:`parse_set`; for a value the option's type refuses; or for a value that contradicts the
      option given as a flag.

  Examples:
    >>> import argparse
    >>> from optix_evo.cli import apply_set, positive_int
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--seeds", type=positive_int, default=None)
    >>> _ = parser.add_argument("--set", action="append", default=[])
    >>> args = parser.parse_args(["--set", "seeds=3"])
    >>> apply_set(args, parser, ["seeds"], what="bench")
    >>> print(args.seeds, args.set)
    3 []
  """
  actions = {a.dest: a for a in parser._actions}  # pylint: disable=protected-access
  for name, text in parse_set(args.set, names, what=what).items():
    action = actions[name]
    if action.nargs == 0:  # a flag: --set main_only=True
      if text not in ("True", "False", "true", "false", "1", "0"):
        raise InputError(f"--set {name}={text!r}: expected True or False.")
      value = text in ("True", "true", "1")
    else:
      try:
        value = action.type(text) if action.type is not None else text
      except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
        raise InputError(f"--set {name}={text!r}: {e}.") from None
    given = getattr(args, name)
    if given != action.default and given != value:
      raise InputError(f"{action.option_strings[0]} {given!r} contradicts --set {name}={value!r}; give one.")
    setattr(args, name, value)
  args.set = []


def describe_error(error: BaseException) -> str:
  """The one-line message the command line prints for a user error."""
  if isinstance(error, BrokenPipeError):
    return "the output was closed before everything was written (broken pipe)"
  if isinstance(error, OSError) and error.strerror:
    names = " -> ".join(os.fspath(f) for f in (error.filename, error.filename2) if f is not None)
    return f"{names}: {error.strerror}" if names else error.strerror
  message = " ".join(str(error).split()) or type(error).__name__
  if isinstance(error, ValueError) and not isinstance(error, InputError):  # from deeper down, maybe a bug
    message += " (--debug shows the traceback)"
  return message


def _silence_stdout() -> None:
  """After a broken pipe, point stdout at /dev/null so that Python's final flush does not fail again."""
  try:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
  except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests, notebooks)
    pass


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  args = build_parser().parse_args(argv)
  args.argv = argv  # what a results folder's run.json records, so `optix-evo reproduce` can re-run it
  held = run_folder.open_count()
  try:
    try:
      code = int(args.func(args) or 0)
    except BaseException:
      run_folder.close_run_folders(failed=True, keep=held)  # a failed start leaves its folder as it was
      raise
    run_folder.close_run_folders(keep=held)  # the command's results folders: unlocked
    sys.stdout.flush()  # a closed pipe (`| head`) fails here, inside the error handling, not at interpreter exit
    return code
  except KeyboardInterrupt as e:
    if args.debug:
      raise
    print(f"optix-evo {args.command}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
    return EXIT_INTERRUPTED
  except (ValueError, OSError) as e:  # bad input, files, permissions, pipes: one line, no traceback
    if isinstance(e, BrokenPipeError):
      _silence_stdout()
    if args.debug:
      raise
    print(f"optix-evo {args.command}: error: {describe_error(e)}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
  sys.exit(main())
