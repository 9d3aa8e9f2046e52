"""The wrappers around a TF1 cell, read from the graph: DropoutWrapper (input, output and
state dropout, identity at inference: where its keep probability comes from is kept for the
report) and ResidualWrapper (the wrapper's input added to the cell's output).

Whose dropout is whose is decided by name: `DropoutWrapper(output_keep_prob)` on cell k and
`DropoutWrapper(input_keep_prob)` on cell k+1 are the same ops in the dataflow, and only the
MultiRNNCell slot they are named under tells them apart; the residual add depends on it.
"""

import re

from tf_rnn_mnist.migrate.cell_steps import ADDS, NotRecognised, consumers_of, other_input
from tf_rnn_mnist.migrate.graph import split_tensor

_DROPOUT_SCOPE = re.compile(r"(^|/)dropout(_\d+)?/")


def dropout_group(name):
  match = list(_DROPOUT_SCOPE.finditer(name))
  return name[:match[-1].end()] if match else None


def _group_output(g, members):
  outside = [f"{n}:0" for n in members
             if any(c.name not in members for c, _ in g.consumers(f"{n}:0"))]
  return outside[0] if len(outside) == 1 else None


def through_dropout(g, tensor):
  """(the tensor a DropoutWrapper's dropout was applied to, the keep probability's source
  (placeholders, or the constants of a built-in rate), the ops it covers), or
  (tensor, None, set()) when `tensor` is no dropout's output."""
  group = dropout_group(split_tensor(tensor)[0])
  if group is None:
    return tensor, None, set()
  members = {n for n in g.nodes if n.startswith(group)}
  shapes = [g.nodes[n] for n in members if g.nodes[n].op == "Shape"]
  if len(shapes) != 1 or _group_output(g, members) != tensor:
    raise NotRecognised(f"{group}: a dropout this tool does not read (no single Shape of its "
                        "input, or more than one output)")
  data = shapes[0].inputs[0]
  rates = {t for n in members for t in g.nodes[n].inputs
           if split_tensor(t)[0] not in members and t != data and g.constant(t) is None}
  # (inside a static_rnn step's guard the rate enters through the cond's Switch: its source
  # is what the Switch passes on, not the guard's predicate)
  rate_ops = g.upstream(rates, stop=(), values_only=True) if rates else set()
  sources = sorted(n for n in rate_ops if g.nodes[n].op in ("Placeholder",
                                                           "PlaceholderWithDefault"))
  claimed = members | {n for n in rate_ops if g.nodes[n].op in ("Sub", "Enter", "Identity",
                                                               "Const", "Cast")}
  evidence = sources or sorted({float(g.constant(t)) for n in members
                                for t in g.nodes[n].inputs
                                if g.constant(t) is not None and g.constant(t).size == 1})
  # built in: every input from outside is a constant (a training graph's rate, not a
  # placeholder, a variable or a schedule)
  return data, {"where": group.rstrip("/"), "keep_from": evidence,
                "built_in": not rates}, claimed


def rate_said(evidence):
  """Where a dropout's rate comes from, for a note: its placeholders, or the constants built
  in (random_uniform's own 0 and 1 left out)."""
  if not evidence["built_in"]:
    return f"keep probability from {', '.join(map(str, evidence['keep_from']))}"
  constants = [f"{k:.6g}" for k in evidence["keep_from"] if k not in (0.0, 1.0)]
  return f"its rate built in as constants ({', '.join(constants)}): a training graph"


def dropout_after(g, tensor):
  """The output of the dropout applied to `tensor`, if one is (DropoutWrapper's output or
  state dropout), with its evidence and ops; else (tensor, None, set())."""
  for consumer, _ in g.consumers(tensor):
    group = dropout_group(consumer.name)
    if group is None:
      continue
    members = {n for n in g.nodes if n.startswith(group)}
    out = _group_output(g, members)
    if out is not None:
      before, evidence, claimed = through_dropout(g, out)
      if before == tensor:
        return out, evidence, claimed
  return tensor, None, set()


def strip_dropouts(g, tensor):
  """(tensor before any dropouts, [evidence], ops)."""
  evidence, ops = [], set()
  while True:
    before, found, members = through_dropout(g, tensor)
    if found is None:
      return tensor, evidence, ops
    evidence.append(found)
    ops |= members
    tensor = before


def _slot(step):
  """The scope of the cell's place in its MultiRNNCell as this step's ops are named
  ('.../multi_rnn_cell/cell_0'): wrappers of that place sit beside the cell's own scope."""
  name = split_tensor(step.new_h)[0]
  return name[:name.rfind(f"/{step.cell.cell_name}/")]


def wrap(g, step, sources):
  """The cell's output after its wrappers: (output, residual, keep-probability evidence, ops).
  `sources` are the tensors on the way from the wire into the cell's input (ResidualWrapper
  adds one of them: the wrapper's own input)."""
  out, chain, keep_probs, ops = step.new_h, [step.new_h], [], set()
  own = re.compile(re.escape(_slot(step)) + r"(_\d+)?/")
  while True:  # output dropouts of this cell's own DropoutWrapper (not the next cell's input)
    after, evidence, claimed = dropout_after(g, out)
    if evidence is None or not own.match(evidence["where"] + "/"):
      break
    keep_probs.append(evidence)
    ops |= claimed
    out = after
    chain.append(out)
  for tensor in chain:
    for add in consumers_of(g, tensor, ADDS):
      if other_input(add, tensor) in sources:
        return f"{add.name}:0", True, keep_probs, ops | {add.name}
  return out, False, keep_probs, ops


def back_to(g, x, wire):
  """(keep-probability evidence, ops) of the input dropouts between `wire` and a cell's
  input `x`, or None when `x` does not come from `wire` through dropouts only."""
  evidence, ops, passed = [], set(), [x]
  while x != wire:
    x, found, members = through_dropout(g, x)
    if found is None:
      return None
    evidence.append(found)
    ops |= members
    passed.append(x)
  return evidence, ops, passed


# Ops whose output is random: a dropout's mask, a sampling op.
RANDOM_OPS = {"RandomUniform", "RandomStandardNormal", "TruncatedNormal", "Multinomial",
              "RandomShuffle", "RandomUniformInt"}


def built_in_dropouts(g, outputs, stop):
  """[(output, input, where)] of the dropouts between `stop` and `outputs` whose keep
  probability is built in as a constant (a training graph: DropoutWrapper, tf.nn.dropout,
  tf.layers.dropout(training=True)): what a graph runs at inference with each of them
  bypassed. A dropout whose rate is a placeholder is left alone (fed 1.0 it is identity)."""
  needed = g.upstream(outputs, stop=stop)
  groups = sorted({dropout_group(n) for n in needed if dropout_group(n)})
  found, active = [], g.active
  g.restrict(needed)  # (a training graph's gradients read the dropout's ops too)
  try:
    for group in groups:
      members = {n for n in g.nodes if n.startswith(group)}
      out = _group_output(g, members)
      if out is None or not any(g.nodes[n].op in RANDOM_OPS for n in members):
        continue
      try:
        data, evidence, _ = through_dropout(g, out)
      except NotRecognised:
        continue
      if evidence and evidence["built_in"]:
        found.append((out, data, evidence["where"]))
  finally:
    g.active = active
  return found
