"""The trainer's multilayer update with and without the wavefront (wavefront.py), A/B.

    python scripts/wavefront_trainer_ab.py [--rounds=10] [--window=10]

Two trainers as `train` builds them (bench_sides.keras_trainer: the same model, data and
batches), one with its wavefront switched off; windows of updates alternating between them
in one process. Prints each side's median seconds per update and the ratio (without / with)
per round with its geometric mean and 95% interval (bench_stats.ratio_interval). A measurement
for docs/benchmarks.md, not part of the trainer.
"""

import argparse
import time

import tensorflow as tf

from tf_rnn_mnist import variants
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.tools import bench_stats
from tf_rnn_mnist.tools.bench_sides import keras_trainer


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--window", type=int, default=10)
  args = parser.parse_args()
  variant = variants.get_variant("multilayer")
  mnist = DataOptions().load()
  updates = args.window * (args.rounds + 1) + 1
  sides = {"wavefront": keras_trainer(variant, mnist, updates),
           "stacked": keras_trainer(variant, mnist, updates)}
  sides["stacked"].wavefront = False
  assert sides["wavefront"].wavefront, "the wavefront does not apply on this machine"
  window, seconds = tf.constant(args.window), {name: [] for name in sides}
  for k in range(args.rounds + 1):  # round 0 traces and warms up
    for name in (list(sides) if k % 2 else list(sides)[::-1]):
      tic = time.perf_counter()
      sides[name].train_loop(window)[1].numpy()
      if k:
        seconds[name].append((time.perf_counter() - tic) / args.window)
  for name, values in seconds.items():
    print(f"{name}: {sorted(values)[len(values) // 2] * 1e3:.1f} ms per update (median)")
  ratios = [s / w for s, w in zip(seconds["stacked"], seconds["wavefront"])]
  centre, low, high = bench_stats.ratio_interval(ratios)
  print(f"stacked / wavefront: {centre:.3f}x [{low:.3f}-{high:.3f}] over {args.rounds} rounds")


if __name__ == "__main__":
  main()
