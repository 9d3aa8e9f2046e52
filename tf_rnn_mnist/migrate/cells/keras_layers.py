"""tf.keras (Keras 2) LSTM and GRU layers saved in a TF1 checkpoint: `SCOPE/kernel [in, G*U]`,
`recurrent_kernel [U, G*U]`, `bias` (G = 4 LSTM, 3 GRU; a GRU bias of shape [2, 3U] is
reset_after=True). Keras 3 has the same layout: nothing moves."""

import re

import keras

from tf_rnn_mnist.migrate.cell_steps import ADDS, Step, checked, one_consumer, other_input
from tf_rnn_mnist.migrate.cells.base import CellKind, NotRecognised, cell_kind, shape_of

_ROLES = ["kernel", "recurrent_kernel", "bias"]


def _is_one(g, tensor):
  value = g.constant(tensor)
  return value is not None and value.size == 1 and float(value.reshape(())) == 1.0


class KerasLayer(CellKind):
  gates = None
  step_role = "kernel"
  keras_loop = True  # its steps run in Keras's own backend.rnn loop (keras_loops.py)

  def claims(self, name, shapes):
    scope, _, leaf = name.rpartition("/")
    if leaf != "recurrent_kernel":
      return None
    recurrent = shapes[name]
    if len(recurrent) == 2 and recurrent[0] and recurrent[1] == self.gates * recurrent[0]:
      return scope
    return None

  def recognise(self, scope, shapes):
    from tf_rnn_mnist.migrate.structures import Cell
    kernel = shape_of(shapes, f"{scope}/kernel")
    recurrent = shape_of(shapes, f"{scope}/recurrent_kernel")
    bias = shape_of(shapes, f"{scope}/bias")
    if not kernel or not bias or len(kernel) != 2 or len(recurrent) != 2:
      raise NotRecognised("a tf.keras recurrent layer needs kernel, recurrent_kernel and bias")
    if kernel[1] != recurrent[1]:
      raise NotRecognised(f"kernel {list(kernel)} / recurrent_kernel {list(recurrent)} do not "
                          "have the same columns")
    reset_after = self._reset_after(bias, recurrent[1])
    if reset_after is None:
      raise NotRecognised(f"bias {list(bias)} does not fit kernel {list(kernel)}")
    return Cell(self, scope, kernel[0], recurrent[0], reset_after=reset_after)

  def _reset_after(self, bias, cols):
    return False if bias == (cols,) else None

  def roles(self, cell):
    return list(_ROLES)

  def tf1_shapes(self, cell):
    cols = self.gates * cell.units
    return {"kernel": (cell.input_size, cols), "recurrent_kernel": (cell.units, cols),
            "bias": (2, cols) if cell.reset_after else (cols,)}

  def to_keras(self, cell, arrays, forget_bias):
    return [arrays[r] for r in _ROLES]

  def to_tf1(self, cell, weights, forget_bias):
    return dict(zip(_ROLES, weights))

  def describe_class(self, cell):
    return f"tf.keras {self.layer} layer"

  def position(self, scope):
    """A layer's scope (TF2's tf.keras puts the cell's own scope inside it); Bidirectional's
    forward_X / backward_X layers side by side."""
    parts = scope.split("/")
    if len(parts) > 1 and parts[-1].startswith(("lstm_cell", "gru_cell")):
      parts = parts[:-1]
    match = re.match(r"^(forward|backward)_", parts[-1])
    if match and len(parts) > 1:
      return "/".join(parts[:-1]), "keras", 0, "fw" if match.group(1) == "forward" else "bw", 0
    return "/".join(parts), "keras", 0, "fw", 0

  def tf1_layer(self, tf_keras, cell, **common):
    """The tf.keras layer itself (the cell-level check rebuilds it)."""
    return getattr(tf_keras.layers, self.layer)(cell.units, **common)


@cell_kind
class KerasGRU(KerasLayer):
  name = "keras_gru"
  tf1_class = "tf.keras GRU"
  layer = "GRU"
  scope_name = "gru_cell"
  gates = 3

  def _reset_after(self, bias, cols):
    return {(cols,): False, (2, cols): True}.get(bias)

  def keras_cell(self, cell, settings):
    return keras.layers.GRUCell(cell.units, reset_after=cell.reset_after)

  def step(self, g, matmul, cell):
    """Keras 2's standard_gru step (reset_after=True): x @ kernel + bias[0] and h @
    recurrent_kernel + bias[1], each split in z, r, h; z, r = sigmoid(x_z + r_z), sigmoid(x_r
    + r_r); hh = tanh(x_h + r * r_h); h' = z * h + (1 - z) * hh."""
    where = cell.scope
    if not cell.reset_after:
      raise NotRecognised(f"{where}: a tf.keras GRU with reset_after=False is not converted "
                          "from a graph yet")
    x = matmul.inputs[0]
    x_bias = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
    x_split = one_consumer(g, f"{x_bias.name}:0", ("Split",), "Split into z, r, h", where)
    variables = cell.variables()
    z_add = one_consumer(g, f"{x_split.name}:0", ADDS, "x_z + r_z", where)
    if other_input(z_add, f"{x_split.name}:0").rpartition(":")[2] != "0":
      raise NotRecognised(f"{where}: not Keras's GRU step (x_z + r_z)")
    r_split = g.node(other_input(z_add, f"{x_split.name}:0"))
    h_bias = g.node(r_split.inputs[0])
    h_matmul = g.node(h_bias.inputs[0])
    if r_split.op != "SplitV" or h_bias.op != "BiasAdd" or h_matmul.op != "MatMul" or \
        g.variable_of(h_matmul.inputs[1]) != variables["recurrent_kernel"]:
      raise NotRecognised(f"{where}: not Keras's GRU step (h @ recurrent_kernel + bias[1])")
    h_prev = h_matmul.inputs[0]
    z = one_consumer(g, f"{z_add.name}:0", ("Sigmoid",), "Sigmoid of z", where)
    r_add = one_consumer(g, f"{x_split.name}:1", ADDS, "x_r + r_r", where,
                         lambda n: other_input(n, f"{x_split.name}:1") == f"{r_split.name}:1")
    r = one_consumer(g, f"{r_add.name}:0", ("Sigmoid",), "Sigmoid of r", where)
    r_h = one_consumer(g, f"{r.name}:0", ("Mul",), "r * r_h", where,
                       lambda n: other_input(n, f"{r.name}:0") == f"{r_split.name}:2")
    hh_add = one_consumer(g, f"{r_h.name}:0", ADDS, "x_h + r * r_h", where,
                          lambda n: other_input(n, f"{r_h.name}:0") == f"{x_split.name}:2")
    hh = one_consumer(g, f"{hh_add.name}:0", ("Tanh",), "tanh of hh", where)
    z_h = one_consumer(g, f"{z.name}:0", ("Mul",), "z * h", where,
                       lambda n: other_input(n, f"{z.name}:0") == h_prev)
    one_minus = one_consumer(g, f"{z.name}:0", ("Sub",), "1 - z", where,
                             lambda n: n.inputs[1] == f"{z.name}:0" and _is_one(g, n.inputs[0]))
    z_hh = one_consumer(g, f"{one_minus.name}:0", ("Mul",), "(1 - z) * hh", where,
                        lambda n: other_input(n, f"{one_minus.name}:0") == f"{hh.name}:0")
    for bias_add, row in ((x_bias, 0), (h_bias, 1)):  # bias[0] for x, bias[1] for h
      unstack = g.node(bias_add.inputs[1])
      if unstack.op != "Unpack" or bias_add.inputs[1] != f"{unstack.name}:{row}" or \
          g.variable_of(unstack.inputs[0]) != variables["bias"]:
        raise NotRecognised(f"{where}: not Keras's GRU step (bias[{row}])")
    new_h = one_consumer(g, f"{z_h.name}:0", ADDS, "the new h", where,
                         lambda n: other_input(n, f"{z_h.name}:0") == f"{z_hh.name}:0")
    claimed = {n.name for n in (matmul, x_bias, x_split, z_add, r_split, h_bias, h_matmul, z,
                                r_add, r, r_h, hh_add, hh, z_h, one_minus, z_hh, new_h)}
    claimed |= {g.node(x_bias.inputs[1]).name, g.node(h_bias.inputs[1]).name}  # bias[0], [1]
    return Step(cell, x, h_prev, None, f"{new_h.name}:0", None, {"activation": "tanh"},
                checked(g, claimed, [f"{new_h.name}:0"], [x, h_prev], where))

  def keras_layer(self, cell, settings, **common):
    return keras.layers.GRU(cell.units, reset_after=cell.reset_after, **common)

  def tf1_layer(self, tf_keras, cell, **common):
    return tf_keras.layers.GRU(cell.units, reset_after=cell.reset_after, **common)


@cell_kind
class KerasLSTM(KerasLayer):
  name = "keras_lstm"
  tf1_class = "tf.keras LSTM"
  layer = "LSTM"
  states = ("h", "c")  # a tf.keras layer returns h before c
  keras_states = ("h", "c")
  scope_name = "lstm_cell"
  gates = 4

  def claims(self, name, shapes):
    """Every recurrent_kernel the GRU kind (tried first) left: an LSTM, or refused with why."""
    return name.rpartition("/")[0] if name.endswith("/recurrent_kernel") or \
        name == "recurrent_kernel" else None

  def recognise(self, scope, shapes):
    recurrent = shape_of(shapes, f"{scope}/recurrent_kernel")
    if len(recurrent) != 2 or not recurrent[0] or recurrent[1] != 4 * recurrent[0]:
      raise NotRecognised(f"recurrent_kernel {list(recurrent)} is neither an LSTM's (4 units "
                          "columns) nor a GRU's (3 units columns); a SimpleRNN?")
    return super().recognise(scope, shapes)

  def keras_cell(self, cell, settings):
    return keras.layers.LSTMCell(cell.units)

  def step(self, g, matmul, cell):
    """Keras 2's standard_lstm step: z = x @ kernel + h @ recurrent_kernel + bias, split in
    i, f, c, o (Keras's order); c' = sigmoid(f) * c + sigmoid(i) * tanh(c~);
    h' = sigmoid(o) * tanh(c')."""
    where = cell.scope
    x = matmul.inputs[0]
    variables = cell.variables()
    add = one_consumer(g, f"{matmul.name}:0", ADDS, "x @ kernel + h @ recurrent_kernel", where)
    h_matmul = g.node(other_input(add, f"{matmul.name}:0"))
    if h_matmul.op != "MatMul" or g.variable_of(h_matmul.inputs[1]) != \
        variables["recurrent_kernel"]:
      raise NotRecognised(f"{where}: not Keras's LSTM step (h @ recurrent_kernel)")
    h_prev = h_matmul.inputs[0]
    bias_add = one_consumer(g, f"{add.name}:0", ("BiasAdd",), "BiasAdd", where,
                            lambda n: g.variable_of(n.inputs[1]) == variables["bias"])
    split = one_consumer(g, f"{bias_add.name}:0", ("Split",), "Split into 4 gates", where)
    i = one_consumer(g, f"{split.name}:0", ("Sigmoid",), "Sigmoid of i", where)
    f = one_consumer(g, f"{split.name}:1", ("Sigmoid",), "Sigmoid of f", where)
    candidate = one_consumer(g, f"{split.name}:2", ("Tanh",), "tanh of c~", where)
    o = one_consumer(g, f"{split.name}:3", ("Sigmoid",), "Sigmoid of o", where)
    f_c = one_consumer(g, f"{f.name}:0", ("Mul",), "f * c", where)
    c_prev = other_input(f_c, f"{f.name}:0")
    i_c = one_consumer(g, f"{i.name}:0", ("Mul",), "i * c~", where,
                       lambda n: other_input(n, f"{i.name}:0") == f"{candidate.name}:0")
    new_c = one_consumer(g, f"{f_c.name}:0", ADDS, "the new c", where,
                         lambda n: other_input(n, f"{f_c.name}:0") == f"{i_c.name}:0")
    c_act = one_consumer(g, f"{new_c.name}:0", ("Tanh",), "tanh of the new c", where)
    new_h = one_consumer(g, f"{o.name}:0", ("Mul",), "the new h", where,
                         lambda n: other_input(n, f"{o.name}:0") == f"{c_act.name}:0")
    claimed = {n.name for n in (matmul, add, h_matmul, bias_add, split, i, f, candidate, o, f_c,
                                i_c, new_c, c_act, new_h)}
    outputs = [f"{new_h.name}:0", f"{new_c.name}:0"]
    return Step(cell, x, h_prev, c_prev, outputs[0], outputs[1], {"activation": "tanh"},
                checked(g, claimed, outputs, [x, h_prev, c_prev], where))

  def keras_layer(self, cell, settings, **common):
    return keras.layers.LSTM(cell.units, **common)
