"""The proof that a converted model computes what the user's own graph computes, on the same
inputs, to `1e-5 * max(1, max|ref|)` per output. The bound is never waived:

- where it holds at the length asked, the model is proved (exit 0);
- where an output differs by more while the graph itself does not move by more under a 1-ulp
  change of its inputs (floats, and for ids what their embedding returns), the model is wrong
  (exit 1);
- where the graph itself moves by more (a chaotic graph: long sequences through saturated
  or stacked layers), the model is proved strictly on shorter sequences (or, where the graph
  fixes the time axis, on the outputs' leading steps) where the graph does not move, and the
  full length is compared as a statistic only, reported and not a PASS (exit 3, with the
  length proved); a mismatch on those shorter sequences is wrong (exit 1).
"""

import dataclasses

import numpy as np

from tf_rnn_mnist.errors import ConfigError, MismatchError
from tf_rnn_mnist.migrate import user_graph

TOLERANCE = 1e-5
PROVED, WRONG, NOT_FULLY_PROVED = 0, 1, 3


# A difference this many times what the graph itself moves under a 1-ulp input change is no
# rounding, chaotic graph or not: wrong.
CHAOS_LIMIT = 100


@dataclasses.dataclass
class Run:
  """Both sides' outputs on one set of inputs."""
  inputs: dict
  ours: list        # the Keras model's outputs, float64
  ref: list         # the graph's
  again: list       # the graph's, run again (randomness)
  moved: list       # the graph's on inputs 1 ulp away (sensitivity)
  layout: dict      # {(input, axis): "batch" | "time"}: how the unknown axes were sized
  batch: int


def run_both(user, g, interface, model, batch, time, seed=0, layout=None):
  if len(model.inputs) != len(interface.inputs) or len(model.outputs) != len(
      interface.outputs):
    raise ConfigError(f"the Keras model takes {len(model.inputs)} input(s) and gives "
                      f"{len(model.outputs)} output(s); --inputs names {len(interface.inputs)} "
                      f"and --outputs {len(interface.outputs)}: not the model converted "
                      "with these flags?")
  inputs, ref, again, moved, layout = user_graph.graph_reference(user, g, interface, batch,
                                                                 time, seed, layout)
  ordered = [inputs[t] for t in interface.inputs]
  ours = model(ordered if len(ordered) > 1 else ordered[0], training=False)
  ours = [np.asarray(o) for o in (ours if isinstance(ours, (list, tuple)) else [ours])]
  for tensor, mine, theirs in zip(interface.outputs, ours, ref):
    if mine.shape != theirs.shape:
      raise MismatchError(f"{tensor}: the Keras model gives shape {list(mine.shape)}, the "
                          f"program's graph {list(theirs.shape)}.")
  f64 = lambda arrays: [np.asarray(a, np.float64) for a in arrays]  # noqa: E731
  return Run(inputs, f64(ours), f64(ref), f64(again), f64(moved), layout, batch)


def _max(array):
  return float(np.abs(array).max()) if array.size else 0.0


def rows_of(run, interface, steps=None):
  """[(tensor, max |diff|, bound, sensitivity, random)]; `steps`: only each output's leading
  steps along its time axis {tensor: (axis, count)} (outputs not in it are left out)."""
  rows = []
  for tensor, ours, ref, again, moved in zip(interface.outputs, run.ours, run.ref, run.again,
                                             run.moved):
    if steps is not None:
      if tensor not in steps:
        continue
      axis, count = steps[tensor]
      ours, ref, again, moved = (np.take(a, range(count), axis=axis)
                                 for a in (ours, ref, again, moved))
    bound = TOLERANCE * max(1.0, _max(ref))
    diff = _max(ours - ref) if np.isfinite(ours).all() or not ours.size else float("inf")
    rows.append((tensor, diff, bound, _max(moved - ref),
                 not np.array_equal(ref, again, equal_nan=True)))
  return rows


def compare_graph(user, g, interface, model, batch=8, timesteps=28, seed=0):
  """(rows, input shapes) of the Keras model against the user's graph on the same inputs."""
  run = run_both(user, g, interface, model, batch, timesteps, seed)
  return rows_of(run, interface), {t: v.shape for t, v in run.inputs.items()}


def verdict(row):
  """'ok', 'FAIL' (wrong: the graph does not move as much, or the difference is more than
  CHAOS_LIMIT times what it moves, or not finite), 'random' or 'chaotic' (the graph itself
  moves by more than the bound: not decided at this length)."""
  _, diff, bound, sensitivity, random = row
  if random:
    return "random"
  if diff <= bound:
    return "ok"
  if sensitivity > bound and diff <= CHAOS_LIMIT * sensitivity:
    return "chaotic"
  return "FAIL"


_SAID = {
    "ok": "ok",
    "FAIL": "FAIL",
    "random": ("FAIL: the graph gives other values on the same inputs (a random op still on: "
               "a keep probability fed below 1 (feed 1.0 with --feed), or sampling)"),
    "chaotic": "not decided here: the graph itself moves more than the bound (chaotic)",
}


def table(rows, heading):
  lines = [heading]
  for row in rows:
    tensor, diff, bound, sensitivity, _ = row
    lines.append(f"  {tensor:<56} max |diff| {diff:.2e}  bound {bound:.1e}  "
                 f"1-ulp input change {sensitivity:.2e}  {_SAID[verdict(row)]}")
  return lines


def _shapes(inputs):
  return ", ".join(f"{t} {list(v.shape)}" for t, v in inputs.items())


def graph_report(rows, shapes, source=None):
  """Lines and whether every output is within its bound (strictly proved)."""
  shown = ", ".join(f"{t} {list(s)}" for t, s in shapes.items())
  lines = table(rows, f"verify: the program's own graph vs the Keras model, inputs {shown}")
  ok = _decide(rows) == PROVED
  worst = max((r[1] for r in rows), default=0.0)
  where = f" {source}" if source else ""
  lines.append(f"PASS: proved against the program's own graph{where}, largest difference "
               f"{worst:.2e} (bound 1e-5 * max(1, max|ref|))" if ok else
               f"FAIL: largest difference {worst:.2e}")
  return lines, ok


def _decide(rows):
  """PROVED (every row ok), WRONG (a row wrong or random) or None (chaotic rows left)."""
  verdicts = {verdict(r) for r in rows}
  if verdicts & {"FAIL", "random"}:
    return WRONG
  return PROVED if verdicts <= {"ok"} else None


def _shorter(time):
  """Shorter lengths to try, longest first."""
  lengths, t = [], time
  while t > 1:
    t = max(1, min(t - 1, (t * 3) // 4 if t > 8 else t - 1))
    lengths.append(t)
  return lengths


def _time_axes(g, run, interface, time):
  """{output: its time axis}: the one axis the graph's static shape fixes at `time` (the
  graph fixes the time axis; the batch's is free)."""
  axes = {}
  for tensor, ref in zip(interface.outputs, run.ref):
    static = g.shape(tensor)
    if static is None or len(static) != ref.ndim:
      continue
    candidates = [a for a, d in enumerate(static) if d == time]
    if len(candidates) == 1 and None in static:
      axes[tensor] = candidates[0]
  return axes


def prove_source(source, interface, model, batch, timesteps):
  """(lines, exit status) of the proof against `source`'s own graph: a training graph's
  built-in dropouts bypassed in it (said), then `prove`."""
  from tf_rnn_mnist.migrate import wrappers
  g = source.graph
  bypass = wrappers.built_in_dropouts(g, interface.outputs,
                                      list(interface.inputs) + list(interface.feed))
  pairs = [(out, data) for out, data, _ in bypass]
  reroute = user_graph.reroutes(pairs)
  lines = [f"dropout {where} (its rate built in: a training graph): bypassed in the "
           f"program's graph, {out} rerouted to {reroute[out]} (its inference)"
           for out, _, where in bypass]
  user = source.reference(pairs)
  more, status = prove(user, g, interface, model, batch, timesteps, source.describe())
  return lines + more, status


def prove(user, g, interface, model, batch, timesteps, source=None):
  """(lines, exit status) of the proof at `timesteps` (or the graph's own time axis)."""
  run = run_both(user, g, interface, model, batch, timesteps)
  rows = rows_of(run, interface)
  lines, _ = graph_report(rows, {t: v.shape for t, v in run.inputs.items()}, source)
  status = _decide(rows)
  if status is not None:
    return lines, status
  lines[-1] = ("not proved at this length: the graph itself is chaotic here (a 1-ulp input "
               "change moves it more than the bound); full length compared as a statistic "
               f"only: max |diff| {max(r[1] for r in rows):.2e}, the graph's own 1-ulp move "
               f"{max(r[3] for r in rows):.2e}")
  time = user_graph.fixed_time(g, interface)
  if time is None and "time" in run.layout.values():
    more, status = _prove_shorter(user, g, interface, model, run, timesteps)
  else:
    more, status = _prove_leading(g, run, interface, time or timesteps)
  return lines + more, status


def _prove_shorter(user, g, interface, model, full, timesteps):
  """The same layout as the full run, the time axis shorter, until the graph does not move."""
  for length in _shorter(timesteps):
    try:
      run = run_both(user, g, interface, model, full.batch, length, layout=full.layout)
    except ConfigError as e:
      return [f"not proved: the graph does not run on sequences of length {length} ({e}) "
              "(exit 3)"], NOT_FULLY_PROVED
    rows = rows_of(run, interface)
    status = _decide(rows)
    if status == WRONG:
      return table(rows, f"on sequences of length {length}, inputs {_shapes(run.inputs)}:") + [
          f"FAIL: wrong at length {length}, where the graph does not move by the difference"
      ], WRONG
    if status == PROVED:
      return [f"PASS up to length {length}: every output within 1e-5 * max(1, max|ref|) on "
              f"sequences of length {length} (inputs {_shapes(run.inputs)}); not proved at "
              f"length {timesteps} (exit 3)"], NOT_FULLY_PROVED
  return ["not proved: the graph is chaotic at every length down to 1 (exit 3)"], \
      NOT_FULLY_PROVED


def _prove_leading(g, run, interface, time):
  """The time axis cannot be shortened (the graph fixes it, or no input has one): the
  outputs' leading steps, where the graph does not move (outputs without a time axis stay a
  statistic)."""
  axes = _time_axes(g, run, interface, time)
  if not axes:
    return [f"not proved: the time axis cannot be shortened and no output has one of length "
            f"{time} to compare step by step (exit 3)"], NOT_FULLY_PROVED
  for count in _shorter(time):
    rows = rows_of(run, interface, {t: (a, count) for t, a in axes.items()})
    status = _decide(rows)
    if status == WRONG:
      return table(rows, f"the leading {count} steps:") + [
          f"FAIL: wrong on the leading {count} steps, where the graph does not move by the "
          "difference"], WRONG
    if status == PROVED:
      rest = [t for t in interface.outputs if t not in axes]
      return [f"PASS up to step {count}: {', '.join(axes)} within 1e-5 * max(1, max|ref|) "
              f"on their leading {count} steps"
              + (f"; {', '.join(rest)} compared as a statistic only" if rest else "")
              + f"; not proved at length {time} (exit 3)"], NOT_FULLY_PROVED
  return ["not proved: the graph is chaotic from its first step (exit 3)"], NOT_FULLY_PROVED
