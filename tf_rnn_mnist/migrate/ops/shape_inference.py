"""Shape inference for TF1Op on backends that cannot run TensorFlow's: the values a graph
computes from shapes (a Reshape's target from tf.shape, a Range's limit) carried on the symbolic
tensors, as TensorFlow's own shape inference carries them, so that a migrated model builds on
JAX and PyTorch when it is loaded. Op-specific rules are the handlers' `spec`s."""

import keras
import numpy as np

from tf_rnn_mnist.migrate.ops.registry import Unknown, finish, fold, handler

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


def static_spec(op, attrs, specs):
  """The output spec of `op` where shapes decide it, worked out as TensorFlow's shape inference
  does: values known before the run (constants, shapes from static dims) travel on the
  KerasTensors, so a Reshape to a computed shape gets its static dims on every backend (JAX
  traces with symbolic dims, PyTorch with stand-in ones). None: left to the backend.
  `specs` are (value if known, shape, dtype) of each argument."""
  entry = handler(op)
  dtypes = [s[2] for s in specs]
  if entry.fold is not None:
    values = [partial_value(*s) for s in specs]
    if all(v is not None for v in values):
      try:
        return static_tensor(fold(op, attrs, values), entry.fold_dtype(attrs, dtypes))
      except Unknown:
        pass
  if entry.spec is not None:
    spec = entry.spec(attrs, specs)
    if spec is not None:
      return spec
  shapes = [s[1] for s in specs]
  if any(shape is None for shape in shapes):
    # A weight saved before `weights_at` kept shapes (made when its array is read back): a
    # bias-like weight broadcasts into the other argument.
    if not entry.elementwise:
      raise ValueError(f"TF1 op {op} on a weight of unknown shape: convert the model again "
                       "(its weights_at then keep the weights' shapes).")
    shape = max((s for s in shapes if s is not None), key=len)
    dtype = next(d for d in dtypes if d is not None)
    return keras.KerasTensor(shape, dtype="bool" if entry.returns_bool else dtype)
  return None
