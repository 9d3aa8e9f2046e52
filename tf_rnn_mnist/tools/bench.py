"""Training throughput of this trainer against what a user would pick instead, in one run.

    python -m tf_rnn_mnist bench --variants=all [--window=100 --rounds=5] [--json=P] [--plot=P]

Sides, each in its own process (bench_gate.py), per variant:
- port: this trainer's compiled loop (`Trainer.train_loop`, one call per window);
- legacy: the tutorial's own program (legacy_tf1's TF1 graph, or legacy_torch for torch_lstm), its
  `sess.run(train_op)` / PyTorch step timed as each update;
- torch: PyTorch's own nn.LSTM / nn.GRU of the variant's sizes, batch and learning rate
  (bench_sides.py): what a PyTorch user would write, a speed reference;
- fit: the same model (this project's layers) under `compile` + `model.fit`: the port's loop
  and optimizer against Keras's;
- fit_builtin: the same architecture from Keras's built-in layers (keras.layers.LSTM / GRU)
  under `compile` + `model.fit`: what a Keras user would write;
- jax: fit_builtin's model and `model.fit` on Keras's JAX backend (jit-compiled by XLA; a
  process without TensorFlow): what a Keras 3 user may pick instead of TensorFlow.
Noise: after --warmup_windows per side (tracing, caches), the sides take turns window by
window, A B C D E, then B C D E A, ...: a burst of load lands on every side alike. The table gives
each side's median examples/s over the rounds and the spread (min-max); ratios are taken per
round (the port's window against each other side's window of the same round). Start-up is
timed from process start to the side's first update (imports, data, graph or model) and to the
end of its first window (+ tracing and `window` updates), each side started while the others
wait idle.
GFLOP/s counts the recurrent layers' matmuls (forward x3 for training); the peak is measured:
the best float32 GEMM rate TensorFlow reaches on the device.
"""

import importlib.util
import os
import platform
import statistics
import sys
import time

from absl import flags

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.tools import bench_stats
from tf_rnn_mnist.tools.bench_report import check_plot_format, plot, table
from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist import variants
from tf_rnn_mnist.plumbing.bench_gate import Side
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.errors import ConfigError, Interrupted, OutputError

TIME_STEPS, INPUT_SIZE = 28, 28


def recurrent_flops_per_example(variant, training=True):
  """Multiply-adds x2 of the recurrent layers: per layer and time step, [x, h] @ W with
  (input + units) x gates*units weights. Training counts forward + backward as 3x forward."""
  flops, input_size = 0, INPUT_SIZE
  for _ in range(variant.layers):
    flops += 2 * TIME_STEPS * (input_size + variant.units) * variant.cell.gates * variant.units
    input_size = variant.units
  return 3 * flops if training else flops


def device_name():
  import tensorflow as tf
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"{len(gpus)} x {details.get('device_name', 'GPU')}"
  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return f"CPU: {model}, {os.cpu_count()} logical cores"


def measured_peak_gflops(repeats=5):
  """The best float32 GEMM rate TensorFlow reaches here: an achievable, measured peak."""
  import tensorflow as tf
  n = 8192 if tf.config.list_physical_devices("GPU") else 2048
  a = tf.random.stateless_uniform((n, n), seed=(1, 2))
  b = tf.random.stateless_uniform((n, n), seed=(3, 4))
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
  matmul().numpy()
  best = min(_seconds(lambda: matmul().numpy()) for _ in range(repeats))
  return 2 * n ** 3 / best / 1e9


def _seconds(fn):
  tic = time.perf_counter()
  fn()
  return time.perf_counter() - tic


SIDES = ("port", "legacy", "torch", "fit", "fit_builtin", "jax")


def side_command(side, variant, window, updates, data_args, mixed_precision=False):
  """The command line of one side's process."""
  if side == "legacy":
    return variant.legacy.command(f"--train_steps={updates}", "--seed=0",
                                  f"--bench_window={window}", *data_args)
  name = "keras" if side == "port" else side
  extra = ["--mixed_precision"] if mixed_precision and side == "port" else []
  return [sys.executable, "-m", "tf_rnn_mnist.tools.bench_sides", f"--side={name}",
          f"--variant={variant.name}", f"--window={window}", f"--updates={updates}",
          *extra, *data_args]


def spread(values):
  return {"median": statistics.median(values), "min": min(values), "max": max(values),
          "per_round": list(values)}


def _round_ratios(seconds):
  """{side: [port's rate / the side's rate, per counted round]}: within a round both ran the
  same window of updates of the same batch, so the ratio of rates is the ratio of seconds."""
  if "port" not in seconds:
    return {}
  return {name: [o / p for p, o in zip(seconds["port"], values)]
          for name, values in seconds.items() if name != "port"}


def alternate(sides, rounds, warmup_windows, log=lambda *_: None, max_rounds=None,
              precision=0.05, contention=bench_stats.Contention, targets=None):
  """Warm-up windows first, then rounds of one window per side, the order rotated each round
  so that no side always follows the same one. Returns (seconds, shares, repeated):
  {side: [seconds per counted round]}, {side: [other processes' share of the CPU during its
  window, per counted round]}, and the rounds repeated because a window was contended.

  At least `rounds` rounds are counted; then more, up to `max_rounds` run in all, until every
  ratio of the port to another side is known to +-`precision` (bench_stats.precise_enough)
  and every ratio with a target ({side: target}) is decided, met or missed (a ratio near its
  target needs a narrower interval than `precision`: 1.04x [1.00-1.07] is precise to 4% and
  still says nothing against 1.0x). A
  round in which another process used more than bench_stats.CONTENTION_LIMIT of the machine
  during a window is repeated, while the budget still allows `rounds` counted ones."""
  max_rounds = max(max_rounds or rounds, rounds)
  for side in sides:
    for _ in range(warmup_windows):
      side.window()
  seconds = {side.name: [] for side in sides}
  shares = {side.name: [] for side in sides}
  repeated, ran = [], 0
  while ran < max_rounds:
    order = sides[ran % len(sides):] + sides[:ran % len(sides)]
    got, busy = {}, {}
    for side in order:
      with contention(getattr(getattr(side, "process", None), "pid", None)) as probe:
        got[side.name] = side.window()
      busy[side.name] = probe.share
    ran += 1
    counted = len(next(iter(seconds.values()))) if seconds else 0
    contended = {n: b for n, b in busy.items()
                 if b is not None and b > bench_stats.CONTENTION_LIMIT}
    if contended and max_rounds - ran >= rounds - counted:
      repeated.append({"round": ran, "contention": busy})
      log(f"  round {ran}: repeated, other processes used " + ", ".join(
          f"{b:.0%} during {n}'s window" for n, b in contended.items()))
      continue
    for name in got:
      seconds[name].append(got[name])
      shares[name].append(busy[name])
    log(f"  round {ran} ({counted + 1} counted): " + ", ".join(
        f"{name} {s[-1]:.2f} s" for name, s in seconds.items()))
    ratios = _round_ratios(seconds)
    if (counted + 1 >= rounds and bench_stats.precise_enough(ratios, precision)
        and bench_stats.decided(ratios, targets or {})):
      break
  return seconds, shares, repeated


# The sides that need a package the project installs only with an extra: (module, why not).
_MISSING_PACKAGE = {"torch": ("torch", "PyTorch is not installed (pip install -e .[torch])"),
                    "jax": ("jax", "JAX is not installed (pip install -e .[jax])")}


def bench_variant(variant, window, rounds, warmup_windows, sides, data_args, peak, device,
                  mixed_precision=False, log=print, max_rounds=None, precision=0.05,
                  machine=None):
  max_rounds = max(max_rounds or rounds, rounds)
  measured_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # when this variant began
  updates = window * (warmup_windows + max_rounds) + 1
  started, errors, children = [], {}, []
  try:
    with cli.forwarding_signals(lambda: children):  # a stop reaches every side, then here
      for name in sides:  # one at a time: each start is timed while the others wait
        missing = _MISSING_PACKAGE.get(name)
        if missing and importlib.util.find_spec(missing[0]) is None:
          errors[name] = missing[1]
          continue
        try:
          started.append(Side(name, side_command(name, variant, window, updates, data_args,
                                                 mixed_precision), children))
        except RuntimeError as e:
          errors[name] = str(e)
      targets = {name: bench_stats.target_for(variant.name, name) for name in sides
                 if bench_stats.target_for(variant.name, name) is not None}
      seconds, shares, repeated = alternate(started, rounds, warmup_windows, log, max_rounds,
                                            precision, targets=targets)
  finally:
    for side in started:
      side.close()
  batch = variant.batch_size
  rates = {name: [window * batch / s for s in values] for name, values in seconds.items()}
  flops = recurrent_flops_per_example(variant)
  row = {
      "variant": variant.name, "measured_utc": measured_utc, "device": device,
      "batch_size": batch,
      "framework_of_legacy": variant.legacy.framework,
      "examples_per_second": {name: spread(r) for name, r in rates.items()},
      "ratio_of_port_to": {name: _ratio_summary(variant, name, ratios)
                           for name, ratios in _round_ratios(seconds).items()},
      # other processes' share of the machine's CPU during each side's window, per round
      "contention": shares, "rounds_repeated_for_contention": repeated,
      "machine": machine or bench_stats.machine(),
      # process start -> its first update starts (interpreter, imports, data, model), and
      # -> the end of its first window of `window` updates (tracing included)
      "seconds_to_first_update": {s.name: s.to_ready for s in started},
      "seconds_to_first_window": {s.name: s.to_first_window for s in started},
      "recurrent_gflop_per_example": flops / 1e9,
      "port_recurrent_gflops": (statistics.median(rates["port"]) * flops / 1e9
                                if "port" in rates else None),
      "peak_gflops": peak,
      "timing": {"window_updates": window, "rounds": len(next(iter(seconds.values()), [])),
                 "min_rounds": rounds, "max_rounds": max_rounds, "precision": precision,
                 "warmup_windows": warmup_windows,
                 "order": "rotating, one window per side per round",
                 "statistic": "median; ratios: geometric mean, 95% Student-t interval"},
      "mixed_precision": mixed_precision,
      "versions": results_io.versions("tensorflow", "keras", "numpy", "torch"),
  }
  if errors:
    row["errors"] = errors
  return row


def _ratio_summary(variant, name, ratios):
  centre, low, high = bench_stats.ratio_interval(ratios)
  target = bench_stats.target_for(variant.name, name)
  summary = {**spread(ratios), "geometric_mean": centre, "ci95": [low, high]}
  if target is not None:
    summary.update(target=target, verdict=bench_stats.verdict(ratios, target))
  return summary


def bench(names, window, rounds, warmup_windows, sides, data, json_path=None, plot_path=None,
          mixed_precision=False, log=print, max_rounds=None, precision=0.05):
  outputs.check_distinct({"json": json_path, "plot": plot_path})
  for flag, path in (("json", json_path), ("plot", plot_path)):
    if path:
      outputs.check_writable_file(flag, path)
  if plot_path:
    check_plot_format(plot_path)
  unknown = [s for s in sides if s not in SIDES]
  if unknown or not sides:
    raise ConfigError(f"--sides={','.join(sides)}: each must be one of {', '.join(SIDES)}.")
  from tf_rnn_mnist.training import distribute  # TensorFlow: once the flags hold
  distribute.check_mixed_precision(mixed_precision)
  data.load()  # fetched and checked once, before any side starts
  device, peak, machine = device_name(), measured_peak_gflops(), bench_stats.machine()
  log(f"{device} ({machine['vendor']}; {', '.join(machine['isa'])}); measured float32 GEMM "
      f"peak {peak:.0f} GFLOP/s; load average {os.getloadavg()[0]:.2f}; {warmup_windows} "
      f"warm-up windows, then {rounds} to {max(max_rounds or rounds, rounds)} rounds of one "
      f"{window}-update window per side, until each ratio is known to +-{precision:.0%} and "
      f"every target is met or missed.")
  rows = []
  for name in names:
    log(f"{name}:")
    try:
      rows.append(bench_variant(variants.get_variant(name), window, rounds, warmup_windows,
                                sides, data.args(), peak, device, mixed_precision, log,
                                max_rounds, precision, machine))
    except Interrupted as e:  # every side got the signal and has ended
      kept = "nothing was measured to keep"
      if rows and json_path:
        results_io.write_json_atomically(json_path, rows)
        kept = f"the {len(rows)} finished variants are in {json_path}"
      elif rows:
        log(table(rows))
        kept = f"the {len(rows)} finished variants are in the table above"
      raise Interrupted(e.signum, f"{e} The benchmark of {name} was stopped; {kept}.") from None
  log(f"load average at the end {os.getloadavg()[0]:.2f}")
  log(table(rows))
  _write_outputs(rows, json_path, plot_path)
  return rows


def _write_outputs(rows, json_path, plot_path):
  """The JSON and the plot: one that cannot be written does not keep the other from being
  written; the error names both."""
  failures, written = [], []
  if json_path:
    try:
      results_io.write_json_atomically(json_path, rows)
      written.append(f"the results in {json_path}")
    except OutputError as e:
      failures.append(str(e))
  if plot_path:
    try:
      with atomic.staged_path(plot_path, os.path.splitext(plot_path)[1]) as staged:
        plot(rows, staged)
      written.append(f"the plot in {plot_path}")
    except OSError as e:
      failures.append(f"Could not write --plot={plot_path} ({e}).")
  if failures:
    raise OutputError(" ".join(failures) + " The table is above" + (
        f"; written: {'; '.join(written)}." if written else "."))


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_string("variants", "all", "all, or a comma-separated list of variants.")
  flags.DEFINE_list("sides", list(SIDES), "Which sides to run: port (this trainer), legacy "
                    "(the tutorial's TF1 graph or PyTorch script), torch (PyTorch's own nn.LSTM/GRU)"
                    ", fit (Keras model.fit, the same model), fit_builtin (model.fit, Keras's "
                    "built-in layers), jax (fit_builtin on Keras's JAX backend).")
  flags.DEFINE_integer("window", 100, "Updates per timed window (20-update windows of the "
                       "small variants lasted 0.05-0.3 s and spread by up to 1.5x).",
                       lower_bound=1)
  flags.DEFINE_integer("rounds", 5, "At least this many rounds of one window per side are "
                       "counted; medians, spreads and intervals over them.", lower_bound=1)
  flags.DEFINE_integer("max_rounds", 20, "Then more rounds, up to this many in all, until "
                       "every ratio is known to --precision and every target is met or "
                       "missed (rounds whose windows were contended are repeated within this "
                       "budget).", lower_bound=1)
  flags.DEFINE_float("precision", 0.05, "Stop (once every target is decided) when every "
                     "ratio's 95% interval is within this relative distance of its geometric "
                     "mean.", lower_bound=0.001)
  flags.DEFINE_integer("warmup_windows", 2, "Untimed windows per side first (tracing, caches).",
                       lower_bound=0)
  flags.DEFINE_bool("mixed_precision", False, "Benchmark the port with --mixed_precision (GPU).")
  flags.DEFINE_string("json", None, "Write the results (a list, one object per variant) here.")
  flags.DEFINE_string("plot", None, "Write a bar chart of examples/s per variant and side here.")
  data_flags.define_data_flags()


def main(argv):
  f = flags.FLAGS
  bench(variants.parse_names(f.variants), f.window, f.rounds, f.warmup_windows, f.sides,
        DataOptions.from_flags(f), f.json, f.plot, f.mixed_precision, max_rounds=f.max_rounds,
        precision=f.precision)


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
