"""Handlers of TF's fused recurrent kernels that run outside a while loop:
BlockLSTM / BlockLSTMV2 (contrib's LSTMBlockFusedCell, DeepSpeech's recurrent layer): the
whole time-major sequence in one op, with the weights in TF's own layout.

The step follows `lstm_ops.h` (LSTMBlockCellFprop): [i, ci, f, o] = [x, h] @ w + b (V1's gate
order, LSTMCell's i, j, f, o; V2 orders them i, f, ci, o and has no forget_bias), peepholes on
i and f from the previous cell state and on o from the new one, the cell state clipped to
[-cell_clip, cell_clip] when cell_clip > 0, and cs and h zero from step seq_len_max on (the
kernel leaves its other outputs there unset, memory as it was: here they are zeros too).
Outputs, each [time, batch, units]: i, cs, f, o, ci, co, h.
"""

from keras import ops

from tf_rnn_mnist.migrate.ops.registry import scalar, tf_op

_OUTPUTS = ("i", "cs", "f", "o", "ci", "co", "h")


def _block_lstm(gate_order, with_forget_bias):
  def compute(args, attrs):
    seq_len_max, x, cs_prev, h_prev, w, wci, wcf, wco, b = args
    forget_bias = attrs.get("forget_bias", 1.0) if with_forget_bias else 0.0
    cell_clip = attrs.get("cell_clip", 3.0 if with_forget_bias else 0.0)
    peephole = bool(attrs.get("use_peephole"))

    def step(carry, x_t):
      # (Keras's scan on TensorFlow takes each step's outputs to be shaped as its carry: the
      # carry holds all seven, of which cs and h carry on.)
      cs, h = carry[1], carry[6]
      z = ops.matmul(ops.concatenate([x_t, h], axis=-1), w) + b
      gates = dict(zip(gate_order, ops.split(z, 4, axis=-1)))
      i = ops.sigmoid(gates["i"] + (wci * cs if peephole else 0.0))
      ci = ops.tanh(gates["ci"])
      f = ops.sigmoid(gates["f"] + forget_bias + (wcf * cs if peephole else 0.0))
      cs = ci * i + f * cs
      if cell_clip > 0:
        cs = ops.clip(cs, -cell_clip, cell_clip)
      co = ops.tanh(cs)
      o = ops.sigmoid(gates["o"] + (wco * cs if peephole else 0.0))
      h = o * co
      values = (i, cs, f, o, ci, co, h)
      return values, values

    zeros = ops.zeros_like(cs_prev)
    _, sequences = ops.scan(step, (zeros, cs_prev, zeros, zeros, zeros, zeros, h_prev), x)
    steps = ops.shape(x)[0]
    live = ops.arange(steps) < ops.cast(scalar(seq_len_max), "int32")
    live = ops.reshape(live, (-1, 1, 1))
    return [ops.where(live, sequence, ops.zeros_like(sequence)) for sequence in sequences]
  return compute


tf_op("BlockLSTM", attrs=("forget_bias", "cell_clip", "use_peephole"),
      outputs=lambda attrs: len(_OUTPUTS))(_block_lstm(("i", "ci", "f", "o"), True))
tf_op("BlockLSTMV2", attrs=("cell_clip", "use_peephole"),
      outputs=lambda attrs: len(_OUTPUTS))(_block_lstm(("i", "f", "ci", "o"), False))
