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

from tf_rnn_mnist.migrate.keras_cells import TF1LSTMCell
from tf_rnn_mnist.migrate.tf1_ops import (BOOL_OPS, ELEMENTWISE, FOLDABLE, Unknown, dtype_name,
                                          finish, fold, fold_dtype, is_static, run_op)

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


_STATIC_VALUE = "_tf1_static_value"  # on a KerasTensor: its value where known before the run


def _static_tensor(value, dtype):
  value = finish(value, dtype)
  tensor = keras.KerasTensor(value.shape, dtype=dtype)
  setattr(tensor, _STATIC_VALUE, value)
  return tensor


def _partial_value(value, shape, dtype):
  """An argument's value for fold at shape-inference time: known, or None in each place of a
  small integer tensor of known shape, or None when neither."""
  if value is not None:
    return np.asarray(value)
  if shape is not None and None not in shape and str(dtype).startswith(("int", "uint", "bool")) \
      and int(np.prod(shape, dtype=np.int64)) <= 64:
    return np.full(shape, None, dtype=object)
  return None


def _reshape_shape(in_shape, target):
  value = _partial_value(*target)
  if value is None:
    if not target[1] or target[1][0] is None:
      raise ValueError("Reshape to a shape of unknown rank")
    return (None,) * target[1][0]
  dims = [None if d is None else int(d) for d in value.reshape(-1)]
  if -1 in dims:
    rest = [d for d in dims if d != -1]
    known = None not in in_shape and None not in rest
    dims[dims.index(-1)] = (int(np.prod(in_shape, dtype=np.int64))
                            // max(1, int(np.prod(rest, dtype=np.int64)))) if known else None
  return tuple(dims)


def _spec_without_weight(op, attrs, specs):
  """The output of an op on a weight whose shape the model's file does not hold (saved before
  `weights_at` kept shapes: the weight is made when its array is read back): what the weight
  decides (a matmul's columns) stays unknown, a bias-like weight broadcasts into the other."""
  shapes = [s[1] for s in specs]
  dtype = next(s[2] for s in specs if s[2] is not None)
  if op in ("MatMul", "BatchMatMul", "BatchMatMulV2"):
    a, b = (None if shape is None else tuple(shape[:-2]) + (
        tuple(shape[-2:])[::-1] if attrs.get(t) or attrs.get(adj) else tuple(shape[-2:]))
            for shape, t, adj in zip(shapes, ("transpose_a", "transpose_b"), ("adj_x", "adj_y")))
    if a is not None:
      return keras.KerasTensor(a[:-1] + (None if b is None else b[-1],), dtype=dtype)
    return keras.KerasTensor(b[:-2] + (None, b[-1]), dtype=dtype)
  if op in ELEMENTWISE or op == "BiasAdd":
    shape = max((s for s in shapes if s is not None), key=len)
    return keras.KerasTensor(shape, dtype="bool" if op in BOOL_OPS else dtype)
  raise ValueError(f"TF1 op {op} on a weight of unknown shape: convert the model again "
                   "(its weights_at then keep the weights' shapes).")


def _static_spec(op, attrs, specs):
  """The output spec of `op` where shapes decide it, worked out as TensorFlow's shape inference
  does: values known before the run (constants, shapes from static dims) travel on the
  KerasTensors, so a Reshape to a computed shape gets its static dims on every backend (JAX
  traces with symbolic dims, PyTorch with stand-in ones). None: left to the backend."""
  dtypes = [s[2] for s in specs]
  if op == "Shape":
    dims = np.array([None if d is None else int(d) for d in specs[0][1]], dtype=object)
    return _static_tensor(dims, dtype_name(attrs.get("out_type", "int32")))
  if op in FOLDABLE:
    values = [_partial_value(*s) for s in specs]
    if all(v is not None for v in values):
      try:
        return _static_tensor(fold(op, attrs, values), fold_dtype(op, attrs, dtypes))
      except Unknown:
        pass
  if op == "Reshape":
    return keras.KerasTensor(_reshape_shape(specs[0][1], specs[1]), dtype=dtypes[0])
  if op == "Range":
    return keras.KerasTensor((None,), dtype=fold_dtype(op, attrs, dtypes))
  if op == "Fill":
    return keras.KerasTensor(_reshape_shape((None,), specs[0]), dtype=dtypes[1])
  if op == "ReverseSequence":
    return keras.KerasTensor(specs[0][1], dtype=dtypes[0])
  if any(shape is None for shape in (s[1] for s in specs)):
    return _spec_without_weight(op, attrs, specs)
  return None


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
        specs.append((getattr(x, _STATIC_VALUE, None), tuple(x.shape), x.dtype))
    spec = _static_spec(self.op, self.attrs, specs)
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
    self.cells = [c if isinstance(c, keras.layers.Layer) else keras.saving.deserialize_keras_object(c)
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


def make_cell(spec):
  """A Keras cell from a cell spec (dict): kind lstm / tf1_lstm / gru."""
  if spec["kind"] == "gru":
    return keras.layers.GRUCell(spec["units"], activation=spec["activation"],
                                reset_after=False)
  if spec["kind"] == "lstm":
    return keras.layers.LSTMCell(spec["units"], activation=spec["activation"],
                                 unit_forget_bias=False)
  return TF1LSTMCell(spec["units"], spec.get("num_proj"), spec.get("peepholes", False),
                     spec.get("cell_clip"), spec.get("proj_clip"),
                     activation=spec.get("activation", "tanh"))


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Recurrent(_TorchSafeScope, keras.layers.Layer):
  """One dynamic_rnn / static_rnn call. Inputs: the time-major sequence [T, B, D], then the
  lengths [B] if `with_lengths`, then the initial states given in `initial_states` (their
  positions in TF1's flat state order; the others start at zero). Outputs: the time-major
  outputs [T, B, out], then every final state in TF1's flat order (LSTM: c, h)."""

  def __init__(self, cells, with_lengths=False, initial_states=(), tf1_scope=None, **kwargs):
    super().__init__(**kwargs)
    self.cell_specs = [dict(c) for c in cells]
    self.with_lengths, self.initial_states = with_lengths, list(initial_states)
    self.tf1_scope = tf1_scope
    stacked = TF1StackedCells([make_cell(c) for c in self.cell_specs],
                              [bool(c.get("residual")) for c in self.cell_specs])
    self.rnn = keras.layers.RNN(stacked, return_sequences=True, return_state=True,
                                zero_output_for_mask=True)

  def _keras_to_tf1_order(self):
    """Positions in Keras's state list of TF1's flat states (an LSTM's c, then h)."""
    order, offset = [], 0
    for spec in self.cell_specs:
      if spec["kind"] == "gru":
        order.append(offset)
        offset += 1
      else:
        order += [offset + 1, offset]
        offset += 2
    return order

  def build(self, input_shape):
    shapes = input_shape if isinstance(input_shape[0], (list, tuple)) else [input_shape]
    sequence = shapes[0]
    self.rnn.build((sequence[1], sequence[0], sequence[2]))
    self.built = True

  def call(self, inputs):
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    sequence = ops.transpose(inputs.pop(0), (1, 0, 2))
    mask = None
    if self.with_lengths:
      lengths = ops.cast(inputs.pop(0), "int32")
      steps = ops.arange(ops.shape(sequence)[1], dtype="int32")
      mask = ops.expand_dims(steps, 0) < ops.expand_dims(lengths, 1)
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
            "tf1_scope": self.tf1_scope}
