"""Builds small TF1 graphs of every kind `migrate` supports and saves their checkpoints, each
variable drawn from N(0, 0.5) so biases and peepholes are not zero (TF1 initialises them so).

    python tests/tf1_rnn_checkpoints.py OUTDIR

Writes OUTDIR/KIND/model.ckpt for each KIND in KINDS, and for `block` (contrib's LSTMBlockCell:
the LSTMBlockCell kernel stepped over time) and `fused` (LSTMBlockFusedCell: the BlockLSTM
kernel) also reference.npz: the inputs and the outputs of those kernels, which
tests/test_migrate.py compares with the Keras model.
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()
import tf_keras  # noqa: E402,F401
from tf1_programs import _GRUBlockCell  # noqa: E402  (contrib's GRUBlockCell, as it was written)

R = tf.nn.rnn_cell
TIME, INPUT = 5, 3


def _dynamic(cell):
  return lambda x: tf.nn.dynamic_rnn(cell(), x, dtype=tf.float32)


def _multi(*cells):
  return lambda x: tf.nn.dynamic_rnn(R.MultiRNNCell([c() for c in cells]), x, dtype=tf.float32)


def _with_dense(build, units):
  def graph(x):
    outputs, _ = build(x)
    tf.layers.dense(outputs[:, -1], units)
  return graph


def _tutorial_style(x):
  """The tutorials' own head: bare tf.Variable weights (Variable, Variable_1)."""
  outputs, _ = tf.nn.dynamic_rnn(R.BasicLSTMCell(5), x, dtype=tf.float32)
  w, b = tf.Variable(tf.zeros([5, 10])), tf.Variable(tf.zeros([10]))
  return tf.matmul(outputs[:, -1], w) + b


def _bidirectional(fw, bw):
  return lambda x: tf.nn.bidirectional_dynamic_rnn(fw(), bw(), x, dtype=tf.float32)


def _stack_bidirectional(make, layers):
  def graph(x):  # contrib's stack_bidirectional_dynamic_rnn, as it was written
    previous = x
    for i in range(layers):
      with tf.variable_scope(f"stack_bidirectional_rnn/cell_{i}"):
        outputs, _ = tf.nn.bidirectional_dynamic_rnn(make(), make(), previous, dtype=tf.float32,
                                                     scope="bidirectional_rnn")
      previous = tf.concat(outputs, 2)
  return graph


def _keras_layers(x):
  y = tf_keras.layers.LSTM(4, return_sequences=True)(x)
  y = tf_keras.layers.Bidirectional(tf_keras.layers.GRU(5, return_sequences=True))(y)
  tf_keras.layers.GRU(3, reset_after=False)(y)


def _block_variables(scope, rows, units):
  with tf.variable_scope(scope):
    return (tf.get_variable("kernel", [rows, 4 * units]), tf.get_variable("bias", [4 * units]),
            *[tf.get_variable(d, [units]) for d in ("w_i_diag", "w_f_diag", "w_o_diag")])


def _block(x):
  """contrib LSTMBlockCell(6, use_peephole=True, cell_clip=0.7) under dynamic_rnn's names."""
  w, b, wci, wcf, wco = _block_variables("rnn/lstm_cell", INPUT + 6, 6)
  h = c = tf.zeros([tf.shape(x)[0], 6])
  outputs = []
  for t in range(TIME):
    _, c, _, _, _, _, h = tf.raw_ops.LSTMBlockCell(
        x=x[:, t], cs_prev=c, h_prev=h, w=w, wci=wci, wcf=wcf, wco=wco, b=b, forget_bias=1.0,
        cell_clip=0.7, use_peephole=True)
    outputs.append(h)
  return tf.stack(outputs, 1), [h, c]


def _fused(x):
  """contrib LSTMBlockFusedCell(4, use_peephole=True): the BlockLSTM kernel, time-major."""
  w, b, wci, wcf, wco = _block_variables("lstm_fused_cell", INPUT + 4, 4)
  zeros = tf.zeros([tf.shape(x)[0], 4])
  _, cs, _, _, _, _, h = tf.raw_ops.BlockLSTM(
      seq_len_max=tf.constant(TIME, tf.int64), x=tf.transpose(x, [1, 0, 2]), cs_prev=zeros,
      h_prev=zeros, w=w, wci=wci, wcf=wcf, wco=wco, b=b, forget_bias=1.0, cell_clip=-1.0,
      use_peephole=True)
  return tf.transpose(h, [1, 0, 2]), [h[-1], cs[-1]]


class _UGRNNCell(R.RNNCell):
  """contrib.rnn.UGRNNCell's variables (kernel [in + U, 2U], bias [2U] under ugrnn_cell): a
  cell class this tool does not convert."""

  def __init__(self, num_units):
    super().__init__(name="ugrnn_cell")
    self._num_units = num_units

  state_size = output_size = property(lambda self: self._num_units)

  def build(self, input_shape):
    self._kernel = self.add_variable("kernel", [input_shape[-1] + self._num_units,
                                                2 * self._num_units])
    self._bias = self.add_variable("bias", [2 * self._num_units])
    self.built = True

  def call(self, inputs, state):
    g, c = tf.split(tf.matmul(tf.concat([inputs, state], 1), self._kernel) + self._bias, 2, 1)
    new = tf.sigmoid(g) * state + (1 - tf.sigmoid(g)) * tf.tanh(c)
    return new, new


def _unsupported(x):
  tf.nn.dynamic_rnn(_UGRNNCell(4), x, dtype=tf.float32)
  tf.nn.dynamic_rnn(R.GRUCell(3), x, dtype=tf.float32, scope="gru_net")


KINDS = {
    "basic_lstm": _dynamic(lambda: R.BasicLSTMCell(5)),
    "multilayer": _with_dense(_multi(*[lambda: R.BasicLSTMCell(8)] * 3), 10),
    "one_cell_multi": _multi(lambda: R.BasicLSTMCell(5)),
    "lstm_stack": _multi(lambda: R.LSTMCell(4), lambda: R.LSTMCell(6)),
    "peephole_projection": _dynamic(lambda: R.LSTMCell(
        6, use_peepholes=True, num_proj=4, cell_clip=0.5, proj_clip=0.3)),
    "gru": _dynamic(lambda: R.GRUCell(7)),
    "gru_stack": _with_dense(_multi(lambda: R.GRUCell(4), lambda: R.GRUCell(5)), 2),
    "bidirectional": _bidirectional(lambda: R.LSTMCell(4), lambda: R.LSTMCell(4)),
    "bidirectional_multi": _bidirectional(
        lambda: R.MultiRNNCell([R.LSTMCell(4), R.GRUCell(5)]),
        lambda: R.MultiRNNCell([R.GRUCell(3), R.BasicLSTMCell(2)])),
    "stack_bidirectional": _stack_bidirectional(lambda: R.LSTMCell(4), 2),
    "stack_bidirectional_gru": _stack_bidirectional(lambda: R.GRUCell(3), 3),
    "keras_layers": _keras_layers,
    "tutorial_style": _tutorial_style,
    "block": _block,
    "gru_block": lambda x: _dynamic(lambda: _GRUBlockCell(5))(x),
    "basic_rnn": _with_dense(_multi(lambda: R.BasicRNNCell(4), lambda: R.BasicRNNCell(3)), 2),
    "fused": _fused,
    "unsupported": _unsupported,
    "no_rnn": lambda x: tf.layers.dense(x[:, -1], 4),
}


def save(out, kind):
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    x = tf.placeholder(tf.float32, [None, TIME, INPUT])
    result = KINDS[kind](x)
    with tf.Session() as sess:
      sess.run([v.assign(tf.random.normal(v.shape, stddev=0.5)) for v in tf.global_variables()])
      os.makedirs(os.path.join(out, kind), exist_ok=True)
      tf.train.Saver().save(sess, os.path.join(out, kind, "model.ckpt"), write_meta_graph=False)
      if kind in ("block", "fused"):
        inputs = np.random.default_rng(0).standard_normal((3, TIME, INPUT)).astype(np.float32)
        sequence, (h, c) = sess.run(result, {x: inputs})
        np.savez(os.path.join(out, kind, "reference.npz"), inputs=inputs, output=sequence, h=h,
                 c=c)


if __name__ == "__main__":
  for name in KINDS:
    save(sys.argv[1], name)
