"""Training and evaluation throughput: the Keras trainer against the graphs it replaces.

    python -m tf_rnn_mnist.bench --variants=all [--steps=200] [--json=PATH]

For each variant, on this machine and in this one run:
- Keras: the trainer's own compiled loop (`Trainer.train_loop`, --steps_per_loop updates per
  call) on the variant's MNIST split, timed in windows of --steps/--windows updates after
  warm-up calls (tracing excluded); evaluation: the full test set through
  `Trainer.correct_per_example`.
- TF1 graph (legacy_tf1, its own process) or PyTorch (legacy_torch, torch_lstm): the legacy
  script run with --record_step_seconds; its first steps are dropped as warm-up and the rest cut
  into the same windows. A TF1 step is its `sess.run(train_op)` with the feed (the numpy
  next_batch before it is not counted, which favours TF1); a PyTorch step is forward, backward
  and optimizer step.
Throughput is the median over windows of examples/second. GFLOP/s counts the recurrent
layers' matmuls (forward x3 for training); the peak is *measured*: the best float32 GEMM rate
TensorFlow reaches on the device (so it includes TF32 on GPUs that use it), not a datasheet.
"""

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

from absl import flags
import numpy as np

from tf_rnn_mnist import cli
from tf_rnn_mnist import results as results_io
from tf_rnn_mnist import variants
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.errors import ConfigError

TIME_STEPS, INPUT_SIZE = 28, 28


@dataclasses.dataclass(frozen=True)
class Timing:
  """How many updates each side runs: warm-up, then `windows` timed windows of `window`."""
  warmup: int
  window: int
  windows: int

  @property
  def total(self):
    return self.warmup + self.window * self.windows


def make_timing(steps, windows):
  if steps < windows or windows < 1:
    raise ConfigError(f"--steps={steps} must be at least --windows={windows} (>= 1).")
  window = steps // windows
  return Timing(warmup=max(2 * window, 20), window=window, windows=windows)


def recurrent_flops_per_example(variant, training=True):
  """Multiply-adds x2 of the recurrent layers: per layer and time step, [x, h] @ W with
  (input + units) x gates*units weights. Training counts forward + backward as 3x forward."""
  flops, input_size = 0, INPUT_SIZE
  for _ in range(variant.layers):
    flops += 2 * TIME_STEPS * (input_size + variant.units) * variant.cell.gates * variant.units
    input_size = variant.units
  return 3 * flops if training else flops


def windowed_throughput(step_seconds, batch_size, timing):
  """Median examples/s over the timed windows of a per-step timing list."""
  timed = np.asarray(step_seconds[timing.warmup:timing.total], dtype=np.float64)
  if len(timed) < timing.window * timing.windows:
    raise ConfigError(f"only {len(step_seconds)} step timings, {timing.total} needed.")
  windows = timed.reshape(timing.windows, timing.window).sum(axis=1)
  return statistics.median(timing.window * batch_size / windows)


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


def keras_throughput(variant, mnist, timing, steps_per_loop, mixed_precision=False):
  """(training examples/s, evaluation examples/s) of the Keras trainer."""
  import tensorflow as tf
  from tf_rnn_mnist import distribute
  from tf_rnn_mnist.plan import TrainConfig, plan_run
  from tf_rnn_mnist.trainer import Trainer
  config = TrainConfig(variant=variant.name, train_steps=timing.total, eval_every=0,
                       progress=False, mixed_precision=mixed_precision)
  data = variant.data_split.datasets(mnist)
  plan = plan_run(config, len(data.train_images))
  trainer = Trainer(plan, distribute.make_strategy("auto"), data, plan.index_batches(seed=0),
                    mixed_precision=mixed_precision)

  def updates(n):
    while n:
      chunk = min(n, steps_per_loop)
      finite, _ = trainer.train_loop(tf.constant(chunk))
      if int(finite) != chunk:
        raise ConfigError(f"{variant.name}: the loss became non-finite while benchmarking.")
      n -= chunk

  updates(timing.warmup)
  seconds = [_seconds(lambda: updates(timing.window)) for _ in range(timing.windows)]
  train_rate = statistics.median(timing.window * plan.batch_size / np.asarray(seconds))
  num_test = len(data.test_images)
  trainer.correct_per_example(num_test)  # warm-up (tracing)
  eval_rate = statistics.median(num_test / _seconds(lambda: trainer.correct_per_example(num_test))
                                for _ in range(3))
  return train_rate, eval_rate


def legacy_throughput(variant, timing, data_args):
  """(training examples/s, evaluation examples/s, framework) of the variant's legacy script,
  run in its own process."""
  with tempfile.TemporaryDirectory() as scratch:
    results_path = os.path.join(scratch, "results.json")
    done = subprocess.run(
        variant.legacy.command(f"--train_steps={timing.total}", "--seed=0",
                               "--record_step_seconds", f"--results_json={results_path}",
                               *data_args),
        capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(results_path):
      tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
      raise ConfigError(f"{variant.legacy.module} failed (exit {done.returncode}): {tail[0]}")
    with open(results_path) as f:
      results = json.load(f)
  return (windowed_throughput(results["step_seconds"], results["batch_size"], timing),
          results.get("eval_examples_per_second"), results["framework"])


def bench_variant(variant, mnist, timing, data_args, steps_per_loop, peak, device,
                  mixed_precision=False):
  keras_train, keras_eval = keras_throughput(variant, mnist, timing, steps_per_loop,
                                             mixed_precision)
  side = variant.legacy.side
  try:
    legacy_train, legacy_eval, _ = legacy_throughput(variant, timing, data_args)
    legacy_error = None
  except ConfigError as e:  # e.g. PyTorch not installed: report Keras alone
    legacy_train = legacy_eval = None
    legacy_error = str(e)
  flops = recurrent_flops_per_example(variant)
  row = {
      "variant": variant.name,
      "device": device,
      "keras_examples_per_second": keras_train,
      f"{side}_examples_per_second": legacy_train,
      f"ratio_vs_{side}": keras_train / legacy_train if legacy_train else None,
      "keras_eval_examples_per_second": keras_eval,
      f"{side}_eval_examples_per_second": legacy_eval,
      "batch_size": variant.batch_size,
      "recurrent_gflop_per_example": flops / 1e9,
      "keras_recurrent_gflops": keras_train * flops / 1e9,
      f"{side}_recurrent_gflops": legacy_train * flops / 1e9 if legacy_train else None,
      "peak_gflops": peak,
      "keras_percent_of_peak": 100 * keras_train * flops / 1e9 / peak,
      "mixed_precision": mixed_precision,
      "timing": {"warmup_steps": timing.warmup, "window_steps": timing.window,
                 "windows": timing.windows, "statistic": "median"},
      "versions": results_io.versions("tensorflow", "keras", "numpy", "torch"),
  }
  if legacy_error:
    row[f"{side}_error"] = legacy_error
  return row


def _number(value, spec):
  return "n/a" if value is None else format(value, spec)


def table(rows):
  header = ("| variant | Keras ex/s | TF1 / torch ex/s | ratio | Keras eval ex/s | "
            "v1 eval ex/s | Keras GFLOP/s (% of peak) |")
  lines = [header, "|---|---|---|---|---|---|---|"]
  for r in rows:
    side = "torch" if "torch_examples_per_second" in r else "tf1"
    lines.append(
        f"| {r['variant']} | {r['keras_examples_per_second']:,.0f} | "
        f"{_number(r[f'{side}_examples_per_second'], ',.0f')} ({side}) | "
        f"{_number(r[f'ratio_vs_{side}'], '.2f')}x | "
        f"{r['keras_eval_examples_per_second']:,.0f} | "
        f"{_number(r[f'{side}_eval_examples_per_second'], ',.0f')} | "
        f"{r['keras_recurrent_gflops']:.1f} ({r['keras_percent_of_peak']:.0f}%) |")
  return "\n".join(lines)


def bench(names, steps, windows, steps_per_loop, data, json_path=None, mixed_precision=False,
          log=print):
  from tf_rnn_mnist import distribute
  timing = make_timing(steps, windows)
  if steps_per_loop < 1:  # a zero would loop forever
    raise ConfigError(f"--steps_per_loop must be a positive integer, got {steps_per_loop}.")
  if json_path:
    cli.check_writable_file("json", json_path)
  distribute.check_mixed_precision(mixed_precision)
  mnist = data.load()
  device, peak = device_name(), measured_peak_gflops()
  log(f"{device}; measured float32 GEMM peak {peak:.0f} GFLOP/s; {timing.warmup} warm-up "
      f"steps, then {timing.windows} windows of {timing.window} steps per side.")
  rows = []
  for name in names:
    rows.append(bench_variant(variants.get_variant(name), mnist, timing, data.args(),
                              steps_per_loop, peak, device, mixed_precision))
    r = rows[-1]
    side = "torch" if "torch_examples_per_second" in r else "tf1"
    log(f"{name}: Keras {r['keras_examples_per_second']:,.0f} ex/s, {side} "
        f"{_number(r[f'{side}_examples_per_second'], ',.0f')} ex/s "
        f"({_number(r[f'ratio_vs_{side}'], '.2f')}x)" + (
            f"; {side} failed: {r[f'{side}_error']}" if f"{side}_error" in r else ""))
  if json_path:
    results_io.write_json_atomically(json_path, rows)
  log(table(rows))
  return rows


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_string("variants", "all", "all, or a comma-separated list of variants.")
  flags.DEFINE_integer("steps", 200, "Timed updates per side and variant (after warm-up).",
                       lower_bound=1)
  flags.DEFINE_integer("windows", 5, "Timed windows the steps are cut into; the median counts.",
                       lower_bound=1)
  flags.DEFINE_integer("steps_per_loop", 100, "The Keras trainer's --steps_per_loop.",
                       lower_bound=1)
  flags.DEFINE_bool("mixed_precision", False, "Benchmark the Keras trainer with "
                    "--mixed_precision (GPU).")
  flags.DEFINE_string("json", None, "Write the results (a list, one object per variant) here.")
  data_flags.define_data_flags()


def main(argv):
  f = flags.FLAGS
  bench(variants.parse_names(f.variants), f.steps, f.windows, f.steps_per_loop,
        DataOptions.from_flags(f), f.json, f.mixed_precision)


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
