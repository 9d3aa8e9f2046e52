"""TF1's GRUCell: `SCOPE/gates/kernel [in + U, 2U]` (columns r, u), `gates/bias`,
`candidate/kernel [in + U, U]`, `candidate/bias` (any SCOPE: no other layer creates this set);
the reset gate applied before the candidate's matmul, which is Keras's GRU(reset_after=False)."""

import keras
import numpy as np

from tf_rnn_mnist.migrate import cell_maps
from tf_rnn_mnist.migrate.cell_steps import ACTIVATIONS, ADDS, Step, checked, one_consumer, \
    ops_reading, other_input
from tf_rnn_mnist.migrate.cells.base import CellKind, NotRecognised, cell_kind, shape_of

_ROLES = ["gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"]
_BLOCK_ROLES = ["w_ru", "b_ru", "w_c", "b_c"]  # contrib's GRUBlockCell (V1) names them so


@cell_kind
class GRUCell(CellKind):
  name = "gru"
  tf1_class = "GRUCell"
  layer = "GRU"
  scope_name = "gru_cell"
  step_role = "gates/kernel"

  def claims(self, name, shapes):
    return name[:-len("/gates/kernel")] if name.endswith("/gates/kernel") else None

  def recognise(self, scope, shapes):
    from tf_rnn_mnist.migrate.structures import Cell
    gk, gb, ck, cb = (shape_of(shapes, f"{scope}/{role}") for role in _ROLES)
    if not (gk and gb and ck and cb) or len(cb) != 1 or len(gk) != 2:
      raise NotRecognised("a GRUCell needs gates/kernel, gates/bias, candidate/kernel, "
                          "candidate/bias")
    units, rows = cb[0], gk[0]
    if gk != (rows, 2 * units) or gb != (2 * units,) or ck != (rows, units) or rows <= units:
      raise NotRecognised(f"GRUCell shapes do not agree (gates/kernel {list(gk)}, gates/bias "
                          f"{list(gb)}, candidate/kernel {list(ck)}, candidate/bias "
                          f"{list(cb)})")
    return Cell(self, scope, rows - units, units)

  def roles(self, cell):
    return list(_ROLES)

  def tf1_shapes(self, cell):
    rows, units = cell.input_size + cell.units, cell.units
    return dict(zip(_ROLES, [(rows, 2 * units), (2 * units,), (rows, units), (units,)]))

  def to_keras(self, cell, arrays, forget_bias):
    return cell_maps.gru_to_keras(*(arrays[r] for r in _ROLES), cell.input_size)

  def to_tf1(self, cell, weights, forget_bias):
    return dict(zip(_ROLES, cell_maps.gru_to_tf1(*weights)))

  def keras_cell(self, cell, settings):
    return keras.layers.GRUCell(cell.units, activation=settings.get("activation", "tanh"),
                                reset_after=False)

  def keras_layer(self, cell, settings, **common):
    if settings.get("activation", "tanh") != "tanh":
      return keras.layers.RNN(self.keras_cell(cell, settings), **common)
    return keras.layers.GRU(cell.units, reset_after=False, **common)

  def step_starts(self, g, cell):
    """Its gates kernel's MatMuls (GRUCell) and GRUBlockCell ops on it (contrib's
    GRUBlockCellV2: the same variables, one op a step)."""
    return super().step_starts(g, cell) + ops_reading(g, "GRUBlockCell", 2,
                                                      cell.variables()[self.step_role])

  def step(self, g, node, cell):
    if node.op == "GRUBlockCell":
      return block_step(g, node, cell, self.roles(cell))
    return gru_step(g, node, cell)

  def tf1_cell(self, tf, cell, options):
    return tf.nn.rnn_cell.GRUCell(cell.units, name=cell.cell_name)


def gru_step(g, matmul, cell):
  """The Step of a TF1 GRUCell from its gates kernel's MatMul."""
  where = cell.scope
  concat = g.node(matmul.inputs[0])
  if concat.op != "ConcatV2" or len(concat.inputs) != 3:
    raise NotRecognised(f"{where}: the gates MatMul does not read concat([inputs, h])")
  x, h_prev = concat.inputs[:2]
  variables = dict(zip(_ROLES, cell.variables().values()))  # (by role, whatever the names)
  bias_add = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where,
                          lambda n: g.variable_of(n.inputs[1]) == variables["gates/bias"])
  sigmoid = one_consumer(g, f"{bias_add.name}:0", ("Sigmoid",), "Sigmoid of the gates", where)
  split = one_consumer(g, f"{sigmoid.name}:0", ("Split",), "Split into r, u", where)
  r, u = f"{split.name}:0", f"{split.name}:1"
  r_h = one_consumer(g, r, ("Mul",), "r * h", where, lambda n: other_input(n, r) == h_prev)
  concat_1 = one_consumer(g, f"{r_h.name}:0", ("ConcatV2",), "concat([inputs, r * h])", where,
                          lambda n: n.inputs[0] == x)
  candidate = one_consumer(g, f"{concat_1.name}:0", ("MatMul",), "candidate MatMul", where,
                           lambda n: g.variable_of(n.inputs[1]) == variables["candidate/kernel"])
  bias_add_1 = one_consumer(g, f"{candidate.name}:0", ("BiasAdd",), "candidate BiasAdd", where,
                            lambda n: g.variable_of(n.inputs[1]) == variables["candidate/bias"])
  act = one_consumer(g, f"{bias_add_1.name}:0", tuple(ACTIVATIONS), "candidate activation",
                     where)
  u_h = one_consumer(g, u, ("Mul",), "u * h", where, lambda n: other_input(n, u) == h_prev)
  one_minus_u = one_consumer(g, u, ("Sub",), "1 - u", where,
                             lambda n: n.inputs[1] == u and g.constant(n.inputs[0]) is not None
                             and float(np.reshape(g.constant(n.inputs[0]), -1)[0]) == 1.0)
  u_c = one_consumer(g, f"{one_minus_u.name}:0", ("Mul",), "(1 - u) * c", where,
                     lambda n: other_input(n, f"{one_minus_u.name}:0") == f"{act.name}:0")
  new_h = one_consumer(g, f"{u_h.name}:0", ADDS, "Add making the new h", where,
                       lambda n: other_input(n, f"{u_h.name}:0") == f"{u_c.name}:0")
  claimed = {n.name for n in (matmul, concat, bias_add, sigmoid, split, r_h, concat_1,
                              candidate, bias_add_1, act, u_h, one_minus_u, u_c, new_h)}
  settings = dict(activation=ACTIVATIONS[act.op])
  return Step(cell, x, h_prev, None, f"{new_h.name}:0", None, settings,
              checked(g, claimed, [f"{new_h.name}:0"], [x, h_prev], where))


@cell_kind
class GRUBlockCell(GRUCell):
  """contrib's GRUBlockCell (V1): GRUCell's math and layout under the names w_ru [in + U, 2U]
  (columns r, u), b_ru, w_c [in + U, U], b_c; one GRUBlockCell op a step."""
  name = "gru_block"
  tf1_class = "contrib GRUBlockCell"
  step_role = "w_ru"

  def claims(self, name, shapes):
    return name[:-len("/w_ru")] if name.endswith("/w_ru") else None

  def recognise(self, scope, shapes):
    renamed = {f"{scope}/{role}": shapes.get(f"{scope}/{block}")
               for role, block in zip(_ROLES, _BLOCK_ROLES) if f"{scope}/{block}" in shapes}
    cell = super().recognise(scope, renamed)
    return type(cell)(self, scope, cell.input_size, cell.units)

  def roles(self, cell):
    return list(_BLOCK_ROLES)

  def tf1_shapes(self, cell):
    return dict(zip(_BLOCK_ROLES, super().tf1_shapes(cell).values()))

  def to_keras(self, cell, arrays, forget_bias):
    return cell_maps.gru_to_keras(*(arrays[r] for r in _BLOCK_ROLES), cell.input_size)

  def to_tf1(self, cell, weights, forget_bias):
    return dict(zip(_BLOCK_ROLES, cell_maps.gru_to_tf1(*weights)))

  def tf1_cell(self, tf, cell, options):
    """contrib's GRUBlockCell (gone from TF 2) as a TF1 cell over the GRUBlockCell op."""
    units, scope_name = cell.units, cell.cell_name

    class Block(tf.nn.rnn_cell.RNNCell):
      state_size = output_size = units

      def __call__(self, inputs, state, scope=None):
        with tf.variable_scope(scope_name, reuse=tf.AUTO_REUSE):
          rows = int(inputs.shape[-1]) + units
          w_ru = tf.get_variable("w_ru", [rows, 2 * units])
          b_ru = tf.get_variable("b_ru", [2 * units])
          w_c = tf.get_variable("w_c", [rows, units])
          b_c = tf.get_variable("b_c", [units])
        h = tf.raw_ops.GRUBlockCell(x=inputs, h_prev=state, w_ru=w_ru, w_c=w_c, b_ru=b_ru,
                                    b_c=b_c)[3]
        return h, h
    return Block()


def block_step(g, node, cell, roles):
  """The Step of a GRUBlockCell op (inputs x, h_prev, w_ru, w_c, b_ru, b_c; outputs r, u, c,
  h) on `cell`'s variables (`roles`: gates kernel, gates bias, candidate kernel, candidate
  bias, by their names)."""
  x, h_prev, w_ru, w_c, b_ru, b_c = node.inputs
  variables = cell.variables()
  if [g.variable_of(t) for t in (w_ru, b_ru, w_c, b_c)] != [variables[r] for r in roles]:
    raise NotRecognised(f"{cell.scope}: GRUBlockCell {node.name} does not run the cell's "
                        f"{', '.join(roles)}")
  new_h = f"{node.name}:3"
  return Step(cell, x, h_prev, None, new_h, None, {"activation": "tanh"},
              checked(g, {node.name}, [new_h], [x, h_prev], cell.scope))
