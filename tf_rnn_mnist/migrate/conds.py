"""`tf.cond` (v1: Switch and Merge) whose predicate is known at conversion: computed from
constants (CRNN's `tf.equal(phase, 'train')`), or from a placeholder fixed by --feed or left at
its `placeholder_with_default` default (`tf.layers.batch_normalization(training=is_training)`,
`tf.layers.dropout(training=...)`). The branch taken is converted, the other is dead: nothing
of it enters the Keras model, and the choice is reported. A predicate computed from the model's
inputs is refused by name.

A while loop's own Switch/Merge (its LoopCond, Enter, NextIteration: `in_loop`) belong to the
loop, which rnn_calls.py converts as a whole; they are not conds.
"""

import numpy as np

from tf_rnn_mnist.migrate import ops
from tf_rnn_mnist.migrate.cell_steps import NotRecognised
from tf_rnn_mnist.migrate.ops.registry import finish
from tf_rnn_mnist.migrate.graph import VARIABLE_OPS, split_tensor, tensor_name


class Conds:
  """Which tensors lie on a branch not taken, for a graph `g` and the fixed `feed`."""

  def __init__(self, g, feed, stops):
    self.g, self.feed, self.stops = g, feed, set(stops)
    self.present = any(n.op == "Switch" and not self.in_loop(n) for n in g.nodes.values()
                       if g.active is None or n.name in g.active)
    self._dead, self._static = {}, {}
    self.choices = {}      # switch's cond scope -> note

  def in_loop(self, node):
    """A while loop's own Switch or Merge (its LoopCond, its Enter / NextIteration), which the
    loop's conversion covers, not a tf.cond."""
    g = self.g
    if node.op == "Switch":
      return g.node(node.inputs[1]).op == "LoopCond"
    return any(g.node(t).op in ("Enter", "NextIteration") for t in node.inputs)

  def static(self, tensor):
    """The value of `tensor` where it is known at conversion (constants, fed placeholders,
    defaults, and what ops with a numpy evaluation compute from them), else None."""
    tensor = tensor_name(tensor)
    if tensor not in self._static:
      self._static[tensor] = None  # (a cycle is not static)
      self._static[tensor] = self._evaluate(tensor)
    return self._static[tensor]

  def _evaluate(self, tensor):
    g = self.g
    if tensor in self.feed:
      return np.asarray(self.feed[tensor], dtype=g.dtype(tensor) or None)
    if tensor in self.stops:
      return None
    node = g.node(tensor)
    if node.op == "Const":
      return g.constant(tensor)
    if node.op in ("Identity", "PlaceholderWithDefault", "Switch"):
      return self.static(node.inputs[0])
    entry = ops.OPS.get(node.op)
    if entry is None or entry.fold is None:
      return None
    args = [self.static(t) for t in node.inputs]
    if any(a is None for a in args):
      return None
    attrs = ops.node_attrs(node)
    try:
      result = ops.fold(node.op, attrs, args)
    except ops.Unknown:
      return None
    # (in the op's own dtype: a Cast's fold returns its input as it was)
    value = finish(result, entry.fold_dtype(attrs, [str(a.dtype) for a in args]))
    return None if value.dtype == object else value

  def predicate(self, switch):
    """The value of a Switch's predicate as a bool, or None when it is not known."""
    value = self.static(switch.inputs[1])
    return None if value is None or value.size != 1 else bool(value.reshape(()))

  def dead(self, tensor):
    """Whether `tensor` lies on a branch not taken."""
    if not self.present:
      return False
    tensor = tensor_name(tensor)
    if tensor not in self._dead:
      self._dead[tensor] = False  # (cycles: a loop's Merge reads its NextIteration)
      self._dead[tensor] = self._is_dead(tensor)
    return self._dead[tensor]

  def _is_dead(self, tensor):
    g = self.g
    if tensor in self.feed or tensor in self.stops:
      return False
    node = g.node(tensor)
    if node.op == "Const" or node.op in VARIABLE_OPS:
      return False
    if node.op == "Switch":
      taken = self.predicate(node)
      if taken is not None and taken != (split_tensor(tensor)[1] == 1):
        return True
      return self.dead(node.inputs[0])
    if node.op == "Merge":
      return all(self.dead(t) for t in node.inputs)
    return any(self.dead(t) for t in node.inputs)

  def note(self, switch):
    """Records which branch of the cond `switch` belongs to was converted (v1)."""
    taken = self.predicate(switch)
    predicate_op = split_tensor(switch.inputs[1])[0]  # (cond/pred_id: the cond's own scope)
    scope = predicate_op.rpartition("/")[0] or switch.name
    how = _source(self.g, switch.inputs[1], self.feed)
    self.choices.setdefault(
        scope, f"cond {scope}: the {'true' if taken else 'false'} branch converted (its "
               f"predicate {switch.inputs[1]} is {taken}, from {how})")


# ---------------------------------------------------------------------------------------------
# Control flow v2: an If / StatelessIf op whose branches are functions of the graph's library.

IF_OPS = ("If", "StatelessIf")


def _source(g, predicate, feed):
  """Where a predicate's value comes from: fed placeholders, a placeholder's default, or
  constants."""
  reached = g.upstream([predicate], stop=())
  fed = [t for t in feed if t.rpartition(":")[0] in reached]
  if fed:
    return f"fed {', '.join(fed)}"
  defaults = sorted(n for n in reached if g.nodes[n].op == "PlaceholderWithDefault")
  return f"the default of {', '.join(defaults)}" if defaults else "constants"


def inline_ifs(g, feed, stops):
  """(a Graph where each If / StatelessIf op of the model whose predicate is known at
  conversion is replaced by its taken branch's body, inlined under IF/then or IF/else, and
  the notes saying which branch). Ifs whose predicate is not known stay, refused by name."""
  from tf_rnn_mnist.migrate.graph import Graph
  conds = Conds(g, feed, stops)
  ifs = [n for n in g.nodes.values() if n.op in IF_OPS and
         (g.active is None or n.name in g.active)]
  taken = {n.name: conds.static(n.inputs[0]) for n in ifs}
  # (a scalar predicate only: TF's If takes a non-scalar one by its emptiness)
  taken = {name: bool(v) for name, v in taken.items() if v is not None and v.ndim == 0}
  if not taken:
    return g, []
  graph_def = type(g.graph_def)()
  graph_def.CopyFrom(g.graph_def)
  renamed, notes, added = {}, [], []
  keep = [nd for nd in graph_def.node if nd.name not in taken]
  for node in (g.nodes[name] for name in taken):
    branch = "then" if taken[node.name] else "else"
    added += _branch_nodes(g, node, branch, renamed)
    notes.append(f"cond {node.name} (control flow v2): the {branch} branch converted (its "
                 f"predicate {node.inputs[0]} is {taken[node.name]}, from "
                 f"{_source(g, node.inputs[0], feed)})")

  def resolved(name):  # (a branch may pass on another inlined If's output)
    seen = set()
    while name in renamed and name not in seen:
      seen.add(name)
      name = renamed[name]
    return name
  del graph_def.node[:]
  for nd in keep + added:
    inputs = []
    for tensor in nd.input:
      if tensor.startswith("^"):
        if tensor[1:] not in taken:  # (a control edge on an inlined If: its data edges stay)
          inputs.append(tensor)
        continue
      inputs.append(resolved(tensor if ":" in tensor else f"{tensor}:0"))
    del nd.input[:]
    nd.input.extend(inputs)
    graph_def.node.append(nd)
  return Graph(graph_def, g.source, g.meta_graph), notes


def _branch_nodes(g, node, branch, renamed):
  """The NodeDefs of If `node`'s `branch` ("then" or "else") function, named under
  IF/branch/ and reading the If's inputs where the function reads its arguments; `renamed`
  gets {the If's output: the branch's tensor}."""
  from tf_rnn_mnist.migrate.graph import function_body
  fdef = g.library[node.attr[f"{branch}_branch"].func.name]
  body, nested_to_flat = function_body(fdef, f"the {branch} branch of the cond {node.name}")
  prefix = f"{node.name}/{branch}/"
  args = {a.name: node.inputs[1 + k] for k, a in enumerate(fdef.signature.input_arg)}

  def outer(tensor):
    op, _, index = tensor.partition(":")
    return args[op] if op in args else f"{prefix}{op}:{index or 0}"
  added = []
  for nd in body.node:
    if nd.name in args:
      continue
    if prefix + nd.name in g.nodes:
      raise NotRecognised(f"the cond {node.name} (control flow v2): inlining its branch "
                          f"would name an op {prefix + nd.name}, which the graph has")
    copy = type(nd)()
    copy.CopyFrom(nd)
    copy.name = prefix + nd.name
    del copy.input[:]
    for tensor in nd.input:
      if tensor.startswith("^"):
        if tensor[1:] not in args:  # (a control input on an argument: the If's own input)
          copy.input.append(f"^{prefix}{tensor[1:]}")
      else:
        copy.input.append(outer(tensor))
    added.append(copy)
  for k, out in enumerate(fdef.signature.output_arg):
    renamed[f"{node.name}:{k}"] = outer(nested_to_flat[fdef.ret[out.name]])
  return added
