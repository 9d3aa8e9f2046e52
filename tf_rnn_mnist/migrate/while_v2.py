"""`dynamic_rnn` as TF 2.x builds it for TF1 code run with only `disable_eager_execution()`
(control flow v2): one While / StatelessWhile op whose body is a function of the graph's
library, the inputs and outputs as TensorLists (TensorListFromTensor, TensorListGetItem,
TensorListSetItem, TensorListStack), resource variables passed in as loop invariants, and, in
a training graph, gradient accumulators added as further loop variables (TensorListPushBack),
which the forward computation does not read.

The body is read as a graph of its own (`Body`), where each loop variable is an argument and a
loop invariant's variable is the outer input's; the cell kinds match their steps in it as in
any graph, the wrappers around them likewise. Every op of the body the outputs depend on must
be a step's, a wrapper's, or the loop's own bookkeeping, or the call is refused.
"""

from tf_rnn_mnist.migrate.cell_steps import NotRecognised, step_starts
from tf_rnn_mnist.migrate.graph import Graph, function_body, split_tensor
from tf_rnn_mnist.migrate.loop_parts import is_zero

WHILE_OPS = ("While", "StatelessWhile")
# The body's bookkeeping: reading the input list, writing the output list, constants and
# arguments (counting adds and sequence_length's selects are checked one by one).
MACHINERY = {"TensorListGetItem", "TensorListSetItem", "Identity", "Const", "Placeholder"}


class Body(Graph):
  """A While op's body function as a Graph: its arguments are Placeholders named after the
  loop variables, in the While's input order."""

  def __init__(self, outer, loop):
    self.outer, self.loop = outer, loop
    fdef = outer.library[loop.attr["body"].func.name]
    graph_def, nested_to_flat = function_body(fdef, f"the while loop {loop.name}")
    graph_def.library.CopyFrom(outer.graph_def.library)
    super().__init__(graph_def, f"{outer.source} ({loop.name}'s body)")
    self.args = [a.name for a in fdef.signature.input_arg]
    self.results = [nested_to_flat[fdef.ret[a.name]] for a in fdef.signature.output_arg]

  def outer_input(self, tensor):
    """The While's input a body argument receives (None for a tensor computed in the body)."""
    op, _ = split_tensor(tensor)
    return self.loop.inputs[self.args.index(op)] if op in self.args else None

  def variable_of(self, tensor):
    outside = self.outer_input(tensor)
    if outside is not None:
      return self.outer.variable_of(outside)
    return super().variable_of(tensor)

  def constant(self, tensor):
    outside = self.outer_input(tensor)
    if outside is not None and self.is_invariant(tensor):
      return self.outer.constant(outside)
    return super().constant(tensor)

  def is_invariant(self, tensor):
    """A loop invariant: the body returns the argument as it received it."""
    op, _ = split_tensor(tensor)
    k = self.args.index(op)
    return split_tensor(self.results[k])[0] == op


def loops(g):
  """The control flow v2 loops of the model's subgraph (not a gradient's)."""
  return [n for n in g.nodes.values() if n.op in WHILE_OPS and
          (g.active is None or n.name in g.active) and "body" in n.attr]


def dynamic_call(g, loop, cells, stack_order, lengths_of, make_call):
  """The RecurrentCall of the v2 while loop `loop`, or None when none of `cells` runs in it."""
  body = Body(g, loop)
  steps = [cell.kind.step(body, node, cell) for node, cell, _ in step_starts(body, cells)]
  if not steps:
    return None
  scope = loop.name.rpartition("/")[0]
  where = f"dynamic_rnn {scope} (control flow v2)"
  read, write, sequence = _lists(g, body, loop, where)
  ordered = stack_order(body, steps, f"{read.name}:0", where)
  written = write.inputs[2]
  lengths = _lengths(g, body, written, ordered[-1][1], read.inputs[1], scope, where, lengths_of)
  output_var = body.args.index(split_tensor(write.inputs[0])[0])
  stacks = [n for n in _readers(g, f"{loop.name}:{output_var}") if n.op == "TensorListStack"]
  if len(stacks) != 1:
    raise NotRecognised(f"{where}: the loop's outputs are not stacked into one sequence")
  states, initial, selects = _states(g, body, ordered, written if lengths else None, where)
  allowed = {split_tensor(t)[0] for t in selects}
  if lengths:
    allowed.add(body.node(written).inputs[0].rpartition(":")[0])
  _check_machinery(body, ordered, [written] + [body.results[int(s.rpartition(":")[2])]
                                               for s in states], where, allowed)
  return make_call(scope=scope, kind="dynamic", cells=[run for _, _, run, _ in ordered],
                   sequence=sequence, outputs=f"{stacks[0].name}:0", states=states,
                   lengths=lengths, initial=initial, ops=set())


def _lists(g, body, loop, where):
  """(the input list's TensorListGetItem, the output list's TensorListSetItem, the sequence
  the input list was made from), both at step `time`."""
  reads = [n for n in body.nodes.values() if n.op == "TensorListGetItem"]
  writes = [n for n in body.nodes.values() if n.op == "TensorListSetItem"]
  if len(reads) != 1 or len(writes) != 1:
    raise NotRecognised(f"the while loop {loop.name} is not a dynamic_rnn loop (it reads "
                        f"{len(reads)} and writes {len(writes)} TensorLists, dynamic_rnn one "
                        "each): a decoder feeding its outputs back, raw_rnn or a custom "
                        "tf.while_loop, which this tool does not convert")
  listed_input = body.outer_input(reads[0].inputs[0])
  listed = g.node(listed_input) if listed_input else None
  if listed is None or listed.op != "TensorListFromTensor":
    raise NotRecognised(f"{where}: the loop does not read an unstacked input sequence")
  time = _arg_of(body, reads[0].inputs[1])
  if time is None or _arg_of(body, writes[0].inputs[1]) != time:
    raise NotRecognised(f"{where}: the loop does not read and write step `time` of its lists")
  return reads[0], writes[0], listed.inputs[0]


def _lengths(g, body, written, top, time, scope, where, lengths_of):
  """The lengths tensor when the loop writes select(time >= lengths, zeros, top), None when
  it writes the top cell's output as it is."""
  node = body.node(written)
  if node.op in ("Select", "SelectV2") and node.inputs[2] == top:
    condition = body.node(node.inputs[0])
    zeros, lengths_arg = (body.outer_input(t) for t in (node.inputs[1], condition.inputs[1]))
    if condition.op != "GreaterEqual" or condition.inputs[0] != time or zeros is None or \
        lengths_arg is None or not is_zero(g, zeros):
      raise NotRecognised(f"{where}: the output is selected by something other than "
                          "sequence_length")
    return lengths_of(g, lengths_arg, scope)
  if written != top:
    raise NotRecognised(f"{where}: the loop writes {written}, not the top cell's output {top}")
  return None


def _states(g, body, ordered, written_select, where):
  """(the While's outputs of the cells' final states in TF1's flat order, {position: initial
  state} of those not starting at zero, the state selects checked): each state's loop
  variable is the one its cell reads, copied through by the output's own condition."""
  produced, previous = {}, {}
  for step, _, _, _ in ordered:
    produced[step.new_h] = (step.cell.scope, "h")
    previous[(step.cell.scope, "h")] = step.h_prev
    if step.new_c:
      produced[step.new_c] = (step.cell.scope, "c")
      previous[(step.cell.scope, "c")] = step.c_prev
  selects = [written_select] if written_select else []
  states, initial, found = [], {}, []
  for k, result in enumerate(body.results):
    node = body.node(result)
    if written_select and node.op in ("Select", "SelectV2") and \
        split_tensor(node.inputs[1])[0] == body.args[k]:
      if node.inputs[0] != body.node(written_select).inputs[0]:
        raise NotRecognised(f"{where}: a state is copied through by another condition than "
                            "the output's sequence_length")
      selects.append(result)
      result = node.inputs[2]
    if result in produced:
      state = produced[result]
      if _arg_of(body, previous[state]) != body.args[k]:
        raise NotRecognised(f"{where}: {state[0]} reads its {state[1]} from another loop "
                            "variable than the one its new value goes to")
      found.append(state)
      if not is_zero(g, body.loop.inputs[k]):
        initial[len(states)] = body.loop.inputs[k]
      states.append(f"{body.loop.name}:{k}")
  expected = [(run.cell.scope, s) for _, _, run, _ in ordered for s in run.cell.kind.states]
  if found != expected:
    raise NotRecognised(f"{where}: the loop carries states {found}, not the cells' own "
                        f"{expected}")
  return states, initial, selects


def _readers(g, tensor):
  """The ops that read `tensor`, through the Identity ops TF puts on a loop's outputs."""
  found = []
  for node, _ in g.consumers(tensor, everywhere=True):
    found += _readers(g, f"{node.name}:0") if node.op == "Identity" else [node]
  return found


def _arg_of(body, tensor):
  """The body argument `tensor` is (through Identity), or None."""
  node = body.node(tensor)
  while node.op == "Identity" and node.inputs and node.name not in body.args:
    node = body.node(node.inputs[0])
  return node.name if node.name in body.args else None


def _check_machinery(body, ordered, results, where, allowed):
  """Ops of the body the results depend on that no cell or wrapper covers must be the
  loop's own bookkeeping: reading and writing the lists, the selects and condition of
  sequence_length checked above (`allowed`), and adds of a constant (the counters)."""
  claimed = set().union(*(step.ops | extra for step, _, _, extra in ordered)) | allowed
  region = body.upstream(results, stop=[f"{a}:0" for a in body.args])

  def bookkeeping(node):
    if node.op in ("Add", "AddV2"):
      return any(body.constant(t) is not None for t in node.inputs)
    return node.op in MACHINERY
  stray = sorted(n for n in region - claimed if not bookkeeping(body.nodes[n]))
  if stray:
    raise NotRecognised(f"{where}: the loop computes what no recognised cell or wrapper "
                        "does: " + ", ".join(f"{n} ({body.nodes[n].op})" for n in stray[:8]))
