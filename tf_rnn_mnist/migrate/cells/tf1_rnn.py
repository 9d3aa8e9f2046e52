"""TF1's BasicRNNCell: `SCOPE/kernel [in + U, U]` over concat([x, h]), `SCOPE/bias [U]`,
h' = activation(concat([x, h]) @ kernel + bias) (tanh unless the program gave another), which
is Keras's SimpleRNNCell with the kernel's rows split at `in`."""

import keras
import numpy as np

from tf_rnn_mnist.migrate.cell_steps import ACTIVATIONS, Step, checked, one_consumer
from tf_rnn_mnist.migrate.cells.base import (CellKind, NotRecognised, cell_kind, named_scope,
                                             shape_of)


@cell_kind
class BasicRNNCell(CellKind):
  name = "basic_rnn"
  tf1_class = "BasicRNNCell"
  layer = "SimpleRNN"
  scope_name = "basic_rnn_cell"
  step_role = "kernel"

  def claims(self, name, shapes):
    return named_scope(name, self.scope_name, "kernel")

  def recognise(self, scope, shapes):
    from tf_rnn_mnist.migrate.structures import Cell
    kernel, bias = shape_of(shapes, f"{scope}/kernel"), shape_of(shapes, f"{scope}/bias")
    if not kernel or not bias or len(kernel) != 2 or bias != (kernel[1],) or \
        kernel[0] <= kernel[1]:
      raise NotRecognised(f"a BasicRNNCell needs kernel [in + units, units] and bias [units]; "
                          f"found kernel {list(kernel or [])}, bias {list(bias or [])}")
    return Cell(self, scope, kernel[0] - kernel[1], kernel[1])

  def roles(self, cell):
    return ["kernel", "bias"]

  def tf1_shapes(self, cell):
    return {"kernel": (cell.input_size + cell.units, cell.units), "bias": (cell.units,)}

  def to_keras(self, cell, arrays, forget_bias):
    kernel = arrays["kernel"]
    return [kernel[:cell.input_size], kernel[cell.input_size:], arrays["bias"]]

  def to_tf1(self, cell, weights, forget_bias):
    kernel, recurrent, bias = weights
    return {"kernel": np.concatenate([kernel, recurrent], axis=0), "bias": bias}

  def keras_cell(self, cell, settings):
    return keras.layers.SimpleRNNCell(cell.units, activation=settings.get("activation", "tanh"))

  def keras_layer(self, cell, settings, **common):
    return keras.layers.SimpleRNN(cell.units, activation=settings.get("activation", "tanh"),
                                  **common)

  def step(self, g, matmul, cell):
    where = cell.scope
    concat = g.node(matmul.inputs[0])
    if concat.op != "ConcatV2" or len(concat.inputs) != 3:
      raise NotRecognised(f"{where}: the kernel's MatMul does not read concat([inputs, h])")
    x, h_prev = concat.inputs[:2]
    bias_add = one_consumer(g, f"{matmul.name}:0", ("BiasAdd",), "BiasAdd", where)
    act = one_consumer(g, f"{bias_add.name}:0", tuple(ACTIVATIONS), "activation", where)
    new_h = f"{act.name}:0"
    claimed = {matmul.name, concat.name, bias_add.name, act.name}
    return Step(cell, x, h_prev, None, new_h, None, {"activation": ACTIVATIONS[act.op]},
                checked(g, claimed, [new_h], [x, h_prev], where))

  def tf1_cell(self, tf, cell, options):
    return tf.nn.rnn_cell.BasicRNNCell(cell.units, name=cell.cell_name)
