"""Handlers of TF1's arithmetic: elementwise ops, comparisons, matmuls, reductions."""

import numpy as np
from keras import ops

from tf_rnn_mnist.migrate.ops.registry import dtype_name, known, static, tf_op


def _partial(ufunc, args):
  """`ufunc` on arrays that may hold None (an unknown dim): None wherever one is involved.
  (TensorFlow's string constants are object arrays of bytes: compared as numpy strings.)"""
  if not any(a.dtype == object and any(v is None for v in a.reshape(-1)) for a in args):
    return ufunc(*(np.asarray(a.tolist()) if a.dtype == object else a for a in args))
  partial = np.frompyfunc(lambda *v: None if any(e is None for e in v) else ufunc(*v),
                          len(args), 1)
  return np.asarray(partial(*args), dtype=object)


def _bool(attrs, dtypes):
  return "bool"


def elementwise(op, compute, fold_with=None, returns_bool=False):
  """Registers an op that applies `compute` to its broadcast arguments (`fold_with`: the
  numpy ufunc for values known before the run)."""
  fold = (lambda args, attrs: _partial(fold_with, args)) if fold_with is not None else None
  tf_op(op, fold=fold, elementwise=True, returns_bool=returns_bool,
        **({"fold_dtype": _bool} if returns_bool else {}))(
      lambda args, attrs: compute(*args))


def _same(x):
  return x


for _op in ("Identity", "StopGradient", "Snapshot"):
  elementwise(_op, _same, fold_with=_same)
elementwise("Add", ops.add, np.add)
elementwise("AddV2", ops.add, np.add)
elementwise("Sub", ops.subtract, np.subtract)
elementwise("Mul", ops.multiply, np.multiply)
elementwise("RealDiv", ops.divide)
elementwise("Div", ops.divide)
elementwise("FloorDiv", ops.floor_divide, np.floor_divide)
elementwise("Maximum", ops.maximum, np.maximum)
elementwise("Minimum", ops.minimum, np.minimum)
elementwise("Neg", ops.negative, np.negative)
elementwise("Abs", ops.abs, np.abs)
elementwise("Sign", ops.sign, np.sign)
elementwise("Exp", ops.exp)
elementwise("Log", ops.log)
elementwise("Tanh", ops.tanh)
elementwise("Sigmoid", ops.sigmoid)
elementwise("Relu", ops.relu)
elementwise("Relu6", ops.relu6)
elementwise("Elu", ops.elu)
elementwise("Softplus", ops.softplus)
elementwise("Softsign", ops.softsign)
elementwise("Square", ops.square)
elementwise("Sqrt", ops.sqrt)
elementwise("Rsqrt", ops.rsqrt)
elementwise("Erf", ops.erf)
elementwise("Pow", ops.power)
elementwise("SquaredDifference", lambda x, y: ops.square(ops.subtract(x, y)))
elementwise("Softmax", lambda x: ops.softmax(x, axis=-1))
elementwise("LogSoftmax", lambda x: ops.log_softmax(x, axis=-1))
elementwise("ZerosLike", ops.zeros_like)
elementwise("OnesLike", ops.ones_like)
@tf_op("Select", elementwise=True)
def _select(args, attrs):
  """TF1's Select: a condition of rank 1 picks whole rows (its batch), not the last axis as a
  broadcast would; any other condition has the operands' shape."""
  condition, x, y = args
  if len(condition.shape) == 1 and len(x.shape) > 1:
    condition = ops.reshape(condition, (-1,) + (1,) * (len(x.shape) - 1))
  return ops.where(condition, x, y)


elementwise("SelectV2", ops.where)
elementwise("Equal", ops.equal, np.equal, returns_bool=True)
elementwise("NotEqual", ops.not_equal, np.not_equal, returns_bool=True)
elementwise("Less", ops.less, np.less, returns_bool=True)
elementwise("LessEqual", ops.less_equal, np.less_equal, returns_bool=True)
elementwise("Greater", ops.greater, np.greater, returns_bool=True)
elementwise("GreaterEqual", ops.greater_equal, np.greater_equal, returns_bool=True)
elementwise("LogicalAnd", ops.logical_and, np.logical_and, returns_bool=True)
elementwise("LogicalOr", ops.logical_or, np.logical_or, returns_bool=True)
elementwise("LogicalNot", ops.logical_not, np.logical_not, returns_bool=True)


@tf_op("LeakyRelu", attrs=("alpha",), elementwise=True)
def _leaky_relu(args, attrs):
  return ops.leaky_relu(args[0], negative_slope=attrs.get("alpha", 0.2))


@tf_op("BiasAdd", attrs=("data_format",), elementwise=True)
def _bias_add(args, attrs):
  x, bias = args
  if attrs.get("data_format", "NHWC") == "NCHW" and len(x.shape) > 2:
    bias = ops.reshape(bias, (-1,) + (1,) * (len(x.shape) - 2))
  return ops.add(x, bias)


def _matmul_spec(attrs, specs):
  """A matmul on a weight whose shape the model's file does not hold (saved before
  `weights_at` kept shapes): what the weight decides (its columns) stays unknown."""
  import keras
  shapes = [s[1] for s in specs]
  if all(s is not None for s in shapes):
    return None
  dtype = next(s[2] for s in specs if s[2] is not None)
  a, b = (None if shape is None else tuple(shape[:-2]) + (
      tuple(shape[-2:])[::-1] if attrs.get(t) or attrs.get(adj) else tuple(shape[-2:]))
          for shape, t, adj in zip(shapes, ("transpose_a", "transpose_b"), ("adj_x", "adj_y")))
  if a is not None:
    return keras.KerasTensor(a[:-1] + (None if b is None else b[-1],), dtype=dtype)
  return keras.KerasTensor(b[:-2] + (None, b[-1]), dtype=dtype)


def _matmul(args, attrs):
  a, b = args
  if attrs.get("transpose_a") or attrs.get("adj_x"):
    a = ops.swapaxes(a, -1, -2)
  if attrs.get("transpose_b") or attrs.get("adj_y"):
    b = ops.swapaxes(b, -1, -2)
  return ops.matmul(a, b)


tf_op("MatMul", attrs=("transpose_a", "transpose_b"), spec=_matmul_spec)(_matmul)
tf_op("BatchMatMul", attrs=("adj_x", "adj_y"), spec=_matmul_spec)(_matmul)
tf_op("BatchMatMulV2", attrs=("adj_x", "adj_y"), spec=_matmul_spec)(_matmul)


_REDUCE_FOLD = {"Sum": (np.add, 0), "Prod": (np.multiply, 1), "Max": (np.maximum, None),
                "Min": (np.minimum, None)}


def _fold_reduce(ufunc, identity):
  def fold(args, attrs):
    x, axis, keep = args[0], known(args[1]), bool(attrs.get("keep_dims"))
    axes = sorted({int(a) % max(x.ndim, 1) for a in np.reshape(axis, -1)}, reverse=True)
    initial = {} if identity is None else {"initial": identity}
    if x.dtype != object:
      return ufunc.reduce(x, axis=tuple(axes), keepdims=keep, **initial)
    partial = np.frompyfunc(lambda a, b: None if a is None or b is None else ufunc(a, b), 2, 1)
    for a in axes:  # one axis at a time: numpy reduces an object ufunc over one axis only
      x = np.asarray(partial.reduce(x, axis=a, keepdims=True, **initial), dtype=object)
    return x if keep else np.squeeze(x, axis=tuple(axes))
  return fold


def reduction(op, compute):
  fold = _fold_reduce(*_REDUCE_FOLD[op]) if op in _REDUCE_FOLD else None
  tf_op(op, attrs=("keep_dims",), fold=fold)(
      lambda args, attrs: compute(args[0], axis=tuple(np.reshape(static(args[1]), -1).tolist()),
                                  keepdims=bool(attrs.get("keep_dims"))))


reduction("Sum", ops.sum)
reduction("Mean", ops.mean)
reduction("Max", ops.max)
reduction("Min", ops.min)
reduction("Prod", ops.prod)


@tf_op("ArgMax", attrs=("output_type",))
def _argmax(args, attrs):
  return ops.cast(ops.argmax(args[0], axis=int(static(args[1]))),
                  dtype_name(attrs.get("output_type", "int64")))
