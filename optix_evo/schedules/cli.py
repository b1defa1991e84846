"""``optix-evo aldvi``: walk-forward evaluation of learning-rate strategies on one time series."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from optix_evo.cli import positive_float, positive_int
from optix_evo.data.timeseries import SERIES, read_csv_series, synthetic_series
from optix_evo.errors import InputError
from optix_evo.models.mlp import MLP
from optix_evo.models.recurrent import LSTM
from optix_evo.runs.folder import add_out_argument, atomic_write_text, open_run_folder
from optix_evo.runs.limits import check_memory
from optix_evo.schedules.walk_forward import MODES, STRATEGIES, make_strategy, make_walk_forward

_MODELS = {"mlp": lambda: MLP(hidden=(32,), outputs=1), "lstm": lambda: LSTM(hidden=16)}


def _csv_list(known):
  def parse(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
      raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {', '.join(known)}")
    return names

  return parse


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "aldvi", help="walk-forward evaluation of ALDVI and baseline LR strategies on a time series",
      description="Rolling-origin evaluation: train on the past window, forecast the next block, report MSE "
      "relative to the persistence forecast (mean ± std over seeds).")
  source = parser.add_mutually_exclusive_group()
  source.add_argument("--series", default="sine_mix", choices=sorted(SERIES), help="synthetic series")
  source.add_argument("--csv", help="CSV file holding the series (with --column)")
  parser.add_argument("--column", help="CSV column name or 0-based index")
  parser.add_argument("--dropna", action="store_true",
                      help="drop CSV rows whose value is missing, NaN or infinite (default: refuse the file)")
  parser.add_argument("--length", type=positive_int, default=1000, help="points of the synthetic series")
  parser.add_argument("--model", choices=sorted(_MODELS), default="mlp")
  parser.add_argument("--strategies", type=_csv_list(STRATEGIES), default=list(STRATEGIES),
                      help="comma-separated, from: " + ", ".join(STRATEGIES))
  parser.add_argument("--modes", type=_csv_list(MODES), default=list(MODES))
  parser.add_argument("--lr", type=positive_float, default=1e-2, help="peak/initial learning rate (Adam)")
  parser.add_argument("--lags", type=positive_int, default=16)
  parser.add_argument("--train-size", type=positive_int, default=256)
  parser.add_argument("--test-size", type=positive_int, default=64)
  parser.add_argument("--epochs", type=positive_int, default=8, help="epochs per window")
  parser.add_argument("--batch-size", type=positive_int, default=32)
  parser.add_argument("--seeds", type=positive_int, default=5)
  add_out_argument(parser, required=False, what="also write results.md and run.json into this folder")
  parser.set_defaults(func=_cmd_aldvi, parser=parser)


def _cmd_aldvi(args: argparse.Namespace) -> int:
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  model = _MODELS[args.model]()
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, args.lags)))
  check_memory(runs=args.seeds, parameters=int(sum(np.prod(x.shape) for x in jax.tree.leaves(shapes))),
               what=f"--seeds {args.seeds}")
  if args.csv:
    if args.column is None:
      raise InputError("--csv needs --column (a header name or a 0-based index).")
    csv = read_csv_series(args.csv, int(args.column) if args.column.isdigit() else args.column, dropna=args.dropna)
    series, name = csv.values, f"{args.csv}:{args.column}"
    if csv.dropped:
      print(f"--dropna: dropped {len(csv.dropped)} row(s) with missing or non-finite values (lines "
            f"{', '.join(map(str, csv.dropped[:10]))}{' ...' if len(csv.dropped) > 10 else ''}); "
            f"{len(series)} points left.")
  else:
    if args.dropna or args.column is not None:
      raise InputError("--column and --dropna apply to --csv files only.")
    series, name = synthetic_series(args.series, args.length), args.series
  needed = args.lags + args.train_size + args.test_size
  if len(series) < needed:  # the evaluator refuses it too, but only after the results folder is opened
    raise InputError(f"a series of {len(series)} points is too short for lags={args.lags} + train_size="
                     f"{args.train_size} + test_size={args.test_size} = {needed} points; use a longer series or "
                     "smaller --lags, --train-size, --test-size.")
  folder = open_run_folder(args.out, force=args.force, command="optix-evo aldvi") if args.out else None
  lines = [f"{name}: {len(series)} points, {args.model}, Adam lr={args.lr}, {args.seeds} seeds", "",
           "| strategy | mode | MSE ÷ persistence MSE | MSE |", "|---|---|---|---|"]
  print("\n".join(lines), flush=True)
  headline = {}
  for strategy in args.strategies:
    for mode in args.modes:
      evaluate = make_walk_forward(
          model, make_strategy(strategy, args.lr), length=len(series), lags=args.lags, train_size=args.train_size,
          test_size=args.test_size, epochs=args.epochs, batch_size=args.batch_size, mode=mode)
      result = evaluate(series, list(range(args.seeds)))
      mse = result.mse.mean(axis=1)
      relative = mse / result.naive_mse.mean()
      headline[f"{strategy}/{mode}/relative_mse"] = float(np.mean(relative))
      lines.append(f"| {strategy} | {mode} | {np.mean(relative):.3f} ± {np.std(relative):.3f} | "
                   f"{np.mean(mse):.4g} ± {np.std(mse):.2g} |")
      print(lines[-1], flush=True)
  if folder is not None:
    with folder:
      _write_results(args, series, lines, headline)
  return 0


def _write_results(args: argparse.Namespace, series: np.ndarray, lines: list[str], headline: dict[str, float]) -> None:
  """``results.md`` (the printed table) and the ``run.json`` manifest that ``optix-evo reproduce`` re-runs."""
  from optix_evo.runs.manifest import command_argv, fingerprint_arrays, write_manifest  # pylint: disable=import-outside-toplevel

  out = pathlib.Path(args.out)
  atomic_write_text(out / "results.md", "\n".join(["# optix-evo aldvi", "", *lines]) + "\n")
  config = {k: v for k, v in vars(args).items() if k not in ("func", "argv", "force", "debug", "parser")}
  write_manifest(out, argv=command_argv("aldvi", args, args.parser), config=config, seeds=list(range(args.seeds)),
                 data_fingerprint=fingerprint_arrays(series), headline=headline)
  print(f"Results: {out}/results.md, manifest {out}/run.json")
