"""Tries TensorFlow's fused recurrent kernels and XLA against the port's layers (issue 35).

    python scripts/kernel_routes_ab.py [--variants=all] [--rounds=8]

For each variant, the port's model as the trainer builds it on a CPU (models.build_model;
without dropout, so that every route computes the same function) against the same model whose recurrent layers run another route,
with the same weights:
- block_lstm: TensorFlow's whole-sequence kernel `BlockLSTMV2` (Keras's gate order i, f, c, o;
  no forget bias added, no cell clipping) and its gradient `BlockLSTMGradV2`, called directly:
  TensorFlow 2.21 registers the V1 gradient (`BlockLSTMGrad`, gate order i, c, f, o) for
  `BlockLSTMV2` (tensorflow/python/ops/rnn_grad.py), so tf.GradientTape would not do;
- lstm_block_cell: per step `LSTMBlockCell` (gate order i, c, f, o; forget_bias=0,
  cell_clip=-1: off) with `LSTMBlockCellGrad` and tf.contrib's weight gradients;
- gru_block_cell: per step `GRUBlockCell` (TF1's GRUCell: [r, u] then the candidate) with
  `GRUBlockCellGrad` and tf.contrib's weight gradients;
- xla: the port's own layers, the update compiled by XLA (`jit_compile=True`).
Each route first shows the loss and the gradients' largest difference relative to the port's
(the same function up to float32 rounding), then forward and backward of the loss, routes
alternating within one process, per round a window of updates; the ratio port time / route
time per round, its geometric mean and 95% interval (bench_stats.ratio_interval): above 1.0x
the route is faster. The optimizer step is left out: it is the same for every route. A
measurement for docs/benchmarks.md, not part of the trainer.
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from tf_rnn_mnist import variants
from tf_rnn_mnist.model import models
from tf_rnn_mnist.tools import bench_stats
from tf_rnn_mnist.variants import Cell

NO_PEEPHOLE = dict(use_peephole=False)


def _icfo(matrix):
  """Keras's LSTM gate blocks (i, f, c, o) in LSTMBlockCell's order (i, c, f, o)."""
  i, f, c, o = tf.split(matrix, 4, axis=-1)
  return tf.concat([i, c, f, o], axis=-1)


def _block_lstm(x_by_time, h0, c0, w, b):
  steps, zeros = tf.constant(x_by_time.shape[0], tf.int64), tf.zeros(h0.shape[-1:])
  peepholes = dict(wci=zeros, wcf=zeros, wco=zeros)

  @tf.custom_gradient
  def run(x_by_time, h0, c0, w, b):
    i, cs, f, o, ci, co, h = tf.raw_ops.BlockLSTMV2(
        seq_len_max=steps, x=x_by_time, cs_prev=c0, h_prev=h0, w=w, b=b, cell_clip=0.0,
        **peepholes, **NO_PEEPHOLE)

    def gradient(dh, dcs):
      grads = tf.raw_ops.BlockLSTMGradV2(
          seq_len_max=steps, x=x_by_time, cs_prev=c0, h_prev=h0, w=w, b=b, i=i, cs=cs, f=f,
          o=o, ci=ci, co=co, h=h, cs_grad=dcs, h_grad=dh, **peepholes, **NO_PEEPHOLE)
      dx, dc0, dh0, dw, db = grads[0], grads[1], grads[2], grads[3], grads[7]
      return dx, dh0, dc0, dw, db
    return (h, cs), gradient
  return run(x_by_time, h0, c0, w, b)


class BlockLSTM(keras.layers.LSTM):
  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell = self.cell
    w = tf.concat([cell.kernel.value, cell.recurrent_kernel.value], 0)
    h, cs = _block_lstm(tf.transpose(sequences, (1, 0, 2)), *initial_state, w, cell.bias.value)
    outputs = tf.transpose(h, (1, 0, 2)) if self.return_sequences else h[-1][:, None]
    return h[-1], outputs, [h[-1], cs[-1]]


def _lstm_block_cell(x, h, c, w, b):
  zeros = tf.zeros(h.shape[-1:])
  peepholes = dict(wci=zeros, wcf=zeros, wco=zeros)

  @tf.custom_gradient
  def step(x, h, c, w, b):
    i, cs, f, o, ci, co, h_next = tf.raw_ops.LSTMBlockCell(
        x=x, cs_prev=c, h_prev=h, w=w, b=b, forget_bias=0.0, cell_clip=-1.0, **peepholes,
        **NO_PEEPHOLE)

    def gradient(dh, dcs):
      dc, dicfo, _, _, _ = tf.raw_ops.LSTMBlockCellGrad(
          x=x, cs_prev=c, h_prev=h, w=w, b=b, i=i, cs=cs, f=f, o=o, ci=ci, co=co, cs_grad=dcs,
          h_grad=dh, **peepholes, **NO_PEEPHOLE)
      dxh = tf.matmul(dicfo, w, transpose_b=True)
      return (dxh[:, :x.shape[1]], dxh[:, x.shape[1]:], dc,
              tf.matmul(tf.concat([x, h], 1), dicfo, transpose_a=True),
              tf.raw_ops.BiasAddGrad(out_backprop=dicfo))
    return (h_next, cs), gradient
  return step(x, h, c, w, b)


class CellLSTM(keras.layers.LSTM):
  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell = self.cell
    w = _icfo(tf.concat([cell.kernel.value, cell.recurrent_kernel.value], 0))
    b = _icfo(cell.bias.value)
    (h, c), outputs = initial_state, []
    for x in tf.unstack(sequences, axis=1):
      h, c = _lstm_block_cell(x, h, c, w, b)
      outputs.append(h)
    return h, (tf.stack(outputs, 1) if self.return_sequences else h[:, None]), [h, c]


def _gru_block_cell(x, h, w_ru, w_c, b_ru, b_c):
  @tf.custom_gradient
  def step(x, h, w_ru, w_c, b_ru, b_c):
    r, u, c, h_next = tf.raw_ops.GRUBlockCell(x=x, h_prev=h, w_ru=w_ru, w_c=w_c, b_ru=b_ru,
                                               b_c=b_c)

    def gradient(dh):
      dx, dh_prev, dc_bar, dru_bar = tf.raw_ops.GRUBlockCellGrad(
          x=x, h_prev=h, w_ru=w_ru, w_c=w_c, b_ru=b_ru, b_c=b_c, r=r, u=u, c=c, d_h=dh)
      return (dx, dh_prev, tf.matmul(tf.concat([x, h], 1), dru_bar, transpose_a=True),
              tf.matmul(tf.concat([x, h * r], 1), dc_bar, transpose_a=True),
              tf.raw_ops.BiasAddGrad(out_backprop=dru_bar),
              tf.raw_ops.BiasAddGrad(out_backprop=dc_bar))
    return h_next, gradient
  return step(x, h, w_ru, w_c, b_ru, b_c)


class CellGRU(keras.layers.GRU):
  """Keras's GRU(reset_after=False) blocks (z, r, h) as GRUBlockCell's ([r, u], c)."""

  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell = self.cell
    z, r, candidate = tf.split(tf.concat([cell.kernel.value, cell.recurrent_kernel.value], 0),
                               3, axis=1)
    b_z, b_r, b_c = tf.split(cell.bias.value, 3)
    w_ru, b_ru = tf.concat([r, z], 1), tf.concat([b_r, b_z], 0)
    h, outputs = initial_state[0] if isinstance(initial_state, (list, tuple)) else (
        initial_state), []
    for x in tf.unstack(sequences, axis=1):
      h = _gru_block_cell(x, h, w_ru, candidate, b_ru, b_c)
      outputs.append(h)
    return h, (tf.stack(outputs, 1) if self.return_sequences else h[:, None]), [h]


ROUTES = {Cell.LSTM: {"block_lstm": BlockLSTM, "lstm_block_cell": CellLSTM, "xla": None},
          Cell.TORCH_LSTM: {"block_lstm": BlockLSTM, "lstm_block_cell": CellLSTM, "xla": None},
          Cell.GRU: {"gru_block_cell": CellGRU, "xla": None}}


def _route_model(variant, port, layer_class):
  """The port's model with its recurrent layers of `layer_class` and the same weights (the
  port's other layers shared)."""
  if layer_class is None:
    return port
  inputs = keras.Input(port.input_shape[1:])
  x = inputs
  for layer in port.layers[1:]:
    if isinstance(layer, keras.layers.RNN):
      route = layer_class.from_config({**layer.get_config(), "unroll": False})
      x = route(x)
      route.set_weights(layer.get_weights())
    else:
      x = layer(x)
  return keras.Model(inputs, x)


def _gradient_fn(variant, model, images, labels, jit_compile):
  loss = keras.losses.SparseCategoricalCrossentropy(
      from_logits=variant.loss != "double_softmax")

  def run():
    with tf.GradientTape() as tape:
      value = loss(labels, model(images))
    return value, tape.gradient(value, model.trainable_variables)
  return tf.function(run, jit_compile=jit_compile)


def _largest_difference(reference, other):
  return max(float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a)))
             for a, b in zip(reference, other))


def measure(variant, rounds, log=print):
  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  images = tf.constant(rng.random((variant.batch_size, 28, 28), dtype=np.float32))
  labels = tf.constant(rng.integers(0, 10, variant.batch_size))
  # As the trainer builds it on a CPU (trainer.py): unrolled where the variant says so.
  port = models.build_model(variant, dropout_keep=1.0, unroll=variant.unroll_on_cpu or None)
  functions = {"port": _gradient_fn(variant, port, images, labels, False)}
  for name, layer_class in ROUTES[variant.cell].items():
    functions[name] = _gradient_fn(variant, _route_model(variant, port, layer_class), images,
                                   labels, jit_compile=name == "xla")
  loss, grads = functions["port"]()
  for name, fn in list(functions.items())[1:]:
    other_loss, other_grads = fn()
    log(f"{variant.name} {name}: loss {float(other_loss):.7f} vs {float(loss):.7f}, gradients' "
        f"largest relative difference {_largest_difference(grads, other_grads):.1e}")
  updates = max(3, round(20000 / (variant.batch_size * variant.units * variant.layers ** 2)))
  seconds = {name: [] for name in functions}
  for k in range(rounds + 1):  # the first round warms up
    for name in (list(functions) if k % 2 else list(functions)[::-1]):
      tic = time.perf_counter()
      for _ in range(updates):
        result = functions[name]()
      float(result[0])
      if k:
        seconds[name].append((time.perf_counter() - tic) / updates)
  for name, values in seconds.items():
    ratios = [p / r for p, r in zip(seconds["port"], values)]
    centre, low, high = bench_stats.ratio_interval(ratios)
    log(f"{variant.name} {name}: {np.median(values) * 1e3:.2f} ms per update (forward and "
        f"backward); the route's speed / the port's: {centre:.2f}x [{low:.2f}-{high:.2f}]")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--variants", default="all")
  parser.add_argument("--rounds", type=int, default=8)
  args = parser.parse_args()
  for name in variants.parse_names(args.variants):
    measure(variants.get_variant(name), args.rounds)


if __name__ == "__main__":
  main()
