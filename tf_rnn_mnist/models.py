"""Keras 3 builders: each seed's model, with the seed's initial-weight distributions.

Input: float32 (batch, 28, 28), 28 time steps of one 28-pixel row each. Output: the seed's
`prediction` (softmax probabilities for basic_lstm, whose seed applies softmax inside the model)
or logits (all others). The losses live in losses.py, since basic_lstm's seed applies a second
softmax inside its loss, which a Keras loss would silently "fix".
"""

import keras

from tf_rnn_mnist import initializers
from tf_rnn_mnist.layers import ReplicaDropout

TIME_STEPS = INPUT_SIZE = 28
NUM_CLASSES = 10


def _seed_output_layer(kind, units, name="output"):
  # Always float32 (also under mixed precision): logits and softmax keep full precision.
  if kind == "truncated_normal":  # tf.Variable(tf.truncated_normal(stddev=0.1)), constant 0.1
    return keras.layers.Dense(NUM_CLASSES, name=name,
                              kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.1),
                              bias_initializer=keras.initializers.Constant(0.1))
  if kind == "dense":  # fully_connected / layers.dense: glorot_uniform + zeros = Keras defaults
    return keras.layers.Dense(NUM_CLASSES, name=name)
  if kind == "torch_linear":
    return keras.layers.Dense(NUM_CLASSES, name=name, **initializers.torch_linear(units))
  raise ValueError(f"unknown output layer {kind!r}")


def cudnn_eligible(variant):
  """Whether cuDNN's RNN kernel computes this variant's layers (Keras's conditions: tanh and
  sigmoid, no recurrent dropout, not unrolled, a bias; GRU only with reset_after=True, which the
  TF1 GRUCell is not)."""
  return variant.cell in ("lstm", "torch_lstm") and not variant.unroll


def _recurrent_layer(variant, input_size, return_sequences, name, use_cudnn, dtype, unroll):
  common = dict(return_sequences=return_sequences, unroll=unroll, name=name, dtype=dtype)
  if variant.cell != "gru":
    common["use_cudnn"] = use_cudnn
  if variant.cell == "lstm":
    return keras.layers.LSTM(variant.units, **common,
                             **initializers.tf1_lstm(input_size, variant.units))
  if variant.cell == "gru":  # TF1 GRUCell applies the reset gate before the matmul
    return keras.layers.GRU(variant.units, reset_after=False, **common,
                            **initializers.tf1_gru(input_size, variant.units))
  if variant.cell == "torch_lstm":
    return keras.layers.LSTM(variant.units, **common, **initializers.torch_lstm(variant.units))
  raise ValueError(f"unknown cell {variant.cell!r}")


def build_model(variant, dropout_keep=None, use_cudnn="auto", mixed_precision=False,
                unroll=None):
  """Returns the Keras model of `variant` (a variants.Variant), not yet trained.

  dropout_keep overrides the variant's DropoutWrapper keep probability (1.0 disables dropout,
  which the equivalence tests use). use_cudnn: Keras's LSTM argument; True raises unless cuDNN
  runs the layer (the trainer's assertion on GPUs). mixed_precision: float16 compute in the
  recurrent layers, float32 weights and outputs (for GPUs). unroll: override the variant's
  (static_rnn = unrolled); the math is the same either way, only the speed differs.
  """
  unroll = variant.unroll if unroll is None else unroll
  dtype = "mixed_float16" if mixed_precision else None
  keep = variant.dropout_keep if dropout_keep is None else dropout_keep
  inputs = keras.Input((TIME_STEPS, INPUT_SIZE), name="pixels_by_row")
  x, input_size = inputs, INPUT_SIZE
  for layer in range(variant.layers):
    last = layer == variant.layers - 1
    # Only the last time step of the top layer is read, so it alone is returned.
    x = _recurrent_layer(variant, input_size, return_sequences=not last, name=f"rnn_{layer}",
                         use_cudnn=use_cudnn, dtype=dtype, unroll=unroll)(x)
    if keep < 1.0:
      # DropoutWrapper(output_keep_prob) in dynamic_rnn: a fresh mask per time step, unit and
      # example on each layer's output; the state itself is not dropped. (Not LSTM(dropout=):
      # that drops the input with one mask for all steps.)
      x = ReplicaDropout(1.0 - keep, name=f"output_dropout_{layer}", dtype=dtype)(x)
    input_size = variant.units
  outputs = _seed_output_layer(variant.output_layer, variant.units)(x)
  if variant.loss == "double_softmax":
    outputs = keras.layers.Softmax(name="prediction")(outputs)
  return keras.Model(inputs, outputs, name=variant.name)
