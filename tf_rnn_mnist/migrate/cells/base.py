"""What every TF1 cell kind declares: how its variables are recognised, its weights' layouts
both ways, the Keras cell it becomes, how one of its steps is matched in a program's graph,
and how TF1 itself builds it (for the cell-level check). One class per kind, registered with
`@cell_kind`; the rest of migrate asks the kind, never compares its name.
"""

import re

from tf_rnn_mnist.migrate.cell_steps import NotRecognised, matmuls_of  # noqa: F401

KINDS = {}        # name -> CellKind, in the order recognition tries them


def cell_kind(cls):
  """Registers one instance of the decorated CellKind class under its `name`."""
  if cls.name in KINDS:
    raise ValueError(f"two cell kinds named {cls.name}")
  KINDS[cls.name] = cls()
  return cls


class CellKind:
  name = None            # kept in specs and Keras configs
  tf1_class = None       # the TF1 API class, as `inspect` reports it
  layer = None           # the Keras layer family: "LSTM", "GRU", "SimpleRNN"
  states = ("h",)        # TF1's flat state order (LSTMStateTuple is c, h)
  keras_states = ("h",)  # Keras's order of the same states (LSTMCell: h, c)
  scope_name = None      # the variable scope the TF1 class creates
  step_role = None       # the variable whose MatMul starts a step in a graph (None: no step)
  whole_sequence = False  # runs a whole sequence alone (LSTMBlockFusedCell): never stacked
  keras_loop = False     # runs in Keras 2's own backend.rnn loop (tf.keras layers, keras_loops)

  # -- recognition by variable names -------------------------------------------------------
  def claims(self, name, shapes):
    """The scope of a cell of this kind that variable `name` marks, or None."""
    raise NotImplementedError

  def recognise(self, scope, shapes):
    """The Cell under `scope`, or NotRecognised saying why not."""
    raise NotImplementedError

  def roles(self, cell):
    """The names of `cell`'s variables under its scope."""
    raise NotImplementedError

  def tf1_shapes(self, cell):
    """{role: shape} of `cell`'s variables."""
    raise NotImplementedError

  # -- weights -------------------------------------------------------------------------------
  def to_keras(self, cell, arrays, forget_bias):
    """The Keras cell's weights from {role: array}; TF1 adds `forget_bias` at run time."""
    raise NotImplementedError

  def to_tf1(self, cell, weights, forget_bias):
    """{role: array} from the Keras cell's weights (the inverse of to_keras)."""
    raise NotImplementedError

  def keras_weight_count(self, cell):
    return 3

  # -- Keras ---------------------------------------------------------------------------------
  def settings(self, cell, options):
    """TF1's run-time settings of `cell` from the command line's RunOptions (the cell-level
    path, where no graph holds them)."""
    return {"forget_bias": options.forget_bias, "activation": "tanh"}

  def keras_cell(self, cell, settings):
    """The Keras 3 cell computing `cell`'s step with `settings`."""
    raise NotImplementedError

  def keras_layer(self, cell, settings, **common):
    """The Keras 3 layer running `cell` over a sequence (cuDNN-eligible where Keras's own)."""
    import keras
    return keras.layers.RNN(self.keras_cell(cell, settings), **common)

  # -- graphs ----------------------------------------------------------------------------------
  def step_starts(self, g, cell):
    """[(node, weight tensor)]: the ops where `cell`'s steps start in graph `g` (its
    kernel's MatMuls), with the input that carries its kernel."""
    if not self.step_role:
      return []
    return matmuls_of(g, cell.variables()[self.step_role])

  def step(self, g, node, cell):
    """The cell_steps.Step of one application of `cell` starting at `node`."""
    raise NotImplementedError(f"{self.tf1_class}: its steps are not matched in graphs")

  def tf1_cell(self, tf, cell, options):
    """TF1's own cell object (tf is tf.compat.v1 with tf_keras), for the cell-level check."""
    raise NotImplementedError

  def tf1_sequence(self, tf, cell, x, options):
    """(outputs, [final h, final c]) of a kind that runs a whole sequence (whole_sequence)."""
    raise NotImplementedError

  def tf1_layer(self, tf_keras, cell, **common):
    """The tf.keras layer of a kind saved by tf.keras (the cell-level check rebuilds it)."""
    raise NotImplementedError

  def position(self, scope):
    """(structure scope, naming, layer index, direction, index in the stack) of a cell at
    `scope`, from the scopes TF1's RNN calls create: MultiRNNCell's multi_rnn_cell/cell_K,
    bidirectional_dynamic_rnn's fw|bw, contrib's stack_bidirectional_dynamic_rnn's
    cell_K/bidirectional_rnn/fw|bw."""
    parts = scope.split("/")[:-1]  # without the cell's own name
    stack_index = 0
    if len(parts) >= 2 and parts[-2] == "multi_rnn_cell" and re.fullmatch(r"cell_\d+",
                                                                          parts[-1]):
      stack_index = int(parts[-1][5:])
      parts = parts[:-2]
    if parts and parts[-1] in ("fw", "bw"):
      direction = parts[-1]
      parts = parts[:-1]
      if len(parts) >= 2 and parts[-1] == "bidirectional_rnn" \
          and re.fullmatch(r"cell_\d+", parts[-2]) and stack_index == 0:
        return "/".join(parts[:-2]), "stack_bidirectional", int(parts[-2][5:]), direction, 0
      return "/".join(parts), "bidirectional", 0, direction, stack_index
    return "/".join(parts), "dynamic_rnn", 0, "fw", stack_index

  # -- words -----------------------------------------------------------------------------------
  def describe_class(self, cell):
    return self.tf1_class

  def settings_note(self, settings):
    """What a conversion reports of the settings read from the graph."""
    activation = settings.get("activation", "tanh")
    return f" activation={activation}" if activation != "tanh" else ""


def named_scope(name, scope_name, leaf):
  """The scope of variable `name` when it is SCOPE/`leaf` and SCOPE ends in the class's own
  scope name (`scope_name`, or `scope_name`_K for the K-th such cell), else None."""
  scope, _, own_leaf = name.rpartition("/")
  base = scope.rpartition("/")[2]
  suffix = base[len(scope_name) + 1:]
  if own_leaf == leaf and (base == scope_name or base.startswith(scope_name + "_")
                           and suffix.isdigit()):
    return scope
  return None


def shape_of(shapes, name):
  return tuple(shapes[name]) if name in shapes else None
