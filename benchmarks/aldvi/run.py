"""ALDVI benchmark: walk-forward forecasting, classification, and the paper's Var(η) ∝ 1/√N claim.

    python -m benchmarks.aldvi.run --preset quick --out benchmarks/aldvi/results

Writes ``results.md`` (tables, mean ± std over seeds; seeds are vmapped), ``results.json`` (raw numbers),
``lr_trajectories.png`` and ``mse_per_window.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo import training
from optix_evo.data import load_dataset
from optix_evo.data.datasets import Dataset
from optix_evo.data.timeseries import SERIES, load_csv_column, synthetic_series
from optix_evo.models.mlp import MLP
from optix_evo.models.recurrent import LSTM
from optix_evo.schedules.aldvi import aldvi, current_lr
from optix_evo.schedules.walk_forward import STRATEGIES, make_strategy, make_walk_forward

PRESETS = {
    "quick": dict(
        lengths={name: 800 for name in SERIES}, seeds=5, epochs=8, lags=16, train_size=256, test_size=64,
        batch_size=32, lstm_strategies=("constant", "aldvi_trend"), cls_epochs=20, var_sizes=(100, 200, 400, 800),
        var_seeds=8, var_epochs=15,
    ),
    "full": dict(
        lengths={"sine_mix": 500, "ar2": 2000, "regime_switch": 5000, "random_walk": 20000}, seeds=8, epochs=15,
        lags=24, train_size=256, test_size=64, batch_size=32, lstm_strategies=STRATEGIES, cls_epochs=40,
        var_sizes=(75, 150, 300, 600, 1200), var_seeds=16, var_epochs=30,
    ),
}
LEARNING_RATE = 1e-2


def mean_std(values: np.ndarray, digits: int = 3) -> str:
  return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def walk_forward_section(cfg, series: dict[str, np.ndarray], log) -> tuple[list[str], dict]:
  """Relative MSE (forecast MSE / persistence MSE, averaged over windows) per model, strategy, mode and series."""
  seeds = list(range(cfg["seeds"]))
  models = {"MLP": (MLP(hidden=(32,), outputs=1), STRATEGIES), "LSTM": (LSTM(hidden=16), cfg["lstm_strategies"])}
  raw: dict = {}
  lines = []
  for model_name, (model, strategies) in models.items():
    lines += [f"\n### {model_name}: forecast MSE ÷ persistence MSE (lower is better; mean ± std over "
              f"{len(seeds)} seeds)\n",
              "| strategy | mode | " + " | ".join(f"{n} (N={len(s)})" for n, s in series.items()) + " |",
              "|---|---|" + "---|" * len(series)]
    for strategy_name in strategies:
      for mode in ("sequential", "refit"):
        cells = []
        evaluators = {}  # one compiled program per series length
        for series_name, values in series.items():
          t0 = time.time()
          if len(values) not in evaluators:
            evaluators[len(values)] = make_walk_forward(
                model, make_strategy(strategy_name, LEARNING_RATE), length=len(values), lags=cfg["lags"],
                train_size=cfg["train_size"], test_size=cfg["test_size"], epochs=cfg["epochs"],
                batch_size=cfg["batch_size"], mode=mode)
          result = evaluators[len(values)](values, seeds)
          relative = result.mse.mean(axis=1) / result.naive_mse.mean()
          raw[(model_name, strategy_name, mode, series_name)] = result
          cells.append(mean_std(relative))
          log(f"{model_name} {strategy_name} {mode} {series_name}: {mean_std(relative)} ({time.time() - t0:.1f}s)")
        lines.append(f"| {strategy_name} | {mode} | " + " | ".join(cells) + " |")
  return lines, raw


def sequential_vs_refit(raw: dict, series: dict) -> list[str]:
  lines = ["\n### Sequential vs refit: mean over windows of MSE(sequential) ÷ MSE(refit), same strategy and seed\n",
           "| model | strategy | " + " | ".join(series) + " |", "|---|---|" + "---|" * len(series)]
  keys = sorted({(m, s) for (m, s, _, _) in raw})
  for model_name, strategy_name in keys:
    cells = []
    for series_name in series:
      seq = raw[(model_name, strategy_name, "sequential", series_name)].mse
      ref = raw[(model_name, strategy_name, "refit", series_name)].mse
      cells.append(mean_std((seq / ref).mean(axis=1), 2))
    lines.append(f"| {model_name} | {strategy_name} | " + " | ".join(cells) + " |")
  return lines


def classification_section(cfg, log) -> tuple[list[str], dict]:
  """Test accuracy of an MLP trained with Adam at a fixed LR vs the ALDVI rules, seeds vmapped."""
  seeds = jnp.arange(cfg["seeds"])
  setups = {"fixed": None, "aldvi_paper": "paper", "aldvi_trend": "trend", "aldvi_phased": "phased"}
  raw = {}
  lines = [f"\n### Classification: MLP(64) test accuracy after {cfg['cls_epochs']} epochs, Adam lr={LEARNING_RATE} "
           f"(mean ± std over {cfg['seeds']} seeds)\n", "| data set | " + " | ".join(setups) + " |",
           "|---|" + "---|" * len(setups)]
  for dataset in ("digits", "breast_cancer"):
    split = load_dataset(dataset, seed=0)
    model = MLP(hidden=(64,), outputs=split.num_classes)
    loss_fn = training.classification_loss(model.apply)
    spe = training.steps_per_epoch(split.train.num_examples, 32)
    cells = []
    for name, rule in setups.items():
      def train(seed, rule=rule):
        params = model.init(jax.random.PRNGKey(seed), split.train.x[:1])
        extra = {"total_epochs": cfg["cls_epochs"]} if rule == "phased" else {}
        opt = optax.adam(LEARNING_RATE) if rule is None else aldvi(optax.adam, LEARNING_RATE, spe, rule, seed=seed,
                                                                     **extra)
        fit = training.fit(loss_fn, params, opt, split.train, jax.random.PRNGKey(seed + 1000),
                           steps=cfg["cls_epochs"] * spe, batch_size=32)
        return training.evaluate(loss_fn, fit.params, split.test)["accuracy"]

      accuracy = np.asarray(jax.jit(jax.vmap(train))(seeds))
      raw[(dataset, name)] = accuracy
      cells.append(mean_std(accuracy))
      log(f"{dataset} {name}: {mean_std(accuracy)}")
    lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
  return lines, raw


def variance_section(cfg, log) -> tuple[list[str], dict]:
  """Var(η) of the paper rule (α=1, σ=0) over seeds and epochs, for digits training sets of N examples."""
  split = load_dataset("digits", seed=0)
  model = MLP(hidden=(64,), outputs=10)
  loss_fn = training.classification_loss(model.apply)
  epochs = cfg["var_epochs"]
  seeds = jnp.arange(cfg["var_seeds"])
  rows = {}
  for n in cfg["var_sizes"]:
    data = Dataset(split.train.x[:n], split.train.y[:n])
    spe = training.steps_per_epoch(n, 25)

    def train(seed, spe=spe, data=data):
      params = model.init(jax.random.PRNGKey(seed), data.x[:1])
      opt = aldvi(optax.sgd, 0.05, spe, "paper", alpha=1.0, max_lr=100.0)

      def epoch(state, e):
        params, opt_state = state
        fit = training.fit(loss_fn, params, opt, data, jax.random.PRNGKey(seed + 1000), steps=spe, batch_size=25,
                           opt_state=opt_state, first_step=e * spe)
        return (fit.params, fit.opt_state), current_lr(fit.opt_state)

      _, lrs = jax.lax.scan(epoch, (params, opt.init(params)), jnp.arange(epochs))
      return lrs

    lrs = np.asarray(jax.jit(jax.vmap(train))(seeds))  # [seeds, epochs]
    final_var = lrs[:, -1].var()
    increments = np.diff(np.log(lrs), axis=1)
    rows[n] = dict(final_var=float(final_var), increment_var=float(increments.var(axis=1).mean()),
                   mean_final=float(lrs[:, -1].mean()), lrs=lrs.tolist())
    log(f"Var(eta) N={n}: final {final_var:.3g}, per-epoch log-increment {rows[n]['increment_var']:.3g}")
  sizes = np.asarray(list(rows), float)
  slope_final = np.polyfit(np.log(sizes), np.log([rows[n]["final_var"] for n in rows]), 1)[0]
  slope_inc = np.polyfit(np.log(sizes), np.log([rows[n]["increment_var"] for n in rows]), 1)[0]
  lines = [f"\n### Var(η) vs training-set size N (paper rule α=1, σ=0, SGD η₀=0.05, digits, {len(seeds)} seeds, "
           f"{epochs} epochs, batch 25)\n",
           "| N | mean final η | Var over seeds of final η | mean over seeds of Var of per-epoch Δlog η |",
           "|---|---|---|---|"]
  lines += [f"| {n} | {r['mean_final']:.4f} | {r['final_var']:.3g} | {r['increment_var']:.3g} |" for n, r in rows.items()]
  lines.append(f"\nLog-log slope vs N: {slope_final:.2f} (final η across seeds), {slope_inc:.2f} (per-epoch "
               "increments); the paper's Var(η) ∝ 1/√N predicts −0.5.")
  return lines, {"rows": rows, "slope_final": slope_final, "slope_increments": slope_inc}


def plots(raw: dict, series: dict, out: Path, cfg) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  name = "regime_switch" if "regime_switch" in series else next(iter(series))
  fig, ax = plt.subplots(figsize=(6.5, 3.2), dpi=80)
  for strategy_name in STRATEGIES:
    lr = raw[("MLP", strategy_name, "sequential", name)].lr[0].reshape(-1)
    ax.plot(np.arange(1, len(lr) + 1), lr, label=strategy_name, lw=1.2)
  ax.set(yscale="log", xlabel="epoch (all windows, sequential mode, seed 0)", ylabel="learning rate",
         title=f"LR trajectories, MLP on {name}")
  ax.legend(fontsize=7, ncol=2)
  fig.tight_layout()
  fig.savefig(out / "lr_trajectories.png")
  plt.close(fig)

  fig, ax = plt.subplots(figsize=(6.5, 3.2), dpi=80)
  naive = raw[("MLP", "constant", "sequential", name)].naive_mse
  for strategy_name in ("constant", "cosine", "plateau", "aldvi_trend", "aldvi_phased"):
    for mode, style in (("sequential", "-"), ("refit", ":")):
      mse = raw[("MLP", strategy_name, mode, name)].mse.mean(axis=0)
      ax.plot(mse / naive, style, label=f"{strategy_name} ({mode})", lw=1.2)
  ax.set(xlabel="walk-forward window", ylabel="MSE ÷ persistence MSE", title=f"MSE per window, MLP on {name}")
  ax.legend(fontsize=6, ncol=2)
  fig.tight_layout()
  fig.savefig(out / "mse_per_window.png")
  plt.close(fig)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
  parser.add_argument("--out", type=Path, default=Path("benchmarks/aldvi/results"))
  parser.add_argument("--csv", type=Path, help="also evaluate one column of this CSV file")
  parser.add_argument("--column", default=None, help="CSV column name or 0-based index (with --csv)")
  args = parser.parse_args(argv)
  cfg = PRESETS[args.preset]
  args.out.mkdir(parents=True, exist_ok=True)
  start = time.time()
  log = lambda msg: print(f"[{time.time() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

  series = {name: synthetic_series(name, length, seed=0) for name, length in cfg["lengths"].items()}
  if args.csv is not None:
    if args.column is None:
      parser.error("--csv needs --column")
    column = int(args.column) if args.column.isdigit() else args.column
    series[f"csv:{column}"] = load_csv_column(args.csv, column)

  wf_lines, raw = walk_forward_section(cfg, series, log)
  svr_lines = sequential_vs_refit(raw, series)
  cls_lines, cls_raw = classification_section(cfg, log)
  var_lines, var_raw = variance_section(cfg, log)
  plots(raw, series, args.out, cfg)

  header = [
      f"# ALDVI benchmark ({args.preset} preset)\n",
      f"Command: `python -m benchmarks.aldvi.run --preset {args.preset} --out {args.out}`; "
      f"{time.time() - start:.0f} s wall, {time.process_time():.0f} s CPU, on {jax.device_count()}× "
      f"{jax.devices()[0].platform}.\n",
      f"Walk-forward: lagged windows of {cfg['lags']} points, rolling training window of {cfg['train_size']} examples, "
      f"forecast blocks of {cfg['test_size']} (one step ahead), {cfg['epochs']} epochs per window, batch "
      f"{cfg['batch_size']}, Adam with peak/initial LR {LEARNING_RATE}; each window standardised with its training "
      "statistics. Persistence = predict the last observed value.",
  ]
  text = "\n".join(header + wf_lines + svr_lines + cls_lines + var_lines) + "\n"
  (args.out / "results.md").write_text(text)
  summary = {
      "walk_forward": {"/".join(k): {"mse": v.mse.tolist(), "naive_mse": v.naive_mse.tolist()} for k, v in raw.items()},
      "classification": {"/".join(k): v.tolist() for k, v in cls_raw.items()},
      "variance": {"slope_final": var_raw["slope_final"], "slope_increments": var_raw["slope_increments"],
                   "rows": {str(n): {k: v for k, v in r.items() if k != "lrs"} for n, r in var_raw["rows"].items()}},
  }
  (args.out / "results.json").write_text(json.dumps(summary))
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
