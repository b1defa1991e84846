"""``optix-evo aldvi``: walk-forward evaluation of learning-rate strategies on one time series."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from optix_evo.data.timeseries import SERIES, load_csv_column, synthetic_series
from optix_evo.models.mlp import MLP
from optix_evo.models.recurrent import LSTM
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
  parser.add_argument("--length", type=int, default=1000, help="points of the synthetic series")
  parser.add_argument("--model", choices=sorted(_MODELS), default="mlp")
  parser.add_argument("--strategies", type=_csv_list(STRATEGIES), default=list(STRATEGIES),
                      help="comma-separated, from: " + ", ".join(STRATEGIES))
  parser.add_argument("--modes", type=_csv_list(MODES), default=list(MODES))
  parser.add_argument("--lr", type=float, default=1e-2, help="peak/initial learning rate (Adam)")
  parser.add_argument("--lags", type=int, default=16)
  parser.add_argument("--train-size", type=int, default=256)
  parser.add_argument("--test-size", type=int, default=64)
  parser.add_argument("--epochs", type=int, default=8, help="epochs per window")
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--out", default=None, metavar="DIR",
                      help="also write results.md and run.json (for `optix-evo reproduce`) into this folder")
  parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
  if args.csv:
    if args.column is None:
      raise ValueError("--csv needs --column (a header name or a 0-based index).")
    series = load_csv_column(args.csv, int(args.column) if args.column.isdigit() else args.column)
    name = f"{args.csv}:{args.column}"
  else:
    series, name = synthetic_series(args.series, args.length), args.series
  if args.seeds < 1:
    raise ValueError(f"--seeds must be >= 1, got {args.seeds}.")
  model = _MODELS[args.model]()
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
  if args.out:
    _write_results(args, series, lines, headline)
  return 0


def _write_results(args: argparse.Namespace, series: np.ndarray, lines: list[str], headline: dict[str, float]) -> None:
  """``results.md`` (the printed table) and the ``run.json`` manifest that ``optix-evo reproduce`` re-runs."""
  from optix_evo.diagnostics.manifest import fingerprint_arrays, write_manifest  # pylint: disable=import-outside-toplevel

  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.md").write_text("\n".join(["# optix-evo aldvi", "", *lines]) + "\n")
  config = {k: v for k, v in vars(args).items() if k not in ("func", "argv")}
  argv = getattr(args, "argv", None) or ["aldvi", "--out", str(out)]
  write_manifest(out, argv=argv, config=config, seeds=list(range(args.seeds)),
                 data_fingerprint=fingerprint_arrays(series), headline=headline)
  print(f"Results: {out}/results.md, manifest {out}/run.json")
