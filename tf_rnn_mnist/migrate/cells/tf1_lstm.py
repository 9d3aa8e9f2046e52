"""TF1's LSTM cells: BasicLSTMCell, LSTMCell (peepholes, projection, cell and projection
clips; contrib's LSTMBlockCell creates the same variables) and contrib's LSTMBlockFusedCell
(the BlockLSTM kernel over a whole sequence).

Variables: `SCOPE/kernel [in + out, 4U]` over concat([x, h]), `SCOPE/bias [4U]`, gate columns
i, j, f, o, optionally `w_i_diag, w_f_diag, w_o_diag [U]` and `projection/kernel [U, P]` (out
= P, else U). TF1 adds forget_bias at run time; Keras keeps it inside the bias's f block.
"""

import keras

from tf_rnn_mnist.migrate import cell_maps
from tf_rnn_mnist.migrate.cell_steps import (ACTIVATIONS, ADDS, Step, checked, clip,
                                             const_operand, consumers_of, one_consumer,
                                             ops_reading, other_input)
from tf_rnn_mnist.migrate.cells.base import (CellKind, NotRecognised, cell_kind, named_scope,
                                             shape_of)
from tf_rnn_mnist.migrate.keras_cells import TF1LSTMCell

PEEPHOLES = ("w_i_diag", "w_f_diag", "w_o_diag")


class TF1LSTM(CellKind):
  """What the three TF1 LSTM classes share: variables, layouts, the Keras cell."""
  layer = "LSTM"
  states = ("c", "h")
  keras_states = ("h", "c")
  step_role = "kernel"
  clips = True           # LSTMCell's cell_clip and proj_clip

  def claims(self, name, shapes):
    scope = named_scope(name, self.scope_name, "kernel")
    return scope if scope is not None and f"{scope}/recurrent_kernel" not in shapes else None

  def recognise(self, scope, shapes):
    from tf_rnn_mnist.migrate.structures import Cell
    kernel, bias = shape_of(shapes, f"{scope}/kernel"), shape_of(shapes, f"{scope}/bias")
    if not bias or len(bias) != 1 or bias[0] % 4 or not kernel or len(kernel) != 2 \
        or kernel[1] != bias[0]:
      raise NotRecognised(f"an LSTM cell needs kernel [in + units, 4 units] and bias "
                          f"[4 units]; found kernel {list(kernel or [])}, bias {list(bias or [])}")
    units = bias[0] // 4
    diags = [shape_of(shapes, f"{scope}/{d}") for d in PEEPHOLES]
    if any(diags) and diags != [(units,)] * 3:
      raise NotRecognised(f"peepholes need w_i_diag, w_f_diag, w_o_diag of shape [{units}]")
    projection = shape_of(shapes, f"{scope}/projection/kernel")
    if projection and (len(projection) != 2 or projection[0] != units):
      raise NotRecognised(f"projection/kernel must be [{units}, num_proj], not "
                          f"{list(projection)}")
    num_proj = projection[1] if projection else None
    recurrent = num_proj or units
    if kernel[0] <= recurrent:
      raise NotRecognised(f"kernel has {kernel[0]} rows, not more than the {recurrent} "
                          "recurrent ones")
    return Cell(self, scope, kernel[0] - recurrent, units, num_proj, bool(diags[0]))

  def roles(self, cell):
    return (["kernel", "bias"] + (list(PEEPHOLES) if cell.peepholes else [])
            + (["projection/kernel"] if cell.num_proj else []))

  def tf1_shapes(self, cell):
    rows, units = cell.input_size + cell.output_size, cell.units
    shapes = {"kernel": (rows, 4 * units), "bias": (4 * units,),
              **{d: (units,) for d in PEEPHOLES}, "projection/kernel": (units, cell.num_proj)}
    return {role: shapes[role] for role in self.roles(cell)}

  def to_keras(self, cell, arrays, forget_bias):
    import numpy as np
    weights = cell_maps.lstm_to_keras(arrays["kernel"], arrays["bias"], cell.input_size,
                                      forget_bias)
    if cell.peepholes:
      weights.append(np.stack([arrays[d] for d in PEEPHOLES]))
    if cell.num_proj:
      weights.append(arrays["projection/kernel"])
    return weights

  def to_tf1(self, cell, weights, forget_bias):
    kernel, bias = cell_maps.lstm_to_tf1(*weights[:3], forget_bias)
    arrays = {"kernel": kernel, "bias": bias}
    rest = list(weights[3:])
    if cell.peepholes:
      arrays.update(zip(PEEPHOLES, rest.pop(0)))
    if cell.num_proj:
      arrays["projection/kernel"] = rest.pop(0)
    return arrays

  def keras_weight_count(self, cell):
    return 3 + bool(cell.peepholes) + bool(cell.num_proj)

  def settings(self, cell, options):
    return {"forget_bias": options.forget_bias, "activation": "tanh",
            "cell_clip": options.cell_clip if self.clips else None,
            "proj_clip": options.proj_clip if cell.num_proj else None}

  def _needs_tf1_cell(self, cell, settings):
    """What keras.layers.LSTMCell does not compute: peepholes, projection, clipping."""
    return bool(cell.peepholes or cell.num_proj or settings.get("cell_clip") is not None)

  def keras_cell(self, cell, settings):
    activation = settings.get("activation", "tanh")
    if self._needs_tf1_cell(cell, settings):
      return TF1LSTMCell(cell.units, cell.num_proj, cell.peepholes, settings.get("cell_clip"),
                         settings.get("proj_clip"), activation=activation)
    return keras.layers.LSTMCell(cell.units, activation=activation, unit_forget_bias=False)

  def keras_layer(self, cell, settings, **common):
    if self._needs_tf1_cell(cell, settings) or settings.get("activation", "tanh") != "tanh":
      return keras.layers.RNN(self.keras_cell(cell, settings), **common)
    return keras.layers.LSTM(cell.units, **common)

  def step(self, g, node, cell):
    return lstm_step(g, node, cell)

  def tf1_cell(self, tf, cell, options):
    return tf.nn.rnn_cell.LSTMCell(cell.units, use_peepholes=cell.peepholes,
                                   cell_clip=options.cell_clip, num_proj=cell.num_proj,
                                   proj_clip=options.proj_clip if cell.num_proj else None,
                                   forget_bias=options.forget_bias, name=cell.cell_name)

  def settings_note(self, settings):
    note = f" forget_bias={settings['forget_bias']:g}"
    for clip_name in ("cell_clip", "proj_clip"):
      if settings.get(clip_name):
        note += f" {clip_name}={settings[clip_name]:g}"
    return note + super().settings_note(settings)


@cell_kind
class BasicLSTMCell(TF1LSTM):
  name = "basic_lstm"
  tf1_class = "BasicLSTMCell"
  scope_name = "basic_lstm_cell"
  clips = False

  def tf1_cell(self, tf, cell, options):
    return tf.nn.rnn_cell.BasicLSTMCell(cell.units, forget_bias=options.forget_bias,
                                        name=cell.cell_name)


@cell_kind
class LSTMCell(TF1LSTM):
  """LSTMCell, or contrib's LSTMBlockCell (the same variables; its step is one op)."""
  name = "lstm"
  tf1_class = "LSTMCell"
  scope_name = "lstm_cell"

  def describe_class(self, cell):
    return "LSTMCell" if cell.num_proj else "LSTMCell or contrib LSTMBlockCell"

  def step_starts(self, g, cell):
    """Its kernel's MatMuls (LSTMCell) and LSTMBlockCell ops on it (contrib's LSTMBlockCell:
    the same variables, one op a step)."""
    return super().step_starts(g, cell) + ops_reading(g, "LSTMBlockCell", 3,
                                                      cell.variables()["kernel"])

  def step(self, g, node, cell):
    if node.op == "LSTMBlockCell":
      return block_step(g, node, cell)
    return lstm_step(g, node, cell)


@cell_kind
class LSTMBlockFusedCell(TF1LSTM):
  """contrib's LSTMBlockFusedCell: the BlockLSTM op over the whole time-major sequence, with
  LSTMCell's variables and gate order (i, j, f, o)."""
  name = "lstm_fused"
  tf1_class = "LSTMBlockFusedCell"
  scope_name = "lstm_fused_cell"
  whole_sequence = True
  step_role = None

  def tf1_sequence(self, tf, cell, x, options):
    """(outputs [B, T, U], [final h, final c]) of the BlockLSTM kernel on batch-major `x`."""
    with tf.variable_scope(cell.scope):
      rows, gates = cell.input_size + cell.units, 4 * cell.units
      w = tf.get_variable("kernel", [rows, gates])
      b = tf.get_variable("bias", [gates])
      diags = ([tf.get_variable(d, [cell.units]) for d in PEEPHOLES]
               if cell.peepholes else [tf.zeros([cell.units])] * 3)
    time_major = tf.transpose(x, [1, 0, 2])
    zeros = tf.zeros([tf.shape(x)[0], cell.units])
    _, cs, _, _, _, _, h = tf.raw_ops.BlockLSTM(
        seq_len_max=tf.cast(tf.shape(x)[1], tf.int64), x=time_major, cs_prev=zeros,
        h_prev=zeros, w=w, wci=diags[0], wcf=diags[1], wco=diags[2], b=b,
        forget_bias=options.forget_bias,
        cell_clip=-1.0 if options.cell_clip is None else options.cell_clip,
        use_peephole=cell.peepholes)
    return tf.transpose(h, [1, 0, 2]), [h[-1], cs[-1]]


def _peephole(g, gate, var, claimed, where):
  """The Add of `gate` and `var * c`: (its output, c)."""
  for add in consumers_of(g, gate, ADDS):
    mul = g.node(other_input(add, gate))
    others = [t for t in mul.inputs if g.variable_of(t) != var] if mul.op == "Mul" else []
    if len(others) == 1:
      c = others[0]
      claimed |= {add.name, mul.name}
      return f"{add.name}:0", c
  raise NotRecognised(f"{where}: no peephole {var} found on the gate")


def lstm_step(g, matmul, cell):
  """The Step of a TF1 LSTM cell (BasicLSTMCell, LSTMCell) from its kernel's MatMul, along the
  ops `rnn_cell_impl` of TF 1.15 builds."""
  where = cell.scope
  claimed = {matmul.name}
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the kernel's MatMul does not read concat([inputs, h])")
  claimed.add(concat.name)
  x, h_prev = concat.inputs[:2]
  variables = cell.variables()
  bias_add = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where,
                          lambda n: g.variable_of(n.inputs[1]) == variables["bias"])
  split = one_consumer(g, f"{bias_add.name}:0", ("Split",), "Split into 4 gates", where)
  claimed |= {bias_add.name, split.name}
  i, j, f, o = (f"{split.name}:{k}" for k in range(4))
  forget = one_consumer(g, f, ADDS, "forget-bias Add", where,
                        lambda n: const_operand(g, n)[0] is not None)
  forget_bias = const_operand(g, forget)[0]
  claimed.add(forget.name)
  f_pre, c_prev, i_pre = f"{forget.name}:0", None, i
  if cell.peepholes:
    f_pre, c_prev = _peephole(g, f_pre, variables["w_f_diag"], claimed, where)
    i_pre, _ = _peephole(g, i, variables["w_i_diag"], claimed, where)
  sig_f = one_consumer(g, f_pre, ("Sigmoid",), "Sigmoid of the forget gate", where)
  mul_f = one_consumer(g, f"{sig_f.name}:0", ("Mul",), "Mul by c", where)
  c_prev = c_prev or other_input(mul_f, f"{sig_f.name}:0")
  sig_i = one_consumer(g, i_pre, ("Sigmoid",), "Sigmoid of the input gate", where)
  act_j = one_consumer(g, j, tuple(ACTIVATIONS), "activation of j", where)
  mul_i = one_consumer(g, f"{sig_i.name}:0", ("Mul",), "Mul of i and j", where,
                       lambda n: other_input(n, f"{sig_i.name}:0") == f"{act_j.name}:0")
  new_c_node = one_consumer(g, f"{mul_f.name}:0", ADDS, "Add making the new c", where,
                            lambda n: other_input(n, f"{mul_f.name}:0") == f"{mul_i.name}:0")
  claimed |= {sig_f.name, mul_f.name, sig_i.name, act_j.name, mul_i.name, new_c_node.name}
  new_c, cell_clip = clip(g, f"{new_c_node.name}:0", claimed)
  o_pre = o
  if cell.peepholes:
    o_pre, _ = _peephole(g, o, variables["w_o_diag"], claimed, where)
  sig_o = one_consumer(g, o_pre, ("Sigmoid",), "Sigmoid of the output gate", where)
  act_c = one_consumer(g, new_c, (act_j.op,), f"{act_j.op} of the new c", where)
  new_h_node = one_consumer(g, f"{act_c.name}:0", ("Mul",), "Mul making the new h", where,
                            lambda n: other_input(n, f"{act_c.name}:0") == f"{sig_o.name}:0")
  claimed |= {sig_o.name, act_c.name, new_h_node.name}
  new_h, proj_clip = f"{new_h_node.name}:0", None
  if cell.num_proj:
    projection = one_consumer(g, new_h, ("MatMul",), "projection MatMul", where)
    claimed.add(projection.name)
    new_h, proj_clip = clip(g, f"{projection.name}:0", claimed)
  settings = dict(forget_bias=forget_bias, cell_clip=cell_clip, proj_clip=proj_clip,
                  activation=ACTIVATIONS[act_j.op])
  return Step(cell, x, h_prev, c_prev, new_h, new_c, settings,
              checked(g, claimed, [new_h, new_c], [x, h_prev, c_prev], where))


def block_step(g, node, cell):
  """The Step of contrib's LSTMBlockCell: one LSTMBlockCell op (inputs x, cs_prev, h_prev, w,
  wci, wcf, wco, b; outputs i, cs, f, o, ci, co, h) whose forget_bias, cell_clip (off when
  <= 0) and use_peephole are its attributes; with peepholes its wci, wcf, wco are the cell's
  w_i_diag, w_f_diag, w_o_diag."""
  where = cell.scope
  x, cs_prev, h_prev, w, wci, wcf, wco, b = node.inputs
  variables = cell.variables()
  if g.variable_of(b) != variables["bias"]:
    raise NotRecognised(f"{where}: LSTMBlockCell {node.name} adds another bias than {where}/bias")
  peephole = bool(node.attr_value("use_peephole", False))  # (the op's defaults where a
  # graph saved without default attributes leaves them out: forget_bias 1, cell_clip 3)
  if peephole != bool(cell.peepholes) or peephole and [
      g.variable_of(t) for t in (wci, wcf, wco)] != [variables[d] for d in PEEPHOLES]:
    raise NotRecognised(f"{where}: LSTMBlockCell {node.name}'s peepholes are not the cell's "
                        f"{', '.join(PEEPHOLES)}")
  if cell.num_proj:
    raise NotRecognised(f"{where}: LSTMBlockCell has no projection")
  clip_value = node.attr_value("cell_clip", 3.0)
  settings = dict(forget_bias=float(node.attr_value("forget_bias", 1.0)),
                  cell_clip=float(clip_value) if clip_value and clip_value > 0 else None,
                  proj_clip=None, activation="tanh")
  new_c, new_h = f"{node.name}:1", f"{node.name}:6"
  inputs = [x, h_prev, cs_prev] + ([] if peephole else [wci, wcf, wco])
  return Step(cell, x, h_prev, cs_prev, new_h, new_c, settings,
              checked(g, {node.name}, [new_h, new_c], inputs, where))
