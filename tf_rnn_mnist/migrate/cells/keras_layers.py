"""tf.keras (Keras 2) LSTM and GRU layers saved in a TF1 checkpoint: `SCOPE/kernel [in, G*U]`,
`recurrent_kernel [U, G*U]`, `bias` (G = 4 LSTM, 3 GRU; a GRU bias of shape [2, 3U] is
reset_after=True). Keras 3 has the same layout: nothing moves."""

import re

import keras

from tf_rnn_mnist.migrate.cells.base import CellKind, NotRecognised, cell_kind, shape_of

_ROLES = ["kernel", "recurrent_kernel", "bias"]


class KerasLayer(CellKind):
  gates = None

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

  def keras_layer(self, cell, settings, **common):
    return keras.layers.LSTM(cell.units, **common)
