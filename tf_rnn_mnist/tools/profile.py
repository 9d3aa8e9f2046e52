"""Where an update's time goes, on any TensorFlow side of the benchmark: a TensorFlow profiler
trace of a window of its updates, and a table of the op time in them by op type.

    python -m tf_rnn_mnist profile --variant=multilayer [--side=port|fit|fit_builtin|legacy] \
        --window=20 --logdir=DIR [data flags]

The side runs in its own process exactly as `bench` runs it (bench_gate.py): this trainer
(port), the same model under Keras `fit`, the built-in Keras layers under `fit`
(fit_builtin), or the tutorial's TF1 graph (legacy; torch_lstm's
tutorial is PyTorch, not traced here). Two windows run first untimed (tracing, allocator
warm-up), then one window under the profiler. Only the ops inside the timed updates count (a
legacy script's logging and evaluation between them do not). DIR holds the trace for
TensorBoard's profile plugin (`tensorboard --logdir DIR`); the table is read from the same
trace (its XPlane file), so both describe the same updates.
"""

import bisect
import collections
import glob
import os
import subprocess

from absl import flags

from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist import variants
from tf_rnn_mnist.tools.bench import side_command
from tf_rnn_mnist.plumbing.bench_gate import UPDATE_TRACE, Side
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.errors import ConfigError

SIDES = ("port", "fit", "fit_builtin", "legacy")

MATMUL = {"MatMul", "BatchMatMulV2", "_MklMatMul", "_MklBatchMatMulV2", "_FusedMatMul",
          "_MklFusedMatMul", "_MklNativeFusedMatMul"}  # SequenceLSTM's per-step ones: BatchMatMulV2
# Ops whose events enclose other ops' events (a loop runs its body inside): counted once, inside.
ENCLOSING = {"While", "StatelessWhile", "PartitionedCall", "StatefulPartitionedCall", "If",
             "StatelessIf"}


def _event_name(plane, event):
  return plane.event_metadata[event.metadata_id].name


def _update_spans(plane):
  """[(start, end)] in picoseconds of the plane's timed updates (UPDATE_TRACE events)."""
  spans = [(line.timestamp_ns * 1000 + e.offset_ps,
            line.timestamp_ns * 1000 + e.offset_ps + e.duration_ps)
           for line in plane.lines for e in line.events if _event_name(plane, e) == UPDATE_TRACE]
  return sorted(spans)


def op_times(xplane_path, only_updates=True):
  """{op type: [count, picoseconds]} over the host's TensorFlow compute threads, inside the
  timed updates where the trace marks them (only_updates=False: every op of the trace)."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  space = xplane_pb2.XSpace()
  with open(xplane_path, "rb") as f:
    space.ParseFromString(f.read())
  ops = collections.defaultdict(lambda: [0, 0])
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    spans = _update_spans(plane) if only_updates else None
    if only_updates and not spans:  # not a trace of profile's gate: it would count everything
      raise ConfigError(f"{xplane_path} marks no timed updates ({UPDATE_TRACE} events): it is "
                        "not a trace `profile` recorded.")
    starts = [start for start, _ in spans or ()]
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = _event_name(plane, event)
        if "::" in name or ":" not in name:  # the executor's own events, not ops
          continue
        if spans:
          at = line.timestamp_ns * 1000 + event.offset_ps
          i = bisect.bisect_right(starts, at) - 1
          if i < 0 or at > spans[i][1]:  # between updates: logging, evaluation
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


def check_side(variant, side):
  if side == "legacy" and not variant.legacy.tf1_cell:
    traced = ", ".join(n for n, v in variants.VARIANTS.items() if v.legacy.tf1_cell)
    raise ConfigError(f"--side=legacy: {variant.name}'s tutorial is a PyTorch program, which "
                      f"TensorFlow's profiler cannot trace; legacy is the TF1 graph of {traced}.")


def profile(variant, side, window, logdir, data_args):
  """Runs `side` of `variant` in its own process: two untimed windows, then one under the
  profiler. Returns ({op type: [count, picoseconds]}, the window's seconds)."""
  check_side(variant, side)
  pattern = os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")
  earlier = set(glob.glob(pattern))  # a reused --logdir holds earlier traces
  children, process = [], None
  try:
    with cli.forwarding_signals(lambda: children):  # a stop reaches the side, then here
      try:
        process = Side(side, side_command(side, variant, window, 3 * window, data_args),
                       children)
        for _ in range(2):
          process.window()
        seconds = process.window(profile_dir=os.path.abspath(logdir))
      except RuntimeError as e:  # the side ended: its last error line
        raise ConfigError(f"--side={side}: {e}") from None
  finally:
    if process:
      process.close()
    for child in children:  # stopped while starting: it got the signal, wait for it
      try:
        child.wait(timeout=60)
      except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
  new = sorted(set(glob.glob(pattern)) - earlier)
  if len(new) != 1:
    raise ConfigError(f"the profiler wrote {len(new)} new traces under {logdir}, not 1.")
  return op_times(new[0]), seconds


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_enum("variant", None, list(variants.NAMES), "The variant to profile.")
  flags.DEFINE_enum("side", "port", list(SIDES), "This trainer (port), the same model under "
                    "Keras fit, Keras's built-in layers under fit (fit_builtin), or the "
                    "tutorial's TF1 graph (legacy).")
  flags.DEFINE_integer("window", 20, "Updates in the profiled window.", lower_bound=1)
  flags.DEFINE_string("logdir", None, "Where the trace goes (TensorBoard's profile plugin).")
  data_flags.define_data_flags()
  flags.mark_flags_as_required(["variant", "logdir"])


def main(argv):
  f = flags.FLAGS
  if "\n" in f.logdir:  # the gate's protocol is one line per window
    raise ConfigError(f"--logdir={f.logdir!r}: a directory name with a newline is not accepted.")
  outputs.check_writable_dir("logdir", f.logdir)
  variant = variants.get_variant(f.variant)
  check_side(variant, f.side)
  data = DataOptions.from_flags(f)
  data.load()  # fetched and checked once, before the side starts
  ops, wall = profile(variant, f.side, f.window, f.logdir, data.args())
  if not ops:
    raise ConfigError("the trace holds no TensorFlow ops: the profiler recorded nothing.")
  print(f"{f.variant}, {f.side}:")
  print("\n".join(table(ops, wall, f.window)))
  print(f"Trace: tensorboard --logdir {f.logdir} (Profile tab)")


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
