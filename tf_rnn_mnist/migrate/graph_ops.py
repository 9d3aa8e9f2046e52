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

PACKAGE = "tf_rnn_mnist"


def _static(value):
  """A shape or axis argument as Python ints where the backend needs them (JAX, PyTorch)."""
  try:
    array = np.asarray(keras.ops.convert_to_numpy(value)) if not isinstance(
        value, (list, tuple, int, np.ndarray, np.integer)) else np.asarray(value)
    return array.astype(np.int64).tolist()
  except Exception:  # noqa: BLE001  (a symbolic TensorFlow value: TensorFlow takes it as is)
    return value


def _dtype(name):
  return {"bool": "bool"}.get(name, name)


def _shape(x):
  return ops.stack([ops.cast(d, "int32") for d in ops.shape(x)])


def _strided_slice(x, begin, end, strides, attrs):
  begin, end, strides = (np.asarray(_static(v)).reshape(-1) for v in (begin, end, strides))
  masks = {k: attrs.get(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                        "new_axis_mask", "shrink_axis_mask")}
  index = []
  for i in range(len(begin)):
    bit = 1 << i
    if masks["ellipsis_mask"] & bit:
      index.append(Ellipsis)
    elif masks["new_axis_mask"] & bit:
      index.append(None)
    elif masks["shrink_axis_mask"] & bit:
      index.append(int(begin[i]))
    else:
      index.append(slice(None if masks["begin_mask"] & bit else int(begin[i]),
                         None if masks["end_mask"] & bit else int(end[i]), int(strides[i])))
  if ops.is_tensor(x) and not hasattr(x, "numpy") and keras.backend.backend() == "jax":
    return x[tuple(index)]
  return x[tuple(index)]


def _reverse_sequence(x, lengths, seq_axis, batch_axis):
  """tf.reverse_sequence: each example's first `length` steps reversed, the rest kept."""
  perm = [batch_axis, seq_axis] + [a for a in range(len(x.shape)) if a not in (batch_axis,
                                                                                 seq_axis)]
  moved = ops.transpose(x, perm)
  steps = ops.shape(moved)[1]
  t = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
  lengths = ops.expand_dims(ops.cast(lengths, "int32"), 1)
  index = ops.where(t < lengths, lengths - 1 - t, t)
  index = ops.reshape(index, ops.shape(index) + (1,) * (len(moved.shape) - 2))
  gathered = ops.take_along_axis(moved, ops.broadcast_to(index, ops.shape(moved)), axis=1)
  return ops.transpose(gathered, list(np.argsort(perm)))


def _reduce(fn, x, axis, attrs):
  axis = _static(axis)
  return fn(x, axis=tuple(np.reshape(axis, -1).tolist()), keepdims=bool(attrs.get("keep_dims")))


def _matmul(a, b, attrs):
  if attrs.get("transpose_a") or attrs.get("adj_x"):
    a = ops.swapaxes(a, -1, -2)
  if attrs.get("transpose_b") or attrs.get("adj_y"):
    b = ops.swapaxes(b, -1, -2)
  return ops.matmul(a, b)


def _split(op, args, attrs):
  if op == "Split":
    axis, x = args
    return ops.split(x, int(attrs["num_split"]), axis=int(_static(axis)))
  x, sizes, axis = args
  sizes = np.asarray(_static(sizes)).reshape(-1).tolist()
  return ops.split(x, np.cumsum(sizes)[:-1].tolist(), axis=int(_static(axis)))


_ELEMENTWISE = {
    "Identity": lambda x: x, "StopGradient": lambda x: x, "Snapshot": lambda x: x,
    "Add": ops.add, "AddV2": ops.add, "Sub": ops.subtract, "Mul": ops.multiply,
    "RealDiv": ops.divide, "Div": ops.divide, "FloorDiv": ops.floor_divide,
    "Maximum": ops.maximum, "Minimum": ops.minimum, "Neg": ops.negative, "Exp": ops.exp,
    "Log": ops.log, "Tanh": ops.tanh, "Sigmoid": ops.sigmoid, "Relu": ops.relu,
    "Relu6": ops.relu6, "Elu": ops.elu, "Softplus": ops.softplus, "Square": ops.square,
    "Sqrt": ops.sqrt, "Rsqrt": ops.rsqrt, "Sign": ops.sign, "Pow": ops.power, "Abs": ops.abs,
    "Softmax": lambda x: ops.softmax(x, axis=-1),
    "LogSoftmax": lambda x: ops.log_softmax(x, axis=-1),
    "Equal": ops.equal, "NotEqual": ops.not_equal, "Less": ops.less,
    "LessEqual": ops.less_equal, "Greater": ops.greater, "GreaterEqual": ops.greater_equal,
    "LogicalAnd": ops.logical_and, "LogicalOr": ops.logical_or, "LogicalNot": ops.logical_not,
    "ZerosLike": ops.zeros_like, "OnesLike": ops.ones_like,
    "Select": ops.where, "SelectV2": ops.where,
}


def run_op(op, attrs, args):
  """TF1 op `op` with NodeDef attributes `attrs` on `args` (its inputs, in order)."""
  if op in _ELEMENTWISE:
    return _ELEMENTWISE[op](*args)
  if op == "BiasAdd":
    return ops.add(args[0], args[1])
  if op in ("MatMul", "BatchMatMul", "BatchMatMulV2"):
    return _matmul(args[0], args[1], attrs)
  if op == "Reshape":
    return ops.reshape(args[0], _static(args[1]))
  if op == "Transpose":
    return ops.transpose(args[0], _static(args[1]))
  if op == "ConcatV2":
    return ops.concatenate(list(args[:-1]), axis=int(_static(args[-1])))
  if op == "Pack":
    return ops.stack(list(args), axis=attrs.get("axis", 0))
  if op == "Unpack":
    return ops.unstack(args[0], num=attrs["num"], axis=attrs.get("axis", 0))
  if op == "StridedSlice":
    return _strided_slice(args[0], args[1], args[2], args[3], attrs)
  if op == "Slice":
    begin, size = (np.asarray(_static(v)).reshape(-1) for v in args[1:])
    return ops.slice(args[0], begin.tolist(), size.tolist())
  if op == "Shape":
    return _shape(args[0])
  if op == "Range":
    return ops.arange(*args)
  if op == "Cast":
    return ops.cast(args[0], _dtype(attrs["DstT"]))
  if op == "ExpandDims":
    return ops.expand_dims(args[0], int(_static(args[1])))
  if op == "Squeeze":
    dims = attrs.get("squeeze_dims") or [i for i, d in enumerate(args[0].shape) if d == 1]
    return ops.squeeze(args[0], axis=tuple(dims))
  if op == "GatherV2":
    return ops.take(args[0], args[1], axis=int(_static(args[2])))
  if op == "Gather":
    return ops.take(args[0], args[1], axis=0)
  if op in ("Sum", "Mean", "Max", "Min", "Prod"):
    fn = {"Sum": ops.sum, "Mean": ops.mean, "Max": ops.max, "Min": ops.min,
          "Prod": ops.prod}[op]
    return _reduce(fn, args[0], args[1], attrs)
  if op == "ArgMax":
    return ops.cast(ops.argmax(args[0], axis=int(_static(args[1]))),
                    _dtype(attrs.get("output_type", "int64")))
  if op == "Fill":
    return ops.full(_static(args[0]), args[1])
  if op == "Tile":
    return ops.tile(args[0], _static(args[1]))
  if op == "ReverseV2":
    return ops.flip(args[0], axis=tuple(np.reshape(_static(args[1]), -1).tolist()))
  if op == "ReverseSequence":
    return _reverse_sequence(args[0], args[1], attrs["seq_dim"], attrs.get("batch_dim", 0))
  if op in ("Split", "SplitV"):
    return _split(op, args, attrs)
  if op == "OneHot":
    indices, depth, on, off = args
    hot = ops.one_hot(indices, int(_static(depth)), axis=attrs.get("axis", -1))
    return hot * on + (1 - hot) * off
  raise ValueError(f"TF1 op {op} has no Keras translation")


# The ops run_op translates: anything else between a model's inputs and outputs is refused.
SUPPORTED_OPS = frozenset(_ELEMENTWISE) | {
    "BiasAdd", "MatMul", "BatchMatMul", "BatchMatMulV2", "Reshape", "Transpose", "ConcatV2",
    "Pack", "Unpack", "StridedSlice", "Slice", "Shape", "Range", "Cast", "ExpandDims",
    "Squeeze", "GatherV2", "Gather", "Sum", "Mean", "Max", "Min", "Prod", "ArgMax", "Fill",
    "Tile", "ReverseV2", "ReverseSequence", "Split", "SplitV", "OneHot"}


def _encode(value):
  array = np.asarray(value)
  return {"value": array.tolist(), "dtype": str(array.dtype), "shape": list(array.shape)}


def _decode(spec):
  return np.asarray(spec["value"], dtype=spec["dtype"]).reshape(spec["shape"])


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Op(keras.layers.Layer):
  """One op of the user's TF1 graph. `arity` inputs in the graph's order; those in
  `constants` ({index: array}) are part of the config, the others are the layer's inputs, and
  those in `weights_at` ({index: TF1 variable name}) are the layer's weights."""

  def __init__(self, op, attrs=None, arity=1, constants=None, weights_at=None, outputs=1,
               tf1_name=None, **kwargs):
    super().__init__(**kwargs)
    self.op, self.attrs, self.arity, self.outputs = op, dict(attrs or {}), arity, outputs
    self.tf1_name = tf1_name
    self.constants = {int(k): (v if isinstance(v, dict) else _encode(v))
                      for k, v in (constants or {}).items()}
    # {index: {"name": TF1 variable, "shape": [...], "dtype": ...}}: made here, so that a
    # reloaded model has them before its weights are read back.
    self.weights_at = {int(k): dict(v) for k, v in (weights_at or {}).items()}
    self._values = {k: _decode(v) for k, v in self.constants.items()}
    self._variables = {}
    for index, spec in sorted(self.weights_at.items()):
      self._variables[index] = self.add_weight(
          shape=tuple(spec["shape"]), dtype=spec["dtype"], initializer="zeros",
          name=spec["name"].replace("/", "."), trainable=spec["dtype"].startswith("float"))

  def build(self, input_shape=None):
    self.built = True

  def call(self, inputs):
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    args = []
    for index in range(self.arity):
      if index in self._values:  # numpy: shapes and axes stay static on every backend
        args.append(self._values[index])
      elif index in self._variables:
        args.append(self._variables[index].value)
      else:
        args.append(inputs.pop(0))
    result = run_op(self.op, self.attrs, args)
    return list(result) if isinstance(result, (list, tuple)) else result

  def get_config(self):
    return {**super().get_config(), "op": self.op, "attrs": self.attrs, "arity": self.arity,
            "constants": self.constants, "weights_at": self.weights_at,
            "outputs": self.outputs, "tf1_name": self.tf1_name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Embedding(keras.layers.Embedding):
  """keras.layers.Embedding that remembers its TF1 variable (`tf1_name`) for to-tf1; the
  TF1 lookup (`embedding_lookup`, a Gather of axis 0) is exactly Embedding's."""

  def __init__(self, input_dim, output_dim, tf1_name=None, **kwargs):
    super().__init__(input_dim, output_dim, **kwargs)
    self.tf1_name = tf1_name

  def get_config(self):
    return {**super().get_config(), "tf1_name": self.tf1_name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1Dense(keras.layers.Dense):
  """keras.layers.Dense for `matmul(x, W) (+ b)` on TF1 variables (`xw_plus_b`,
  tf.layers.dense, bias-free projections); `tf1_names` are [kernel, bias or None]."""

  def __init__(self, units, tf1_names=None, **kwargs):
    super().__init__(units, **kwargs)
    self.tf1_names = list(tf1_names or [])

  def get_config(self):
    return {**super().get_config(), "tf1_names": self.tf1_names}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TF1StackedCells(keras.layers.Layer):
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
class TF1Recurrent(keras.layers.Layer):
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
