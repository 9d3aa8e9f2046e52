"""Keras 3 models from recognised structures, and back: a Keras model's recurrent layers as
TF1 variables.

A structure becomes, per layer: keras.layers.LSTM or GRU (cuDNN-eligible on a GPU) for one cell,
keras.layers.RNN(TF1LSTMCell) where TF1's LSTMCell does what LSTM cannot (peepholes,
projection, clipping), Bidirectional for fw/bw pairs, and RNN(StackedRNNCells) for a
MultiRNNCell inside one direction. Every recurrent layer returns its sequence and its states
(the model's output is the sequence, or the dense head on its last step), so `verify` can read
the final states of the reloaded model without rebuilding it.
"""

import re

import keras

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate.cells import KINDS, kind_of_class
from tf_rnn_mnist.migrate.structures import Cell, Head, Layer, Structure


def layer_name(scope):
  return re.sub(r"[^A-Za-z0-9_.-]", ".", scope)


def _rnn(cells, options, name, go_backwards=False):
  common = dict(return_sequences=True, return_state=True, go_backwards=go_backwards, name=name)
  if len(cells) > 1:
    return keras.layers.RNN(keras.layers.StackedRNNCells(
        [c.kind.keras_cell(c, c.kind.settings(c, options)) for c in cells]), **common)
  cell = cells[0]
  return cell.kind.keras_layer(cell, cell.kind.settings(cell, options), **common)


def build_model(structures, head, arrays, options, timesteps=None):
  """A Keras model of `structures` run one after the other, then `head` (a Head or None),
  holding the checkpoint's `arrays` {name: array}."""
  inputs = keras.Input((timesteps, structures[0].input_size), name="inputs")
  sequence, placed = inputs, []
  for structure in structures:
    for index, layer in enumerate(structure.layers):
      if layer.bw:
        keras_layer = keras.layers.Bidirectional(
            _rnn(layer.fw, options, "fw"),
            backward_layer=_rnn(layer.bw, options, "bw", go_backwards=True),
            name=layer_name(f"{structure.scope}/layer_{index}"))
        sequence = keras_layer(sequence)[0]
        placed += [(keras_layer.forward_layer, layer.fw), (keras_layer.backward_layer, layer.bw)]
      else:
        for cell in layer.fw:  # a MultiRNNCell is its cells one after the other
          keras_layer = _rnn([cell], options, layer_name(cell.scope))
          sequence = keras_layer(sequence)[0]
          placed.append((keras_layer, (cell,)))
  outputs = sequence
  if head:
    dense = keras.layers.Dense(head.outputs, name=layer_name(head.kernel.rpartition("/")[0]))
    outputs = dense(sequence[:, -1, :])
    placed.append((dense, None))
  model = keras.Model(inputs, outputs, name="migrated")
  for keras_layer, cells in placed:
    if cells is None:
      keras_layer.set_weights([arrays[head.kernel], arrays[head.bias]])
      continue
    keras_layer.set_weights([w for c in cells for w in c.kind.to_keras(
        c, {role: arrays[name] for role, name in c.variables().items()}, options.forget_bias)])
  return model


def recurrent_layers(model):
  """The model's recurrent layers (RNN and Bidirectional) and dense head, in order."""
  rnns = [l for l in model.layers if isinstance(l, (keras.layers.RNN, keras.layers.Bidirectional))]
  dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
  return rnns, dense


def run_with_states(model, x):
  """(top sequence, [final states of every cell, h before c], head output or None) of `x`."""
  rnns, dense = recurrent_layers(model)
  sequence, states = x, []
  for layer in rnns:
    sequence, *layer_states = layer(sequence)
    states += [s.numpy() for s in keras.tree.flatten(layer_states)]
  logits = dense[0](sequence[:, -1, :]).numpy() if dense else None
  return sequence.numpy(), states, logits


# ---------------------------------------------------------------------------------------------
# Keras -> TF1

def _keras_cells(layer):
  """The Keras cells of one recurrent layer (one, or a StackedRNNCells' list)."""
  cell = layer.cell
  return list(cell.cells) if isinstance(cell, keras.layers.StackedRNNCells) else [cell]


def _as_cell(keras_cell, input_size, scope_of, cell_class):
  name = type(keras_cell).__name__
  if name not in ("LSTMCell", "GRUCell", "TF1LSTMCell"):
    raise ConfigError(f"{name} has no TF1 cell: to-tf1 converts LSTM, GRU and TF1LSTMCell.")
  if name != "TF1LSTMCell" and (keras_cell.activation is not keras.activations.tanh or
                                keras_cell.recurrent_activation
                                is not keras.activations.sigmoid or not keras_cell.use_bias):
    raise ConfigError(f"{keras_cell.name}: TF1's cells use tanh, sigmoid and a bias; this cell "
                      "has other activations or no bias.")
  if name == "GRUCell":
    if keras_cell.reset_after and cell_class != "keras":
      raise ConfigError(f"{keras_cell.name} is a GRU with reset_after=True (Keras's default), "
                        "which no TF1 cell computes: TF1's GRUCell applies the reset gate "
                        "before the recurrent matmul (reset_after=False). Pass --cell=keras to "
                        "write tf.keras's names instead.")
    kind = KINDS["keras_gru"] if cell_class == "keras" else kind_of_class("GRUCell")
    return Cell(kind, scope_of(kind.scope_name), input_size, keras_cell.units,
                reset_after=keras_cell.reset_after)
  num_proj = getattr(keras_cell, "num_proj", None)
  peepholes = getattr(keras_cell, "use_peepholes", False)
  if cell_class == "keras":
    if name == "TF1LSTMCell":
      raise ConfigError("tf.keras has no LSTM with peepholes or projection; pass "
                        "--cell=LSTMCell.")
    kind = KINDS["keras_lstm"]
    return Cell(kind, scope_of(kind.scope_name), input_size, keras_cell.units)
  if (num_proj and cell_class != "LSTMCell") or (peepholes and cell_class == "BasicLSTMCell"):
    raise ConfigError(f"{keras_cell.name} has {'a projection' if num_proj else 'peepholes'}, "
                      f"which {cell_class} does not; pass --cell=LSTMCell.")
  kind = kind_of_class(cell_class)
  return Cell(kind, scope_of(kind.scope_name), input_size, keras_cell.units, num_proj,
              peepholes)


def _stack(layer, input_size, scope_of, cell_class):
  cells = []
  for index, keras_cell in enumerate(_keras_cells(layer)):
    cell = _as_cell(keras_cell, input_size, lambda name: scope_of(index, name), cell_class)
    cells.append(cell)
    input_size = cell.output_size
  return tuple(cells)


def _multi(prefix, count):
  """The scope function of a MultiRNNCell (count > 1) or a single cell under `prefix`."""
  if count > 1:
    return lambda index, name: f"{prefix}/multi_rnn_cell/cell_{index}/{name}"
  return lambda index, name: f"{prefix}/{name}"


def implied_cell_class(model):
  """The TF1 cell class `model` itself implies, for to-tf1 without --cell: GRUCell when every
  recurrent cell is a GRU (TF1 has one GRU class), LSTMCell when an LSTM has peepholes or a
  projection (TF1LSTMCell: only LSTMCell has them); None where the model leaves it open (a
  Keras LSTM is BasicLSTMCell's, LSTMCell's or LSTMBlockCell's, each naming its variables
  otherwise)."""
  rnns, _ = recurrent_layers(model)
  one_way = [l.forward_layer if isinstance(l, keras.layers.Bidirectional) else l for l in rnns]
  cells = [c for l in one_way for c in _keras_cells(l)]
  kinds = {type(c).__name__ for c in cells}
  if kinds == {"GRUCell"}:
    return "GRUCell"
  if any(getattr(c, "num_proj", None) or getattr(c, "use_peepholes", False) for c in cells):
    return "LSTMCell"
  return None


def tf1_structure(model, cell_class, prefix=None):
  """(Structure, [(keras layer, cells)]) of a Keras model's recurrent layers, named as TF1
  (or, with cell_class "keras", tf.keras) would name them."""
  rnns, _ = recurrent_layers(model)
  if not rnns:
    raise ConfigError(f"{model.name} has no recurrent layer (LSTM, GRU, RNN, Bidirectional).")
  input_size = model.inputs[0].shape[-1]
  bidirectional = [isinstance(l, keras.layers.Bidirectional) for l in rnns]
  if cell_class == "keras":
    return _keras_names(rnns, input_size, prefix)
  if any(bidirectional) and not all(bidirectional):
    raise ConfigError("The model mixes one-way and bidirectional layers, which no single TF1 "
                      "RNN call builds; convert the parts one at a time.")
  placed, layers = [], []
  if not any(bidirectional):
    keras_cells = [c for l in rnns for c in _keras_cells(l)]
    if cell_class == "LSTMBlockFusedCell":  # called on the sequence itself, one per layer
      if "GRUCell" in {type(c).__name__ for c in keras_cells}:
        raise ConfigError("--cell=LSTMBlockFusedCell: the model has GRU layers, which TF1 "
                          "runs in a MultiRNNCell; pass --cell=LSTMBlockCell.")
      base = f"{prefix}/" if prefix else ""
      scope_of = lambda index, name: f"{base}{name}{f'_{index}' if index else ''}"
      prefix = prefix or ""
    else:
      prefix = prefix or "rnn"
      scope_of = _multi(prefix, len(keras_cells))
    cells, index = [], 0
    for layer in rnns:
      stack = _stack(layer, input_size, lambda i, name: scope_of(index + i, name), cell_class)
      placed.append((layer, stack))
      cells += stack
      index += len(stack)
      input_size = stack[-1].output_size
    return Structure(prefix, "dynamic_rnn", (Layer(tuple(cells)),)), placed
  if len(rnns) == 1:
    prefix = prefix or "bidirectional_rnn"
    naming = "bidirectional"
    scopes = lambda k, direction, count: _multi(f"{prefix}/{direction}", count)
  else:
    prefix = prefix or "stack_bidirectional_rnn"
    naming = "stack_bidirectional"
    scopes = lambda k, direction, count: _multi(
        f"{prefix}/cell_{k}/bidirectional_rnn/{direction}", 1)
  for k, layer in enumerate(rnns):
    stacks = []
    for direction, inner in (("fw", layer.forward_layer), ("bw", layer.backward_layer)):
      count = len(_keras_cells(inner))
      if naming == "stack_bidirectional" and count > 1:
        raise ConfigError("Stacked bidirectional layers each hold one cell per direction in TF1.")
      stacks.append(_stack(inner, input_size, scopes(k, direction, count), cell_class))
      placed.append((inner, stacks[-1]))
    layers.append(Layer(*stacks))
    input_size = layers[-1].output_size
  return Structure(prefix, naming, tuple(layers)), placed


def _keras_names(rnns, input_size, prefix):
  placed, layers = [], []
  base = f"{prefix}/" if prefix else ""
  for layer in rnns:
    if len(_keras_cells(layer.forward_layer if isinstance(layer, keras.layers.Bidirectional)
                        else layer)) > 1:
      raise ConfigError(f"{layer.name}: tf.keras names a stack of cells in one layer "
                        "differently; --cell=keras takes one cell per layer.")
    if isinstance(layer, keras.layers.Bidirectional):
      stacks = []
      for inner in (layer.forward_layer, layer.backward_layer):
        stacks.append(_stack(inner, input_size,
                             lambda i, name: f"{base}{layer.name}/{inner.name}/{name}", "keras"))
        placed.append((inner, stacks[-1]))
      layers.append(Layer(*stacks))
    else:
      stack = _stack(layer, input_size, lambda i, name: f"{base}{layer.name}/{name}", "keras")
      placed.append((layer, stack))
      layers.append(Layer(stack))
    input_size = layers[-1].output_size
  return Structure(prefix or "", "keras", tuple(layers)), placed


def tf1_arrays(placed, options):
  """{checkpoint name: array} of the placed layers' weights."""
  arrays = {}
  for layer, cells in placed:
    weights = [w.numpy() for w in layer.weights]
    for cell in cells:
      count = cell.kind.keras_weight_count(cell)
      own, weights = weights[:count], weights[count:]
      by_role = cell.kind.to_tf1(cell, own, options.forget_bias)
      arrays.update({cell.variables()[role]: a for role, a in by_role.items()})
  return arrays


def head_arrays(model, scope="dense"):
  _, dense = recurrent_layers(model)
  if not dense:
    return {}, None
  kernel, bias = (w.numpy() for w in dense[-1].weights)
  head = Head(f"{scope}/kernel", f"{scope}/bias", *kernel.shape)
  return {head.kernel: kernel, head.bias: bias}, head
