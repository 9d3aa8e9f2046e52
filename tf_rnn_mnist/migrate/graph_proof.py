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


@dataclasses.dataclass
class Run:
  """Both sides' outputs on one set of inputs."""
  inputs: dict
  ours: list        # the Keras model's outputs, float64
  ref: list         # the graph's
  again: list       # the graph's, run again (randomness)
  moved: list       # the graph's on inputs 1 ulp away (sensitivity)


def run_both(user, g, interface, model, batch, time, seed=0, exact_time=False):
  if len(model.inputs) != len(interface.inputs) or len(model.outputs) != len(
      interface.outputs):
    raise ConfigError(f"the Keras model takes {len(model.inputs)} input(s) and gives "
                      f"{len(model.outputs)} output(s); --inputs names {len(interface.inputs)} "
                      f"and --outputs {len(interface.outputs)}: not the model converted "
                      "with these flags?")
  inputs, ref, again, moved = user_graph.graph_reference(user, g, interface, batch, time,
                                                         seed, exact_time)
  ordered = [inputs[t] for t in interface.inputs]
  ours = model(ordered if len(ordered) > 1 else ordered[0], training=False)
  ours = [np.asarray(o) for o in (ours if isinstance(ours, (list, tuple)) else [ours])]
  for tensor, mine, theirs in zip(interface.outputs, ours, ref):
    if mine.shape != theirs.shape:
      raise MismatchError(f"{tensor}: the Keras model gives shape {list(mine.shape)}, the "
                          f"program's graph {list(theirs.shape)}.")
  f64 = lambda arrays: [np.asarray(a, np.float64) for a in arrays]  # noqa: E731
  return Run(inputs, f64(ours), f64(ref), f64(again), f64(moved))


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
    rows.append((tensor, _max(ours - ref), bound, _max(moved - ref),
                 not np.array_equal(ref, again)))
  return rows


def compare_graph(user, g, interface, model, batch=8, timesteps=28, seed=0):
  """(rows, input shapes) of the Keras model against the user's graph on the same inputs."""
  run = run_both(user, g, interface, model, batch, timesteps, seed)
  return rows_of(run, interface), {t: v.shape for t, v in run.inputs.items()}


def verdict(row):
  """'ok', 'FAIL' (wrong: the graph does not move as much), 'random' or 'chaotic' (the graph
  itself moves by more than the bound: not decided at this length)."""
  _, diff, bound, sensitivity, random = row
  if random:
    return "random"
  if diff <= bound:
    return "ok"
  return "chaotic" if sensitivity > bound else "FAIL"


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


def graph_report(rows, shapes, source=None):
  """Lines and whether every output is within its bound (strictly proved)."""
  shown = ", ".join(f"{t} {list(s)}" for t, s in shapes.items())
  lines = table(rows, f"verify: the program's own graph vs the Keras model, inputs {shown}")
  ok = all(verdict(r) == "ok" for r in rows)
  worst = max((r[1] for r in rows), default=0.0)
  where = f" {source}" if source else ""
  lines.append(f"PASS: proved against the program's own graph{where}, largest difference "
               f"{worst:.2e} (bound 1e-5 * max(1, max|ref|))" if ok else
               f"FAIL: largest difference {worst:.2e}")
  return lines, ok


def _shorter(time):
  """Shorter lengths to try, longest first."""
  lengths, t = [], time
  while t > 1:
    t = max(1, min(t - 1, (t * 3) // 4 if t > 8 else t - 1))
    lengths.append(t)
  return lengths


def _time_axes(run, interface, time):
  """{output: its time axis} for outputs with an axis of length `time` past the batch."""
  axes = {}
  for tensor, ref in zip(interface.outputs, run.ref):
    for axis in range(ref.ndim):
      if ref.shape[axis] == time and not (axis == 0 and ref.ndim > 1 and
                                          ref.shape[1] == time):
        axes[tensor] = axis
        break
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
  shapes = {t: v.shape for t, v in run.inputs.items()}
  rows = rows_of(run, interface)
  lines, ok = graph_report(rows, shapes, source)
  verdicts = {verdict(r) for r in rows}
  if ok:
    return lines, PROVED
  if verdicts & {"FAIL", "random"}:
    return lines, WRONG
  time = user_graph.fixed_time(g, interface)
  lines[-1] = ("not proved at this length: the graph itself is chaotic here (a 1-ulp input "
               "change moves it more than the bound); full length compared as a statistic "
               f"only: max |diff| {max(r[1] for r in rows):.2e}, the graph's own 1-ulp move "
               f"{max(r[3] for r in rows):.2e}")
  if time is None:
    more, status = _prove_shorter(user, g, interface, model, batch, timesteps)
  else:
    more, status = _prove_leading(run, interface, time)
  return lines + more, status


def _prove_shorter(user, g, interface, model, batch, timesteps):
  for length in _shorter(timesteps):
    run = run_both(user, g, interface, model, batch, length, exact_time=True)
    rows = rows_of(run, interface)
    verdicts = {verdict(r) for r in rows}
    if verdicts & {"FAIL", "random"}:
      return table(rows, f"on sequences of length {length}:") + [
          f"FAIL: wrong at length {length}, where the graph does not move by the difference"
      ], WRONG
    if verdicts == {"ok"}:
      return [f"PASS up to length {length}: every output within 1e-5 * max(1, max|ref|) on "
              f"sequences of length {length}; not proved at length {timesteps} (exit 3)"
              ], NOT_FULLY_PROVED
  return ["not proved: the graph is chaotic at every length down to 1 (exit 3)"], \
      NOT_FULLY_PROVED


def _prove_leading(run, interface, time):
  """The graph fixes the time axis: the outputs' leading steps, where the graph does not
  move (outputs without a time axis stay a statistic)."""
  axes = _time_axes(run, interface, time)
  if not axes:
    return [f"not proved: the graph fixes the time axis at {time} and no output has one to "
            "compare step by step (exit 3)"], NOT_FULLY_PROVED
  for count in _shorter(time):
    rows = rows_of(run, interface, {t: (a, count) for t, a in axes.items()})
    verdicts = {verdict(r) for r in rows}
    if verdicts & {"FAIL", "random"}:
      return table(rows, f"the leading {count} steps:") + [
          f"FAIL: wrong on the leading {count} steps, where the graph does not move by the "
          "difference"], WRONG
    if verdicts == {"ok"}:
      rest = [t for t in interface.outputs if t not in axes]
      return [f"PASS up to step {count}: {', '.join(axes)} within 1e-5 * max(1, max|ref|) "
              f"on their leading {count} steps"
              + (f"; {', '.join(rest)} compared as a statistic only" if rest else "")
              + f"; not proved at length {time} (exit 3)"], NOT_FULLY_PROVED
  return ["not proved: the graph is chaotic from its first step (exit 3)"], NOT_FULLY_PROVED
