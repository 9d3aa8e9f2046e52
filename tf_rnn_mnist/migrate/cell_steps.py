"""One step of a TF1 cell as a program's graph runs it, matched from the cell's kernel MatMul
along the ops the TF1 cell class builds (`rnn_cell_impl` of TF 1.15: BasicLSTMCell, LSTMCell
with peepholes / projection / clips, GRUCell): its input, previous and new states, and TF1's
run-time settings as the graph holds them (forget_bias, cell_clip, proj_clip, activation).

Every op between the step's inputs and outputs must be one the match visited: an op the tool
does not understand inside a cell is refused, never dropped.
"""

import dataclasses

ADDS = ("Add", "AddV2")
ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid", "Elu": "elu",
               "Relu6": "relu6", "Softsign": "softsign"}
# Ops of a while loop's frame and of dynamic_rnn's bookkeeping that compute no model value.

class NotRecognised(ValueError):
  """The graph does something here the tool does not convert; the message says what."""


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


def _const_operand(g, node):
  for index, tensor in enumerate(node.inputs):
    value = g.constant(tensor)
    if value is not None:
      return float(value), node.inputs[1 - index]
  return None, None


def _clip(g, tensor, claimed):
  """(clipped tensor, clip value or None): clip_by_value(t, -v, v) is Minimum then Maximum."""
  for low in consumers_of(g, tensor, ("Minimum",)):
    value, _ = _const_operand(g, low)
    highs = consumers_of(g, f"{low.name}:0", ("Maximum",))
    if value is not None and len(highs) == 1:
      lower, _ = _const_operand(g, highs[0])
      if lower is not None and lower == -value:
        claimed |= {low.name, highs[0].name}
        return f"{highs[0].name}:0", value
  return tensor, None


def _variable_input(g, node, index):
  return g.variable_of(node.inputs[index])


def _peephole(g, gate, var, claimed, where):
  """The Add of `gate` and `var * c`: (its output, c)."""
  for add in consumers_of(g, gate, ADDS):
    mul = g.node(other_input(add, gate))
    if mul.op == "Mul" and any(g.variable_of(t) == var for t in mul.inputs):
      c = next(t for t in mul.inputs if g.variable_of(t) != var)
      claimed |= {add.name, mul.name}
      return f"{add.name}:0", c
  raise NotRecognised(f"{where}: no peephole {var} found on the gate")


def lstm_step(g, matmul, cell):
  """The Step of a TF1 LSTM cell (BasicLSTMCell, LSTMCell) from its kernel's MatMul."""
  where = cell.scope
  claimed = {matmul.name}
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the kernel's MatMul does not read concat([inputs, h])")
  claimed.add(concat.name)
  x, h_prev = concat.inputs[:2]
  bias_add = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
  split = one_consumer(g, f"{bias_add.name}:0", ("Split",), "Split into 4 gates", where)
  claimed |= {bias_add.name, split.name}
  i, j, f, o = (f"{split.name}:{k}" for k in range(4))
  forget = one_consumer(g, f, ADDS, "forget-bias Add", where,
                lambda n: _const_operand(g, n)[0] is not None)
  forget_bias = _const_operand(g, forget)[0]
  claimed.add(forget.name)
  f_pre, c_prev, i_pre = f"{forget.name}:0", None, i
  variables = cell.variables()
  if cell.peepholes:
    f_pre, c_prev = _peephole(g, f_pre, variables["w_f_diag"], claimed, where)
    i_pre, _ = _peephole(g, i, variables["w_i_diag"], claimed, where)
  sig_f = one_consumer(g, f_pre, ("Sigmoid",), "Sigmoid of the forget gate", where)
  mul_f = one_consumer(g, f"{sig_f.name}:0", ("Mul",), "Mul by c", where)
  c_prev = c_prev or other_input(mul_f, f"{sig_f.name}:0")
  sig_i = one_consumer(g, i_pre, ("Sigmoid",), "Sigmoid of the input gate", where)
  act_j = one_consumer(g, j, tuple(ACTIVATIONS), "activation of j", where)
  mul_i = one_consumer(g, f"{sig_i.name}:0", ("Mul",), "Mul of i and j", where)
  new_c_node = one_consumer(g, f"{mul_f.name}:0", ADDS, "Add making the new c", where)
  claimed |= {sig_f.name, mul_f.name, sig_i.name, act_j.name, mul_i.name, new_c_node.name}
  new_c, cell_clip = _clip(g, f"{new_c_node.name}:0", claimed)
  o_pre = o
  if cell.peepholes:
    o_pre, _ = _peephole(g, o, variables["w_o_diag"], claimed, where)
  sig_o = one_consumer(g, o_pre, ("Sigmoid",), "Sigmoid of the output gate", where)
  act_c = one_consumer(g, new_c, (act_j.op,), f"{act_j.op} of the new c", where)
  new_h_node = one_consumer(g, f"{act_c.name}:0", ("Mul",), "Mul making the new h", where)
  claimed |= {sig_o.name, act_c.name, new_h_node.name}
  new_h, proj_clip = f"{new_h_node.name}:0", None
  if cell.num_proj:
    projection = one_consumer(g, new_h, ("MatMul",), "projection MatMul", where)
    claimed.add(projection.name)
    new_h, proj_clip = _clip(g, f"{projection.name}:0", claimed)
  settings = dict(forget_bias=forget_bias, cell_clip=cell_clip, proj_clip=proj_clip,
                  activation=ACTIVATIONS[act_j.op])
  return Step(cell, x, h_prev, c_prev, new_h, new_c, settings,
              _checked(g, claimed, [new_h, new_c], [x, h_prev, c_prev], where))


def gru_step(g, matmul, cell):
  """The Step of a TF1 GRUCell from its gates kernel's MatMul."""
  where = cell.scope
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the gates MatMul does not read concat([inputs, h])")
  x, h_prev = concat.inputs[:2]
  bias_add = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
  sigmoid = one_consumer(g, f"{bias_add.name}:0", ("Sigmoid",), "Sigmoid of the gates", where)
  split = one_consumer(g, f"{sigmoid.name}:0", ("Split",), "Split into r, u", where)
  r, u = f"{split.name}:0", f"{split.name}:1"
  r_h = one_consumer(g, r, ("Mul",), "r * h", where, lambda n: other_input(n, r) == h_prev)
  concat_1 = one_consumer(g, f"{r_h.name}:0", ("ConcatV2",), "concat([inputs, r * h])", where,
                  lambda n: n.inputs[0] == x)
  candidate = one_consumer(g, f"{concat_1.name}:0", ("MatMul",), "candidate MatMul", where)
  bias_add_1 = one_consumer(g, f"{candidate.name}:0", ("BiasAdd",), "candidate BiasAdd", where)
  act = one_consumer(g, f"{bias_add_1.name}:0", tuple(ACTIVATIONS), "candidate activation", where)
  u_h = one_consumer(g, u, ("Mul",), "u * h", where, lambda n: other_input(n, u) == h_prev)
  one_minus_u = one_consumer(g, u, ("Sub",), "1 - u", where)
  u_c = one_consumer(g, f"{one_minus_u.name}:0", ("Mul",), "(1 - u) * c", where)
  new_h = one_consumer(g, f"{u_h.name}:0", ADDS, "Add making the new h", where,
               lambda n: other_input(n, f"{u_h.name}:0") == f"{u_c.name}:0")
  claimed = {n.name for n in (matmul, concat, bias_add, sigmoid, split, r_h, concat_1,
                              candidate, bias_add_1, act, u_h, one_minus_u, u_c, new_h)}
  settings = dict(activation=ACTIVATIONS[act.op])
  return Step(cell, x, h_prev, None, f"{new_h.name}:0", None, settings,
              _checked(g, claimed, [f"{new_h.name}:0"], [x, h_prev], where))


def _checked(g, claimed, outputs, inputs, where):
  """`claimed`, once every op between the step's inputs and outputs is in it (or reads a
  variable or a constant)."""
  between = g.upstream(outputs, stop=inputs)
  stray = sorted(n for n in between - claimed
                 if g.nodes[n].op not in ("Const", "Enter", "Identity", "VariableV2",
                                          "VarHandleOp", "ReadVariableOp"))
  if stray:
    raise NotRecognised(f"{where}: ops inside the cell that no TF1 cell class builds: "
                        + ", ".join(f"{n} ({g.nodes[n].op})" for n in stray[:8]))
  return claimed | {n for n in between if g.nodes[n].op in ("Const",)}


def step_at(g, matmul, cells_by_kernel):
  cell = cells_by_kernel[g.variable_of(matmul.inputs[1])]
  return gru_step(g, matmul, cell) if cell.kind == "tf1_gru" else lstm_step(g, matmul, cell)


def kernel_matmuls(g, cells):
  """{kernel variable: Cell} and every MatMul that applies one of those kernels."""
  by_kernel = {}
  for cell in cells:
    if cell.kind in ("tf1_lstm", "tf1_gru"):
      by_kernel[cell.variables()["kernel" if cell.kind == "tf1_lstm" else "gates/kernel"]] = cell
  # (A training graph's gradients read the kernel too, transposed: not a step.)
  matmuls = [n for n in g.nodes.values() if n.op == "MatMul" and len(n.inputs) == 2
             and g.variable_of(n.inputs[1]) in by_kernel
             and not n.attr_value("transpose_a") and not n.attr_value("transpose_b")
             and (g.active is None or n.name in g.active)]
  return by_kernel, matmuls
