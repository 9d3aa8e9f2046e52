"""A stack of SequenceLSTM layers and their dropout computed as a wavefront (training on CPUs).

The model stacks its LSTM layers as Keras layers: layer 2 starts after layer 1's whole sequence,
and within a layer each step waits for the previous one, so the gate arithmetic between two
matmuls keeps one core busy. TF1's MultiRNNCell steps every layer inside one while loop, so the
executor runs layer l+1's step t beside layer l's step t+1 (1.8 of 2 cores busy against the
port's 1.3, docs/benchmarks.md). `stack_outputs` computes the very same function (the model's
own weights and dropout layers, the same masks from the same seeds, each step's arithmetic that
of SequenceLSTM: layers.lstm_step) in that order, with SequenceLSTM's backward interleaved the
same way. The model, its weights and checkpoints are unchanged: only the trainer's update calls
this instead of the model (trainer.py), where `applies` says it computes what the model does.
"""

import keras
import tensorflow as tf

from tf_rnn_mnist.model import layers
from tf_rnn_mnist.model.models import rnn_layer_name


def applies(model, variant, batch_sizes):
  """Whether the trainer may call stack_outputs for `model` with the per-replica `batch_sizes`:
  the variant asks for it, each of its LSTM layers would take SequenceLSTM's own path
  (layers.SequenceLSTM.inner_loop) on the CPU at hand, and the step-by-step input matmuls are
  the whole-sequence ones to the bit here (layers.stepwise_matmuls_are_whole): then the update
  is bitwise the model's. Anything else (a GPU, float16, Keras's fallback, another CPU's
  rounding) keeps the model's own call."""
  if not variant.wavefront:
    return False
  for index in range(variant.layers):
    layer = model.get_layer(rnn_layer_name(index))
    if not (isinstance(layer, layers.SequenceLSTM)
            and layer.runs_its_own_loop(training=True, steps=model.input_shape[1])):
      return False
  steps, units = model.input_shape[1], variant.units
  return all(layers.stepwise_matmuls_are_whole(rows, steps, units, 4 * units)
             for rows in batch_sizes)


def _masks(model, shapes):
  """Each layer's dropout as a multiplier (0 or 1 / keep), drawn by the model's own dropout
  layer on ones of the shape it drops: each layer's own seed generator advances by one draw
  per call, as in the model's call, and `ones * scale` is `scale`, so `x * mask` has the
  layer's output values (a dropped unit of a negative x is -0.0 where the layer gives +0.0:
  equal, and no sum of the layer above tells them apart). None: no dropout."""
  masks = []
  for index, shape in enumerate(shapes):
    try:
      dropout = model.get_layer(f"output_dropout_{index}")
    except ValueError:
      masks.append(None)
      continue
    masks.append(dropout(tf.ones(shape), training=True))
  return masks


def _layer_weights(model, variant):
  cells = [model.get_layer(rnn_layer_name(i)).cell for i in range(variant.layers)]
  return [tf.convert_to_tensor(w.value)
          for cell in cells for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]


def stack_outputs(model, variant, x):
  """The model's training-mode outputs for images `x` (batch, steps, input)."""
  batch, steps, units = x.shape[0] or tf.shape(x)[0], x.shape[1], variant.units
  shapes = [(batch, steps, units)] * (variant.layers - 1) + [(batch, units)]
  masks = _masks(model, shapes)
  top = _wavefront(x, masks, variant.layers, *_layer_weights(model, variant))
  if masks[-1] is not None:
    top = top * masks[-1]
  for layer in _layers_after(model, rnn_layer_name(variant.layers - 1)):
    if not isinstance(layer, keras.layers.Dropout):
      top = layer(top, training=True)
  return top


def _layers_after(model, name):
  layers_in_order = model.layers
  return layers_in_order[layers_in_order.index(model.get_layer(name)) + 1:]


def _wavefront(x, masks, depth, *weights):
  """The top layer's last h of `depth` LSTM layers, step by step across the layers."""
  steps, size = x.shape[1], x.shape[2]
  between = [None if m is None else tf.unstack(tf.transpose(m, (1, 0, 2)))
             for m in masks[:-1]]

  @tf.custom_gradient
  def run(x, *weights):
    kernels, recurrent_kernels, biases = weights[0::3], weights[1::3], weights[2::3]
    batch = tf.shape(x)[0]
    x_by_time = tf.reshape(tf.transpose(x, (1, 0, 2)), (-1, size))
    projected = tf.unstack(tf.reshape(tf.matmul(x_by_time, kernels[0]), (steps, batch, -1)))
    recurrent = [layers.recurrent_matmul(x.shape[0], u) for u in recurrent_kernels]
    zeros = tf.zeros((batch, recurrent_kernels[0].shape[0]))
    h, c = [zeros] * depth, [zeros] * depth
    saved = [[None] * steps for _ in range(depth)]
    inputs = [[None] * steps for _ in range(depth)]  # each layer's input per step (l > 0)
    for t in range(steps):
      for l in range(depth):
        if l == 0:
          xw = projected[t]
        else:
          inputs[l][t] = h[l - 1] if between[l - 1] is None else h[l - 1] * between[l - 1][t]
          xw = tf.matmul(inputs[l][t], kernels[l])
        h[l], c[l], saved[l][t] = layers.lstm_step(xw, h[l], c[l], recurrent[l], biases[l])

    def gradient(d_top):
      dh = [tf.zeros_like(zeros)] * (depth - 1) + [d_top]
      dc = [tf.zeros_like(zeros)] * depth
      dz = [[None] * steps for _ in range(depth)]
      for t in reversed(range(steps)):
        for l in reversed(range(depth)):
          dz[l][t], dh[l], dc[l] = layers.lstm_step_gradient(saved[l][t], dh[l], dc[l],
                                                             recurrent_kernels[l])
          if l > 0:  # what layer l's input at step t gives back to layer l - 1's output
            d_input = tf.raw_ops.BatchMatMulV2(x=dz[l][t], y=kernels[l], adj_y=True)
            dh[l - 1] = dh[l - 1] + (d_input if between[l - 1] is None
                                     else d_input * between[l - 1][t])
      grads = []
      for l in range(depth):
        layer_inputs = x_by_time if l == 0 else tf.concat(inputs[l], axis=0)
        grads += layers.weight_gradients(layer_inputs, saved[l], tf.concat(dz[l], axis=0))
      return (None, *grads)
    return h[-1], gradient

  return run(x, *weights)
