"""Keras 3 builders: each tutorial's model, with the tutorial's initial-weight distributions.

Input: float32 (batch, 28, 28), 28 time steps of one 28-pixel row each. Output: the tutorial's
`prediction` (softmax probabilities for basic_lstm, whose tutorial applies softmax inside the model)
or logits (all others). The losses live in losses.py, since basic_lstm's tutorial applies a second
softmax inside its loss, which a Keras loss would silently "fix".
"""

import keras

from tf_rnn_mnist.model import initializers
from tf_rnn_mnist.variants import Cell

TIME_STEPS = INPUT_SIZE = 28
NUM_CLASSES = 10
# The layer names convert.py and the trainer address weights by.
OUTPUT_LAYER = "output"


def rnn_layer_name(index):
  return f"rnn_{index}"


def _truncated_normal_output():
  # The tutorial's tf.Variable(tf.truncated_normal(stddev=0.1)) and constant 0.1 bias.
  return dict(kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.1),
              bias_initializer=keras.initializers.Constant(0.1))


# Per output_layer kind, the Dense initializers; "dense" (fully_connected / layers.dense:
# glorot_uniform and zeros) is Keras's default.
_OUTPUT_INITIALIZERS = {
    "truncated_normal": lambda units: _truncated_normal_output(),
    "dense": lambda units: {},
    "torch_linear": initializers.torch_linear,
}


def _tutorial_output_layer(kind, units):
  # Always float32 (also under mixed precision): logits and softmax keep full precision.
  return keras.layers.Dense(NUM_CLASSES, name=OUTPUT_LAYER, **_OUTPUT_INITIALIZERS[kind](units))


def cudnn_eligible(variant):
  """Whether cuDNN's RNN kernel computes this variant's layers (Keras's conditions: tanh and
  sigmoid, no recurrent dropout, not unrolled, a bias; GRU only with reset_after=True, which the
  TF1 GRUCell is not)."""
  return variant.cell is not Cell.GRU and not variant.unroll


def _project_layers():
  """tf_rnn_mnist.model.layers, imported when a model needs it: it imports TensorFlow, which a
  portable model (exports, bench's jax side on Keras's JAX backend) must build without."""
  from tf_rnn_mnist.model import layers
  return layers


def _lstm_layer(variant):
  # SequenceLSTM: keras.layers.LSTM's function, faster where the variant says so (layers.py).
  return _project_layers().SequenceLSTM if variant.sequence_matmuls else keras.layers.LSTM


def _tf1_lstm(variant, input_size, **common):
  return _lstm_layer(variant)(variant.units, **common,
                              **initializers.tf1_lstm(input_size, variant.units))


def _tf1_gru(variant, input_size, use_cudnn, **common):
  # TF1 GRUCell applies the reset gate before the matmul: reset_after=False, which cuDNN lacks
  # (cudnn_eligible says so; asking for it anyway is a mistake, not a silent fallback).
  if use_cudnn is True:
    raise ValueError(f"{variant.name}: TF1's GRUCell (reset_after=False) has no cuDNN kernel.")
  # ProjectedGRU: keras.layers.GRU's function, faster (layers.py).
  return _project_layers().ProjectedGRU(variant.units, reset_after=False, **common,
                      **initializers.tf1_gru(input_size, variant.units))


def _torch_lstm(variant, input_size, **common):
  return _lstm_layer(variant)(variant.units, **common, **initializers.torch_lstm(variant.units))


_RECURRENT_LAYERS = {Cell.LSTM: _tf1_lstm, Cell.GRU: _tf1_gru, Cell.TORCH_LSTM: _torch_lstm}


def _portable_recurrent_layer(variant, use_cudnn, **common):
  if variant.cell is Cell.GRU:
    return keras.layers.GRU(variant.units, reset_after=False, **common)
  return keras.layers.LSTM(variant.units, use_cudnn=use_cudnn, **common)


def portable_copy(model, variant):
  """`model` (trained) rebuilt from built-in Keras objects only, with the same weights and the
  same unrolling, so that it computes the very same outputs: what exports save."""
  names = [rnn_layer_name(i) for i in range(variant.layers)] + [OUTPUT_LAYER]
  rnn = model.get_layer(names[0])
  copy = build_model(variant, unroll=rnn.unroll, portable=True)
  for name in names:
    copy.get_layer(name).set_weights(model.get_layer(name).get_weights())
  return copy


def build_model(variant, dropout_keep=None, use_cudnn="auto", mixed_precision=False,
                unroll=None, portable=False):
  """Returns the Keras model of `variant` (a variants.Variant), not yet trained.

  dropout_keep overrides the variant's DropoutWrapper keep probability (1.0 disables dropout,
  which the equivalence tests use). use_cudnn: Keras's LSTM argument; True raises unless cuDNN
  runs the layer (the trainer's assertion on GPUs). mixed_precision: float16 compute in the
  recurrent layers, float32 weights and outputs (for GPUs). unroll: override the variant's
  (static_rnn = unrolled); the math is the same either way, only the speed differs.
  portable: only built-in Keras objects (default initializers, keras Dropout), for exports that
  load without this package; its weights are to be copied from a trained model.
  """
  unroll = variant.unroll if unroll is None else unroll
  dtype = "mixed_float16" if mixed_precision else None
  keep = variant.dropout_keep if dropout_keep is None else dropout_keep
  inputs = keras.Input((TIME_STEPS, INPUT_SIZE), name="pixels_by_row")
  x, input_size = inputs, INPUT_SIZE
  for layer in range(variant.layers):
    last = layer == variant.layers - 1
    # Only the last time step of the top layer is read, so it alone is returned.
    common = dict(return_sequences=not last, name=rnn_layer_name(layer), use_cudnn=use_cudnn,
                  dtype=dtype, unroll=unroll)
    x = (_portable_recurrent_layer(variant, **common) if portable else
         _RECURRENT_LAYERS[variant.cell](variant, input_size, **common))(x)
    if keep < 1.0:
      # DropoutWrapper(output_keep_prob) in dynamic_rnn: a fresh mask per time step, unit and
      # example on each layer's output; the state itself is not dropped. (Not LSTM(dropout=):
      # that drops the input with one mask for all steps.)
      dropout = keras.layers.Dropout if portable else _project_layers().ReplicaDropout
      x = dropout(1.0 - keep, name=f"output_dropout_{layer}", dtype=dtype)(x)
    input_size = variant.units
  outputs = (keras.layers.Dense(NUM_CLASSES, name=OUTPUT_LAYER) if portable
             else _tutorial_output_layer(variant.output_layer, variant.units))(x)
  if variant.loss == "double_softmax":
    outputs = keras.layers.Softmax(name="prediction")(outputs)
  return keras.Model(inputs, outputs, name=variant.name)
