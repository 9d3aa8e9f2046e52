"""The Keras 3 layers a whole migrated TF1 model is made of, written with `keras.ops` only so
the model runs on every Keras backend (TensorFlow, JAX, PyTorch) and loads in a process that
never imports TensorFlow (`import tf_rnn_mnist.migrate.graph_ops` registers them).

- `TF1Op`: one TF1 op between the model's inputs and its recurrent calls (reshapes,
  transposes, the gathers of a last-valid-step head, softmax, ...): the op's type, its
  attributes and its constant inputs are its config, so the model reads as the user's graph.
- `TF1Embedding`, `TF1Dense`: embedding lookups and `matmul (+ bias)` heads on a variable,
  keeping the TF1 variable names `to-tf1` writes back.
- `TF1Recurrent`: one `dynamic_rnn` / `static_rnn` call: its cells (MultiRNNCell of any depth,
  ResidualWrapper adds kept, DropoutWrapper identity at inference), TF1's `sequence_length`
  semantics (outputs zero past each length, final states the states at each length) and its
  time-major interface; states come out in TF1's order (c before h).

Why hand-written: Keras has no layer that runs a TF1 op by its NodeDef, and its own RNN layers
take batch-major inputs and give h before c; these layers translate, nothing more.
"""

import keras
import numpy as np
from keras import ops

from tf_rnn_mnist.migrate.cells import kind_named
from tf_rnn_mnist.migrate.keras_cells import TF1LSTMCell  # noqa: F401  (registers it)
from tf_rnn_mnist.migrate.ops import is_static, run_op
from tf_rnn_mnist.migrate.ops.registry import finish
from tf_rnn_mnist.migrate.ops.shape_inference import STATIC_VALUE, static_spec

PACKAGE = "tf_rnn_mnist"


def _encode(value):
  array = np.asarray(value)
  return {"value": array.tolist(), "dtype": str(array.dtype), "shape": list(array.shape)}


def _decode(spec):
  return np.asarray(spec["value"], dtype=spec["dtype"]).reshape(spec["shape"])


def _variable_name(tf1_name):
  """Keras refuses a '/' in a variable's name, PyTorch a '.' in a parameter's."""
  if keras.backend.backend() == "torch":
    return tf1_name.replace("/", "_").replace(".", "_")
  return tf1_name.replace("/", ".")


class _TorchSafeScope:
  """Keras names a variable by the layers it is made in ("layer/cell/kernel"), and PyTorch
  refuses a '.' in a parameter's name, which these layers' names (TF1 scopes) have: on PyTorch
  the scopes of a layer's weights and sublayers use its name with '_' for '.'."""

  def _open_name_scope(self):
    scope = super()._open_name_scope()
    if keras.backend.backend() == "torch":
      scope.name = scope.name.replace(".", "_")
    return scope

  def add_weight(self, *args, **kwargs):  # Layer.add_weight opens a scope of self.name
    name = self.name
    if keras.backend.backend() != "torch" or "." not in name:
      return super().add_weight(*args, **kwargs)
    self.name = name.replace(".", "_")
    try:
      return super().add_weight(*args, **kwargs)
    finally:
      self.name = name


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Op(_TorchSafeScope, keras.layers.Layer):
  """One op of the user's TF1 graph. `arity` inputs in the graph's order; those in
  `constants` ({index: array}) are part of the config, the others are the layer's inputs, and
  those in `weights_at` ({index: {"name", "shape", "dtype"}}) are the layer's weights."""

  def __init__(self, op, attrs=None, arity=1, constants=None, weights_at=None, outputs=1,
               tf1_name=None, **kwargs):
    super().__init__(**kwargs)
    self._spec_values = None
    self.op, self.attrs, self.arity, self.outputs = op, dict(attrs or {}), arity, outputs
    self.tf1_name = tf1_name
    self.constants = {int(k): (v if isinstance(v, dict) else _encode(v))
                      for k, v in (constants or {}).items()}
    # {index: {"name": TF1 variable, "shape": [...], "dtype": ...}}: made here, so that a
    # reloaded model has them before its weights are read back. A model saved before shapes
    # were kept has the TF1 name alone: its weights are made from the arrays read back.
    self.weights_at = {int(k): dict(v) if isinstance(v, dict) else {"name": v}
                       for k, v in (weights_at or {}).items()}
    self._values = {k: _decode(v) for k, v in self.constants.items()}
    self._variables = {}
    for index, spec in sorted(self.weights_at.items()):
      self._variables[index] = None
      if "shape" in spec:
        self._make_weight(index, spec["shape"], spec["dtype"])

  def _make_weight(self, index, shape, dtype):
    spec = self.weights_at[index]
    spec["shape"], spec["dtype"] = [int(d) for d in shape], str(dtype)
    self._variables[index] = self.add_weight(
        shape=tuple(spec["shape"]), dtype=spec["dtype"], initializer="zeros",
        name=_variable_name(spec["name"]), trainable=spec["dtype"].startswith("float"))

  def build(self, input_shape=None):
    self.built = True

  def load_own_variables(self, store):
    missing = sorted(i for i, v in self._variables.items() if v is None)
    if missing:  # weights_at without shapes: Keras saved the arrays in the weights' order
      arrays = [store[str(k)] for k in range(len(store.keys()))]
      if len(arrays) != len(missing) or len({a.dtype.kind == "f" for a in arrays}) > 1:
        raise ValueError(f"{self.name}: the saved arrays do not tell which is which of the "
                         f"weights {[self.weights_at[i]['name'] for i in missing]}.")
      locked = self._tracker.locked
      self._tracker.unlock()
      try:
        for index, array in zip(missing, arrays):
          self._make_weight(index, array.shape, array.dtype)
      finally:
        if locked:
          self._tracker.lock()
    super().load_own_variables(store)

  def __call__(self, inputs, *args, **kwargs):
    if any(is_static(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])):
      # Values computed from static dims (numpy) are how a shape stays static from op to op,
      # as JAX's jit and PyTorch need it; Layer.__call__ would make them tensors, or refuse a
      # list mixing them with tensors: the op runs on them as they are.
      return self.call(inputs)
    return super().__call__(inputs, *args, **kwargs)

  def compute_output_spec(self, inputs):
    made = all(v is not None for v in self._variables.values())
    if keras.backend.backend() == "tensorflow" and made:
      return super().compute_output_spec(inputs)  # TensorFlow's graph infers it, as always
    pending = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    specs = []  # (value if known, shape, dtype) of each argument
    for index in range(self.arity):
      if index in self._values:
        value = self._values[index]
        specs.append((value, value.shape, str(value.dtype)))
      elif index in self._variables:
        weight = self._variables[index]
        specs.append((None, None, None) if weight is None else
                     (None, tuple(weight.shape), weight.dtype))
      else:
        x = pending.pop(0)
        specs.append((getattr(x, STATIC_VALUE, None), tuple(x.shape), x.dtype))
    spec = static_spec(self.op, self.attrs, specs)
    if spec is not None:
      return spec
    # The backend's own inference, with the values known ahead given as they are.
    self._spec_values = {i: s[0] for i, s in enumerate(specs)
                         if i not in self._values and s[0] is not None
                         and finish(s[0], "int64").dtype != object}
    try:
      return super().compute_output_spec(inputs)
    finally:
      self._spec_values = None

  def call(self, inputs):
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    args = []
    for index in range(self.arity):
      if index in self._values:  # numpy: shapes and axes stay static on every backend
        args.append(self._values[index])
      elif index in self._variables:
        args.append(ops.convert_to_tensor(self._variables[index]))
      else:
        args.append(inputs.pop(0))
        if self._spec_values and index in self._spec_values:
          args[-1] = self._spec_values[index]
    result = run_op(self.op, self.attrs, args)
    return list(result) if isinstance(result, (list, tuple)) else result

  def get_config(self):
    return {**super().get_config(), "op": self.op, "attrs": self.attrs, "arity": self.arity,
            "constants": self.constants, "weights_at": self.weights_at,
            "outputs": self.outputs, "tf1_name": self.tf1_name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Embedding(_TorchSafeScope, keras.layers.Embedding):
  """keras.layers.Embedding that remembers its TF1 variable (`tf1_name`) for to-tf1; the
  TF1 lookup (`embedding_lookup`, a Gather of axis 0) is exactly Embedding's."""

  def __init__(self, input_dim, output_dim, tf1_name=None, **kwargs):
    super().__init__(input_dim, output_dim, **kwargs)
    self.tf1_name = tf1_name

  def get_config(self):
    return {**super().get_config(), "tf1_name": self.tf1_name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Dense(_TorchSafeScope, keras.layers.Dense):
  """keras.layers.Dense for `matmul(x, W) (+ b)` on TF1 variables (`xw_plus_b`,
  tf.layers.dense, bias-free projections); `tf1_names` are [kernel, bias or None]."""

  def __init__(self, units, tf1_names=None, **kwargs):
    super().__init__(units, **kwargs)
    self.tf1_names = list(tf1_names or [])

  def get_config(self):
    return {**super().get_config(), "tf1_names": self.tf1_names}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1StackedCells(_TorchSafeScope, keras.layers.Layer):
  """MultiRNNCell: cells one after the other within a step, each cell's output optionally
  added to its input (ResidualWrapper). States flat, Keras's per-cell order ([h, c])."""

  def __init__(self, cells, residual, **kwargs):
    super().__init__(**kwargs)
    self.cells = [c if isinstance(c, keras.layers.Layer)
                  else keras.saving.deserialize_keras_object(c)
                  for c in cells]
    self.residual = list(residual)
    self.state_size = [s for c in self.cells for s in
                       (c.state_size if isinstance(c.state_size, (list, tuple))
                        else [c.state_size])]
    last = self.cells[-1]
    self.output_size = getattr(last, "output_size", None) or last.units

  def _sizes(self):
    return [len(c.state_size) if isinstance(c.state_size, (list, tuple)) else 1
            for c in self.cells]

  def build(self, input_shape):
    size = input_shape[-1]
    for cell in self.cells:
      cell.build((input_shape[0], size))
      size = getattr(cell, "output_size", None) or cell.units
    self.built = True

  def call(self, inputs, states, training=False):
    new_states, offset = [], 0
    for cell, residual, count in zip(self.cells, self.residual, self._sizes()):
      own = list(states[offset:offset + count])
      offset += count
      output, own = cell(inputs, own if count > 1 else own, training=training)
      own = own if isinstance(own, (list, tuple)) else [own]
      if residual:
        output = output + inputs
      new_states += list(own)
      inputs = output
    return inputs, new_states

  def get_config(self):
    return {**super().get_config(),
            "cells": [keras.saving.serialize_keras_object(c) for c in self.cells],
            "residual": self.residual}


def is_whole_model(model):
  """A model to-keras wrote from a program's graph (its layers are this module's, and know
  their TF1 names), not a cell-level one."""
  return any(isinstance(l, (TF1Recurrent, TF1Op, TF1Embedding, TF1Dense)) for l in model.layers)


def tf1_cell(spec):
  """The structures.Cell a TF1Recurrent's cell spec (dict) describes."""
  from tf_rnn_mnist.migrate.structures import Cell
  return Cell(kind_named(spec["tf1_kind"], spec["tf1_scope"]), spec["tf1_scope"],
              spec["input_size"], spec["units"], spec.get("num_proj"),
              bool(spec.get("peepholes")), bool(spec.get("reset_after")))


def make_cell(spec):
  """The Keras cell of a cell spec: its kind's, with the settings the graph ran it with."""
  cell = tf1_cell(spec)
  return cell.kind.keras_cell(cell, spec)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Recurrent(_TorchSafeScope, keras.layers.Layer):
  """One dynamic_rnn / static_rnn call (or a tf.keras layer's loop). Inputs: the time-major
  sequence [T, B, D], then the lengths [B] if `with_lengths`, the time-major Keras mask
  [T, B, 1] if `with_mask`, then the initial states given in `initial_states` (their
  positions in TF1's flat state order; the others start at zero). Outputs: the time-major
  outputs [T, B, out], then every final state in TF1's flat order (LSTM: c, h)."""

  def __init__(self, cells, with_lengths=False, initial_states=(), tf1_scope=None,
               with_mask=False, zero_output_for_mask=True, **kwargs):
    super().__init__(**kwargs)
    self.cell_specs = [dict(c) for c in cells]
    self.with_lengths, self.initial_states = with_lengths, list(initial_states)
    self.with_mask, self.zero_output_for_mask = with_mask, zero_output_for_mask
    self.tf1_scope = tf1_scope
    stacked = TF1StackedCells([make_cell(c) for c in self.cell_specs],
                              [bool(c.get("residual")) for c in self.cell_specs])
    self.rnn = keras.layers.RNN(stacked, return_sequences=True, return_state=True,
                                zero_output_for_mask=zero_output_for_mask)

  def _keras_to_tf1_order(self):
    """Positions in Keras's state list of TF1's flat states (an LSTM's c, then h)."""
    order, offset = [], 0
    for spec in self.cell_specs:
      kind = tf1_cell(spec).kind
      order += [offset + kind.keras_states.index(state) for state in kind.states]
      offset += len(kind.keras_states)
    return order

  def build(self, input_shape):
    shapes = input_shape if isinstance(input_shape[0], (list, tuple)) else [input_shape]
    sequence = shapes[0]
    # The cells' input width is the TF1 cell's own: the graph may reach the call through a
    # reshape to a computed shape whose last dim shape inference leaves unknown.
    self.rnn.build((sequence[1], sequence[0], self.cell_specs[0]["input_size"]))
    self.built = True

  def call(self, inputs):
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    sequence = ops.transpose(inputs.pop(0), (1, 0, 2))
    mask = None
    if self.with_lengths:
      lengths = ops.cast(inputs.pop(0), "int32")
      steps = ops.arange(ops.shape(sequence)[1], dtype="int32")
      mask = ops.expand_dims(steps, 0) < ops.expand_dims(lengths, 1)
    if self.with_mask:  # a Keras mask, time-major [T, B, 1] as Keras 2's loop reads it
      time_major = inputs.pop(0)
      mask = ops.transpose(ops.cast(ops.reshape(time_major, ops.shape(time_major)[:2]),
                                    "bool"), (1, 0))
    order = self._keras_to_tf1_order()
    batch = ops.shape(sequence)[0]
    sizes = self.rnn.cell.state_size
    initial = [ops.zeros((batch, size), dtype=sequence.dtype) for size in sizes]
    for position in self.initial_states:
      initial[order[position]] = inputs.pop(0)
    outputs, *states = self.rnn(sequence, mask=mask, initial_state=initial)
    return [ops.transpose(outputs, (1, 0, 2))] + [states[k] for k in order]

  def compute_output_spec(self, inputs):
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    time, batch = inputs[0].shape[0], inputs[0].shape[1]
    cells = self.rnn.cell.cells
    out = getattr(cells[-1], "output_size", None) or cells[-1].units
    specs = [keras.KerasTensor((time, batch, out), dtype=inputs[0].dtype)]
    sizes = self.rnn.cell.state_size
    for k in self._keras_to_tf1_order():
      specs.append(keras.KerasTensor((batch, sizes[k]), dtype=inputs[0].dtype))
    return specs

  def get_config(self):
    return {**super().get_config(), "cells": self.cell_specs,
            "with_lengths": self.with_lengths, "initial_states": self.initial_states,
            "tf1_scope": self.tf1_scope, "with_mask": self.with_mask,
            "zero_output_for_mask": self.zero_output_for_mask}
