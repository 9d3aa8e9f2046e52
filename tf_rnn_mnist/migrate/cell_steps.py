"""One step of a TF1 cell as a program's graph runs it (`Step`), and what the cell kinds'
matchers (cells/) share: walking from one op to the ops that read it, reading constant
operands and clip_by_value, and `checked`: every op between a step's inputs and outputs must be
one the match visited, so an op the tool does not understand inside a cell is refused, never
dropped.
"""

import dataclasses

ADDS = ("Add", "AddV2")
ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid", "Elu": "elu",
               "Relu6": "relu6", "Softsign": "softsign"}

class NotRecognised(ValueError):
  """What a checkpoint's variables or a program's graph do here that the tool does not
  convert; the message says what. Raised where it is found, caught where it is reported."""


@dataclasses.dataclass
class Step:
  """One application of one cell: its boundary tensors, settings and the ops it covers."""
  cell: object           # structures.Cell
  x: str
  h_prev: str
  c_prev: str | None
  new_h: str
  new_c: str | None
  settings: dict
  ops: set


def consumers_of(g, tensor, types):
  return [n for n, _ in g.consumers(tensor) if n.op in types]


def one_consumer(g, tensor, types, what, where, check=None):
  found = [n for n in consumers_of(g, tensor, types) if check is None or check(n)]
  if len(found) != 1:
    raise NotRecognised(f"{where}: expected one {what} reading {tensor}, found "
                        f"{len(found)} ({', '.join(n.name for n in found) or 'none'})")
  return found[0]


def other_input(node, tensor):
  ins = node.inputs
  return ins[1] if ins[0] == tensor else ins[0]


def const_operand(g, node):
  """(the scalar constant operand of a binary op, the other operand), or (None, None)."""
  for index, tensor in enumerate(node.inputs[:2]):
    value = g.constant(tensor)
    if value is not None and value.size == 1:
      return float(value.reshape(())), node.inputs[1 - index]
  return None, None


def clip(g, tensor, claimed):
  """(clipped tensor, clip value or None): clip_by_value(t, -v, v) is Minimum then Maximum."""
  for low in consumers_of(g, tensor, ("Minimum",)):
    value, _ = const_operand(g, low)
    highs = consumers_of(g, f"{low.name}:0", ("Maximum",))
    if value is not None and len(highs) == 1:
      lower, _ = const_operand(g, highs[0])
      if lower is not None and lower == -value:
        claimed |= {low.name, highs[0].name}
        return f"{highs[0].name}:0", value
  return tensor, None


def checked(g, claimed, outputs, inputs, where):
  """`claimed`, once every op between the step's inputs and outputs is in it (or reads a
  variable or a constant)."""
  between = g.upstream(outputs, stop=inputs)
  # A weight entering a static_rnn step's cond (static_lengths.py) comes through a Switch; its
  # predicate belongs to the guard, not to the cell.
  predicates = [g.nodes[n].inputs[1] for n in between
                if g.nodes[n].op == "Switch" and g.variable_of(f"{n}:0")]
  if predicates:
    between = g.upstream(outputs, stop=list(inputs) + predicates)
  stray = sorted(n for n in between - claimed
                 if g.nodes[n].op not in ("Const", "Enter", "Identity", "VariableV2",
                                          "VarHandleOp", "ReadVariableOp")
                 # (a weight entering a static_rnn step's cond, static_lengths.py, or passed
                 # into a control flow v2 loop's body as an argument, while_v2.py)
                 and not (g.nodes[n].op in ("Switch", "Placeholder")
                          and g.variable_of(f"{n}:0")))
  if stray:
    raise NotRecognised(f"{where}: ops inside the cell that no TF1 cell class builds: "
                        + ", ".join(f"{n} ({g.nodes[n].op})" for n in stray[:8]))
  return claimed | {n for n in between if g.nodes[n].op in ("Const",)}


def step_starts(g, cells):
  """[(node, cell, weight tensor)]: every op where a step of one of `cells` starts (its
  kind's step_starts), with the input that carries the cell's kernel (a loop's Enter tells
  which loop the step runs in)."""
  return [(node, cell, weight) for cell in cells for node, weight in
          cell.kind.step_starts(g, cell)]


def matmuls_of(g, variable):
  """[(MatMul, weight tensor)] that apply `variable` as their right operand (not transposed:
  a training graph's gradients read the kernel too, transposed), within the model."""
  return [(n, n.inputs[1]) for n in g.nodes.values() if n.op == "MatMul" and len(n.inputs) == 2
          and g.variable_of(n.inputs[1]) == variable
          and not n.attr_value("transpose_a") and not n.attr_value("transpose_b")
          and (g.active is None or n.name in g.active)]


def ops_reading(g, op, index, variable):
  """[(node, weight tensor)] of type `op` whose input `index` reads `variable`, within the
  model (the fused cell kernels: LSTMBlockCell's w, GRUBlockCell's w_ru)."""
  return [(n, n.inputs[index]) for n in g.nodes.values() if n.op == op and
          len(n.inputs) > index and g.variable_of(n.inputs[index]) == variable
          and (g.active is None or n.name in g.active)]
