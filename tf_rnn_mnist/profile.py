"""Where an update's time goes: a TensorFlow profiler trace of a window of the trainer's
updates, and a table of the op time in it by op type.

    python -m tf_rnn_mnist.profile --variant=multilayer --window=20 --logdir=DIR [data flags]

The trainer is built as the benchmark's port side builds it; two windows run first untimed
(tracing, allocator warm-up), then one window under the profiler. DIR holds the trace for
TensorBoard's profile plugin (`tensorboard --logdir DIR`); the table is read from the same
trace (its XPlane file), so both describe the same updates.
"""

import collections
import glob
import os
import time

from absl import flags

from tf_rnn_mnist import cli
from tf_rnn_mnist import outputs
from tf_rnn_mnist import variants
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.errors import ConfigError

MATMUL = {"MatMul", "BatchMatMulV2", "_MklMatMul", "_MklBatchMatMulV2", "_FusedMatMul",
          "_MklFusedMatMul", "_MklNativeFusedMatMul"}  # SequenceLSTM's dz @ U^T: BatchMatMulV2
# Ops whose events enclose other ops' events (a loop runs its body inside): counted once, inside.
ENCLOSING = {"While", "StatelessWhile", "PartitionedCall", "StatefulPartitionedCall", "If",
             "StatelessIf"}


def op_times(xplane_path):
  """{op type: [count, picoseconds]} over the host's TensorFlow compute threads."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  space = xplane_pb2.XSpace()
  with open(xplane_path, "rb") as f:
    space.ParseFromString(f.read())
  ops = collections.defaultdict(lambda: [0, 0])
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if "::" in name or ":" not in name:  # the executor's own events, not ops
          continue
        op_type = name.rsplit(":", 1)[1]  # "scope/op:OpType"
        if op_type not in ENCLOSING:
          ops[op_type][0] += 1
          ops[op_type][1] += event.duration_ps
  return dict(ops)


def table(ops, wall_seconds, updates, top=15):
  """Lines of a markdown table: op types by time per update, the rest summed."""
  total = sum(ps for _, ps in ops.values())
  ms = lambda ps: ps / 1e9 / updates
  rows = sorted(ops.items(), key=lambda kv: -kv[1][1])
  lines = [f"{updates} updates; wall {wall_seconds * 1e3 / updates:.2f} ms per update (under the "
           f"profiler); op time {ms(total):.2f} ms per update, summed over the compute threads",
           "| op type | ops per update | ms per update | share of op time |", "|---|---|---|---|"]
  for name, (count, ps) in rows[:top]:
    lines.append(f"| {name} | {count / updates:.0f} | {ms(ps):.3f} | {ps / total:.1%} |")
  rest = rows[top:]
  if rest:
    count, ps = sum(c for _, (c, _) in rest), sum(p for _, (_, p) in rest)
    lines.append(f"| {len(rest)} other types | {count / updates:.0f} | {ms(ps):.3f} | "
                 f"{ps / total:.1%} |")
  matmul = sum(ps for name, (_, ps) in ops.items() if name in MATMUL)
  n_ops = sum(c for c, _ in ops.values())
  others = sum(c for name, (c, _) in ops.items() if name not in MATMUL)
  lines.append(f"MatMul share of op time {matmul / total:.1%}; {n_ops / updates:.0f} ops per "
               f"update, {(total - matmul) / 1e6 / max(others, 1):.1f} us per op besides MatMul")
  return lines


def profile(variant, mnist, window, logdir):
  import tensorflow as tf
  from tf_rnn_mnist.bench_sides import keras_trainer
  trainer = keras_trainer(variant, mnist, 3 * window)
  updates = tf.constant(window)
  for _ in range(2):
    trainer.train_loop(updates)
  pattern = os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")
  earlier = set(glob.glob(pattern))  # a reused --logdir holds earlier traces
  tf.profiler.experimental.start(logdir)
  try:
    tic = time.perf_counter()
    trainer.train_loop(updates)
    wall = time.perf_counter() - tic
  finally:
    tf.profiler.experimental.stop()
  new = sorted(set(glob.glob(pattern)) - earlier)
  if len(new) != 1:
    raise ConfigError(f"the profiler wrote {len(new)} new traces under {logdir}, not 1.")
  return op_times(new[0]), wall


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_enum("variant", None, list(variants.NAMES), "The variant to profile.")
  flags.DEFINE_integer("window", 20, "Updates in the profiled window.", lower_bound=1)
  flags.DEFINE_string("logdir", None, "Where the trace goes (TensorBoard's profile plugin).")
  data_flags.define_data_flags()
  flags.mark_flags_as_required(["variant", "logdir"])


def main(argv):
  f = flags.FLAGS
  outputs.check_writable_dir("logdir", f.logdir)
  mnist = DataOptions.from_flags(f).load()
  ops, wall = profile(variants.get_variant(f.variant), mnist, f.window, f.logdir)
  if not ops:
    raise ConfigError("the trace holds no TensorFlow ops: the profiler recorded nothing.")
  print(f"{f.variant}:")
  print("\n".join(table(ops, wall, f.window)))
  print(f"Trace: tensorboard --logdir {f.logdir} (Profile tab)")


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
