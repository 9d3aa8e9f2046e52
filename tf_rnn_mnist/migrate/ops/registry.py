"""The op registry: one `OpHandler` per TF1 op type, declaring in one place the NodeDef
attributes its computation reads, how many outputs it has, the computation in `keras.ops`
(any backend), and, where it has them, its evaluation in numpy on values known before the run
(TensorFlow folds shape arithmetic; JAX's jit and PyTorch need those values as Python ints)
and its static output shape (shape inference on backends that cannot run TensorFlow's).

Handlers are registered with `@tf_op("Type", attrs=(...), ...)` in the modules beside this one
(math_ops, array_ops, nn_ops, rnn_ops), after tf2onnx's `@tf_op` handlers. An op type with no handler
is refused by `migrate`, by name, wherever it lies between a model's inputs and outputs.
"""

import dataclasses
from typing import Callable

import keras
import numpy as np

OPS = {}


def one_output(attrs):
  return 1


def first_dtype(attrs, dtypes):
  return dtypes[0]


@dataclasses.dataclass(frozen=True)
class OpHandler:
  """What migrate knows of one TF1 op type."""
  op: str
  compute: Callable                  # (args, attrs) -> tensor or list of tensors
  attrs: tuple = ()                  # the NodeDef attributes compute reads
  outputs: Callable = one_output     # attrs -> number of outputs
  fold: Callable | None = None       # (numpy args, attrs) -> numpy result, or raise Unknown
  fold_dtype: Callable = first_dtype  # (attrs, argument dtypes) -> the folded result's dtype
  spec: Callable | None = None       # (attrs, [(value, shape, dtype)]) -> KerasTensor or None
  elementwise: bool = False          # broadcasts its arguments (a weight's shape may be unknown)
  returns_bool: bool = False
  refuse: Callable | None = None     # attrs -> why this node is not converted, or None


def tf_op(op, **declared):
  """Registers the decorated `compute(args, attrs)` as the handler of TF1 op type `op`."""
  def register(compute):
    if op in OPS:
      raise ValueError(f"TF1 op {op} has two handlers")
    OPS[op] = OpHandler(op, compute, **declared)
    return compute
  return register


def handler(op):
  """The OpHandler of `op`; ValueError when migrate has none."""
  try:
    return OPS[op]
  except KeyError:
    raise ValueError(f"TF1 op {op} has no Keras translation") from None


# ---------------------------------------------------------------------------------------------
# Values known before the run.

class Unknown(Exception):
  """A value numpy evaluation cannot compute (an unknown dim, a float, an op without fold)."""


def dtype_name(name):
  return {"bool": "bool"}.get(name, name)


def is_static(value):
  """Known before the run: a constant of the config, or what was computed from static dims."""
  return isinstance(value, (np.ndarray, np.generic, int, bool))


def static(value):
  """A shape or axis argument as Python ints where the backend needs them (JAX, PyTorch)."""
  try:
    array = np.asarray(keras.ops.convert_to_numpy(value)) if not isinstance(
        value, (list, tuple, int, np.ndarray, np.integer)) else np.asarray(value)
    return array.astype(np.int64).tolist()
  except Exception:  # noqa: BLE001  (a symbolic TensorFlow value: TensorFlow takes it as is)
    return value


def scalar(value):
  """A 0-d argument as a Python number when its value can be had (not in a traced function)."""
  try:
    return np.asarray(keras.ops.convert_to_numpy(value)).item()
  except Exception:  # noqa: BLE001  (traced: the backend takes the tensor, or says why not)
    return value


def known(value):
  """An index, axis or shape argument's values, all known (ints), else Unknown."""
  value = np.asarray(value)
  if value.dtype == object:
    if any(v is None for v in value.reshape(-1)):
      raise Unknown("an unknown dim")
    return value.astype(np.int64)
  return value


def finish(value, dtype):
  """A numpy result in the op's dtype; kept an object array while a value is unknown (None)."""
  value = np.asarray(value)
  if value.dtype == object and any(v is None for v in value.reshape(-1)):
    return value
  return value.astype(dtype)


def _foldable_args(args):
  """Integer, bool (and, for comparisons, string) arrays: the values graphs compute on
  shapes and on configuration constants."""
  return all(a.dtype == object or a.dtype.kind in "iubSU" for a in args)


def fold(op, attrs, args):
  """The handler's numpy evaluation of `op` on values known before the run (None where one
  is unknown, at shape-inference time); Unknown where it has none."""
  entry = OPS.get(op)
  args = [np.asarray(a) for a in args]
  if entry is None or entry.fold is None or not _foldable_args(args):
    raise Unknown(op)
  return entry.fold(args, attrs)


def fold_dtype(op, attrs, dtypes):
  return OPS[op].fold_dtype(attrs, dtypes)


def run_op(op, attrs, args):
  """TF1 op `op` with NodeDef attributes `attrs` on `args` (its inputs, in order)."""
  entry = handler(op)
  if entry.fold is not None and all(is_static(a) for a in args):
    try:  # shape arithmetic on static values: numpy, so that the result stays static
      dtypes = [str(np.asarray(a).dtype) for a in args]
      return finish(fold(op, attrs, args), entry.fold_dtype(attrs, dtypes))
    except Unknown:
      pass
  return entry.compute(args, attrs)


def node_attrs(node):
  """The attributes of `node` (graph.Node) its handler reads, as plain Python values (dtypes
  by name, lists of ints, strings decoded)."""
  keep = {}
  for key in handler(node.op).attrs:
    if key not in node.attr:
      continue
    value = node.attr_value(key)
    if node.attr[key].WhichOneof("value") == "type":
      import tensorflow as tf
      value = tf.dtypes.as_dtype(value).name
    elif isinstance(value, list):
      value = [v.decode() if isinstance(v, bytes) else
               (float(v) if isinstance(v, float) else int(v)) for v in value]
    keep[key] = value
  return keep


def output_count(op, attrs):
  return handler(op).outputs(attrs)


def refusal(op, attrs):
  """Why a node of `op` with `attrs` is not converted (no handler, or attributes its handler
  does not translate), or None."""
  entry = OPS.get(op)
  if entry is None:
    return "no Keras translation"
  return entry.refuse(attrs) if entry.refuse else None
