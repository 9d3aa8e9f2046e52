"""Weights between the tutorials and the Keras port: TF1 checkpoints and PyTorch state_dicts.

- TF1: each tutorial's recurrent layers are described as migrate's cells (`tf1_cells`:
  structures.Cell, the same objects `migrate` finds in any checkpoint), whose kind
  (migrate/cells/) is the one place that knows its layouts (gate order, the forget bias folded
  into the bias, GRU's gates and candidate); checkpoints are read and written by
  migrate/tf1_checkpoints.py.
- PyTorch LSTM: weight_ih (4H, in), weight_hh (4H, H), gates i, f, g, o (Keras's order), two
  biases whose sum Keras keeps; Linear weight (out, in) is Keras's kernel transposed.
Every variable must be consumed and every shape must match, or the error names the variable.
Weights travel as {Keras layer name: [arrays]} (models.rnn_layer_name, models.OUTPUT_LAYER).
"""

import numpy as np

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate import structures
from tf_rnn_mnist.migrate.cells import kind_of_class
from tf_rnn_mnist.migrate.tf1_checkpoints import (open_tf1_checkpoint,  # noqa: F401 (re-export)
                                                  read_tf1_checkpoint, write_tf1_checkpoint)
from tf_rnn_mnist.model.models import OUTPUT_LAYER, rnn_layer_name

FORGET_BIAS = 1.0
# Optimizer state a TF1 Saver may have written beside the weights; not part of the model.
_OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1")
_OPTIMIZER_NAMES = ("beta1_power", "beta2_power", "global_step")


def tf1_cells(v):
  """The TF1 cells of variant `v`'s graph, one per recurrent layer, as migrate describes any
  checkpoint's cells (structures.Cell): their scopes, sizes and variables."""
  if not v.legacy.tf1_cell:
    raise ConfigError(f"{v.name} comes from PyTorch: convert it with --torch_state_dict.")
  kind = kind_of_class(v.legacy.tf1_cell)
  if v.layers > 1:  # MultiRNNCell
    scopes = [f"rnn/multi_rnn_cell/cell_{i}/{kind.scope_name}" for i in range(v.layers)]
  else:
    scopes = [f"rnn/{kind.scope_name}"]
  return [structures.Cell(kind, s, in_size, v.units)
          for s, in_size in zip(scopes, [28] + [v.units] * (v.layers - 1))]


def tf1_names(v):
  """The TF1 variable names of variant `v`'s graph: (per recurrent layer, output kernel, bias)."""
  layers = [list(c.variables().values()) for c in tf1_cells(v)]
  output = (["Variable", "Variable_1"] if v.output_layer == "truncated_normal"
            else ["dense/kernel", "dense/bias"])
  return layers, output


def expected_tf1_shapes(v):
  """{TF1 variable name: shape} of variant `v`'s graph: what a checkpoint of it holds."""
  shapes = {}
  for cell in tf1_cells(v):
    shapes.update({name: cell.kind.tf1_shapes(cell)[role]
                   for role, name in cell.variables().items()})
  _, output = tf1_names(v)
  shapes.update(zip(output, [(v.units, 10), (10,)]))
  return shapes


def _check_tf1_variables(v, tf1_vars, source):
  """Every expected variable present with its shape, nothing else but optimizer state."""
  expected = expected_tf1_shapes(v)
  missing = [name for name in expected if name not in tf1_vars]
  if missing:
    raise ConfigError(
        f"{source} has no variable {missing[0]} (missing: {', '.join(missing)}), which the "
        f"{v.name} graph creates. It holds {', '.join(sorted(tf1_vars)) or 'nothing'}: a "
        "checkpoint of another variant, or of another graph?")
  for name, shape in expected.items():
    if tuple(tf1_vars[name].shape) != shape:
      raise ConfigError(
          f"{source}: variable {name} has shape {list(tf1_vars[name].shape)}, but {v.name} "
          f"needs {list(shape)}.")
  extra = [n for n in tf1_vars if n not in expected and not n.endswith(_OPTIMIZER_SUFFIXES)
           and n not in _OPTIMIZER_NAMES]
  if extra:
    raise ConfigError(
        f"{source} holds variables the {v.name} graph does not have: {', '.join(sorted(extra))}."
        " A checkpoint of another variant, or of another graph?")


def tf1_to_keras(v, tf1_vars, source="the checkpoint"):
  """Keras weights {layer name: [arrays]} from TF1 variables {name: array}, through
  migrate's cell kinds (the one place that knows TF1's layouts)."""
  _check_tf1_variables(v, tf1_vars, source)
  _, output = tf1_names(v)
  weights = {}
  for index, cell in enumerate(tf1_cells(v)):
    arrays = {role: tf1_vars[name] for role, name in cell.variables().items()}
    weights[rnn_layer_name(index)] = cell.kind.to_keras(cell, arrays, FORGET_BIAS)
  weights[OUTPUT_LAYER] = [tf1_vars[output[0]], tf1_vars[output[1]]]
  return weights


def keras_to_tf1(v, weights):
  """TF1 variables {name: array} from Keras weights {layer name: [arrays]}."""
  _, output = tf1_names(v)
  tf1_vars = {}
  for index, cell in enumerate(tf1_cells(v)):
    by_role = cell.kind.to_tf1(cell, weights[rnn_layer_name(index)],
                               FORGET_BIAS)
    tf1_vars.update({cell.variables()[role]: a for role, a in by_role.items()})
  tf1_vars.update(zip(output, weights[OUTPUT_LAYER]))
  return tf1_vars


TORCH_SHAPES = {"rnn.weight_ih_l0": (256, 28), "rnn.weight_hh_l0": (256, 64),
                "rnn.bias_ih_l0": (256,), "rnn.bias_hh_l0": (256,), "out.weight": (10, 64),
                "out.bias": (10,)}


def torch_to_keras(state, source="the state_dict"):
  """Keras weights of torch_lstm from a PyTorch state_dict {name: array}."""
  missing = [n for n in TORCH_SHAPES if n not in state]
  extra = [n for n in state if n not in TORCH_SHAPES]
  if missing or extra:
    raise ConfigError(
        f"{source} is not the tutorial's RNN: " + "; ".join(
            p for p in (f"missing {', '.join(missing)}" if missing else "",
                        f"unexpected {', '.join(extra)}" if extra else "") if p) + ".")
  for name, shape in TORCH_SHAPES.items():
    if tuple(state[name].shape) != shape:
      raise ConfigError(f"{source}: {name} has shape {list(state[name].shape)}, but torch_lstm "
                        f"needs {list(shape)}.")
  return {rnn_layer_name(0): [state["rnn.weight_ih_l0"].T, state["rnn.weight_hh_l0"].T,
                              state["rnn.bias_ih_l0"] + state["rnn.bias_hh_l0"]],
          OUTPUT_LAYER: [state["out.weight"].T, state["out.bias"]]}


def keras_to_torch(weights):
  """A PyTorch state_dict {name: array} of torch_lstm; the summed bias goes to bias_ih."""
  kernel, recurrent, bias = weights[rnn_layer_name(0)]
  return {"rnn.weight_ih_l0": kernel.T, "rnn.weight_hh_l0": recurrent.T,
          "rnn.bias_ih_l0": bias, "rnn.bias_hh_l0": np.zeros_like(bias),
          "out.weight": weights[OUTPUT_LAYER][0].T, "out.bias": weights[OUTPUT_LAYER][1]}


# ---------------------------------------------------------------------------------------------
# Files (TF1 checkpoints are read and written by migrate's tf1_checkpoints)


def read_torch_state_dict(path):
  try:
    import torch
  except ImportError:
    raise ConfigError("Reading a PyTorch state_dict needs PyTorch: pip install torch.") from None
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # torch reports unreadable files through many exception types
    raise ConfigError(f"{path} is not a readable PyTorch state_dict ({e}).") from None
  return {name: tensor.numpy() for name, tensor in state.items()}


def write_torch_state_dict(state, path):
  import torch
  torch.save({name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in state.items()},
             path)


def model_weights(model):
  """{layer name: [arrays]} of a built Keras model of this project."""
  return {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers
          if layer.weights}


def set_model_weights(model, weights):
  try:
    for name, arrays in weights.items():
      model.get_layer(name).set_weights(arrays)
  except ValueError as e:  # Keras: no such layer, or weights of another shape
    raise ConfigError(f"These weights do not fit the {model.name} model: "
                      f"{str(e).splitlines()[0]}") from None


def keras_weights_from(variant, path):
  """Keras weights of `variant` (a Variant) from a TF1 checkpoint, a PyTorch
  state_dict or a .keras file."""
  if path.endswith(".keras"):
    from tf_rnn_mnist.migrate.verify import load_model
    model = load_model(path)
    if model.name != variant.name:  # this project names each model after its variant
      raise ConfigError(f"{path} holds a {model.name} model, not {variant.name}; pass the "
                        f"variant it was trained as (--variant={model.name}).")
    return model_weights(model)
  if path.endswith((".pt", ".pth")):
    if variant.legacy.tf1_cell:
      raise ConfigError(f"{path} is a PyTorch state_dict; only torch_lstm comes from PyTorch.")
    return torch_to_keras(read_torch_state_dict(path), path)
  return tf1_to_keras(variant, read_tf1_checkpoint(path), path)
