"""TF1's LSTMCell as a Keras 3 cell, for what keras.layers.LSTM does not compute: peepholes,
a projection of the output, and clipping of the cell state or the projection.

Registered with Keras (package "tf_rnn_mnist"), so a .keras file holding it reloads wherever
this module has been imported: `import tf_rnn_mnist.migrate.keras_cells` before
`keras.models.load_model`. Its weights use Keras's layout (kernel and recurrent kernel apart,
gates i, f, c, o, the forget bias inside the bias), plus `peepholes` [3, units] (rows i, f, o:
TF1's w_i_diag, w_f_diag, w_o_diag) and `projection` [units, num_proj].
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class TF1LSTMCell(keras.layers.Layer):
  """The step of tf.compat.v1.nn.rnn_cell.LSTMCell (and contrib's LSTMBlockCell), in its order:
  peepholes on i and f read the previous cell state, on o the new (clipped) one; the output is
  projected after the output gate, then clipped."""

  def __init__(self, units, num_proj=None, use_peepholes=False, cell_clip=None,
               proj_clip=None, activation="tanh", **kwargs):
    super().__init__(**kwargs)
    self.activation = keras.activations.get(activation)
    self.units, self.num_proj, self.use_peepholes = units, num_proj, use_peepholes
    self.cell_clip, self.proj_clip = cell_clip, proj_clip
    self.output_size = num_proj or units
    self.state_size = [self.output_size, units]  # [h, c], as keras.layers.LSTMCell

  def build(self, input_shape):
    gates = 4 * self.units
    self.kernel = self.add_weight(shape=(input_shape[-1], gates), name="kernel")
    self.recurrent_kernel = self.add_weight(shape=(self.output_size, gates),
                                            name="recurrent_kernel")
    self.bias = self.add_weight(shape=(gates,), name="bias", initializer="zeros")
    if self.use_peepholes:
      self.peepholes = self.add_weight(shape=(3, self.units), name="peepholes")
    if self.num_proj:
      self.projection = self.add_weight(shape=(self.units, self.num_proj), name="projection")

  def call(self, inputs, states, training=False):
    h, c = states
    z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
    i, f, g, o = ops.split(z, 4, axis=-1)
    if self.use_peepholes:
      i = i + self.peepholes[0] * c
      f = f + self.peepholes[1] * c
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * self.activation(g)
    if self.cell_clip is not None:
      c = ops.clip(c, -self.cell_clip, self.cell_clip)
    if self.use_peepholes:
      o = o + self.peepholes[2] * c
    h = ops.sigmoid(o) * self.activation(c)
    if self.num_proj:
      h = ops.matmul(h, self.projection)
      if self.proj_clip is not None:
        h = ops.clip(h, -self.proj_clip, self.proj_clip)
    return h, [h, c]

  def get_config(self):
    return {**super().get_config(), "units": self.units, "num_proj": self.num_proj,
            "use_peepholes": self.use_peepholes, "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
            "activation": keras.activations.serialize(self.activation)}
