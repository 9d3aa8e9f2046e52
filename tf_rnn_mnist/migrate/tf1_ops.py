"""What each TF1 op a migrated model runs computes, in `keras.ops` (any backend) and, for the
integer arithmetic graphs do on shapes, in numpy: TensorFlow folds a Reshape's target computed
from `tf.shape` before the run, and JAX's jit and PyTorch need those values as Python ints.

`run_op(op, attrs, args)` runs one op; `SUPPORTED_OPS` are the ops it knows, and `migrate`
refuses a graph with any other op between a model's inputs and outputs. `fold` evaluates the
shape arithmetic on values known before the run (None where one is not: shape inference).
"""

import keras
import numpy as np
from keras import ops

def _static(value):
  """A shape or axis argument as Python ints where the backend needs them (JAX, PyTorch)."""
  try:
    array = np.asarray(keras.ops.convert_to_numpy(value)) if not isinstance(
        value, (list, tuple, int, np.ndarray, np.integer)) else np.asarray(value)
    return array.astype(np.int64).tolist()
  except Exception:  # noqa: BLE001  (a symbolic TensorFlow value: TensorFlow takes it as is)
    return value


def _scalar(value):
  """A 0-d argument as a Python number when its value can be had (not in a traced function)."""
  try:
    return np.asarray(keras.ops.convert_to_numpy(value)).item()
  except Exception:  # noqa: BLE001  (traced: the backend takes the tensor, or says why not)
    return value


def dtype_name(name):
  return {"bool": "bool"}.get(name, name)


def _shape(x, dtype="int32"):
  """tf.shape: numpy when every dim is static (always so within JAX's jit, on PyTorch, and in
  TensorFlow's eager mode), so that what a graph computes from it (a Reshape's target, a
  Range's limit, a Gather's offsets) stays static too: JAX and PyTorch need Python ints there."""
  dims = tuple(x.shape)
  if all(isinstance(d, (int, np.integer)) for d in dims):
    return np.asarray(dims, dtype=dtype)
  return ops.stack([ops.cast(d, dtype) for d in ops.shape(x)])


class Unknown(Exception):
  """A value the numpy evaluation below cannot compute (an unknown dim, a float, an op)."""


def is_static(value):
  """Known before the run: a constant of the config, or what was computed from static dims."""
  return isinstance(value, (np.ndarray, np.generic, int, bool))


def _known(value):
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


_FOLD_UFUNCS = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "FloorDiv": np.floor_divide, "Maximum": np.maximum, "Minimum": np.minimum,
    "Neg": np.negative, "Abs": np.abs, "Sign": np.sign, "Equal": np.equal,
    "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or, "LogicalNot": np.logical_not}
_FOLD_REDUCE = {"Sum": (np.add, 0), "Prod": (np.multiply, 1), "Max": (np.maximum, None),
                "Min": (np.minimum, None)}
BOOL_OPS = {"Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
             "LogicalAnd", "LogicalOr", "LogicalNot"}
# What fold evaluates: the integer arithmetic TF1 graphs do on shapes.
FOLDABLE = set(_FOLD_UFUNCS) | set(_FOLD_REDUCE) | {
    "Identity", "StopGradient", "Snapshot", "Cast", "Pack", "ConcatV2", "GatherV2", "Gather",
    "StridedSlice", "Slice", "Reshape", "ExpandDims", "Squeeze", "Range", "Fill", "Tile"}


def _elementwise(ufunc, args):
  if all(a.dtype != object for a in args):
    return ufunc(*args)
  partial = np.frompyfunc(lambda *v: None if any(e is None for e in v) else ufunc(*v),
                          len(args), 1)
  return np.asarray(partial(*args), dtype=object)


def _fold_reduce(op, x, axis, keep):
  ufunc, identity = _FOLD_REDUCE[op]
  axes = sorted({int(a) % max(x.ndim, 1) for a in np.reshape(axis, -1)}, reverse=True)
  initial = {} if identity is None else {"initial": identity}
  if x.dtype != object:
    return ufunc.reduce(x, axis=tuple(axes), keepdims=keep, **initial)
  partial = np.frompyfunc(lambda a, b: None if a is None or b is None else ufunc(a, b), 2, 1)
  for a in axes:  # one axis at a time: numpy reduces an object ufunc over one axis only
    x = np.asarray(partial.reduce(x, axis=a, keepdims=True, **initial), dtype=object)
  return x if keep else np.squeeze(x, axis=tuple(axes))


def _common(arrays):
  return [a.astype(object) for a in arrays] if any(a.dtype == object for a in arrays) else arrays


def fold(op, attrs, args):
  """`run_op` in numpy on integer values known before the run (None where one is unknown, at
  shape-inference time), as TensorFlow folds shape arithmetic; Unknown where it cannot."""
  args = [np.asarray(a) for a in args]
  if not all(a.dtype == object or a.dtype.kind in "iub" for a in args):
    raise Unknown(op)
  x = args[0]
  if op in ("Identity", "StopGradient", "Snapshot", "Cast"):
    return x
  if op in _FOLD_UFUNCS:
    return _elementwise(_FOLD_UFUNCS[op], args)
  if op in _FOLD_REDUCE:
    return _fold_reduce(op, x, _known(args[1]), bool(attrs.get("keep_dims")))
  if op == "Pack":
    return np.stack(_common(args), axis=attrs.get("axis", 0))
  if op == "ConcatV2":
    return np.concatenate(_common(args[:-1]), axis=int(_known(args[-1])))
  if op in ("GatherV2", "Gather"):
    return np.take(x, _known(args[1]), axis=int(_known(args[2])) if op == "GatherV2" else 0)
  if op == "StridedSlice":
    return x[_slice_index(*(_known(a).reshape(-1) for a in args[1:4]), attrs)]
  if op == "Slice":
    begin, size = (_known(a).reshape(-1) for a in args[1:3])
    return x[tuple(slice(int(b), None if s == -1 else int(b + s)) for b, s in zip(begin, size))]
  if op == "Reshape":
    return np.reshape(x, _known(args[1]).reshape(-1).tolist())
  if op == "ExpandDims":
    return np.expand_dims(x, int(_known(args[1])))
  if op == "Squeeze":
    dims = attrs.get("squeeze_dims") or [i for i, d in enumerate(x.shape) if d == 1]
    return np.squeeze(x, axis=tuple(dims))
  if op == "Range":
    start, limit, delta = (_known(a).item() for a in args)
    return np.arange(start, limit, delta)
  if op == "Fill":
    return np.full(_known(x).reshape(-1).tolist(), args[1], dtype=args[1].dtype)
  if op == "Tile":
    return np.tile(x, _known(args[1]).reshape(-1).tolist())
  raise Unknown(op)


def fold_dtype(op, attrs, dtypes):
  if op == "Cast":
    return dtype_name(attrs["DstT"])
  if op in BOOL_OPS:
    return "bool"
  if op == "Range":
    return dtype_name(attrs.get("Tidx", dtypes[0]))
  return dtypes[1] if op == "Fill" else dtypes[0]


def _strided_slice(x, begin, end, strides, attrs):
  begin, end, strides = (np.asarray(_static(v)).reshape(-1) for v in (begin, end, strides))
  return x[_slice_index(begin, end, strides, attrs)]


def _slice_index(begin, end, strides, attrs):
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
  return tuple(index)


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


ELEMENTWISE = {
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
  if op in FOLDABLE and all(is_static(a) for a in args):
    try:  # shape arithmetic on static values: numpy, so that the result stays static
      dtypes = [str(np.asarray(a).dtype) for a in args]
      return finish(fold(op, attrs, args), fold_dtype(op, attrs, dtypes))
    except Unknown:
      pass
  if op in ELEMENTWISE:
    return ELEMENTWISE[op](*args)
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
    return _shape(args[0], dtype_name(attrs.get("out_type", "int32")))
  if op == "Range":  # bounds as Python numbers where they can be had (PyTorch takes no tensor)
    dtype = dtype_name(attrs.get("Tidx") or keras.backend.standardize_dtype(args[0].dtype))
    return ops.arange(*(_scalar(a) for a in args), dtype=dtype)
  if op == "Cast":
    return ops.cast(args[0], dtype_name(attrs["DstT"]))
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
                    dtype_name(attrs.get("output_type", "int64")))
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
SUPPORTED_OPS = frozenset(ELEMENTWISE) | {
    "BiasAdd", "MatMul", "BatchMatMul", "BatchMatMulV2", "Reshape", "Transpose", "ConcatV2",
    "Pack", "Unpack", "StridedSlice", "Slice", "Shape", "Range", "Cast", "ExpandDims",
    "Squeeze", "GatherV2", "Gather", "Sum", "Mean", "Max", "Min", "Prod", "ArgMax", "Fill",
    "Tile", "ReverseV2", "ReverseSequence", "Split", "SplitV", "OneHot"}
