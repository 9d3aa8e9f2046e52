"""Shape inference for TF1Op on backends that cannot run TensorFlow's: the values a graph
computes from shapes (a Reshape's target from tf.shape, a Range's limit) carried on the symbolic
tensors, as TensorFlow's own shape inference carries them, so that a migrated model builds on
JAX and PyTorch when it is loaded."""

import keras
import numpy as np

from tf_rnn_mnist.migrate.tf1_ops import (BOOL_OPS, ELEMENTWISE, FOLDABLE, Unknown, dtype_name,
                                          finish, fold, fold_dtype)


STATIC_VALUE = "_tf1_static_value"  # on a KerasTensor: its value where known before the run


def static_tensor(value, dtype):
  value = finish(value, dtype)
  tensor = keras.KerasTensor(value.shape, dtype=dtype)
  setattr(tensor, STATIC_VALUE, value)
  return tensor


def partial_value(value, shape, dtype):
  """An argument's value for fold at shape-inference time: known, or None in each place of a
  small integer tensor of known shape, or None when neither."""
  if value is not None:
    return np.asarray(value)
  if shape is not None and None not in shape and str(dtype).startswith(("int", "uint", "bool")) \
      and int(np.prod(shape, dtype=np.int64)) <= 64:
    return np.full(shape, None, dtype=object)
  return None


def reshape_shape(in_shape, target):
  value = partial_value(*target)
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


def spec_without_weight(op, attrs, specs):
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


def static_spec(op, attrs, specs):
  """The output spec of `op` where shapes decide it, worked out as TensorFlow's shape inference
  does: values known before the run (constants, shapes from static dims) travel on the
  KerasTensors, so a Reshape to a computed shape gets its static dims on every backend (JAX
  traces with symbolic dims, PyTorch with stand-in ones). None: left to the backend."""
  dtypes = [s[2] for s in specs]
  if op == "Shape":
    dims = np.array([None if d is None else int(d) for d in specs[0][1]], dtype=object)
    return static_tensor(dims, dtype_name(attrs.get("out_type", "int32")))
  if op in FOLDABLE:
    values = [partial_value(*s) for s in specs]
    if all(v is not None for v in values):
      try:
        return static_tensor(fold(op, attrs, values), fold_dtype(op, attrs, dtypes))
      except Unknown:
        pass
  if op == "Reshape":
    return keras.KerasTensor(reshape_shape(specs[0][1], specs[1]), dtype=dtypes[0])
  if op == "Range":
    return keras.KerasTensor((None,), dtype=fold_dtype(op, attrs, dtypes))
  if op == "Fill":
    return keras.KerasTensor(reshape_shape((None,), specs[0]), dtype=dtypes[1])
  if op == "ReverseSequence":
    return keras.KerasTensor(specs[0][1], dtype=dtypes[0])
  if any(shape is None for shape in (s[1] for s in specs)):
    return spec_without_weight(op, attrs, specs)
  return None
