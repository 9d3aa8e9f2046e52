"""`static_rnn(..., sequence_length=L)` (and static_bidirectional_rnn's two directions): TF1's
`_rnn_step` guards every step with conds that are optimisations of one rule, and the rule is
what Keras's masking computes:

    cond(t >= max(L), zeros and the state copied,
         cond(t < min(L), the cell's output and state,
              where(t >= L, zeros / the previous state, the cell's output / state)))

Each step's cell is matched as usual (its kernel reaches it through the cond's Switch); here
the conds around it are checked to be exactly that rule, for the same L and the step's own t,
and the steps are chained into one RecurrentCall with lengths L: outputs zero past each length,
states copied through. Anything else in those conds is refused.
"""

import collections

from tf_rnn_mnist.migrate.cell_steps import NotRecognised
from tf_rnn_mnist.migrate.loop_parts import is_zero

# The ops the guard itself builds around a step (zeros from the input's shape, predicates).
GUARD_OPS = {"Switch", "Merge", "Select", "SelectV2", "Identity", "LessEqual", "Greater",
             "Max", "Min", "Const", "Fill", "Shape", "StridedSlice", "ExpandDims", "ConcatV2",
             "Cast"}


def unswitch(g, tensor):
  """The tensor a chain of cond Switches passes on."""
  while g.node(tensor).op == "Switch":
    tensor = g.node(tensor).inputs[0]
  return tensor


def _through_identity(g, tensor):
  while g.node(tensor).op == "Identity":
    tensor = g.node(tensor).inputs[0]
  return tensor


def is_guarded(g, step):
  """A static_rnn step inside its guard's cond: its previous state enters through a Switch."""
  return g.node(step.h_prev).op == "Switch"


def _compare(g, tensor, op, where):
  """(left operand, t) of a `op` (LessEqual / Greater) of a tensor and a constant step."""
  node = g.node(_through_identity(g, unswitch(g, tensor)))
  value = g.constant(node.inputs[1]) if node.op == op else None
  if value is None or value.size != 1:
    raise NotRecognised(f"{where}: a guard that is not static_rnn's sequence_length rule "
                        f"({node.name} is a {node.op})")
  return node.inputs[0], int(value)


def _reduced(g, tensor, op, where):
  node = g.node(_through_identity(g, unswitch(g, tensor)))
  if node.op != op:
    raise NotRecognised(f"{where}: a guard that is not static_rnn's sequence_length rule "
                        f"({node.name} is a {node.op}, not the {op} of the lengths)")
  return node.inputs[0]


class _Guard:
  """One step's guard: its time t, lengths L, and for each flat value (output, then the states)
  the Merge that gives it, checked to be the rule above."""

  def __init__(self, g, scope, switch_of_x):
    self.scope = scope
    outer = g.node(switch_of_x).inputs[1]  # cond_k/pred_id
    where = f"static_rnn {scope}"
    max_lengths, self.t = _compare(g, outer, "LessEqual", where)
    self.lengths = _reduced(g, max_lengths, "Max", where)
    self.outer = g.node(outer).name.rpartition("/")[0]   # the outer cond's scope
    self.where = where

  def merges(self, g):
    """The outer cond's Merges in TF1's flat order (output, states)."""
    merges = [n for n in g.nodes.values() if n.op == "Merge" and
              n.name.rpartition("/")[0] == self.outer]
    return sorted(merges, key=lambda n: int(n.name.rpartition("_")[2])
                  if n.name.rpartition("/")[2] != "Merge" else 0)

  def check(self, g, merge, new, previous):
    """`merge` gives `new` where computed, `previous` (zeros or the last state) where not."""
    where = f"{self.where}, step {self.t}"
    inner = g.node(merge.inputs[0])
    empty = unswitch(g, merge.inputs[1])
    if inner.op != "Merge" or empty != previous and not _zero_like(g, empty, previous):
      raise NotRecognised(f"{where}: {merge.name} is not static_rnn's guard of {new}")
    select = g.node(inner.inputs[0])
    if select.op not in ("Select", "SelectV2") or unswitch(g, inner.inputs[1]) != new:
      raise NotRecognised(f"{where}: {inner.name} is not static_rnn's guard of {new}")
    lengths, t = _compare(g, select.inputs[0], "LessEqual", where)
    then, otherwise = (unswitch(g, x) for x in select.inputs[1:])
    if _through_identity(g, lengths) != _through_identity(g, self.lengths) or t != self.t or \
        otherwise != new or (then != previous and not _zero_like(g, then, previous)):
      raise NotRecognised(f"{where}: {select.name} does not keep {new} before each length and "
                          f"{previous} from it on")
    computed = g.node(inner.inputs[1])
    if computed.op != "Switch":
      raise NotRecognised(f"{where}: {inner.name} is not static_rnn's guard of {new}")
    min_lengths, t = _compare(g, computed.inputs[1], "Greater", where)
    if t != self.t or _through_identity(g, _reduced(g, min_lengths, "Min", where)) != \
        _through_identity(g, self.lengths):
      raise NotRecognised(f"{where}: {inner.name}'s predicate is not t < min(lengths)")


def _zero_like(g, tensor, previous):
  """The zero output: previous is None and `tensor` is zeros."""
  return previous is None and is_zero(g, tensor)


def chains(g, ordered_steps):
  """{call prefix: [(guard, ordered steps of one time step)] in time order}.
  `ordered_steps`: {outer cond's x Switch tensor: the steps of that time step, stacked}."""
  calls = collections.defaultdict(list)
  for switch_of_x, stack in ordered_steps.items():
    # (the call's scope holds the step's outer cond, SCOPE/cond_K: a user's scope may hold
    # "/cond" too, "enc/conditioner/...")
    predicate = g.node(g.node(switch_of_x).inputs[1]).name
    scope = predicate.rpartition("/")[0].rpartition("/")[0]
    guard = _Guard(g, scope, switch_of_x)
    calls[scope].append((guard, stack))
  for scope, steps in calls.items():
    steps.sort(key=lambda item: item[0].t)
    if [guard.t for guard, _ in steps] != list(range(len(steps))):
      raise NotRecognised(f"static_rnn {scope}: its guarded steps are not t = 0, 1, ...")
  return calls


def guarded_calls(g, steps, stack_order, make_call):
  """The static_rnn calls with sequence_length that the guarded `steps` make up.
  `stack_order(g, steps, first_source, where)` orders one time step's cells (rnn_calls);
  `make_call(**fields)` builds the RecurrentCall."""
  by_time = collections.defaultdict(list)
  for step in steps:
    by_time[g.node(step.h_prev).inputs[1]].append(step)  # the step's cond predicate
  stacks = {}
  for predicate, own in by_time.items():
    bottoms = [s for s in own if g.node(s.x).op == "Switch"]
    if len(bottoms) != 1:
      raise NotRecognised(f"static_rnn step under {predicate}: not one cell reads the input")
    stacks[bottoms[0].x] = stack_order(g, own, bottoms[0].x, f"static_rnn {predicate}")
  calls = []
  for scope, timeline in chains(g, stacks).items():
    calls.append(_call(g, scope, timeline, make_call))
  return calls


def _call(g, scope, timeline, make_call):
  where = f"static_rnn {scope}"
  sequence, outputs, ops, runs, last = [], [], set(), None, None
  initial, lengths = {}, timeline[0][0].lengths
  for guard, ordered in timeline:
    if _through_identity(g, guard.lengths) != _through_identity(g, lengths):
      raise NotRecognised(f"{where}: its steps are guarded by different lengths")
    step_runs = [run for _, _, run, _ in ordered]
    if runs and [(r.cell, r.residual) for r in step_runs] != [(r.cell, r.residual)
                                                               for r in runs]:
      raise NotRecognised(f"{where}: the cells or their wrappers differ from step to step")
    runs = runs or step_runs
    merges = guard.merges(g)
    values = [(ordered[-1][1], None)]  # the output: zeros where not computed
    for step, _, run, _ in ordered:
      ends = {"c": (step.new_c, step.c_prev), "h": (step.new_h, step.h_prev)}
      values += [(ends[state][0], unswitch(g, ends[state][1])) for state in run.cell.kind.states]
    if len(merges) != len(values):
      raise NotRecognised(f"{where}, step {guard.t}: {len(merges)} guarded values, the cells "
                          f"give {len(values)}")
    for merge, (new, previous) in zip(merges, values):
      guard.check(g, merge, new, previous)
    if last is None:
      for position, (_, previous) in enumerate(values[1:]):
        if not is_zero(g, previous):
          initial[position] = previous
    elif [previous for _, previous in values[1:]] != last:
      raise NotRecognised(f"{where}, step {guard.t}: the state does not come from the step "
                          "before")
    last = [f"{m.name}:0" for m in merges[1:]]
    sequence.append(unswitch(g, ordered[0][0].x))
    outputs.append(f"{merges[0].name}:0")
    ops |= set().union(*(step.ops | extra for step, _, _, extra in ordered))
  stops = sequence + [lengths] + list(initial.values())
  region = g.upstream(outputs + last, stop=stops)
  stray = sorted(n for n in region - ops if g.nodes[n].op not in GUARD_OPS
                 and n.startswith(scope + "/") and g.variable_of(f"{n}:0") is None)
  if stray:
    raise NotRecognised(f"{where}: its guards compute what static_rnn's do not: "
                        + ", ".join(f"{n} ({g.nodes[n].op})" for n in stray[:8]))
  return make_call(scope=scope, kind="static", cells=runs, sequence=sequence, outputs=outputs,
                   states=last, lengths=lengths, initial=initial, ops=region | ops)
