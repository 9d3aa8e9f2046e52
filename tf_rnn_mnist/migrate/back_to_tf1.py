"""A whole migrated model's weights as TF1 variables under the program's own names (to-tf1):
the names are in the layers' configs, the cells go back through their kinds."""

import numpy as np

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate import graph_ops

def tf1_variables(model):
  """{TF1 variable name: array} of a model to-keras wrote from a whole graph (the names are
  in its layers' configs), or None for a model of another kind."""
  layers = [l for l in model.layers if isinstance(
      l, (graph_ops.TF1Recurrent, graph_ops.TF1Embedding, graph_ops.TF1Dense, graph_ops.TF1Op))]
  if not graph_ops.is_whole_model(model):
    return None
  arrays = {}

  def put(name, value):
    if name in arrays and not np.array_equal(arrays[name], value):
      raise ConfigError(f"{name} is held by two layers of the model (tied in the TF1 graph) "
                        "with different values now: one TF1 variable cannot take both.")
    arrays[name] = value
  for layer in layers:
    if isinstance(layer, graph_ops.TF1Embedding):
      put(layer.tf1_name, layer.embeddings.numpy())
    elif isinstance(layer, graph_ops.TF1Dense):
      kernel, bias = layer.tf1_names
      put(kernel, layer.kernel.numpy())
      if bias:
        put(bias, layer.bias.numpy())
    elif isinstance(layer, graph_ops.TF1Op):
      for (_, spec), weight in zip(sorted(layer.weights_at.items()), layer.weights):
        put(spec["name"], weight.numpy())
    else:
      for spec, cell in zip(layer.cell_specs, layer.rnn.cell.cells):
        tf1_cell = graph_ops.tf1_cell(spec)
        by_role = tf1_cell.kind.to_tf1(tf1_cell, [w.numpy() for w in cell.weights],
                                       spec.get("forget_bias", 0.0))
        arrays.update({tf1_cell.variables()[role]: a for role, a in by_role.items()})
  return arrays
